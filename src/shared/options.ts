/**
 * Every node option in one place: its default, its type, its range and the sentence that says
 * what a valid value is. The runtime (src/nodes/config.ts) fills and checks saved configs with
 * it, the editor (src/editor/browser) builds its `defaults` and validators from it, the build
 * writes its messages into each node's catalog (`validation.<field>`), and the tests hold the
 * demo and example flows to it. Pure data and pure functions: this file runs in the browser too.
 */

/** A value another field must have for a rule to apply (e.g. a port only in its mode). */
export interface When {
  field: string;
  in: readonly string[];
}

interface RuleBase {
  /** Checked only when the other field has one of these values. */
  when?: When;
  /** What a valid value is, completing "'<field>' must be ...". */
  message?: string;
}

export type Rule =
  | (RuleBase & {
      kind: 'number';
      default: number;
      min: number;
      max?: number;
      integer?: boolean;
      message: string;
    })
  | (RuleBase & { kind: 'enum'; default: string; values: readonly string[] })
  | (RuleBase & { kind: 'boolean'; default: boolean })
  | (RuleBase & { kind: 'list'; default: readonly string[] })
  | (RuleBase & {
      kind: 'string';
      default: string;
      /** Empty is refused (after trimming). */
      required?: boolean;
      pattern?: RegExp;
      /** A Node-RED config node of this type (the editor's `type` property). */
      node?: string;
    });

export type Schema = Record<string, Rule>;

/** Config schema version; migrations in src/nodes/config.ts bring older flows up to it. */
export const CONFIG_VERSION = 1;

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const REMOTE: When = { field: 'mode', in: ['grpc', 'http'] };
/**
 * More endpoints of the same deployment: `host:port` (or `[v6]:port`) separated by new
 * lines, spaces or commas; empty for none. The port range is the runtime's check.
 */
const REPLICA_LIST =
  /^[\s,]*(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):[0-9]{1,5}(?:[\s,]+|$))*$/;
/** A URL path such as /kserve/demo, or empty. */
const PATH_PREFIX = /^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*\/?$/;
/** A host name with an optional port, or empty. */
const HOST_NAME = /^(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::[0-9]{1,5})?)?$/;

export const SERVER_OPTIONS = {
  name: { kind: 'string', default: '' },
  mode: { kind: 'enum', default: 'grpc', values: ['grpc', 'http', 'local'] },
  host: {
    kind: 'string',
    default: '127.0.0.1',
    required: true,
    when: REMOTE,
    message: 'a host name or address',
  },
  httpPort: {
    kind: 'number',
    default: 8000,
    min: 1,
    max: 65535,
    integer: true,
    when: { field: 'mode', in: ['http'] },
    message: 'a port number from 1 to 65535',
  },
  grpcPort: {
    kind: 'number',
    default: 8001,
    min: 1,
    max: 65535,
    integer: true,
    when: { field: 'mode', in: ['grpc'] },
    message: 'a port number from 1 to 65535',
  },
  modelRepository: { kind: 'string', default: 'demo' },
  tls: { kind: 'boolean', default: false },
  tlsConfig: { kind: 'string', default: '', node: 'tls-config' },
  authType: { kind: 'enum', default: 'none', values: ['none', 'bearer', 'basic', 'header'] },
  authHeader: {
    kind: 'string',
    default: '',
    required: true,
    pattern: HEADER_NAME,
    when: { field: 'authType', in: ['header'] },
    message: "a header name (letters, digits and !#$%&'*+.^_`|~-)",
  },
  timeout: {
    kind: 'number',
    default: 30,
    min: 0.001,
    max: 86400,
    message: 'a number of seconds greater than 0 (at most 86400)',
  },
  /** Other endpoints of the same deployment (same protocol, TLS and credentials). */
  replicas: {
    kind: 'string',
    default: '',
    pattern: REPLICA_LIST,
    when: REMOTE,
    message: 'one host:port per line (e.g. triton-2:8001)',
  },
  /** HTTP: the path the API sits under behind an ingress (KServe: /kserve/<name>). */
  pathPrefix: {
    kind: 'string',
    default: '',
    pattern: PATH_PREFIX,
    when: { field: 'mode', in: ['http'] },
    message: 'a URL path such as /kserve/demo, or empty',
  },
  /** HTTP Host header / gRPC :authority sent instead of host:port (ingress routing). */
  hostHeader: {
    kind: 'string',
    default: '',
    pattern: HOST_NAME,
    when: REMOTE,
    message: 'a host name, optionally with :port, or empty',
  },
  /** Lets triton-model nodes load and unload models on this server. */
  modelControl: { kind: 'boolean', default: false },
  version: { kind: 'number', default: CONFIG_VERSION, min: 0, integer: true, message: 'a version' },
} as const satisfies Schema;

/** The server node's secrets, kept as Node-RED credentials (never in the flow file). */
export const SERVER_CREDENTIALS = {
  token: 'password',
  username: 'text',
  password: 'password',
  headerValue: 'password',
} as const;

export const HEALTH_OPTIONS = {
  name: { kind: 'string', default: '' },
  server: { kind: 'string', default: '', node: 'triton-server' },
  models: { kind: 'string', default: '' },
  interval: {
    kind: 'number',
    default: 10,
    min: 0,
    max: 86400 * 365,
    message: 'a number of seconds, 0 or more',
  },
  emit: { kind: 'enum', default: 'change', values: ['change', 'always'] },
  /** Adds per-model statistics since the last check (inferences, failures, mean times). */
  statistics: { kind: 'boolean', default: false },
  version: { kind: 'number', default: CONFIG_VERSION, min: 0, integer: true, message: 'a version' },
} as const satisfies Schema;

export const MODEL_ACTIONS = ['list', 'load', 'unload'] as const;
export type ModelAction = (typeof MODEL_ACTIONS)[number];

/** triton-model: model management from a flow (the server node must allow it). */
export const MODEL_OPTIONS = {
  name: { kind: 'string', default: '' },
  server: { kind: 'string', default: '', node: 'triton-server' },
  action: { kind: 'enum', default: 'list', values: MODEL_ACTIONS },
  /** The model to load or unload; msg.model wins when set. */
  model: { kind: 'string', default: '' },
  version: { kind: 'number', default: CONFIG_VERSION, min: 0, integer: true, message: 'a version' },
} as const satisfies Schema;

/** Options every task node has. */
export const TASK_OPTIONS = {
  name: { kind: 'string', default: '' },
  server: { kind: 'string', default: '', node: 'triton-server' },
  model: { kind: 'string', default: '', required: true, message: 'chosen from the list' },
  modelVersion: { kind: 'string', default: '' },
  backendFilter: { kind: 'enum', default: 'any', values: ['any', 'onnx', 'tensorrt'] },
  confidence: {
    kind: 'number',
    default: 0.25,
    min: 0,
    max: 1,
    message: 'a number from 0 to 1',
  },
  iou: { kind: 'number', default: 0.45, min: 0, max: 1, message: 'a number from 0 to 1' },
  maxDetections: {
    kind: 'number',
    default: 300,
    min: 1,
    integer: true,
    message: 'a whole number of at least 1',
  },
  agnostic: { kind: 'boolean', default: false },
  maskFormat: { kind: 'enum', default: 'polygon', values: ['polygon', 'rle', 'png'] },
  topK: {
    kind: 'number',
    default: 5,
    min: 1,
    integer: true,
    message: 'a whole number of at least 1',
  },
  /** Classify preprocessing: from the model config, torchvision's recipe, or the ONNX zoo's. */
  preprocess: { kind: 'enum', default: 'auto', values: ['auto', 'torchvision', 'onnx-zoo'] },
  /**
   * exact: the reference tools' interpolation; fast: libvips shrink-on-load. Not `resize`:
   * the editor keeps its own `resize` flag on every node.
   */
  resizeMode: { kind: 'enum', default: 'exact', values: ['exact', 'fast'] },
  /** Embedded colour profile: ignore (as cv2.imread and PIL) or apply (convert to sRGB). */
  icc: { kind: 'enum', default: 'ignore', values: ['ignore', 'apply'] },
  classes: { kind: 'list', default: [] },
  /**
   * Label override: one label per line (or comma-separated), in class-id order. A value
   * `file:NAME` is read as Label file NAME (an earlier form of the setting).
   */
  labels: { kind: 'string', default: '' },
  /** Label override from a file (one label per line) inside the Node-RED user directory. */
  labelsFile: {
    kind: 'string',
    default: '',
    pattern: /^(?![\\/])(?![A-Za-z]:)(?!.*(^|[\\/])\.\.([\\/]|$)).*$/,
    message: 'a file name inside the Node-RED user directory (no absolute path, no ..)',
  },
  annotate: { kind: 'boolean', default: false },
  preview: { kind: 'boolean', default: false },
  input: { kind: 'string', default: 'payload', required: true, message: 'a message property' },
  keepImage: { kind: 'boolean', default: true },
  concurrency: {
    kind: 'number',
    default: 1,
    min: 1,
    integer: true,
    message: 'a whole number of at least 1',
  },
  queueLimit: {
    kind: 'number',
    default: 10,
    min: 0,
    integer: true,
    message: 'a whole number of at least 0',
  },
  dropPolicy: { kind: 'enum', default: 'oldest', values: ['oldest', 'newest', 'error'] },
  /**
   * Video streams: 'all' runs every message; 'latest' lets a newer frame of a stream replace
   * its frame waiting in the queue (silently, counted); 'nth' runs every Nth frame per stream.
   */
  streamMode: { kind: 'enum', default: 'all', values: ['all', 'latest', 'nth'] },
  everyNth: {
    kind: 'number',
    default: 2,
    min: 1,
    integer: true,
    when: { field: 'streamMode', in: ['nth'] },
    message: 'a whole number of at least 1',
  },
  /** The message property naming a message's stream (camera) in stream modes. */
  streamProperty: {
    kind: 'string',
    default: 'topic',
    required: true,
    when: { field: 'streamMode', in: ['latest', 'nth'] },
    message: 'a message property',
  },
  /** Dynamic batching: join the inference requests of messages in flight together. */
  batching: { kind: 'boolean', default: false },
  /** Largest joined batch; 0: the model's max_batch_size. */
  batchSize: {
    kind: 'number',
    default: 0,
    min: 0,
    integer: true,
    message: "a whole number of at least 0 (0: the model's max_batch_size)",
  },
  /** Longest wait for a batch to fill, in microseconds (as Triton's max_queue_delay). */
  batchDelay: {
    kind: 'number',
    default: 1000,
    min: 0,
    max: 10000000,
    integer: true,
    message: 'a whole number of microseconds from 0 to 10000000',
  },
  version: { kind: 'number', default: CONFIG_VERSION, min: 0, integer: true, message: 'a version' },
} as const satisfies Schema;

export type TaskOption = keyof typeof TASK_OPTIONS;
export type TaskKind = 'detect' | 'segment' | 'classify';

const COMMON_TASK: readonly TaskOption[] = [
  'name',
  'server',
  'model',
  'modelVersion',
  'backendFilter',
  'classes',
  'labels',
  'labelsFile',
  'resizeMode',
  'icc',
  'annotate',
  'preview',
  'input',
  'keepImage',
  'concurrency',
  'queueLimit',
  'dropPolicy',
  'streamMode',
  'everyNth',
  'streamProperty',
  'batching',
  'batchSize',
  'batchDelay',
  'version',
];
const THRESHOLDS: readonly TaskOption[] = ['confidence', 'iou', 'maxDetections', 'agnostic'];

/** The options each task node shows and saves (the runtime reads all, with defaults). */
export const TASK_FIELDS: Record<TaskKind, readonly TaskOption[]> = {
  detect: [...COMMON_TASK, ...THRESHOLDS],
  segment: [...COMMON_TASK, ...THRESHOLDS, 'maskFormat'],
  classify: [...COMMON_TASK, 'topK', 'preprocess'],
};

/** A number as typed in a coordinates field, and the comma between two (spaces allowed). */
const NUM = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`;
const SEP = String.raw`[ \t]*,[ \t]*`;
/**
 * Text with one item per line (blank lines allowed), each item matching `item`. Written so
 * that every character has one way to match (no nested optional spaces: no backtracking blow-up).
 */
const perLine = (item: string): RegExp =>
  new RegExp(String.raw`^(?:[ \t]*(?:(?:${item})[ \t]*)?(?:\r?\n|$))*$`);
/** Counting lines: one `x1,y1,x2,y2` per line. */
export const LINES_PATTERN = perLine(`${NUM}(?:${SEP}${NUM}){3}`);
/** Polygon zones: one `x1,y1,x2,y2,x3,y3,...` (3 points or more) per line. */
export const ZONES_PATTERN = perLine(`${NUM}${SEP}${NUM}(?:${SEP}${NUM}${SEP}${NUM}){2,}`);

/** The triton-track node (defaults: supervision 0.29.1's ByteTrack, LineZone, PolygonZone). */
export const TRACK_OPTIONS = {
  name: { kind: 'string', default: '' },
  streamProperty: {
    kind: 'string',
    default: 'topic',
    required: true,
    message: 'a message property',
  },
  trackThreshold: {
    kind: 'number',
    default: 0.25,
    min: 0,
    max: 1,
    message: 'a number from 0 to 1',
  },
  matchThreshold: {
    kind: 'number',
    default: 0.8,
    min: 0,
    max: 1,
    message: 'a number from 0 to 1',
  },
  lostBuffer: {
    kind: 'number',
    default: 30,
    min: 0,
    integer: true,
    message: 'a whole number of frames, 0 or more',
  },
  frameRate: {
    kind: 'number',
    default: 30,
    min: 0.001,
    message: 'a number of frames per second above 0',
  },
  lines: {
    kind: 'string',
    default: '',
    pattern: LINES_PATTERN,
    message: 'one line x1,y1,x2,y2 (4 numbers) per row',
  },
  zones: {
    kind: 'string',
    default: '',
    pattern: ZONES_PATTERN,
    message: 'one polygon x1,y1,x2,y2,x3,y3,... (3 points or more) per row',
  },
  annotate: { kind: 'boolean', default: false },
  crops: { kind: 'boolean', default: false },
  cropPadding: {
    kind: 'number',
    default: 0,
    min: 0,
    message: 'a number of pixels, 0 or more',
  },
  cropMinSize: {
    kind: 'number',
    default: 1,
    min: 1,
    message: 'a number of pixels, 1 or more',
  },
  split: { kind: 'boolean', default: false },
  version: { kind: 'number', default: CONFIG_VERSION, min: 0, integer: true, message: 'a version' },
} as const satisfies Schema;

/** Default values of a schema (fresh arrays). */
export function defaultsOf<S extends Schema>(schema: S): { [K in keyof S]: S[K]['default'] } {
  const out: Record<string, unknown> = {};
  for (const [key, rule] of Object.entries(schema)) {
    out[key] = Array.isArray(rule.default) ? [...rule.default] : rule.default;
  }
  return out as { [K in keyof S]: S[K]['default'] };
}

/** The number a value stands for (the editor stores text inputs as strings), or NaN. */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return NaN;
}

/** The sentence completing "'<field>' must be ..." for a rule. */
export function expected(rule: Rule): string {
  if (rule.message) return rule.message;
  if (rule.kind === 'enum') return `one of ${rule.values.join(', ')}`;
  if (rule.kind === 'boolean') return 'true or false';
  if (rule.kind === 'list') return 'a list of strings';
  return 'a string';
}

/** Whether a rule applies given the other values of the config. */
export function applies(rule: Rule, others: (field: string) => unknown): boolean {
  if (!rule.when) return true;
  const v = others(rule.when.field);
  return rule.when.in.includes(String(v));
}

/** Whether `value` satisfies `rule` (its `when` is the caller's business). */
export function isValid(rule: Rule, value: unknown): boolean {
  switch (rule.kind) {
    case 'number': {
      const n = toNumber(value);
      return (
        Number.isFinite(n) &&
        n >= rule.min &&
        (rule.max === undefined || n <= rule.max) &&
        (!rule.integer || Number.isInteger(n))
      );
    }
    case 'enum':
      return typeof value === 'string' && rule.values.includes(value);
    case 'boolean':
      return value === true || value === false || value === 'true' || value === 'false';
    case 'list':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'string': {
      if (value === undefined || value === null) return !rule.required;
      if (typeof value !== 'string') return false;
      if (rule.required && value.trim() === '') return false;
      return !rule.pattern || rule.pattern.test(value);
    }
  }
}

/** Checks one field: `null` when valid, else "'<field>' must be ..., got ...". */
export function check(
  schema: Schema,
  field: string,
  value: unknown,
  others: (field: string) => unknown = () => undefined,
): string | null {
  const rule = schema[field];
  if (!rule || !applies(rule, others) || isValid(rule, value)) return null;
  return `'${field}' must be ${expected(rule)}, got ${JSON.stringify(value)}`;
}
