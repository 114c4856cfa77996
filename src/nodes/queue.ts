/**
 * The input queue of a task node: at most `concurrency` jobs run at once, at
 * most `limit` more wait, and a full queue drops a job by policy. Every job
 * pushed ends exactly once: it runs (answered) or it is handed to `onDrop`
 * (dropped). No Node-RED here, so the bookkeeping is testable on its own.
 *
 * With an `onAhead` handler, the first waiting jobs (as many as `concurrency`) have their
 * early work started while the running ones run. That work holds a slot until its job
 * starts running, or, for a job dropped, replaced or cancelled, until the work has
 * settled: at most `concurrency` jobs are worked on ahead at any time.
 */
import { TritonError } from '../protocol/errors';

export type DropPolicy = 'oldest' | 'newest' | 'error';

export interface QueueOptions {
  /** Jobs running at once, at least 1. */
  concurrency: number;
  /** Jobs waiting behind the running ones, 0 or more. */
  limit: number;
  /**
   * When a job arrives and `limit` are already waiting: 'oldest' drops the job that has
   * waited longest, 'newest' drops the one that joined last, 'error' rejects the arrival.
   */
  dropPolicy: DropPolicy;
  /**
   * Stream mode "latest frame only": a job pushed with the key of a job already waiting takes
   * that job's place in the line, and the one replaced ends through `onReplace` (no error).
   */
  latestPerKey?: boolean;
}

export interface QueueCounters {
  /** Jobs pushed (= answered + dropped + replaced). */
  received: number;
  /** Jobs whose worker finished (successfully or not). */
  answered: number;
  /** Jobs that never ran: dropped by policy or cancelled by close(). */
  dropped: number;
}

export interface QueueState {
  running: number;
  waiting: number;
}

/** Runs one job; `signal` aborts when the queue closes. Its own errors are its business. */
export type QueueWorker<T> = (job: T, signal: AbortSignal) => Promise<void>;
/** Ends a job that will not run, with QUEUE_FULL or CANCELLED. */
export type QueueDrop<T> = (job: T, err: TritonError) => void;
/** Ends a job that a newer one of its stream replaced (latest-frame mode): not an error. */
export type QueueReplace<T> = (job: T) => void;
/**
 * Starts the work of a waiting job that may run ahead of its turn (pre-processing while
 * requests are in flight); the promise settles when that work has finished, whatever the
 * outcome. The worker and the drop handler find the work on the job itself.
 */
export type QueueAhead<T> = (job: T) => Promise<unknown>;

export class InputQueue<T> {
  private readonly waiting: T[] = [];
  /** The stream key of each waiting job (same order), for latest-frame mode. */
  private readonly keys: (string | undefined)[] = [];
  /** Jobs replaced by a newer job of their stream while waiting (latest-frame mode). */
  replaced = 0;
  private running = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private idleWaiters: (() => void)[] = [];
  /** Waiting jobs whose early work was started (onAhead), with that work. */
  private readonly ahead = new Map<T, Promise<unknown>>();
  /** Slots held by early work: of waiting jobs, and of jobs gone whose work still runs. */
  private aheadBusy = 0;
  readonly counters: QueueCounters = { received: 0, answered: 0, dropped: 0 };

  constructor(
    private readonly options: QueueOptions,
    private readonly worker: QueueWorker<T>,
    private readonly onDrop: QueueDrop<T>,
    /** Called after every change of running/waiting (for a status line). */
    private readonly onChange: (state: QueueState) => void = () => undefined,
    private readonly onReplace: QueueReplace<T> = () => undefined,
    private readonly onAhead?: QueueAhead<T>,
  ) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Concurrency must be a whole number of at least 1, got ${options.concurrency}`,
      );
    }
    if (!Number.isInteger(options.limit) || options.limit < 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Queue limit must be a whole number of at least 0, got ${options.limit}`,
      );
    }
    if (!['oldest', 'newest', 'error'].includes(options.dropPolicy)) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Drop policy must be 'oldest', 'newest' or 'error', got '${String(options.dropPolicy)}'`,
      );
    }
  }

  get state(): QueueState {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Jobs worked on ahead of their turn right now (slots held), at most `concurrency`. */
  get aheadInFlight(): number {
    return this.aheadBusy;
  }

  /** Queues a job; `key` names its stream (used by latest-frame mode only). */
  push(job: T, key?: string): void {
    this.counters.received++;
    if (this.closed) {
      this.drop(job, this.cancelledError());
      return;
    }
    if (this.running < this.options.concurrency) {
      this.start(job);
      this.changed();
      return;
    }
    if (this.options.latestPerKey && key !== undefined) {
      const at = this.keys.indexOf(key);
      if (at >= 0) {
        const older = this.waiting[at] as T;
        this.waiting[at] = job;
        this.replaced++;
        this.forgetAhead(older);
        try {
          this.onReplace(older);
        } catch {
          // As for drops: a failing handler must not break the queue.
        }
        this.changed();
        return;
      }
    }
    if (this.waiting.length < this.options.limit) {
      this.waiting.push(job);
      this.keys.push(key);
      this.changed();
      return;
    }
    const { dropPolicy, limit } = this.options;
    // With no room at all (limit 0) there is nothing queued to give up for the arrival.
    if (dropPolicy === 'error' || limit === 0) {
      this.drop(job, this.fullError(`this message was rejected`));
      return;
    }
    const victim = dropPolicy === 'oldest' ? this.waiting.shift() : this.waiting.pop();
    if (dropPolicy === 'oldest') this.keys.shift();
    else this.keys.pop();
    this.waiting.push(job);
    this.keys.push(key);
    this.drop(
      victim as T,
      this.fullError(
        dropPolicy === 'oldest'
          ? 'the oldest waiting message was dropped'
          : 'the newest waiting message was dropped',
      ),
    );
    this.changed();
  }

  /**
   * Stops taking jobs: waiting ones end with CANCELLED, running ones see their signal
   * abort. Resolves when the running ones have finished.
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.abort.abort();
      const pending = this.waiting.splice(0);
      this.keys.splice(0);
      for (const job of pending) this.drop(job, this.cancelledError());
      this.changed();
    }
    await this.idle();
  }

  /** Resolves when nothing runs, nothing waits and no early work is left. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.running === 0 && this.waiting.length === 0 && this.aheadBusy === 0;
  }

  private wakeIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Starts early work for the first waiting jobs while slots are free. */
  private lookAhead(): void {
    if (!this.onAhead || this.closed) return;
    const window = Math.min(this.waiting.length, this.options.concurrency);
    for (let i = 0; i < window && this.aheadBusy < this.options.concurrency; i++) {
      const job = this.waiting[i] as T;
      if (this.ahead.has(job)) continue;
      let work: Promise<unknown>;
      try {
        work = this.onAhead(job);
      } catch {
        continue; // Its turn will do the work (and report what went wrong).
      }
      this.aheadBusy++;
      this.ahead.set(job, work);
    }
  }

  /**
   * A waiting job leaves without running (dropped, replaced, cancelled): its early work
   * keeps its slot until it has settled, so work abandoned cannot pile up.
   */
  private forgetAhead(job: T): void {
    const work = this.ahead.get(job);
    if (!work) return;
    this.ahead.delete(job);
    const free = (): void => {
      this.aheadBusy--;
      this.lookAhead();
      this.wakeIdle();
    };
    work.then(free, free);
  }

  private start(job: T): void {
    this.running++;
    // A job that starts takes its early work along: the slot goes to the next in line.
    if (this.ahead.delete(job)) this.aheadBusy--;
    // The worker starts on the next microtask, so the "running" state is announced before
    // a job that fails at once announces its failure. The worker owns its errors; the catch
    // only keeps a broken worker from leaving a rejected promise behind.
    void Promise.resolve()
      .then(() => this.worker(job, this.abort.signal))
      .catch(() => undefined)
      .finally(() => {
        this.running--;
        this.counters.answered++;
        const next = this.closed ? undefined : this.waiting.shift();
        if (next !== undefined) this.keys.shift();
        if (next !== undefined) this.start(next);
        this.changed();
        this.wakeIdle();
      });
  }

  private drop(job: T, err: TritonError): void {
    this.counters.dropped++;
    this.forgetAhead(job);
    try {
      this.onDrop(job, err);
    } catch {
      // A failing drop handler must not break the queue for the jobs behind it.
    }
  }

  private changed(): void {
    this.lookAhead();
    try {
      this.onChange(this.state);
    } catch {
      // Status updates are best effort.
    }
  }

  private fullError(what: string): TritonError {
    const { concurrency, limit } = this.options;
    return new TritonError(
      'QUEUE_FULL',
      `The input queue is full (${concurrency} running, ${limit} waiting) and ${what}: ` +
        'send fewer messages, raise the queue limit or the concurrency',
    );
  }

  private cancelledError(): TritonError {
    return new TritonError(
      'CANCELLED',
      'The node was stopped or redeployed before this message ran: send it again',
    );
  }
}

/** Stream mode of a task node: every frame, the latest frame of each stream, or every Nth. */
export type StreamMode = 'all' | 'latest' | 'nth';

/**
 * "Every Nth frame": per stream key, lets the 1st, (N+1)th, (2N+1)th... message through and
 * counts the others as skipped. Keys are strings (a missing key is the stream '').
 */
export class EveryNth {
  private readonly seen = new Map<string, number>();
  skipped = 0;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Every Nth must be a whole number of at least 1, got ${n}`,
      );
    }
  }

  /** Whether this message of stream `key` is processed. */
  admit(key: string): boolean {
    const count = this.seen.get(key) ?? 0;
    this.seen.set(key, count + 1);
    if (count % this.n === 0) return true;
    this.skipped++;
    return false;
  }
}
