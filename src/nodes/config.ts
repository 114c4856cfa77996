/**
 * Node configurations: their current shape (version 1), the migrations that bring a
 * flow saved by an older release up to it, and the conversion of the editor's values
 * (numbers may arrive as strings) into typed settings. Pure functions: no Node-RED.
 */
import { TritonError } from '../protocol/errors';
import {
  CONFIG_VERSION,
  HEALTH_OPTIONS,
  MODEL_OPTIONS,
  SERVER_OPTIONS,
  TASK_OPTIONS,
  defaultsOf,
  isValid,
  type ModelAction,
  type Rule,
} from '../shared/options';
import type { DropPolicy } from './queue';

export { CONFIG_VERSION };

export type ServerMode = 'grpc' | 'http' | 'local';
export type AuthType = 'none' | 'bearer' | 'basic' | 'header';

export interface ServerConfig {
  name: string;
  mode: ServerMode;
  host: string;
  httpPort: number;
  grpcPort: number;
  modelRepository: string;
  tls: boolean;
  tlsConfig: string;
  authType: AuthType;
  authHeader: string;
  /** Seconds. */
  timeout: number;
  /** Other endpoints of the deployment, `host:port` per line; empty = one endpoint. */
  replicas: string;
  /** HTTP: path the API sits under behind an ingress; empty = none. */
  pathPrefix: string;
  /** HTTP Host header / gRPC :authority override; empty = host:port. */
  hostHeader: string;
  /** triton-model nodes may load and unload models. */
  modelControl: boolean;
  version: number;
}

export interface ServerCredentials {
  token?: string;
  username?: string;
  password?: string;
  headerValue?: string;
}

export interface HealthConfig {
  name: string;
  server: string;
  /** Comma-separated model names; empty = every model in the repository index. */
  models: string;
  /** Seconds between checks; 0 = only on input. */
  interval: number;
  emit: 'change' | 'always';
  /** Add per-model statistics since the last check. */
  statistics: boolean;
  version: number;
}

export interface ModelNodeConfig {
  name: string;
  server: string;
  action: ModelAction;
  model: string;
  version: number;
}

export type { TaskKind } from '../shared/options';
export type MaskFormat = 'polygon' | 'rle' | 'png';
export type Preprocess = 'auto' | 'torchvision' | 'onnx-zoo';
export type ResizeMode = 'exact' | 'fast';
export type IccMode = 'ignore' | 'apply';

export interface TaskConfig {
  name: string;
  server: string;
  model: string;
  modelVersion: string;
  backendFilter: 'any' | 'onnx' | 'tensorrt';
  confidence: number;
  iou: number;
  maxDetections: number;
  classes: string[];
  agnostic: boolean;
  maskFormat: MaskFormat;
  topK: number;
  /** Classify preprocessing: auto reads it from the model config. */
  preprocess: Preprocess;
  /** exact: the reference tools' resize; fast: libvips shrink-on-load. */
  resizeMode: ResizeMode;
  /** Embedded colour profile: ignore (as cv2.imread and PIL) or apply (to sRGB). */
  icc: IccMode;
  /** Label override typed in the node: one per line or comma-separated; empty = none. */
  labels: string;
  /** Label override file (one label per line), relative to the user directory; empty = none. */
  labelsFile: string;
  annotate: boolean;
  /** Publish a small annotated thumbnail to the editor, drawn under the node. */
  preview: boolean;
  input: string;
  keepImage: boolean;
  concurrency: number;
  queueLimit: number;
  dropPolicy: DropPolicy;
  /** Dynamic batching across messages (off by default). */
  batching: boolean;
  /** Largest joined batch; 0: the model's max_batch_size. */
  batchSize: number;
  /** Longest wait for a batch to fill, in microseconds. */
  batchDelay: number;
  version: number;
}

// Defaults come from the one schema the editor also builds its form from.
const SERVER_DEFAULTS = defaultsOf(SERVER_OPTIONS) as unknown as ServerConfig;
const HEALTH_DEFAULTS = defaultsOf(HEALTH_OPTIONS) as unknown as HealthConfig;
const TASK_DEFAULTS = defaultsOf(TASK_OPTIONS) as unknown as TaskConfig;
const MODEL_DEFAULTS = defaultsOf(MODEL_OPTIONS) as unknown as ModelNodeConfig;

type Raw = Record<string, unknown>;

/** Schema version of a saved config: a flow from before versioning has none (0). */
function versionOf(raw: Raw): number {
  const v = Number(raw.version);
  return Number.isFinite(v) && v >= 0 ? v : 0;
}

function tooNew(kind: string, raw: Raw): TritonError {
  return new TritonError(
    'INVALID_CONFIG',
    `This ${kind} node was saved by a newer release (config version ${String(raw.version)}); ` +
      'update node-red-contrib-triton-vision',
  );
}

/** v0 → v1: fill every field a v0 flow may lack; values present are kept as saved. */
function fill<T extends object>(defaults: T, raw: Raw): T & Raw {
  const out: Raw = { ...raw };
  for (const [key, value] of Object.entries(defaults)) {
    if (out[key] === undefined || out[key] === null) {
      out[key] = Array.isArray(value) ? [...value] : value;
    }
  }
  out.version = CONFIG_VERSION;
  return out as T & Raw;
}

export function migrateServer(raw: Raw): ServerConfig & Raw {
  const v = versionOf(raw);
  if (v > CONFIG_VERSION) throw tooNew('triton-server', raw);
  return fill(SERVER_DEFAULTS, raw);
}

export function migrateHealth(raw: Raw): HealthConfig & Raw {
  const v = versionOf(raw);
  if (v > CONFIG_VERSION) throw tooNew('triton-health', raw);
  return fill(HEALTH_DEFAULTS, raw);
}

export function migrateModel(raw: Raw): ModelNodeConfig & Raw {
  const v = versionOf(raw);
  if (v > CONFIG_VERSION) throw tooNew('triton-model', raw);
  return fill(MODEL_DEFAULTS, raw);
}

export function migrateTask(raw: Raw): TaskConfig & Raw {
  const v = versionOf(raw);
  if (v > CONFIG_VERSION) throw tooNew('task', raw);
  const out = fill(TASK_DEFAULTS, raw);
  // v0 editors stored the class filter as a comma-separated string.
  if (typeof out.classes === 'string') {
    out.classes = (out.classes as string)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  return out;
}

// ---- editor values → typed settings ----

/** Migrated task config with its numbers checked (the editor may store them as strings). */
export function taskSettings(raw: Raw): TaskConfig {
  const c = migrateTask(raw);
  const T = TASK_OPTIONS;
  return {
    ...c,
    model: String(c.model ?? '').trim(),
    modelVersion: String(c.modelVersion ?? '').trim(),
    confidence: numberField('confidence', c.confidence, T.confidence),
    iou: numberField('iou', c.iou, T.iou),
    maxDetections: numberField('maxDetections', c.maxDetections, T.maxDetections),
    topK: numberField('topK', c.topK, T.topK),
    classes: Array.isArray(c.classes) ? c.classes.map(String) : [],
    labels: String(c.labels ?? ''),
    labelsFile: String(c.labelsFile ?? '').trim(),
    agnostic: boolField(c.agnostic),
    annotate: boolField(c.annotate),
    preview: boolField(c.preview),
    keepImage: boolField(c.keepImage),
    maskFormat: oneOf('maskFormat', c.maskFormat, T.maskFormat.values),
    preprocess: oneOf('preprocess', c.preprocess, T.preprocess.values),
    resizeMode: oneOf('resizeMode', c.resizeMode, T.resizeMode.values),
    icc: oneOf('icc', c.icc, T.icc.values),
    input: String(c.input || 'payload').replace(/^msg\./, ''),
    concurrency: numberField('concurrency', c.concurrency, T.concurrency),
    queueLimit: numberField('queueLimit', c.queueLimit, T.queueLimit),
    dropPolicy: oneOf('dropPolicy', c.dropPolicy, T.dropPolicy.values),
    batching: boolField(c.batching),
    batchSize: numberField('batchSize', c.batchSize, T.batchSize),
    batchDelay: numberField('batchDelay', c.batchDelay, T.batchDelay),
  };
}

/** Migrated health config with its numbers checked. */
export function healthSettings(raw: Raw): HealthConfig {
  const c = migrateHealth(raw);
  return {
    ...c,
    interval: numberField('interval', c.interval, HEALTH_OPTIONS.interval),
    emit: oneOf('emit', c.emit, HEALTH_OPTIONS.emit.values),
    statistics: boolField(c.statistics),
  };
}

/** Migrated triton-model config with its action checked. */
export function modelNodeSettings(raw: Raw): ModelNodeConfig {
  const c = migrateModel(raw);
  return {
    ...c,
    action: oneOf('action', c.action, MODEL_OPTIONS.action.values),
    model: String(c.model ?? '').trim(),
  };
}

function invalid(field: string, expected: string, got: unknown): TritonError {
  return new TritonError(
    'INVALID_CONFIG',
    `'${field}' must be ${expected}, got ${JSON.stringify(got)}: fix it in the node's settings`,
  );
}

/**
 * A number from the editor, which may hold it as a string, checked against its rule in
 * src/shared/options.ts (or an ad-hoc range).
 */
export function numberField(
  field: string,
  value: unknown,
  check: { min: number; max?: number; integer?: boolean; message?: string },
): number {
  const rule: Rule = { kind: 'number', default: 0, message: '', ...check };
  if (!isValid(rule, value)) {
    const range = check.max === undefined ? `at least ${check.min}` : `${check.min}..${check.max}`;
    const text = check.message || `${check.integer ? 'a whole number' : 'a number'} ${range}`;
    throw invalid(field, text, value);
  }
  return typeof value === 'number' ? value : Number(value);
}

export function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  throw invalid(field, `one of ${allowed.join(', ')}`, value);
}

export function boolField(value: unknown): boolean {
  return value === true || value === 'true';
}

/** Comma-separated model names for the health node. */
export function modelList(value: unknown): string[] {
  return String(value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
