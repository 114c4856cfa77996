/**
 * Classifier output → top-k classes with probabilities.
 */
import { TritonError } from '../protocol/errors';
import type { Classification, ClassifyOptions, ModelProfile } from './types';

export const DEFAULT_TOP_K = 5;

/**
 * Softmax computed as exp(x - max) / Σ exp(x - max), so large logits cannot overflow.
 *
 * @param logits [nc] raw scores.
 * @returns [nc] probabilities summing to 1 (all NaN if any logit is NaN).
 */
export function softmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  const out = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === Infinity) {
    // Only the infinite entries share the mass: the limit of the softmax.
    let inf = 0;
    for (let i = 0; i < n; i++) if (logits[i] === Infinity) inf++;
    for (let i = 0; i < n; i++) out[i] = logits[i] === Infinity ? 1 / inf : 0;
    return out;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(logits[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) out[i]! /= sum;
  return out;
}

/** True when the values already look like a probability distribution (each in [0,1], Σ≈1). */
export function isProbabilityRow(values: ArrayLike<number>, tolerance = 1e-3): boolean {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v <= 1)) return false;
    sum += v;
  }
  return Math.abs(sum - 1) <= tolerance;
}

/**
 * Indices of the k largest values, by descending value (ties: lower index first).
 *
 * @param values [n]
 */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    if (best.length === k && !(v > values[best[k - 1]!]!)) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && v > values[best[at - 1]!]!) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

/**
 * Top-k classes of one image.
 *
 * @param output  [nc] (or [1, nc] / [1, nc, 1, 1] flattened) logits or probabilities.
 * @param profile The classifier's profile (class count, labels, outputsAreProbabilities).
 * @param opts    topK (default 5, at most the class count).
 * @returns Classes by descending probability.
 */
export function classify(
  output: Float32Array,
  profile: ModelProfile,
  opts: ClassifyOptions = {},
): Classification[] {
  const model = profile.model;
  let k = DEFAULT_TOP_K;
  if (opts.topK !== undefined && opts.topK !== null) {
    const t = opts.topK;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 1) {
      throw new TritonError(
        'INVALID_OPTION',
        `Option topK must be a whole number of at least 1 (got ${JSON.stringify(t) ?? String(t)}); fix it in the node or in msg.triton`,
        { model },
      );
    }
    k = t;
  }
  if (output.length !== profile.numClasses) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' returned ${output.length} scores for one image; its profile has ${profile.numClasses} classes. Was the model replaced? Redeploy to read its metadata again`,
      { model },
    );
  }
  const probs: ArrayLike<number> =
    profile.outputsAreProbabilities || isProbabilityRow(output) ? output : softmax(output);
  return topK(probs, Math.min(k, output.length)).map((classId) => ({
    label: profile.labels[classId] ?? `class_${classId}`,
    classId,
    score: probs[classId]!,
  }));
}
