/**
 * A model's config against its ONNX file: Triton's auto-complete (inputs, outputs and the
 * batch size read from the model when config.pbtxt leaves them out) and the checks
 * Triton's ORT backend makes before it serves a model.
 */
import type { PbMessage } from '../../protocol/pbtxt';
import type {
  ConfigDataType,
  ModelConfig,
  ModelConfigInput,
  ModelConfigOutput,
} from '../../protocol/types';
import { ORT_TO_CONFIG, type OrtSession, type OrtValueMetadata } from './ort';

/** Triton's default when auto-completing a model whose first dimension is variable. */
const AUTO_MAX_BATCH_SIZE = 4;

export const shapeText = (s: readonly (number | string)[]): string => `[${s.join(',')}]`;

/** Full shape of a config tensor as clients see it: `[-1, ...dims]` when batching. */
export function fullShape(cfg: ModelConfig, dims: readonly number[]): number[] {
  return cfg.max_batch_size > 0 ? [-1, ...dims] : [...dims];
}

function modelDims(meta: OrtValueMetadata): number[] {
  return (meta.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
}

/** Triton's rule: a fixed model dimension must be matched exactly; -1 in the model takes any. */
function dimsCompatible(model: readonly number[], config: readonly number[]): boolean {
  if (model.length !== config.length) return false;
  return model.every((m, i) => m === -1 || m === config[i]);
}

/** Fills missing inputs/outputs (and the batch size) from the ONNX file, as Triton does. */
export function autoComplete(
  cfg: ModelConfig,
  session: OrtSession,
  tree: PbMessage | undefined,
): void {
  const ins = session.inputMetadata;
  const outs = session.outputMetadata;
  if (!ins || !outs) return; // old runtime: nothing to complete from
  const mbsGiven = tree?.fields.some((f) => f.name === 'max_batch_size') ?? false;
  const fillInputs = cfg.input.length === 0;
  const fillOutputs = cfg.output.length === 0;
  if (!mbsGiven && fillInputs && fillOutputs) {
    const all = [...ins, ...outs];
    const batchable =
      all.length > 0 &&
      all.every((m) => m.isTensor && modelDims(m).length > 0 && modelDims(m)[0] === -1);
    cfg.max_batch_size = batchable ? AUTO_MAX_BATCH_SIZE : 0;
  }
  const dimsFor = (m: OrtValueMetadata): number[] => {
    const d = modelDims(m);
    return cfg.max_batch_size > 0 ? d.slice(1) : d;
  };
  const typeOf = (m: OrtValueMetadata): ConfigDataType =>
    ORT_TO_CONFIG[m.type ?? ''] ?? 'TYPE_INVALID';
  if (fillInputs) {
    cfg.input = ins.map((m) => ({
      name: m.name,
      data_type: typeOf(m),
      format: 'FORMAT_NONE',
      dims: dimsFor(m),
    }));
  }
  if (fillOutputs) {
    cfg.output = outs.map((m) => ({ name: m.name, data_type: typeOf(m), dims: dimsFor(m) }));
  }
}

/** Problems in the config alone, before looking at the model. */
export function checkConfig(cfg: ModelConfig): string | undefined {
  const names = new Set<string>();
  for (const t of [...cfg.input, ...cfg.output]) {
    if (names.has(t.name)) return `the tensor name '${t.name}' is used twice in config.pbtxt`;
    names.add(t.name);
    if (t.data_type === 'TYPE_INVALID') return `'${t.name}' has no data_type in config.pbtxt`;
    if (t.dims.some((d) => !Number.isInteger(d) || d < -1 || d === 0)) {
      return `'${t.name}' has dims ${shapeText(t.dims)} in config.pbtxt: each must be a positive size or -1`;
    }
  }
  if (cfg.input.length === 0)
    return 'config.pbtxt lists no input and none could be read from the model';
  if (cfg.output.length === 0)
    return 'config.pbtxt lists no output and none could be read from the model';
  return undefined;
}

/**
 * Compares config and model the way Triton's ORT backend does: the same input set,
 * every config output present, equal datatypes, and shapes where each fixed model
 * dimension is matched (max_batch_size > 0 also needs a variable first dimension).
 * Returns the disagreement as a sentence, or undefined.
 */
export function checkModelAgainstConfig(cfg: ModelConfig, session: OrtSession): string | undefined {
  const ins = session.inputMetadata;
  const outs = session.outputMetadata;
  if (!ins || !outs) {
    // Old runtime: names are all we can check.
    for (const i of cfg.input)
      if (!session.inputNames.includes(i.name)) return `the model has no input '${i.name}'`;
    for (const o of cfg.output)
      if (!session.outputNames.includes(o.name)) return `the model has no output '${o.name}'`;
    return undefined;
  }
  const compare = (
    kind: 'input' | 'output',
    spec: ModelConfigInput | ModelConfigOutput,
    meta: OrtValueMetadata,
  ): string | undefined => {
    const modelType =
      ORT_TO_CONFIG[meta.type ?? ''] ?? `an unsupported type (${String(meta.type)})`;
    if (modelType !== spec.data_type) {
      return `config.pbtxt says ${kind} '${spec.name}' is ${spec.data_type} but the ONNX model has ${modelType}: fix data_type`;
    }
    const shape = modelDims(meta);
    const configShape = fullShape(cfg, spec.reshape ? spec.reshape.shape : spec.dims);
    if (cfg.max_batch_size > 0 && (shape.length === 0 || shape[0] !== -1)) {
      return `max_batch_size is ${cfg.max_batch_size}, but ${kind} '${spec.name}' of the ONNX model has a fixed first dimension ${shapeText(meta.shape ?? [])}: set max_batch_size: 0 and put the batch size in dims, or export the model with a dynamic batch axis`;
    }
    const compared = cfg.max_batch_size > 0 ? shape.slice(1) : shape;
    const wanted = cfg.max_batch_size > 0 ? configShape.slice(1) : configShape;
    if (!dimsCompatible(compared, wanted)) {
      return `config.pbtxt gives ${kind} '${spec.name}' the shape ${shapeText(configShape)}, but the ONNX model has ${shapeText(meta.shape ?? [])}: fix dims${cfg.max_batch_size > 0 ? ' (without the batch dimension)' : ' (including the batch dimension, since max_batch_size is 0)'}`;
    }
    return undefined;
  };
  const modelIns = new Map(ins.map((m) => [m.name, m]));
  for (const spec of cfg.input) {
    const meta = modelIns.get(spec.name);
    if (!meta) {
      return `config.pbtxt lists input '${spec.name}', which the ONNX model does not have (its inputs: ${ins.map((m) => m.name).join(', ')})`;
    }
    const problem = compare('input', spec, meta);
    if (problem) return problem;
  }
  const configIns = new Set(cfg.input.map((i) => i.name));
  const missing = ins.filter((m) => !configIns.has(m.name)).map((m) => m.name);
  if (missing.length) {
    return `the ONNX model needs input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}, which config.pbtxt does not list`;
  }
  const modelOuts = new Map(outs.map((m) => [m.name, m]));
  for (const spec of cfg.output) {
    const meta = modelOuts.get(spec.name);
    if (!meta) {
      return `config.pbtxt lists output '${spec.name}', which the ONNX model does not have (its outputs: ${outs.map((m) => m.name).join(', ')})`;
    }
    const problem = compare('output', spec, meta);
    if (problem) return problem;
  }
  return undefined;
}
