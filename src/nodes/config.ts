/**
 * Node configurations: their current shape (version 1), the migrations that bring a
 * flow saved by an older release up to it, and the conversion of the editor's values
 * (numbers may arrive as strings) into typed settings. Pure functions: no Node-RED.
 */
import { TritonError } from '../client/errors';
import type { DropPolicy } from './queue';

export const CONFIG_VERSION = 1;

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
  version: number;
}

export type TaskKind = 'detect' | 'segment' | 'classify';
export type MaskFormat = 'polygon' | 'rle' | 'png';

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
  annotate: boolean;
  /** Publish a small annotated thumbnail to the editor, drawn under the node. */
  preview: boolean;
  input: string;
  keepImage: boolean;
  concurrency: number;
  queueLimit: number;
  dropPolicy: DropPolicy;
  version: number;
}

const SERVER_DEFAULTS: ServerConfig = {
  name: '',
  mode: 'grpc',
  host: '127.0.0.1',
  httpPort: 8000,
  grpcPort: 8001,
  modelRepository: 'demo',
  tls: false,
  tlsConfig: '',
  authType: 'none',
  authHeader: '',
  timeout: 30,
  version: CONFIG_VERSION,
};

const HEALTH_DEFAULTS: HealthConfig = {
  name: '',
  server: '',
  models: '',
  interval: 10,
  emit: 'change',
  version: CONFIG_VERSION,
};

const TASK_DEFAULTS: TaskConfig = {
  name: '',
  server: '',
  model: '',
  modelVersion: '',
  backendFilter: 'any',
  confidence: 0.25,
  iou: 0.45,
  maxDetections: 300,
  classes: [],
  agnostic: false,
  maskFormat: 'polygon',
  topK: 5,
  annotate: false,
  preview: false,
  input: 'payload',
  keepImage: true,
  concurrency: 1,
  queueLimit: 10,
  dropPolicy: 'oldest',
  version: CONFIG_VERSION,
};

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
  return {
    ...c,
    model: String(c.model ?? '').trim(),
    modelVersion: String(c.modelVersion ?? '').trim(),
    confidence: numberField('confidence', c.confidence, { min: 0, max: 1 }),
    iou: numberField('iou', c.iou, { min: 0, max: 1 }),
    maxDetections: numberField('maxDetections', c.maxDetections, { min: 1, integer: true }),
    topK: numberField('topK', c.topK, { min: 1, integer: true }),
    classes: Array.isArray(c.classes) ? c.classes.map(String) : [],
    agnostic: boolField(c.agnostic),
    annotate: boolField(c.annotate),
    preview: boolField(c.preview),
    keepImage: boolField(c.keepImage),
    maskFormat: oneOf('maskFormat', c.maskFormat, ['polygon', 'rle', 'png'] as const),
    input: String(c.input || 'payload').replace(/^msg\./, ''),
    concurrency: numberField('concurrency', c.concurrency, { min: 1, integer: true }),
    queueLimit: numberField('queueLimit', c.queueLimit, { min: 0, integer: true }),
    dropPolicy: oneOf('dropPolicy', c.dropPolicy, ['oldest', 'newest', 'error'] as const),
  };
}

/** Migrated health config with its numbers checked. */
export function healthSettings(raw: Raw): HealthConfig {
  const c = migrateHealth(raw);
  return {
    ...c,
    interval: numberField('interval', c.interval, { min: 0 }),
    emit: oneOf('emit', c.emit, ['change', 'always'] as const),
  };
}

function invalid(field: string, expected: string, got: unknown): TritonError {
  return new TritonError(
    'INVALID_CONFIG',
    `'${field}' must be ${expected}, got ${JSON.stringify(got)}: fix it in the node's settings`,
  );
}

/** A number from the editor, which may hold it as a string. */
export function numberField(
  field: string,
  value: unknown,
  check: { min: number; max?: number; integer?: boolean },
): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  const ok =
    typeof n === 'number' &&
    Number.isFinite(n) &&
    n >= check.min &&
    (check.max === undefined || n <= check.max) &&
    (!check.integer || Number.isInteger(n));
  if (!ok) {
    const range = check.max === undefined ? `at least ${check.min}` : `${check.min}..${check.max}`;
    throw invalid(field, `${check.integer ? 'a whole number' : 'a number'} ${range}`, value);
  }
  return n as number;
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
