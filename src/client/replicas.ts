/**
 * One InferenceClient over several endpoints of one deployment (Triton replicas behind
 * no balancer, or several ingress addresses). Callers see one client, so metadata and
 * profile caches stay per deployment.
 *
 * - Each call goes to the up endpoint with the fewest calls outstanding; ties take
 *   turns (round-robin).
 * - An endpoint that answers TRITON_UNAVAILABLE (refused or dropped connection, gRPC
 *   UNAVAILABLE, HTTP 502/503) or fails its health probe leaves the rotation; it is
 *   probed (server-ready) again after 250 ms, then after twice as long each time it
 *   still fails, up to 10 s, and rejoins on the first good probe. (Over gRPC the channel's
 *   own reconnect backoff, up to 5 s, can add to that: a probe fails fast until it reconnects.)
 * - A call that fails in a retryable way (retry.ts) is sent again, to an endpoint it has
 *   not tried yet at once, else after an exponential backoff with full jitter; always
 *   inside the call's one deadline (timeoutMs) and AbortSignal. Calls are never sent to
 *   two endpoints at the same time, so each call has exactly one answer.
 * - With a single endpoint this is the retrying client of a server node or the CLI: no
 *   rotation to keep, so no probes; every call goes to it, and a down endpoint is up again
 *   with its next answer.
 * - Each retry is counted in status().stats and on the caller's tally (retry.ts
 *   countRetries), so a node can say how many retries one message needed.
 */
import { isTritonError, TritonError, toTritonError } from '../protocol/errors';
import { DEFAULT_TIMEOUT_MS } from './remote';
import {
  backoffDelay,
  isEndpointDown,
  isRetryable,
  noteRetry,
  resolveRetryOptions,
  sleep,
  type RetryOptions,
} from './retry';
import type {
  CallOptions,
  ClientKind,
  InferRequest,
  InferResponse,
  InferenceClient,
  ModelConfig,
  ModelMetadata,
  ModelStatistics,
  RepositoryModel,
  ServerMetadata,
  StatisticDuration,
} from '../protocol/types';

export interface ReplicaOptions extends RetryOptions {
  /** Default per-call deadline in ms, retries included (default 30000). */
  timeoutMs?: number;
  /** Health probe of every up endpoint this often, in ms (default 5000; 0: only probe endpoints that failed). */
  healthIntervalMs?: number;
  /** Deadline of one health probe in ms (default 2000). */
  probeTimeoutMs?: number;
  /** First re-probe of an endpoint that left the rotation, in ms (default 250; doubles per failed probe). */
  probeBackoffMs?: number;
  /** Longest wait between probes of a down endpoint, in ms (default 10000). */
  maxProbeBackoffMs?: number;
  /** Source of jitter (tests); default Math.random. */
  random?: () => number;
}

export type ReplicaState = 'up' | 'down';

export interface ReplicaEndpointStatus {
  endpoint: string;
  state: ReplicaState;
  /** Calls sent to it and not answered yet. */
  outstanding: number;
  /** Calls sent to it since the client was made (attempts, retries included). */
  requests: number;
  /** Attempts on it that failed in a retryable way, plus failed probes. */
  failures: number;
  /** Why it left the rotation, while it is down. */
  lastError?: { code: string; message: string };
}

export interface ReplicaStats {
  /** Calls made by the caller. */
  calls: number;
  /** Attempts sent again after a retryable failure (failovers included). */
  retries: number;
  /** Retries that went to another endpoint than the failed attempt. */
  failovers: number;
  /** Times an endpoint left the rotation. */
  ejections: number;
}

export interface ReplicaStatus {
  up: number;
  total: number;
  /** e.g. "2/3 up". */
  text: string;
  endpoints: ReplicaEndpointStatus[];
  stats: ReplicaStats;
}

interface Member {
  index: number;
  client: InferenceClient;
  state: ReplicaState;
  outstanding: number;
  requests: number;
  failures: number;
  lastError?: TritonError;
  /** Current probe backoff of a down endpoint. */
  backoffMs: number;
  /** When the next probe is due (epoch ms). */
  nextProbeAt: number;
  probing: boolean;
  /** Bumped each time the endpoint leaves the rotation. */
  epoch: number;
}

const DEFAULTS = {
  healthIntervalMs: 5000,
  probeTimeoutMs: 2000,
  probeBackoffMs: 250,
  maxProbeBackoffMs: 10000,
};

function nonNegative(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new TritonError(
      'INVALID_CONFIG',
      `Replica option ${name} is ${String(v)}: it must be a number of milliseconds ≥ 0 (default ${fallback})`,
    );
  }
  return v;
}

export class ReplicaClient implements InferenceClient {
  readonly kind: ClientKind;
  /** The endpoints, comma-separated, for messages. */
  readonly endpoint: string;
  private readonly members: Member[];
  private readonly retry: ReturnType<typeof resolveRetryOptions>;
  private readonly timeoutMs: number;
  private readonly healthIntervalMs: number;
  private readonly probeTimeoutMs: number;
  private readonly probeBackoffMs: number;
  private readonly maxProbeBackoffMs: number;
  private readonly random: () => number;
  private readonly listeners = new Set<(status: ReplicaStatus) => void>();
  private readonly counters: ReplicaStats = { calls: 0, retries: 0, failovers: 0, ejections: 0 };
  private nextTurn = 0;
  private nextHealthAt: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /**
   * @param clients one client per endpoint of the deployment (same models on each); the
   *   replica client owns them and closes them on close()
   */
  constructor(clients: InferenceClient[], options: ReplicaOptions = {}) {
    if (!Array.isArray(clients) || clients.length === 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        'A replica client needs at least one endpoint: give one or more server URLs',
      );
    }
    const seen = new Set<string>();
    for (const c of clients) {
      if (seen.has(c.endpoint)) {
        throw new TritonError(
          'INVALID_CONFIG',
          `Endpoint ${c.endpoint} is listed twice: give each replica once`,
          { endpoint: c.endpoint },
        );
      }
      seen.add(c.endpoint);
    }
    this.retry = resolveRetryOptions(options);
    this.timeoutMs = nonNegative('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
    if (this.timeoutMs === 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        'Replica option timeoutMs is 0: it must be a positive number of milliseconds',
      );
    }
    this.healthIntervalMs = nonNegative(
      'healthIntervalMs',
      options.healthIntervalMs,
      DEFAULTS.healthIntervalMs,
    );
    this.probeTimeoutMs =
      nonNegative('probeTimeoutMs', options.probeTimeoutMs, DEFAULTS.probeTimeoutMs) || 1;
    this.probeBackoffMs = nonNegative(
      'probeBackoffMs',
      options.probeBackoffMs,
      DEFAULTS.probeBackoffMs,
    );
    this.maxProbeBackoffMs = Math.max(
      this.probeBackoffMs,
      nonNegative('maxProbeBackoffMs', options.maxProbeBackoffMs, DEFAULTS.maxProbeBackoffMs),
    );
    this.random = options.random ?? Math.random;
    this.kind = clients[0]!.kind;
    this.endpoint = clients.map((c) => c.endpoint).join(',');
    this.members = clients.map((client, index) => ({
      index,
      client,
      state: 'up',
      outstanding: 0,
      requests: 0,
      failures: 0,
      backoffMs: this.probeBackoffMs,
      nextProbeAt: 0,
      probing: false,
      epoch: 0,
    }));
    this.nextHealthAt = Date.now() + this.healthIntervalMs;
    this.schedule();
  }

  // ---- status -------------------------------------------------------------------------

  /** Where the deployment stands: `2/3 up`, per-endpoint state and the retry counters. */
  status(): ReplicaStatus {
    const up = this.members.filter((m) => m.state === 'up').length;
    return {
      up,
      total: this.members.length,
      text: `${up}/${this.members.length} up`,
      endpoints: this.members.map((m) => ({
        endpoint: m.client.endpoint,
        state: m.state,
        outstanding: m.outstanding,
        requests: m.requests,
        failures: m.failures,
        ...(m.state === 'down' && m.lastError
          ? { lastError: { code: m.lastError.code, message: m.lastError.message } }
          : {}),
      })),
      stats: { ...this.counters },
    };
  }

  /** Calls `listener` whenever an endpoint leaves or rejoins the rotation. Returns an unsubscribe. */
  onStatus(listener: (status: ReplicaStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    if (this.listeners.size === 0) return;
    const s = this.status();
    for (const l of this.listeners) {
      try {
        l(s);
      } catch {
        // A listener's failure is its own; the rotation goes on.
      }
    }
  }

  // ---- rotation -----------------------------------------------------------------------

  private markDown(m: Member, err: TritonError): void {
    m.lastError = err;
    if (m.state === 'down') return;
    m.state = 'down';
    m.epoch++;
    m.backoffMs = this.probeBackoffMs;
    m.nextProbeAt = Date.now() + this.probeBackoffMs;
    this.counters.ejections++;
    this.schedule();
    this.emit();
  }

  private markUp(m: Member): void {
    if (m.state === 'up') return;
    m.state = 'up';
    m.backoffMs = this.probeBackoffMs;
    delete m.lastError;
    this.emit();
  }

  /**
   * The endpoint for the next attempt: among up endpoints not tried by this call, the
   * one with the fewest outstanding calls, ties taking turns. With none up, any untried
   * endpoint (its answer then doubles as a probe).
   */
  private pick(tried: Set<Member>): Member | undefined {
    const untried = this.members.filter((m) => !tried.has(m));
    const up = untried.filter((m) => m.state === 'up');
    const pool = up.length > 0 ? up : untried;
    if (pool.length === 0) return undefined;
    const n = this.members.length;
    let best: Member | undefined;
    let bestDistance = n;
    for (const m of pool) {
      const distance = (m.index - this.nextTurn + n) % n;
      if (
        !best ||
        m.outstanding < best.outstanding ||
        (m.outstanding === best.outstanding && distance < bestDistance)
      ) {
        best = m;
        bestDistance = distance;
      }
    }
    this.nextTurn = (best!.index + 1) % n;
    return best;
  }

  // ---- probes -------------------------------------------------------------------------

  /** Arms one timer for the earliest due probe; unref'd, so it never keeps a process alive. */
  private schedule(): void {
    // One endpoint: nowhere else to send calls, so nothing to learn from probing it.
    if (this.closed || this.members.length === 1) return;
    let due = this.healthIntervalMs > 0 ? this.nextHealthAt : Infinity;
    for (const m of this.members) {
      if (m.state === 'down' && !m.probing) due = Math.min(due, m.nextProbeAt);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (due === Infinity) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, due - Date.now()));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    const now = Date.now();
    const healthDue = this.healthIntervalMs > 0 && now >= this.nextHealthAt;
    if (healthDue) this.nextHealthAt = now + this.healthIntervalMs;
    for (const m of this.members) {
      if (m.probing) continue;
      if (m.state === 'down' ? now >= m.nextProbeAt : healthDue) void this.probe(m);
    }
    this.schedule();
  }

  private async probe(m: Member): Promise<void> {
    m.probing = true;
    let error: TritonError | undefined;
    try {
      const ready = await m.client.serverReady({ timeoutMs: this.probeTimeoutMs });
      if (!ready) {
        error = new TritonError(
          'TRITON_UNAVAILABLE',
          `${m.client.endpoint} answers but says it is not ready`,
          { endpoint: m.client.endpoint },
        );
      }
    } catch (err) {
      error = toTritonError(err, 'TRITON_UNAVAILABLE', { endpoint: m.client.endpoint });
    } finally {
      m.probing = false;
    }
    if (this.closed) return;
    if (!error) {
      this.markUp(m);
    } else if (m.state === 'up') {
      m.failures++;
      this.markDown(m, error);
    } else {
      m.failures++;
      m.lastError = error;
      m.backoffMs = Math.min(this.maxProbeBackoffMs, m.backoffMs * 2);
      // Up to a quarter less, so replicas that died together are not probed in lockstep.
      m.nextProbeAt = Date.now() + m.backoffMs * (1 - 0.25 * this.random());
    }
    this.schedule();
  }

  // ---- the one call path --------------------------------------------------------------

  private closedError(what: string): TritonError {
    return new TritonError(
      'TRITON_UNAVAILABLE',
      `The replica client for ${this.endpoint} is closed, so ${what} was not sent: create a new client`,
      { endpoint: this.endpoint },
    );
  }

  private static withHistory(err: unknown, retries: number, endpoints: number): unknown {
    if (retries === 0 || !isTritonError(err)) return err;
    const where = endpoints > 1 ? ` on ${endpoints} endpoints` : '';
    return new TritonError(
      err.code,
      `${err.message} (gave up after ${retries} ${retries === 1 ? 'retry' : 'retries'}${where})`,
      {
        cause: err,
        ...(err.endpoint !== undefined ? { endpoint: err.endpoint } : {}),
        ...(err.model !== undefined ? { model: err.model } : {}),
        ...(err.status !== undefined ? { status: err.status } : {}),
      },
    );
  }

  /**
   * Runs `fn` on one endpoint after another until it answers, fails in a way a retry
   * cannot fix, or the call's deadline, signal or retry budget runs out.
   */
  private async run<T>(
    what: string,
    fn: (client: InferenceClient, opts: CallOptions) => Promise<T>,
    opts: CallOptions = {},
  ): Promise<T> {
    if (this.closed) throw this.closedError(what);
    this.counters.calls++;
    const budget = opts.timeoutMs ?? this.timeoutMs;
    if (!(typeof budget === 'number' && budget > 0)) {
      throw new TritonError(
        'INVALID_ARGUMENT',
        `timeoutMs must be a positive number of milliseconds, got ${String(opts.timeoutMs)}`,
        { endpoint: this.endpoint },
      );
    }
    const deadline = Date.now() + budget;
    const tried = new Set<Member>();
    const used = new Set<Member>();
    let retries = 0;
    let previous: Member | undefined;
    let failure: unknown;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 && failure !== undefined) {
        throw ReplicaClient.withHistory(failure, retries, used.size);
      }
      let m = this.pick(tried);
      if (!m) {
        // Every endpoint failed this round.
        tried.clear();
        m = this.pick(tried)!;
      }
      if (previous && m !== previous) this.counters.failovers++;
      previous = m;
      used.add(m);
      const epoch = m.epoch;
      m.outstanding++;
      m.requests++;
      try {
        const result = await fn(m.client, {
          timeoutMs: Math.max(1, remaining),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        // An answer to an attempt sent before the endpoint left the rotation proves nothing.
        if (m.epoch === epoch) this.markUp(m);
        return result;
      } catch (err) {
        failure = err;
      } finally {
        m.outstanding--;
      }
      if (this.closed) throw this.closedError(what);
      if (opts.signal?.aborted || !isRetryable(failure)) {
        throw ReplicaClient.withHistory(failure, retries, used.size);
      }
      m.failures++;
      if (isEndpointDown(failure)) this.markDown(m, failure as TritonError);
      tried.add(m);
      const noneUp = this.members.every((o) => o.state === 'down');
      const others = this.members.some((o) => !tried.has(o) && (noneUp || o.state === 'up'));
      if (retries >= this.retry.maxRetries) {
        throw ReplicaClient.withHistory(failure, retries, used.size);
      }
      if (!others) {
        // Nowhere new to go: wait, then start a new round over every endpoint.
        const delay = backoffDelay(retries, this.retry, this.random);
        if (Date.now() + delay >= deadline) {
          throw ReplicaClient.withHistory(failure, retries, used.size);
        }
        await sleep(delay, opts.signal);
        if (this.closed) throw this.closedError(what);
        tried.clear();
      }
      retries++;
      this.counters.retries++;
      noteRetry();
    }
  }

  // ---- InferenceClient ----------------------------------------------------------------

  /** True when some endpoint is live: asks them in turn, up ones first, without retries. */
  serverLive(opts?: CallOptions): Promise<boolean> {
    return this.anyTrue('the server-live check', (c, o) => c.serverLive(o), opts);
  }

  /**
   * True when some endpoint is ready: asks them in turn, up ones first, without retries.
   * An endpoint that says it is not ready leaves the rotation, as on a failed probe.
   */
  serverReady(opts?: CallOptions): Promise<boolean> {
    return this.anyTrue('the server-ready check', (c, o) => c.serverReady(o), opts);
  }

  /**
   * The first `true` from an endpoint; `false` when the others failed or said false too;
   * the last error when none answered. One deadline over the whole round.
   */
  private async anyTrue(
    what: string,
    fn: (client: InferenceClient, opts: CallOptions) => Promise<boolean>,
    opts: CallOptions = {},
  ): Promise<boolean> {
    if (this.closed) throw this.closedError(what);
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs);
    const order = [
      ...this.members.filter((m) => m.state === 'up'),
      ...this.members.filter((m) => m.state === 'down'),
    ];
    let answeredFalse = false;
    let failure: unknown;
    for (const m of order) {
      const remaining = deadline - Date.now();
      if (remaining <= 0 || opts.signal?.aborted) break;
      const epoch = m.epoch;
      try {
        const ok = await fn(m.client, { ...opts, timeoutMs: remaining });
        if (ok) {
          if (m.epoch === epoch) this.markUp(m);
          return true;
        }
        answeredFalse = true;
        this.markDown(
          m,
          new TritonError('TRITON_UNAVAILABLE', `${m.client.endpoint} answered no to ${what}`, {
            endpoint: m.client.endpoint,
          }),
        );
      } catch (err) {
        failure = err;
        if (isEndpointDown(err)) this.markDown(m, err as TritonError);
      }
      if (this.closed) throw this.closedError(what);
    }
    if (answeredFalse || failure === undefined) return false;
    throw failure;
  }

  serverMetadata(opts?: CallOptions): Promise<ServerMetadata> {
    return this.run('server metadata', (c, o) => c.serverMetadata(o), opts);
  }

  modelReady(model: string, version?: string, opts?: CallOptions): Promise<boolean> {
    return this.run('the model-ready check', (c, o) => c.modelReady(model, version, o), opts);
  }

  modelMetadata(model: string, version?: string, opts?: CallOptions): Promise<ModelMetadata> {
    return this.run('model metadata', (c, o) => c.modelMetadata(model, version, o), opts);
  }

  modelConfig(model: string, version?: string, opts?: CallOptions): Promise<ModelConfig> {
    return this.run('model config', (c, o) => c.modelConfig(model, version, o), opts);
  }

  repositoryIndex(opts?: CallOptions & { ready?: boolean }): Promise<RepositoryModel[]> {
    const ready = opts?.ready;
    return this.run(
      'the repository index',
      (c, o) => c.repositoryIndex(ready === undefined ? o : { ...o, ready }),
      opts,
    );
  }

  /** Loads on every up endpoint (a deployment serves the same models everywhere); not retried. */
  loadModel(model: string, opts?: CallOptions): Promise<void> {
    return this.everyUp(`loading model '${model}'`, (c) => c.loadModel(model, opts));
  }

  /** Unloads on every up endpoint; not retried. */
  unloadModel(model: string, opts?: CallOptions): Promise<void> {
    return this.everyUp(`unloading model '${model}'`, (c) => c.unloadModel(model, opts));
  }

  private async everyUp(what: string, fn: (c: InferenceClient) => Promise<void>): Promise<void> {
    if (this.closed) throw this.closedError(what);
    const up = this.members.filter((m) => m.state === 'up');
    const targets = up.length > 0 ? up : this.members;
    const results = await Promise.allSettled(targets.map((m) => fn(m.client)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * The deployment's statistics: the sum over the endpoints that answer (counts and
   * durations added, last_inference the latest). Fails only when none answers.
   */
  async modelStatistics(
    model?: string,
    version?: string,
    opts?: CallOptions,
  ): Promise<ModelStatistics[]> {
    const what = 'model statistics';
    if (this.closed) throw this.closedError(what);
    const up = this.members.filter((m) => m.state === 'up');
    const targets = up.length > 0 ? up : this.members;
    const results = await Promise.allSettled(
      targets.map((m) => m.client.modelStatistics(model, version, opts)),
    );
    const answered = results.filter(
      (r): r is PromiseFulfilledResult<ModelStatistics[]> => r.status === 'fulfilled',
    );
    if (answered.length === 0) throw (results[0] as PromiseRejectedResult).reason;
    return sumStatistics(answered.map((r) => r.value));
  }

  infer(request: InferRequest, opts?: CallOptions): Promise<InferResponse> {
    return this.run(`inference on model '${request.model}'`, (c, o) => c.infer(request, o), opts);
  }

  /** Stops the probes and closes every endpoint's client. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    await Promise.allSettled(this.members.map((m) => m.client.close()));
  }
}

function addDuration(a: StatisticDuration, b: StatisticDuration): StatisticDuration {
  return { count: a.count + b.count, ns: a.ns + b.ns };
}

/** Adds per-endpoint statistics of the same (model, version) together. */
export function sumStatistics(lists: ModelStatistics[][]): ModelStatistics[] {
  const byKey = new Map<string, ModelStatistics>();
  for (const list of lists) {
    for (const s of list) {
      const key = `${s.name}\u0000${s.version}`;
      const have = byKey.get(key);
      if (!have) {
        byKey.set(key, {
          ...s,
          inference_stats: { ...s.inference_stats },
        });
        continue;
      }
      have.last_inference = Math.max(have.last_inference, s.last_inference);
      have.inference_count += s.inference_count;
      have.execution_count += s.execution_count;
      const a = have.inference_stats;
      const b = s.inference_stats;
      have.inference_stats = {
        success: addDuration(a.success, b.success),
        fail: addDuration(a.fail, b.fail),
        queue: addDuration(a.queue, b.queue),
        compute_input: addDuration(a.compute_input, b.compute_input),
        compute_infer: addDuration(a.compute_infer, b.compute_infer),
        compute_output: addDuration(a.compute_output, b.compute_output),
      };
    }
  }
  return [...byKey.values()];
}
