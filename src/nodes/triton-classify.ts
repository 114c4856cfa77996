/** triton-classify: runs an image through a classify model (see task-controller.ts for the behaviour). */
import { registerTaskNode } from './register-task';
import type { NodeAPI } from './types';

export default function tritonClassify(RED: NodeAPI): void {
  registerTaskNode(RED, 'triton-classify', 'classify');
}
