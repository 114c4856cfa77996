/**
 * The "no server" backend: a Triton model repository folder run in-process with
 * onnxruntime-node, behind the same InferenceClient surface as gRPC and HTTP. It is
 * also the engine behind `triton-vision-serve`, so its failures carry the codes a
 * KServe v2 server would answer with.
 *
 * Layout: `<repo>/<model>/config.pbtxt` (optional: auto-completed from the ONNX file
 * like Triton does) and `<repo>/<model>/<version>/model.onnx` (numeric version
 * folders; `version_policy` picks which are served, the latest one by default).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { version as PACKAGE_VERSION } from '../../package.json';
import { TritonError, isTritonError } from './errors';
import { modelConfigFromTree, parseTextProto, type PbMessage } from './pbtxt';
import { WorkerRuntime } from './local-worker';
import { configToDataType, float32ToHalf, halfToFloat32, validateTensor } from './tensor';
import type {
  CallOptions,
  ConfigDataType,
  DataType,
  InferRequest,
  InferResponse,
  InferenceClient,
  LocalClientOptions,
  ModelConfig,
  ModelConfigInput,
  ModelConfigOutput,
  ModelMetadata,
  ModelStatistics,
  RepositoryModel,
  ServerMetadata,
  StatisticDuration,
  Tensor,
  TensorData,
  TensorMetadata,
} from './types';

// ---- the slice of onnxruntime-node we use ------------------------------------------

export interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  /** Symbolic dimensions arrive as strings (e.g. "batch"). */
  shape?: readonly (number | string)[];
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Present in onnxruntime-node ≥ 1.21. */
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(
    feeds: Record<string, OrtTensor>,
    fetches?: readonly string[],
  ): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtRuntime {
  InferenceSession: {
    create(file: string, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
}

/** Options for tests and embedders; not part of the user-facing settings. */
export interface LocalClientInternalOptions extends LocalClientOptions {
  /**
   * Returns the onnxruntime-node module (default: `require('onnxruntime-node')`, done
   * lazily so the package works without the optional dependency).
   */
  loadRuntime?: () => OrtRuntime;
}

const RUNTIME_MISSING_TEXT =
  'Local mode needs onnxruntime-node, which is not installed: run `npm install onnxruntime-node` in your Node-RED user directory';

export const LOCAL_SERVER_NAME = 'triton-vision-serve';

/** Only what this backend really does (Triton's names). */
export const LOCAL_EXTENSIONS = [
  'model_repository',
  'model_configuration',
  'binary_tensor_data',
  'statistics',
];

const DEFAULT_TIMEOUT_MS = 30000;

/** Triton's default when auto-completing a model whose first dimension is variable. */
const AUTO_MAX_BATCH_SIZE = 4;

const ORT_TO_CONFIG: Record<string, ConfigDataType> = {
  float32: 'TYPE_FP32',
  float16: 'TYPE_FP16',
  float64: 'TYPE_FP64',
  int8: 'TYPE_INT8',
  uint8: 'TYPE_UINT8',
  int16: 'TYPE_INT16',
  uint16: 'TYPE_UINT16',
  int32: 'TYPE_INT32',
  uint32: 'TYPE_UINT32',
  int64: 'TYPE_INT64',
  uint64: 'TYPE_UINT64',
  bool: 'TYPE_BOOL',
  string: 'TYPE_STRING',
};

const DATATYPE_TO_ORT: Record<DataType, string> = {
  FP32: 'float32',
  FP16: 'float16',
  FP64: 'float64',
  INT8: 'int8',
  UINT8: 'uint8',
  INT16: 'int16',
  UINT16: 'uint16',
  INT32: 'int32',
  UINT32: 'uint32',
  INT64: 'int64',
  UINT64: 'uint64',
  BOOL: 'bool',
};

// ---- repository state ------------------------------------------------------------

type SlotState = 'READY' | 'UNAVAILABLE' | 'UNLOADING';

/** One served version of a model. */
interface VersionSlot {
  version: string;
  state: SlotState;
  reason?: string;
  failure?: TritonError;
  session?: OrtSession;
  /** Runs in progress on `session`; it is released only once this is back to 0. */
  inflight: number;
  drained?: () => void;
}

type ModelStatus = 'NEW' | 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADING' | 'UNLOADED';

interface ModelEntry {
  name: string;
  dir: string;
  status: ModelStatus;
  reason?: string;
  failure?: TritonError;
  config?: ModelConfig;
  /** Served versions, highest first. */
  slots: VersionSlot[];
  /** Numeric version folders found at the last load. */
  versionDirs: string[];
  /** Tail of this model's load/unload operations, which run one at a time. */
  op: Promise<void>;
}

interface StatsRecord {
  last_inference: number;
  inference_count: number;
  execution_count: number;
  success: StatisticDuration;
  fail: StatisticDuration;
  queue: StatisticDuration;
  compute_input: StatisticDuration;
  compute_infer: StatisticDuration;
  compute_output: StatisticDuration;
}

const zero = (): StatisticDuration => ({ count: 0, ns: 0 });
const newStats = (): StatsRecord => ({
  last_inference: 0,
  inference_count: 0,
  execution_count: 0,
  success: zero(),
  fail: zero(),
  queue: zero(),
  compute_input: zero(),
  compute_infer: zero(),
  compute_output: zero(),
});

function add(d: StatisticDuration, startNs: bigint, endNs = process.hrtime.bigint()): void {
  d.count += 1;
  d.ns += Number(endNs - startNs);
}

const shapeText = (s: readonly (number | string)[]): string => `[${s.join(',')}]`;

/**
 * Model names travel in URLs and requests: never let one climb out of the repository.
 * One path segment, not hidden: a `.hidden` folder is left out of the index and cannot be
 * loaded or served by name either (one rule for both).
 */
function isSafeName(name: unknown): name is string {
  return (
    typeof name === 'string' && name.length > 0 && !name.startsWith('.') && !/[/\\\0]/.test(name)
  );
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Full shape of a config tensor as clients see it: `[-1, ...dims]` when batching. */
function fullShape(cfg: ModelConfig, dims: readonly number[]): number[] {
  return cfg.max_batch_size > 0 ? [-1, ...dims] : [...dims];
}

function modelDims(meta: OrtValueMetadata): number[] {
  return (meta.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
}

/** Triton's rule: a fixed model dimension must be matched exactly; -1 in the model takes any. */
function dimsCompatible(model: readonly number[], config: readonly number[]): boolean {
  if (model.length !== config.length) return false;
  return model.every((m, i) => m === -1 || m === config[i]);
}

// ---- call deadlines ---------------------------------------------------------------

class Deadline {
  private readonly end: number;

  constructor(
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    private readonly what: string,
    private readonly details: { model?: string; endpoint: string },
  ) {
    this.end = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
  }

  timeoutError(): TritonError {
    return new TritonError(
      'TIMEOUT',
      `${this.what} did not finish within ${this.timeoutMs} ms (the call's deadline): allow more time (timeoutMs) or use a smaller model or input`,
      this.details,
    );
  }

  cancelError(): TritonError {
    return new TritonError('CANCELLED', `${this.what} was cancelled by the caller`, this.details);
  }

  /** Throws once the deadline has passed or the caller has aborted. */
  check(): void {
    if (this.signal?.aborted) throw this.cancelError();
    if (performance.now() >= this.end) throw this.timeoutError();
  }
}

/** Lets due timers and abort events run (a synchronous ORT run keeps them waiting). */
const yieldToTimers = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- the client ---------------------------------------------------------------------

/**
 * In-process KServe v2 backend over a Triton model repository.
 *
 * Options: `modelRepository` (required), `load` ('lazy', the default: a model loads on
 * its first use, and repositoryIndex counts as a use of every model; 'all': every model
 * loads at start and serverReady waits for it), `timeoutMs` (per-call deadline, default
 * 30000; 0 for none), `intraOpNumThreads` (default: onnxruntime's choice).
 *
 * onnxruntime-node runs a model synchronously on the calling thread, so models load and
 * run on worker threads (`workerThreads`, default 1) and the event loop stays free: a
 * deadline or abort settles the call at once, and the worker's result, when it comes,
 * is dropped. With `workerThreads: 0` a run holds the event loop, and a deadline or
 * abort that falls due meanwhile is honoured as soon as it returns. Concurrent calls
 * are safe: a session is released only once no run is using it.
 */
export class LocalClient implements InferenceClient {
  readonly kind = 'local' as const;
  readonly endpoint: string;

  private readonly repo: string;
  private readonly loadMode: 'lazy' | 'all';
  private readonly timeoutMs: number;
  private readonly sessionOptions: Record<string, unknown>;
  private readonly loadRuntime: () => OrtRuntime;
  private readonly workerThreads: number;
  private runtime: OrtRuntime | undefined;
  private pool: WorkerRuntime | undefined;
  private readonly models = new Map<string, ModelEntry>();
  private readonly stats = new Map<string, StatsRecord>();
  private repoError: TritonError | undefined;
  private readonly started: Promise<void>;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(options: LocalClientInternalOptions) {
    if (!options || typeof options.modelRepository !== 'string' || !options.modelRepository) {
      throw new TritonError(
        'INVALID_CONFIG',
        'Local mode needs modelRepository: the folder that holds <model>/config.pbtxt and <model>/<version>/model.onnx',
      );
    }
    if (options.load !== undefined && options.load !== 'lazy' && options.load !== 'all') {
      throw new TritonError(
        'INVALID_CONFIG',
        `load must be 'lazy' or 'all', not '${String(options.load)}'`,
      );
    }
    this.repo = path.resolve(options.modelRepository);
    this.endpoint = this.repo;
    this.loadMode = options.load ?? 'lazy';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.sessionOptions = {};
    if (options.intraOpNumThreads !== undefined && options.intraOpNumThreads > 0) {
      this.sessionOptions.intraOpNumThreads = options.intraOpNumThreads;
    }
    const threads = options.workerThreads ?? (options.loadRuntime ? 0 : 1);
    if (!Number.isInteger(threads) || threads < 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        `workerThreads must be a whole number (0 runs models on the main thread), not ${String(options.workerThreads)}`,
      );
    }
    this.workerThreads = threads;
    this.loadRuntime = options.loadRuntime ?? (() => require('onnxruntime-node') as OrtRuntime);
    // A repository that cannot be read makes every later call say so (never a rejection
    // nobody awaits).
    this.started = this.start().catch((err: unknown) => {
      this.repoError = this.asTritonError(err, { endpoint: this.repo });
    });
  }

  // ---- server ------------------------------------------------------------------------

  serverLive(opts?: CallOptions): Promise<boolean> {
    return this.call('Checking the server', undefined, opts, async () => true);
  }

  serverReady(opts?: CallOptions): Promise<boolean> {
    return this.call('Checking the server', undefined, opts, async () => {
      await this.started;
      return this.repoError === undefined;
    });
  }

  serverMetadata(opts?: CallOptions): Promise<ServerMetadata> {
    return this.call('Reading server metadata', undefined, opts, async () => ({
      name: LOCAL_SERVER_NAME,
      version: PACKAGE_VERSION,
      extensions: [...LOCAL_EXTENSIONS],
    }));
  }

  // ---- models ------------------------------------------------------------------------

  modelReady(model: string, version?: string, opts?: CallOptions): Promise<boolean> {
    return this.call(`Checking model '${model}'`, model, opts, async () => {
      await this.started;
      if (this.repoError || !isSafeName(model)) return false;
      const entry = await this.lookup(model);
      if (!entry) return false;
      await this.ensureLoaded(entry);
      try {
        this.servingSlot(entry, version);
        return true;
      } catch {
        return false;
      }
    });
  }

  modelMetadata(model: string, version?: string, opts?: CallOptions): Promise<ModelMetadata> {
    return this.call(`Reading metadata of model '${model}'`, model, opts, async () => {
      const entry = await this.readyEntry(model);
      this.servingSlot(entry, version);
      const cfg = entry.config!;
      const meta = (t: ModelConfigInput | ModelConfigOutput): TensorMetadata => ({
        name: t.name,
        datatype: configToDataType(t.data_type),
        shape: fullShape(cfg, t.dims),
      });
      return {
        name: entry.name,
        versions: entry.slots.filter((s) => s.state === 'READY').map((s) => s.version),
        platform: cfg.platform,
        inputs: cfg.input.map(meta),
        outputs: cfg.output.map(meta),
      };
    });
  }

  modelConfig(model: string, version?: string, opts?: CallOptions): Promise<ModelConfig> {
    return this.call(`Reading the config of model '${model}'`, model, opts, async () => {
      const entry = await this.readyEntry(model);
      this.servingSlot(entry, version);
      return structuredClone(entry.config!);
    });
  }

  repositoryIndex(opts?: CallOptions & { ready?: boolean }): Promise<RepositoryModel[]> {
    return this.call('Listing the model repository', undefined, opts, async () => {
      await this.started;
      await this.scan();
      const entries = [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name));
      // Lazy mode answers with real states: models nobody used yet are loaded now.
      for (const entry of entries) await this.ensureLoaded(entry);
      const rows: RepositoryModel[] = [];
      for (const entry of entries) {
        if (entry.slots.length) {
          for (const s of entry.slots) {
            const row: RepositoryModel = { name: entry.name, version: s.version, state: s.state };
            if (s.reason) row.reason = s.reason;
            rows.push(row);
          }
        } else {
          const state = entry.status === 'UNLOADED' ? 'UNAVAILABLE' : entry.status;
          const row: RepositoryModel = { name: entry.name, state };
          if (entry.reason) row.reason = entry.reason;
          rows.push(row);
        }
      }
      return opts?.ready ? rows.filter((r) => r.state === 'READY') : rows;
    });
  }

  loadModel(model: string, opts?: CallOptions): Promise<void> {
    return this.call(`Loading model '${model}'`, model, opts, async () => {
      const entry = await this.knownEntry(model);
      await this.enqueue(entry, () => this.load(entry));
      if (entry.status !== 'READY') throw entry.failure ?? this.unavailableError(entry);
    });
  }

  unloadModel(model: string, opts?: CallOptions): Promise<void> {
    return this.call(`Unloading model '${model}'`, model, opts, async () => {
      const entry = await this.knownEntry(model);
      await this.enqueue(entry, () => this.unload(entry));
    });
  }

  modelStatistics(
    model?: string,
    version?: string,
    opts?: CallOptions,
  ): Promise<ModelStatistics[]> {
    return this.call('Reading model statistics', model, opts, async () => {
      await this.started;
      if (this.repoError) throw this.repoError;
      let pairs: [string, string][];
      if (model) {
        const entry = await this.knownEntry(model);
        await this.ensureLoaded(entry);
        const served = entry.slots.map((s) => s.version);
        if (version) {
          if (!served.includes(version) && !this.stats.has(statsKey(model, version))) {
            throw new TritonError(
              'NOT_FOUND',
              `Model '${model}' has no version ${version} in ${this.repo}: its served versions are ${served.join(', ') || 'none'}`,
              { model, endpoint: this.repo },
            );
          }
          pairs = [[model, version]];
        } else {
          pairs = served.map((v) => [model, v]);
        }
      } else {
        pairs = [];
        for (const entry of [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name)))
          for (const s of entry.slots) if (s.state === 'READY') pairs.push([entry.name, s.version]);
      }
      return pairs.map(([name, v]) => {
        const r = this.stats.get(statsKey(name, v)) ?? newStats();
        return {
          name,
          version: v,
          last_inference: r.last_inference,
          inference_count: r.inference_count,
          execution_count: r.execution_count,
          inference_stats: structuredClone({
            success: r.success,
            fail: r.fail,
            queue: r.queue,
            compute_input: r.compute_input,
            compute_infer: r.compute_infer,
            compute_output: r.compute_output,
          }),
        };
      });
    });
  }

  // ---- inference -----------------------------------------------------------------------

  infer(request: InferRequest, opts?: CallOptions): Promise<InferResponse> {
    const model = request?.model;
    const arrived = process.hrtime.bigint();
    // Set once the request reaches a served version, so failures after that count.
    let record: StatsRecord | undefined;
    let batch = 1;
    const result = this.call(`Inference on model '${model}'`, model, opts, async (deadline) => {
      const entry = await this.readyEntry(model);
      const slot = this.servingSlot(entry, request.version);
      const cfg = entry.config!;
      record = this.statsFor(entry.name, slot.version);
      const plan = this.checkRequest(entry.name, cfg, request);
      batch = plan.batch;
      deadline.check();
      add(record.queue, arrived);
      return this.execute(entry.name, cfg, slot, record, plan, request, deadline);
    });
    const settled = result.then(
      (res) => {
        if (record) {
          add(record.success, arrived);
          record.inference_count += batch;
          record.last_inference = Date.now();
        }
        return res;
      },
      (err: unknown) => {
        if (record) add(record.fail, arrived);
        throw err;
      },
    );
    // close() lets requests already accepted finish before it frees the sessions.
    const tracked = settled.catch(() => undefined);
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
    return settled;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      await this.started;
      await Promise.all([...this.inflight]);
      const entries = [...this.models.values()];
      await Promise.all(entries.map((e) => e.op.catch(() => undefined)));
      for (const entry of entries) {
        const slots = entry.slots;
        entry.slots = [];
        entry.status = 'UNLOADED';
        entry.reason = 'client closed';
        await this.release(slots);
      }
      await this.pool?.close();
    })();
    return this.closing;
  }

  // ---- internals: calls ---------------------------------------------------------------

  /**
   * Runs one API call under its deadline and AbortSignal. Work that cannot be
   * interrupted (an ORT run) carries on in the background; its result is dropped.
   */
  private call<T>(
    what: string,
    model: string | undefined,
    opts: CallOptions | undefined,
    work: (deadline: Deadline) => Promise<T>,
  ): Promise<T> {
    const details = { endpoint: this.repo, ...(typeof model === 'string' ? { model } : {}) };
    if (this.closed) return Promise.reject(this.closedError(model));
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs;
    const deadline = new Deadline(timeoutMs, opts?.signal, what, details);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const signal = opts?.signal;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (finish()) reject(deadline.cancelError());
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          if (finish()) reject(deadline.timeoutError());
        }, timeoutMs);
      }
      let pending: Promise<T>;
      try {
        pending = work(deadline);
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        (value) => {
          if (finish()) resolve(value);
        },
        (err: unknown) => {
          if (finish()) reject(this.asTritonError(err, details));
        },
      );
    });
  }

  private closedError(model: unknown): TritonError {
    return new TritonError(
      'TRITON_UNAVAILABLE',
      `The local client for ${this.repo} is closed: create a new client to run models again`,
      { endpoint: this.repo, ...(typeof model === 'string' ? { model } : {}) },
    );
  }

  private asTritonError(err: unknown, details: { model?: string; endpoint: string }): TritonError {
    if (isTritonError(err)) return err;
    const text = err instanceof Error ? err.message : String(err);
    return new TritonError('INTERNAL', `Local backend failed: ${text}`, { ...details, cause: err });
  }

  // ---- internals: repository --------------------------------------------------------------

  private async start(): Promise<void> {
    if (!(await isDir(this.repo))) {
      this.repoError = new TritonError(
        'INVALID_CONFIG',
        `Model repository folder ${this.repo} does not exist or is not a folder: point modelRepository at a folder holding <model>/config.pbtxt and <model>/<version>/model.onnx`,
        { endpoint: this.repo },
      );
      return;
    }
    await this.scan();
    if (this.loadMode === 'all') {
      // One at a time: loading is CPU-bound and blocks the event loop anyway.
      for (const entry of this.models.values()) await this.ensureLoaded(entry);
    }
  }

  /** Adds model folders that appeared, forgets unloaded ones that vanished. */
  private async scan(): Promise<void> {
    if (this.repoError) throw this.repoError;
    let names: string[];
    try {
      const list = await fsp.readdir(this.repo, { withFileTypes: true });
      names = [];
      for (const d of list) {
        if (d.name.startsWith('.') || !isSafeName(d.name)) continue;
        if (d.isDirectory() || (d.isSymbolicLink() && (await isDir(path.join(this.repo, d.name)))))
          names.push(d.name);
      }
    } catch (err) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Cannot read the model repository ${this.repo}: ${(err as Error).message}`,
        { endpoint: this.repo, cause: err },
      );
    }
    const present = new Set(names);
    for (const [name, entry] of this.models) {
      if (!present.has(name) && entry.slots.length === 0 && entry.status !== 'LOADING') {
        this.models.delete(name);
      }
    }
    for (const name of names) if (!this.models.has(name)) this.addEntry(name);
  }

  private addEntry(name: string): ModelEntry {
    const entry: ModelEntry = {
      name,
      dir: path.join(this.repo, name),
      status: 'NEW',
      slots: [],
      versionDirs: [],
      op: Promise.resolve(),
    };
    this.models.set(name, entry);
    return entry;
  }

  /** The entry for `name`, picking up folders added since the last scan. */
  private async lookup(name: string): Promise<ModelEntry | undefined> {
    if (!isSafeName(name)) return undefined;
    const known = this.models.get(name);
    if (known) return known;
    if (await isDir(path.join(this.repo, name)))
      return this.models.get(name) ?? this.addEntry(name);
    return undefined;
  }

  private notFound(name: unknown): TritonError {
    return new TritonError(
      'NOT_FOUND',
      `Model '${String(name)}' is not in the model repository ${this.repo}: check the name, or add the folder ${String(name)}/ with its config.pbtxt and version folders`,
      { model: String(name), endpoint: this.repo },
    );
  }

  private async knownEntry(name: string): Promise<ModelEntry> {
    await this.started;
    if (this.repoError) throw this.repoError;
    const entry = await this.lookup(name);
    if (!entry) throw this.notFound(name);
    return entry;
  }

  /** An entry whose load has finished with at least one READY version. */
  private async readyEntry(name: string): Promise<ModelEntry> {
    const entry = await this.knownEntry(name);
    await this.ensureLoaded(entry);
    if (entry.status !== 'READY' || !entry.config) throw this.unavailableError(entry);
    return entry;
  }

  private unavailableError(entry: ModelEntry): TritonError {
    if (this.closed) return this.closedError(entry.name);
    if (entry.failure?.code === 'RUNTIME_MISSING') return entry.failure;
    const details = { model: entry.name, endpoint: this.repo };
    switch (entry.status) {
      case 'UNLOADED':
        return new TritonError(
          'MODEL_NOT_READY',
          `Model '${entry.name}' is not loaded in ${this.repo}: load it (repository load) before inferring`,
          details,
        );
      case 'UNLOADING':
        return new TritonError(
          'MODEL_NOT_READY',
          `Model '${entry.name}' is being unloaded: load it again before inferring`,
          details,
        );
      case 'LOADING':
      case 'NEW':
        return new TritonError(
          'MODEL_NOT_READY',
          `Model '${entry.name}' is still loading`,
          details,
        );
      default:
        return new TritonError(
          'MODEL_NOT_READY',
          `Model '${entry.name}' is not ready: ${entry.reason ?? 'it failed to load'}`,
          { ...details, ...(entry.failure ? { cause: entry.failure } : {}) },
        );
    }
  }

  /** Lazy mode's "first use": loads a model nobody has touched, waits for one loading. */
  private async ensureLoaded(entry: ModelEntry): Promise<void> {
    if (entry.status === 'NEW') {
      await this.enqueue(entry, () => this.load(entry));
    } else if (entry.status === 'LOADING' || entry.status === 'UNLOADING') {
      await entry.op;
    }
  }

  /** Runs load/unload operations of one model one after another. */
  private enqueue(entry: ModelEntry, op: () => Promise<void>): Promise<void> {
    const next = entry.op.then(op, op);
    entry.op = next.catch(() => undefined);
    return next;
  }

  /** The version a request is served by: the one asked for, or the highest READY one. */
  private servingSlot(entry: ModelEntry, version: string | undefined): VersionSlot {
    const details = { model: entry.name, endpoint: this.repo };
    if (version) {
      const slot = entry.slots.find((s) => s.version === version);
      if (!slot) {
        const served = entry.slots.map((s) => s.version).join(', ') || 'none';
        if (entry.versionDirs.includes(version)) {
          throw new TritonError(
            'MODEL_NOT_READY',
            `Version ${version} of model '${entry.name}' is not loaded (served: ${served}): pick a served version, or change version_policy in config.pbtxt and load the model again`,
            details,
          );
        }
        throw new TritonError(
          'NOT_FOUND',
          `Model '${entry.name}' has no version ${version} in ${this.repo} (served: ${served}): pick a served version`,
          details,
        );
      }
      if (slot.state !== 'READY') {
        throw new TritonError(
          'MODEL_NOT_READY',
          `Version ${version} of model '${entry.name}' is not ready: ${slot.reason ?? slot.state}`,
          details,
        );
      }
      return slot;
    }
    const slot = entry.slots.find((s) => s.state === 'READY');
    if (!slot) throw this.unavailableError(entry);
    return slot;
  }

  private getRuntime(): OrtRuntime {
    if (this.runtime) return this.runtime;
    let rt: OrtRuntime;
    try {
      rt = this.loadRuntime();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
      throw new TritonError(
        'RUNTIME_MISSING',
        missing
          ? RUNTIME_MISSING_TEXT
          : `onnxruntime-node is installed but failed to load (${(err as Error).message}): reinstall it with \`npm install onnxruntime-node\` in your Node-RED user directory`,
        { endpoint: this.repo, cause: err },
      );
    }
    if (!rt || typeof rt.InferenceSession?.create !== 'function' || !rt.Tensor) {
      throw new TritonError(
        'RUNTIME_MISSING',
        `${RUNTIME_MISSING_TEXT} (the module found does not look like onnxruntime-node)`,
        { endpoint: this.repo },
      );
    }
    if (this.workerThreads > 0) {
      // Loaded above on this thread too, so a missing or broken install is reported the
      // same way; the workers load the very same package file.
      let runtimePath: string;
      try {
        runtimePath = require.resolve('onnxruntime-node');
      } catch (err) {
        throw new TritonError('RUNTIME_MISSING', RUNTIME_MISSING_TEXT, {
          endpoint: this.repo,
          cause: err,
        });
      }
      this.pool = new WorkerRuntime(runtimePath, this.workerThreads);
      rt = this.pool;
    }
    this.runtime = rt;
    return rt;
  }

  // ---- internals: load / unload ------------------------------------------------------------

  /**
   * (Re)loads a model from disk. A reload that fails leaves an already served
   * model as it was, like Triton.
   */
  private async load(entry: ModelEntry): Promise<void> {
    const wasReady = entry.status === 'READY';
    if (!wasReady) {
      entry.status = 'LOADING';
      entry.reason = undefined;
    }
    let config: ModelConfig;
    let slots: VersionSlot[];
    try {
      ({ config, slots } = await this.prepare(entry));
    } catch (err) {
      const failure = this.asTritonError(err, { model: entry.name, endpoint: this.repo });
      if (wasReady) throw failure;
      const old = entry.slots;
      entry.slots = [];
      entry.status = 'UNAVAILABLE';
      entry.reason = failure.message;
      entry.failure = failure;
      entry.config = undefined;
      await this.release(old);
      return;
    }
    if (!slots.some((s) => s.state === 'READY')) {
      const first = slots.find((s) => s.failure);
      if (wasReady) {
        throw (
          first?.failure ?? new TritonError('INTERNAL', `Model '${entry.name}' failed to reload`)
        );
      }
      const old = entry.slots;
      entry.status = 'UNAVAILABLE';
      entry.reason = first?.reason ?? 'no version could be loaded';
      entry.failure = first?.failure;
      entry.config = config;
      entry.slots = slots;
      await this.release(old);
      return;
    }
    const old = entry.slots;
    entry.config = config;
    entry.slots = slots;
    entry.status = 'READY';
    entry.reason = undefined;
    entry.failure = undefined;
    await this.release(old);
  }

  private async unload(entry: ModelEntry): Promise<void> {
    const slots = entry.slots;
    entry.status = 'UNLOADING';
    for (const s of slots) {
      if (s.state === 'READY') s.state = 'UNLOADING';
    }
    await this.release(slots);
    entry.slots = [];
    entry.status = 'UNLOADED';
    entry.reason = 'unloaded';
    entry.failure = undefined;
  }

  /** Waits for each slot's runs to finish, then frees its ORT session. */
  private async release(slots: VersionSlot[]): Promise<void> {
    for (const s of slots) {
      if (s.state === 'READY') s.state = 'UNLOADING';
      if (s.inflight > 0) await new Promise<void>((resolve) => (s.drained = resolve));
      const session = s.session;
      s.session = undefined;
      s.state = 'UNAVAILABLE';
      s.reason = s.reason ?? 'unloaded';
      if (session) {
        try {
          await session.release();
        } catch {
          // A session that cannot be released is gone for us either way.
        }
      }
    }
  }

  private async readConfig(entry: ModelEntry): Promise<{ cfg: ModelConfig; tree?: PbMessage }> {
    const file = path.join(entry.dir, 'config.pbtxt');
    let text: string | undefined;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') {
        throw new TritonError('INVALID_CONFIG', `Cannot read ${file}: ${(err as Error).message}`, {
          model: entry.name,
          endpoint: this.repo,
          cause: err,
        });
      }
    }
    if (text === undefined) {
      // No config.pbtxt: everything is auto-completed from the ONNX file.
      return {
        cfg: {
          name: entry.name,
          platform: 'onnxruntime_onnx',
          backend: 'onnxruntime',
          max_batch_size: 0,
          input: [],
          output: [],
          version_policy: { latest: { num_versions: 1 } },
          default_model_filename: 'model.onnx',
        },
      };
    }
    const tree = parseTextProto(text, { file });
    const cfg = modelConfigFromTree(tree, { file, name: entry.name });
    if (cfg.name !== entry.name) {
      throw new TritonError(
        'INVALID_CONFIG',
        `${file} names the model '${cfg.name}' but its folder is '${entry.name}': make them equal`,
        { model: entry.name, endpoint: this.repo },
      );
    }
    if (!cfg.platform && !cfg.backend) {
      cfg.platform = 'onnxruntime_onnx';
      cfg.backend = 'onnxruntime';
      cfg.default_model_filename ??= 'model.onnx';
    }
    return { cfg, tree };
  }

  private async versionsToServe(entry: ModelEntry, cfg: ModelConfig): Promise<string[]> {
    const found: number[] = [];
    for (const d of await fsp.readdir(entry.dir, { withFileTypes: true })) {
      if (/^\d+$/.test(d.name) && (await isDir(path.join(entry.dir, d.name))))
        found.push(Number(d.name));
    }
    found.sort((a, b) => b - a);
    entry.versionDirs = found.map(String);
    const policy = cfg.version_policy ?? { latest: { num_versions: 1 } };
    let chosen: number[];
    if ('latest' in policy) chosen = found.slice(0, policy.latest.num_versions);
    else if ('all' in policy) chosen = found;
    else chosen = [...policy.specific.versions].sort((a, b) => b - a);
    if (chosen.length === 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Model '${entry.name}' has no version folder to serve: put the model file at ${path.join(entry.dir, '1', cfg.default_model_filename ?? 'model.onnx')}`,
        { model: entry.name, endpoint: this.repo },
      );
    }
    return chosen.map(String);
  }

  private async prepare(entry: ModelEntry): Promise<{ config: ModelConfig; slots: VersionSlot[] }> {
    if (!(await isDir(entry.dir))) throw this.notFound(entry.name);
    const { cfg, tree } = await this.readConfig(entry);
    const details = { model: entry.name, endpoint: this.repo };
    if (cfg.backend !== 'onnxruntime') {
      throw new TritonError(
        'UNSUPPORTED',
        `Model '${entry.name}' uses ${cfg.platform || cfg.backend}, but local mode runs ONNX models (platform onnxruntime_onnx) only: serve it with Triton`,
        details,
      );
    }
    const versions = await this.versionsToServe(entry, cfg);
    const rt = this.getRuntime();
    const filename = cfg.default_model_filename || 'model.onnx';
    const slots: VersionSlot[] = [];
    const fail = (version: string, failure: TritonError): void => {
      slots.push({ version, state: 'UNAVAILABLE', reason: failure.message, failure, inflight: 0 });
    };
    for (const version of versions) {
      let file = path.join(entry.dir, version, filename);
      // Triton also accepts a folder named model.onnx holding model.onnx (external weights).
      if (await isDir(file)) file = path.join(file, 'model.onnx');
      if (!(await exists(file))) {
        fail(
          version,
          new TritonError(
            'INVALID_CONFIG',
            `Model file ${file} is missing: export the model there (see models/triton/README.md)`,
            details,
          ),
        );
        continue;
      }
      try {
        const session = await rt.InferenceSession.create(file, { ...this.sessionOptions });
        slots.push({ version, state: 'READY', session, inflight: 0 });
      } catch (err) {
        fail(
          version,
          new TritonError(
            'INTERNAL',
            `onnxruntime could not load ${file}: ${(err as Error).message}`,
            { ...details, cause: err },
          ),
        );
      }
      if (this.closed) {
        await this.release(slots);
        throw this.closedError(entry.name);
      }
    }
    const loaded = slots.find((s) => s.session);
    if (loaded && (cfg.input.length === 0 || cfg.output.length === 0)) {
      autoComplete(cfg, loaded.session!, tree);
    }
    const configProblem = checkConfig(cfg);
    for (const slot of slots) {
      if (!slot.session) continue;
      const reason = configProblem ?? checkModelAgainstConfig(cfg, slot.session);
      if (reason) {
        await slot.session.release().catch(() => undefined);
        slot.session = undefined;
        slot.state = 'UNAVAILABLE';
        slot.failure = new TritonError(
          'INVALID_CONFIG',
          `Model '${entry.name}': ${reason}`,
          details,
        );
        slot.reason = slot.failure.message;
      }
    }
    return { config: cfg, slots };
  }

  private statsFor(model: string, version: string): StatsRecord {
    const key = statsKey(model, version);
    let r = this.stats.get(key);
    if (!r) {
      r = newStats();
      this.stats.set(key, r);
    }
    return r;
  }

  // ---- internals: requests ---------------------------------------------------------------

  /** Checks a request against the config (not the model: the config may be stricter). */
  private checkRequest(model: string, cfg: ModelConfig, req: InferRequest): RequestPlan {
    const details = { model, endpoint: this.repo };
    const bad = (msg: string): never => {
      throw new TritonError('INVALID_ARGUMENT', msg, details);
    };
    if (!req || !Array.isArray(req.inputs))
      bad(`The request for model '${model}' has no inputs list`);
    const byName = new Map(cfg.input.map((i) => [i.name, i]));
    const seen = new Set<string>();
    let batch: number | undefined;
    for (const t of req.inputs) {
      const spec = byName.get(t?.name);
      if (!spec) {
        bad(
          `Model '${model}' has no input named '${t?.name}': its inputs are ${cfg.input.map((i) => `'${i.name}'`).join(', ')}`,
        );
      }
      if (seen.has(t.name))
        bad(`Input '${t.name}' appears twice in the request for model '${model}'`);
      seen.add(t.name);
      const want = configToDataType(spec!.data_type);
      if (t.datatype !== want) {
        bad(
          `Input '${t.name}' of model '${model}' is ${want}, but the request sent ${String(t.datatype)}: convert the data to ${want}`,
        );
      }
      if (!Array.isArray(t.shape)) bad(`Input '${t.name}' has no shape`);
      const expected = fullShape(cfg, spec!.dims);
      if (cfg.max_batch_size > 0) {
        if (t.shape.length !== expected.length) {
          bad(
            `Input '${t.name}' of model '${model}' expects shape ${shapeText(expected)} with the batch size (1 to ${cfg.max_batch_size}) first, but the request sent ${shapeText(t.shape)}`,
          );
        }
        const b = t.shape[0]!;
        if (!Number.isInteger(b) || b < 1 || b > cfg.max_batch_size) {
          bad(
            `Model '${model}' accepts batches of 1 to ${cfg.max_batch_size}, but input '${t.name}' has a batch of ${b}: split the request`,
          );
        }
        if (batch !== undefined && b !== batch) {
          bad(
            `Inputs of model '${model}' must share one batch size, but '${t.name}' has ${b} where another input has ${batch}`,
          );
        }
        batch = b;
      }
      const matches =
        t.shape.length === expected.length &&
        expected.every((d, i) => d === -1 || d === t.shape[i]);
      if (!matches) {
        bad(
          `Input '${t.name}' of model '${model}' expects shape ${shapeText(expected)}, but the request sent ${shapeText(t.shape)}`,
        );
      }
      validateTensor(t);
    }
    for (const spec of cfg.input) {
      if (!seen.has(spec.name) && !spec.optional) {
        bad(
          `Model '${model}' needs input '${spec.name}' (${configToDataType(spec.data_type)} ${shapeText(fullShape(cfg, spec.dims))}), but the request does not include it`,
        );
      }
    }
    let outputs = cfg.output.map((o) => o.name);
    if (req.outputs !== undefined && req.outputs.length > 0) {
      const known = new Set(outputs);
      outputs = [];
      for (const o of req.outputs) {
        if (!known.has(o?.name)) {
          bad(
            `Model '${model}' has no output named '${o?.name}': its outputs are ${cfg.output.map((x) => `'${x.name}'`).join(', ')}`,
          );
        }
        if (outputs.includes(o.name)) bad(`Output '${o.name}' is requested twice`);
        outputs.push(o.name);
      }
    }
    return { batch: batch ?? 1, outputs };
  }

  private async execute(
    model: string,
    cfg: ModelConfig,
    slot: VersionSlot,
    record: StatsRecord,
    plan: RequestPlan,
    req: InferRequest,
    deadline: Deadline,
  ): Promise<InferResponse> {
    const rt = this.getRuntime();
    const session = slot.session!;
    slot.inflight++;
    try {
      let t = process.hrtime.bigint();
      const feeds: Record<string, OrtTensor> = {};
      const specs = new Map(cfg.input.map((i) => [i.name, i]));
      for (const input of req.inputs) {
        const spec = specs.get(input.name)!;
        let dims = input.shape;
        if (spec.reshape) {
          dims =
            cfg.max_batch_size > 0 ? [input.shape[0]!, ...spec.reshape.shape] : spec.reshape.shape;
        }
        feeds[input.name] = new rt.Tensor(DATATYPE_TO_ORT[input.datatype], toOrtData(input), dims);
      }
      add(record.compute_input, t);
      deadline.check();

      t = process.hrtime.bigint();
      let raw: Record<string, OrtTensor>;
      try {
        raw = await session.run(feeds, plan.outputs);
      } catch (err) {
        throw new TritonError(
          'INTERNAL',
          `onnxruntime failed to run model '${model}': ${(err as Error).message}`,
          { model, endpoint: this.repo, cause: err },
        );
      }
      add(record.compute_infer, t);
      record.execution_count += 1;
      // An in-process run held the event loop: let a deadline or abort that fell due
      // meanwhile win (on a worker, the call has already settled by then).
      if (!this.pool) await yieldToTimers();
      deadline.check();

      t = process.hrtime.bigint();
      const outSpecs = new Map(cfg.output.map((o) => [o.name, o]));
      const outputs = plan.outputs.map((name) =>
        fromOrt(name, raw[name], outSpecs.get(name)!, cfg, plan.batch, model),
      );
      add(record.compute_output, t);
      const res: InferResponse = { model, version: slot.version, outputs };
      if (req.id !== undefined) res.id = req.id;
      return res;
    } finally {
      slot.inflight--;
      if (slot.inflight === 0 && slot.drained) {
        const done = slot.drained;
        slot.drained = undefined;
        done();
      }
    }
  }
}

interface RequestPlan {
  batch: number;
  outputs: string[];
}

const statsKey = (model: string, version: string): string => `${model}\u0000${version}`;

/** Our tensor storage → what ORT wants for the same type (FP16 as raw half bits). */
function toOrtData(t: Tensor): TensorData {
  if (t.datatype === 'FP16') {
    return t.data instanceof Uint16Array ? t.data : float32ToHalf(t.data as Float32Array);
  }
  if (t.datatype === 'BOOL') {
    const b = t.data as Uint8Array;
    return b.some((v) => v > 1) ? Uint8Array.from(b, (v) => (v ? 1 : 0)) : b;
  }
  return t.data;
}

/**
 * ORT output → our Tensor. `value.dims` is the model's output shape; with a config
 * `reshape` the client sees the config's dims instead (batch first when batching).
 */
function fromOrt(
  name: string,
  value: OrtTensor | undefined,
  spec: ModelConfigOutput,
  cfg: ModelConfig,
  batch: number,
  model: string,
): Tensor {
  if (!value) {
    throw new TritonError(
      'INTERNAL',
      `onnxruntime returned no output '${name}' for model '${model}'`,
      {
        model,
      },
    );
  }
  const want = configToDataType(spec.data_type);
  if (want === 'BYTES' || want === 'BF16') {
    throw new TritonError(
      'UNSUPPORTED',
      `Output '${name}' of model '${model}' is ${want}, which this client does not carry`,
      { model },
    );
  }
  let data: TensorData;
  if (value.type === 'float16') {
    const src = value.data;
    data =
      src instanceof Uint16Array ? halfToFloat32(src) : Float32Array.from(src as ArrayLike<number>); // a native Float16Array
  } else {
    data = value.data as TensorData;
  }
  let shape = value.dims.map(Number);
  if (spec.reshape) {
    const n = shape.reduce((a, b) => a * b, 1);
    const dims = cfg.max_batch_size > 0 ? [batch, ...spec.dims] : [...spec.dims];
    const known = dims.reduce((a, d) => (d === -1 ? a : a * d), 1);
    const free = dims.filter((d) => d === -1).length;
    if (free === 0 && known === n) shape = dims;
    else if (free === 1 && known > 0 && n % known === 0)
      shape = dims.map((d) => (d === -1 ? n / known : d));
  }
  return { name, datatype: want, shape, data };
}

/** Fills missing inputs/outputs (and the batch size) from the ONNX file, as Triton does. */
function autoComplete(cfg: ModelConfig, session: OrtSession, tree: PbMessage | undefined): void {
  const ins = session.inputMetadata;
  const outs = session.outputMetadata;
  if (!ins || !outs) return; // old runtime: nothing to complete from
  const mbsGiven = tree?.fields.some((f) => f.name === 'max_batch_size') ?? false;
  const fillInputs = cfg.input.length === 0;
  const fillOutputs = cfg.output.length === 0;
  if (!mbsGiven && fillInputs && fillOutputs) {
    const all = [...ins, ...outs];
    const batchable =
      all.length > 0 &&
      all.every((m) => m.isTensor && modelDims(m).length > 0 && modelDims(m)[0] === -1);
    cfg.max_batch_size = batchable ? AUTO_MAX_BATCH_SIZE : 0;
  }
  const dimsFor = (m: OrtValueMetadata): number[] => {
    const d = modelDims(m);
    return cfg.max_batch_size > 0 ? d.slice(1) : d;
  };
  const typeOf = (m: OrtValueMetadata): ConfigDataType =>
    ORT_TO_CONFIG[m.type ?? ''] ?? 'TYPE_INVALID';
  if (fillInputs) {
    cfg.input = ins.map((m) => ({
      name: m.name,
      data_type: typeOf(m),
      format: 'FORMAT_NONE',
      dims: dimsFor(m),
    }));
  }
  if (fillOutputs) {
    cfg.output = outs.map((m) => ({ name: m.name, data_type: typeOf(m), dims: dimsFor(m) }));
  }
}

/** Problems in the config alone, before looking at the model. */
function checkConfig(cfg: ModelConfig): string | undefined {
  const names = new Set<string>();
  for (const t of [...cfg.input, ...cfg.output]) {
    if (names.has(t.name)) return `the tensor name '${t.name}' is used twice in config.pbtxt`;
    names.add(t.name);
    if (t.data_type === 'TYPE_INVALID') return `'${t.name}' has no data_type in config.pbtxt`;
    if (t.dims.some((d) => !Number.isInteger(d) || d < -1 || d === 0)) {
      return `'${t.name}' has dims ${shapeText(t.dims)} in config.pbtxt: each must be a positive size or -1`;
    }
  }
  if (cfg.input.length === 0)
    return 'config.pbtxt lists no input and none could be read from the model';
  if (cfg.output.length === 0)
    return 'config.pbtxt lists no output and none could be read from the model';
  return undefined;
}

/**
 * Compares config and model the way Triton's ORT backend does: the same input set,
 * every config output present, equal datatypes, and shapes where each fixed model
 * dimension is matched (max_batch_size > 0 also needs a variable first dimension).
 * Returns the disagreement as a sentence, or undefined.
 */
export function checkModelAgainstConfig(cfg: ModelConfig, session: OrtSession): string | undefined {
  const ins = session.inputMetadata;
  const outs = session.outputMetadata;
  if (!ins || !outs) {
    // Old runtime: names are all we can check.
    for (const i of cfg.input)
      if (!session.inputNames.includes(i.name)) return `the model has no input '${i.name}'`;
    for (const o of cfg.output)
      if (!session.outputNames.includes(o.name)) return `the model has no output '${o.name}'`;
    return undefined;
  }
  const compare = (
    kind: 'input' | 'output',
    spec: ModelConfigInput | ModelConfigOutput,
    meta: OrtValueMetadata,
  ): string | undefined => {
    const modelType =
      ORT_TO_CONFIG[meta.type ?? ''] ?? `an unsupported type (${String(meta.type)})`;
    if (modelType !== spec.data_type) {
      return `config.pbtxt says ${kind} '${spec.name}' is ${spec.data_type} but the ONNX model has ${modelType}: fix data_type`;
    }
    const shape = modelDims(meta);
    const configShape = fullShape(cfg, spec.reshape ? spec.reshape.shape : spec.dims);
    if (cfg.max_batch_size > 0 && (shape.length === 0 || shape[0] !== -1)) {
      return `max_batch_size is ${cfg.max_batch_size}, but ${kind} '${spec.name}' of the ONNX model has a fixed first dimension ${shapeText(meta.shape ?? [])}: set max_batch_size: 0 and put the batch size in dims, or export the model with a dynamic batch axis`;
    }
    const compared = cfg.max_batch_size > 0 ? shape.slice(1) : shape;
    const wanted = cfg.max_batch_size > 0 ? configShape.slice(1) : configShape;
    if (!dimsCompatible(compared, wanted)) {
      return `config.pbtxt gives ${kind} '${spec.name}' the shape ${shapeText(configShape)}, but the ONNX model has ${shapeText(meta.shape ?? [])}: fix dims${cfg.max_batch_size > 0 ? ' (without the batch dimension)' : ' (including the batch dimension, since max_batch_size is 0)'}`;
    }
    return undefined;
  };
  const modelIns = new Map(ins.map((m) => [m.name, m]));
  for (const spec of cfg.input) {
    const meta = modelIns.get(spec.name);
    if (!meta) {
      return `config.pbtxt lists input '${spec.name}', which the ONNX model does not have (its inputs: ${ins.map((m) => m.name).join(', ')})`;
    }
    const problem = compare('input', spec, meta);
    if (problem) return problem;
  }
  const configIns = new Set(cfg.input.map((i) => i.name));
  const missing = ins.filter((m) => !configIns.has(m.name)).map((m) => m.name);
  if (missing.length) {
    return `the ONNX model needs input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}, which config.pbtxt does not list`;
  }
  const modelOuts = new Map(outs.map((m) => [m.name, m]));
  for (const spec of cfg.output) {
    const meta = modelOuts.get(spec.name);
    if (!meta) {
      return `config.pbtxt lists output '${spec.name}', which the ONNX model does not have (its outputs: ${outs.map((m) => m.name).join(', ')})`;
    }
    const problem = compare('output', spec, meta);
    if (problem) return problem;
  }
  return undefined;
}
