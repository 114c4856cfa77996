/** triton-segment: runs an image through a segment model (see common.ts for the behaviour). */
import { registerTaskNode } from './common';
import type { NodeAPI } from './types';

export default function tritonSegment(RED: NodeAPI): void {
  registerTaskNode(RED, 'triton-segment', 'segment');
}
