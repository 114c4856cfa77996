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

/** An image of a batch that failed: its place in the array and its error. */
export interface BatchFailure {
  index: number;
  code: string;
  message: string;
}

/**
 * The output of a message that carried an array of images: msg.payload holds one result per
 * image in order (null for an image that failed), msg.errors the failures (only when there
 * are some), msg.annotated one picture per image (null where none) when drawing is on.
 */
export function buildBatchOutput(
  msg: NodeMessage,
  results: readonly (TaskResult | null)[],
  failures: readonly BatchFailure[],
  inputProperty: string,
  images: unknown[],
  keepImage: boolean,
): NodeMessage {
  if (inputProperty !== 'payload' && inputProperty !== 'image' && !inputProperty.includes('.')) {
    delete msg[inputProperty];
  }
  const annotated = results.map((r) => r?.annotated ?? null);
  msg.payload = results.map((r) => {
    if (r === null) return null;
    const { annotated: _drawn, ...payload } = r;
    return payload;
  });
  if (keepImage) msg.image = images;
  else if (inputProperty === 'image') delete msg.image;
  if (annotated.some((a) => a !== null)) msg.annotated = annotated;
  if (failures.length > 0) msg.errors = failures.map((f) => ({ ...f }));
  else delete msg.errors;
  return msg;
}
