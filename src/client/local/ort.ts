/**
 * The slice of the onnxruntime JavaScript API that local mode uses (onnxruntime-node and
 * onnxruntime-web share it), and the conversions between our tensors and ORT's.
 */
import { TritonError } from '../../protocol/errors';
import { configToDataType, float32ToHalf, halfToFloat32 } from '../../protocol/tensor';
import type {
  ConfigDataType,
  DataType,
  ModelConfig,
  ModelConfigOutput,
  Tensor,
  TensorData,
} from '../../protocol/types';

export interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  /** Symbolic dimensions arrive as strings (e.g. "batch"). */
  shape?: readonly (number | string)[];
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Present in onnxruntime-node ≥ 1.21. */
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(
    feeds: Record<string, OrtTensor>,
    fetches?: readonly string[],
  ): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface OrtRuntime {
  InferenceSession: {
    create(file: string, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: string, data: unknown, dims: readonly number[]) => OrtTensor;
}

export const ORT_TO_CONFIG: Record<string, ConfigDataType> = {
  float32: 'TYPE_FP32',
  float16: 'TYPE_FP16',
  float64: 'TYPE_FP64',
  int8: 'TYPE_INT8',
  uint8: 'TYPE_UINT8',
  int16: 'TYPE_INT16',
  uint16: 'TYPE_UINT16',
  int32: 'TYPE_INT32',
  uint32: 'TYPE_UINT32',
  int64: 'TYPE_INT64',
  uint64: 'TYPE_UINT64',
  bool: 'TYPE_BOOL',
  string: 'TYPE_STRING',
};

export const DATATYPE_TO_ORT: Record<DataType, string> = {
  FP32: 'float32',
  FP16: 'float16',
  FP64: 'float64',
  INT8: 'int8',
  UINT8: 'uint8',
  INT16: 'int16',
  UINT16: 'uint16',
  INT32: 'int32',
  UINT32: 'uint32',
  INT64: 'int64',
  UINT64: 'uint64',
  BOOL: 'bool',
};

/** Our tensor storage → what ORT wants for the same type (FP16 as raw half bits). */
export function toOrtData(t: Tensor): TensorData {
  if (t.datatype === 'FP16') {
    return t.data instanceof Uint16Array ? t.data : float32ToHalf(t.data as Float32Array);
  }
  if (t.datatype === 'BOOL') {
    const b = t.data as Uint8Array;
    return b.some((v) => v > 1) ? Uint8Array.from(b, (v) => (v ? 1 : 0)) : b;
  }
  return t.data;
}

/**
 * ORT output → our Tensor. `value.dims` is the model's output shape; with a config
 * `reshape` the client sees the config's dims instead (batch first when batching).
 */
export function fromOrt(
  name: string,
  value: OrtTensor | undefined,
  spec: ModelConfigOutput,
  cfg: ModelConfig,
  batch: number,
  model: string,
): Tensor {
  if (!value) {
    throw new TritonError(
      'INTERNAL',
      `onnxruntime returned no output '${name}' for model '${model}'`,
      {
        model,
      },
    );
  }
  const want = configToDataType(spec.data_type);
  if (want === 'BYTES' || want === 'BF16') {
    throw new TritonError(
      'UNSUPPORTED',
      `Output '${name}' of model '${model}' is ${want}, which this client does not carry`,
      { model },
    );
  }
  let data: TensorData;
  if (value.type === 'float16') {
    const src = value.data;
    data =
      src instanceof Uint16Array ? halfToFloat32(src) : Float32Array.from(src as ArrayLike<number>); // a native Float16Array
  } else {
    data = value.data as TensorData;
  }
  let shape = value.dims.map(Number);
  if (spec.reshape) {
    const n = shape.reduce((a, b) => a * b, 1);
    const dims = cfg.max_batch_size > 0 ? [batch, ...spec.dims] : [...spec.dims];
    const known = dims.reduce((a, d) => (d === -1 ? a : a * d), 1);
    const free = dims.filter((d) => d === -1).length;
    if (free === 0 && known === n) shape = dims;
    else if (free === 1 && known > 0 && n % known === 0)
      shape = dims.map((d) => (d === -1 ? n / known : d));
  }
  return { name, datatype: want, shape, data };
}
