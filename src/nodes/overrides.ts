/**
 * What a message may change (msg.triton) and how node settings plus those overrides
 * become the vision pipeline's options for one message.
 */
import { TritonError } from '../client/errors';
import type { TaskOptions } from '../vision/pipeline';
import type { TaskConfig, TaskKind } from './config';
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
  const labels = parseMessageLabels(v.labels);
  if (labels) out.labels = labels;
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
