/**
 * Greedy non-maximum suppression over typed arrays, the same decision rule as
 * torchvision.ops.nms: visit boxes by descending score, keep a box unless its IoU with an
 * already kept box (of the same class, unless agnostic) is strictly greater than `iou`.
 */
import { runToEnd, type Steps } from './slices';

/** Candidates visited between two points where a sliced run may pause. */
const NMS_STEP = 256;

/**
 * Class-aware (or agnostic) NMS.
 *
 * @param boxes   [n, 4] corners x1, y1, x2, y2 (any consistent unit), row-major.
 * @param scores  [n] confidence per box.
 * @param iou     Suppression threshold in [0, 1]: a box whose IoU with a kept box is > iou goes.
 * @param classIds [n] class per box; omitted (or `agnostic`) = every box competes with every box.
 * @param agnostic Ignore classes (one pool for all boxes).
 * @param limit   Stop once this many boxes are kept. Because kept boxes come out by descending
 *                score, this gives the same first `limit` indices as a full NMS followed by a
 *                truncation (Ultralytics' max_det), at a fraction of the cost.
 * @returns Indices into the inputs of the kept boxes, by descending score (ties: lower index first).
 */
export function nms(
  boxes: Float32Array,
  scores: Float32Array,
  iou: number,
  classIds?: Int32Array,
  agnostic = false,
  limit = Number.POSITIVE_INFINITY,
): Int32Array {
  return runToEnd(nmsSteps(boxes, scores, iou, classIds, agnostic, limit));
}

/** nms() as resumable steps (slices.ts): pauses every NMS_STEP candidates visited. */
export function* nmsSteps(
  boxes: Float32Array,
  scores: Float32Array,
  iou: number,
  classIds?: Int32Array,
  agnostic = false,
  limit = Number.POSITIVE_INFINITY,
): Steps<Int32Array> {
  const n = scores.length;
  if (n === 0 || limit < 1) return new Int32Array(0);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  yield;

  const useClasses = classIds !== undefined && !agnostic;
  const cap = Math.min(n, limit);
  const kept = new Int32Array(cap);
  // Kept boxes copied contiguously (with their areas) so the inner loop reads memory in order.
  const kb = new Float64Array(cap * 4);
  const ka = new Float64Array(cap);
  const kc = new Int32Array(cap);
  let count = 0;

  for (let oi = 0; oi < n && count < cap; oi++) {
    if (oi % NMS_STEP === NMS_STEP - 1) yield;
    const i = order[oi]!;
    const x1 = boxes[i * 4]!;
    const y1 = boxes[i * 4 + 1]!;
    const x2 = boxes[i * 4 + 2]!;
    const y2 = boxes[i * 4 + 3]!;
    const area = (x2 - x1) * (y2 - y1);
    const cls = useClasses ? classIds[i]! : 0;
    let suppressed = false;
    for (let k = 0; k < count; k++) {
      if (useClasses && kc[k] !== cls) continue;
      const w = Math.min(x2, kb[k * 4 + 2]!) - Math.max(x1, kb[k * 4]!);
      if (w <= 0) continue;
      const h = Math.min(y2, kb[k * 4 + 3]!) - Math.max(y1, kb[k * 4 + 1]!);
      if (h <= 0) continue;
      const inter = w * h;
      if (inter / (area + ka[k]! - inter) > iou) {
        suppressed = true;
        break;
      }
    }
    if (suppressed) continue;
    kept[count] = i;
    kb[count * 4] = x1;
    kb[count * 4 + 1] = y1;
    kb[count * 4 + 2] = x2;
    kb[count * 4 + 3] = y2;
    ka[count] = area;
    kc[count] = cls;
    count++;
  }
  return kept.slice(0, count);
}

/** IoU of two xyxy boxes (0 when they do not overlap or both are empty). */
export function boxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return union > 0 ? inter / union : 0;
}
