/**
 * Batched inference for several images: requests of one image each (batch dimension 1)
 * joined along dimension 0 into one request per `max_batch_size`, and the reply split
 * back into one reply per image. The per-image replies carry exactly the tensors a
 * single-image request gets back (shape [1, ...]), so everything after inference runs
 * unchanged and gives identical results.
 *
 * `RequestGatherer` does this behind the InferenceClient surface: each image gets its own
 * client view whose infer() waits until every image has either asked (or failed before
 * asking), then the gathered requests go out batched. runTask needs no change for it.
 */
import { TritonError, isTritonError } from '../protocol/errors';
import type {
  CallOptions,
  InferRequest,
  InferResponse,
  InferenceClient,
  Tensor,
  TensorData,
} from '../protocol/types';

/**
 * The largest batch a model takes: its config's max_batch_size, 0 when it has no batch
 * dimension (or the server has no config extension): then images go one by one.
 */
export async function modelMaxBatch(
  client: InferenceClient,
  model: string,
  version = '',
  opts: CallOptions = {},
): Promise<number> {
  try {
    const cfg = await client.modelConfig(model, version || undefined, opts);
    const n = Number(cfg.max_batch_size ?? 0);
    return Number.isInteger(n) && n > 0 ? n : 0;
  } catch (err) {
    if (isTritonError(err) && err.code === 'UNSUPPORTED') return 0;
    throw err;
  }
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Requests that can share one batch: same model, version, outputs and per-item shapes. */
export function batchKey(req: InferRequest): string | undefined {
  if (req.inputs.some((t) => t.shape[0] !== 1 || Array.isArray(t.data))) return undefined;
  return JSON.stringify([
    req.model,
    req.version ?? '',
    req.inputs.map((t) => [t.name, t.datatype, t.shape.slice(1)]),
    req.outputs?.map((o) => o.name) ?? null,
  ]);
}

type Typed = Exclude<TensorData, string[] | unknown[]> & {
  subarray(begin: number, end: number): Typed;
  set(src: ArrayLike<number | bigint>, offset: number): void;
};

function concat(parts: readonly Tensor[]): Tensor {
  const first = parts[0]!;
  const per = product(first.shape);
  const Ctor = (first.data as Typed).constructor as new (n: number) => Typed;
  const out = new Ctor(per * parts.length);
  parts.forEach((t, i) => out.set((t.data as Typed).subarray(0, per), i * per));
  return { ...first, shape: [parts.length, ...first.shape.slice(1)], data: out as TensorData };
}

/**
 * One request holding these single-item requests (all with the same batchKey), in
 * order: every input joined along dimension 0.
 */
export function joinRequests(reqs: readonly InferRequest[]): InferRequest {
  const first = reqs[0]!;
  const joined: InferRequest = {
    model: first.model,
    inputs: first.inputs.map((_, i) => concat(reqs.map((r) => r.inputs[i]!))),
  };
  if (first.version) joined.version = first.version;
  if (first.outputs) joined.outputs = first.outputs;
  return joined;
}

/**
 * The reply to a joined request of `n` items as `n` replies of batch 1, in order. The
 * views share the reply's memory: `release()` of the last one releases the reply.
 */
export function splitResponse(res: InferResponse, n: number): InferResponse[] {
  for (const t of res.outputs) {
    if (t.shape[0] !== n || Array.isArray(t.data)) {
      throw new TritonError(
        'PROTOCOL_ERROR',
        `Model '${res.model}' answered a batch of ${n} with output '${t.name}' shaped [${t.shape.join(', ')}]: expected [${n}, ...]`,
        { model: res.model },
      );
    }
  }
  let left = n;
  const release = (): void => {
    left -= 1;
    if (left === 0) res.release?.();
  };
  return Array.from({ length: n }, (_, i) => {
    const outputs = res.outputs.map((t): Tensor => {
      const per = product(t.shape.slice(1));
      const data = (t.data as Typed).subarray(i * per, (i + 1) * per) as TensorData;
      return { ...t, shape: [1, ...t.shape.slice(1)], data };
    });
    const one: InferResponse = { model: res.model, version: res.version, outputs };
    let released = false;
    Object.defineProperty(one, 'release', {
      enumerable: false,
      value: () => {
        if (released) return;
        released = true;
        release();
      },
    });
    return one;
  });
}

interface Pending {
  index: number;
  request: InferRequest;
  opts: CallOptions | undefined;
  resolve(res: InferResponse): void;
  reject(err: unknown): void;
}

/**
 * Collects the infer() calls of `count` image runs and sends them as batches of at most
 * `maxBatch` (0: one by one, each request as it was) once every run has asked or has
 * withdrawn (failed before asking). Requests that cannot share a batch (other shapes,
 * no batch dimension) go on their own. Replies come back to each run in its order.
 */
export class RequestGatherer {
  private readonly pending: Pending[] = [];
  private waiting: number;
  /** Batched requests sent: for callers' statistics and tests. */
  requestsSent = 0;

  constructor(
    private readonly inner: InferenceClient,
    count: number,
    private readonly maxBatch: number,
  ) {
    this.waiting = count;
  }

  /** The client the run of image `index` uses; withdraw() if that run ends without infer(). */
  clientFor(index: number): InferenceClient & { withdraw(): void; asked: boolean } {
    const inner = this.inner;
    const view = {
      kind: inner.kind,
      endpoint: inner.endpoint,
      asked: false,
      serverLive: (o?: CallOptions) => inner.serverLive(o),
      serverReady: (o?: CallOptions) => inner.serverReady(o),
      serverMetadata: (o?: CallOptions) => inner.serverMetadata(o),
      modelReady: (m: string, v?: string, o?: CallOptions) => inner.modelReady(m, v, o),
      modelMetadata: (m: string, v?: string, o?: CallOptions) => inner.modelMetadata(m, v, o),
      modelConfig: (m: string, v?: string, o?: CallOptions) => inner.modelConfig(m, v, o),
      repositoryIndex: (o?: CallOptions & { ready?: boolean }) => inner.repositoryIndex(o),
      loadModel: (m: string, o?: CallOptions) => inner.loadModel(m, o),
      unloadModel: (m: string, o?: CallOptions) => inner.unloadModel(m, o),
      modelStatistics: (m?: string, v?: string, o?: CallOptions) => inner.modelStatistics(m, v, o),
      close: () => Promise.resolve(),
      infer: (request: InferRequest, opts?: CallOptions): Promise<InferResponse> => {
        if (view.asked) return inner.infer(request, opts);
        view.asked = true;
        return new Promise<InferResponse>((resolve, reject) => {
          this.pending.push({ index, request, opts, resolve, reject });
          this.arrived();
        });
      },
      withdraw: () => {
        if (view.asked) return;
        view.asked = true;
        this.arrived();
      },
    };
    return view;
  }

  private arrived(): void {
    this.waiting -= 1;
    if (this.waiting === 0) this.flush();
  }

  private flush(): void {
    const runs = [...this.pending].sort((a, b) => a.index - b.index);
    this.pending.length = 0;
    const groups = new Map<string, Pending[]>();
    for (const p of runs) {
      const key = this.maxBatch > 1 ? batchKey(p.request) : undefined;
      if (key === undefined) {
        this.send([p]);
        continue;
      }
      const group = groups.get(key) ?? [];
      group.push(p);
      groups.set(key, group);
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += this.maxBatch) {
        this.send(group.slice(i, i + this.maxBatch));
      }
    }
  }

  private send(chunk: Pending[]): void {
    this.requestsSent += 1;
    const first = chunk[0]!;
    if (chunk.length === 1) {
      this.inner.infer(first.request, first.opts).then(first.resolve, first.reject);
      return;
    }
    this.inner.infer(joinRequests(chunk.map((p) => p.request)), first.opts).then(
      (res) => {
        let parts: InferResponse[];
        try {
          parts = splitResponse(res, chunk.length);
        } catch (err) {
          res.release?.();
          for (const p of chunk) p.reject(err);
          return;
        }
        chunk.forEach((p, i) => p.resolve(parts[i]!));
      },
      (err: unknown) => {
        for (const p of chunk) p.reject(err);
      },
    );
  }
}
