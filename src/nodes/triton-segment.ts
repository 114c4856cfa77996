/** triton-segment: runs an image through a segment model (see task-controller.ts for the behaviour). */
import { registerTaskNode } from './register-task';
import type { NodeAPI } from './types';

export default function tritonSegment(RED: NodeAPI): void {
  registerTaskNode(RED, 'triton-segment', 'segment');
}
