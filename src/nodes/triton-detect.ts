/** triton-detect: runs an image through a detect model (see task-controller.ts for the behaviour). */
import { registerTaskNode } from './register-task';
import type { NodeAPI } from './types';

export default function tritonDetect(RED: NodeAPI): void {
  registerTaskNode(RED, 'triton-detect', 'detect');
}
