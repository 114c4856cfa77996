/**
 * Worst-case model outputs for the event-loop tests (issue 14, item 5): heads where every
 * anchor clears the confidence threshold with its own box and class, so NMS keeps as many
 * as maxDetections allows, and segmentation heads whose kept instances cover large areas
 * of a large image.
 */
import { anchorCount } from '../../src/vision/profile';
import { RowHead, V8Head } from './build';

/** Distinct score for candidate `i` of `n`, all in (0.3, 0.9], descending with i. */
export function rankScore(i: number, n: number): number {
  return Math.fround(0.9 - (0.6 * i) / n);
}

/**
 * A YOLOv8 head at `size` where all N anchors score above 0.3: anchor a has class a % nc,
 * score rankScore(a), and a 4×4 box on its own cell of a grid, so no two boxes overlap
 * and NMS suppresses nothing.
 */
export function v8AllAnchors(size = 640, nc = 80): V8Head {
  const n = anchorCount(size, size);
  const head = new V8Head(n, nc);
  const perRow = Math.floor(size / 5);
  for (let a = 0; a < n; a++) {
    const x = (a % perRow) * 5;
    const y = Math.floor(a / perRow) * 5;
    head.set(a, [x, y, x + 4, y + 4], a % nc, rankScore(a, n));
  }
  return head;
}

/** The same for a YOLOv5 head (3 anchors per cell: 25 200 rows at 640), objectness 1. */
export function v5AllRows(size = 640, nc = 80): RowHead {
  const n = 3 * anchorCount(size, size);
  const head = new RowHead(n, nc);
  const perRow = Math.floor(size / 3);
  for (let a = 0; a < n; a++) {
    const x = (a % perRow) * 3;
    const y = Math.floor(a / perRow) * 3;
    head.set(a, [x, y, x + 2, y + 2], 1, a % nc, rankScore(a, n));
  }
  return head;
}

/**
 * The costliest NMS a head can ask for: one class, `kept` wide boxes each shifted 0.3 px
 * from the last (IoU 0.999, so all are kept at iou 0.9999), then every other anchor a copy
 * of the last kept box at a lower score: each copy is compared with every kept box before
 * the last one suppresses it. At 1280 (33 600 anchors) the cap leaves 30 000 candidates.
 */
export function v8Crowd(size: number, kept = 999): V8Head {
  const n = anchorCount(size, size);
  const head = new V8Head(n, 80);
  const x = (i: number): number => Math.min(i, kept - 1) * 0.3;
  for (let a = 0; a < n; a++) head.set(a, [x(a), 0, x(a) + 600, 600], 0, rankScore(a, n));
  return head;
}

/**
 * A YOLOv8-seg head [1, 4+nc+nm, N] and prototypes [1, nm, size/4, size/4] with
 * `instances` anchors above threshold, each a `side`-pixel box of its own (golden-ratio
 * offsets over the input). Prototype 0 is +1 everywhere, prototype 1 a checker of +2 / −3
 * in 4-pixel squares: even instances (coefficients [1, 0, …]) have solid masks filling
 * their box, odd ones ([1, 1, 0, …]) checkered masks, many pieces each.
 */
export function segHead(
  size: number,
  nc: number,
  instances: number,
  side: number,
  nm = 32,
): { head: V8Head; protos: { data: Float32Array; shape: number[] } } {
  const n = anchorCount(size, size);
  const head = new V8Head(n, nc, nm);
  const span = size - side;
  for (let i = 0; i < instances; i++) {
    // Golden-ratio offsets: every instance its own place, spread over the image.
    const x = Math.round(((i * 0.6180339887) % 1) * span);
    const y = Math.round(((i * 0.7548776662) % 1) * span);
    const coeffs = new Array<number>(nm).fill(0);
    coeffs[0] = 1;
    coeffs[1] = i % 2 === 0 ? 0 : 1;
    head.set(i, [x, y, x + side, y + side], i % nc, rankScore(i, instances), coeffs);
  }
  const m = size / 4;
  const data = new Float32Array(nm * m * m);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < m; c++) {
      data[r * m + c] = 1;
      data[m * m + r * m + c] = (Math.floor(r / 4) + Math.floor(c / 4)) % 2 === 0 ? 2 : -3;
    }
  }
  return { head, protos: { data, shape: [1, nm, m, m] } };
}
