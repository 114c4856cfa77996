import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { float32ToHalf, floatToHalfBits } from '../../src/protocol/tensor';
import {
  decodeImage,
  encodeImage,
  hwcToTensor,
  letterboxImage,
  prepareInput,
} from '../../src/vision/image';
import { computeCenterCrop, computeLetterbox } from '../../src/vision/geometry';
import { resizeLinearCv, resizePil } from '../../src/vision/resample';
import type { ModelProfile, Preprocess } from '../../src/vision/types';
import { fixtureImage } from '../support/fixtures';

type Profile = Pick<ModelProfile, 'input' | 'preprocess'>;

const ULTRALYTICS: Preprocess = {
  kind: 'letterbox',
  centred: true,
  padValue: 114,
  colour: 'RGB',
  scale: 1 / 255,
};
const YOLOX: Preprocess = {
  kind: 'letterbox',
  centred: false,
  padValue: 114,
  colour: 'BGR',
  scale: 1,
};
const IMAGENET: Preprocess = {
  kind: 'imagenet',
  resize: 256,
  crop: 224,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  interpolation: 'bicubic',
  colour: 'RGB',
};

function profile(
  preprocess: Preprocess,
  width: number,
  height: number,
  datatype: 'FP32' | 'FP16' | 'UINT8' = 'FP32',
  layout: 'NCHW' | 'NHWC' = 'NCHW',
): Profile {
  return {
    input: {
      name: 'images',
      datatype,
      layout,
      width,
      height,
      shape: layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3],
    },
    preprocess,
  };
}

/** A flat-colour PNG: every resampling kernel maps a constant image to the same constant. */
function flatPng(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({
    create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } },
  })
    .png()
    .toBuffer();
}

async function rejectsWith(p: Promise<unknown>, code: string, text?: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `expected a ${code} error, but it resolved`);
  assert.equal((caught as { code?: string }).code, code, (caught as Error).message);
  if (text) assert.match((caught as Error).message, text);
  return caught as Error;
}

/** Rewrites a PNG's IHDR width/height and fixes the chunk CRC (PNG spec: CRC over type+data). */
function withPngSize(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  // 8-byte signature, then IHDR: length(4) 'IHDR'(4) width(4) height(4) ... crc(4).
  assert.equal(out.toString('latin1', 12, 16), 'IHDR');
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(zlib.crc32(out.subarray(12, 29)) >>> 0, 29);
  return out;
}

/** Packed RGB noise, so that a wrong source pixel cannot hide behind a flat colour. */
function noise(width: number, height: number, seed: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  let x = seed;
  for (let i = 0; i < px.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return px;
}

describe('vision/image', () => {
  describe('letterbox pixels (Ultralytics: centred, pad 114, RGB, /255)', () => {
    const colour: [number, number, number] = [200, 50, 10];
    // Geometry from REFERENCE B.2 (worked examples) and by hand: r = min(640/H, 640/W),
    // unpadded = round(W·r) × round(H·r), top/left = ⌊Δ/2⌋, odd pixel bottom/right.
    const cases = [
      { name: 'portrait 810×1080', w: 810, h: 1080, nw: 480, nh: 640, left: 80, top: 0 },
      { name: 'landscape 1280×720', w: 1280, h: 720, nw: 640, nh: 360, left: 0, top: 140 },
      { name: 'odd 1000×667', w: 1000, h: 667, nw: 640, nh: 427, left: 0, top: 106 },
      { name: 'square 500×500 (upscaled)', w: 500, h: 500, nw: 640, nh: 640, left: 0, top: 0 },
      { name: 'tiny 1×1', w: 1, h: 1, nw: 640, nh: 640, left: 0, top: 0 },
      { name: 'tiny 3×2', w: 3, h: 2, nw: 640, nh: 427, left: 0, top: 106 },
      { name: 'odd portrait 333×517', w: 333, h: 517, nw: 412, nh: 640, left: 114, top: 0 },
    ];
    for (const c of cases) {
      it(`${c.name}: image at (${c.left}, ${c.top}) size ${c.nw}×${c.nh}, 114/255 elsewhere`, async () => {
        const png = await flatPng(c.w, c.h, colour);
        const p = await prepareInput(png, profile(ULTRALYTICS, 640, 640));
        assert.deepEqual(p.shape, [1, 3, 640, 640]);
        assert.equal(p.width, c.w);
        assert.equal(p.height, c.h);
        assert.ok(p.tensor instanceof Float32Array);
        assert.equal(p.tensor.length, 3 * 640 * 640);
        assert.deepEqual(
          [
            p.letterbox!.newWidth,
            p.letterbox!.newHeight,
            p.letterbox!.padLeft,
            p.letterbox!.padTop,
          ],
          [c.nw, c.nh, c.left, c.top],
        );
        const plane = 640 * 640;
        const pad = Math.fround(114 / 255);
        for (let k = 0; k < 3; k++) {
          const want = Math.fround(colour[k]! / 255);
          for (let y = 0; y < 640; y++) {
            for (let x = 0; x < 640; x++) {
              const inside = x >= c.left && x < c.left + c.nw && y >= c.top && y < c.top + c.nh;
              const v: number | undefined = p.tensor[k * plane + y * 640 + x];
              if (v !== (inside ? want : pad)) {
                assert.fail(`channel ${k} (${x}, ${y}) = ${v}, want ${inside ? want : pad}`);
              }
            }
          }
        }
      });
    }

    it('a real photo (bus.jpg, 810×1080) lands at x = 80..559 with pad columns of 114/255', async () => {
      const p = await prepareInput(
        fs.readFileSync(fixtureImage('bus.jpg')),
        profile(ULTRALYTICS, 640, 640),
      );
      assert.equal(p.width, 810);
      assert.equal(p.height, 1080);
      const t = p.tensor as Float32Array;
      const pad = Math.fround(114 / 255);
      for (let k = 0; k < 3; k++) {
        for (const y of [0, 320, 639]) {
          for (const x of [0, 79, 560, 639]) assert.equal(t[k * 640 * 640 + y * 640 + x], pad);
        }
      }
      // Inside, the values are pixel/255 for some byte: never outside [0, 1], and not all pad.
      let notPad = 0;
      for (let y = 0; y < 640; y++) {
        for (let x = 80; x < 560; x++) {
          const v = t[y * 640 + x]!;
          assert.ok(v >= 0 && v <= 1);
          if (v !== pad) notPad++;
        }
      }
      assert.ok(notPad > 0.9 * 480 * 640, `only ${notPad} image pixels differ from the pad`);
    });
  });

  describe('letterbox resize paths', () => {
    // 3× (every third pixel, read in place), 2× (area mean) and uneven (two taps), each
    // twice with other pixels (the second reuses the first one's resize memory), as PNG
    // and as a raw frame: always what resizeLinearCv + hwcToTensor make of the pixels.
    for (const [w, h] of [
      [192, 108],
      [128, 72],
      [100, 67],
    ] as const) {
      for (const pre of [ULTRALYTICS, YOLOX]) {
        const name = pre.centred ? 'Ultralytics' : 'YOLOX';
        it(`${w}×${h} into 64×64 (${name}) = resizeLinearCv + hwcToTensor`, async () => {
          const prof = profile(pre, 64, 64);
          for (const seed of [1, 2]) {
            const px = noise(w, h, seed);
            const png = await sharp(px, { raw: { width: w, height: h, channels: 3 } })
              .png()
              .toBuffer();
            const g = computeLetterbox(w, h, 64, 64, pre.centred);
            const want = hwcToTensor(
              resizeLinearCv(px, w, h, g.newWidth, g.newHeight),
              g.newWidth,
              g.newHeight,
              {
                width: 64,
                height: 64,
                left: g.padLeft,
                top: g.padTop,
                padValue: 114,
                colour: pre.colour,
                scale: pre.scale,
              },
            );
            for (const input of [png, { data: px, width: w, height: h, channels: 3 as const }]) {
              const p = await prepareInput(input, prof);
              assert.deepEqual([...p.tensor], [...want], `seed ${seed}`);
            }
          }
        });
      }
    }
  });

  describe('several images at once', () => {
    it('each is prepared as alone; a damaged one among them fails alone', async () => {
      // The first decode starts beside its header read; the ones that arrive while it runs
      // read their header first: either way the same tensors and the same errors.
      const prof = profile(ULTRALYTICS, 64, 64);
      const sizes = [
        [192, 108],
        [100, 67],
        [128, 72],
      ] as const;
      const pngs = await Promise.all(
        sizes.map(([w, h], i) =>
          sharp(noise(w, h, i + 1), { raw: { width: w, height: h, channels: 3 } })
            .png()
            .toBuffer(),
        ),
      );
      const alone: number[][] = [];
      for (const png of pngs) alone.push([...(await prepareInput(png, prof)).tensor]);
      const truncated = pngs[0]!.subarray(0, pngs[0]!.length >> 1);
      const together = await Promise.allSettled([
        ...pngs.map((png) => prepareInput(png, prof)),
        prepareInput(truncated, prof),
      ]);
      for (let i = 0; i < pngs.length; i++) {
        const r = together[i]!;
        assert.equal(r.status, 'fulfilled');
        assert.deepEqual([...r.value.tensor], alone[i]);
      }
      const bad = together[pngs.length]!;
      assert.equal(bad.status, 'rejected');
      assert.equal((bad.reason as { code?: string }).code, 'INVALID_IMAGE');
      assert.match((bad.reason as Error).message, /the PNG image/);
    });
  });

  describe('letterbox pixels (YOLOX: top-left, BGR, ×1)', () => {
    it('1280×720 into 416×416: rows 0..233 image in BGR 0..255, rows 234.. pad 114', async () => {
      const png = await flatPng(1280, 720, [200, 50, 10]);
      const p = await prepareInput(png, profile(YOLOX, 416, 416));
      // r = 416/1280 = 0.325; unpadded = int(416) × int(234); no centring.
      const g = p.letterbox!;
      assert.deepEqual(
        [g.newWidth, g.newHeight, g.padLeft, g.padTop, g.padBottom],
        [416, 234, 0, 0, 182],
      );
      const plane = 416 * 416;
      const bgr = [10, 50, 200];
      for (let k = 0; k < 3; k++) {
        for (let y = 0; y < 416; y++) {
          for (let x = 0; x < 416; x++) {
            const want = y < 234 ? bgr[k] : 114;
            const v = p.tensor[k * plane + y * 416 + x];
            if (v !== want) assert.fail(`channel ${k} (${x}, ${y}) = ${v}, want ${want}`);
          }
        }
      }
    });

    it('portrait 300×600 into 416×416: pad only on the right', async () => {
      const png = await flatPng(300, 600, [1, 2, 3]);
      const p = await prepareInput(png, profile(YOLOX, 416, 416));
      // r = 416/600; unpadded = int(208) × 416.
      assert.equal(p.letterbox!.newWidth, 208);
      assert.equal(p.letterbox!.padLeft, 0);
      assert.equal(p.tensor[0], 3); // B first
      assert.equal(p.tensor[207], 3);
      assert.equal(p.tensor[208], 114);
      assert.equal(p.tensor[415 * 416 + 415], 114);
    });
  });

  describe('ImageNet pre-processing', () => {
    it('a flat colour becomes (c/255 − mean)/std in every position, CHW', async () => {
      const colour: [number, number, number] = [120, 200, 30];
      const png = await flatPng(300, 200, colour);
      const p = await prepareInput(png, profile(IMAGENET, 224, 224));
      assert.deepEqual(p.shape, [1, 3, 224, 224]);
      // short side 200 → 256, long side int(256·300/200) = 384; crop offset round((384−224)/2) = 80.
      assert.deepEqual(p.crop, {
        resizedWidth: 384,
        resizedHeight: 256,
        left: 80,
        top: 16,
        width: 224,
        height: 224,
      });
      const mean = [0.485, 0.456, 0.406];
      const std = [0.229, 0.224, 0.225];
      for (let k = 0; k < 3; k++) {
        const want = Math.fround((colour[k]! / 255 - mean[k]!) / std[k]!);
        for (let i = 0; i < 224 * 224; i++) {
          const v = p.tensor[k * 224 * 224 + i];
          if (v !== want) assert.fail(`channel ${k} element ${i} = ${v}, want ${want}`);
        }
      }
    });

    it('= resizePil + the crop rectangle + hwcToTensor (twice: resize memory reused)', async () => {
      const pre = { ...IMAGENET, resize: 36, crop: 32 };
      for (const seed of [1, 2]) {
        const px = noise(60, 40, seed);
        // Short side 40 → 36, long side int(36·60/40) = 54; crop at round(11), round(2).
        const c = computeCenterCrop(60, 40, 36, 32);
        assert.deepEqual([c.resizedWidth, c.resizedHeight, c.left, c.top], [54, 36, 11, 2]);
        const resized = resizePil(px, 60, 40, 54, 36, 'bicubic');
        const crop = new Uint8Array(32 * 32 * 3);
        for (let y = 0; y < 32; y++) {
          crop.set(resized.subarray(((2 + y) * 54 + 11) * 3, ((2 + y) * 54 + 43) * 3), y * 96);
        }
        const want = hwcToTensor(crop, 32, 32, {
          scale: 1 / 255,
          mean: [0.485, 0.456, 0.406],
          std: [0.229, 0.224, 0.225],
        });
        const png = await sharp(px, { raw: { width: 60, height: 40, channels: 3 } })
          .png()
          .toBuffer();
        for (const input of [png, { data: px, width: 60, height: 40, channels: 3 as const }]) {
          const p = await prepareInput(input, profile(pre, 32, 32));
          assert.deepEqual([...p.tensor], [...want], `seed ${seed}`);
        }
      }
    });

    it('bilinear interpolation gives the same constant; the original size is reported', async () => {
      const png = await flatPng(64, 96, [0, 255, 128]);
      const p = await prepareInput(
        png,
        profile({ ...IMAGENET, interpolation: 'bilinear' }, 224, 224),
      );
      assert.equal(p.width, 64);
      assert.equal(p.height, 96);
      assert.equal(p.tensor[0], Math.fround((0 - 0.485) / 0.229));
      assert.equal(p.tensor[224 * 224], Math.fround((1 - 0.456) / 0.224));
    });
  });

  describe('tensor encodings', () => {
    it('FP16 tensor = float32ToHalf(FP32 tensor), element for element (bus.jpg)', async () => {
      const bus = fs.readFileSync(fixtureImage('bus.jpg'));
      const f32 = await prepareInput(bus, profile(ULTRALYTICS, 640, 640, 'FP32'));
      const f16 = await prepareInput(bus, profile(ULTRALYTICS, 640, 640, 'FP16'));
      assert.ok(f16.tensor instanceof Uint16Array);
      assert.deepEqual(f16.tensor, float32ToHalf(f32.tensor as Float32Array));
    });

    it('FP16 ImageNet tensor = float32ToHalf(FP32) too (negative values, mean/std)', async () => {
      const img = fs.readFileSync(fixtureImage('chelsea.png'));
      const f32 = await prepareInput(img, profile(IMAGENET, 224, 224, 'FP32'));
      const f16 = await prepareInput(img, profile(IMAGENET, 224, 224, 'FP16'));
      assert.deepEqual(f16.tensor, float32ToHalf(f32.tensor as Float32Array));
    });

    it('NHWC[y][x][c] = NCHW[c][y][x] for every element (coffee.png)', async () => {
      const img = fs.readFileSync(fixtureImage('coffee.png'));
      const chw = (await prepareInput(img, profile(ULTRALYTICS, 320, 256, 'FP32', 'NCHW'))).tensor;
      const nhwc = await prepareInput(img, profile(ULTRALYTICS, 320, 256, 'FP32', 'NHWC'));
      assert.deepEqual(nhwc.shape, [1, 256, 320, 3]);
      const hwc = nhwc.tensor;
      for (let y = 0; y < 256; y++) {
        for (let x = 0; x < 320; x++) {
          for (let c = 0; c < 3; c++) {
            if (hwc[(y * 320 + x) * 3 + c] !== chw[c * 256 * 320 + y * 320 + x]) {
              assert.fail(`(${x}, ${y}, ${c}) differs`);
            }
          }
        }
      }
    });

    it('UINT8 keeps the pixel bytes and pads with 114', async () => {
      const png = await flatPng(10, 5, [7, 8, 9]);
      const p = await prepareInput(png, profile(ULTRALYTICS, 10, 10, 'UINT8', 'NHWC'));
      assert.ok(p.tensor instanceof Uint8Array);
      // 10×5 in 10×10: top = 2, rows 2..6 image.
      assert.deepEqual([...p.tensor.subarray(0, 3)], [114, 114, 114]);
      assert.deepEqual([...p.tensor.subarray(2 * 30, 2 * 30 + 3)], [7, 8, 9]);
      assert.deepEqual([...p.tensor.subarray(7 * 30, 7 * 30 + 3)], [114, 114, 114]);
    });

    it('rejects an input that is not FP32/FP16/UINT8, or a shape that is not one image', async () => {
      const png = await flatPng(4, 4, [0, 0, 0]);
      const bad = profile(ULTRALYTICS, 8, 8);
      await rejectsWith(
        prepareInput(png, { ...bad, input: { ...bad.input, datatype: 'INT64' } }),
        'UNSUPPORTED_MODEL',
        /INT64/,
      );
      await rejectsWith(
        prepareInput(png, { ...bad, input: { ...bad.input, shape: [1, 1, 8, 8] } }),
        'UNSUPPORTED_MODEL',
        /\[1, 1, 8, 8\]/,
      );
    });
  });

  describe('hwcToTensor', () => {
    // 2×1 source: pixel A = (10, 20, 30), pixel B = (40, 50, 60).
    const src = Uint8Array.from([10, 20, 30, 40, 50, 60]);

    it('places the source at (left, top) in CHW with the pad elsewhere', () => {
      const t = hwcToTensor(src, 2, 1, { width: 4, height: 3, left: 1, top: 1, padValue: 9 });
      const P = 9;
      assert.deepEqual(
        [...t],
        [
          ...[P, P, P, P, P, 10, 40, P, P, P, P, P], // R plane
          ...[P, P, P, P, P, 20, 50, P, P, P, P, P], // G plane
          ...[P, P, P, P, P, 30, 60, P, P, P, P, P], // B plane
        ],
      );
    });

    it('NHWC + BGR + scale + mean/std per output channel', () => {
      const t = hwcToTensor(src, 2, 1, {
        width: 3,
        height: 1,
        left: 1,
        padValue: 0,
        colour: 'BGR',
        scale: 0.5,
        mean: [1, 2, 3],
        std: [2, 4, 8],
        layout: 'NHWC',
      });
      const f = (v: number, k: number): number =>
        Math.fround((v * 0.5 - [1, 2, 3][k]!) / [2, 4, 8][k]!);
      assert.deepEqual(
        [...t],
        [f(0, 0), f(0, 1), f(0, 2), f(30, 0), f(20, 1), f(10, 2), f(60, 0), f(50, 1), f(40, 2)],
      );
    });

    it('matches its definition for every width, alignment, colour order, layout and type', () => {
      // Definition: out[c][top + y][left + x] = f_c(src[y][x][c'])  with c' = c (RGB) or 2 − c
      // (BGR) and f_c(v) = (v·scale − mean[c]) / std[c] in float32 (FP16: its half bits;
      // UINT8: v). Widths 4 and 8 take the word-at-a-time path, the others the byte path.
      let seed = 7;
      const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
      for (const w of [4, 5, 6, 7, 8]) {
        for (const offset of [0, 1]) {
          const h = 3;
          const backing = new Uint8Array(w * h * 3 + offset);
          const img = backing.subarray(offset);
          for (let i = 0; i < img.length; i++) img[i] = rand();
          for (const colour of ['RGB', 'BGR'] as const) {
            for (const layout of ['NCHW', 'NHWC'] as const) {
              for (const datatype of ['FP32', 'FP16', 'UINT8'] as const) {
                for (const norm of [false, true]) {
                  const W = w + 3;
                  const H = h + 2;
                  const mean: [number, number, number] = norm ? [0.5, 0.25, 0.125] : [0, 0, 0];
                  const std: [number, number, number] = norm ? [0.25, 0.5, 2] : [1, 1, 1];
                  const opts = {
                    width: W,
                    height: H,
                    left: 2,
                    top: 1,
                    padValue: 114,
                    colour,
                    scale: 1 / 255,
                    mean,
                    std,
                    layout,
                    datatype,
                  };
                  const t = hwcToTensor(img, w, h, opts);
                  // The same pixels read through a view: every third pixel of every other
                  // row of a larger image, from (1, 1) (as a 3× reduction picks them).
                  const big = Uint8Array.from({ length: (2 * h + 1) * (3 * w + 1) * 3 }, rand);
                  for (let y = 0; y < h; y++) {
                    for (let x = 0; x < w; x++) {
                      const at = ((1 + 2 * y) * (3 * w + 1) + 1 + 3 * x) * 3;
                      big.set(img.subarray((y * w + x) * 3, (y * w + x) * 3 + 3), at);
                    }
                  }
                  const view = {
                    data: big,
                    first: (3 * w + 2) * 3,
                    rowBytes: 2 * (3 * w + 1) * 3,
                    step: 9,
                  };
                  assert.deepEqual(
                    [...hwcToTensor(view, w, h, opts)],
                    [...t],
                    `w=${w} offset=${offset} ${colour} ${layout} ${datatype} norm=${norm}: view`,
                  );
                  const f = (v: number, c: number): number => {
                    if (datatype === 'UINT8') return v;
                    const x = Math.fround((v / 255 - mean[c]!) / std[c]!);
                    return datatype === 'FP32' ? x : floatToHalfBits(x);
                  };
                  for (let c = 0; c < 3; c++) {
                    for (let y = 0; y < H; y++) {
                      for (let x = 0; x < W; x++) {
                        const sx = x - 2;
                        const sy = y - 1;
                        const inside = sx >= 0 && sx < w && sy >= 0 && sy < h;
                        const sc = colour === 'BGR' ? 2 - c : c;
                        const want = f(inside ? img[(sy * w + sx) * 3 + sc]! : 114, c);
                        const at = layout === 'NCHW' ? c * W * H + y * W + x : (y * W + x) * 3 + c;
                        if (t[at] !== want) {
                          assert.fail(
                            `w=${w} offset=${offset} ${colour} ${layout} ${datatype} norm=${norm}: ` +
                              `(${x}, ${y}, ${c}) = ${t[at]}, want ${want}`,
                          );
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    });

    it('FP16 writes the half bits of the float32 value', () => {
      const t = hwcToTensor(src, 2, 1, { scale: 1 / 255, datatype: 'FP16' });
      assert.ok(t instanceof Uint16Array);
      const want = [10, 40, 20, 50, 30, 60].map((v) => floatToHalfBits(Math.fround(v / 255)));
      assert.deepEqual([...t], want);
    });

    it('refuses a source that does not fit, or a byte count that does not match', () => {
      assert.throws(() => hwcToTensor(src, 2, 1, { width: 2, height: 1, left: 1 }), {
        code: 'INVALID_ARGUMENT',
      });
      assert.throws(() => hwcToTensor(src, 3, 1), { code: 'INVALID_ARGUMENT' });
      // A view whose last pixel lies past its memory.
      assert.throws(() => hwcToTensor({ data: src, first: 3, rowBytes: 6, step: 3 }, 2, 1), {
        code: 'INTERNAL',
      });
    });
  });

  describe('decodeImage', () => {
    it('decodes JPEG and PNG to packed RGB HWC', async () => {
      const bus = await decodeImage(fs.readFileSync(fixtureImage('bus.jpg')));
      assert.deepEqual([bus.width, bus.height, bus.channels, bus.format], [810, 1080, 3, 'jpeg']);
      assert.equal(bus.data.length, 810 * 1080 * 3);
      const astro = await decodeImage(fs.readFileSync(fixtureImage('astronaut.png')));
      assert.deepEqual([astro.width, astro.height, astro.format], [512, 512, 'png']);
      assert.equal(astro.data.length, 512 * 512 * 3);
    });

    it('applies EXIF orientation 6 (rotate 90° clockwise): 40×20 stored → 20×40, left half on top', async () => {
      // Stored image: left half red, right half blue.
      const raw = Buffer.alloc(40 * 20 * 3);
      for (let y = 0; y < 20; y++) {
        for (let x = 0; x < 40; x++) raw.set(x < 20 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
      }
      const jpeg = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } })
        .jpeg({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .toBuffer();
      assert.equal((await sharp(jpeg).metadata()).orientation, 6);
      const d = await decodeImage(jpeg);
      assert.deepEqual([d.width, d.height], [20, 40]);
      const px = (x: number, y: number): number[] => [
        ...d.data.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3),
      ];
      const top = px(10, 5);
      const bottom = px(10, 34);
      assert.ok(top[0]! > 200 && top[2]! < 60, `top ${top}`);
      assert.ok(bottom[2]! > 200 && bottom[0]! < 60, `bottom ${bottom}`);
      // prepareInput reports the oriented size and letterboxes the oriented image.
      const p = await prepareInput(jpeg, profile(ULTRALYTICS, 64, 64));
      assert.deepEqual(
        [p.width, p.height, p.letterbox!.newWidth, p.letterbox!.newHeight],
        [20, 40, 32, 64],
      );
    });

    it('raw frames: grey is replicated, RGBA loses alpha, RGB passes through', async () => {
      const grey = await decodeImage({
        data: Uint8Array.from([0, 100, 200, 255]),
        width: 2,
        height: 2,
        channels: 1,
      });
      assert.deepEqual([...grey.data], [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
      const rgba = await decodeImage({
        data: Uint8Array.from([1, 2, 3, 0, 4, 5, 6, 255]),
        width: 2,
        height: 1,
        channels: 4,
      });
      assert.deepEqual([...rgba.data], [1, 2, 3, 4, 5, 6]);
      const rgb = await decodeImage({
        data: Buffer.from([9, 8, 7]),
        width: 1,
        height: 1,
        channels: 3,
      });
      assert.deepEqual([...rgb.data], [9, 8, 7]);
      assert.equal(rgb.format, 'raw');
    });

    it('a raw frame through prepareInput matches the same pixels sent as PNG', async () => {
      const d = await decodeImage(fs.readFileSync(fixtureImage('chelsea.png')));
      const fromRaw = await prepareInput(d, profile(ULTRALYTICS, 320, 320));
      const fromPng = await prepareInput(
        fs.readFileSync(fixtureImage('chelsea.png')),
        profile(ULTRALYTICS, 320, 320),
      );
      assert.deepEqual(fromRaw.tensor, fromPng.tensor);
      const grey = await prepareInput(
        { data: new Uint8Array(8 * 4).fill(51), width: 8, height: 4, channels: 1 },
        profile(ULTRALYTICS, 8, 8),
      );
      // 8×4 in 8×8: rows 2..5 are 51/255 in all three channels.
      assert.equal(grey.tensor[2 * 8], Math.fround(51 / 255));
      assert.equal(grey.tensor[64 + 5 * 8 + 7], Math.fround(51 / 255));
      assert.equal(grey.tensor[128 + 6 * 8], Math.fround(114 / 255));
    });

    it('grey and 16-bit PNGs, and alpha PNGs, come out as 8-bit RGB', async () => {
      const greyPng = await sharp(Buffer.from([0, 128, 255, 64]), {
        raw: { width: 2, height: 2, channels: 1 },
      })
        .toColourspace('b-w')
        .png()
        .toBuffer();
      assert.equal((await sharp(greyPng).metadata()).channels, 1);
      assert.deepEqual(
        [...(await decodeImage(greyPng)).data],
        [0, 0, 0, 128, 128, 128, 255, 255, 255, 64, 64, 64],
      );
      const png16 = await sharp(Buffer.from([10, 20, 30, 250, 251, 252]), {
        raw: { width: 2, height: 1, channels: 3 },
      })
        .toColourspace('rgb16')
        .png()
        .toBuffer();
      assert.equal((await sharp(png16).metadata()).depth, 'ushort');
      assert.deepEqual([...(await decodeImage(png16)).data], [10, 20, 30, 250, 251, 252]);
      const alpha = await sharp(Buffer.from([10, 20, 30, 0]), {
        raw: { width: 1, height: 1, channels: 4 },
      })
        .png()
        .toBuffer();
      assert.deepEqual([...(await decodeImage(alpha)).data], [10, 20, 30]);
    });

    it('animated GIF: the first frame', async () => {
      // Two 4×4 pages stacked vertically: white, then black.
      const frames = Buffer.concat([Buffer.alloc(48, 255), Buffer.alloc(48, 0)]);
      const gif = await sharp(frames, { raw: { width: 4, height: 8, channels: 3, pageHeight: 4 } })
        .gif()
        .toBuffer();
      assert.equal((await sharp(gif).metadata()).pages, 2);
      const d = await decodeImage(gif);
      assert.deepEqual([d.width, d.height], [4, 4]);
      assert.ok(d.data.every((v) => v === 255));
    });

    it('data URLs and bare base64 decode to the same pixels as the bytes', async () => {
      const png = await flatPng(3, 2, [11, 22, 33]);
      const want = await decodeImage(png);
      const b64 = png.toString('base64');
      for (const text of [
        `data:image/png;base64,${b64}`,
        b64,
        `  ${b64.slice(0, 20)}\n${b64.slice(20)}\n`,
      ]) {
        const d = await decodeImage(text);
        assert.deepEqual([d.width, d.height], [3, 2]);
        assert.deepEqual(d.data, want.data);
      }
    });

    it('encodeImage round-trips through PNG exactly', async () => {
      const d = await decodeImage(fs.readFileSync(fixtureImage('chelsea.png')));
      const again = await decodeImage(await encodeImage(d, 'png'));
      assert.deepEqual(again.data, d.data);
      const jpeg = await encodeImage(d, 'jpeg');
      assert.equal((await sharp(jpeg).metadata()).format, 'jpeg');
    });

    it('letterboxImage draws the model input: pad 114 around the resized image', async () => {
      const d = await decodeImage(await flatPng(20, 10, [0, 100, 200]));
      const g = computeLetterbox(20, 10, 16, 16, true);
      const lb = await letterboxImage(d, g);
      assert.deepEqual([lb.width, lb.height], [16, 16]);
      // 20×10 → 16×8, top 4.
      assert.deepEqual([...lb.data.subarray(0, 3)], [114, 114, 114]);
      assert.deepEqual([...lb.data.subarray(4 * 16 * 3, 4 * 16 * 3 + 3)], [0, 100, 200]);
      assert.deepEqual([...lb.data.subarray(12 * 16 * 3, 12 * 16 * 3 + 3)], [114, 114, 114]);
    });
  });

  describe('bad input', () => {
    const accepted = /JPEG, PNG, WebP/;

    it('empty Buffer and empty string → INVALID_IMAGE', async () => {
      await rejectsWith(decodeImage(Buffer.alloc(0)), 'INVALID_IMAGE', /empty Buffer/);
      await rejectsWith(decodeImage(new Uint8Array(0)), 'INVALID_IMAGE', /empty/);
      await rejectsWith(decodeImage(''), 'INVALID_IMAGE', /empty string/);
    });

    it('a text file → INVALID_IMAGE saying what is accepted', async () => {
      const text = Buffer.from('name,score\nperson,0.9\n', 'utf8');
      await rejectsWith(decodeImage(text), 'INVALID_IMAGE', accepted);
      await rejectsWith(prepareInput(text, profile(ULTRALYTICS, 64, 64)), 'INVALID_IMAGE');
    });

    it('a truncated JPEG (first 60 % of bus.jpg) is an error, not a grey half image', async () => {
      const bus = fs.readFileSync(fixtureImage('bus.jpg'));
      const cut = bus.subarray(0, Math.floor(bus.length * 0.6));
      await rejectsWith(decodeImage(cut), 'INVALID_IMAGE', /JPEG/);
      await rejectsWith(prepareInput(cut, profile(ULTRALYTICS, 640, 640)), 'INVALID_IMAGE');
      await rejectsWith(prepareInput(cut, profile(IMAGENET, 224, 224)), 'INVALID_IMAGE');
    });

    it('a truncated PNG is an error', async () => {
      const png = fs.readFileSync(fixtureImage('astronaut.png'));
      await rejectsWith(
        decodeImage(png.subarray(0, Math.floor(png.length * 0.6))),
        'INVALID_IMAGE',
      );
    });

    it('a header declaring 30000×30000 → IMAGE_TOO_LARGE before any pixel is decoded', async () => {
      const bomb = withPngSize(await flatPng(8, 8, [0, 0, 0]), 30000, 30000);
      const header = await sharp(bomb, { limitInputPixels: false }).metadata();
      assert.deepEqual([header.width, header.height], [30000, 30000]);
      const rss = process.memoryUsage().rss;
      const t = performance.now();
      const err = await rejectsWith(decodeImage(bomb), 'IMAGE_TOO_LARGE', /30000×30000/);
      assert.match(err.message, /50,000,000/);
      await rejectsWith(prepareInput(bomb, profile(ULTRALYTICS, 640, 640)), 'IMAGE_TOO_LARGE');
      // Decoding 900 MP would take seconds and 2.7 GB; the header check takes neither.
      assert.ok(performance.now() - t < 1000);
      assert.ok(process.memoryUsage().rss - rss < 200e6);
    });

    it('maxPixels applies to encoded images and raw frames alike', async () => {
      const png = await flatPng(100, 100, [0, 0, 0]);
      await rejectsWith(decodeImage(png, { maxPixels: 9999 }), 'IMAGE_TOO_LARGE', /100×100.*9,999/);
      assert.equal((await decodeImage(png, { maxPixels: 10000 })).width, 100);
      const frame = { data: new Uint8Array(300), width: 10, height: 10, channels: 3 as const };
      await rejectsWith(
        prepareInput(frame, profile(ULTRALYTICS, 8, 8), { maxPixels: 50 }),
        'IMAGE_TOO_LARGE',
      );
      await rejectsWith(decodeImage(png, { maxPixels: -1 }), 'INVALID_OPTION');
    });

    it('an image with width 0 in its header → INVALID_IMAGE', async () => {
      const zero = withPngSize(await flatPng(8, 8, [0, 0, 0]), 0, 8);
      await rejectsWith(decodeImage(zero), 'INVALID_IMAGE');
    });

    it('raw frames with the wrong byte count, channels or size → INVALID_IMAGE', async () => {
      await rejectsWith(
        decodeImage({ data: new Uint8Array(11), width: 2, height: 2, channels: 3 }),
        'INVALID_IMAGE',
        /needs exactly 12 bytes but data holds 11/,
      );
      await rejectsWith(
        decodeImage({ data: new Uint8Array(8), width: 2, height: 2, channels: 2 as 3 }),
        'INVALID_IMAGE',
        /channels = 2/,
      );
      await rejectsWith(
        decodeImage({ data: new Uint8Array(0), width: 0, height: 2, channels: 3 }),
        'INVALID_IMAGE',
        /positive whole numbers/,
      );
      await rejectsWith(
        decodeImage({ data: [1, 2, 3] as unknown as Uint8Array, width: 1, height: 1, channels: 3 }),
        'INVALID_IMAGE',
        /Raw frame data is an array/,
      );
    });

    const wrongTypes: [string, unknown, RegExp][] = [
      ['a number', 42, /Received a number/],
      ['null', null, /Received null/],
      ['undefined', undefined, /Received undefined/],
      ['an array', [1, 2, 3], /Received an array of 3 items/],
      [
        'an object without raw-frame fields',
        { image: 'x', size: 3 },
        /object with keys image, size/,
      ],
      ['a file path', '/home/pi/photo.jpg', /file path/],
      ['a Windows path', 'C:\\images\\cat.png', /file path/],
      ['text that is not base64', 'hello there!', /neither a data URL nor base64/],
      ['a data URL without base64', 'data:image/png,abc', /not base64-encoded/],
    ];
    for (const [name, value, text] of wrongTypes) {
      it(`${name} → INVALID_IMAGE`, async () => {
        await rejectsWith(decodeImage(value as never), 'INVALID_IMAGE', text);
        await rejectsWith(
          prepareInput(value as never, profile(ULTRALYTICS, 64, 64)),
          'INVALID_IMAGE',
        );
      });
    }

    it('base64 of something that is not an image → INVALID_IMAGE', async () => {
      await rejectsWith(
        decodeImage(Buffer.from('just some words').toString('base64')),
        'INVALID_IMAGE',
        accepted,
      );
    });

    it('a Buffer serialised to JSON ({type: "Buffer", data: [...]}) is still accepted', async () => {
      const png = await flatPng(2, 2, [5, 6, 7]);
      const d = await decodeImage(JSON.parse(JSON.stringify(png)));
      assert.deepEqual([...d.data.subarray(0, 3)], [5, 6, 7]);
    });
  });
});
