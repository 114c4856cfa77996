/**
 * The one path from an image to a result: profile (cached per model and
 * version) + pre-processing + inference + post-processing, with per-stage
 * timings. Nodes, the CLI and the benchmarks all call this; nothing else
 * duplicates it. runTask = prepareTask (profile, decode, model input) then finishTask
 * (request, post-processing), so a caller can prepare the next image while a request
 * is at the server.
 */
import { TritonError, isTritonError } from '../protocol/errors';
import type { CallOptions, InferenceClient, ModelConfig, Tensor } from '../protocol/types';
import { annotate } from './annotate';
import { classify } from './classify';
import { decodeDetectionsSliced } from './detect';
import { TensorPool, prepareInput } from './image';
import type { IccMode, PreparedInput, ResizeMode } from './image';
import { deriveProfile, withPreset } from './profile';
import { decodeNmsOutputs, nmsOutputNames } from './nms-outputs';
import { decodeSegments } from './segment';
import { RequestGatherer, modelMaxBatch } from './batch';
import type {
  ClassifyPreset,
  Classification,
  ClassifyOptions,
  Detection,
  Family,
  ImageInput,
  ModelProfile,
  SegmentOptions,
  Task,
} from './types';

export interface ProfileOptions {
  /** The task the caller needs; a model of another task fails with UNSUPPORTED_MODEL. */
  expectTask?: Task;
  /** Label list that replaces the model's. */
  labels?: string[];
  cache?: ProfileCache;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface TaskOptions extends SegmentOptions, ClassifyOptions, ProfileOptions {
  /** Model version ('' or undefined = the server's choice, normally the latest). */
  version?: string;
  /** Also draw the result onto the image (result.annotated). */
  annotate?: boolean;
  annotateFormat?: 'jpeg' | 'png';
  /** Largest image accepted, in pixels (default 50 MP). */
  maxPixels?: number;
  /**
   * 'exact' (default): full decode and the reference's resize bit for bit (cv2.resize
   * INTER_LINEAR for YOLO letterboxes, Pillow for classifiers). 'fast': libvips
   * shrink-on-load + its own reduce (cheaper on big photos, measured deviation in the README).
   */
  resize?: ResizeMode;
  /** Embedded ICC profile: 'ignore' (default, as cv2.imread / PIL) or 'apply' (to sRGB). */
  icc?: IccMode;
  /**
   * Classification pre-processing preset, overriding the model's config parameter
   * `preprocess`: 'torchvision' or 'onnx-zoo'. Ignored for detect / segment models.
   */
  preprocess?: ClassifyPreset;
}

export interface TaskTimings {
  decodeMs: number;
  preprocessMs: number;
  inferMs: number;
  postprocessMs: number;
  totalMs: number;
}

export interface TaskResult {
  task: Task;
  detections?: Detection[];
  classes?: Classification[];
  image: { width: number; height: number };
  model: { name: string; version: string; backend: string; family: Family };
  timings: TaskTimings;
  annotated?: Buffer;
}

/**
 * Model profiles keyed by client + model + version. One cache per config node
 * (per client), so a redeploy that makes a new client starts fresh.
 */
export class ProfileCache {
  private readonly entries = new Map<string, Promise<ModelProfile>>();

  get(key: string, make: () => Promise<ModelProfile>): Promise<ModelProfile> {
    const hit = this.entries.get(key);
    if (hit) return hit;
    const p = make();
    this.entries.set(key, p);
    // A failed lookup (server down, model not loaded yet) must not stick.
    p.catch(() => {
      if (this.entries.get(key) === p) this.entries.delete(key);
    });
    return p;
  }

  /** Forget one model (every version), or everything. */
  invalidate(model?: string): void {
    if (model === undefined) {
      this.entries.clear();
      return;
    }
    for (const key of [...this.entries.keys()]) {
      if (key.startsWith(`${model}@`)) this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

function callOptions(o: { timeoutMs?: number; signal?: AbortSignal }): CallOptions {
  const c: CallOptions = {};
  if (o.timeoutMs !== undefined) c.timeoutMs = o.timeoutMs;
  if (o.signal !== undefined) c.signal = o.signal;
  return c;
}

/** Metadata + config → profile. A server without the config extension still works. */
export async function resolveProfile(
  client: InferenceClient,
  model: string,
  version = '',
  opts: ProfileOptions = {},
): Promise<ModelProfile> {
  const make = async (): Promise<ModelProfile> => {
    const co = callOptions(opts);
    const [metadata, config] = await Promise.all([
      client.modelMetadata(model, version || undefined, co),
      client
        .modelConfig(model, version || undefined, co)
        .catch((err: unknown): ModelConfig | undefined => {
          if (isTritonError(err) && err.code === 'UNSUPPORTED') return undefined;
          throw err;
        }),
    ]);
    const profile = deriveProfile(metadata, config, {
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.expectTask ? { expectTask: opts.expectTask } : {}),
    });
    // The version we will actually talk to: the requested one or the newest listed.
    if (version) profile.version = version;
    return profile;
  };
  // The expected task is part of the key: a segment model used by a detect node gets a
  // detect profile (boxes only), and the same model in a segment node a segment profile.
  const key = `${model}@${version}#${opts.expectTask ?? ''}`;
  return opts.cache ? opts.cache.get(key, make) : make();
}

function findOutput(outputs: Tensor[], name: string | undefined, model: string): Tensor {
  const t = name === undefined ? undefined : outputs.find((o) => o.name === name);
  if (!t) {
    throw new TritonError(
      'PROTOCOL_ERROR',
      `Model '${model}' answered without its output '${name ?? '?'}' (got ${outputs.map((o) => o.name).join(', ') || 'nothing'})`,
      { model },
    );
  }
  return t;
}

function asFloat32(t: Tensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) {
    return Float32Array.from(t.data, (v) => Number(v));
  }
  return Float32Array.from(t.data as ArrayLike<number>);
}

/**
 * Input tensors reused across images (one 640×640 FP32 tensor is 4.9 MB of fresh pages
 * otherwise). A tensor goes back only after its infer() succeeded: gRPC has serialised it
 * into its own message by then, and the HTTP client (which writes the tensor's memory to
 * the socket without copying) has a complete reply, which a server sends only after reading
 * the whole request. After a failure (a timeout may leave a request still sending) the
 * tensor is simply dropped.
 */
const tensorPool = new TensorPool();

/**
 * An image made ready for a model (the first half of runTask): its profile and its input
 * tensor, which holds pooled memory until finishTask sends it or release() gives it back.
 */
export class PreparedTask {
  private owned = true;

  constructor(
    readonly model: string,
    readonly profile: ModelProfile,
    readonly input: PreparedInput,
    /** The image as given (annotation draws on it). */
    readonly image: ImageInput,
    /** Time taken by prepareTask (profile lookup, decode, pre-processing). */
    readonly prepareMs: number,
  ) {}

  /**
   * Gives the input tensor back to the pool without sending it (a prepared image that will
   * not run: dropped, cancelled). Safe to call more than once; a no-op once finishTask took it.
   */
  release(): void {
    if (this.take()) tensorPool.release(this.input.tensor.buffer);
  }

  /** The tensor passes to the caller (finishTask): true the first time only. */
  take(): boolean {
    const had = this.owned;
    this.owned = false;
    return had;
  }
}

/**
 * Profile + decode + pre-processing: everything of runTask before the request, so a caller
 * can prepare the next image while an earlier request is at the server. The result is
 * handed to finishTask (which sends it) or released.
 */
export async function prepareTask(
  client: InferenceClient,
  model: string,
  image: ImageInput,
  options: TaskOptions = {},
): Promise<PreparedTask> {
  const t0 = performance.now();
  const profile = await resolveProfile(client, model, options.version ?? '', options);
  const preprocess = withPreset(profile.preprocess, options.preprocess);
  const input = await prepareInput(
    image,
    preprocess === profile.preprocess ? profile : { input: profile.input, preprocess },
    {
      ...(options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {}),
      ...(options.resize !== undefined ? { resize: options.resize } : {}),
      ...(options.icc !== undefined ? { icc: options.icc } : {}),
      tensorPool,
    },
  );
  return new PreparedTask(model, profile, input, image, performance.now() - t0);
}

/** Runs one image through a model: the single path every caller uses. */
export async function runTask(
  client: InferenceClient,
  model: string,
  image: ImageInput,
  options: TaskOptions = {},
): Promise<TaskResult> {
  return finishTask(client, await prepareTask(client, model, image, options), options);
}

/**
 * The second half of runTask: the inference request for a prepared image and the
 * post-processing of its reply. The prepared tensor is the request's from here on (back
 * to the pool after a reply, dropped after a failure); release() does nothing after this.
 */
export async function finishTask(
  client: InferenceClient,
  task: PreparedTask,
  options: TaskOptions = {},
): Promise<TaskResult> {
  // Preparing and finishing may be apart (the image prepared while another request ran):
  // the total counts the work of both, not the wait between them.
  const t0 = performance.now() - task.prepareMs;
  const { model, profile, image } = task;
  if (!task.take()) {
    throw new TritonError('INTERNAL', `A prepared image for model '${model}' was used twice`, {
      model,
    });
  }
  const prepared = task.input;
  const original = { width: prepared.width, height: prepared.height };

  const tInfer = performance.now();
  const wanted = [
    profile.outputs.detections,
    profile.outputs.prototypes,
    profile.outputs.logits,
    ...(profile.outputs.nms ? nmsOutputNames(profile.outputs.nms) : []),
  ].filter((n): n is string => typeof n === 'string');
  const response = await client.infer(
    {
      model,
      ...(options.version ? { version: options.version } : {}),
      inputs: [
        {
          name: profile.input.name,
          datatype: profile.input.datatype,
          shape: prepared.shape,
          data: prepared.tensor,
        },
      ],
      outputs: wanted.map((name) => ({ name })),
    },
    callOptions(options),
  );
  tensorPool.release(prepared.tensor.buffer);
  const inferMs = performance.now() - tInfer;

  const tPost = performance.now();
  const result: TaskResult = {
    task: profile.task,
    image: original,
    model: {
      name: model,
      version: response.version || profile.version,
      backend: profile.backend,
      family: profile.family,
    },
    timings: {
      decodeMs: prepared.decodeMs,
      preprocessMs: prepared.preprocessMs,
      inferMs,
      postprocessMs: 0,
      totalMs: 0,
    },
  };
  // Post-processing reads the outputs into plain results; their memory then goes back to
  // the client for the next reply (client/buffer-pool.ts), also when it fails.
  try {
    if (profile.task === 'classify') {
      const logits = findOutput(response.outputs, profile.outputs.logits, model);
      result.classes = classify(asFloat32(logits), profile, options);
    } else if (profile.outputs.nms && prepared.letterbox) {
      result.detections = decodeNmsOutputs(
        response.outputs,
        profile.outputs.nms,
        profile,
        prepared.letterbox,
        original,
        options,
      );
    } else {
      const det = findOutput(response.outputs, profile.outputs.detections, model);
      const geometry = prepared.letterbox;
      if (!geometry) {
        throw new TritonError(
          'INTERNAL',
          `No letterbox geometry for ${profile.task} model '${model}'`,
        );
      }
      if (profile.task === 'segment') {
        const protos = findOutput(response.outputs, profile.outputs.prototypes, model);
        result.detections = await decodeSegments(
          { data: asFloat32(det), shape: det.shape },
          { data: asFloat32(protos), shape: protos.shape },
          profile,
          geometry,
          original,
          options,
        );
      } else {
        result.detections = await decodeDetectionsSliced(
          { data: asFloat32(det), shape: det.shape },
          profile,
          geometry,
          original,
          options,
        );
      }
    }
    result.timings.postprocessMs = performance.now() - tPost;
  } finally {
    response.release?.();
  }
  if (options.annotate) {
    result.annotated = await annotate(
      image,
      {
        ...(result.detections ? { detections: result.detections } : {}),
        ...(result.classes ? { classes: result.classes } : {}),
      },
      { format: options.annotateFormat ?? 'jpeg' },
    );
  }
  result.timings.totalMs = performance.now() - t0;
  return result;
}

export interface BatchTaskOptions extends TaskOptions {
  /**
   * Largest batch sent in one request; the model's max_batch_size when unset, and never
   * above it. 0 or 1: one request per image.
   */
  maxBatch?: number;
}

/**
 * Runs several images through a model with as few requests as the model allows: one
 * batched request when its max_batch_size takes them all, several when it is smaller,
 * one per image when the model has no batch dimension. Results come back per image, in
 * order, identical to runTask on each image (the same pre- and post-processing run on
 * each; only the inference requests are joined). Each result's inferMs is the wait for
 * its batch. Images are prepared one batch at a time, so a long list never holds more
 * than one batch of input tensors. Every image settles on its own: a bad image fails
 * alone, the others still go out batched.
 */
export async function runTaskBatchSettled(
  client: InferenceClient,
  model: string,
  images: readonly ImageInput[],
  options: BatchTaskOptions = {},
): Promise<PromiseSettledResult<TaskResult>[]> {
  if (!Array.isArray(images) || images.length === 0) {
    throw new TritonError(
      'INVALID_INPUT',
      'A batch needs a non-empty array of images (Buffers of JPEG/PNG/WebP or raw pixel objects)',
      { model },
    );
  }
  const { maxBatch: wanted, ...taskOptions } = options;
  if (wanted !== undefined && !(Number.isInteger(wanted) && wanted >= 0)) {
    throw new TritonError(
      'INVALID_OPTION',
      `maxBatch must be a whole number ≥ 0, got ${String(wanted)}`,
      { model },
    );
  }
  const modelMax =
    images.length > 1 && wanted !== 0 && wanted !== 1
      ? await modelMaxBatch(client, model, options.version ?? '', callOptions(options))
      : 0;
  const maxBatch = wanted === undefined ? modelMax : Math.min(wanted, modelMax);
  // One profile for every image: the first run resolves it, the others wait for it.
  const cache = options.cache ?? new ProfileCache();
  const window = Math.max(maxBatch, 1);
  const settled: PromiseSettledResult<TaskResult>[] = [];
  for (let start = 0; start < images.length; start += window) {
    const slice = images.slice(start, start + window);
    const gatherer = new RequestGatherer(client, slice.length, maxBatch);
    const runs = slice.map((image, i) => {
      const view = gatherer.clientFor(i);
      return runTask(view, model, image, { ...taskOptions, cache }).catch((err: unknown) => {
        view.withdraw();
        throw err;
      });
    });
    settled.push(...(await Promise.allSettled(runs)));
  }
  return settled;
}

/**
 * runTaskBatchSettled for callers that want all or nothing: the results in order, or
 * the error of the first failing image once every image has finished.
 */
export async function runTaskBatch(
  client: InferenceClient,
  model: string,
  images: readonly ImageInput[],
  options: BatchTaskOptions = {},
): Promise<TaskResult[]> {
  const settled = await runTaskBatchSettled(client, model, images, options);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<TaskResult>).value);
}
