/**
 * onnxruntime (onnxruntime-node or onnxruntime-web) on worker threads, behind the same
 * OrtRuntime slice LocalClient uses in-process. ORT's `session.run` works on the thread that calls it, so in-process a
 * 100–300 ms inference holds the whole event loop (all of Node-RED in local mode); here
 * each session lives in a worker and the main thread only posts tensors and waits.
 *
 * The worker's code is a plain-JavaScript string run with `eval: true`: it then needs no
 * file next to the bundle, and works the same from src/ (tsx), dist/ and nodes/ (tsup).
 * It loads the runtime package from the absolute path the main thread resolved, so the
 * worker finds the same copy whatever the process's working folder is.
 */
import { Worker } from 'node:worker_threads';
import type { OrtRuntime, OrtSession, OrtTensor, OrtValueMetadata } from './ort';

/**
 * Message protocol (main → worker): {id, op: 'create', sid, file, options} |
 * {id, op: 'run', sid, feeds: {name: {type, data, dims}}, fetches} | {id, op: 'release', sid}.
 * Worker → main: {id, ok: true, value} | {id, ok: false, message}. Output tensor buffers
 * are transferred (ORT allocated them for this run only); a buffer that cannot be
 * detached is copied instead.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.runtimePath);
// onnxruntime-web: its WebAssembly thread count, read when its first session starts.
if (workerData.wasmThreads && ort.env && ort.env.wasm) ort.env.wasm.numThreads = workerData.wasmThreads;
const sessions = new Map();
const meta = (list) =>
  Array.isArray(list)
    ? list.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape ? Array.from(m.shape) : undefined }))
    : undefined;
async function handle(m) {
  if (m.op === 'create') {
    const s = await ort.InferenceSession.create(m.file, m.options);
    sessions.set(m.sid, s);
    return {
      value: {
        inputNames: Array.from(s.inputNames),
        outputNames: Array.from(s.outputNames),
        inputMetadata: meta(s.inputMetadata),
        outputMetadata: meta(s.outputMetadata),
      },
    };
  }
  const s = sessions.get(m.sid);
  if (!s) throw new Error('this session was released or never created in the worker');
  if (m.op === 'release') {
    sessions.delete(m.sid);
    await s.release();
    return { value: undefined };
  }
  const feeds = {};
  for (const name of Object.keys(m.feeds)) {
    const f = m.feeds[name];
    feeds[name] = new ort.Tensor(f.type, f.data, f.dims);
  }
  const out = await s.run(feeds, m.fetches);
  const value = {};
  const transfer = [];
  for (const name of Object.keys(out)) {
    const t = out[name];
    let data = t.data;
    // A view of shared memory (a WebAssembly heap) would alias it in the parent: copy.
    if (ArrayBuffer.isView(data) && typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) {
      data = data.slice();
    }
    value[name] = { type: t.type, dims: Array.from(t.dims), data };
    if (ArrayBuffer.isView(data) && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) {
      transfer.push(data.buffer);
    }
  }
  return { value, transfer };
}
parentPort.on('message', (m) => {
  handle(m).then(
    (r) => {
      const msg = { id: m.id, ok: true, value: r.value };
      try {
        parentPort.postMessage(msg, r.transfer || []);
      } catch {
        parentPort.postMessage(msg);
      }
    },
    (err) => {
      parentPort.postMessage({ id: m.id, ok: false, message: err && err.message ? err.message : String(err) });
    },
  );
});
`;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface WireTensor {
  type: string;
  data: unknown;
  dims: number[];
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  message?: string;
}

/** One worker thread and the requests waiting on it. */
class OrtWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  /** Why the thread stopped, once it has; every later request fails with it. */
  dead: Error | undefined;
  private nextId = 1;

  constructor(runtimePath: string, wasmThreads: number | undefined) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { runtimePath, wasmThreads },
      // The parent's flags (e.g. tsx's loader) mean nothing to this plain-JS worker.
      execArgv: [],
    });
    // An idle worker must not keep the process alive; a busy one must (see request()).
    this.worker.unref();
    this.worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.refresh();
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.message ?? 'the inference worker failed'));
    });
    this.worker.on('error', (err) => this.stop(err));
    this.worker.on('exit', (code) =>
      this.stop(new Error(`the inference worker thread exited (code ${code})`)),
    );
  }

  get load(): number {
    return this.pending.size;
  }

  request(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.refresh();
      try {
        this.worker.postMessage({ ...msg, id }, transfer);
      } catch (err) {
        this.pending.delete(id);
        this.refresh();
        reject(err as Error);
      }
    });
  }

  private refresh(): void {
    if (this.dead) return;
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private stop(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  async terminate(): Promise<void> {
    this.stop(new Error('the inference worker was stopped because the client closed'));
    await this.worker.terminate();
  }
}

/** A session loaded in every worker of the pool; runs go to the least busy one. */
class WorkerSession implements OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];

  constructor(
    private readonly sid: number,
    private readonly workers: readonly OrtWorker[],
    info: {
      inputNames: string[];
      outputNames: string[];
      inputMetadata?: OrtValueMetadata[];
      outputMetadata?: OrtValueMetadata[];
    },
  ) {
    this.inputNames = info.inputNames;
    this.outputNames = info.outputNames;
    if (info.inputMetadata) this.inputMetadata = info.inputMetadata;
    if (info.outputMetadata) this.outputMetadata = info.outputMetadata;
  }

  /**
   * Input buffers are copied to the worker, not transferred: the caller still owns its
   * request tensors (it may send the same one twice). Outputs come back transferred.
   */
  async run(
    feeds: Record<string, OrtTensor>,
    fetches?: readonly string[],
  ): Promise<Record<string, OrtTensor>> {
    const live = this.workers.filter((w) => !w.dead);
    if (live.length === 0) {
      throw this.workers[0]?.dead ?? new Error('no inference worker is running');
    }
    const w = live.reduce((a, b) => (b.load < a.load ? b : a));
    const wire: Record<string, WireTensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      wire[name] = { type: t.type, data: t.data, dims: [...t.dims] };
    }
    const out = (await w.request({
      op: 'run',
      sid: this.sid,
      feeds: wire,
      fetches: fetches ? [...fetches] : undefined,
    })) as Record<string, OrtTensor>;
    return out;
  }

  async release(): Promise<void> {
    await Promise.all(
      this.workers.map((w) =>
        w.dead ? undefined : w.request({ op: 'release', sid: this.sid }).catch(() => undefined),
      ),
    );
  }
}

/** A tensor as the worker protocol carries it: ORT's constructor runs in the worker. */
class PlainTensor implements OrtTensor {
  constructor(
    readonly type: string,
    readonly data: unknown,
    readonly dims: readonly number[],
  ) {}
}

/**
 * An OrtRuntime whose sessions live on `size` worker threads (created on the first
 * model load; a worker that died is replaced at the next load). `runtimePath` is the
 * resolved path of the onnxruntime package the workers require.
 */
export class WorkerRuntime implements OrtRuntime {
  readonly Tensor = PlainTensor;
  readonly InferenceSession: OrtRuntime['InferenceSession'];
  private workers: OrtWorker[] = [];
  private nextSid = 1;
  private closed = false;

  constructor(
    private readonly runtimePath: string,
    readonly size = 1,
    /** onnxruntime-web's thread count in each worker (unset for onnxruntime-node). */
    private readonly wasmThreads?: number,
  ) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`the worker pool size must be a positive integer, not ${size}`);
    }
    this.InferenceSession = { create: (file, options) => this.create(file, options) };
  }

  /** Threads currently running (for tests and diagnostics). */
  get threadIds(): number[] {
    return this.workers.filter((w) => !w.dead).map((w) => w.worker.threadId);
  }

  private async create(file: string, options?: Record<string, unknown>): Promise<OrtSession> {
    if (this.closed) throw new Error('the inference worker pool is closed');
    this.workers = this.workers.filter((w) => !w.dead);
    while (this.workers.length < this.size)
      this.workers.push(new OrtWorker(this.runtimePath, this.wasmThreads));
    const workers = [...this.workers];
    const sid = this.nextSid++;
    const results = await Promise.allSettled(
      workers.map((w) => w.request({ op: 'create', sid, file, options: options ?? {} })),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const session = new WorkerSession(
      sid,
      workers,
      (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<never>)?.value ?? {
        inputNames: [],
        outputNames: [],
      },
    );
    if (failed) {
      await session.release();
      throw failed.reason;
    }
    return session;
  }

  /** Stops every worker; requests still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
