/**
 * Dynamic batching across messages inside one task node (off by default): the inference
 * requests of messages in flight at the same time are joined into one batched request,
 * as Triton's dynamic batcher does on the server. A group goes out when it holds the batch
 * size, or when its first request has waited the maximum delay. Each message still runs its
 * own pre- and post-processing on its own slice of the reply (vision/batch.ts), so results
 * are identical to single runs, and each message is answered or fails on its own.
 */
import { batchKey, joinRequests, modelMaxBatch, splitResponse } from '../vision/batch';
import type { CallOptions, InferRequest, InferResponse, InferenceClient } from '../protocol/types';

export interface DynamicBatchOptions {
  /** Largest batch; 0: the model's max_batch_size (never above it). */
  maxBatch: number;
  /** Longest wait of a request for others to join it, in microseconds. */
  maxDelayUs: number;
}

interface Waiting {
  request: InferRequest;
  opts: CallOptions | undefined;
  resolve(res: InferResponse): void;
  reject(err: unknown): void;
}

interface Group {
  items: Waiting[];
  size: number;
  timer: NodeJS.Timeout | undefined;
}

export class DynamicBatcher {
  private readonly groups = new Map<string, Group>();
  private readonly sizes = new Map<string, Promise<number>>();
  /** Requests sent to the server (joined or not): for tests and statistics. */
  requestsSent = 0;

  constructor(
    private readonly inner: InferenceClient,
    private readonly options: DynamicBatchOptions,
  ) {}

  /**
   * The batch size for a model: the node's, capped by the model's max_batch_size; 0 or 1
   * (no batch dimension) sends each request as it is. A failed lookup is not kept.
   */
  batchSize(model: string, version = ''): Promise<number> {
    const key = `${model}@${version}`;
    let hit = this.sizes.get(key);
    if (!hit) {
      hit = modelMaxBatch(this.inner, model, version).then((max) =>
        this.options.maxBatch > 0 ? Math.min(this.options.maxBatch, max) : max,
      );
      this.sizes.set(key, hit);
      hit.catch(() => this.sizes.delete(key));
    }
    return hit;
  }

  /** The client a message's runTask uses: infer() joins others, the rest goes straight on. */
  get client(): InferenceClient {
    const inner = this.inner;
    return {
      kind: inner.kind,
      endpoint: inner.endpoint,
      serverLive: (o) => inner.serverLive(o),
      serverReady: (o) => inner.serverReady(o),
      serverMetadata: (o) => inner.serverMetadata(o),
      modelReady: (m, v, o) => inner.modelReady(m, v, o),
      modelMetadata: (m, v, o) => inner.modelMetadata(m, v, o),
      modelConfig: (m, v, o) => inner.modelConfig(m, v, o),
      repositoryIndex: (o) => inner.repositoryIndex(o),
      loadModel: (m, o) => inner.loadModel(m, o),
      unloadModel: (m, o) => inner.unloadModel(m, o),
      modelStatistics: (m, v, o) => inner.modelStatistics(m, v, o),
      close: () => Promise.resolve(),
      infer: (request, opts) => this.infer(request, opts),
    };
  }

  private async infer(request: InferRequest, opts?: CallOptions): Promise<InferResponse> {
    const key = batchKey(request);
    const size = key === undefined ? 0 : await this.batchSize(request.model, request.version);
    if (key === undefined || size < 2) {
      this.requestsSent += 1;
      return this.inner.infer(request, opts);
    }
    return new Promise<InferResponse>((resolve, reject) => {
      let group = this.groups.get(key);
      if (!group) {
        group = { items: [], size, timer: undefined };
        this.groups.set(key, group);
        const g = group;
        g.timer = setTimeout(() => this.flush(key, g), this.options.maxDelayUs / 1000);
      }
      group.items.push({ request, opts, resolve, reject });
      if (group.items.length >= group.size) this.flush(key, group);
    });
  }

  /** Sends whatever waits now (the node is closing). */
  flushAll(): void {
    for (const [key, group] of [...this.groups]) this.flush(key, group);
  }

  private flush(key: string, group: Group): void {
    if (this.groups.get(key) === group) this.groups.delete(key);
    if (group.timer) clearTimeout(group.timer);
    group.timer = undefined;
    const items = group.items.splice(0);
    if (items.length === 0) return;
    this.requestsSent += 1;
    const first = items[0]!;
    if (items.length === 1) {
      this.inner.infer(first.request, first.opts).then(first.resolve, first.reject);
      return;
    }
    // Every message of a node shares the node's abort signal and deadline: the first's serve.
    this.inner.infer(joinRequests(items.map((w) => w.request)), first.opts).then(
      (res) => {
        let parts: InferResponse[];
        try {
          parts = splitResponse(res, items.length);
        } catch (err) {
          res.release?.();
          for (const w of items) w.reject(err);
          return;
        }
        items.forEach((w, i) => w.resolve(parts[i]!));
      },
      (err: unknown) => {
        for (const w of items) w.reject(err);
      },
    );
  }
}
