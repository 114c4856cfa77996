/**
 * Model profiles: everything pre- and post-processing need to know about a model, derived
 * from what the server says (metadata + config) so that a user only picks a model name.
 *
 * Order of authority: explicit overrides > config `parameters` (task, family, labels,
 * input_size, ...) > the tensor layout > the `<Task>_<Dataset>_<Arch>_<Backend>` model name,
 * which only settles what the layout leaves open (YOLOv5 or YOLOX for a dynamic anchor count).
 */
import { TritonError } from '../protocol/errors';
import { findNmsOutputs } from './nms-outputs';
import type { DataType, ModelConfig, ModelMetadata, TensorMetadata } from '../protocol/types';
import { COCO80, IMAGENET1000 } from './labels';
import { checkInputSize, type InputSizeLimit } from './limits';
import type { ClassifyPreset, Family, ModelProfile, Preprocess, Task } from './types';

/**
 * Classification presets, named after the reference each reproduces:
 * - 'torchvision': EfficientNet-B0 IMAGENET1K_V1 transforms: Resize(256, BICUBIC, antialias)
 *   of the short side (long side truncated), CenterCrop(224), ToTensor, Normalize.
 * - 'onnx-zoo': the ONNX Model Zoo's imagenet_preprocess: PIL BILINEAR with the long side
 *   rounded, crop at w//2 − 112, /255, mean/std.
 */
export const CLASSIFY_PRESETS: readonly ClassifyPreset[] = ['torchvision', 'onnx-zoo'];
const PRESET_FILTER: Record<ClassifyPreset, 'bicubic' | 'bilinear'> = {
  torchvision: 'bicubic',
  'onnx-zoo': 'bilinear',
};

/**
 * A classify profile's pre-processing switched to `preset` (its default filter, the same
 * resize and crop sizes). Letterbox pre-processing is returned unchanged.
 * @throws TritonError INVALID_OPTION for an unknown preset name.
 */
export function withPreset(pre: Preprocess, preset: unknown): Preprocess {
  if (preset === undefined || preset === null || preset === '') return pre;
  if (typeof preset !== 'string' || !(CLASSIFY_PRESETS as readonly string[]).includes(preset)) {
    throw new TritonError(
      'INVALID_OPTION',
      `Option preprocess must be ${CLASSIFY_PRESETS.map((x) => `'${x}'`).join(' or ')} (got ${JSON.stringify(preset) ?? String(preset)}); fix it in the node or in msg.triton`,
    );
  }
  if (pre.kind !== 'imagenet') return pre;
  const p = preset as ClassifyPreset;
  return { ...pre, preset: p, interpolation: PRESET_FILTER[p] };
}

export interface ProfileOverrides extends InputSizeLimit {
  /** Force the task (as the config parameter `task` would). */
  task?: Task;
  /** Force the family; 'yolo11' is accepted as an alias of 'yolov8'. */
  family?: Family | 'yolo11';
  /** One name per class, replacing the model's. */
  labels?: string[];
  /**
   * The task the caller can run. A model of another task fails with UNSUPPORTED_MODEL,
   * except a segment model asked to detect, which then decodes boxes only.
   */
  expectTask?: Task;
  /** Input size for models with a dynamic height/width: a square side or [width, height]. */
  inputSize?: number | [number, number];
}

/** ImageNet statistics (torchvision / timm). */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
/** YOLO detection heads sample the image at these strides. */
const STRIDES = [8, 16, 32];
const TASKS: readonly Task[] = ['detect', 'segment', 'classify'];

const INPUT_TYPES: readonly DataType[] = ['FP32', 'FP16', 'UINT8'];
/** Output types the post-processing reads (FP16 is widened to FP32 on arrival). */
const OUTPUT_TYPES: readonly DataType[] = ['FP32', 'FP16'];

/** Anchor points of an anchor-free head (YOLOv8/YOLOX) for an input of w×h: Σ (w/s)·(h/s). */
export function anchorCount(width: number, height: number): number {
  let n = 0;
  for (const s of STRIDES) n += Math.ceil(width / s) * Math.ceil(height / s);
  return n;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function describeOutputs(outputs: readonly TensorMetadata[]): string {
  return outputs.map((o) => `${o.name} ${fmt(o.shape)}`).join(', ') || 'no outputs';
}

function bareType(t: string): string {
  return t.startsWith('TYPE_') ? t.slice(5) : t;
}

/** Drops one leading batch-like dimension (1 or -1) from tensors of rank ≥ 2. */
function core(shape: readonly number[]): number[] {
  return shape.length >= 2 && (shape[0] === 1 || shape[0] === -1) ? shape.slice(1) : [...shape];
}

function isClassifierShape(c: readonly number[]): boolean {
  return c.length === 1 || (c.length === 3 && c[1] === 1 && c[2] === 1);
}

function parseTask(value: string, where: string): Task {
  const t = value.trim().toLowerCase();
  const alias: Record<string, Task> = {
    detect: 'detect',
    detection: 'detect',
    segment: 'segment',
    segmentation: 'segment',
    classify: 'classify',
    classification: 'classify',
  };
  const task = alias[t];
  if (!task) {
    throw new TritonError(
      'INVALID_CONFIG',
      `${where} task '${value}' is not one of ${TASKS.join(', ')}; fix the value or remove it`,
    );
  }
  return task;
}

function parseFamily(value: string, where: string): Family {
  const f = value.trim().toLowerCase();
  const alias: Record<string, Family> = {
    yolov8: 'yolov8',
    yolo11: 'yolov8',
    yolov11: 'yolov8',
    yolov5: 'yolov5',
    yolox: 'yolox',
    classifier: 'classifier',
  };
  const family = alias[f];
  if (!family) {
    throw new TritonError(
      'INVALID_CONFIG',
      `${where} family '${value}' is not one of yolov5, yolov8, yolo11, yolox, classifier; fix the value or remove it`,
    );
  }
  return family;
}

/**
 * Label names from a config parameter: 'coco80', 'imagenet1000', or names separated by
 * commas or newlines. Never evaluated as code.
 */
export function parseLabels(value: string): string[] {
  const v = value.trim();
  if (v.toLowerCase() === 'coco80') return [...COCO80];
  if (v.toLowerCase() === 'imagenet1000') return [...IMAGENET1000];
  return v
    .split(/[,\n\r]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function parseInputSize(value: string, model: string): [number, number] {
  const parts = value
    .trim()
    .split(/[x×, ]+/i)
    .map((s) => Number(s));
  const ok = (n: number | undefined): n is number => Number.isInteger(n) && n! >= 32 && n! <= 8192;
  if (parts.length === 1 && ok(parts[0])) return [parts[0], parts[0]];
  if (parts.length === 2 && ok(parts[0]) && ok(parts[1])) return [parts[0], parts[1]];
  throw new TritonError(
    'INVALID_CONFIG',
    `Model '${model}' has input_size '${value}'; write a side in pixels (640) or width x height (640x480), between 32 and 8192`,
    { model },
  );
}

interface NameHint {
  task?: Task;
  family?: Family;
}

/** Reads the seed's `<Task>_<Dataset>_<Arch>_<Backend>` naming, and YOLO names anywhere. */
function nameHint(name: string): NameHint {
  const hint: NameHint = {};
  const lower = name.toLowerCase();
  const first = lower.split('_')[0];
  if (first === 'detect') hint.task = 'detect';
  else if (first === 'segment') hint.task = 'segment';
  else if (first === 'classify') hint.task = 'classify';
  if (lower.includes('yolox')) hint.family = 'yolox';
  else if (lower.includes('yolov5')) hint.family = 'yolov5';
  else if (/yolo(v8|11|v11)/.test(lower)) hint.family = 'yolov8';
  return hint;
}

function backendOf(name: string, platform: string, backend: string): string {
  for (const p of [platform, backend]) {
    if (p === 'onnxruntime_onnx' || p === 'onnxruntime') return 'onnx';
    if (p === 'tensorrt_plan' || p === 'tensorrt') return 'tensorrt';
  }
  if (/_onnx$/i.test(name)) return 'onnx';
  if (/_(trt|tensorrt)$/i.test(name)) return 'tensorrt';
  return platform || backend || 'unknown';
}

function newestVersion(versions: readonly string[]): string {
  let best = '';
  for (const v of versions) {
    if (best === '' || Number(v) > Number(best)) best = v;
  }
  return best;
}

function param(config: ModelConfig | undefined, key: string): string | undefined {
  const v = config?.parameters?.[key]?.string_value;
  return v === undefined || v.trim() === '' ? undefined : v;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

interface HeadLayout {
  family: Family;
  numClasses: number;
}

/**
 * Reads a detection head core shape [a, b] (batch dimension removed) as either
 * channel-first YOLOv8 [4+nc+nm, anchors] or row-per-anchor YOLOv5/YOLOX [anchors, 5+nc+nm].
 * Returns undefined when the shape fits neither.
 */
function readHead(
  head: readonly number[],
  numMasks: number,
  width: number,
  height: number,
  forced: Family | undefined,
  hinted: Family | undefined,
): HeadLayout | undefined {
  const [a, b] = head as [number, number];
  const anchors = anchorCount(width, height);
  const v8 = (): HeadLayout | undefined =>
    a - 4 - numMasks >= 1 ? { family: 'yolov8', numClasses: a - 4 - numMasks } : undefined;
  const rows = (family: Family): HeadLayout | undefined =>
    b - 5 - numMasks >= 1 ? { family, numClasses: b - 5 - numMasks } : undefined;

  if (forced === 'yolov8') return v8();
  if (forced === 'yolov5') return rows('yolov5');
  if (forced === 'yolox') return a === -1 || a === anchors ? rows('yolox') : undefined;

  if (a > 0 && b === anchors) return v8();
  if (a > 0 && b === -1) return v8();
  if (a === 3 * anchors) return rows('yolov5');
  if (a === anchors) return rows(hinted === 'yolov5' ? 'yolov5' : 'yolox');
  if (a === -1 && b > 0) return rows(hinted === 'yolox' ? 'yolox' : 'yolov5');
  // An end-to-end export ([300, 6]: boxes after NMS) is not a raw head; everything else with
  // many more columns than rows is a channel-first head at other strides (P2/P6 variants).
  if (a > 0 && b > a && hinted !== 'yolov5' && hinted !== 'yolox') return v8();
  if (hinted === 'yolov5' && a > b) return rows('yolov5');
  return undefined;
}

function expectedSentence(task: Task): string {
  switch (task) {
    case 'classify':
      return 'a classify model needs one output shaped [1, classes] or [1, classes, 1, 1]';
    case 'segment':
      return 'a segment model needs two outputs: detections [1, 4+classes+masks, anchors] and prototypes [1, masks, H/4, W/4]';
    case 'detect':
    default:
      return 'a detect model needs one output shaped [1, 4+classes, anchors] (YOLOv8) or [1, anchors, 5+classes] (YOLOv5/YOLOX)';
  }
}

/**
 * Derives a model profile from the server's description of a model.
 *
 * @param metadata KServe v2 model metadata (shapes with -1 for variable dimensions).
 * @param config   Triton model config (JSON shape), or undefined when the server has none.
 * @param overrides Caller's choices, which beat everything the server says.
 * @throws TritonError UNSUPPORTED_MODEL when the tensors fit no supported layout (the message
 *   names what was expected and what the model has), INVALID_CONFIG for unusable config
 *   parameters, INVALID_OPTION for unusable overrides.
 */
export function deriveProfile(
  metadata: ModelMetadata,
  config: ModelConfig | undefined,
  overrides: ProfileOverrides = {},
): ModelProfile {
  const model = metadata.name || config?.name || 'model';
  const details = { model };
  const hint = nameHint(model);

  // ---- explicit choices ----
  const paramTask = param(config, 'task');
  const paramFamily = param(config, 'family');
  let forcedTask: Task | undefined = overrides.task;
  if (forcedTask === undefined && paramTask !== undefined) {
    forcedTask = parseTask(paramTask, `Model '${model}' config parameter`);
  }
  let forcedFamily: Family | undefined;
  if (overrides.family !== undefined) forcedFamily = parseFamily(overrides.family, 'Option');
  else if (paramFamily !== undefined) {
    forcedFamily = parseFamily(paramFamily, `Model '${model}' config parameter`);
  }
  if (forcedFamily === 'classifier' && forcedTask === undefined) forcedTask = 'classify';

  // ---- input ----
  if (metadata.inputs.length !== 1) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' has ${metadata.inputs.length} inputs (${metadata.inputs.map((i) => i.name).join(', ') || 'none'}); a vision model needs exactly one image input shaped [1, 3, H, W] or [1, H, W, 3]`,
      details,
    );
  }
  const inMeta = metadata.inputs[0]!;
  const inConfig = config?.input.find((i) => i.name === inMeta.name) ?? config?.input[0];
  const datatype = bareType(String(inMeta.datatype || inConfig?.data_type || ''));
  if (!(INPUT_TYPES as readonly string[]).includes(datatype)) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' input '${inMeta.name}' is ${datatype || 'of unknown type'}; an image input must be FP32, FP16 or UINT8`,
      details,
    );
  }
  const inShape = inMeta.shape.map(Number);
  if (inShape.length !== 3 && inShape.length !== 4) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' input '${inMeta.name}' is shaped ${fmt(inShape)}; an image input needs [1, 3, H, W], [1, H, W, 3] or the same without the batch dimension`,
      details,
    );
  }
  const hasBatch = inShape.length === 4;
  const chw = hasBatch ? inShape.slice(1) : inShape;
  let layout: 'NCHW' | 'NHWC';
  if (inConfig?.format === 'FORMAT_NHWC') layout = 'NHWC';
  else if (inConfig?.format === 'FORMAT_NCHW') layout = 'NCHW';
  else if (chw[0] === 3) layout = 'NCHW';
  else if (chw[2] === 3) layout = 'NHWC';
  else if (chw[0] === -1) layout = 'NCHW';
  else if (chw[2] === -1) layout = 'NHWC';
  else {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' input '${inMeta.name}' is shaped ${fmt(inShape)}; an image input needs 3 colour channels, first ([1, 3, H, W]) or last ([1, H, W, 3])`,
      details,
    );
  }
  const channels = layout === 'NCHW' ? chw[0]! : chw[2]!;
  if (channels !== 3 && channels !== -1) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' input '${inMeta.name}' has ${channels} channels; only 3-channel colour inputs are supported`,
      details,
    );
  }
  const dimH = layout === 'NCHW' ? chw[1]! : chw[0]!;
  const dimW = layout === 'NCHW' ? chw[2]! : chw[1]!;
  if (hasBatch && inShape[0] !== 1 && inShape[0] !== -1) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' input '${inMeta.name}' needs a batch of ${inShape[0]} images (${fmt(inShape)}); we send one image at a time, so export it with batch 1 or a dynamic batch`,
      details,
    );
  }

  // ---- outputs by role ----
  const outputs = metadata.outputs.map((o) => ({ name: o.name, shape: core(o.shape.map(Number)) }));
  // Boxes already through NMS on the server (nms-outputs.ts).
  const nmsLayout =
    forcedTask === undefined || forcedTask === 'detect'
      ? findNmsOutputs(metadata.outputs)
      : undefined;
  const classifierOut = outputs.filter((o) => isClassifierShape(o.shape));
  const heads = outputs.filter((o) => o.shape.length === 2);
  const protos = outputs.filter((o) => o.shape.length === 3 && !isClassifierShape(o.shape));

  let task: Task;
  if (forcedTask !== undefined) task = forcedTask;
  else if (nmsLayout) task = 'detect';
  else if (heads.length === 1 && protos.length === 1 && outputs.length === 2) task = 'segment';
  else if (heads.length === 1 && outputs.length === 1) task = 'detect';
  else if (classifierOut.length === 1 && outputs.length === 1) task = 'classify';
  else {
    const guess = hint.task ?? (outputs.length === 2 ? 'segment' : 'detect');
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Model '${model}' has outputs ${describeOutputs(metadata.outputs)}; ${expectedSentence(guess)}`,
      details,
    );
  }

  // A segment model can serve a detect node: boxes only, prototypes never requested.
  if (overrides.expectTask === 'detect' && task === 'segment' && forcedTask === undefined) {
    task = 'detect';
  }
  if (overrides.expectTask !== undefined && overrides.expectTask !== task) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `'${model}' is a ${task} model; pick a ${overrides.expectTask} model in this node`,
      details,
    );
  }

  // ---- input size (dynamic dims take the configured or customary size) ----
  let size: [number, number] | undefined;
  if (overrides.inputSize !== undefined) {
    const s = overrides.inputSize;
    size = Array.isArray(s) ? [s[0], s[1]] : [s, s];
    if (!size.every((n) => Number.isInteger(n) && n >= 32 && n <= 8192)) {
      throw new TritonError(
        'INVALID_OPTION',
        `Input size ${JSON.stringify(s)} is not usable; give a side in pixels (640) or [width, height], between 32 and 8192`,
        details,
      );
    }
  } else {
    const p = param(config, 'input_size');
    if (p !== undefined) size = parseInputSize(p, model);
  }
  const fallback = task === 'classify' ? 224 : 640;
  const width = dimW > 0 ? dimW : (size?.[0] ?? fallback);
  const height = dimH > 0 ? dimH : (size?.[1] ?? fallback);
  checkInputSize(width, height, model, overrides);

  // ---- family, classes, output names ----
  let family: Family;
  let numClasses: number;
  let numMasks = 0;
  const outputNames: ModelProfile['outputs'] = {};
  let outputsAreProbabilities: boolean | undefined;

  if (nmsLayout && task === 'detect') {
    // The class count is not in the tensors: the label list says it (COCO's 80 by default).
    const paramList = param(config, 'labels');
    family = forcedFamily === 'yolov5' || forcedFamily === 'yolox' ? forcedFamily : 'yolov8';
    numClasses =
      overrides.labels?.length ?? (paramList !== undefined ? parseLabels(paramList).length : 80);
    outputNames.nms = nmsLayout;
  } else if (task === 'classify') {
    const out = classifierOut.length === 1 ? classifierOut[0] : undefined;
    if (!out || outputs.length !== 1 || out.shape[0]! < 2) {
      throw new TritonError(
        'UNSUPPORTED_MODEL',
        `Model '${model}' has outputs ${describeOutputs(metadata.outputs)}; ${expectedSentence('classify')}`,
        details,
      );
    }
    family = 'classifier';
    numClasses = out.shape[0]!;
    outputNames.logits = out.name;
    const prob = param(config, 'outputs_are_probabilities') ?? param(config, 'probabilities');
    if (prob !== undefined ? truthy(prob) : /prob|softmax/i.test(out.name)) {
      outputsAreProbabilities = true;
    }
  } else {
    const head = heads.length === 1 ? heads[0] : undefined;
    const proto = protos.length === 1 ? protos[0] : undefined;
    const wantsProtos = task === 'segment';
    if (!head || (wantsProtos && !proto) || outputs.length > 2) {
      throw new TritonError(
        'UNSUPPORTED_MODEL',
        `Model '${model}' has outputs ${describeOutputs(metadata.outputs)}; ${expectedSentence(task)}`,
        details,
      );
    }
    if (proto) {
      numMasks = proto.shape[0]!;
      if (numMasks < 1) {
        throw new TritonError(
          'UNSUPPORTED_MODEL',
          `Model '${model}' prototypes ${proto.name} ${fmt(proto.shape)} have no fixed mask count; export with a fixed number of masks (32)`,
          details,
        );
      }
    }
    if (forcedFamily === 'classifier') {
      throw new TritonError(
        'INVALID_CONFIG',
        `Model '${model}' is configured as family 'classifier' but its outputs ${describeOutputs(metadata.outputs)} are a ${task} head; fix the family parameter`,
        details,
      );
    }
    const read = readHead(head.shape, numMasks, width, height, forcedFamily, hint.family);
    if (!read) {
      const anchors = anchorCount(width, height);
      throw new TritonError(
        'UNSUPPORTED_MODEL',
        `Model '${model}' has outputs ${describeOutputs(metadata.outputs)}; ${expectedSentence(task)}, with ${anchors} anchors (${3 * anchors} for YOLOv5) at ${width}x${height}`,
        details,
      );
    }
    family = read.family;
    numClasses = read.numClasses;
    outputNames.detections = head.name;
    if (task === 'segment' && proto) outputNames.prototypes = proto.name;
  }

  // ---- output types: scores, boxes and mask logits must be floats ----
  for (const [role, name] of Object.entries(outputNames)) {
    const meta = metadata.outputs.find((o) => o.name === name);
    const dt = bareType(String(meta?.datatype ?? ''));
    if (dt !== '' && !(OUTPUT_TYPES as readonly string[]).includes(dt)) {
      throw new TritonError(
        'UNSUPPORTED_MODEL',
        `Model '${model}' output '${name}' (${role === 'logits' ? 'class scores' : role}) is ${dt}; it must be FP32 or FP16: export the model with float outputs (quantised models keep float I/O)`,
        details,
      );
    }
  }

  // ---- labels ----
  let labels: string[];
  const paramLabels = param(config, 'labels');
  if (overrides.labels !== undefined) {
    labels = overrides.labels.map(String);
    if (labels.length !== numClasses) {
      throw new TritonError(
        'INVALID_OPTION',
        `Model '${model}' has ${numClasses} classes but the label list has ${labels.length} names; give exactly one name per class`,
        details,
      );
    }
  } else if (paramLabels !== undefined) {
    labels = parseLabels(paramLabels);
    if (labels.length !== numClasses) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Model '${model}' has ${numClasses} classes but its labels parameter has ${labels.length} names; give exactly one name per class (or coco80 / imagenet1000)`,
        details,
      );
    }
  } else if (numClasses === 80 && task !== 'classify') labels = [...COCO80];
  else if (numClasses === 1000) labels = [...IMAGENET1000];
  else labels = Array.from({ length: numClasses }, (_, i) => `class_${i}`);

  // ---- preprocessing ----
  let preprocess: Preprocess;
  if (task === 'classify') {
    const crop = Math.min(width, height);
    const resizeParam = param(config, 'resize');
    const resize = resizeParam !== undefined ? Number(resizeParam) : Math.round((crop * 256) / 224);
    if (!Number.isInteger(resize) || resize < crop) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Model '${model}' has resize '${resizeParam}'; it must be a whole number of pixels no smaller than the ${crop}-pixel crop`,
        details,
      );
    }
    const presetParam = param(config, 'preprocess');
    let preset: ClassifyPreset = 'torchvision';
    if (presetParam !== undefined) {
      const p = presetParam.trim().toLowerCase();
      if (!(CLASSIFY_PRESETS as readonly string[]).includes(p)) {
        throw new TritonError(
          'INVALID_CONFIG',
          `Model '${model}' has preprocess '${presetParam}'; use ${CLASSIFY_PRESETS.map((x) => `'${x}'`).join(' or ')}`,
          details,
        );
      }
      preset = p as ClassifyPreset;
    }
    const interp = param(config, 'interpolation')?.toLowerCase();
    preprocess = {
      kind: 'imagenet',
      preset,
      resize,
      crop,
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
      interpolation: interp === 'bilinear' || interp === 'bicubic' ? interp : PRESET_FILTER[preset],
      colour: param(config, 'colour')?.toUpperCase() === 'BGR' ? 'BGR' : 'RGB',
    };
  } else if (family === 'yolox') {
    preprocess = { kind: 'letterbox', centred: false, padValue: 114, colour: 'BGR', scale: 1 };
  } else {
    preprocess = { kind: 'letterbox', centred: true, padValue: 114, colour: 'RGB', scale: 1 / 255 };
  }

  // ---- shape to send ----
  const dims = layout === 'NCHW' ? [3, height, width] : [height, width, 3];
  const platform = config?.platform || metadata.platform || config?.backend || '';
  const profile: ModelProfile = {
    model,
    version: newestVersion(metadata.versions ?? []),
    task,
    family,
    backend: backendOf(model, config?.platform || metadata.platform || '', config?.backend || ''),
    platform,
    input: {
      name: inMeta.name,
      datatype: datatype as DataType,
      layout,
      width,
      height,
      shape: hasBatch ? [1, ...dims] : dims,
    },
    outputs: outputNames,
    numClasses,
    numMasks,
    labels,
    preprocess,
  };
  if (outputsAreProbabilities) profile.outputsAreProbabilities = true;
  return profile;
}
