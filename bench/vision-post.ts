/**
 * Post-processing timings on real model outputs (run: npx tsx bench/vision-post.ts).
 *
 * - detect: yolov8n_int8_640 on bus.jpg → output0 [1, 84, 8400], ~45 anchors above 0.25.
 * - segment: yolov8n-seg_int8_640_retargeted on a 1920×1080 frame holding two copies of
 *   bus.jpg → ~10 instances, masks + polygons at 1080p (no PNG).
 * Inference runs once; only the decode is timed (median of many runs after a warm-up).
 */
import * as fs from 'node:fs';
import sharp from 'sharp';
import { decodeDetections } from '../src/vision/detect';
import { prepareInput } from '../src/vision/image';
import { deriveProfile } from '../src/vision/profile';
import { decodeSegmentsSync } from '../src/vision/segment';
import type { ModelProfile } from '../src/vision/types';
import { fixtureImage, fixtureModel } from '../test/support/fixtures';
import { releaseOnnxSessions, runOnnx } from '../test/support/ort';

function timeIt(fn: () => unknown, runs: number): { median: number; p90: number } {
  for (let i = 0; i < 20; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(runs / 2)]!, p90: t[Math.floor(runs * 0.9)]! };
}

async function run(profile: ModelProfile, file: string, image: Buffer) {
  const prepared = await prepareInput(image, profile);
  const out = await runOnnx(fixtureModel(file), [
    {
      name: profile.input.name,
      datatype: profile.input.datatype,
      shape: prepared.shape,
      data: prepared.tensor,
    },
  ]);
  return { prepared, out };
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  const bus = fs.readFileSync(fixtureImage('bus.jpg'));

  // ---- detect ----
  const det = deriveProfile(
    {
      name: 'yolov8n',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640] }],
      outputs: [{ name: 'output0', datatype: 'FP32', shape: [1, 84, 8400] }],
    },
    undefined,
  );
  {
    const { prepared, out } = await run(det, 'yolov8n_int8_640.onnx', bus);
    const o = { data: out.output0!.data as Float32Array, shape: out.output0!.shape };
    let candidates = 0;
    for (let a = 0; a < 8400; a++) {
      let best = 0;
      for (let c = 0; c < 80; c++) best = Math.max(best, o.data[(4 + c) * 8400 + a]!);
      if (best > 0.25) candidates++;
    }
    let n = 0;
    const t = timeIt(() => {
      n = decodeDetections(o, det, prepared.letterbox!, prepared).length;
    }, 500);
    rows.push([
      'detect v8 [1,84,8400]',
      `${prepared.width}x${prepared.height}`,
      String(candidates),
      String(n),
      t.median.toFixed(3),
      t.p90.toFixed(3),
      '2',
      t.median <= 2 ? 'ok' : 'SLOW',
    ]);
  }

  // ---- segment ----
  const seg = deriveProfile(
    {
      name: 'yolov8n-seg',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640] }],
      outputs: [
        { name: 'output0', datatype: 'FP32', shape: [1, 116, 8400] },
        { name: 'output1', datatype: 'FP32', shape: [1, 32, 160, 160] },
      ],
    },
    undefined,
  );
  {
    const frame = await sharp({
      create: { width: 1920, height: 1080, channels: 3, background: { r: 90, g: 90, b: 90 } },
    })
      .composite([
        { input: bus, left: 60, top: 0 },
        { input: bus, left: 1050, top: 0 },
      ])
      .jpeg()
      .toBuffer();
    const { prepared, out } = await run(seg, 'yolov8n-seg_int8_640_retargeted.onnx', frame);
    const o0 = { data: out.output0!.data as Float32Array, shape: out.output0!.shape };
    const o1 = { data: out.output1!.data as Float32Array, shape: out.output1!.shape };
    let n = 0;
    let points = 0;
    const t = timeIt(() => {
      const r = decodeSegmentsSync(o0, o1, seg, prepared.letterbox!, prepared);
      n = r.detections.length;
      points = r.detections.reduce((s, d) => s + d.mask!.polygon.length, 0);
    }, 200);
    rows.push([
      'segment v8 masks+polygons',
      `${prepared.width}x${prepared.height}`,
      `${points} pts`,
      String(n),
      t.median.toFixed(3),
      t.p90.toFixed(3),
      '10',
      t.median <= 10 ? 'ok' : 'SLOW',
    ]);
  }
  await releaseOnnxSessions();

  const head = ['case', 'original', 'candidates', 'kept', 'median ms', 'p90 ms', 'target ms', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
