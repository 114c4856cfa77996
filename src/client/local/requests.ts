/**
 * Request checks: an inference request against the model's config (names, datatypes,
 * shapes, batch size, requested outputs), before anything reaches onnxruntime.
 */
import { TritonError } from '../../protocol/errors';
import { configToDataType, validateTensor } from '../../protocol/tensor';
import type { InferRequest, ModelConfig } from '../../protocol/types';
import { fullShape, shapeText } from './config';

/** What a checked request asks for. */
export interface RequestPlan {
  batch: number;
  outputs: string[];
}

/** Checks a request against the config (not the model: the config may be stricter). */
export function checkRequest(
  model: string,
  cfg: ModelConfig,
  req: InferRequest,
  endpoint: string,
): RequestPlan {
  const details = { model, endpoint };
  const bad = (msg: string): never => {
    throw new TritonError('INVALID_ARGUMENT', msg, details);
  };
  if (!req || !Array.isArray(req.inputs))
    bad(`The request for model '${model}' has no inputs list`);
  const byName = new Map(cfg.input.map((i) => [i.name, i]));
  const seen = new Set<string>();
  let batch: number | undefined;
  for (const t of req.inputs) {
    const spec = byName.get(t?.name);
    if (!spec) {
      bad(
        `Model '${model}' has no input named '${t?.name}': its inputs are ${cfg.input.map((i) => `'${i.name}'`).join(', ')}`,
      );
    }
    if (seen.has(t.name))
      bad(`Input '${t.name}' appears twice in the request for model '${model}'`);
    seen.add(t.name);
    const want = configToDataType(spec!.data_type);
    if (t.datatype !== want) {
      bad(
        `Input '${t.name}' of model '${model}' is ${want}, but the request sent ${String(t.datatype)}: convert the data to ${want}`,
      );
    }
    if (!Array.isArray(t.shape)) bad(`Input '${t.name}' has no shape`);
    const expected = fullShape(cfg, spec!.dims);
    if (cfg.max_batch_size > 0) {
      if (t.shape.length !== expected.length) {
        bad(
          `Input '${t.name}' of model '${model}' expects shape ${shapeText(expected)} with the batch size (1 to ${cfg.max_batch_size}) first, but the request sent ${shapeText(t.shape)}`,
        );
      }
      const b = t.shape[0]!;
      if (!Number.isInteger(b) || b < 1 || b > cfg.max_batch_size) {
        bad(
          `Model '${model}' accepts batches of 1 to ${cfg.max_batch_size}, but input '${t.name}' has a batch of ${b}: split the request`,
        );
      }
      if (batch !== undefined && b !== batch) {
        bad(
          `Inputs of model '${model}' must share one batch size, but '${t.name}' has ${b} where another input has ${batch}`,
        );
      }
      batch = b;
    }
    const matches =
      t.shape.length === expected.length && expected.every((d, i) => d === -1 || d === t.shape[i]);
    if (!matches) {
      bad(
        `Input '${t.name}' of model '${model}' expects shape ${shapeText(expected)}, but the request sent ${shapeText(t.shape)}`,
      );
    }
    validateTensor(t);
  }
  for (const spec of cfg.input) {
    if (!seen.has(spec.name) && !spec.optional) {
      bad(
        `Model '${model}' needs input '${spec.name}' (${configToDataType(spec.data_type)} ${shapeText(fullShape(cfg, spec.dims))}), but the request does not include it`,
      );
    }
  }
  let outputs = cfg.output.map((o) => o.name);
  if (req.outputs !== undefined && req.outputs.length > 0) {
    const known = new Set(outputs);
    outputs = [];
    for (const o of req.outputs) {
      if (!known.has(o?.name)) {
        bad(
          `Model '${model}' has no output named '${o?.name}': its outputs are ${cfg.output.map((x) => `'${x.name}'`).join(', ')}`,
        );
      }
      if (outputs.includes(o.name)) bad(`Output '${o.name}' is requested twice`);
      outputs.push(o.name);
    }
  }
  return { batch: batch ?? 1, outputs };
}
