/**
 * YOLOv8-seg (and YOLOv5-seg) outputs → detections with instance masks on the original image.
 *
 * Per kept instance, as Ultralytics 8.4's retina-mask path (process_mask_native): the mask
 * logits coeffs · protos are upsampled (raw values, no sigmoid) to the original image by its
 * two bilinear resamplings (maskGeometry), kept inside the instance's box at full resolution
 * (x1 ≤ c < x2, y1 ≤ r < y2) and thresholded: logit > 0, i.e. probability > 0.5, or
 * logit(maskThreshold) for another threshold. Only the box's pixels and the prototype tile
 * they read are ever computed. Instances whose mask comes out empty are dropped, as
 * Ultralytics drops them.
 */
import sharp from 'sharp';
import { TritonError } from '../protocol/errors';
import {
  checkUnit,
  resolveDetectOptions,
  selectDetections,
  selectDetectionsSliced,
  toDetections,
  type OutputTensor,
  type ResolvedDetectOptions,
  type SelectedDetections,
} from './detect';
import { roundHalfEven } from './geometry';
import { Pacer, runInSlices, runToEnd, type Steps } from './slices';

/** Rows (or columns) of a mask worked between two points where a sliced run may pause. */
const MASK_STEP = 64;
import type { Detection, LetterboxGeometry, Mask, ModelProfile, SegmentOptions } from './types';

/** A binary mask covering a box of the original image. */
export interface BoxMask {
  /** Left column / top row of the box in the original image. */
  left: number;
  top: number;
  width: number;
  height: number;
  /** [height, width] 1 = object, row-major. */
  data: Uint8Array;
  /** Pixels set. */
  area: number;
  /** The same pixels as horizontal runs (built alongside, so contours need no rescan). */
  runs: Runs;
}

/** Prototype tensor checked against the profile: [nm, mh, mw]. */
function protoDims(protos: OutputTensor, profile: ModelProfile): [number, number, number] {
  const { shape, data } = protos;
  const model = profile.model;
  const total = shape.reduce((a, b) => a * b, 1);
  const dims = shape.length === 4 && shape[0] === 1 ? shape.slice(1) : shape;
  if (total !== data.length || dims.length !== 3 || dims[0] !== profile.numMasks) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' returned prototypes shaped [${shape.join(',')}] with ${data.length} values; they must be [1, ${profile.numMasks}, H/4, W/4]`,
      { model },
    );
  }
  if (!(dims[1]! > 0 && dims[2]! > 0)) {
    throw new TritonError('UNSUPPORTED_MODEL', `Model '${model}' returned empty prototypes`, {
      model,
    });
  }
  return [dims[0]!, dims[1]!, dims[2]!];
}

/**
 * Per original pixel along one axis, up to four prototype indices and their weights: the
 * composition of Ultralytics 8.4's two bilinear resamplings (see maskTaps).
 */
interface Taps {
  /** [size, 4] prototype indices (only the first `k` of each four are used). */
  idx: Int32Array;
  /** [size, 4] weights. */
  w: Float64Array;
  /** Taps per pixel: 2 when the ×f step is ×1 (plain bilinear), else 4. */
  k: 2 | 4;
}

/**
 * PyTorch's F.interpolate(bilinear, align_corners=False) source taps along one axis, in
 * float32 as its CPU kernel computes them: src = max(scale·(d + 0.5) − 0.5, 0),
 * i0 = ⌊src⌋, i1 = min(i0 + 1, n − 1), weight of i1 = src − i0.
 */
function torchLinear(
  n: number,
  out: number,
  scale: number,
): { i0: Int32Array; i1: Int32Array; l1: Float32Array } {
  const i0 = new Int32Array(out);
  const i1 = new Int32Array(out);
  const l1 = new Float32Array(out);
  const s = Math.fround(scale);
  for (let d = 0; d < out; d++) {
    let src = Math.fround(Math.fround(s * Math.fround(d + 0.5)) - 0.5);
    if (src < 0) src = 0;
    const a = Math.min(Math.floor(src), n - 1);
    i0[d] = a;
    i1[d] = a < n - 1 ? a + 1 : a;
    l1[d] = Math.fround(src - a);
  }
  return { i0, i1, l1 };
}

/**
 * Ultralytics 8.4's process_mask_native geometry, per axis. The prototype plane (m pixels,
 * input = 4m) is first upsampled by f ∈ {1, 2, 4}, the smallest factor that puts the
 * letterbox padding on whole pixels (f = 4 / gcd(4, pad | pad//2), pad = the input's total
 * padding on both axes OR-ed together), then scale_masks crops the content span
 * [round(pad_f − 0.1), + round(size·gain_f)) of the f-times plane and resizes it to `size`
 * (pad_f = (f·m − round(size·gain_f)) / 2, gain_f = min over both axes of f·m/size).
 */
export function maskGeometry(
  mw: number,
  mh: number,
  width: number,
  height: number,
): { f: number; x: { start: number; end: number }; y: { start: number; end: number } } {
  const gain = Math.min((4 * mh) / height, (4 * mw) / width);
  const pad =
    (4 * mh - Math.max(roundHalfEven(height * gain), 1)) |
    (4 * mw - Math.max(roundHalfEven(width * gain), 1));
  const f = 4 / gcd(4, pad | Math.floor(pad / 2));
  const g = Math.min((f * mh) / height, (f * mw) / width);
  const spanW = Math.max(roundHalfEven(width * g), 1);
  const spanH = Math.max(roundHalfEven(height * g), 1);
  const left = roundHalfEven((f * mw - spanW) / 2 - 0.1);
  const top = roundHalfEven((f * mh - spanH) / 2 - 0.1);
  return { f, x: { start: left, end: left + spanW }, y: { start: top, end: top + spanH } };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return Math.abs(a);
}

/** Composite taps for `size` original pixels from an m-pixel prototype axis. */
function maskTaps(m: number, f: number, span: { start: number; end: number }, size: number): Taps {
  const up = torchLinear(m, m * f, 1 / f);
  const n = span.end - span.start;
  const st = torchLinear(n, size, n / size);
  const idx = new Int32Array(size * 4);
  const w = new Float64Array(size * 4);
  const k = f === 1 ? 2 : 4;
  for (let p = 0; p < size; p++) {
    const q0 = span.start + st.i0[p]!;
    const q1 = span.start + st.i1[p]!;
    const b = st.l1[p]!;
    if (k === 2) {
      // ×1 is the identity (source = d, weight of d + 1 is 0): two taps.
      idx[p * 4] = q0;
      idx[p * 4 + 1] = q1;
      w[p * 4] = 1 - b;
      w[p * 4 + 1] = b;
      continue;
    }
    idx[p * 4] = up.i0[q0]!;
    idx[p * 4 + 1] = up.i1[q0]!;
    idx[p * 4 + 2] = up.i0[q1]!;
    idx[p * 4 + 3] = up.i1[q1]!;
    w[p * 4] = (1 - b) * (1 - up.l1[q0]!);
    w[p * 4 + 1] = (1 - b) * up.l1[q0]!;
    w[p * 4 + 2] = b * (1 - up.l1[q1]!);
    w[p * 4 + 3] = b * up.l1[q1]!;
  }
  return { idx, w, k };
}

function tapRange(t: Taps, from: number, to: number): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let p = from; p < to; p++) {
    for (let i = p * 4; i < p * 4 + t.k; i++) {
      lo = Math.min(lo, t.idx[i]!);
      hi = Math.max(hi, t.idx[i]!);
    }
  }
  return [lo, hi];
}

/** The logit a mask probability threshold corresponds to: sigmoid(v) > t ⇔ v > logit(t). */
export function logitOf(threshold: number): number {
  if (threshold <= 0) return -Infinity;
  if (threshold >= 1) return Infinity;
  return Math.log(threshold / (1 - threshold));
}

/**
 * One instance's mask on the original image, restricted to its box (Ultralytics' retina
 * path, process_mask_native): mask logits coeffs · protos, upsampled bilinearly to the
 * image from the pad-free prototype span, kept where x1 ≤ c < x2 and y1 ≤ r < y2 (the
 * box in original pixels) and the logit is above `logitThreshold` (0 = probability 0.5).
 * Only the prototype tile the box reads and the box's own pixels are computed.
 *
 * @param coeffs [nm] mask coefficients of the instance.
 * @param protos [nm, mh, mw] prototypes (row-major).
 * @param box    Instance box in original-image pixels, clipped.
 */
function* instanceMask(
  coeffs: Float32Array,
  protos: Float32Array,
  dims: [number, number, number],
  box: { x1: number; y1: number; x2: number; y2: number },
  cols: Taps,
  rows: Taps,
  logitThreshold: number,
): Steps<BoxMask> {
  const [nm, mh, mw] = dims;
  const left = Math.ceil(box.x1);
  const top = Math.ceil(box.y1);
  const width = Math.max(0, Math.ceil(box.x2) - left);
  const height = Math.max(0, Math.ceil(box.y2) - top);
  const data = new Uint8Array(width * height);
  if (width === 0 || height === 0) {
    return { left, top, width, height, data, area: 0, runs: new Runs(0) };
  }

  // Prototype tile the taps touch.
  const [tc0, tc1] = tapRange(cols, left, left + width);
  const [tr0, tr1] = tapRange(rows, top, top + height);
  const tw = tc1 - tc0 + 1;
  const th = tr1 - tr0 + 1;
  const tile = new Float32Array(tw * th);
  const plane = mh * mw;
  for (let k = 0; k < nm; k++) {
    const ck = coeffs[k]!;
    if (ck === 0) continue;
    const base = k * plane;
    if (th * tw > MASK_STEP * MASK_STEP) yield;
    for (let r = 0; r < th; r++) {
      const src = base + (tr0 + r) * mw + tc0;
      const dst = r * tw;
      for (let c = 0; c < tw; c++) tile[dst + c] += ck * protos[src + c]!;
    }
  }

  // Separable: columns first for every tile row, then rows.
  const horiz = new Float64Array(th * width);
  const ci = cols.idx;
  const cw = cols.w;
  for (let r = 0; r < th; r++) {
    if (r % MASK_STEP === MASK_STEP - 1) yield;
    const t = r * tw - tc0;
    const hrow = r * width;
    if (cols.k === 2) {
      for (let j = 0; j < width; j++) {
        const q = (left + j) * 4;
        horiz[hrow + j] = cw[q]! * tile[t + ci[q]!]! + cw[q + 1]! * tile[t + ci[q + 1]!]!;
      }
      continue;
    }
    for (let j = 0; j < width; j++) {
      const q = (left + j) * 4;
      horiz[hrow + j] =
        cw[q]! * tile[t + ci[q]!]! +
        cw[q + 1]! * tile[t + ci[q + 1]!]! +
        cw[q + 2]! * tile[t + ci[q + 2]!]! +
        cw[q + 3]! * tile[t + ci[q + 3]!]!;
    }
  }
  if (rows.k === 2) {
    return yield* twoTapRows(horiz, th, width, rows, top, height, tr0, left, logitThreshold, data);
  }
  let area = 0;
  const runs = new Runs(height * 2);
  for (let i = 0; i < height; i++) {
    if (i % MASK_STEP === MASK_STEP - 1) yield;
    const q = (top + i) * 4;
    const [w0, w1, w2, w3] = [rows.w[q]!, rows.w[q + 1]!, rows.w[q + 2]!, rows.w[q + 3]!];
    const a0 = (rows.idx[q]! - tr0) * width;
    const a1 = (rows.idx[q + 1]! - tr0) * width;
    const a2 = (rows.idx[q + 2]! - tr0) * width;
    const a3 = (rows.idx[q + 3]! - tr0) * width;
    const out = i * width;
    let runStart = -1;
    for (let j = 0; j < width; j++) {
      const v =
        w0 * horiz[a0 + j]! + w1 * horiz[a1 + j]! + w2 * horiz[a2 + j]! + w3 * horiz[a3 + j]!;
      if (v > logitThreshold) {
        data[out + j] = 1;
        area++;
        if (runStart < 0) runStart = j;
      } else if (runStart >= 0) {
        runs.add(i, runStart, j);
        runStart = -1;
      }
    }
    if (runStart >= 0) runs.add(i, runStart, width);
  }
  return { left, top, width, height, data, area, runs };
}

/**
 * The vertical pass when each output row blends two tile rows: a blend of two values above
 * the threshold is above it, of two below is below, so only where the two rows disagree
 * is a pixel computed; runs of "above" per tile row turn an instance's interior into
 * memsets.
 */
function* twoTapRows(
  horiz: Float64Array,
  th: number,
  width: number,
  rows: Taps,
  top: number,
  height: number,
  tr0: number,
  left: number,
  threshold: number,
  data: Uint8Array,
): Steps<BoxMask> {
  const runStart = new Int32Array(th + 1);
  const runList: number[] = [];
  for (let r = 0; r < th; r++) {
    if (r % MASK_STEP === MASK_STEP - 1) yield;
    runStart[r] = runList.length;
    const h = r * width;
    let j = 0;
    while (j < width) {
      while (j < width && !(horiz[h + j]! > threshold)) j++;
      if (j === width) break;
      const s = j;
      while (j < width && horiz[h + j]! > threshold) j++;
      runList.push(s, j);
    }
  }
  runStart[th] = runList.length;

  let area = 0;
  const runs = new Runs(height * 2);
  // Runs of the current row, merged as pieces arrive left to right.
  let openStart = -1;
  let openEnd = -1;
  let openRow = 0;
  const piece = (row: number, s: number, e: number): void => {
    if (openRow === row && openEnd === s) {
      openEnd = e;
      return;
    }
    if (openStart >= 0) runs.add(openRow, openStart, openEnd);
    openRow = row;
    openStart = s;
    openEnd = e;
  };
  for (let i = 0; i < height; i++) {
    if (i % MASK_STEP === MASK_STEP - 1) yield;
    const q = (top + i) * 4;
    const w0 = rows.w[q]!;
    const w1 = rows.w[q + 1]!;
    const ra = rows.idx[q]! - tr0;
    const rb = rows.idx[q + 1]! - tr0;
    const out = i * width;
    if (ra === rb || w1 === 0) {
      for (let k = runStart[ra]!; k < runStart[ra + 1]!; k += 2) {
        data.fill(1, out + runList[k]!, out + runList[k + 1]!);
        area += runList[k + 1]! - runList[k]!;
        piece(i, runList[k]!, runList[k + 1]!);
      }
      continue;
    }
    const a = ra * width;
    const b = rb * width;
    // Walk both run lists together: inside both → 1, inside one → blend per pixel.
    let ka = runStart[ra]!;
    let kb = runStart[rb]!;
    const ea = runStart[ra + 1]!;
    const eb = runStart[rb + 1]!;
    let x = 0;
    while (ka < ea || kb < eb) {
      const as = ka < ea ? runList[ka]! : width;
      const ae = ka < ea ? runList[ka + 1]! : width;
      const bs = kb < eb ? runList[kb]! : width;
      const be = kb < eb ? runList[kb + 1]! : width;
      const inA = x >= as;
      const inB = x >= bs;
      let next = Math.min(inA ? ae : as, inB ? be : bs);
      if (next <= x) next = x + 1;
      if (inA && inB) {
        data.fill(1, out + x, out + next);
        area += next - x;
        piece(i, x, next);
      } else if (inA || inB) {
        for (let j = x; j < next; j++) {
          if (w0 * horiz[a + j]! + w1 * horiz[b + j]! > threshold) {
            data[out + j] = 1;
            area++;
            piece(i, j, j + 1);
          }
        }
      } else if (next === width) break;
      x = next;
      if (inA && x >= ae) ka += 2;
      if (inB && x >= be) kb += 2;
    }
  }
  if (openStart >= 0) runs.add(openRow, openStart, openEnd);
  return { left, top, width, height, data, area, runs };
}

// ---- contours ----------------------------------------------------------------

/** 8 neighbours clockwise on screen (y down): E, SE, S, SW, W, NW, N, NE. */
const DX = [1, 1, 0, -1, -1, -1, 0, 1];
const DY = [0, 1, 1, 1, 0, -1, -1, -1];
/** Direction index of the unit vector (dx, dy), keyed (dy+1)*3 + (dx+1). */
const DIR_OF = [5, 6, 7, 4, -1, 0, 3, 2, 1];

export interface Contour {
  /** Boundary pixels (x, y), runs of the same step compressed to their end points. */
  points: [number, number][];
  /** Pixels of the component this contour bounds. */
  area: number;
}

/** Union-find root with path halving. */
function root(parent: Int32Array, i: number): number {
  while (parent[i] !== i) {
    parent[i] = parent[parent[i]!]!;
    i = parent[i]!;
  }
  return i;
}

/** Even-odd test of point (px, py) against a closed polygon. */
function insidePolygon(px: number, py: number, poly: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * Outer contours of every 8-connected component of a binary mask, like OpenCV's
 * findContours(RETR_EXTERNAL, CHAIN_APPROX_SIMPLE): components are labelled on horizontal runs
 * (union-find, so the cost is per run, not per pixel), each outer border is traced with
 * Moore-neighbour tracing from the component's first pixel in raster order, and components
 * lying in another's hole are left out (they have no outer contour of their own).
 *
 * @param mask [height, width] 1 = object, 0 = background.
 * @returns Contours by descending component area.
 */
export function traceOuterContours(mask: Uint8Array, width: number, height: number): Contour[] {
  const runs = new Runs(height);
  for (let y = 0; y < height; y++) {
    // indexOf runs natively, faster than a JS loop over mostly-uniform rows.
    const line = mask.subarray(y * width, y * width + width);
    let x = 0;
    while (x < width) {
      const x0 = line.indexOf(1, x);
      if (x0 < 0) break;
      x = line.indexOf(0, x0);
      if (x < 0) x = width;
      runs.add(y, x0, x);
    }
  }
  return runToEnd(contoursOfRuns(runs, width, height));
}

/** Horizontal runs of set pixels in raster order: row, first column, end column (exclusive). */
class Runs {
  count = 0;
  y: Int32Array;
  x0: Int32Array;
  x1: Int32Array;

  constructor(capacity: number) {
    const cap = Math.max(16, capacity);
    this.y = new Int32Array(cap);
    this.x0 = new Int32Array(cap);
    this.x1 = new Int32Array(cap);
  }

  add(y: number, x0: number, x1: number): void {
    if (this.count === this.y.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.y = grow(this.y);
      this.x0 = grow(this.x0);
      this.x1 = grow(this.x1);
    }
    this.y[this.count] = y;
    this.x0[this.count] = x0;
    this.x1[this.count] = x1;
    this.count++;
  }
}

/** Runs visited between two points where a sliced run may pause. */
const RUN_STEP = 16384;

/** Outer contours from the runs of a width×height mask (see traceOuterContours). */
function* contoursOfRuns(runs: Runs, width: number, height: number): Steps<Contour[]> {
  const n = runs.count;
  if (n === 0) return [];
  const { y: ry, x0: rx0, x1: rx1 } = runs;
  const parent = new Int32Array(n);
  let prevStart = 0;
  let prevEnd = 0;
  let rowStart = 0;
  for (let k = 0; k < n; k++) {
    if (k % RUN_STEP === RUN_STEP - 1) yield;
    if (k === 0 || ry[k] !== ry[k - 1]) {
      // A new row: the previous row's runs are candidates only if it is the row just above.
      const adjacent = k > 0 && ry[k]! === ry[k - 1]! + 1;
      prevStart = adjacent ? rowStart : k;
      prevEnd = adjacent ? k : k;
      rowStart = k;
    }
    parent[k] = k;
    const x0 = rx0[k]!;
    const x1 = rx1[k]!;
    // 8-connected to a run above when the columns overlap or touch diagonally.
    for (let q = prevStart; q < prevEnd; q++) {
      if (rx1[q]! < x0) continue;
      if (rx0[q]! > x1) break;
      const a = root(parent, q);
      const b = root(parent, k);
      if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
    }
  }

  // Per component (keyed by its root, which is its first run in raster order): pixel count.
  const area = new Map<number, number>();
  for (let k = 0; k < n; k++) {
    const r = root(parent, k);
    area.set(r, (area.get(r) ?? 0) + rx1[k]! - rx0[k]!);
  }

  const pw = width + 2;
  const ph = height + 2;
  // A 1-pixel empty frame around the mask removes every bounds check from the tracer.
  const grid = new Uint8Array(pw * ph);
  for (let k = 0; k < n; k++) {
    const base = (ry[k]! + 1) * pw + 1;
    grid.fill(1, base + rx0[k]!, base + rx1[k]!);
  }
  const DI = DX.map((dx, d) => dx + DY[d]! * pw);
  const components = [...area.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const contours: Contour[] = [];
  for (const [first, count] of components) {
    yield;
    const sx = rx0[first]!;
    const sy = ry[first]!;
    // Inside an (earlier, larger) outer contour but not part of it: it sits in a hole.
    if (contours.some((c) => insidePolygon(sx + 0.25, sy + 0.25, c.points))) continue;
    const chain = traceFrom((sy + 1) * pw + sx + 1, grid, DI, pw * ph);
    const points = compress(chain, pw).map((p): [number, number] => [
      (p % pw) - 1,
      Math.floor(p / pw) - 1,
    ]);
    contours.push({ points, area: count });
  }
  return contours;
}

/**
 * Moore-neighbour tracing with Jacob's stopping rule (stop on re-entering the start in the
 * same direction). `s` is the component's first pixel in raster order, so its west, north-west,
 * north and north-east neighbours are outside.
 */
function traceFrom(s: number, grid: Uint8Array, DI: number[], cells: number): number[] {
  const chain = [s];
  // From `cur` whose outside neighbour lies in direction `back`, sweep clockwise.
  const step = (cur: number, back: number): [number, number] | null => {
    for (let i = 1; i <= 8; i++) {
      const d = (back + i) & 7;
      const n = cur + DI[d]!;
      if (grid[n] === 1) {
        const pd = (back + i - 1) & 7;
        // The last outside pixel, seen from n: difference of two ring vectors.
        const dx = DX[pd]! - DX[d]!;
        const dy = DY[pd]! - DY[d]!;
        return [n, DIR_OF[(dy + 1) * 3 + (dx + 1)]!];
      }
    }
    return null;
  };
  const first = step(s, 4);
  if (!first) return chain;
  const second = first[0];
  let [cur, back] = first;
  const limit = 4 * cells + 16;
  for (let guard = 0; guard < limit; guard++) {
    const next = step(cur, back);
    if (!next) break;
    if (cur === s && next[0] === second) break;
    chain.push(cur);
    [cur, back] = next;
  }
  return chain;
}

/** CHAIN_APPROX_SIMPLE: keep only points where the step direction changes. */
function compress(chain: number[], pw: number): number[] {
  const n = chain.length;
  if (n <= 2) return chain;
  const dir = (a: number, b: number): number => {
    const d = b - a;
    const dy = Math.round(d / pw);
    const dx = d - dy * pw;
    return (dy + 1) * 3 + (dx + 1);
  };
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const prev = chain[(i + n - 1) % n]!;
    const cur = chain[i]!;
    const next = chain[(i + 1) % n]!;
    if (dir(prev, cur) !== dir(cur, next)) out.push(cur);
  }
  return out.length > 0 ? out : [chain[0]!];
}

// ---- encodings ---------------------------------------------------------------

/**
 * COCO uncompressed RLE of a box mask placed in a full width×height image: column-major
 * (down each column, columns left to right), alternating runs starting with zeros.
 */
export function boxMaskToRle(
  m: BoxMask,
  width: number,
  height: number,
): { size: [number, number]; counts: number[] } {
  return runToEnd(rleSteps(m, width, height));
}

/** boxMaskToRle as resumable steps (slices.ts). */
function* rleSteps(
  m: BoxMask,
  width: number,
  height: number,
): Steps<{ size: [number, number]; counts: number[] }> {
  const total = width * height;
  const counts: number[] = [];
  let cur = 0;
  let runStart = 0;
  let prevEnd = -1;
  for (let j = 0; j < m.width; j++) {
    if (j % MASK_STEP === MASK_STEP - 1) yield;
    const base = (m.left + j) * height;
    const start = base + m.top;
    if (cur === 1 && prevEnd < start) {
      counts.push(prevEnd - runStart);
      runStart = prevEnd;
      cur = 0;
    }
    for (let i = 0; i < m.height; i++) {
      const v = m.data[i * m.width + j]!;
      if (v !== cur) {
        counts.push(start + i - runStart);
        runStart = start + i;
        cur = v;
      }
    }
    prevEnd = base + m.top + m.height;
  }
  if (cur === 1 && prevEnd < total) {
    counts.push(prevEnd - runStart);
    runStart = prevEnd;
  }
  counts.push(total - runStart);
  return { size: [height, width], counts };
}

/** Full-size single-channel PNG (255 = object). */
export async function boxMaskToPng(m: BoxMask, width: number, height: number): Promise<Buffer> {
  const full = Buffer.alloc(width * height);
  const pacer = new Pacer();
  for (let i = 0; i < m.height; i++) {
    if (i % MASK_STEP === MASK_STEP - 1) {
      const turn = pacer.pause();
      if (turn) await turn;
    }
    const src = i * m.width;
    const dst = (m.top + i) * width + m.left;
    for (let j = 0; j < m.width; j++) if (m.data[src + j]) full[dst + j] = 255;
  }
  // Without b-w, libvips writes the single band out as three-channel sRGB.
  return sharp(full, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

// ---- public ------------------------------------------------------------------

/** Detections plus the box masks they were built from (same order). */
export interface SegmentResult {
  detections: Detection[];
  masks: BoxMask[];
}

/**
 * What every instance's mask needs, worked out once per image: the kept detections, the
 * mask coefficients' place in the head, and the prototype → image taps per axis.
 */
interface SegmentJob {
  sel: SelectedDetections;
  /** Kept detections in original pixels, same order as `sel`; masks are attached here. */
  detections: Detection[];
  head: Float32Array;
  protos: Float32Array;
  dims: [number, number, number];
  cols: Taps;
  rows: Taps;
  threshold: number;
  /** Offset of coefficient 0 of anchor a: v8 base + a (stride N), v5 a·width + base (stride 1). */
  coeffAt: (a: number) => number;
  coeffStride: number;
  coeffs: Float32Array;
  original: { width: number; height: number };
  rle: boolean;
}

/** Options checked before any work: detect options, mask threshold. */
function segmentOptions(
  profile: ModelProfile,
  opts: SegmentOptions,
): { o: ResolvedDetectOptions; threshold: number } {
  const o = resolveDetectOptions(opts, profile);
  const threshold = logitOf(checkUnit('maskThreshold', opts.maskThreshold, 0.5, profile.model));
  return { o, threshold };
}

function segmentJob(
  output0: OutputTensor,
  output1: OutputTensor,
  sel: SelectedDetections,
  threshold: number,
  profile: ModelProfile,
  geometry: LetterboxGeometry,
  original: { width: number; height: number },
  opts: SegmentOptions,
): SegmentJob {
  const dims = protoDims(output1, profile);
  const detections = toDetections(sel, profile, geometry, original);
  const [nm, mh, mw] = dims;
  const mg = maskGeometry(mw, mh, original.width, original.height);
  const head = output0.data;
  const nc = profile.numClasses;
  const v8 = profile.family === 'yolov8';
  const anchorsTotal = v8 ? head.length / (4 + nc + nm) : head.length / (5 + nc + nm);
  return {
    sel,
    detections,
    head,
    protos: output1.data,
    dims,
    cols: maskTaps(mw, mg.f, mg.x, original.width),
    rows: maskTaps(mh, mg.f, mg.y, original.height),
    threshold,
    coeffAt: v8 ? (a) => (4 + nc) * anchorsTotal + a : (a) => a * (5 + nc + nm) + 5 + nc,
    coeffStride: v8 ? anchorsTotal : 1,
    coeffs: new Float32Array(nm),
    original,
    rle: opts.rle === true,
  };
}

/** Instance j's mask on the image; its polygons (and RLE) go onto detections[j].mask. */
function* segmentInstance(job: SegmentJob, j: number): Steps<BoxMask> {
  const { coeffs, head, original } = job;
  const base = job.coeffAt(job.sel.anchors[j]!);
  for (let k = 0; k < coeffs.length; k++) coeffs[k] = head[base + k * job.coeffStride]!;
  const det = job.detections[j]!;
  const m = yield* instanceMask(
    coeffs,
    job.protos,
    job.dims,
    det.box,
    job.cols,
    job.rows,
    job.threshold,
  );
  const contours = yield* contoursOfRuns(m.runs, m.width, m.height);
  const polygons = contours.map((c) =>
    c.points.map((p): [number, number] => [p[0] + m.left, p[1] + m.top]),
  );
  const mask: Mask = { polygon: polygons[0] ?? [], polygons, area: m.area };
  if (job.rle) mask.rle = yield* rleSteps(m, original.width, original.height);
  det.mask = mask;
  return m;
}

/** Everything except the PNG encoding, synchronously (the whole image in one go). */
export function decodeSegmentsSync(
  output0: OutputTensor,
  output1: OutputTensor,
  profile: ModelProfile,
  geometry: LetterboxGeometry,
  original: { width: number; height: number },
  opts: SegmentOptions = {},
): SegmentResult {
  const { o, threshold } = segmentOptions(profile, opts);
  protoDims(output1, profile);
  const sel = selectDetections(output0, profile, o);
  const job = segmentJob(output0, output1, sel, threshold, profile, geometry, original, opts);
  const detections: Detection[] = [];
  const masks: BoxMask[] = [];
  for (let j = 0; j < job.sel.count; j++) {
    const m = runToEnd(segmentInstance(job, j));
    // Ultralytics keeps only the instances whose mask has a pixel set.
    if (m.area === 0) continue;
    detections.push(job.detections[j]!);
    masks.push(m);
  }
  return { detections, masks };
}

/** PNG encodings (libuv threads, a full-image buffer each) in flight at once. */
const PNG_IN_FLIGHT = 4;

/**
 * Decodes a segmentation model's outputs into detections with masks.
 *
 * @param output0  Detection head with mask coefficients: v8 [1, 4+nc+nm, N] (v5-seg
 *                 [1, N, 5+nc+nm]).
 * @param output1  Prototypes [1, nm, mh, mw] (mh = input height / 4 for YOLOv8-seg).
 * @param geometry Where the original image sits in the model input.
 * @param original Original image size in pixels.
 * @param opts     Detect options plus maskThreshold (sigmoid, default 0.5, strict >), rle, png.
 * @returns Detections by descending score, each with `mask` (polygon, polygons, area, rle?, png?).
 *   `polygon` is the outer contour of the component with the most pixels; Ultralytics'
 *   masks2segments picks the contour with the most points instead, which is the same one
 *   unless a ragged small piece outnumbers it in vertices. Selection and instances are
 *   decoded in slices of about SLICE_MS (slices.ts) with a turn of the event loop between them, and each
 *   mask's pixels are let go once its polygons, RLE and PNG are made: 1000 large masks on
 *   a big image neither stall Node-RED nor pile up in memory.
 */
export async function decodeSegments(
  output0: OutputTensor,
  output1: OutputTensor,
  profile: ModelProfile,
  geometry: LetterboxGeometry,
  original: { width: number; height: number },
  opts: SegmentOptions = {},
): Promise<Detection[]> {
  const { o, threshold } = segmentOptions(profile, opts);
  protoDims(output1, profile);
  const pacer = new Pacer();
  const sel = await selectDetectionsSliced(output0, profile, o, pacer);
  const job = segmentJob(output0, output1, sel, threshold, profile, geometry, original, opts);
  const detections: Detection[] = [];
  const pngs: Promise<void>[] = [];
  for (let j = 0; j < job.sel.count; j++) {
    const m = await runInSlices(segmentInstance(job, j), pacer);
    if (m.area > 0) {
      const det = job.detections[j]!;
      detections.push(det);
      if (opts.png) {
        // A bounded window: each encoding holds a full-image buffer until it is done.
        if (pngs.length >= PNG_IN_FLIGHT) await pngs.shift();
        const png = boxMaskToPng(m, original.width, original.height).then((buf) => {
          det.mask!.png = buf;
        });
        // Awaited below; marked handled so a failure while an earlier one throws is no
        // unhandled rejection.
        png.catch(() => undefined);
        pngs.push(png);
      }
    }
    // The mask's pixels are dropped here (only its polygons / RLE stay), and large
    // results are decoded in slices, so other messages and timers run in between.
    const turn = pacer.pause();
    if (turn) await turn;
  }
  await Promise.all(pngs);
  return detections;
}
