/**
 * Resizing that reproduces the reference implementations bit for bit on packed RGB uint8
 * (HWC, 3 channels):
 *
 * - `resizeLinearCv`: OpenCV's cv2.resize(..., INTER_LINEAR) as Ultralytics, yolov5 and the
 *   YOLOX demo call it. Fixed point with 11 fractional bits (INTER_RESIZE_COEF_BITS): the
 *   source position of output x is (x + 0.5)·(w/W) − 0.5 computed in float32, split into an
 *   integer part and a fraction f; the two taps are round((1 − f)·2048) and round(f·2048).
 *   Columns past the edges are clamped (the fraction forced to 0), rows are clamped to the
 *   first/last row. The horizontal pass keeps exact integers; the vertical pass is done the
 *   way OpenCV's vector kernel does it, for every byte of the row (checked against
 *   opencv-python 5.0.0 on x86-64, row lengths 6 to 5760 bytes): each row sum shifted right
 *   by 4, multiplied by the 16-bit tap keeping the high 16 bits, the two added, + 2, >> 2.
 *   (The exact rounding of the 22-bit sum differs from it by 1 on some pixels.)
 *   An exact 2× reduction in both directions is OpenCV's area path: the mean of each 2×2
 *   block, (a + b + c + d + 2) >> 2.
 * - `resizePil`: Pillow's Image.resize convolution resampling (BILINEAR, BICUBIC with
 *   a = −0.5), antialiased: the filter support is scaled by the reduction factor. Weights are
 *   normalised in double precision, turned into 22-bit fixed point (rounded half away from
 *   zero), horizontal pass first into uint8, then the vertical pass, each output
 *   (sum + 2^21) >> 22 clamped to 0..255.
 */

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** C's lrint / cvRound on a float: nearest, ties to even. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** saturate_cast<short>(float·2048). */
function tap(f: number): number {
  return Math.max(-32768, Math.min(32767, roundEven(Math.fround(f * COEF_SCALE))));
}

/** Source index and the two fixed-point taps for each output position along one axis. */
export interface LinearTaps {
  /** First source index (the second is index + 1, clamped by the caller for rows). */
  index: Int32Array;
  a0: Int16Array;
  a1: Int16Array;
}

/**
 * OpenCV's per-axis coefficients for INTER_LINEAR. `clampEdges` is the column rule
 * (positions before 0 or at/after the last pixel get index 0 / last and fraction 0); rows
 * keep the raw index and fraction and clamp the row numbers instead.
 */
export function linearTaps(src: number, dst: number, clampEdges: boolean): LinearTaps {
  const scale = src / dst;
  const index = new Int32Array(dst);
  const a0 = new Int16Array(dst);
  const a1 = new Int16Array(dst);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampEdges) {
      if (s < 0) {
        f = 0;
        s = 0;
      }
      if (s >= src - 1) {
        f = 0;
        s = src - 1;
      }
    }
    index[d] = s;
    a0[d] = tap(Math.fround(1 - f));
    a1[d] = tap(f);
  }
  return { index, a0, a1 };
}

/**
 * When cv2 INTER_LINEAR from srcW×srcH to dstW×dstH only copies source pixels, evenly
 * spaced: output (x, y) = source (x0 + kx·x, y0 + ky·y). That is the case of odd
 * whole-number reductions in both directions (1920×1080 → 640×360: every third pixel from
 * (1, 1)) and of no resize at all (kx = ky = 1): every tap pair is 2048 / 0, which
 * resizeLinearCv turns into the source byte itself. Undefined for any other resize.
 */
export interface LinearPick {
  x0: number;
  y0: number;
  kx: number;
  ky: number;
}

export function linearPick(
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
): LinearPick | undefined {
  // The answer for the last sizes asked: a camera sends one size, and the taps of 1080p
  // cost more than the rest of the check.
  const key = `${srcW}x${srcH}>${dstW}x${dstH}`;
  if (lastPick.key !== key) {
    lastPick.key = key;
    lastPick.pick = computePick(srcW, srcH, dstW, dstH);
  }
  return lastPick.pick && { ...lastPick.pick };
}

const lastPick: { key: string; pick: LinearPick | undefined } = { key: '', pick: undefined };

function computePick(
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
): LinearPick | undefined {
  // resizeLinearCv's area path (never a pick: its taps are 1024 / 1024).
  if (srcW === 2 * dstW && srcH === 2 * dstH) return undefined;
  const cols = evenPicks(linearTaps(srcW, dstW, true), srcW);
  const rows = cols && evenPicks(linearTaps(srcH, dstH, false), srcH);
  if (!cols || !rows) return undefined;
  return { x0: cols.start, y0: rows.start, kx: cols.step, ky: rows.step };
}

/** Start and spacing of one axis' picks (indices clamped as resizeLinearCv clamps them). */
function evenPicks(t: LinearTaps, src: number): { start: number; step: number } | undefined {
  const n = t.index.length;
  const at = (d: number): number => Math.min(Math.max(t.index[d]!, 0), src - 1);
  const start = at(0);
  const step = n > 1 ? at(1) - start : 1;
  if (step < 1) return undefined;
  for (let d = 0; d < n; d++) {
    if (t.a0[d] !== COEF_SCALE || t.a1[d] !== 0 || at(d) !== start + d * step) return undefined;
  }
  return { start, step };
}

/**
 * cv2.resize(src, (dstW, dstH), interpolation=INTER_LINEAR) on packed RGB uint8.
 * @param src - [srcH, srcW, 3]
 * @returns [dstH, dstW, 3]
 */
export function resizeLinearCv(
  src: Uint8Array,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
  out: Uint8Array = new Uint8Array(dstW * dstH * 3),
): Uint8Array {
  // A plain Uint8Array view: Buffers (a subclass) and Uint8Arrays reaching the same loops
  // would make their element access polymorphic.
  if (Object.getPrototypeOf(src) !== Uint8Array.prototype) {
    src = new Uint8Array(src.buffer, src.byteOffset, src.length);
  }
  if (srcW === dstW && srcH === dstH) {
    out.set(src.subarray(0, srcW * srcH * 3));
    return out;
  }
  if (srcW === 2 * dstW && srcH === 2 * dstH) return halve(src, srcW, dstW, dstH, out);
  const rowLen = dstW * 3;
  const xt = linearTaps(srcW, dstW, true);
  const yt = linearTaps(srcH, dstH, false);
  // Per output pixel: byte offsets of the two source pixels and their taps. At the right
  // edge the second tap is 0; it reads the same pixel instead of past the row (OpenCV
  // uses a one-tap loop there).
  const xo0 = new Int32Array(dstW);
  const xo1 = new Int32Array(dstW);
  const xa0 = new Int32Array(dstW);
  const xa1 = new Int32Array(dstW);
  for (let d = 0; d < dstW; d++) {
    const s = xt.index[d]!;
    xo0[d] = s * 3;
    xo1[d] = Math.min(s + 1, srcW - 1) * 3;
    xa0[d] = xt.a0[d]!;
    xa1[d] = xt.a1[d]!;
  }
  // Whole-number reductions (1920 → 640) put every output on a source pixel: one tap.
  const oneTap = xa1.every((a) => a === 0);
  // Interleaved per output pixel: offset of the first source pixel, offset step to the
  // second (0 or 3), tap 0, tap 1.
  const taps = new Int32Array(dstW * 4);
  for (let d = 0; d < dstW; d++) {
    taps[d * 4] = xo0[d]!;
    taps[d * 4 + 1] = xo1[d]! - xo0[d]!;
    taps[d * 4 + 2] = xa0[d]!;
    taps[d * 4 + 3] = xa1[d]!;
  }
  const hresize = (y: number, into: Int32Array): void => {
    if (oneTap) hresizeOne(src, y * srcW * 3, taps, dstW, into);
    else hresizeTwo(src, y * srcW * 3, taps, dstW, into);
  };

  // Horizontally resized rows, cached by source row: consecutive output rows share them.
  let rowA = new Int32Array(rowLen);
  let rowB = new Int32Array(rowLen);
  let haveA = -1;
  let haveB = -1;
  const zero = new Int32Array(rowLen);
  // Both taps 2048/0 (whole-number reductions such as 1080p → 640×360): the fixed-point
  // result is the source byte itself, ((v·2048 >> 4)·2048 >> 16 + 2) >> 2 = v, so the
  // pixel is copied.
  const pickX = oneTap && xa0.every((a) => a === COEF_SCALE);
  for (let dy = 0; dy < dstH; dy++) {
    const sy = yt.index[dy]!;
    const y0 = Math.min(Math.max(sy, 0), srcH - 1);
    const y1 = Math.min(Math.max(sy + 1, 0), srcH - 1);
    const b0 = yt.a0[dy]!;
    const b1 = yt.a1[dy]!;
    if (pickX && b1 === 0 && b0 === COEF_SCALE) {
      const base = y0 * srcW * 3;
      for (let d = 0, o = dy * rowLen; d < dstW; d++, o += 3) {
        const p = base + xo0[d]!;
        out[o] = src[p]!;
        out[o + 1] = src[p + 1]!;
        out[o + 2] = src[p + 2]!;
      }
      continue;
    }
    // A row with tap 0 adds nothing: (v >> 4)·0 >> 16 = 0. Integer reductions hit this on
    // every row, and skipping it halves the horizontal work.
    if (b0 !== 0 && haveA !== y0) {
      if (haveB === y0) {
        const t = rowA;
        rowA = rowB;
        rowB = t;
        haveA = y0;
        haveB = -1;
      } else {
        hresize(y0, rowA);
        haveA = y0;
      }
    }
    if (b1 !== 0 && haveB !== y1) {
      hresize(y1, rowB);
      haveB = y1;
    }
    const A = b0 !== 0 ? rowA : zero;
    const B = b1 !== 0 ? rowB : zero;
    vresize(A, B, b0, b1, out, dy * rowLen, rowLen);
  }
  return out;
}

/** OpenCV's vertical pass for one output row (see the header for its rounding). */
function vresize(
  A: Int32Array,
  B: Int32Array,
  b0: number,
  b1: number,
  out: Uint8Array,
  o: number,
  rowLen: number,
): void {
  if (b1 === 0) {
    for (let x = 0; x < rowLen; x++) {
      const r = ((((A[x]! >> 4) * b0) >> 16) + 2) >> 2;
      out[o + x] = r < 0 ? 0 : r > 255 ? 255 : r;
    }
    return;
  }
  for (let x = 0; x < rowLen; x++) {
    // 16-bit "multiply high": (v · b) >> 16, arithmetic shift.
    const v = (((A[x]! >> 4) * b0) >> 16) + (((B[x]! >> 4) * b1) >> 16);
    const r = (v + 2) >> 2;
    out[o + x] = r < 0 ? 0 : r > 255 ? 255 : r;
  }
}

function hresizeOne(
  src: Uint8Array,
  base: number,
  taps: Int32Array,
  dstW: number,
  into: Int32Array,
): void {
  for (let d = 0, o = 0, t = 0; d < dstW; d++, o += 3, t += 4) {
    const p = base + taps[t]!;
    const a0 = taps[t + 2]!;
    into[o] = src[p]! * a0;
    into[o + 1] = src[p + 1]! * a0;
    into[o + 2] = src[p + 2]! * a0;
  }
}

function hresizeTwo(
  src: Uint8Array,
  base: number,
  taps: Int32Array,
  dstW: number,
  into: Int32Array,
): void {
  for (let d = 0, o = 0, t = 0; d < dstW; d++, o += 3, t += 4) {
    const p = base + taps[t]!;
    const q = p + taps[t + 1]!;
    const a0 = taps[t + 2]!;
    const a1 = taps[t + 3]!;
    into[o] = src[p]! * a0 + src[q]! * a1;
    into[o + 1] = src[p + 1]! * a0 + src[q + 1]! * a1;
    into[o + 2] = src[p + 2]! * a0 + src[q + 2]! * a1;
  }
}

/** OpenCV's area path for an exact 2× reduction: (a + b + c + d + 2) >> 2 per channel. */
function halve(
  src: Uint8Array,
  srcW: number,
  dstW: number,
  dstH: number,
  out: Uint8Array,
): Uint8Array {
  const srcRow = srcW * 3;
  for (let y = 0; y < dstH; y++) {
    const r0 = 2 * y * srcRow;
    const r1 = r0 + srcRow;
    let o = y * dstW * 3;
    for (let x = 0; x < dstW; x++) {
      const s = x * 6;
      for (let k = 0; k < 3; k++, o++) {
        out[o] =
          (src[r0 + s + k]! + src[r0 + s + 3 + k]! + src[r1 + s + k]! + src[r1 + s + 3 + k]! + 2) >>
          2;
      }
    }
  }
  return out;
}

// ---- Pillow -----------------------------------------------------------------------------

export type PilFilter = 'bilinear' | 'bicubic';

const PIL_FILTERS: Record<PilFilter, { support: number; fn: (x: number) => number }> = {
  bilinear: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;

/** Pillow's per-output window (first source index, tap count) and 22-bit fixed-point taps. */
export interface PilTaps {
  first: Int32Array;
  count: Int32Array;
  /** [dst, ksize] */
  weights: Int32Array;
  ksize: number;
}

export function pilTaps(src: number, dst: number, filter: PilFilter): PilTaps {
  const f = PIL_FILTERS[filter];
  const scale = src / dst;
  const filterscale = Math.max(scale, 1);
  const support = f.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(dst);
  const count = new Int32Array(dst);
  const weights = new Int32Array(dst * ksize);
  const k = new Float64Array(ksize);
  for (let d = 0; d < dst; d++) {
    const center = (d + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(src, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = f.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      const v = w * (1 << PRECISION_BITS);
      weights[d * ksize + x] = w < 0 ? Math.trunc(-0.5 + v) : Math.trunc(0.5 + v);
    }
    first[d] = xmin;
    count[d] = xmax;
  }
  return { first, count, weights, ksize };
}

function clip8(ss: number): number {
  const v = Math.floor(ss / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Pillow's Image.resize((dstW, dstH), BILINEAR | BICUBIC) on packed RGB uint8: horizontal
 * pass (only over the rows the vertical pass reads), then vertical. A pass whose size does
 * not change is skipped, as in Pillow.
 *
 * @param alloc - memory for the passes (default: fresh), of the byte length asked for; every
 *   byte is written, so it may hold anything
 */
export function resizePil(
  src: Uint8Array,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
  filter: PilFilter,
  alloc: (byteLength: number) => Uint8Array = (n) => new Uint8Array(n),
): Uint8Array {
  const half = 1 << (PRECISION_BITS - 1);
  let cur = src;
  let curW = srcW;
  let curH = srcH;
  const yt = dstH !== srcH ? pilTaps(srcH, dstH, filter) : undefined;
  // Rows the vertical pass reads.
  let yFirst = 0;
  let yLast = srcH;
  if (yt) {
    yFirst = yt.first[0]!;
    yLast = yt.first[dstH - 1]! + yt.count[dstH - 1]!;
  }
  if (dstW !== srcW) {
    const xt = pilTaps(srcW, dstW, filter);
    const rows = yLast - yFirst;
    const tmp = alloc(dstW * rows * 3);
    for (let y = 0; y < rows; y++) {
      const base = (y + yFirst) * srcW * 3;
      let o = y * dstW * 3;
      for (let d = 0; d < dstW; d++) {
        const x0 = xt.first[d]!;
        const n = xt.count[d]!;
        const wb = d * xt.ksize;
        let s0 = half;
        let s1 = half;
        let s2 = half;
        for (let x = 0; x < n; x++) {
          const w = xt.weights[wb + x]!;
          const i = base + (x0 + x) * 3;
          s0 += src[i]! * w;
          s1 += src[i + 1]! * w;
          s2 += src[i + 2]! * w;
        }
        out3(tmp, o, s0, s1, s2);
        o += 3;
      }
    }
    cur = tmp;
    curW = dstW;
    curH = rows;
  } else {
    yFirst = 0;
  }
  if (!yt) return cur === src ? src.slice(0, srcW * srcH * 3) : cur;
  const out = alloc(dstW * dstH * 3);
  const row = curW * 3;
  for (let d = 0; d < dstH; d++) {
    const y0 = yt.first[d]! - yFirst;
    const n = yt.count[d]!;
    const wb = d * yt.ksize;
    const o = d * row;
    for (let x = 0; x < row; x++) {
      let s = half;
      for (let y = 0; y < n; y++) s += cur[(y0 + y) * row + x]! * yt.weights[wb + y]!;
      out[o + x] = clip8(s);
    }
  }
  void curH;
  return out;
}

function out3(t: Uint8Array, o: number, a: number, b: number, c: number): void {
  t[o] = clip8(a);
  t[o + 1] = clip8(b);
  t[o + 2] = clip8(c);
}
