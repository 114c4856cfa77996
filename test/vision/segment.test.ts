import { strict as assert } from 'node:assert';
import sharp from 'sharp';
import { computeLetterbox } from '../../src/vision/geometry';
import { anchorCount } from '../../src/vision/profile';
import { decodeSegments, decodeSegmentsSync, traceOuterContours } from '../../src/vision/segment';
import type { LetterboxGeometry, Mask } from '../../src/vision/types';
import { identity, V8Head, v8Profile } from './build';

/**
 * One prototype [1, 1, 160, 160] that is IN inside proto columns c0..c1-1 and rows r0..r1-1
 * and OUT elsewhere. The logits are moderate and asymmetric (+2 / −1, sigmoid 0.88 / 0.27),
 * so where the mask is thresholded matters: thresholding the upsampled logit at 0 (the
 * reference) keeps a pixel whose rectangle weight P is above 1/3, while upsampling the
 * sigmoid first would need P > 0.377, and thresholding raw logits at 0.5 P > 1/2.
 */
const IN = 2;
const OUT = -1;
function rectangleProto(c0: number, c1: number, r0: number, r1: number) {
  const data = new Float32Array(160 * 160).fill(OUT);
  for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) data[r * 160 + c] = IN;
  return { data, shape: [1, 1, 160, 160] };
}

/** Shoelace area of a closed polygon. */
function polygonArea(pts: [number, number][]): number {
  let s = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x1, y1] = pts[i]!;
    const [x2, y2] = pts[(i + 1) % pts.length]!;
    s += x1 * y2 - x2 * y1;
  }
  return Math.abs(s) / 2;
}

/** COCO uncompressed RLE → row-major mask, written from the COCO format description. */
function decodeRle(rle: { size: [number, number]; counts: number[] }): Uint8Array {
  const [h, w] = rle.size;
  const colMajor = new Uint8Array(h * w);
  let pos = 0;
  rle.counts.forEach((n, i) => {
    if (i % 2 === 1) colMajor.fill(1, pos, pos + n);
    pos += n;
  });
  assert.equal(pos, h * w, 'the runs cover the whole image');
  const out = new Uint8Array(h * w);
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) out[y * w + x] = colMajor[x * h + y]!;
  return out;
}

/**
 * The mask the rectangle prototype must give, worked out independently from Ultralytics
 * 8.4's retina-mask path for these geometries (the letterbox pads fall on whole prototype
 * pixels, so its extra ×f upsample is ×1): the logits are upsampled bilinearly
 * (align_corners=False) from the pad-free prototype span to the original image, cropped to
 * the box at full resolution and compared with logit(threshold). The prototype is
 * OUT + (IN − OUT)·step_x·step_y, so its bilinear sample is OUT + (IN − OUT)·fx(c)·fy(r),
 * each factor the 1-D interpolation of a step.
 */
function expectedMask(
  g: LetterboxGeometry,
  original: { width: number; height: number },
  rect: [number, number, number, number], // proto c0, c1, r0, r1
  box: [number, number, number, number], // input pixels
  threshold = 0.5,
): Uint8Array {
  // The content span in prototype pixels: the unpadded input size / 4, offset by pad / 4.
  const span = (size: number, newSize: number, pad: number) => ({
    start: pad / 4,
    n: newSize / 4,
    scale: newSize / 4 / size,
  });
  const sx = span(original.width, g.newWidth, g.padLeft);
  const sy = span(original.height, g.newHeight, g.padTop);
  const step = (p: number, lo: number, hi: number, s: typeof sx): number => {
    const src = Math.max(0, (p + 0.5) * s.scale - 0.5);
    const i = Math.floor(src);
    const t = src - i;
    const on = (k: number) => (k + s.start >= lo && k + s.start < hi ? 1 : 0);
    return (1 - t) * on(i) + t * on(Math.min(i + 1, s.n - 1));
  };
  const gx = g.newWidth / original.width;
  const gy = g.newHeight / original.height;
  const bx1 = (box[0] - g.padLeft) / gx;
  const bx2 = (box[2] - g.padLeft) / gx;
  const by1 = (box[1] - g.padTop) / gy;
  const by2 = (box[3] - g.padTop) / gy;
  const cut = Math.log(threshold / (1 - threshold));
  const out = new Uint8Array(original.width * original.height);
  for (let r = 0; r < original.height; r++) {
    if (!(r >= by1 && r < by2)) continue;
    const fy = step(r, rect[2], rect[3], sy);
    for (let c = 0; c < original.width; c++) {
      if (!(c >= bx1 && c < bx2)) continue;
      const v = OUT + (IN - OUT) * step(c, rect[0], rect[1], sx) * fy;
      if (v > cut) out[r * original.width + c] = 1;
    }
  }
  return out;
}

/** Bounding rows/columns of the set pixels and their count. */
function extent(mask: Uint8Array, w: number) {
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -1;
  let y2 = -1;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const x = i % w;
    const y = (i - x) / w;
    x1 = Math.min(x1, x);
    y1 = Math.min(y1, y);
    x2 = Math.max(x2, x);
    y2 = Math.max(y2, y);
    n++;
  }
  return { x1, y1, x2, y2, n };
}

const N = anchorCount(640, 640);
const profile = v8Profile(640, 80, 1);

function oneInstance(box: [number, number, number, number]) {
  return new V8Head(N, 80, 1).set(100, box, 0, 0.9, [1]);
}

function segment(
  box: [number, number, number, number],
  g: LetterboxGeometry,
  original: { width: number; height: number },
): Mask {
  const head = oneInstance(box);
  const { detections } = decodeSegmentsSync(
    head,
    rectangleProto(40, 80, 60, 100),
    profile,
    g,
    original,
    {
      rle: true,
    },
  );
  assert.equal(detections.length, 1);
  return detections[0]!.mask!;
}

describe('decodeSegments', () => {
  it('reproduces a prototype rectangle: area, polygon, RLE (square image)', () => {
    // Proto rectangle cols 40..79, rows 60..99 → input [160, 320) × [240, 400); the box
    // [140, 220, 340, 420] contains it. Pixel 159 samples proto 159.5/4 − 0.5 = 39.375:
    // P = 0.375 of the rectangle, logit −1 + 3·0.375 = 0.125 > 0, so the mask reaches one
    // pixel outside the rectangle on each side (160 at 320: 79.625, P = 0.375 too); 158
    // (P = 0.125, logit −0.625) does not. At the corners P is a product: (159, 239) has
    // 0.375² → logit −0.58, out; (159, 242) has 0.375 · 1, in.
    const mask = segment([140, 220, 340, 420], identity(640), { width: 640, height: 640 });
    const bits = decodeRle(mask.rle!);
    assert.deepEqual(mask.rle!.size, [640, 640]);
    const at = (x: number, y: number) => bits[y * 640 + x];
    assert.deepEqual([at(159, 300), at(320, 300), at(158, 300), at(321, 300)], [1, 1, 0, 0]);
    assert.deepEqual([at(159, 239), at(159, 242), at(240, 239), at(240, 400)], [0, 1, 1, 1]);
    const e = extent(bits, 640);
    assert.deepEqual([e.x1, e.y1, e.x2, e.y2], [159, 239, 320, 400]);
    const expected = expectedMask(
      identity(640),
      { width: 640, height: 640 },
      [40, 80, 60, 100],
      [140, 220, 340, 420],
    );
    assert.deepEqual(bits, expected);
    assert.equal(mask.area, e.n);
    assert.equal(mask.polygons.length, 1);
    const area = polygonArea(mask.polygon);
    assert.ok(Math.abs(area - 161 * 161) / (161 * 161) < 0.02, `polygon area ${area}`);
    for (const [x, y] of mask.polygon) {
      assert.ok(x >= 159 && x <= 320 && y >= 239 && y <= 400, `${x},${y} outside`);
    }
  });

  it('a non-default maskThreshold moves the edge by the logit of the threshold', () => {
    // threshold 0.75 → logit ln 3 = 1.0986: −1 + 3P > 1.0986 needs P > 0.6995. Pixel 160
    // samples 39.625 (P = 0.625): out; 161 (39.875, P = 0.875): in; with the default (0.5)
    // 159 was already in. Comparing raw logits with the threshold itself (3P − 1 > 0.75,
    // P > 0.583) would let 160 in; the sigmoid-first rule is caught by the default case above.
    const decode = (maskThreshold: number) =>
      decodeSegmentsSync(
        oneInstance([140, 220, 340, 420]),
        rectangleProto(40, 80, 60, 100),
        profile,
        identity(640),
        { width: 640, height: 640 },
        { rle: true, maskThreshold },
      ).detections[0]!.mask!;
    const bits = decodeRle(decode(0.75).rle!);
    const row = (x: number) => bits[300 * 640 + x];
    assert.deepEqual([row(159), row(160), row(161)], [0, 0, 1]);
    assert.deepEqual(
      bits,
      expectedMask(
        identity(640),
        { width: 640, height: 640 },
        [40, 80, 60, 100],
        [140, 220, 340, 420],
        0.75,
      ),
    );
    // 0.3 → logit −0.847: P > 0.051, so 158 (P = 0.125) is in; raw logits against 0.3 would
    // need P > 0.433 and drop 159 (P = 0.375). 0.6 → logit 0.405: P > 0.468, 160 in, 159 out.
    const low = decodeRle(decode(0.3).rle!);
    assert.deepEqual([low[300 * 640 + 158], low[300 * 640 + 159]], [1, 1]);
    const mid = decodeRle(decode(0.6).rle!);
    assert.deepEqual([mid[300 * 640 + 159], mid[300 * 640 + 160]], [0, 1]);
  });

  it('keeps nothing outside the box, even where the prototype is on', () => {
    // Box right edge at input x 300 cuts the rectangle (which runs to 320): the crop is at
    // full resolution, so column 299 (inside the rectangle, P = 1) is the last one set.
    const mask = segment([140, 220, 300, 420], identity(640), { width: 640, height: 640 });
    const bits = decodeRle(mask.rle!);
    const e = extent(bits, 640);
    assert.deepEqual([e.x1, e.y1, e.x2, e.y2], [159, 239, 299, 400]);
    assert.equal(bits[300 * 640 + 300], 0);
    assert.deepEqual(
      bits,
      expectedMask(
        identity(640),
        { width: 640, height: 640 },
        [40, 80, 60, 100],
        [140, 220, 300, 420],
      ),
    );
    assert.equal(mask.area, e.n);
  });

  it('accounts for the letterbox pad on a non-square image', () => {
    // 1280×720 → scale 0.5, 640×360 placed at padTop 140. The input rectangle
    // [160, 320) × [240, 400) is original x [320, 640), y [(240−140)/0.5, (400−140)/0.5) = [200, 520).
    const g = computeLetterbox(1280, 720, 640, 640);
    assert.deepEqual([g.scale, g.padLeft, g.padTop], [0.5, 0, 140]);
    const mask = segment([140, 220, 340, 420], g, { width: 1280, height: 720 });
    assert.deepEqual(mask.rle!.size, [720, 1280]);
    const bits = decodeRle(mask.rle!);
    const expected = expectedMask(
      g,
      { width: 1280, height: 720 },
      [40, 80, 60, 100],
      [140, 220, 340, 420],
    );
    assert.deepEqual(bits, expected);
    const e = extent(expected, 1280);
    // One pixel beyond the rectangle on each side is in (P = 0.375 > 1/3, as above).
    assert.deepEqual([e.x1, e.y1, e.x2, e.y2], [319, 199, 640, 520]);
    assert.equal(mask.area, e.n);
    const area = polygonArea(mask.polygon);
    assert.ok(Math.abs(area - 321 * 321) / (321 * 321) < 0.03, `polygon area ${area}`);
  });

  it('returns a full-size PNG equal to the mask, and the detection fields', async () => {
    const g = computeLetterbox(1280, 720, 640, 640);
    const head = oneInstance([140, 220, 340, 420]);
    const dets = await decodeSegments(
      head,
      rectangleProto(40, 80, 60, 100),
      profile,
      g,
      { width: 1280, height: 720 },
      {
        png: true,
        rle: true,
      },
    );
    assert.equal(dets.length, 1);
    const d = dets[0]!;
    assert.equal(d.label, 'person');
    // Box: x (140−0)/0.5 = 280 .. 680, y (220−140)/0.5 = 160 .. (420−140)/0.5 = 560.
    assert.deepEqual(d.box, { x1: 280, y1: 160, x2: 680, y2: 560 });
    const meta = await sharp(d.mask!.png!).metadata();
    assert.deepEqual([meta.format, meta.channels], ['png', 1]);
    // sharp widens grey to sRGB on raw output unless told to keep the one band.
    const { data, info } = await sharp(d.mask!.png!)
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [1280, 720, 1]);
    const fromPng = Uint8Array.from(data, (v) => (v === 255 ? 1 : 0));
    assert.ok(data.every((v) => v === 0 || v === 255));
    assert.deepEqual(fromPng, decodeRle(d.mask!.rle!));
  });

  it('an instance whose mask is empty is dropped, as Ultralytics drops it', () => {
    const head = oneInstance([400, 400, 500, 500]); // the prototype is OUT there
    const { detections, masks } = decodeSegmentsSync(
      head,
      rectangleProto(40, 80, 60, 100),
      profile,
      identity(640),
      { width: 640, height: 640 },
      { rle: true },
    );
    assert.deepEqual([detections.length, masks.length], [0, 0]);
  });

  it('maskThreshold must be within 0..1', () => {
    assert.throws(
      () =>
        decodeSegmentsSync(
          oneInstance([0, 0, 10, 10]),
          rectangleProto(0, 1, 0, 1),
          profile,
          identity(640),
          { width: 640, height: 640 },
          { maskThreshold: 2 },
        ),
      (e: { code?: string }) => e.code === 'INVALID_OPTION',
    );
  });

  it('prototypes of the wrong shape are UNSUPPORTED_MODEL', () => {
    assert.throws(
      () =>
        decodeSegmentsSync(
          oneInstance([0, 0, 10, 10]),
          { data: new Float32Array(2 * 160 * 160), shape: [1, 2, 160, 160] },
          profile,
          identity(640),
          { width: 640, height: 640 },
        ),
      (e: { code?: string; message?: string }) =>
        e.code === 'UNSUPPORTED_MODEL' && /must be \[1, 1, H\/4, W\/4\]/.test(e.message ?? ''),
    );
  });
});

describe('traceOuterContours', () => {
  function grid(rows: string[]): { mask: Uint8Array; w: number; h: number } {
    const h = rows.length;
    const w = rows[0]!.length;
    const mask = new Uint8Array(w * h);
    rows.forEach((r, y) => [...r].forEach((ch, x) => (mask[y * w + x] = ch === '#' ? 1 : 0)));
    return { mask, w, h };
  }

  it('a filled rectangle compresses to its four corners', () => {
    const { mask, w, h } = grid(['.......', '..####.', '..####.', '..####.', '.......']);
    const c = traceOuterContours(mask, w, h);
    assert.equal(c.length, 1);
    assert.deepEqual(c[0]!.points, [
      [2, 1],
      [5, 1],
      [5, 3],
      [2, 3],
    ]);
    assert.equal(c[0]!.area, 12);
  });

  it('a single pixel is a one-point contour; diagonal pixels are one component', () => {
    const one = grid(['...', '.#.', '...']);
    assert.deepEqual(traceOuterContours(one.mask, one.w, one.h)[0]!.points, [[1, 1]]);
    const diag = grid(['#..', '.#.', '..#']);
    const c = traceOuterContours(diag.mask, diag.w, diag.h);
    assert.equal(c.length, 1);
    assert.equal(c[0]!.area, 3);
  });

  it('a ring is one outer contour (the hole and anything inside it are not)', () => {
    const { mask, w, h } = grid(['#####', '#...#', '#.#.#', '#...#', '#####']);
    const c = traceOuterContours(mask, w, h);
    assert.equal(c.length, 1);
    assert.deepEqual(c[0]!.points, [
      [0, 0],
      [4, 0],
      [4, 4],
      [0, 4],
    ]);
    assert.equal(c[0]!.area, 16, "the ring's own pixels: 25 minus the 3×3 hole");
  });

  it('separate blobs give one contour each, largest first', () => {
    const { mask, w, h } = grid(['#.....', '...###', '...###', '#.....']);
    const c = traceOuterContours(mask, w, h);
    assert.deepEqual(
      c.map((x) => x.area),
      [6, 1, 1],
    );
    assert.deepEqual(c[0]!.points, [
      [3, 1],
      [5, 1],
      [5, 2],
      [3, 2],
    ]);
  });

  it('a one-pixel-wide L: the contour passes through every one of its pixels', () => {
    const { mask, w, h } = grid(['#..', '#..', '###']);
    const c = traceOuterContours(mask, w, h);
    assert.equal(c.length, 1);
    // Walk the compressed polygon's segments (steps of one pixel, straight or diagonal).
    const pts = c[0]!.points;
    const seen = new Set<string>();
    pts.forEach(([x1, y1], i) => {
      const [x2, y2] = pts[(i + 1) % pts.length]!;
      const n = Math.max(Math.abs(x2 - x1), Math.abs(y2 - y1));
      for (let k = 0; k <= n; k++) {
        seen.add(`${x1 + (n && ((x2 - x1) * k) / n)},${y1 + (n && ((y2 - y1) * k) / n)}`);
      }
    });
    assert.deepEqual([...seen].sort(), ['0,0', '0,1', '0,2', '1,2', '2,2']);
  });
});
