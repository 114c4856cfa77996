import { strict as assert } from 'node:assert';
import sharp from 'sharp';
import { computeLetterbox } from '../../src/vision/geometry';
import { anchorCount } from '../../src/vision/profile';
import { decodeSegments, decodeSegmentsSync, traceOuterContours } from '../../src/vision/segment';
import type { LetterboxGeometry, Mask } from '../../src/vision/types';
import { identity, V8Head, v8Profile } from './build';

/**
 * One prototype [1, 1, 160, 160] that is +10 inside proto columns c0..c1-1 and rows r0..r1-1
 * and −10 elsewhere. With coefficient 1, sigmoid gives ≈1 inside and ≈0 outside, so the mask
 * is the rectangle scaled by 4 into the 640 input (proto stride 4).
 */
function rectangleProto(c0: number, c1: number, r0: number, r1: number) {
  const data = new Float32Array(160 * 160).fill(-10);
  for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) data[r * 160 + c] = 10;
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
 * The mask the rectangle prototype must give, worked out independently: sigmoid(±10) is 0/1
 * to 5e-5, the prototype is a product of two 1-D steps, so its bilinear sample at an original
 * pixel is fx(c)·fy(r), each factor the align_corners=False interpolation of the step at
 * input coordinate (p + 0.5)·scale + pad. Inside the box the mask is fx·fy > 0.5: rectangle
 * corners, where both factors are fractional, fall out.
 */
function expectedMask(
  g: LetterboxGeometry,
  original: { width: number; height: number },
  rect: [number, number, number, number], // proto c0, c1, r0, r1
  box: [number, number, number, number], // input pixels
): Uint8Array {
  const step = (p: number, lo: number, hi: number, scale: number, pad: number): number => {
    const src = Math.max(0, ((p + 0.5) * scale + pad) / 4 - 0.5);
    const i = Math.floor(src);
    const t = src - i;
    const on = (k: number) => (k >= lo && k < hi ? 1 : 0);
    return (1 - t) * on(i) + t * on(Math.min(i + 1, 159));
  };
  const bx1 = (box[0] - g.padLeft) / g.scale;
  const bx2 = (box[2] - g.padLeft) / g.scale;
  const by1 = (box[1] - g.padTop) / g.scale;
  const by2 = (box[3] - g.padTop) / g.scale;
  // The crop in proto space (box/4) narrows the step where the box cuts the rectangle.
  const c1 = Math.min(rect[1], Math.ceil(box[2] / 4));
  const r1 = Math.min(rect[3], Math.ceil(box[3] / 4));
  const out = new Uint8Array(original.width * original.height);
  for (let r = 0; r < original.height; r++) {
    if (!(r >= by1 && r < by2)) continue;
    const fy = step(r, rect[2], r1, g.scale, g.padTop);
    for (let c = 0; c < original.width; c++) {
      if (!(c >= bx1 && c < bx2)) continue;
      if (step(c, rect[0], c1, g.scale, g.padLeft) * fy > 0.5) out[r * original.width + c] = 1;
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
    // [140, 220, 340, 420] contains it, so the mask is exactly that 160×160 square.
    const mask = segment([140, 220, 340, 420], identity(640), { width: 640, height: 640 });
    // The four corner pixels sample 0.625² ≈ 0.39 and drop out.
    assert.equal(mask.area, 160 * 160 - 4);
    assert.equal(mask.polygons.length, 1);
    // The contour runs through boundary pixel centres (OpenCV convention): 159 × 159.
    const area = polygonArea(mask.polygon);
    assert.ok(Math.abs(area - 25600) / 25600 < 0.02, `polygon area ${area}`);
    // Every vertex lies on the rectangle's border, within a pixel of a corner or an edge.
    for (const [x, y] of mask.polygon) {
      assert.ok(x >= 160 && x <= 319 && y >= 240 && y <= 399, `${x},${y} outside`);
      assert.ok(x <= 161 || x >= 318 || y <= 241 || y >= 398, `${x},${y} not on the border`);
    }
    const bits = decodeRle(mask.rle!);
    assert.deepEqual(mask.rle!.size, [640, 640]);
    assert.deepEqual(extent(bits, 640), { x1: 160, y1: 240, x2: 319, y2: 399, n: 25596 });
    const expected = expectedMask(
      identity(640),
      { width: 640, height: 640 },
      [40, 80, 60, 100],
      [140, 220, 340, 420],
    );
    assert.deepEqual(bits, expected);
  });

  it('keeps nothing outside the box, even where the prototype is on', () => {
    // Box right edge at input x 300 cuts the rectangle (which runs to 320).
    const mask = segment([140, 220, 300, 420], identity(640), { width: 640, height: 640 });
    const bits = decodeRle(mask.rle!);
    // Column 299 samples proto 74.375 between column 74 (inside the crop) and 75 (cropped to
    // 0): 0.625, enough alone, not at a corner — the four corners drop out as before.
    assert.deepEqual(extent(bits, 640), { x1: 160, y1: 240, x2: 299, y2: 399, n: 140 * 160 - 4 });
    assert.deepEqual(
      bits,
      expectedMask(
        identity(640),
        { width: 640, height: 640 },
        [40, 80, 60, 100],
        [140, 220, 300, 420],
      ),
    );
    assert.equal(mask.area, 140 * 160 - 4);
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
    assert.deepEqual([e.x1, e.y1, e.x2, e.y2], [320, 200, 639, 519]);
    assert.ok(e.n > 320 * 320 - 40 && e.n < 320 * 320, 'only corner pixels fall out');
    assert.equal(mask.area, e.n);
    const area = polygonArea(mask.polygon);
    assert.ok(Math.abs(area - 102400) / 102400 < 0.02, `polygon area ${area}`);
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

  it('an instance whose mask is empty gets an empty polygon, not an error', () => {
    const head = oneInstance([400, 400, 500, 500]); // the prototype is −10 there
    const { detections } = decodeSegmentsSync(
      head,
      rectangleProto(40, 80, 60, 100),
      profile,
      identity(640),
      { width: 640, height: 640 },
      { rle: true },
    );
    const m = detections[0]!.mask!;
    assert.deepEqual([m.polygon, m.polygons, m.area], [[], [], 0]);
    assert.deepEqual(m.rle!.counts, [640 * 640]);
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
