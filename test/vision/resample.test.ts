/**
 * The resize kernels on small arrays, every expectation worked out by hand from the
 * published formulas (OpenCV imgproc/resize.cpp INTER_LINEAR and its 2× area path; Pillow
 * libImaging/Resample.c). Bit-exactness against the libraries themselves on real photos is
 * what test/vision/reference.test.ts shows: its scores equal the references' exactly.
 */
import { strict as assert } from 'node:assert';
import {
  linearPick,
  linearTaps,
  pilTaps,
  resizeLinearCv,
  resizePil,
} from '../../src/vision/resample';

/** A grey image (every channel the same) as packed RGB. */
function grey(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 3);
  values.forEach((v, i) => out.fill(v, i * 3, i * 3 + 3));
  return out;
}

/** Channel 0 of packed RGB, checking the three channels agree. */
function channel(rgb: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < rgb.length; i += 3) {
    assert.equal(rgb[i + 1], rgb[i]);
    assert.equal(rgb[i + 2], rgb[i]);
    out.push(rgb[i]!);
  }
  return out;
}

describe('cv2.resize INTER_LINEAR (resizeLinearCv)', () => {
  it('half-pixel mapping, 11-bit taps and edge clamping on a 2 → 4 row', () => {
    // Output x maps to source (x + 0.5)·(2/4) − 0.5 = −0.25, 0.25, 0.75, 1.25.
    // x = 0: before the first pixel → index 0, fraction 0 (clamped). x = 3: at/after the
    // last pixel → index 1, fraction 0. Taps round((1 − f)·2048), round(f·2048).
    const t = linearTaps(2, 4, true);
    assert.deepEqual(Array.from(t.index), [0, 0, 0, 1]);
    assert.deepEqual(Array.from(t.a0), [2048, 1536, 512, 2048]);
    assert.deepEqual(Array.from(t.a1), [0, 512, 1536, 0]);
    // Values 0 and 100: x = 1 is 100·512 = 51200 (fixed point, ×2048); the single row
    // (1 → 1, tap 2048) gives ((51200 >> 4)·2048 >> 16 = 100, (100 + 2) >> 2 = 25.
    assert.deepEqual(channel(resizeLinearCv(grey([0, 100]), 2, 1, 4, 1)), [0, 25, 75, 100]);
  });

  it('rows: the index is not clamped, the row numbers are', () => {
    // 2 rows → 4: source y −0.25 → floor −1, fraction 0.75: rows −1 and 0, both clamped to
    // row 0 (so the output is row 0 exactly); y 1.25 → rows 1 and 2 → 1.
    const t = linearTaps(2, 4, false);
    assert.deepEqual(Array.from(t.index), [-1, 0, 0, 1]);
    assert.deepEqual(Array.from(t.a0), [512, 1536, 512, 1536]);
    // Column of 40 over 200: 40, 40·0.75 + 200·0.25 = 80, 40·0.25 + 200·0.75 = 160, 200.
    assert.deepEqual(channel(resizeLinearCv(grey([40, 200]), 1, 2, 1, 4)), [40, 80, 160, 200]);
  });

  it('the vertical pass rounds as its 16-bit kernel: ((h>>4)·b >> 16) summed, +2 >> 2', () => {
    // 3 → 2 columns of one row: scale 1.5, x = 0 → 0.25 (taps 1536/512), x = 1 → 1.75 (taps
    // 512/1536 between 1 and 2). Row [255, 0, 255]: x0 = 255·1536 = 391680, x1 = 255·1536.
    // Vertical 1 → 1, tap 2048: (391680 >> 4)·2048 >> 16 = 24480·2048 / 65536 = 765,
    // (765 + 2) >> 2 = 191 (exact value 191.25).
    assert.deepEqual(channel(resizeLinearCv(grey([255, 0, 255]), 3, 1, 2, 1)), [191, 191]);
  });

  it('an exact 2× reduction is the area mean (a + b + c + d + 2) >> 2', () => {
    // 4×2 → 2×1: blocks [1, 2 / 3, 5] and [10, 20 / 30, 41]: (11 + 2) >> 2 = 3 (2.75),
    // (101 + 2) >> 2 = 25 (25.25).
    const src = grey([1, 2, 10, 20, 3, 5, 30, 41]);
    assert.deepEqual(channel(resizeLinearCv(src, 4, 2, 2, 1)), [3, 25]);
  });

  it('a whole-number reduction by 3 samples the middle pixel exactly', () => {
    // 6 → 2: source x = (x + 0.5)·3 − 0.5 = 1 and 4, fraction 0 (taps 2048 / 0); rows 3 → 1:
    // row 1. ((v·2048 >> 4)·2048 >> 16 + 2) >> 2 = v: the pixel itself, whatever its value.
    const src = grey([...[9, 9, 9, 9, 9, 9], ...[1, 255, 7, 3, 128, 5], ...[9, 9, 9, 9, 9, 9]]);
    assert.deepEqual(channel(resizeLinearCv(src, 6, 3, 2, 1)), [255, 128]);
  });

  it('keeps colour channels apart and leaves a same-size image as it is', () => {
    const src = new Uint8Array([255, 0, 0, 0, 0, 255]); // red, blue
    const out = resizeLinearCv(src, 2, 1, 4, 1);
    // Per channel as the grey row above: R [255, 191, 64, 0], B [0, 64, 191, 255].
    // 255·1536 = 391680 → 765 → (767 >> 2) = 191; 255·512 = 130560 → 255 → (257 >> 2) = 64.
    assert.deepEqual(Array.from(out), [255, 0, 0, 191, 0, 64, 64, 0, 191, 0, 0, 255]);
    assert.deepEqual(Array.from(resizeLinearCv(src, 2, 1, 2, 1)), Array.from(src));
  });
});

describe('cv2 INTER_LINEAR reductions that only pick pixels (linearPick)', () => {
  it('odd whole-number factors pick every k-th pixel from the middle of each block', () => {
    // Source x = (x + 0.5)·k − 0.5 = k·x + (k − 1)/2: a whole number (fraction 0, taps
    // 2048 / 0) when k is odd. 1920×1080 → 640×360: k = 3, from (1, 1).
    assert.deepEqual(linearPick(1920, 1080, 640, 360), { x0: 1, y0: 1, kx: 3, ky: 3 });
    assert.deepEqual(linearPick(10, 15, 2, 3), { x0: 2, y0: 2, kx: 5, ky: 5 });
    assert.deepEqual(linearPick(9, 4, 3, 4), { x0: 1, y0: 0, kx: 3, ky: 1 });
    // No resize: x maps to x.
    assert.deepEqual(linearPick(7, 5, 7, 5), { x0: 0, y0: 0, kx: 1, ky: 1 });
  });

  it('is undefined for anything that blends pixels', () => {
    // 2×: the area path; 4×: k·x + 1.5 (fraction 0.5); 810×1080 → 480×640: 2.25×;
    // up-scaling; 3× across but 2× down.
    assert.equal(linearPick(1280, 720, 640, 360), undefined);
    assert.equal(linearPick(2560, 1440, 640, 360), undefined);
    assert.equal(linearPick(810, 1080, 480, 640), undefined);
    assert.equal(linearPick(2, 1, 4, 1), undefined);
    assert.equal(linearPick(6, 4, 2, 2), undefined);
  });

  it('what it picks is what resizeLinearCv computes', () => {
    let seed = 3;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
    for (const [w, h, dw, dh] of [
      [18, 9, 6, 3],
      [15, 21, 3, 3],
      [7, 5, 7, 5],
      [21, 6, 3, 6],
    ] as const) {
      const src = Uint8Array.from({ length: w * h * 3 }, rand);
      const p = linearPick(w, h, dw, dh);
      assert.ok(p, `${w}×${h} → ${dw}×${dh} picks`);
      const picked: number[] = [];
      for (let y = 0; y < dh; y++) {
        for (let x = 0; x < dw; x++) {
          const i = ((p.y0 + p.ky * y) * w + p.x0 + p.kx * x) * 3;
          picked.push(src[i]!, src[i + 1]!, src[i + 2]!);
        }
      }
      assert.deepEqual(Array.from(resizeLinearCv(src, w, h, dw, dh)), picked);
    }
  });
});

describe("Pillow's convolution resize (resizePil)", () => {
  it('BILINEAR 4 → 2 widens the support by the factor (antialias) and rounds in 22 bits', () => {
    // scale 2: support 1·2 = 2. Output 0: centre 1, window [trunc(−0.5), trunc(3.5)) =
    // [0, 3), weights tri((x − 1 + 0.5)/2) = 0.75, 0.75, 0.25 → 3/7, 3/7, 1/7.
    // Output 1: centre 3, window [1, 4): 1/7, 3/7, 3/7.
    const t = pilTaps(4, 2, 'bilinear');
    assert.deepEqual(
      [Array.from(t.first), Array.from(t.count)],
      [
        [0, 1],
        [3, 3],
      ],
    );
    // Fixed point: trunc(0.5 + w·2^22): 3/7 → 1797559, 1/7 → 599186.
    assert.deepEqual(Array.from(t.weights.slice(0, 3)), [1797559, 1797559, 599186]);
    // [0, 70, 140, 210]: 70·3/7 + 140/7 = 50; 70/7 + 140·3/7 + 210·3/7 = 160 (sums
    // 50.5 and 160.498 after the 2^21 rounding offset, floored). A 2-tap bilinear (as
    // cv2 or libvips' reduce) would give 35 and 175.
    assert.deepEqual(
      channel(resizePil(grey([0, 70, 140, 210]), 4, 1, 2, 1, 'bilinear')),
      [50, 160],
    );
  });

  it('BICUBIC (a = −0.5) up-scaling keeps its support and clips negative lobes', () => {
    // 2 → 4: output 0 has centre 0.25, window [0, 2): cubic(0.25) = 0.8671875,
    // cubic(1.25) = −0.0703125, normalised 1.0882, −0.0882. [100, 0] → 108.82 → 109;
    // [0, 100] → −8.8 → 0.
    assert.equal(channel(resizePil(grey([100, 0]), 2, 1, 4, 1, 'bicubic'))[0], 109);
    assert.equal(channel(resizePil(grey([0, 100]), 2, 1, 4, 1, 'bicubic'))[0], 0);
  });

  it('resizes rows with the same taps (vertical pass after the horizontal one)', () => {
    const col = grey([0, 70, 140, 210]);
    assert.deepEqual(channel(resizePil(col, 1, 4, 1, 2, 'bilinear')), [50, 160]);
  });
});
