/**
 * Glue shared by the task nodes (detect / segment / classify): per-message option
 * validation, the one error path (red status + done(err)), status text from the
 * catalog, and the controller that ties a node to its server, its queue and the
 * vision pipeline.
 */
import { TritonError, toTritonError } from '../client/errors';
import { resolveProfile, runTask, type TaskOptions, type TaskResult } from '../vision/pipeline';
import type { ImageInput } from '../vision/types';
import { migrateTask, taskSettings, type TaskConfig, type TaskKind } from './config';
import {
  backoffDelay,
  isTransient,
  type ConnectionState,
  type ServerConnection,
} from './connection';
import { previewDataUrl, previewTopic } from './preview';
import { InputQueue, type QueueState } from './queue';
import type {
  DoneFunction,
  Node,
  NodeAPI,
  NodeDef,
  NodeMessage,
  NodeStatus,
  SendFunction,
} from './types';

/** A deployed triton-server node as other nodes find it through RED.nodes.getNode. */
export interface ServerNode extends Node {
  connection?: ServerConnection;
  /** Why the server node has no connection (bad settings), when it has none. */
  configError?: TritonError;
}

/** Per-message overrides accepted in msg.triton. */
export interface MessageOverrides {
  confidence?: number;
  iou?: number;
  maxDetections?: number;
  classes?: (number | string)[];
  agnostic?: boolean;
  topK?: number;
  model?: string;
  annotate?: boolean;
}

function badOption(name: string, expected: string, got: unknown): TritonError {
  return new TritonError(
    'INVALID_OPTION',
    `msg.triton.${name} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}: ` +
      'fix the value or remove it to use the node setting',
  );
}

/** Validates msg.triton. Unknown keys are ignored: other nodes may share the object. */
export function parseOverrides(value: unknown): MessageOverrides {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TritonError(
      'INVALID_OPTION',
      `msg.triton must be an object such as {confidence: 0.5}, got ${Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  const v = value as Record<string, unknown>;
  const out: MessageOverrides = {};
  for (const key of ['confidence', 'iou'] as const) {
    if (v[key] === undefined) continue;
    const n = v[key];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1) {
      throw badOption(key, 'a number from 0 to 1', n);
    }
    out[key] = n;
  }
  for (const key of ['maxDetections', 'topK'] as const) {
    if (v[key] === undefined) continue;
    const n = v[key];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
      throw badOption(key, 'a whole number of at least 1', n);
    }
    out[key] = n;
  }
  for (const key of ['agnostic', 'annotate'] as const) {
    if (v[key] === undefined) continue;
    if (typeof v[key] !== 'boolean') throw badOption(key, 'true or false', v[key]);
    out[key] = v[key] as boolean;
  }
  if (v.classes !== undefined) {
    const c = v.classes;
    const ok =
      Array.isArray(c) &&
      c.every(
        (x) =>
          (typeof x === 'string' && x !== '') ||
          (typeof x === 'number' && Number.isInteger(x) && x >= 0),
      );
    if (!ok) throw badOption('classes', 'an array of labels or class ids', c);
    out.classes = c as (number | string)[];
  }
  if (v.model !== undefined) {
    if (typeof v.model !== 'string' || v.model.trim() === '') {
      throw badOption('model', 'a model name', v.model);
    }
    out.model = v.model.trim();
  }
  return out;
}

/** Node config + overrides → the pipeline's options for one message. */
export function taskOptions(
  task: TaskKind,
  config: TaskConfig,
  overrides: MessageOverrides,
): TaskOptions {
  const opts: TaskOptions = { expectTask: task };
  if (config.modelVersion) opts.version = String(config.modelVersion);
  if (task === 'classify') {
    opts.topK = overrides.topK ?? config.topK;
  } else {
    opts.confidence = overrides.confidence ?? config.confidence;
    opts.iou = overrides.iou ?? config.iou;
    opts.maxDetections = overrides.maxDetections ?? config.maxDetections;
    opts.agnostic = overrides.agnostic ?? config.agnostic;
    const classes = overrides.classes ?? config.classes;
    if (classes.length > 0) opts.classes = classes;
  }
  if (task === 'segment') {
    if (config.maskFormat === 'rle') opts.rle = true;
    if (config.maskFormat === 'png') opts.png = true;
  }
  if (overrides.annotate ?? config.annotate) opts.annotate = true;
  return opts;
}

/** Writes the result into the message per the contract; keeps every other property. */
export function buildOutput(
  msg: NodeMessage,
  result: TaskResult,
  inputProperty: string,
  image: unknown,
  keepImage: boolean,
): NodeMessage {
  const { annotated, ...payload } = result;
  if (inputProperty !== 'payload' && inputProperty !== 'image' && !inputProperty.includes('.')) {
    // The image moves rather than being copied: msg.image holds it from here on.
    delete msg[inputProperty];
  }
  msg.payload = payload;
  if (keepImage) msg.image = image;
  else if (inputProperty === 'image') delete msg.image;
  if (annotated) msg.annotated = annotated;
  return msg;
}

/** Status helpers: catalog keys under `<type>.status.*` and `<type>.errors.*`. */
export class StatusText {
  constructor(
    private readonly RED: NodeAPI,
    private readonly type: string,
  ) {}

  text(key: string, subs?: Record<string, unknown>): string {
    return this.RED._(`${this.type}.${key}`, subs);
  }

  ring(fill: 'yellow' | 'red', key: string, subs?: Record<string, unknown>): NodeStatus {
    return { fill, shape: 'ring', text: this.text(key, subs) };
  }

  dot(fill: 'blue' | 'green', key: string, subs?: Record<string, unknown>): NodeStatus {
    return { fill, shape: 'dot', text: this.text(key, subs) };
  }

  error(code: string): NodeStatus {
    return this.ring('red', `errors.${code}`);
  }
}

type Phase = 'idle' | 'preparing' | 'ready' | 'failed';

/**
 * One task node's behaviour: prepares the model profile at deploy (retrying while the
 * server is away), runs messages through the queue, and ends each one exactly once.
 */
export class TaskController {
  private readonly queue: InputQueue<{ msg: NodeMessage; send: SendFunction; done: DoneFunction }>;
  private phase: Phase = 'idle';
  private retryTimer: NodeJS.Timeout | undefined;
  private retryAttempt = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private lastStatus: NodeStatus = {};
  private serverState: ConnectionState = 'connecting';
  private previewWarned = false;

  constructor(
    private readonly node: Node,
    private readonly RED: NodeAPI,
    private readonly task: TaskKind,
    private readonly config: TaskConfig,
    private readonly connection: ServerConnection | undefined,
    private readonly setupError: TritonError | undefined,
    private readonly status: StatusText,
  ) {
    this.queue = new InputQueue(
      {
        concurrency: config.concurrency,
        limit: config.queueLimit,
        dropPolicy: config.dropPolicy,
      },
      (job, signal) => this.handle(job.msg, job.send, job.done, signal),
      (job, err) => this.fail(err, job.done, false),
      (state) => this.showQueue(state),
    );
  }

  get counters(): InputQueue<unknown>['counters'] {
    return this.queue.counters;
  }

  start(): void {
    if (this.setupError) {
      this.setStatus(this.status.error(this.setupError.code));
      this.node.error(this.setupError);
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
        this.status.ring('yellow', state === 'down' ? 'status.waiting' : 'status.connecting'),
      );
    }
  }

  /** The node's input handler: never throws, every message ends through done. */
  input(msg: NodeMessage, send: SendFunction, done: DoneFunction): void {
    this.queue.push({ msg, send, done });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.connection?.deregister(this);
    await this.queue.close();
  }

  private isQuiet(): boolean {
    const s = this.queue.state;
    return s.running === 0 && s.waiting === 0;
  }

  private setStatus(s: NodeStatus): void {
    this.lastStatus = s;
    this.node.status(s);
  }

  /** Deploy-time profile lookup: early, readable errors and a warm cache. */
  private async prepare(): Promise<void> {
    if (!this.connection || this.closed || this.phase === 'preparing') return;
    this.phase = 'preparing';
    if (this.isQuiet()) this.setStatus(this.status.ring('yellow', 'status.connecting'));
    try {
      await resolveProfile(this.connection.client, this.config.model, this.config.modelVersion, {
        expectTask: this.task,
        cache: this.connection.cache,
        signal: this.abort.signal,
      });
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
          const key = err.code === 'MODEL_NOT_READY' ? 'status.loading' : 'status.connecting';
          this.setStatus(this.status.ring('yellow', key));
        }
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.prepare();
        }, backoffDelay(this.retryAttempt++));
        return;
      }
      this.phase = 'failed';
      if (this.isQuiet()) this.setStatus(this.errorStatus(err));
      this.node.error(err);
    }
  }

  private async handle(
    msg: NodeMessage,
    send: SendFunction,
    done: DoneFunction,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      if (this.setupError) throw this.setupError;
      if (!this.connection) {
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
      const options = taskOptions(this.task, this.config, overrides);
      options.cache = this.connection.cache;
      options.signal = signal;
      const result = await runTask(this.connection.client, model, image as ImageInput, options);
      this.connection.reportSuccess();
      if (model === this.config.model && this.phase !== 'ready') this.phase = 'ready';
      if (this.config.preview) await this.publishPreview(image as ImageInput, result);
      send(buildOutput(msg, result, this.config.input, image, this.config.keepImage));
      if (this.isQuietAfterThis()) {
        this.setStatus(
          this.status.dot('green', 'status.ok', { ms: Math.round(result.timings.totalMs) }),
        );
      }
      done();
    } catch (e) {
      const err = toTritonError(e);
      this.connection?.reportFailure(err);
      this.fail(err, done, true);
    }
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

/**
 * Registers a task node type: reads and migrates the config, finds the server node,
 * and hands the rest to a TaskController.
 */
export function registerTaskNode(RED: NodeAPI, type: string, task: TaskKind): void {
  RED.nodes.registerType(type, function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const status = new StatusText(RED, type);
    let config: TaskConfig;
    let setupError: TritonError | undefined;
    try {
      config = taskSettings(def);
    } catch (e) {
      setupError = toTritonError(e, 'INVALID_CONFIG');
      config = migrateTask({});
    }
    const server = (config.server ? RED.nodes.getNode(config.server) : null) as ServerNode | null;
    if (!setupError && !server) {
      setupError = new TritonError(
        'INVALID_CONFIG',
        'No server configured: choose a Triton server in the node',
      );
    }
    if (!setupError && server && !server.connection) {
      setupError =
        server.configError ??
        new TritonError('INVALID_CONFIG', 'The server node could not start: check its settings');
    }
    let controller: TaskController;
    try {
      controller = new TaskController(
        this,
        RED,
        task,
        config,
        server?.connection,
        setupError,
        status,
      );
    } catch (e) {
      // Bad queue settings: fall back to defaults so the node still ends every message.
      const err = toTritonError(e, 'INVALID_CONFIG');
      controller = new TaskController(this, RED, task, migrateTask({}), undefined, err, status);
    }
    (this as Node & { controller?: TaskController }).controller = controller;
    this.on('input', (msg, send, done) => controller.input(msg, send, done));
    this.on('close', (_removed, done) => {
      controller.close().then(
        () => done(),
        () => done(),
      );
    });
    controller.start();
  });
}
