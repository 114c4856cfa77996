import { strict as assert } from 'node:assert';
import { float32ToHalf, halfToFloat32 } from '../../src/protocol/tensor';
import { decodeDetections, MAX_NMS } from '../../src/vision/detect';
import { computeLetterbox } from '../../src/vision/geometry';
import { boxIou, nms } from '../../src/vision/nms';
import { anchorCount } from '../../src/vision/profile';
import type { Detection } from '../../src/vision/types';
import { identity, RowHead, V8Head, v5Profile, v8Profile, yoloxProfile } from './build';

const N640 = anchorCount(640, 640); // 8400

function boxesOf(dets: Detection[]): number[][] {
  return dets.map((d) => [d.box.x1, d.box.y1, d.box.x2, d.box.y2]);
}

function assertClose(actual: number[], expected: number[], tol = 1e-3): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]!) <= tol, `[${actual}] vs [${expected}] at ${i}`),
  );
}

function assertCode(fn: () => unknown, code: string, text?: RegExp): void {
  assert.throws(fn, (err: { code?: string; message?: string }) => {
    assert.equal(err.code, code);
    if (text) assert.match(err.message ?? '', text);
    return true;
  });
}

describe('nms', () => {
  it('keeps by descending score and drops a box overlapping a kept one by more than the threshold', () => {
    // IoU(b0, b1) = 90·100 / (2·10000 − 9000) = 0.818; b2 is apart.
    const boxes = Float32Array.from([0, 0, 100, 100, 10, 0, 110, 100, 300, 300, 400, 400]);
    const scores = Float32Array.from([0.8, 0.9, 0.7]);
    assert.deepEqual([...nms(boxes, scores, 0.5)], [1, 2]);
    assert.deepEqual([...nms(boxes, scores, 0.9)], [1, 0, 2]);
  });

  it('keeps a box whose IoU equals the threshold exactly (the rule is strictly greater)', () => {
    // [0,0,100,100] vs [0,0,100,50]: intersection 5000, union 10000 → IoU exactly 0.5.
    const boxes = Float32Array.from([0, 0, 100, 100, 0, 0, 100, 50]);
    const scores = Float32Array.from([0.9, 0.8]);
    assert.equal(boxIou([0, 0, 100, 100], [0, 0, 100, 50]), 0.5);
    assert.deepEqual([...nms(boxes, scores, 0.5)], [0, 1]);
    assert.deepEqual([...nms(boxes, scores, 0.4999)], [0]);
  });

  it('separates classes unless agnostic, and stops at the limit', () => {
    const boxes = Float32Array.from([0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10]);
    const scores = Float32Array.from([0.5, 0.9, 0.7]);
    const classes = Int32Array.from([0, 1, 0]);
    assert.deepEqual([...nms(boxes, scores, 0.45, classes)], [1, 2]);
    assert.deepEqual([...nms(boxes, scores, 0.45, classes, true)], [1]);
    assert.deepEqual([...nms(boxes, scores, 0.45, classes, false, 1)], [1]);
  });

  it('orders equal scores by index', () => {
    const boxes = Float32Array.from([0, 0, 1, 1, 5, 5, 6, 6, 9, 9, 10, 10]);
    const scores = Float32Array.from([0.5, 0.5, 0.5]);
    assert.deepEqual([...nms(boxes, scores, 0.45)], [0, 1, 2]);
  });
});

describe('decodeDetections', () => {
  describe('YOLOv8 layout [1, 4+nc, N]', () => {
    const profile = v8Profile(640, 80);
    const g = identity(640);
    const orig = { width: 640, height: 640 };

    it('suppresses an overlapping box of the same class and keeps one of another class', () => {
      const head = new V8Head(N640, 80)
        .set(10, [100, 100, 200, 200], 0, 0.9)
        .set(20, [110, 100, 210, 200], 0, 0.8) // IoU 0.818 with anchor 10, same class
        .set(30, [110, 100, 210, 200], 2, 0.7); // same box, class car
      const dets = decodeDetections(head, profile, g, orig);
      assert.deepEqual(
        dets.map((d) => [d.label, d.classId]),
        [
          ['person', 0],
          ['car', 2],
        ],
      );
      assertClose(boxesOf(dets).flat(), [100, 100, 200, 200, 110, 100, 210, 200]);
      assert.ok(Math.abs(dets[0]!.score - 0.9) < 1e-6);

      const agnostic = decodeDetections(head, profile, g, orig, { agnostic: true });
      assert.deepEqual(
        agnostic.map((d) => d.label),
        ['person'],
      );
    });

    it('drops a score exactly at the confidence threshold (strict >)', () => {
      const head = new V8Head(N640, 80)
        .set(1, [0, 0, 50, 50], 5, 0.25)
        .set(2, [100, 100, 150, 150], 5, Math.fround(0.25) + 2 ** -25);
      const dets = decodeDetections(head, profile, g, orig, { confidence: 0.25 });
      assert.equal(dets.length, 1);
      assertClose(boxesOf(dets)[0]!, [100, 100, 150, 150]);
    });

    it('takes the best class of an anchor as its class and score', () => {
      const head = new V8Head(N640, 80)
        .set(7, [10, 10, 20, 20], 3, 0.4)
        .set(7, [10, 10, 20, 20], 4, 0.6);
      const dets = decodeDetections(head, profile, g, orig);
      assert.deepEqual(
        dets.map((d) => [d.classId, d.label]),
        [[4, 'airplane']],
      );
    });

    it('stops at maxDetections, highest scores first', () => {
      const head = new V8Head(N640, 80);
      for (let i = 0; i < 10; i++) head.set(i, [i * 60, 0, i * 60 + 50, 50], 0, 0.3 + i * 0.05);
      const dets = decodeDetections(head, profile, g, orig, { maxDetections: 3 });
      assertClose(
        dets.map((d) => d.score),
        [0.75, 0.7, 0.65],
        1e-6,
      );
    });

    it('filters classes by id and by label', () => {
      const head = new V8Head(N640, 80)
        .set(1, [0, 0, 50, 50], 0, 0.9)
        .set(2, [100, 100, 150, 150], 2, 0.8)
        .set(3, [200, 200, 250, 250], 16, 0.7);
      const byId = decodeDetections(head, profile, g, orig, { classes: [2] });
      assert.deepEqual(
        byId.map((d) => d.label),
        ['car'],
      );
      const byLabel = decodeDetections(head, profile, g, orig, { classes: ['dog', 'Person'] });
      assert.deepEqual(
        byLabel.map((d) => d.label),
        ['person', 'dog'],
      );
      const none = decodeDetections(head, profile, g, orig, { classes: [] });
      assert.equal(none.length, 3, 'an empty class list means no filter');
      assertCode(
        () => decodeDetections(head, profile, g, orig, { classes: ['persn'] }),
        'INVALID_OPTION',
        /'persn' is not a label/,
      );
      assertCode(
        () => decodeDetections(head, profile, g, orig, { classes: [80] }),
        'INVALID_OPTION',
        /0 to 79/,
      );
    });

    it('maps boxes back through a known letterbox and clips them to the image', () => {
      // 810×1080 into 640: r = 640/1080, unpadded 480×640, padLeft = 80 (REFERENCE B.2).
      const lb = computeLetterbox(810, 1080, 640, 640);
      assert.deepEqual([lb.newWidth, lb.newHeight, lb.padLeft, lb.padTop], [480, 640, 80, 0]);
      const head = new V8Head(N640, 80)
        .set(1, [80, 100, 320, 700], 0, 0.9) // bottom runs past the input
        .set(2, [60, 10, 200, 40], 2, 0.8); // left edge inside the padding
      const dets = decodeDetections(head, profile, lb, { width: 810, height: 1080 });
      const r = 640 / 1080;
      assertClose(boxesOf(dets)[0]!, [0, 100 / r, 240 / r, 1080]);
      assertClose(boxesOf(dets)[1]!, [0, 10 / r, 120 / r, 40 / r]);
      const n = dets[0]!.boxNormalized;
      assertClose([n.x1, n.y1, n.x2, n.y2], [0, 100 / r / 1080, 240 / r / 810, 1]);
    });

    it('considers only the MAX_NMS highest-scoring candidates', () => {
      // 1280×1280 has 33600 anchors. The top 30000 are one box (NMS keeps one of them);
      // the 3600 weakest are separate boxes that would all survive NMS if they got in.
      const n = anchorCount(1280, 1280);
      const p = v8Profile(1280, 1);
      const head = new V8Head(n, 1);
      for (let a = 0; a < n; a++) {
        if (a < MAX_NMS) head.set(a, [0, 0, 100, 100], 0, 0.9);
        else
          head.set(
            a,
            [
              200 + (a % 60) * 17,
              200 + Math.floor((a - MAX_NMS) / 60) * 17,
              210 + (a % 60) * 17,
              210 + Math.floor((a - MAX_NMS) / 60) * 17,
            ],
            0,
            0.5,
          );
      }
      const dets = decodeDetections(head, p, identity(1280), { width: 1280, height: 1280 });
      assert.equal(dets.length, 1);
      assert.equal(dets[0]!.label, 'class_0');
    });
  });

  describe('YOLOv5 layout [1, N, 5+nc]', () => {
    const profile = v5Profile(640, 80);
    const g = identity(640);
    const orig = { width: 640, height: 640 };
    const N = 3 * N640;

    it('scores obj × cls: 0.5 × 0.6 = 0.3 passes 0.25, 0.9 × 0.2 = 0.18 does not', () => {
      const head = new RowHead(N, 80)
        .set(5, [10, 10, 60, 60], 0.5, 7, 0.6)
        .set(6, [100, 100, 160, 160], 0.9, 1, 0.2);
      const dets = decodeDetections(head, profile, g, orig);
      assert.equal(dets.length, 1);
      assert.equal(dets[0]!.classId, 7, 'the class index is the position after objectness');
      assert.equal(dets[0]!.label, 'truck');
      assert.ok(Math.abs(dets[0]!.score - 0.3) < 1e-6);
    });

    it('needs objectness above the threshold even when obj × cls would reach it', () => {
      const head = new RowHead(N, 80).set(9, [10, 10, 60, 60], 0.25, 0, 1);
      assert.equal(decodeDetections(head, profile, g, orig).length, 0);
    });

    it('decodes values that went through half precision (FP16 models)', () => {
      const head = new RowHead(N, 80)
        .setRaw(3, [100.3, 200.2, 50.1, 40.05, 0.9], 0, 0.8)
        .setRaw(4, [70000, 10, 10, 10, 0.95], 0, 0.95); // cx overflows half → Inf: no box
      const half = { data: halfToFloat32(float32ToHalf(head.data)), shape: head.shape };
      const dets = decodeDetections(half, profile, g, orig);
      // Half keeps 11 significant bits: 100.3 → 100.3125, 200.2 → 200.25, 50.1 → 50.09375,
      // 40.05 → 40.0625, 0.9 → 0.89990234375, 0.8 → 0.7998046875.
      assert.equal(dets.length, 1);
      assertClose(
        boxesOf(dets)[0]!,
        [
          100.3125 - 50.09375 / 2,
          200.25 - 40.0625 / 2,
          100.3125 + 50.09375 / 2,
          200.25 + 40.0625 / 2,
        ],
        1e-4,
      );
      assert.ok(Math.abs(dets[0]!.score - 0.89990234375 * 0.7998046875) < 1e-6);
    });
  });

  describe('YOLOX raw layout [1, N, 5+nc]', () => {
    it('decodes a hand-placed grid cell: cx = (x+gx)·s, w = exp(w)·s', () => {
      const profile = yoloxProfile(416, 80);
      // Grids at 416: 52×52 (s 8), 26×26 (s 16), 13×13 (s 32). Cell gx 3, gy 5 at stride 16
      // is row 52² + 5·26 + 3 = 2837.
      const head = new RowHead(anchorCount(416, 416), 80).setRaw(
        2837,
        [0.5, 0.25, Math.log(4), Math.log(2), 0.9],
        5,
        0.8,
      );
      // cx = 3.5·16 = 56, cy = 5.25·16 = 84, w = 64, h = 32 → [24, 68, 88, 100] in the input.
      // An 832×624 image fills 416×312 at scale 0.5, top-left (YOLOX pads bottom/right only).
      const lb = computeLetterbox(832, 624, 416, 416, false);
      assert.deepEqual([lb.scale, lb.padLeft, lb.padTop], [0.5, 0, 0]);
      const dets = decodeDetections(head, profile, lb, { width: 832, height: 624 });
      assert.equal(dets.length, 1);
      assert.equal(dets[0]!.label, 'bus');
      assertClose(boxesOf(dets)[0]!, [48, 136, 176, 200], 1e-4);
      assert.ok(Math.abs(dets[0]!.score - 0.72) < 1e-6);
    });

    it('places the first stride-32 cell after both finer grids', () => {
      const profile = yoloxProfile(416, 80);
      const head = new RowHead(anchorCount(416, 416), 80).setRaw(
        52 * 52 + 26 * 26,
        [0, 0, 0, 0, 0.9],
        0,
        0.9,
      );
      const dets = decodeDetections(head, profile, identity(416), { width: 416, height: 416 });
      // Cell (0, 0) at stride 32 with zero offsets: centre (0, 0), size 32 → clipped [0,0,16,16].
      assertClose(boxesOf(dets)[0]!, [0, 0, 16, 16], 1e-4);
    });
  });

  describe('rejects what it cannot use', () => {
    const profile = v8Profile(640, 80);
    const g = identity(640);
    const orig = { width: 640, height: 640 };
    const head = new V8Head(N640, 80);

    for (const [name, value] of [
      ['confidence', NaN],
      ['confidence', -0.1],
      ['confidence', 1.5],
      ['iou', 2],
      ['iou', Infinity],
    ] as const) {
      it(`${name} = ${value} is INVALID_OPTION`, () => {
        assertCode(
          () => decodeDetections(head, profile, g, orig, { [name]: value }),
          'INVALID_OPTION',
          new RegExp(`${name} must be a number from 0 to 1`),
        );
      });
    }

    it('maxDetections below 1 or fractional is INVALID_OPTION', () => {
      for (const m of [0, -3, 2.5]) {
        assertCode(
          () => decodeDetections(head, profile, g, orig, { maxDetections: m }),
          'INVALID_OPTION',
          /maxDetections must be a whole number/,
        );
      }
    });

    it('a head with the wrong channel count is UNSUPPORTED_MODEL, with a sentence', () => {
      const wrong = new V8Head(N640, 79);
      assertCode(
        () => decodeDetections(wrong, profile, g, orig),
        'UNSUPPORTED_MODEL',
        /shaped \[1,83,8400\].*must be \[1, 84, anchors\]/,
      );
    });

    it('a shape that disagrees with the data is INVALID_ARGUMENT', () => {
      assertCode(
        () =>
          decodeDetections({ data: head.data.subarray(1), shape: head.shape }, profile, g, orig),
        'INVALID_ARGUMENT',
        /the shape and the data disagree/,
      );
    });

    it('YOLOX rows that are not the grid of the input are UNSUPPORTED_MODEL', () => {
      const p = yoloxProfile(416, 80);
      const h = new RowHead(3000, 80);
      assertCode(
        () => decodeDetections(h, p, identity(416), { width: 416, height: 416 }),
        'UNSUPPORTED_MODEL',
        /3549 grid cells/,
      );
    });
  });
});
