/**
 * Detection models that run NMS on the server and send only the kept boxes (a few KB
 * instead of a 2.8 MB raw head):
 *
 * - 'efficient': TensorRT's EfficientNMS plugin layout, as YOLO TensorRT exports name it
 *   (`num_dets`, `det_boxes`, `det_scores`, `det_classes`) or as the plugin names it
 *   (`num_detections`, `detection_boxes`, `detection_scores`, `detection_classes`):
 *   num [1, 1] (or [1]) · boxes [1, K, 4] x1,y1,x2,y2 · scores [1, K] · classes [1, K];
 *   only the first `num` rows are detections.
 * - 'end2end': one tensor [1, K, 6] of rows x1, y1, x2, y2, score, class (Ultralytics'
 *   `nms=True` / end-to-end exports, K = max_det, 300 by default), unused rows scored 0.
 *
 * Boxes are corners in model-input pixels (the letterboxed image), as both exporters
 * write them. The server's NMS has already run: here only the confidence threshold, the
 * class filter and the detection cap apply.
 */
import { TritonError } from '../protocol/errors';
import type { Tensor } from '../protocol/types';
import { resolveDetectOptions } from './detect';
import { boxToOriginal, normalizeBox } from './geometry';
import type { Detection, DetectOptions, LetterboxGeometry, ModelProfile } from './types';

export type NmsOutputs =
  | { kind: 'efficient'; count: string; boxes: string; scores: string; classes: string }
  | { kind: 'end2end'; detections: string };

/** Largest K taken for an end-to-end [1, K, 6] tensor: a raw YOLOv5 head of one class is [1, 25200, 6]. */
export const END2END_MAX_ROWS = 1000;

const NAMES = {
  count: ['num_dets', 'num_detections'],
  boxes: ['det_boxes', 'detection_boxes'],
  scores: ['det_scores', 'detection_scores'],
  classes: ['det_classes', 'detection_classes'],
} as const;

interface OutputShape {
  name: string;
  shape: readonly number[];
}

/** Shape without a leading batch 1 / -1. */
function core(shape: readonly number[]): number[] {
  return shape.length > 1 && (shape[0] === 1 || shape[0] === -1) ? shape.slice(1) : [...shape];
}

/**
 * Recognises server-side NMS outputs from a model's output metadata; undefined when the
 * outputs are something else (a raw head, a classifier).
 */
export function findNmsOutputs(outputs: readonly OutputShape[]): NmsOutputs | undefined {
  if (outputs.length === 4) {
    const pick = (names: readonly string[]): OutputShape | undefined =>
      outputs.find((o) => names.includes(o.name.toLowerCase()));
    const count = pick(NAMES.count);
    const boxes = pick(NAMES.boxes);
    const scores = pick(NAMES.scores);
    const classes = pick(NAMES.classes);
    if (!count || !boxes || !scores || !classes) return undefined;
    const b = core(boxes.shape);
    if (b.length !== 2 || b[1] !== 4) return undefined;
    if (core(scores.shape).length !== 1 || core(classes.shape).length !== 1) return undefined;
    if (core(count.shape).some((d) => d !== 1)) return undefined;
    return {
      kind: 'efficient',
      count: count.name,
      boxes: boxes.name,
      scores: scores.name,
      classes: classes.name,
    };
  }
  if (outputs.length === 1) {
    const s = core(outputs[0]!.shape);
    if (s.length === 2 && s[1] === 6 && s[0]! > 0 && s[0]! <= END2END_MAX_ROWS) {
      return { kind: 'end2end', detections: outputs[0]!.name };
    }
  }
  return undefined;
}

/** The output names to request for a layout. */
export function nmsOutputNames(layout: NmsOutputs): string[] {
  return layout.kind === 'efficient'
    ? [layout.count, layout.boxes, layout.scores, layout.classes]
    : [layout.detections];
}

function numbers(t: Tensor): ArrayLike<number> {
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) {
    return Array.from(t.data, (v) => Number(v));
  }
  return t.data as ArrayLike<number>;
}

function output(outputs: readonly Tensor[], name: string, model: string): Tensor {
  const t = outputs.find((o) => o.name === name);
  if (!t) {
    throw new TritonError(
      'PROTOCOL_ERROR',
      `Model '${model}' answered without its output '${name}' (got ${outputs.map((o) => o.name).join(', ') || 'nothing'})`,
      { model },
    );
  }
  return t;
}

/**
 * Server-side NMS outputs → detections on the original image, by descending score.
 *
 * @param outputs  The response's tensors (the layout's names among them).
 * @param layout   Which layout (from findNmsOutputs, kept in the profile).
 * @param profile  The model's profile (labels, model name).
 * @param geometry Where the original image sits in the model input.
 * @param original Original image size in pixels.
 * @param opts     confidence (strict >), classes, maxDetections; iou and agnostic do not
 *                 apply (the server chose).
 */
export function decodeNmsOutputs(
  outputs: readonly Tensor[],
  layout: NmsOutputs,
  profile: ModelProfile,
  geometry: LetterboxGeometry,
  original: { width: number; height: number },
  opts: DetectOptions = {},
): Detection[] {
  const o = resolveDetectOptions(opts, profile);
  const model = profile.model;
  const rows: { box: [number, number, number, number]; score: number; classId: number }[] = [];
  if (layout.kind === 'efficient') {
    const boxes = numbers(output(outputs, layout.boxes, model));
    const scores = numbers(output(outputs, layout.scores, model));
    const classes = numbers(output(outputs, layout.classes, model));
    const declared = Number(numbers(output(outputs, layout.count, model))[0] ?? 0);
    const k = Math.min(scores.length, classes.length, Math.floor(boxes.length / 4));
    if (!Number.isInteger(declared) || declared < 0 || declared > k) {
      throw new TritonError(
        'PROTOCOL_ERROR',
        `Model '${model}' says ${declared} detections in '${layout.count}' but its tensors hold ${k} rows`,
        { model },
      );
    }
    for (let i = 0; i < declared; i++) {
      const b = [boxes[i * 4]!, boxes[i * 4 + 1]!, boxes[i * 4 + 2]!, boxes[i * 4 + 3]!];
      rows.push({
        box: b as [number, number, number, number],
        score: scores[i]!,
        classId: classes[i]!,
      });
    }
  } else {
    const t = output(outputs, layout.detections, model);
    const d = numbers(t);
    if (d.length % 6 !== 0) {
      throw new TritonError(
        'PROTOCOL_ERROR',
        `Model '${model}' returned '${layout.detections}' shaped [${t.shape.join(',')}]; end-to-end detections are [1, K, 6]`,
        { model },
      );
    }
    for (let i = 0; i < d.length / 6; i++) {
      const r = i * 6;
      rows.push({
        box: [d[r]!, d[r + 1]!, d[r + 2]!, d[r + 3]!],
        score: d[r + 4]!,
        classId: d[r + 5]!,
      });
    }
  }
  const kept = rows
    .filter((r) => {
      if (!(r.score > o.confidence)) return false;
      const id = Math.round(r.classId);
      return id >= 0 && (!o.classes || o.classes[id] === 1);
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, o.maxDetections);
  return kept.map((r) => {
    const classId = Math.round(r.classId);
    const [x1, y1, x2, y2] = r.box;
    const box = boxToOriginal({ x1, y1, x2, y2 }, geometry, original.width, original.height);
    return {
      label: profile.labels[classId] ?? `class_${classId}`,
      classId,
      score: r.score,
      box,
      boxNormalized: normalizeBox(box, original.width, original.height),
    };
  });
}
