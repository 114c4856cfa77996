/**
 * YOLO detection heads → detections in original-image pixels.
 *
 * Three raw layouts (REFERENCE B.1/B.3 and the YOLOX export):
 * - YOLOv8 / YOLO11 [1, 4+nc+nm, N]: cx, cy, w, h (input pixels) then class scores (sigmoid,
 *   no objectness); score = best class.
 * - YOLOv5 [1, N, 5+nc+nm]: cx, cy, w, h, objectness, class scores, all decoded; score = obj·cls.
 * - YOLOX [1, N, 5+nc] raw: box offsets per grid cell, decoded here; score = obj·cls.
 * Then: strict confidence filter (scores outside [0, 1] or not finite are dropped), class
 * filter, cap at MAX_NMS by score, class-aware NMS, max detections (≤ MAX_DETECTIONS_LIMIT),
 * boxes mapped back through the letterbox with per-axis gains and clipped; boxes left with no
 * area are dropped.
 */
import { TritonError } from '../protocol/errors';
import { boxToOriginal, normalizeBox } from './geometry';
import { nmsSteps } from './nms';
import { anchorCount } from './profile';
import { Pacer, runInSlices, runToEnd, type Steps } from './slices';
import type { Box, Detection, DetectOptions, LetterboxGeometry, ModelProfile } from './types';

/** A float output tensor as the pipeline hands it over (FP16 outputs already widened). */
export interface OutputTensor {
  data: Float32Array;
  shape: number[];
}

/**
 * Defaults: the seed's and YOLOv5 detect.py's confidence 0.25 and IoU 0.45, Ultralytics'
 * max_det 300. Note that Ultralytics' own predictor uses IoU 0.7, so it keeps more
 * overlapping boxes than we do by default; pass `iou: 0.7` to reproduce it exactly.
 */
export const DETECT_DEFAULTS = { confidence: 0.25, iou: 0.45, maxDetections: 300 } as const;
/** Largest maxDetections accepted (yolov5 detect.py's default max_det); more is INVALID_OPTION. */
export const MAX_DETECTIONS_LIMIT = 1000;
/** At most this many candidates (the highest scores) go into NMS, as in Ultralytics. */
export const MAX_NMS = 30000;

/** Validated detect options with the class filter resolved to ids. */
export interface ResolvedDetectOptions {
  confidence: number;
  iou: number;
  maxDetections: number;
  /** Allowed class ids; undefined = every class. */
  classes?: Uint8Array;
  agnostic: boolean;
}

function optionError(message: string, model?: string): TritonError {
  return new TritonError('INVALID_OPTION', message, model === undefined ? {} : { model });
}

/** A number in [0, 1] (NaN, ±Infinity and non-numbers rejected). */
export function checkUnit(name: string, value: unknown, fallback: number, model?: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw optionError(
      `Option ${name} must be a number from 0 to 1 (got ${JSON.stringify(value) ?? String(value)}); fix it in the node or in msg.triton`,
      model,
    );
  }
  return value;
}

/** Validates detect options against a profile, resolving labels in `classes` to ids. */
export function resolveDetectOptions(
  opts: DetectOptions | undefined,
  profile: ModelProfile,
): ResolvedDetectOptions {
  const o = opts ?? {};
  const model = profile.model;
  const confidence = checkUnit('confidence', o.confidence, DETECT_DEFAULTS.confidence, model);
  const iou = checkUnit('iou', o.iou, DETECT_DEFAULTS.iou, model);
  let maxDetections: number = DETECT_DEFAULTS.maxDetections;
  if (o.maxDetections !== undefined && o.maxDetections !== null) {
    const m = o.maxDetections;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > MAX_DETECTIONS_LIMIT) {
      throw optionError(
        `Option maxDetections must be a whole number from 1 to ${MAX_DETECTIONS_LIMIT} (got ${JSON.stringify(m) ?? String(m)}); fix it in the node or in msg.triton`,
        model,
      );
    }
    maxDetections = m;
  }
  const resolved: ResolvedDetectOptions = {
    confidence,
    iou,
    maxDetections,
    agnostic: o.agnostic === true,
  };
  // An empty list means "no filter": a node's unset class field arrives as [].
  if (o.classes !== undefined && o.classes !== null) {
    if (!Array.isArray(o.classes)) {
      throw optionError(
        'Option classes must be a list of class ids or labels, e.g. [0, "car"]',
        model,
      );
    }
    if (o.classes.length > 0) {
      const allowed = new Uint8Array(profile.numClasses);
      for (const c of o.classes) allowed[classIdOf(c, profile)] = 1;
      resolved.classes = allowed;
    }
  }
  return resolved;
}

function classIdOf(c: unknown, profile: ModelProfile): number {
  const n = profile.numClasses;
  if (typeof c === 'number') {
    if (Number.isInteger(c) && c >= 0 && c < n) return c;
    throw optionError(
      `Class id ${c} is out of range: model '${profile.model}' has classes 0 to ${n - 1}`,
      profile.model,
    );
  }
  if (typeof c === 'string') {
    const name = c.trim();
    let id = profile.labels.indexOf(name);
    if (id < 0) {
      const lower = name.toLowerCase();
      id = profile.labels.findIndex((l) => l.toLowerCase() === lower);
    }
    if (id < 0 && /^\d+$/.test(name) && Number(name) < n) id = Number(name);
    if (id >= 0) return id;
    const some = profile.labels.slice(0, 5).join(', ');
    throw optionError(
      `Class '${c}' is not a label of model '${profile.model}' (its labels are ${some}${n > 5 ? ', ...' : ''}); use a label or a class id`,
      profile.model,
    );
  }
  throw optionError(
    `Class filter entry ${JSON.stringify(c) ?? String(c)} is neither a class id nor a label`,
    profile.model,
  );
}

/** Kept detections in model-input space, by descending score. */
export interface SelectedDetections {
  count: number;
  /** [count, 4] x1, y1, x2, y2 in model-input pixels (not clipped). */
  boxes: Float32Array;
  /** [count] */
  scores: Float32Array;
  /** [count] */
  classIds: Int32Array;
  /** [count] anchor (row) index in the head, to find each detection's mask coefficients. */
  anchors: Int32Array;
}

/** The head's [rows, cols] after checking the tensor against the profile. */
export function headDims(output: OutputTensor, profile: ModelProfile): [number, number] {
  const { shape, data } = output;
  const model = profile.model;
  const total = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0) || total !== data.length) {
    throw new TritonError(
      'INVALID_ARGUMENT',
      `Model '${model}' returned a detection tensor shaped [${shape.join(',')}] with ${data.length} values; the shape and the data disagree`,
      { model },
    );
  }
  const dims = shape.length === 3 && shape[0] === 1 ? shape.slice(1) : shape;
  const nc = profile.numClasses;
  const nm = profile.numMasks;
  const v8 = profile.family === 'yolov8';
  const width = v8 ? 4 + nc + nm : 5 + nc + nm;
  const expected = v8 ? `[1, ${width}, anchors]` : `[1, anchors, ${width}]`;
  const fits = dims.length === 2 && (v8 ? dims[0] === width : dims[1] === width);
  if (!fits) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' returned a detection tensor shaped [${shape.join(',')}]; for ${profile.family} with ${nc} classes${nm ? ` and ${nm} mask coefficients` : ''} it must be ${expected}. Was the model replaced? Redeploy to read its metadata again`,
      { model },
    );
  }
  if (profile.family === 'yolox') {
    const want = anchorCount(profile.input.width, profile.input.height);
    if (dims[0] !== want) {
      throw new TritonError(
        'UNSUPPORTED_MODEL',
        `Model '${model}' returned ${dims[0]} YOLOX rows; a ${profile.input.width}x${profile.input.height} input has ${want} grid cells at strides 8, 16, 32`,
        { model },
      );
    }
  }
  return [dims[0]!, dims[1]!];
}

/** Growable candidate buffers, so the scan allocates per call, never per candidate. */
class Candidates {
  count = 0;
  boxes: Float32Array;
  scores: Float32Array;
  classIds: Int32Array;
  anchors: Int32Array;

  constructor(capacity: number) {
    this.boxes = new Float32Array(capacity * 4);
    this.scores = new Float32Array(capacity);
    this.classIds = new Int32Array(capacity);
    this.anchors = new Int32Array(capacity);
  }

  push(cx: number, cy: number, w: number, h: number, score: number, cls: number, a: number): void {
    const x1 = cx - w / 2;
    const y1 = cy - h / 2;
    const x2 = cx + w / 2;
    const y2 = cy + h / 2;
    // Half-precision overflow shows up as Inf/NaN boxes: such rows carry no usable box.
    if (!Number.isFinite(x1 + y1 + x2 + y2)) return;
    if (this.count === this.scores.length) this.grow();
    const i = this.count++;
    this.boxes[i * 4] = x1;
    this.boxes[i * 4 + 1] = y1;
    this.boxes[i * 4 + 2] = x2;
    this.boxes[i * 4 + 3] = y2;
    this.scores[i] = score;
    this.classIds[i] = cls;
    this.anchors[i] = a;
  }

  private grow(): void {
    const cap = Math.max(16, this.scores.length * 2);
    const boxes = new Float32Array(cap * 4);
    boxes.set(this.boxes);
    const scores = new Float32Array(cap);
    scores.set(this.scores);
    const classIds = new Int32Array(cap);
    classIds.set(this.classIds);
    const anchors = new Int32Array(cap);
    anchors.set(this.anchors);
    this.boxes = boxes;
    this.scores = scores;
    this.classIds = classIds;
    this.anchors = anchors;
  }
}

/** Anchors (rows) scanned between two points where a sliced run may pause. */
const ROW_STEP = 4096;

/** Class rows of a v8 head scanned between two points where a sliced run may pause. */
const CLASS_STEP = 8;

/**
 * v8 [C, N]. First, sequential passes over the class rows (four rows at a time; memory read
 * in order, never down a column of N-strided values) mark the anchors where some class
 * scores above conf. Then, for the marked anchors only (a few dozen on a real image), a walk
 * down their column finds the best class (the first of equal scores) and whether any score
 * lies in (conf, 1]: the same candidates as a running maximum over every anchor, for one
 * compare per value instead of a load, a compare and a store.
 */
function* scanV8(
  data: Float32Array,
  n: number,
  nc: number,
  o: ResolvedDetectOptions,
  out: Candidates,
): Steps<void> {
  const conf = o.confidence;
  const mark = new Uint8Array(n);
  let c = 0;
  for (; c + 4 <= nc; c += 4) {
    const b0 = (4 + c) * n;
    const b1 = b0 + n;
    const b2 = b1 + n;
    const b3 = b2 + n;
    for (let a = 0; a < n; a++) {
      if (
        data[b0 + a]! > conf ||
        data[b1 + a]! > conf ||
        data[b2 + a]! > conf ||
        data[b3 + a]! > conf
      ) {
        mark[a] = 1;
      }
    }
    if (c % CLASS_STEP === CLASS_STEP - 4) yield;
  }
  for (; c < nc; c++) {
    const base = (4 + c) * n;
    for (let a = 0; a < n; a++) if (data[base + a]! > conf) mark[a] = 1;
  }
  for (let a = 0; a < n; a++) {
    if (a % ROW_STEP === ROW_STEP - 1) yield;
    if (mark[a] === 0) continue;
    let score = -Infinity;
    let cls = 0;
    let hit = false;
    for (let k = 0, q = 4 * n + a; k < nc; k++, q += n) {
      const v = data[q]!;
      if (v > score) {
        score = v;
        cls = k;
      }
      if (v > conf && v <= 1) hit = true;
    }
    // A best class score above 1 (+Infinity, or logits from a head exported without its
    // sigmoid) is not a probability: the anchor is dropped, never reported.
    if (!hit || !(score <= 1)) continue;
    if (o.classes && o.classes[cls] === 0) continue;
    out.push(data[a]!, data[n + a]!, data[2 * n + a]!, data[3 * n + a]!, score, cls, a);
  }
}

/** Row-per-anchor heads (v5, YOLOX): candidates need obj > conf, score = obj·cls > conf. */
function* scanRows(
  data: Float32Array,
  n: number,
  k: number,
  nc: number,
  o: ResolvedDetectOptions,
  out: Candidates,
  decode: ((a: number, row: number, out: Candidates, score: number, cls: number) => void) | null,
): Steps<void> {
  const conf = o.confidence;
  for (let a = 0; a < n; a++) {
    if (a % ROW_STEP === ROW_STEP - 1) yield;
    const row = a * k;
    const obj = data[row + 4]!;
    if (!(obj > conf && obj <= 1)) continue;
    let best = -Infinity;
    let cls = 0;
    for (let c = 0; c < nc; c++) {
      // float32 product, as the reference computes it in float32 tensors
      const v = Math.fround(data[row + 5 + c]! * obj);
      if (v > best) {
        best = v;
        cls = c;
      }
    }
    if (!(best > conf && best <= 1)) continue;
    if (o.classes && o.classes[cls] === 0) continue;
    if (decode) decode(a, row, out, best, cls);
    else out.push(data[row]!, data[row + 1]!, data[row + 2]!, data[row + 3]!, best, cls, a);
  }
}

/** YOLOX grid: stride 8 cells first, each level row-major over (gy, gx). */
function yoloxDecoder(
  data: Float32Array,
  width: number,
  height: number,
): (a: number, row: number, out: Candidates, score: number, cls: number) => void {
  const levels = [8, 16, 32].map((s) => ({ s, w: Math.ceil(width / s), h: Math.ceil(height / s) }));
  return (a, row, out, score, cls) => {
    let local = a;
    for (const l of levels) {
      const cells = l.w * l.h;
      if (local < cells) {
        const gx = local % l.w;
        const gy = (local - gx) / l.w;
        out.push(
          (data[row]! + gx) * l.s,
          (data[row + 1]! + gy) * l.s,
          Math.exp(data[row + 2]!) * l.s,
          Math.exp(data[row + 3]!) * l.s,
          score,
          cls,
          a,
        );
        return;
      }
      local -= cells;
    }
  };
}

/**
 * Candidates → filtered → NMS'd detections in model-input space. Shared by detect and segment.
 *
 * @param output Detection head: v8 [1, 4+nc+nm, N], v5/YOLOX [1, N, 5+nc+nm] (batch 1).
 */
export function selectDetections(
  output: OutputTensor,
  profile: ModelProfile,
  o: ResolvedDetectOptions,
): SelectedDetections {
  return runToEnd(selectSteps(output, profile, o));
}

/** selectDetections in slices, with turns of the event loop between them (slices.ts). */
export function selectDetectionsSliced(
  output: OutputTensor,
  profile: ModelProfile,
  o: ResolvedDetectOptions,
  pacer?: Pacer,
): Promise<SelectedDetections> {
  return runInSlices(selectSteps(output, profile, o), pacer);
}

function* selectSteps(
  output: OutputTensor,
  profile: ModelProfile,
  o: ResolvedDetectOptions,
): Steps<SelectedDetections> {
  const [rows, cols] = headDims(output, profile);
  const nc = profile.numClasses;
  const data = output.data;
  const cand = new Candidates(64);
  if (profile.family === 'yolov8') yield* scanV8(data, cols, nc, o, cand);
  else if (profile.family === 'yolox') {
    yield* scanRows(
      data,
      rows,
      cols,
      nc,
      o,
      cand,
      yoloxDecoder(data, profile.input.width, profile.input.height),
    );
  } else yield* scanRows(data, rows, cols, nc, o, cand, null);

  const pool = topScores(cand.scores, cand.count, MAX_NMS);
  yield;
  const m = pool.length;
  const boxes = new Float32Array(m * 4);
  const scores = new Float32Array(m);
  const classIds = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    const i = pool[j]!;
    boxes.set(cand.boxes.subarray(i * 4, i * 4 + 4), j * 4);
    scores[j] = cand.scores[i]!;
    classIds[j] = cand.classIds[i]!;
  }
  const keep = yield* nmsSteps(boxes, scores, o.iou, classIds, o.agnostic, o.maxDetections);
  const count = keep.length;
  const result: SelectedDetections = {
    count,
    boxes: new Float32Array(count * 4),
    scores: new Float32Array(count),
    classIds: new Int32Array(count),
    anchors: new Int32Array(count),
  };
  for (let j = 0; j < count; j++) {
    const k = keep[j]!;
    result.boxes.set(boxes.subarray(k * 4, k * 4 + 4), j * 4);
    result.scores[j] = scores[k]!;
    result.classIds[j] = classIds[k]!;
    result.anchors[j] = cand.anchors[pool[k]!]!;
  }
  return result;
}

/**
 * Indices of the `k` highest of scores[0..count), as a stable sort by descending score
 * then a cut at k would give them (equal scores: lower index first), in index order.
 * The cut-off score comes from a native numeric sort of a copy, so a head of 300 000
 * candidates costs no comparator sort of them all.
 */
export function topScores(scores: Float32Array, count: number, k: number): Int32Array {
  if (count <= k) return Int32Array.from({ length: count }, (_, i) => i);
  const sorted = scores.slice(0, count).sort();
  const cut = sorted[count - k]!;
  // Scores above the cut all make it; of those equal to it, the lowest indices fill up.
  let above = 0;
  for (let i = 0; i < count; i++) if (scores[i]! > cut) above++;
  let ties = k - above;
  const pool = new Int32Array(k);
  let j = 0;
  for (let i = 0; i < count && j < k; i++) {
    const v = scores[i]!;
    if (v > cut) pool[j++] = i;
    else if (v === cut && ties > 0) {
      pool[j++] = i;
      ties--;
    }
  }
  return pool;
}

/** Input-space box j of a selection, as a Box. */
export function inputBox(sel: SelectedDetections, j: number): Box {
  return {
    x1: sel.boxes[j * 4]!,
    y1: sel.boxes[j * 4 + 1]!,
    x2: sel.boxes[j * 4 + 2]!,
    y2: sel.boxes[j * 4 + 3]!,
  };
}

/** Selected detections → result objects in original-image pixels (clipped) and 0..1. */
export function toDetections(
  sel: SelectedDetections,
  profile: ModelProfile,
  geometry: LetterboxGeometry,
  original: { width: number; height: number },
): Detection[] {
  const out: Detection[] = [];
  for (let j = 0; j < sel.count; j++) {
    const classId = sel.classIds[j]!;
    // Ultralytics (and yolov5, same letterbox) map back with per-axis gains; the YOLOX demo
    // divides by r.
    const box = boxToOriginal(
      inputBox(sel, j),
      geometry,
      original.width,
      original.height,
      profile.family !== 'yolox',
    );
    out.push({
      label: profile.labels[classId] ?? `class_${classId}`,
      classId,
      score: sel.scores[j]!,
      box,
      boxNormalized: normalizeBox(box, original.width, original.height),
    });
  }
  return out;
}

/**
 * Decodes a detection head into detections on the original image.
 *
 * @param output   v8 [1, 4+nc(+nm), N] or v5/YOLOX [1, N, 5+nc] as float values.
 * @param profile  The model's profile (family, class count, labels, input size).
 * @param geometry Where the original image sits in the model input.
 * @param original Original image size in pixels.
 * @param opts     confidence (default 0.25, strict >), iou (0.45), maxDetections (300), classes,
 *                 agnostic. Ultralytics' predictor defaults to iou 0.7.
 * @returns Detections by descending score.
 */
export function decodeDetections(
  output: OutputTensor,
  profile: ModelProfile,
  geometry: LetterboxGeometry,
  original: { width: number; height: number },
  opts: DetectOptions = {},
): Detection[] {
  const o = resolveDetectOptions(opts, profile);
  return toDetections(selectDetections(output, profile, o), profile, geometry, original).filter(
    hasArea,
  );
}

/**
 * decodeDetections with the selection (scan, cap, NMS) in slices of about SLICE_MS and a
 * turn of the event loop between them: the same detections, without stalling the other
 * work of the process on a head where every anchor is a candidate.
 */
export async function decodeDetectionsSliced(
  output: OutputTensor,
  profile: ModelProfile,
  geometry: LetterboxGeometry,
  original: { width: number; height: number },
  opts: DetectOptions = {},
): Promise<Detection[]> {
  const o = resolveDetectOptions(opts, profile);
  const sel = await selectDetectionsSliced(output, profile, o);
  return toDetections(sel, profile, geometry, original).filter(hasArea);
}

/**
 * A box with some area left after clipping to the image: one wholly in the letterbox pad
 * (or outside the image) clips to zero width or height and is not reported. (Segment
 * results drop such instances too: their mask is empty.)
 */
export function hasArea(d: Detection): boolean {
  return d.box.x2 > d.box.x1 && d.box.y2 > d.box.y1;
}
