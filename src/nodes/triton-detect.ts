/** triton-detect: runs an image through a detect model (see common.ts for the behaviour). */
import { registerTaskNode } from './common';
import type { NodeAPI } from './types';

export default function tritonDetect(RED: NodeAPI): void {
  registerTaskNode(RED, 'triton-detect', 'detect');
}
