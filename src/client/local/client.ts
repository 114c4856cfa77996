/**
 * The "no server" backend: a Triton model repository folder run in-process with
 * onnxruntime, behind the same InferenceClient surface as gRPC and HTTP. It is also the
 * engine behind `triton-vision-serve`, so its failures carry the codes a KServe v2
 * server would answer with.
 *
 * Layout: `<repo>/<model>/config.pbtxt` (optional: auto-completed from the ONNX file
 * like Triton does) and `<repo>/<model>/<version>/model.onnx` (numeric version
 * folders; `version_policy` picks which are served, the latest one by default).
 *
 * This file is the client facade; the jobs behind it live beside it: repository.ts
 * (folders, configs, version policy), loader.ts (load/unload), runtime.ts and
 * worker-pool.ts (onnxruntime), requests.ts (request checks), statistics.ts,
 * config.ts (config auto-complete and checks), calls.ts (deadlines), ort.ts.
 */
import * as path from 'node:path';
import { version as PACKAGE_VERSION } from '../../../package.json';
import { TritonError } from '../../protocol/errors';
import { configToDataType } from '../../protocol/tensor';
import type {
  CallOptions,
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
  TensorMetadata,
} from '../../protocol/types';
import { Deadline, asTritonError, runCall, yieldToTimers } from './calls';
import { fullShape } from './config';
import { ModelLoader } from './loader';
import { DATATYPE_TO_ORT, fromOrt, toOrtData, type OrtRuntime, type OrtTensor } from './ort';
import { isDir, isSafeName, Repository, type ModelEntry, type VersionSlot } from './repository';
import { checkRequest, type RequestPlan } from './requests';
import {
  loadRuntime,
  runtimeChoice,
  type LoadedRuntime,
  type RuntimeChoice,
  type RuntimeInfo,
} from './runtime';
import {
  add,
  addFailure,
  failureReason,
  Statistics,
  type ModelStatisticsWithReasons,
  type RequestPhase,
  type StatsRecord,
} from './statistics';

/** Options for tests and embedders; not part of the user-facing settings. */
export interface LocalClientInternalOptions extends LocalClientOptions {
  /**
   * Which onnxruntime runs the models: 'auto' (the default: onnxruntime-node when it is
   * installed, else onnxruntime-web's WebAssembly build), 'node' or 'wasm'. Unset, the
   * TRITON_VISION_RUNTIME environment variable decides (see runtime.ts).
   */
  runtime?: string;
  /** Hands over an onnxruntime module to use instead (tests); runs in-process by default. */
  loadRuntime?: () => OrtRuntime;
}

export const LOCAL_SERVER_NAME = 'triton-vision-serve';

/** Only what this backend really does (Triton's names). */
export const LOCAL_EXTENSIONS = [
  'model_repository',
  'model_configuration',
  'binary_tensor_data',
  'statistics',
];

const DEFAULT_TIMEOUT_MS = 30000;

/**
 * In-process KServe v2 backend over a Triton model repository.
 *
 * Options: `modelRepository` (required), `load` ('lazy', the default: a model loads on
 * its first use, and repositoryIndex counts as a use of every model; 'all': every model
 * loads at start and serverReady waits for it), `timeoutMs` (per-call deadline, default
 * 30000; 0 for none), `intraOpNumThreads` (default: onnxruntime's choice; for the
 * WebAssembly runtime half the cores, at most 4), `runtime` (see runtime.ts).
 *
 * onnxruntime runs a model synchronously on the calling thread, so models load and
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
  private readonly choice: RuntimeChoice;
  private readonly inject: (() => OrtRuntime) | undefined;
  private readonly intraOpNumThreads: number | undefined;
  private readonly workerThreads: number;
  private loaded: LoadedRuntime | undefined;
  private readonly repository: Repository;
  private readonly loader: ModelLoader;
  private readonly stats = new Statistics();
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
    this.intraOpNumThreads = options.intraOpNumThreads;
    this.choice = runtimeChoice(options.runtime);
    const threads = options.workerThreads ?? (options.loadRuntime ? 0 : 1);
    if (!Number.isInteger(threads) || threads < 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        `workerThreads must be a whole number (0 runs models on the main thread), not ${String(options.workerThreads)}`,
      );
    }
    this.workerThreads = threads;
    this.inject = options.loadRuntime;
    this.repository = new Repository(this.repo);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const client = this;
    this.loader = new ModelLoader({
      repository: this.repository,
      runtime: () => this.runtime(),
      get closed() {
        return client.closed;
      },
      closedError: (model) => this.closedError(model),
    });
    // A repository that cannot be read makes every later call say so (never a rejection
    // nobody awaits).
    this.started = this.start().catch((err: unknown) => {
      this.repoError = asTritonError(err, { endpoint: this.repo });
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

  /**
   * The onnxruntime the models run on (loading it if no model has yet), e.g. for a log
   * line or a connection test. Rejects with RUNTIME_MISSING, whose message names the
   * command that installs one, when none can be loaded.
   */
  runtimeInfo(opts?: CallOptions): Promise<RuntimeInfo> {
    return this.call('Loading onnxruntime', undefined, opts, async () => ({
      ...this.loadedRuntime().info,
    }));
  }

  // ---- models ------------------------------------------------------------------------

  modelReady(model: string, version?: string, opts?: CallOptions): Promise<boolean> {
    return this.call(`Checking model '${model}'`, model, opts, async () => {
      await this.started;
      if (this.repoError || !isSafeName(model)) return false;
      const entry = await this.repository.lookup(model);
      if (!entry) return false;
      await this.loader.ensureLoaded(entry);
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
      if (this.repoError) throw this.repoError;
      await this.repository.scan();
      const entries = this.repository.entries();
      // Lazy mode answers with real states: models nobody used yet are loaded now.
      for (const entry of entries) await this.loader.ensureLoaded(entry);
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
      await this.loader.enqueue(entry, () => this.loader.load(entry));
      if (entry.status !== 'READY') throw entry.failure ?? this.unavailableError(entry);
    });
  }

  unloadModel(model: string, opts?: CallOptions): Promise<void> {
    return this.call(`Unloading model '${model}'`, model, opts, async () => {
      const entry = await this.knownEntry(model);
      await this.loader.enqueue(entry, () => this.loader.unload(entry));
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
        await this.loader.ensureLoaded(entry);
        const served = entry.slots.map((s) => s.version);
        if (version) {
          if (!served.includes(version) && !this.stats.has(model, version)) {
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
        pairs = this.readyPairs();
      }
      return this.stats.report(pairs);
    });
  }

  /**
   * Every ready version's statistics with its failures by reason (Triton's REJECTED,
   * CANCELED, BACKEND, OTHER): the rows triton-vision-serve's metrics endpoint exports.
   */
  metricsStatistics(opts?: CallOptions): Promise<ModelStatisticsWithReasons[]> {
    return this.call('Reading model statistics', undefined, opts, async () => {
      await this.started;
      if (this.repoError) throw this.repoError;
      return this.stats.reportWithReasons(this.readyPairs());
    });
  }

  private readyPairs(): [string, string][] {
    const pairs: [string, string][] = [];
    for (const entry of this.repository.entries())
      for (const s of entry.slots) if (s.state === 'READY') pairs.push([entry.name, s.version]);
    return pairs;
  }

  // ---- inference -----------------------------------------------------------------------

  infer(request: InferRequest, opts?: CallOptions): Promise<InferResponse> {
    const model = request?.model;
    const arrived = process.hrtime.bigint();
    // Set once the request reaches a served version, so failures after that count.
    let record: StatsRecord | undefined;
    // How far it got: a failure's reason depends on it.
    const progress: { phase: RequestPhase } = { phase: 'queued' };
    let batch = 1;
    const result = this.call(`Inference on model '${model}'`, model, opts, async (deadline) => {
      const entry = await this.readyEntry(model);
      const slot = this.servingSlot(entry, request.version);
      const cfg = entry.config!;
      record = this.stats.recordFor(entry.name, slot.version);
      const plan = checkRequest(entry.name, cfg, request, this.repo);
      batch = plan.batch;
      deadline.check();
      add(record.queue, arrived);
      return this.execute(entry.name, cfg, slot, record, plan, request, deadline, progress);
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
        if (record) addFailure(record, failureReason(err, progress.phase), arrived);
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
      const entries = [...this.repository.models.values()];
      await Promise.all(entries.map((e) => e.op.catch(() => undefined)));
      for (const entry of entries) {
        const slots = entry.slots;
        entry.slots = [];
        entry.status = 'UNLOADED';
        entry.reason = 'client closed';
        await this.loader.release(slots);
      }
      await this.loaded?.pool?.close();
    })();
    return this.closing;
  }
  // ---- internals ------------------------------------------------------------------------

  /** Runs one API call under its deadline and AbortSignal (see runCall). */
  private call<T>(
    what: string,
    model: string | undefined,
    opts: CallOptions | undefined,
    work: (deadline: Deadline) => Promise<T>,
  ): Promise<T> {
    if (this.closed) return Promise.reject(this.closedError(model));
    const details = { endpoint: this.repo, ...(typeof model === 'string' ? { model } : {}) };
    return runCall(what, details, opts?.timeoutMs ?? this.timeoutMs, opts?.signal, work);
  }

  private closedError(model: unknown): TritonError {
    return new TritonError(
      'TRITON_UNAVAILABLE',
      `The local client for ${this.repo} is closed: create a new client to run models again`,
      { endpoint: this.repo, ...(typeof model === 'string' ? { model } : {}) },
    );
  }

  private async start(): Promise<void> {
    if (!(await isDir(this.repo))) {
      this.repoError = new TritonError(
        'INVALID_CONFIG',
        `Model repository folder ${this.repo} does not exist or is not a folder: point modelRepository at a folder holding <model>/config.pbtxt and <model>/<version>/model.onnx`,
        { endpoint: this.repo },
      );
      return;
    }
    await this.repository.scan();
    if (this.loadMode === 'all') {
      // One at a time: loading is CPU-bound and blocks the event loop anyway.
      for (const entry of this.repository.models.values()) await this.loader.ensureLoaded(entry);
    }
  }

  private async knownEntry(name: string): Promise<ModelEntry> {
    await this.started;
    if (this.repoError) throw this.repoError;
    const entry = await this.repository.lookup(name);
    if (!entry) throw this.repository.notFound(name);
    return entry;
  }

  /** An entry whose load has finished with at least one READY version. */
  private async readyEntry(name: string): Promise<ModelEntry> {
    const entry = await this.knownEntry(name);
    await this.loader.ensureLoaded(entry);
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

  /** The runtime sessions are created with, loaded on first need. */
  private runtime(): { runtime: OrtRuntime; sessionOptions: Record<string, unknown> } {
    const loaded = this.loadedRuntime();
    return { runtime: loaded.runtime, sessionOptions: loaded.sessionOptions };
  }

  private loadedRuntime(): LoadedRuntime {
    this.loaded ??= loadRuntime({
      choice: this.choice,
      inject: this.inject,
      workerThreads: this.workerThreads,
      intraOpNumThreads: this.intraOpNumThreads,
      endpoint: this.repo,
    });
    return this.loaded;
  }

  private async execute(
    model: string,
    cfg: ModelConfig,
    slot: VersionSlot,
    record: StatsRecord,
    plan: RequestPlan,
    req: InferRequest,
    deadline: Deadline,
    progress: { phase: RequestPhase },
  ): Promise<InferResponse> {
    const rt = this.runtime().runtime;
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
      progress.phase = 'running';
      try {
        raw = await session.run(feeds, plan.outputs);
        progress.phase = 'finishing';
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
      if (!this.loaded?.pool) await yieldToTimers();
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
