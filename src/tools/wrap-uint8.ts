/**
 * `triton-vision wrap-uint8`: puts Cast (and /255, and for ImageNet models the mean/std)
 * in front of an exported ONNX model, so the model takes the image's UINT8 pixels. The
 * client then sends a quarter of the bytes (1.2 MB instead of 4.9 MB for 640×640) and
 * skips its normalisation: the profile sees a UINT8 input and sends pixels untouched.
 *
 * The exported model is edited, not rebuilt: the new nodes and constants are added, the
 * image input is replaced by a UINT8 one of the same name, and the nodes that read it read
 * the normalised tensor instead; every other byte of the file is kept as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { formatModelConfig } from '../protocol/pbtxt';
import type { ConfigDataType, ModelConfig } from '../protocol/types';
import { IMAGENET_MEAN, IMAGENET_STD } from '../vision/profile';
import {
  AttributeType,
  OnnxType,
  decodeMessage,
  encodeMessage,
  floatTensor,
  lengthField,
  readFields,
  valueInfo,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx';

export type Normalise = 'yolo' | 'imagenet' | 'none';
export type Layout = 'NCHW' | 'NHWC';

export interface WrapOptions {
  /** What the model expects after the cast: x/255 (YOLOv5/v8), ImageNet mean/std, or raw 0..255 (YOLOX). */
  normalise: Normalise;
  /** Layout of the new UINT8 input (default NCHW, as the model). NHWC adds a Transpose. */
  layout?: Layout;
  /** The image input to replace (default: the model's only input). */
  input?: string;
}

export interface WrapResult {
  model: Buffer;
  input: { name: string; layout: Layout; shape: (number | string)[] };
  outputs: { name: string; elemType: number; shape: (number | string)[] }[];
}

/** Field numbers (onnx.proto) used by the in-place edit. */
const MODEL_GRAPH = 7;
const MODEL_OPSET = 8;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const NODE_INPUT = 1;

const PREFIX = 'triton_vision_uint8';

export class WrapError extends Error {
  readonly code = 'INVALID_MODEL';
}

function dimsOf(v: OnnxValueInfo): (number | string)[] {
  return (v.type?.tensor_type?.shape?.dim ?? []).map((d) =>
    d.dim_param ? d.dim_param : d.dim_value !== undefined ? Number(d.dim_value) : '?',
  );
}

function defaultOpsetVersion(modelBytes: Buffer): number {
  for (const f of readFields(modelBytes)) {
    if (f.field !== MODEL_OPSET) continue;
    const op = decodeMessage<{ domain?: string; version?: number }>('OperatorSetIdProto', f.value);
    if (!op.domain || op.domain === 'ai.onnx') return Number(op.version ?? 0);
  }
  return 0;
}

/** The nodes and constants from the UINT8 input `name` to the tensor `out` the model reads. */
function prologue(
  name: string,
  out: string,
  elemType: number,
  opts: Required<Pick<WrapOptions, 'normalise' | 'layout'>>,
): { nodes: OnnxNode[]; constants: OnnxTensor[] } {
  const nodes: OnnxNode[] = [];
  const constants: OnnxTensor[] = [];
  let current = name;
  const step = (op: string, inputs: string[], attrs: OnnxNode['attribute'] = []): void => {
    const output = `${PREFIX}_${nodes.length}_${op.toLowerCase()}`;
    nodes.push({
      name: `${PREFIX}_${op}_${nodes.length}`,
      op_type: op,
      input: [current, ...inputs],
      output: [output],
      attribute: attrs,
    });
    current = output;
  };
  step('Cast', [], [{ name: 'to', type: AttributeType.INT, i: elemType }]);
  if (opts.layout === 'NHWC') {
    step('Transpose', [], [{ name: 'perm', type: AttributeType.INTS, ints: [0, 3, 1, 2] }]);
  }
  if (opts.normalise !== 'none') {
    constants.push(floatTensor(`${PREFIX}_255`, [], [255], elemType));
    step('Div', [`${PREFIX}_255`]);
  }
  if (opts.normalise === 'imagenet') {
    constants.push(floatTensor(`${PREFIX}_mean`, [1, 3, 1, 1], IMAGENET_MEAN, elemType));
    constants.push(floatTensor(`${PREFIX}_std`, [1, 3, 1, 1], IMAGENET_STD, elemType));
    step('Sub', [`${PREFIX}_mean`]);
    step('Div', [`${PREFIX}_std`]);
  }
  // The last step writes the tensor the model's own nodes read.
  nodes[nodes.length - 1]!.output = [out];
  return { nodes, constants };
}

/** Rewrites a NodeProto so that inputs named `from` read `to`; other bytes untouched. */
function renameNodeInputs(node: Buffer, from: string, to: string): Buffer {
  let changed = false;
  const parts = readFields(node).map((f) => {
    if (f.field === NODE_INPUT && f.wireType === 2 && f.value.toString('utf8') === from) {
      changed = true;
      return lengthField(NODE_INPUT, Buffer.from(to, 'utf8'));
    }
    return f.bytes;
  });
  return changed ? Buffer.concat(parts) : node;
}

/**
 * Wraps an ONNX model (bytes) so that its image input becomes UINT8 pixels.
 * @throws WrapError when the model has no single NCHW 3-channel float image input, or an
 * opset too old for the added nodes.
 */
export function wrapUint8(modelBytes: Buffer, options: WrapOptions): WrapResult {
  const layout = options.layout ?? 'NCHW';
  const opset = defaultOpsetVersion(modelBytes);
  if (opset < 7) {
    throw new WrapError(
      `The model imports ONNX opset ${opset || 'none'}; the added Cast/Div/Sub nodes need opset 7 or newer: re-export it with a newer opset`,
    );
  }
  const top = readFields(modelBytes);
  const graphFields = top.filter((f) => f.field === MODEL_GRAPH);
  if (graphFields.length !== 1) {
    throw new WrapError(
      `The file holds ${graphFields.length} graphs; an ONNX model has exactly one`,
    );
  }
  const graph = readFields(graphFields[0]!.value);
  const initializers = new Set(
    graph
      .filter((f) => f.field === GRAPH_INITIALIZER)
      .map((f) => decodeMessage<{ name: string }>('TensorProto', f.value).name),
  );
  const inputs = graph
    .filter((f) => f.field === GRAPH_INPUT)
    .map((f) => ({ field: f, info: decodeMessage<OnnxValueInfo>('ValueInfoProto', f.value) }))
    .filter((i) => !initializers.has(i.info.name));
  const chosen = options.input
    ? inputs.find((i) => i.info.name === options.input)
    : inputs.length === 1
      ? inputs[0]
      : undefined;
  if (!chosen) {
    const names = inputs.map((i) => `'${i.info.name}'`).join(', ') || 'none';
    throw new WrapError(
      options.input
        ? `The model has no input '${options.input}' (its inputs: ${names})`
        : `The model has ${inputs.length} inputs (${names}); name the image input with --input`,
    );
  }
  const name = chosen.info.name;
  const elemType = chosen.info.type?.tensor_type?.elem_type ?? 0;
  if (elemType === OnnxType.UINT8) {
    throw new WrapError(`Input '${name}' is already UINT8: the model needs no wrapping`);
  }
  if (elemType !== OnnxType.FLOAT && elemType !== OnnxType.FLOAT16) {
    throw new WrapError(
      `Input '${name}' has ONNX element type ${elemType}; only FLOAT and FLOAT16 image inputs can be wrapped`,
    );
  }
  const dims = dimsOf(chosen.info);
  if (dims.length !== 4 || (dims[1] !== 3 && typeof dims[1] === 'number')) {
    throw new WrapError(
      `Input '${name}' has shape [${dims.join(',')}]; wrap-uint8 takes an NCHW image input [N,3,H,W] (export the model with channels first)`,
    );
  }
  const internal = `${PREFIX}_${name}_normalised`;
  const { nodes, constants } = prologue(name, internal, elemType, {
    normalise: options.normalise,
    layout,
  });
  const [n, c, h, w] = dims as [number | string, number | string, number | string, number | string];
  const newShape = layout === 'NHWC' ? [n, h, w, c] : [n, c, h, w];
  const newInput = encodeMessage('ValueInfoProto', valueInfo(name, OnnxType.UINT8, newShape));

  const rebuilt: Buffer[] = [encodeMessage('GraphProto', { node: nodes, initializer: constants })];
  for (const f of graph) {
    if (f === chosen.field) rebuilt.push(lengthField(GRAPH_INPUT, newInput));
    else if (f.field === GRAPH_NODE) {
      rebuilt.push(lengthField(GRAPH_NODE, renameNodeInputs(f.value, name, internal)));
    } else rebuilt.push(f.bytes);
  }
  const newGraph = Buffer.concat(rebuilt);
  const model = Buffer.concat(
    top.map((f) => (f.field === MODEL_GRAPH ? lengthField(MODEL_GRAPH, newGraph) : f.bytes)),
  );
  const outputs = graph
    .filter((f) => f.field === GRAPH_OUTPUT)
    .map((f) => decodeMessage<OnnxValueInfo>('ValueInfoProto', f.value))
    .map((o) => ({
      name: o.name,
      elemType: o.type?.tensor_type?.elem_type ?? 0,
      shape: dimsOf(o),
    }));
  return { model, input: { name, layout, shape: newShape }, outputs };
}

const CONFIG_TYPES: Record<number, ConfigDataType> = {
  [OnnxType.FLOAT]: 'TYPE_FP32',
  [OnnxType.FLOAT16]: 'TYPE_FP16',
  [OnnxType.UINT8]: 'TYPE_UINT8',
  [OnnxType.INT8]: 'TYPE_INT8',
  [OnnxType.INT32]: 'TYPE_INT32',
  [OnnxType.INT64]: 'TYPE_INT64',
  [OnnxType.BOOL]: 'TYPE_BOOL',
  [OnnxType.DOUBLE]: 'TYPE_FP64',
};

const configDims = (shape: (number | string)[]): number[] =>
  shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));

/** The config.pbtxt of a wrapped model (max_batch_size 0: the batch dimension is in dims). */
export function wrappedConfig(name: string, wrapped: WrapResult, task?: string): ModelConfig {
  const config: ModelConfig = {
    name,
    platform: 'onnxruntime_onnx',
    backend: '',
    max_batch_size: 0,
    input: [
      {
        name: wrapped.input.name,
        data_type: 'TYPE_UINT8',
        format: wrapped.input.layout === 'NHWC' ? 'FORMAT_NHWC' : 'FORMAT_NCHW',
        dims: configDims(wrapped.input.shape),
      },
    ],
    output: wrapped.outputs.map((o) => {
      const dataType = CONFIG_TYPES[o.elemType];
      if (!dataType) {
        throw new WrapError(
          `Output '${o.name}' has ONNX element type ${o.elemType}, which Triton configs cannot name here`,
        );
      }
      return { name: o.name, data_type: dataType, dims: configDims(o.shape) };
    }),
  };
  if (task) config.parameters = { task: { string_value: task } };
  return config;
}

export const WRAP_USAGE = `Usage: triton-vision wrap-uint8 MODEL.onnx --repository DIR --name NAME
         --normalise yolo|imagenet|none [--layout nchw|nhwc] [--input NAME]
         [--task detect|segment|classify] [--force]

  Writes DIR/NAME/1/model.onnx (MODEL.onnx with a UINT8 image input and the Cast,
  /255 and mean/std in front) and DIR/NAME/config.pbtxt.

  --normalise   yolo: x/255 (YOLOv5/v8/11, -seg); imagenet: (x/255 - mean)/std;
                none: the cast only (YOLOX takes 0..255)
  --layout      the new input's layout (default nchw); nhwc adds a Transpose so the
                client sends decoded pixels as they are
  --input       the image input to replace (default: the model's only input)
  --task        written as the config's task parameter (default: the profile decides)
  --force       replace an existing DIR/NAME`;

/** The subcommand; returns the exit code. */
export function wrapUint8Main(argv: string[], out: NodeJS.WritableStream = process.stdout): number {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        repository: { type: 'string' },
        name: { type: 'string' },
        normalise: { type: 'string' },
        normalize: { type: 'string' },
        layout: { type: 'string' },
        input: { type: 'string' },
        task: { type: 'string' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${WRAP_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out.write(`${WRAP_USAGE}\n`);
    return 0;
  }
  const fail = (text: string, code = 2): number => {
    process.stderr.write(`wrap-uint8: ${text}\n`);
    return code;
  };
  const normalise = values.normalise ?? values.normalize;
  if (positionals.length !== 1) return fail(`give exactly one MODEL.onnx\n\n${WRAP_USAGE}`);
  if (!values.repository)
    return fail('--repository DIR is required (the Triton model repository to write into)');
  if (!values.name || !/^[A-Za-z0-9_.-]+$/.test(values.name)) {
    return fail('--name NAME is required: letters, digits, _ . and - only');
  }
  if (normalise !== 'yolo' && normalise !== 'imagenet' && normalise !== 'none') {
    return fail(
      '--normalise must be yolo, imagenet or none (what the model expects after the cast)',
    );
  }
  const layout = (values.layout ?? 'nchw').toUpperCase();
  if (layout !== 'NCHW' && layout !== 'NHWC') return fail('--layout must be nchw or nhwc');
  if (values.task && !['detect', 'segment', 'classify'].includes(values.task)) {
    return fail('--task must be detect, segment or classify');
  }
  const source = positionals[0]!;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(source);
  } catch (err) {
    return fail(`cannot read ${source}: ${(err as Error).message}`, 1);
  }
  const dir = path.join(values.repository, values.name);
  if (fs.existsSync(dir) && !values.force) {
    return fail(`${dir} exists: pick another --name or pass --force to replace it`, 1);
  }
  let wrapped: WrapResult;
  try {
    wrapped = wrapUint8(bytes, {
      normalise,
      layout: layout as Layout,
      ...(values.input ? { input: values.input } : {}),
    });
  } catch (err) {
    return fail(`${source}: ${(err as Error).message}`, 1);
  }
  const config = wrappedConfig(values.name, wrapped, values.task);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, '1'), { recursive: true });
  fs.writeFileSync(path.join(dir, '1', 'model.onnx'), wrapped.model);
  fs.writeFileSync(path.join(dir, 'config.pbtxt'), formatModelConfig(config));
  out.write(
    `wrote ${path.join(dir, '1', 'model.onnx')} (input '${wrapped.input.name}' UINT8 [${wrapped.input.shape.join(',')}] ${wrapped.input.layout}, ${normalise} normalisation) and ${path.join(dir, 'config.pbtxt')}\n`,
  );
  return 0;
}
