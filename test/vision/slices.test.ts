/**
 * Post-processing in slices (issue 14, item 5): the sliced paths runTask uses give the
 * same results as the synchronous API the reference tests check, bit for bit and in the
 * same order, and they do give the event loop turns while they work.
 */
import { strict as assert } from 'node:assert';
import sharp from 'sharp';
import {
  MAX_NMS,
  decodeDetections,
  decodeDetectionsSliced,
  topScores,
} from '../../src/vision/detect';
import { computeLetterbox } from '../../src/vision/geometry';
import { nms, nmsSteps } from '../../src/vision/nms';
import { decodeSegments, decodeSegmentsSync } from '../../src/vision/segment';
import { Pacer, SLICE_MS, runInSlices, runToEnd, type Steps } from '../../src/vision/slices';
import { v5Profile, v8Profile } from './build';
import { segHead, v5AllRows, v8AllAnchors, v8Crowd } from './worst';

/**
 * Turns of the event loop (setImmediate callbacks) while `work` runs. The first is queued
 * before the work starts, so work that never yields sees none: its promise settles in a
 * microtask, before any immediate.
 */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const result = await work();
    return { result, turns };
  } finally {
    running = false;
  }
}

describe('post-processing in slices', () => {
  it('topScores keeps what a stable sort by descending score, cut at k, keeps (ties by index)', () => {
    // Scores with many ties, some exactly at the cut.
    const n = 5000;
    const scores = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 97) / 100);
    for (const k of [1, 10, 1234, 4999, 5000, 6000]) {
      const expected = Array.from({ length: n }, (_, i) => i)
        .sort((a, b) => scores[b]! - scores[a]! || a - b)
        .slice(0, k)
        .sort((a, b) => a - b);
      assert.deepEqual([...topScores(scores, n, k)], expected, `k = ${k}`);
    }
  });

  it('NMS run in slices keeps the same boxes, in the same order, as nms()', async () => {
    const head = v8Crowd(640, 300);
    const n = head.n;
    const boxes = new Float32Array(n * 4);
    const scores = new Float32Array(n);
    for (let a = 0; a < n; a++) {
      const [cx, cy, w, h] = [0, 1, 2, 3].map((r) => head.data[r * n + a]!);
      boxes.set([cx! - w! / 2, cy! - h! / 2, cx! + w! / 2, cy! + h! / 2], a * 4);
      scores[a] = head.data[4 * n + a]!;
    }
    const whole = nms(boxes, scores, 0.9999, undefined, false, 1000);
    assert.equal(whole.length, 300);
    const sliced = await runInSlices(nmsSteps(boxes, scores, 0.9999, undefined, false, 1000));
    assert.deepEqual([...sliced], [...whole]);
  });

  it('decodeDetectionsSliced = decodeDetections on the worst heads (every anchor a candidate, the cap, crowded NMS)', async () => {
    const cases = [
      { profile: v8Profile(), head: v8AllAnchors(), size: 640, opts: { maxDetections: 1000 } },
      {
        profile: v8Profile(),
        head: v8AllAnchors(),
        size: 640,
        opts: { maxDetections: 50, classes: [3, 'dog'], agnostic: true },
      },
      { profile: v5Profile(), head: v5AllRows(), size: 640, opts: { maxDetections: 1000 } },
      {
        profile: v8Profile(1280),
        head: v8Crowd(1280),
        size: 1280,
        opts: { maxDetections: 1000, iou: 0.9999 },
      },
    ];
    assert.ok(cases[3]!.head.n > MAX_NMS, 'the last case goes through the cap');
    for (const c of cases) {
      // Square, so no candidate sits in letterbox padding.
      const original = { width: 1000, height: 1000 };
      const g = computeLetterbox(original.width, original.height, c.size, c.size, true);
      const sync = decodeDetections(c.head, c.profile, g, original, c.opts);
      const sliced = await decodeDetectionsSliced(c.head, c.profile, g, original, c.opts);
      assert.ok(sync.length > 0);
      assert.deepEqual(sliced, sync);
    }
  });

  it('decodeSegments (sliced, masks let go as it goes) = decodeSegmentsSync: polygons, areas, RLE and PNG', async function () {
    this.timeout(60000);
    const profile = v8Profile(640, 80, 32);
    const { head, protos } = segHead(640, 80, 120, 96);
    const original = { width: 1280, height: 1280 };
    const g = computeLetterbox(1280, 1280, 640, 640, true);
    const opts = { maxDetections: 1000, iou: 1, rle: true };
    const sync = decodeSegmentsSync(head, protos, profile, g, original, opts);
    assert.equal(sync.detections.length, 120);
    const sliced = await decodeSegments(head, protos, profile, g, original, opts);
    assert.deepEqual(sliced, sync.detections);

    // PNGs, a bounded few at a time: each one is its instance's mask on the full image.
    const few = segHead(640, 80, 9, 160);
    const withPng = await decodeSegments(few.head, few.protos, profile, g, original, {
      ...opts,
      png: true,
    });
    const masks = decodeSegmentsSync(few.head, few.protos, profile, g, original, opts).masks;
    assert.equal(withPng.length, 9);
    for (const [j, d] of withPng.entries()) {
      // sharp widens grey to sRGB on raw output unless told to keep the one band.
      const { data, info } = await sharp(d.mask!.png!)
        .extractChannel(0)
        .raw()
        .toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [1280, 1280, 1]);
      const m = masks[j]!;
      let set = 0;
      for (let i = 0; i < data.length; i++) if (data[i]) set++;
      assert.equal(set, m.area, `png ${j} has the mask's pixels`);
      const mid = (m.top + (m.height >> 1)) * 1280 + m.left + (m.width >> 1);
      assert.equal(data[mid], m.data[(m.height >> 1) * m.width + (m.width >> 1)]! * 255);
    }
  });

  it('the sliced paths give the event loop turns while they work; the sync API gives none', async function () {
    this.timeout(60000);
    const profile = v8Profile(640, 80, 32);
    const { head, protos } = segHead(640, 80, 1000, 96);
    const original = { width: 4096, height: 4096 };
    const g = computeLetterbox(4096, 4096, 640, 640, true);
    const opts = { maxDetections: 1000, iou: 1 };
    const sync = await turnsDuring(() =>
      Promise.resolve(decodeSegmentsSync(head, protos, profile, g, original, opts)),
    );
    assert.equal(sync.turns, 0);
    // 1000 masks of ~600×600 pixels: far more than one slice of work on any machine.
    const sliced = await turnsDuring(() =>
      decodeSegments(head, protos, profile, g, original, opts),
    );
    assert.equal(sliced.result.length, 1000);
    assert.ok(sliced.turns >= 5, `${sliced.turns} turns`);
  });

  it('runInSlices gives a turn after every step that uses up a slice; runToEnd gives none', async () => {
    /** Steps that each keep the thread busy for longer than a slice. */
    function* busy(steps: number): Steps<number> {
      for (let i = 0; i < steps; i++) {
        const until = performance.now() + SLICE_MS + 1;
        while (performance.now() < until);
        yield;
      }
      return steps;
    }
    const sliced = await turnsDuring(() => runInSlices(busy(4), new Pacer()));
    assert.equal(sliced.result, 4);
    assert.ok(sliced.turns >= 3, `${sliced.turns} turns`);
    const whole = await turnsDuring(() => Promise.resolve(runToEnd(busy(4))));
    assert.equal(whole.result, 4);
    assert.equal(whole.turns, 0);
  });
});
