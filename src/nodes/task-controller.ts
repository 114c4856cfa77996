/**
 * One task node's behaviour (detect / segment / classify): prepares the model profile at
 * deploy, runs messages through the queue and the vision pipeline, and ends each message
 * exactly once through the one error path (red status + done(err)).
 */
import { countRetries, type RetryTally } from '../client/retry';
import { TritonError, toTritonError } from '../protocol/errors';
import { annotate } from '../vision/annotate';
import { decodeImage } from '../vision/image';
import {
  finishTask,
  prepareTask,
  resolveProfile,
  runTask,
  runTaskBatchSettled,
  type PreparedTask,
  type TaskOptions,
  type TaskResult,
} from '../vision/pipeline';
import type { ImageInput, ModelProfile } from '../vision/types';
import { TASK_OPTIONS, check, toNumber } from '../shared/options';
import type { TaskConfig, TaskKind } from './config';
import {
  backoffDelay,
  isTransient,
  type ConnectionState,
  type ServerConnection,
  withReplicas,
} from './connection';
import { LabelResolver, classIdsFor, relabel } from './labels';
import { DynamicBatcher } from './dynamic-batch';
import { buildBatchOutput, buildOutput, type BatchFailure } from './output';
import { parseOverrides, taskOptions, type MessageOverrides } from './overrides';
import { previewDataUrl, previewTopic } from './preview';
import { EveryNth, InputQueue, type QueueOptions, type QueueState, type StreamMode } from './queue';
import type { StatusText } from './status';
import type { DoneFunction, Node, NodeAPI, NodeMessage, NodeStatus, SendFunction } from './types';

type Phase = 'idle' | 'preparing' | 'ready' | 'failed';

/** A message in the queue, with its pre-processing when that started ahead of its turn. */
interface Job {
  msg: NodeMessage;
  send: SendFunction;
  done: DoneFunction;
  ahead?: Promise<Prepared>;
  /** Set when its turn has come (the worker runs it). */
  started?: boolean;
  /**
   * Its retries (msg.retries), counted both in its turn and in the work done ahead of it;
   * each one also goes into the node's total at once.
   */
  tally: RetryTally;
}

/** What a message needs before its request: checked settings and, for one image, its tensor. */
type Prepared =
  | {
      kind: 'single';
      connection: ServerConnection;
      model: string;
      image: unknown;
      options: TaskOptions;
      labels: string[] | undefined;
      drawHere: boolean;
      pixels: ImageInput;
      decodeMs: number;
      task: PreparedTask;
    }
  | {
      kind: 'batch';
      connection: ServerConnection;
      model: string;
      images: unknown[];
      overrides: MessageOverrides;
    };

/**
 * One task node's behaviour: prepares the model profile at deploy (retrying while the
 * server is away), runs messages through the queue, and ends each one exactly once.
 */
export class TaskController {
  private readonly queue: InputQueue<Job>;
  private phase: Phase = 'idle';
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAttempt = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private lastStatus: NodeStatus = {};
  private serverState: ConnectionState = 'connecting';
  private previewWarned = false;
  private readonly labels: LabelResolver;
  /** Stream mode (latest frame only / every Nth frame) and its counters. */
  private readonly stream: StreamSettings;
  private readonly nth: EveryNth | undefined;
  /** Dynamic batching across messages, when the node has it on. */
  private readonly batcher: DynamicBatcher | undefined;
  /** The queue's options: dynamic batching raises its concurrency once the batch size is known. */
  private readonly queueOptions: QueueOptions;
  /** Requests sent again after a retryable failure, over every message so far. */
  private retryTotal = 0;
  /**
   * Messages whose pre-processing finished (or failed, to be reported in their turn) ahead
   * of their turn, while earlier requests were at the server: for tests and statistics.
   */
  preparedAhead = 0;

  constructor(
    private readonly node: Node,
    private readonly RED: NodeAPI,
    private readonly task: TaskKind,
    private readonly config: TaskConfig,
    private readonly connection: ServerConnection | undefined,
    private readonly setupError: TritonError | undefined,
    private readonly status: StatusText,
  ) {
    // The node's Labels or Label file, read once at deploy.
    this.labels = new LabelResolver(
      { labels: config.labels, labelsFile: config.labelsFile },
      RED.settings.userDir,
      task,
      (text) => this.node.log(text),
    );
    this.stream = streamSettings(config as unknown as Record<string, unknown>);
    this.nth = this.stream.mode === 'nth' ? new EveryNth(this.stream.everyNth) : undefined;
    this.queueOptions = {
      concurrency: config.concurrency * (config.batching ? Math.max(config.batchSize, 1) : 1),
      limit: config.queueLimit,
      dropPolicy: config.dropPolicy,
      latestPerKey: this.stream.mode === 'latest',
    };
    this.batcher =
      config.batching && connection
        ? new DynamicBatcher(connection.client, {
            maxBatch: config.batchSize,
            maxDelayUs: config.batchDelay,
          })
        : undefined;
    this.queue = new InputQueue<Job>(
      this.queueOptions,
      (job, signal) => this.handle(job, signal),
      (job, err) => {
        releaseAhead(job);
        this.fail(err, job.done, false);
      },
      (state) => this.showQueue(state),
      // Latest frame only: the frame replaced ends quietly (no Catch), counted in the stats.
      (job) => {
        releaseAhead(job);
        job.done();
      },
      // While requests are at the server, the next messages' decode and pre-processing run
      // (at most Concurrency of them); each message still fails or answers in its turn.
      (job) => {
        // Counted on the job's own tally, not on whatever message's work is running now.
        job.ahead = countRetries(job.tally, () => this.prepareJob(job.msg, this.abort.signal));
        const finished = (): void => {
          if (!job.started) this.preparedAhead++;
        };
        return job.ahead.then(finished, finished);
      },
    );
  }

  get counters(): InputQueue<unknown>['counters'] {
    return this.queue.counters;
  }

  /**
   * Requests this node sent again after a retryable failure (server unavailable, busy,
   * or a gateway's 502/503/504), over every message since deploy; msg.retries has each
   * message's share.
   */
  get retries(): number {
    return this.retryTotal;
  }

  start(): void {
    if (this.setupError) {
      this.setStatus(this.status.error(this.setupError.code));
      // A line of text in the debug sidebar, as core nodes write (no message: no Catch).
      this.node.error(this.setupError.message);
      return;
    }
    if (!this.config.model) {
      this.setStatus(this.status.ring('red', 'status.noModel'));
      return;
    }
    this.connection?.register(this);
    void this.prepare();
  }

  /** Connection news from the config node. */
  onServerState(state: ConnectionState): void {
    this.serverState = state;
    if (this.closed) return;
    if (state === 'connected') {
      if (this.phase === 'idle') {
        this.retryAttempt = 0;
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        void this.prepare();
      } else if (this.phase === 'ready' && this.isQuiet()) {
        // Back after an outage: the model was prepared before, so the node is ready again
        // without waiting for the next message to say so.
        this.setStatus(this.status.dot('green', 'status.ready'));
      }
    } else if (this.isQuiet()) {
      this.setStatus(
        state === 'down' ? this.unreachable() : this.status.ring('yellow', 'status.connecting'),
      );
    }
  }

  /**
   * Red ring `cannot reach host:port`: yellow is only for the first attempt (and a model
   * that is loading); once the server is known to be away the node says so, and turns
   * green by itself when the connection's probe finds the server again.
   */
  private unreachable(): NodeStatus {
    return this.status.ring('red', 'status.unreachable', {
      endpoint: this.connection?.endpoint ?? '',
    });
  }

  /** The node's input handler: never throws, every message ends through done. */
  input(msg: NodeMessage, send: SendFunction, done: DoneFunction): void {
    const job: Job = { msg, send, done, tally: this.newTally() };
    if (this.stream.mode === 'all') {
      this.queue.push(job);
      return;
    }
    const key = this.streamKey(msg);
    if (this.nth && !this.nth.admit(key)) {
      // Every Nth frame: the others end at once, without a result and without an error.
      done();
      return;
    }
    this.queue.push(job, key);
  }

  /** A message's retry tally: each retry counts on the message and, at once, in the node's total. */
  private newTally(): RetryTally {
    let mine = 0;
    const addToTotal = (n: number): void => {
      this.retryTotal += n;
    };
    return {
      get retries(): number {
        return mine;
      },
      set retries(n: number) {
        addToTotal(n - mine);
        mine = n;
      },
    };
  }

  /** Stream-mode counters: frames replaced in the queue, frames skipped (every Nth). */
  get streamStats(): { mode: StreamMode; replaced: number; skipped: number } {
    return {
      mode: this.stream.mode,
      replaced: this.queue.replaced,
      skipped: this.nth?.skipped ?? 0,
    };
  }

  private streamKey(msg: NodeMessage): string {
    let raw: unknown;
    try {
      raw = this.RED.util.getMessageProperty(msg, this.stream.property);
    } catch {
      raw = undefined;
    }
    return raw === undefined || raw === null ? '' : String(raw);
  }

  /** msg.stream on results in a stream mode: the stream and the node's counters so far. */
  private withStreamStats(out: NodeMessage): NodeMessage {
    if (this.stream.mode !== 'all') out.stream = { key: this.streamKey(out), ...this.streamStats };
    return out;
  }

  /**
   * The green status after a result, with the stream-mode counter when one is on, else
   * the requests sent again since deploy when there were any.
   */
  private okStatus(ms: number): NodeStatus {
    const { mode, replaced, skipped } = this.streamStats;
    if (mode === 'latest') return this.status.dot('green', 'status.okReplaced', { ms, replaced });
    if (mode === 'nth') return this.status.dot('green', 'status.okSkipped', { ms, skipped });
    if (this.retryTotal > 0) {
      return this.status.dot('green', 'status.okRetried', { ms, retries: this.retryTotal });
    }
    return this.status.dot('green', 'status.ok', { ms });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.connection?.deregister(this);
    this.batcher?.flushAll();
    await this.queue.close();
  }

  private isQuiet(): boolean {
    const s = this.queue.state;
    return s.running === 0 && s.waiting === 0;
  }

  private setStatus(s: NodeStatus): void {
    this.lastStatus = s;
    this.node.status(withReplicas(s, this.connection));
  }

  /** Replicas: the count of endpoints up (`ready · 2/3 up`) follows the rotation. */
  onReplicaStatus(): void {
    if (!this.closed && this.lastStatus) this.setStatus(this.lastStatus);
  }

  /** Deploy-time profile lookup: early, readable errors and a warm cache. */
  private async prepare(): Promise<void> {
    if (!this.connection || this.closed || this.phase === 'preparing') return;
    this.phase = 'preparing';
    // Retries while the server is known to be away keep the red ring: no yellow flicker.
    if (this.isQuiet() && this.serverState !== 'down') {
      this.setStatus(this.status.ring('yellow', 'status.connecting'));
    }
    try {
      await resolveProfile(this.connection.client, this.config.model, this.config.modelVersion, {
        expectTask: this.task,
        cache: this.connection.cache,
        signal: this.abort.signal,
      });
      // Labels that do not fit the model say so at deploy, not at the first message.
      await this.labels.labelsFor(this.connection, this.config.model, this.config.modelVersion);
      if (this.batcher) {
        // Enough messages in flight to fill a batch: Concurrency batches at once.
        const size = await this.batcher.batchSize(this.config.model, this.config.modelVersion);
        this.queueOptions.concurrency = this.config.concurrency * Math.max(size, 1);
      }
      if (this.closed) return;
      this.phase = 'ready';
      this.connection.reportSuccess();
      if (this.isQuiet()) this.setStatus(this.status.dot('green', 'status.ready'));
    } catch (e) {
      if (this.closed) return;
      const err = toTritonError(e);
      if (isTransient(err.code)) {
        // Not there yet: wait for the server (its probe tells us) or retry on our own clock.
        this.phase = 'idle';
        this.connection.reportFailure(err);
        if (this.isQuiet()) {
          this.setStatus(
            err.code === 'MODEL_NOT_READY'
              ? this.status.ring('yellow', 'status.loading')
              : this.unreachable(),
          );
        }
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.prepare();
        }, backoffDelay(this.retryAttempt++));
        return;
      }
      this.phase = 'failed';
      if (this.isQuiet()) this.setStatus(this.errorStatus(err));
      this.node.error(err.message);
    }
  }

  /**
   * One message, its retries counted: msg.retries says how many requests were sent again
   * for it, in its turn or ahead of it (only when some were), on its result or on the
   * message a Catch node gets.
   */
  private async handle(job: Job, signal: AbortSignal): Promise<void> {
    const { msg, send, done, tally } = job;
    job.started = true;
    // The job's tally already holds the retries of its work done ahead (if any); the
    // node's total took each one as it happened (the status after the result shows it).
    const stamp = (m: NodeMessage): void => {
      if (tally.retries > 0) m.retries = tally.retries;
      else delete m.retries;
    };
    await countRetries(tally, () =>
      this.run(
        job,
        (out) => {
          if (!Array.isArray(out)) stamp(out);
          send(out);
        },
        (err) => {
          if (err) stamp(msg);
          done(err);
        },
        signal,
      ),
    );
  }

  private async run(
    job: Job,
    send: SendFunction,
    done: DoneFunction,
    signal: AbortSignal,
  ): Promise<void> {
    const { msg } = job;
    try {
      const prep = await (job.ahead ?? this.prepareJob(msg, signal));
      job.ahead = undefined;
      if (prep.kind === 'batch') {
        const { connection, model, images, overrides } = prep;
        await this.handleBatch(connection, msg, send, done, images, model, overrides, signal);
        return;
      }
      const { connection, model, image, options, labels, drawHere, pixels, decodeMs } = prep;
      // The run's own signal: a prepared message cancelled by close() stops here too.
      options.signal = signal;
      const result = await this.infer(connection, model, pixels, options, prep.task);
      result.timings.decodeMs += decodeMs;
      result.timings.totalMs += decodeMs;
      if (labels) relabel(result, labels);
      if (drawHere) {
        const t0 = performance.now();
        result.annotated = await drawResult(pixels, result);
        result.timings.totalMs += performance.now() - t0;
      }
      connection.reportSuccess();
      if (model === this.config.model && this.phase !== 'ready') this.phase = 'ready';
      if (this.config.preview) await this.publishPreview(pixels, result);
      send(
        this.withStreamStats(
          buildOutput(msg, result, this.config.input, image, this.config.keepImage),
        ),
      );
      if (this.isQuietAfterThis()) {
        this.setStatus(this.okStatus(Math.round(result.timings.totalMs)));
      }
      done();
    } catch (e) {
      const err = toTritonError(e);
      this.connection?.reportFailure(err);
      this.fail(err, done, true);
    }
  }

  /**
   * Everything before a message's request: its settings checked, its labels, and for one
   * image the decode and the model input (prepareTask). Runs in the message's turn, or
   * ahead of it while earlier requests are at the server; a failure is thrown in its turn.
   */
  private async prepareJob(msg: NodeMessage, signal: AbortSignal): Promise<Prepared> {
    if (this.setupError) throw this.setupError;
    const connection = this.connection;
    if (!connection) {
      throw new TritonError(
        'INVALID_CONFIG',
        'No server configured: choose a Triton server in the node',
      );
    }
    const overrides = parseOverrides(msg.triton);
    const model = overrides.model ?? this.config.model;
    if (!model) {
      throw new TritonError(
        'INVALID_CONFIG',
        'No model chosen: pick a model in the node or set msg.triton.model',
      );
    }
    const image = this.RED.util.getMessageProperty(msg, this.config.input);
    if (image === undefined || image === null) {
      throw new TritonError(
        'INVALID_INPUT',
        `msg.${this.config.input} is empty: send the image (a JPEG/PNG/WebP Buffer, a data URL ` +
          'or raw pixels) there, or change the node’s Image property',
      );
    }
    if (Array.isArray(image)) {
      // Arrays run through runTaskBatchSettled in their turn, one batch of tensors at a time.
      return { kind: 'batch', connection, model, images: image, overrides };
    }
    const { options, labels, drawHere } = await this.labelledOptions(connection, model, overrides);
    options.cache = connection.cache;
    options.signal = signal;
    const { pixels, decodeMs } = await this.decodeOnce(image as ImageInput, options);
    const task = await prepareTask(
      this.batcher?.client ?? connection.client,
      model,
      pixels,
      options,
    );
    return {
      kind: 'single',
      connection,
      model,
      image,
      options,
      labels,
      drawHere,
      pixels,
      decodeMs,
      task,
    };
  }

  /**
   * The run's options with the node's label override applied: class filters mapped to the
   * new names' ids, and annotation taken out of the pipeline when the picture must be drawn
   * after relabelling (`drawHere`).
   */
  private async labelledOptions(
    connection: ServerConnection,
    model: string,
    overrides: MessageOverrides,
  ): Promise<{ options: TaskOptions; labels: string[] | undefined; drawHere: boolean }> {
    const options = taskOptions(this.task, this.config, overrides);
    const labels = await this.labels.labelsFor(
      connection,
      model,
      options.version ?? '',
      overrides.labels,
    );
    // With new names the picture is drawn here, after relabelling, from the same pixels.
    const drawHere = labels !== undefined && options.annotate === true;
    if (labels && options.classes) options.classes = classIdsFor(options.classes, labels);
    if (drawHere) delete options.annotate;
    return { options, labels, drawHere };
  }

  /**
   * A message whose image property is an array: every image runs through
   * runTaskBatchSettled, so the model gets one batched request per max_batch_size
   * (one request per image when the model has no batch dimension). The message goes on with
   * one payload per image in order; an image that failed leaves null in its place and an
   * entry {index, code, message} in msg.errors. When every image fails (server away, wrong
   * model...) the message fails as a whole with the first image's error, as a single-image
   * message would.
   */
  private async handleBatch(
    connection: ServerConnection,
    msg: NodeMessage,
    send: SendFunction,
    done: DoneFunction,
    images: unknown[],
    model: string,
    overrides: MessageOverrides,
    signal: AbortSignal,
  ): Promise<void> {
    if (images.length === 0) {
      throw new TritonError(
        'INVALID_INPUT',
        `msg.${this.config.input} is an empty array: send one image, or an array of images ` +
          'to run as one batch',
      );
    }
    const t0 = performance.now();
    const { options, labels, drawHere } = await this.labelledOptions(connection, model, overrides);
    const settled = await runTaskBatchSettled(connection.client, model, images as ImageInput[], {
      ...options,
      cache: connection.cache,
      signal,
    });
    const failures: BatchFailure[] = [];
    const results: (TaskResult | null)[] = [];
    for (const [index, r] of settled.entries()) {
      if (r.status === 'rejected') {
        const err = toTritonError(r.reason);
        failures.push({ index, code: err.code, message: err.message });
        results.push(null);
        continue;
      }
      const result = r.value;
      if (labels) relabel(result, labels);
      if (drawHere) {
        result.annotated = await drawResult(images[index] as ImageInput, result);
      }
      results.push(result);
    }
    if (failures.length === images.length) {
      // Same code as the first image's error, with a sentence that says it was an array.
      const err = toTritonError((settled[0] as PromiseRejectedResult).reason);
      throw new TritonError(
        err.code,
        `Every image of the array (${images.length}) failed; image 0: ${err.message}`,
        {
          cause: err,
          ...(err.model !== undefined ? { model: err.model } : {}),
          ...(err.endpoint !== undefined ? { endpoint: err.endpoint } : {}),
          ...(err.status !== undefined ? { status: err.status } : {}),
        },
      );
    }
    connection.reportSuccess();
    if (model === this.config.model && this.phase !== 'ready') this.phase = 'ready';
    const first = results.findIndex((r) => r !== null);
    if (this.config.preview)
      await this.publishPreview(images[first] as ImageInput, results[first]!);
    send(
      buildBatchOutput(msg, results, failures, this.config.input, images, this.config.keepImage),
    );
    if (this.isQuietAfterThis()) {
      const ms = Math.round(performance.now() - t0);
      this.setStatus(
        failures.length === 0
          ? this.status.dot('green', 'status.batchOk', { count: images.length, ms })
          : this.status.ring('yellow', 'status.batchPartial', {
              failed: failures.length,
              count: images.length,
              ms,
            }),
      );
    }
    done();
  }

  /**
   * runTask, and once more with a fresh profile when the model was replaced on the server
   * under the same name: the server rejects the old input shape or dtype
   * (INVALID_ARGUMENT), or the answer no longer fits the old profile (UNSUPPORTED_MODEL,
   * PROTOCOL_ERROR from decoding). The node re-reads the metadata once, logs the change and
   * carries on without a redeploy; with the profile unchanged the first error stands.
   */
  private async infer(
    connection: ServerConnection,
    model: string,
    pixels: ImageInput,
    options: TaskOptions,
    prepared: PreparedTask,
  ): Promise<TaskResult> {
    try {
      return await finishTask(this.batcher?.client ?? connection.client, prepared, options);
    } catch (e) {
      const err = toTritonError(e);
      if (!MODEL_CHANGED_CODES.has(err.code) || options.signal?.aborted) throw err;
      const version = options.version ?? '';
      const lookup = { cache: connection.cache, expectTask: this.task };
      let before: ModelProfile;
      try {
        before = await resolveProfile(connection.client, model, version, lookup);
      } catch {
        throw err; // No profile to compare with: not a replaced model.
      }
      connection.cache.invalidate(model);
      this.labels.forget(model);
      const after = await resolveProfile(connection.client, model, version, {
        ...lookup,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (profileShape(before) === profileShape(after)) throw err;
      this.node.log(
        `Model '${model}' changed on ${connection.endpoint} (input ${inputText(before)} → ` +
          `${inputText(after)}): using its new metadata`,
      );
      return runTask(this.batcher?.client ?? connection.client, model, pixels, options);
    }
  }

  /**
   * Annotation and the preview draw on the original image, so a message that needs either
   * is decoded once here and every stage gets the pixels (a raw RGB frame goes through sharp
   * without another decode). The decode follows the message's ICC choice, since the model
   * input is made from these pixels. Otherwise the pipeline decodes on its own (with
   * shrink-on-load when resize is 'fast').
   */
  private async decodeOnce(
    image: ImageInput,
    options: Pick<TaskOptions, 'annotate' | 'icc'>,
  ): Promise<{ pixels: ImageInput; decodeMs: number }> {
    if (!options.annotate && !this.config.preview) return { pixels: image, decodeMs: 0 };
    const t0 = performance.now();
    const pixels = await decodeImage(image, options.icc ? { icc: options.icc } : {});
    return { pixels, decodeMs: performance.now() - t0 };
  }

  /**
   * Sends the editor its thumbnail before the message moves on, so the queue's concurrency
   * also bounds the preview work. A failure is reported once and never fails the message.
   */
  private async publishPreview(image: ImageInput, result: TaskResult): Promise<void> {
    try {
      const url = await previewDataUrl(image, result);
      if (this.closed) return;
      if (!this.RED.comms) throw new Error('this Node-RED runtime offers no RED.comms');
      this.RED.comms.publish(previewTopic(this.node.id), url, false);
    } catch (e) {
      if (this.previewWarned) return;
      this.previewWarned = true;
      const message = e instanceof Error ? e.message : String(e);
      this.node.warn(this.status.text('errors.previewFailed', { message }));
    }
  }

  /** The job being handled still counts as running while it ends. */
  private isQuietAfterThis(): boolean {
    const s = this.queue.state;
    return s.running <= 1 && s.waiting === 0;
  }

  /** The one way a message fails: red status (unless others are still working) + done(err). */
  private fail(err: TritonError, done: DoneFunction, running: boolean): void {
    if (!this.closed && (!running || this.isQuietAfterThis())) {
      this.setStatus(this.errorStatus(err));
    }
    done(err);
  }

  /** A segment node whose model is missing says how to get one: the demo ships none. */
  private errorStatus(err: TritonError): NodeStatus {
    if (this.task === 'segment' && err.code === 'NOT_FOUND') {
      return this.status.ring('red', 'status.exportNeeded');
    }
    return this.status.error(err.code);
  }

  private showQueue(state: QueueState): void {
    if (this.closed) return;
    if (state.running === 0 && state.waiting === 0) return;
    // A red status of a fresh failure stays until the next message starts.
    this.setStatus(
      state.waiting > 0
        ? this.status.dot('blue', 'status.runningQueued', { queued: state.waiting })
        : this.status.dot('blue', 'status.running'),
    );
  }

  /** Current status (for tests and the health of the node). */
  get currentStatus(): NodeStatus {
    return this.lastStatus;
  }

  get connectionState(): ConnectionState {
    return this.serverState;
  }
}

interface StreamSettings {
  mode: StreamMode;
  everyNth: number;
  property: string;
}

/**
 * The stream-mode settings of a task config, checked against their rules in
 * src/shared/options.ts (missing ones take the defaults: a flow saved before stream modes).
 */
export function streamSettings(raw: Record<string, unknown>): StreamSettings {
  const value = (field: 'streamMode' | 'everyNth' | 'streamProperty'): unknown => {
    const v = raw[field];
    if (v === undefined || v === null) return TASK_OPTIONS[field].default;
    const problem = check(TASK_OPTIONS, field, v, (f) => raw[f] ?? TASK_OPTIONS.streamMode.default);
    if (problem) {
      throw new TritonError('INVALID_CONFIG', `${problem}: fix it in the node's settings`);
    }
    return v;
  };
  const mode = value('streamMode') as StreamMode;
  return {
    mode,
    everyNth: mode === 'nth' ? toNumber(value('everyNth')) : 1,
    property:
      String(value('streamProperty'))
        .trim()
        .replace(/^msg\./, '') || 'topic',
  };
}

/** Failures that a model replaced under the same name causes. */
const MODEL_CHANGED_CODES = new Set(['INVALID_ARGUMENT', 'UNSUPPORTED_MODEL', 'PROTOCOL_ERROR']);

/** What a replaced model changes that the request depends on. */
function profileShape(p: ModelProfile): string {
  return JSON.stringify([p.input, p.outputs, p.numClasses, p.numMasks, p.task, p.family]);
}

function inputText(p: ModelProfile): string {
  const outputs = Object.values(p.outputs).join(', ');
  return `${p.input.datatype} [${p.input.shape.join(', ')}], ${p.numClasses} classes, outputs ${outputs}`;
}

/**
 * A message that will not run (dropped, replaced, cancelled) gives its prepared tensor
 * back to the pool once its pre-processing has finished.
 */
function releaseAhead(job: Job): void {
  const ahead = job.ahead;
  job.ahead = undefined;
  ahead?.then(
    (p) => {
      if (p.kind === 'single') p.task.release();
    },
    () => undefined,
  );
}

/** The result drawn on its image (boxes and masks, or the top classes). */
function drawResult(image: ImageInput, result: TaskResult): Promise<Buffer> {
  return annotate(image, {
    ...(result.detections ? { detections: result.detections } : {}),
    ...(result.classes ? { classes: result.classes } : {}),
  });
}
