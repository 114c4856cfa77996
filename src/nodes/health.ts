/**
 * The health check behind triton-health: server live/ready, its metadata and the
 * ready state of the chosen models, on input and on a timer, sent always or only
 * when something changed.
 */
import { TritonError, toTritonError, type TritonErrorCode } from '../client/errors';
import type { InferenceClient } from '../client/types';
import type { HealthConfig } from './config';
import { modelList } from './config';
import type { ServerConnection } from './connection';
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
  return JSON.stringify([p.live, p.ready, p.models, p.server, p.error?.code ?? null]);
}

export class HealthController {
  private timer: NodeJS.Timeout | undefined;
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
    this.node.status(this.status.ring('yellow', 'status.connecting'));
    if (this.config.interval > 0) this.schedule(0);
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
      const result = await checkHealth(this.connection!.client, this.models, this.abort.signal);
      if (result.error) {
        this.connection!.reportFailure(
          new TritonError(result.error.code as TritonErrorCode, result.error.message),
        );
      } else if (result.live) this.connection!.reportSuccess();
      const key = stateKey(result);
      const changed = key !== this.lastKey;
      this.lastKey = key;
      if (!this.closed) this.node.status(this.statusFor(result));
      return { result, changed };
    });
    this.chain = run.catch(() => undefined);
    return run;
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
