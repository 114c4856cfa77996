/**
 * The health check behind triton-health: server live/ready, its metadata and the
 * ready state of the chosen models, on input and on a timer, sent always or only
 * when something changed.
 */
import { TritonError, toTritonError, type TritonErrorCode } from '../protocol/errors';
import type { ReplicaStatus } from '../client/replicas';
import type { InferenceClient, ModelStatistics } from '../protocol/types';
import type { HealthConfig } from './config';
import { modelList } from './config';
import { withReplicas, type ServerConnection, type ServerUser } from './connection';
import type { StatusText } from './status';
import type { DoneFunction, Node, NodeMessage, NodeStatus, SendFunction } from './types';

export interface HealthPayload {
  live: boolean;
  ready: boolean;
  /** Ready state per model checked. */
  models: Record<string, boolean>;
  /** From the server's metadata; null when it could not be read. */
  server: { name: string; version: string } | null;
  error?: { code: string; message: string };
  /** With `statistics` on: per model, what happened since the previous check. */
  statistics?: Record<string, ModelActivity>;
  /** Why the statistics could not be read (the check itself went through). */
  statisticsError?: { code: string; message: string };
  /** When the server node has replicas: `2/3 up`, each endpoint, and the retry counters. */
  replicas?: ReplicaStatus;
}

/** One model's activity between two checks (all versions together). */
export interface ModelActivity {
  /** Requests that succeeded. */
  inferences: number;
  /** Requests that failed. */
  failures: number;
  /** Model executions (fewer than inferences when requests were batched). */
  executions: number;
  /** Mean time a request waited in the queue, in ms; null without requests. */
  meanQueueMs: number | null;
  /** Mean compute time (input + infer + output) per request, in ms; null without requests. */
  meanComputeMs: number | null;
}

/** Running totals of one model (all versions), as modelStatistics() counts them. */
export interface ModelTotals {
  success: number;
  fail: number;
  executions: number;
  queueCount: number;
  queueNs: number;
  computeCount: number;
  computeNs: number;
}

/** Adds up each model's statistics over its versions. */
export function totalsByModel(stats: ModelStatistics[]): Map<string, ModelTotals> {
  const out = new Map<string, ModelTotals>();
  for (const s of stats) {
    const t = out.get(s.name) ?? {
      success: 0,
      fail: 0,
      executions: 0,
      queueCount: 0,
      queueNs: 0,
      computeCount: 0,
      computeNs: 0,
    };
    const i = s.inference_stats;
    t.success += i.success.count;
    t.fail += i.fail.count;
    t.executions += s.execution_count;
    t.queueCount += i.queue.count;
    t.queueNs += i.queue.ns;
    t.computeCount += i.compute_infer.count;
    t.computeNs += i.compute_input.ns + i.compute_infer.ns + i.compute_output.ns;
    out.set(s.name, t);
  }
  return out;
}

/**
 * Each model's activity between `before` (the previous check; absent: since the server
 * started) and `now`. Counters that went down (a restarted server, an unloaded model)
 * start again from zero.
 */
export function activitySince(
  before: Map<string, ModelTotals> | undefined,
  now: Map<string, ModelTotals>,
): Record<string, ModelActivity> {
  const out: Record<string, ModelActivity> = {};
  for (const name of [...now.keys()].sort()) {
    const n = now.get(name)!;
    const b0 = before?.get(name);
    const b = b0 && b0.success <= n.success && b0.fail <= n.fail ? b0 : undefined;
    const d = (k: keyof ModelTotals): number => n[k] - (b ? b[k] : 0);
    const ms = (ns: number, count: number): number | null =>
      count > 0 ? Math.round((ns / count / 1e6) * 1000) / 1000 : null;
    out[name] = {
      inferences: d('success'),
      failures: d('fail'),
      executions: d('executions'),
      meanQueueMs: ms(d('queueNs'), d('queueCount')),
      meanComputeMs: ms(d('computeNs'), d('computeCount')),
    };
  }
  return out;
}

/**
 * setTimeout's longest delay: 2^31 - 1 ms (24.86 days). A longer one overflows to 1 ms,
 * which would turn a monthly health check into a thousand a second.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** One check. Never throws: a failure is reported in `error`. */
export async function checkHealth(
  client: InferenceClient,
  models: string[],
  signal?: AbortSignal,
): Promise<HealthPayload> {
  const opts = signal ? { signal } : {};
  const out: HealthPayload = { live: false, ready: false, models: {}, server: null };
  try {
    out.live = await client.serverLive(opts);
    out.ready = await client.serverReady(opts);
    const meta = await client.serverMetadata(opts);
    out.server = { name: meta.name, version: meta.version };
    const names =
      models.length > 0
        ? models
        : [...new Set((await client.repositoryIndex(opts)).map((m) => m.name))].sort();
    const states = await Promise.all(
      names.map((name) =>
        client.modelReady(name, undefined, opts).then(
          (ready) => ready,
          // An unknown or unloadable model is simply not ready.
          () => false,
        ),
      ),
    );
    names.forEach((name, i) => (out.models[name] = states[i]));
  } catch (e) {
    const err = toTritonError(e);
    out.error = { code: err.code, message: err.message };
    for (const name of models) if (!(name in out.models)) out.models[name] = false;
  }
  return out;
}

/** What changed-detection compares: everything but the wording of an error. */
function stateKey(p: HealthPayload): string {
  return JSON.stringify([
    p.live,
    p.ready,
    p.models,
    p.server,
    p.error?.code ?? null,
    p.replicas?.up ?? null,
  ]);
}

export class HealthController implements ServerUser {
  private timer: NodeJS.Timeout | undefined;
  private lastStatus: NodeStatus | undefined;
  private lastTotals: Map<string, ModelTotals> | undefined;
  private closed = false;
  private readonly abort = new AbortController();
  private chain: Promise<unknown> = Promise.resolve();
  private lastKey: string | undefined;
  private readonly models: string[];

  constructor(
    private readonly node: Node,
    private readonly config: HealthConfig,
    private readonly connection: ServerConnection | undefined,
    private readonly status: StatusText,
  ) {
    this.models = modelList(config.models);
  }

  start(): void {
    if (!this.connection) {
      this.node.status(this.status.ring('red', 'status.noServer'));
      return;
    }
    this.setStatus(this.status.ring('yellow', 'status.connecting'));
    if (this.connection.replicas) this.connection.register(this);
    if (this.config.interval > 0) this.schedule(0);
  }

  /** The health node's state comes from its own checks; only replica news is heard. */
  onServerState(): void {}

  onReplicaStatus(): void {
    if (!this.closed && this.lastStatus) this.setStatus(this.lastStatus);
  }

  private setStatus(s: NodeStatus): void {
    this.lastStatus = s;
    this.node.status(withReplicas(s, this.connection));
  }

  /** A message asks for a check now; it is always answered with the result. */
  input(msg: NodeMessage, send: SendFunction, done: DoneFunction): void {
    if (!this.connection) {
      done(
        new TritonError(
          'INVALID_CONFIG',
          'No server configured: choose a Triton server in the node',
        ),
      );
      return;
    }
    this.check().then(
      ({ result }) => {
        msg.payload = result;
        send(msg);
        done();
      },
      (e: unknown) => done(toTritonError(e)),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connection?.deregister(this);
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  /** Waits longer than setTimeout can (2^31 - 1 ms) in steps, then checks. */
  private schedule(delayMs: number): void {
    if (this.closed) return;
    const step = Math.min(delayMs, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (delayMs > step) {
        this.schedule(delayMs - step);
        return;
      }
      this.check().then(
        ({ result, changed }) => {
          if (this.closed) return;
          if (changed || this.config.emit === 'always') this.node.send({ payload: result });
          this.schedule(this.config.interval * 1000);
        },
        () => this.schedule(this.config.interval * 1000),
      );
    }, step);
  }

  /** Checks run one at a time, so a slow server cannot pile them up. */
  private check(): Promise<{ result: HealthPayload; changed: boolean }> {
    const run = this.chain.then(async () => {
      const connection = this.connection!;
      const result = await checkHealth(connection.client, this.models, this.abort.signal);
      if (this.config.statistics && !result.error) await this.addStatistics(result);
      const replicas = connection.replicas;
      if (replicas) result.replicas = replicas;
      if (result.error) {
        this.connection!.reportFailure(
          new TritonError(result.error.code as TritonErrorCode, result.error.message),
        );
      } else if (result.live) this.connection!.reportSuccess();
      const key = stateKey(result);
      const changed = key !== this.lastKey;
      this.lastKey = key;
      if (!this.closed) this.setStatus(this.statusFor(result));
      return { result, changed };
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Per-model activity since the previous check (the checked models, or every one). */
  private async addStatistics(result: HealthPayload): Promise<void> {
    try {
      const stats = await this.connection!.client.modelStatistics(undefined, undefined, {
        signal: this.abort.signal,
      });
      const wanted = this.models.length > 0 ? new Set(this.models) : undefined;
      const totals = totalsByModel(wanted ? stats.filter((s) => wanted.has(s.name)) : stats);
      result.statistics = activitySince(this.lastTotals, totals);
      this.lastTotals = totals;
    } catch (e) {
      const err = toTritonError(e);
      result.statisticsError = { code: err.code, message: err.message };
    }
  }

  private statusFor(p: HealthPayload): NodeStatus {
    if (p.error || !p.live) return this.status.ring('red', 'status.down');
    const names = Object.keys(p.models);
    const notReady = names.filter((n) => !p.models[n]).length;
    if (!p.ready && notReady === 0) return this.status.ring('yellow', 'status.notReady');
    if (notReady > 0) {
      return this.status.ring('yellow', 'status.someNotReady', {
        notReady,
        count: names.length,
      });
    }
    if (names.length === 0) return this.status.dot('green', 'status.ready');
    return this.status.dot('green', 'status.allReady', { count: names.length });
  }
}
