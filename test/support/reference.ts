/**
 * The reference results (../shared/fixtures/reference/reference.json) and how our results
 * are compared with them at issue #10's strict goal. Shared by the vision, CLI and node
 * reference tests; see test/vision/reference.test.ts for why yolov5 and YOLOX cases use the
 * fields they use.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { boxIou } from '../../src/vision/nms';
import type { TaskOptions, TaskResult } from '../../src/vision/pipeline';
import type { Box, Detection } from '../../src/vision/types';
import { FIXTURES, buildFixtureRepository } from './fixtures';

export interface RefDetection {
  label: string;
  classId: number;
  score: number;
  box: number[];
  box_clipped?: number[];
  mask?: { size: [number, number]; counts: number[] };
}

export interface RefCase {
  id: string;
  model_file: string;
  task: 'detect' | 'segment' | 'classify';
  family: 'yolov8' | 'yolov5' | 'yolox' | 'classifier';
  imgsz: number;
  conf?: number;
  iou?: number;
  max_det?: number | null;
  agnostic?: boolean;
  image: string;
  width: number;
  height: number;
  detections?: RefDetection[];
  classes?: { label: string; classId: number; score: number }[];
  alt?: { float32_postprocess?: RefDetection[] };
}

export const REFERENCE: { cases: RefCase[] } = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, 'reference', 'reference.json'), 'utf8'),
) as { cases: RefCase[] };

/** One Triton model per fixture file; names are the file stems with '-' → '_'. */
export function modelName(file: string): string {
  return file.replace(/\.onnx$/, '').replace(/[^A-Za-z0-9_]/g, '_');
}

function configFor(c: RefCase): string {
  const lines = [`name: "${modelName(c.model_file)}"`, 'platform: "onnxruntime_onnx"'];
  lines.push(`parameters { key: "task" value: { string_value: "${c.task}" } }`);
  if (c.family === 'yolox')
    lines.push('parameters { key: "family" value: { string_value: "yolox" } }');
  if (c.family === 'yolov5')
    lines.push('parameters { key: "family" value: { string_value: "yolov5" } }');
  if (c.model_file.includes('dynamic')) {
    // Dynamic batch, height, width and anchors: the config fixes the size, as a Triton
    // deployment of this file would.
    const n = 3 * ((c.imgsz / 8) ** 2 + (c.imgsz / 16) ** 2 + (c.imgsz / 32) ** 2);
    lines.push('max_batch_size: 4');
    lines.push(
      `input [ { name: "images" data_type: TYPE_FP16 dims: [ 3, ${c.imgsz}, ${c.imgsz} ] } ]`,
    );
    lines.push(`output [ { name: "output" data_type: TYPE_FP16 dims: [ ${n}, 85 ] } ]`);
  }
  if (c.family === 'classifier') {
    lines.push('parameters { key: "preprocess" value: { string_value: "onnx-zoo" } }');
    lines.push('parameters { key: "labels" value: { string_value: "imagenet1000" } }');
  }
  return lines.join('\n') + '\n';
}

export function referenceRepository(): string {
  const seen = new Map<string, RefCase>();
  for (const c of REFERENCE.cases) if (!seen.has(c.model_file)) seen.set(c.model_file, c);
  return buildFixtureRepository(
    [...seen.values()].map((c) => ({
      name: modelName(c.model_file),
      file: c.model_file,
      config: configFor(c),
    })),
  );
}

/** runTask options that reproduce the reference's settings for a case. */
export function referenceOptions(c: RefCase): TaskOptions {
  if (c.task === 'classify') return { topK: 5 };
  return {
    confidence: c.conf ?? 0.25,
    iou: c.iou ?? 0.45,
    maxDetections: c.max_det ?? 300,
    agnostic: c.agnostic === true,
    ...(c.task === 'segment' ? { rle: true } : {}),
  };
}

/** The reference detections our results are held to, per the header comment. */
export function expectedDetections(c: RefCase): { dets: RefDetection[]; clipped: boolean } {
  if (c.family === 'yolov5') return { dets: c.alt!.float32_postprocess!, clipped: false };
  if (c.family === 'yolox') return { dets: c.detections!, clipped: true };
  return { dets: c.detections!, clipped: false };
}

const xyxy = (b: Box): number[] => [b.x1, b.y1, b.x2, b.y2];

/** COCO uncompressed RLE (column-major, runs from 0s) → set of pixel indices (col-major). */
function rleOnes(rle: { counts: number[] }): Uint8Array | number[] {
  return rle.counts;
}

/** IoU of two COCO uncompressed RLEs of the same size, without expanding to pixels. */
export function rleIou(a: { counts: number[] }, b: { counts: number[] }): number {
  const ranges = (counts: number[]): [number, number][] => {
    const out: [number, number][] = [];
    let pos = 0;
    counts.forEach((n, i) => {
      if (i % 2 === 1 && n > 0) out.push([pos, pos + n]);
      pos += n;
    });
    return out;
  };
  const ra = ranges(rleOnes(a) as number[]);
  const rb = ranges(rleOnes(b) as number[]);
  const area = (r: [number, number][]): number => r.reduce((s, [x, y]) => s + y - x, 0);
  let inter = 0;
  let i = 0;
  let j = 0;
  while (i < ra.length && j < rb.length) {
    const lo = Math.max(ra[i]![0], rb[j]![0]);
    const hi = Math.min(ra[i]![1], rb[j]![1]);
    if (hi > lo) inter += hi - lo;
    if (ra[i]![1] < rb[j]![1]) i++;
    else j++;
  }
  const union = area(ra) + area(rb) - inter;
  return union === 0 ? 1 : inter / union;
}

export interface CaseReport {
  id: string;
  ok: boolean;
  problems: string[];
  minIou: number;
  maxScoreDiff: number;
  minMaskIou: number;
}

/** Compares one result with its reference at the strict goal; returns what differs. */
export function compareCase(c: RefCase, r: TaskResult): CaseReport {
  const problems: string[] = [];
  let minIou = 1;
  let maxScoreDiff = 0;
  let minMaskIou = 1;
  if (c.task === 'classify') {
    const want = c.classes!;
    const got = r.classes ?? [];
    const ids = (l: { classId: number }[]): string => l.map((x) => x.classId).join(',');
    if (ids(want) !== ids(got)) problems.push(`top-5 ${ids(got)} != ${ids(want)}`);
    for (let k = 0; k < Math.min(want.length, got.length); k++) {
      maxScoreDiff = Math.max(maxScoreDiff, Math.abs(want[k]!.score - got[k]!.score));
    }
  } else {
    const { dets, clipped } = expectedDetections(c);
    const got: Detection[] = r.detections ?? [];
    if (got.length !== dets.length) {
      problems.push(
        `${got.length} detections != ${dets.length}: got ${got.map((d) => `${d.label} ${d.score.toFixed(3)}`).join(', ')}; want ${dets.map((d) => `${d.label} ${d.score.toFixed(3)}`).join(', ')}`,
      );
    }
    // Pair each reference detection with ours of the same class and best IoU.
    const used = new Set<number>();
    for (const w of dets) {
      const wb = clipped ? w.box_clipped! : w.box;
      let best = -1;
      let bestIou = -1;
      got.forEach((g, k) => {
        if (used.has(k) || g.classId !== w.classId) return;
        const iou = boxIou(xyxy(g.box), wb);
        if (iou > bestIou) {
          bestIou = iou;
          best = k;
        }
      });
      if (best < 0) {
        problems.push(`missing ${w.label} ${w.score.toFixed(4)}`);
        minIou = 0;
        continue;
      }
      used.add(best);
      const g = got[best]!;
      minIou = Math.min(minIou, bestIou);
      const ds = Math.abs(g.score - w.score);
      maxScoreDiff = Math.max(maxScoreDiff, ds);
      if (bestIou < 0.99)
        problems.push(`${w.label} ${w.score.toFixed(3)} box IoU ${bestIou.toFixed(4)}`);
      if (ds > 1e-3) problems.push(`${w.label} score ${g.score} vs ${w.score}`);
      if (w.mask) {
        const m = g.mask?.rle;
        const iou = m ? rleIou(m, w.mask) : 0;
        minMaskIou = Math.min(minMaskIou, iou);
        if (iou < 0.99)
          problems.push(`${w.label} ${w.score.toFixed(3)} mask IoU ${iou.toFixed(4)}`);
      }
    }
  }
  return { id: c.id, ok: problems.length === 0, problems, minIou, maxScoreDiff, minMaskIou };
}
