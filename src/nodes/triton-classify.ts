/** triton-classify: runs an image through a classify model (see common.ts for the behaviour). */
import { registerTaskNode } from './common';
import type { NodeAPI } from './types';

export default function tritonClassify(RED: NodeAPI): void {
  registerTaskNode(RED, 'triton-classify', 'classify');
}
