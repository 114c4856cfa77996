/** The output message: the result written into msg per the documented contract. */
import type { TaskResult } from '../vision/pipeline';
import type { NodeMessage } from './types';

/** Writes the result into the message per the contract; keeps every other property. */
export function buildOutput(
  msg: NodeMessage,
  result: TaskResult,
  inputProperty: string,
  image: unknown,
  keepImage: boolean,
): NodeMessage {
  const { annotated, ...payload } = result;
  if (inputProperty !== 'payload' && inputProperty !== 'image' && !inputProperty.includes('.')) {
    // The image moves rather than being copied: msg.image holds it from here on.
    delete msg[inputProperty];
  }
  msg.payload = payload;
  if (keepImage) msg.image = image;
  else if (inputProperty === 'image') delete msg.image;
  if (annotated) msg.annotated = annotated;
  return msg;
}
