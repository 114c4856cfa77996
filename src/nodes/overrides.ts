/**
 * What a message may change (msg.triton) and how node settings plus those overrides
 * become the vision pipeline's options for one message.
 */
import { TritonError } from '../protocol/errors';
import type { TaskOptions } from '../vision/pipeline';
import { TASK_OPTIONS, expected, isValid, type Rule, type TaskOption } from '../shared/options';
import type { IccMode, Preprocess, ResizeMode, TaskConfig, TaskKind } from './config';
import { parseMessageLabels } from './labels';

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
  /** One name per class, replacing the model's and the node's (see labels.ts). */
  labels?: string[];
  /** The node's Resize for this message. */
  resize?: ResizeMode;
  /** The node's ICC profile for this message. */
  icc?: IccMode;
  /** The node's Preprocess for this message (classify; 'auto' = the model's own). */
  preprocess?: Preprocess;
}

/**
 * msg.triton keys checked by a node option's rule (src/shared/options.ts), so a message is
 * held to the range the editor and the deploy check use. A message's value must also have
 * the option's own type: '0.5' is not a number here (the editor's text fields are strings).
 */
const CHECKED_BY_SCHEMA = {
  confidence: 'confidence',
  iou: 'iou',
  maxDetections: 'maxDetections',
  topK: 'topK',
  agnostic: 'agnostic',
  annotate: 'annotate',
  resize: 'resizeMode',
  icc: 'icc',
  preprocess: 'preprocess',
} as const satisfies Partial<Record<keyof MessageOverrides, TaskOption>>;

const JS_TYPE: Record<Rule['kind'], string> = {
  number: 'number',
  enum: 'string',
  boolean: 'boolean',
  list: 'object',
  string: 'string',
};

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
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(CHECKED_BY_SCHEMA)) {
    const given = v[key];
    if (given === undefined) continue;
    const rule: Rule = TASK_OPTIONS[field];
    if (typeof given !== JS_TYPE[rule.kind] || !isValid(rule, given)) {
      throw badOption(key, expected(rule), given);
    }
    out[key] = given;
  }
  const parsed = out as MessageOverrides;
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
    parsed.classes = c as (number | string)[];
  }
  const labels = parseMessageLabels(v.labels);
  if (labels) parsed.labels = labels;
  if (v.model !== undefined) {
    if (typeof v.model !== 'string' || v.model.trim() === '') {
      throw badOption('model', 'a model name', v.model);
    }
    parsed.model = v.model.trim();
  }
  return parsed;
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
  // exact / ignore are runTask's defaults too; said explicitly so a result never depends on them.
  opts.resize = overrides.resize ?? config.resizeMode;
  opts.icc = overrides.icc ?? config.icc;
  const preset = overrides.preprocess ?? config.preprocess;
  if (task === 'classify' && preset !== 'auto') opts.preprocess = preset;
  return opts;
}
