/**
 * The KServe v2 gRPC wire codec: loads protos/kserve_v2.proto once, and converts
 * between the plain objects @grpc/proto-loader produces and our client types.
 * No I/O here, so the client (src/client/grpc.ts) and the server frontend
 * (src/server/grpc-frontend.ts) share one implementation of the format.
 *
 * Loader options: keepCase (snake_case as on the wire), longs as strings (int64 and
 * uint64 keep every digit; shapes and counters become numbers here, INT64 tensor
 * contents become BigInts), enums as names, defaults filled in, oneofs named.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { TritonError, type TritonErrorCode } from './errors';
import { bytesToTensorData, elementCount, isDataType, tensorToBytes } from './tensor';
import type {
  ConfigDataType,
  DataType,
  InferRequest,
  InferResponse,
  ModelConfig,
  ModelConfigInput,
  ModelConfigOutput,
  ModelMetadata,
  ModelStatistics,
  RepositoryModel,
  ServerMetadata,
  StatisticDuration,
  Tensor,
  TensorData,
  TensorMetadata,
} from './types';

// ---- proto loading --------------------------------------------------------------

const PROTO_RELATIVE = path.join('protos', 'kserve_v2.proto');

/**
 * Finds protos/kserve_v2.proto by walking up from `start`: the code runs from src/client
 * under tsx, from dist/ when bundled, and from nodes/ in the Node-RED build, and the
 * package ships protos/ at its root in every case.
 */
export function findProtoFile(start: string = __dirname): string {
  let dir = path.resolve(start);
  for (;;) {
    const candidate = path.join(dir, PROTO_RELATIVE);
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new TritonError(
    'INTERNAL',
    `Cannot find ${PROTO_RELATIVE} in ${start} or any folder above it: the package is incomplete, reinstall node-red-contrib-triton-vision`,
  );
}

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface KserveProto {
  packageDefinition: protoLoader.PackageDefinition;
  /** Client constructor for `inference.GRPCInferenceService`. */
  ServiceClient: grpc.ServiceClientConstructor;
  /** Method table for `grpc.Server.addService`. */
  service: grpc.ServiceDefinition;
}

let cached: KserveProto | undefined;

/** Loads the proto on first use and returns the same definitions afterwards. */
export function loadKserveProto(): KserveProto {
  if (cached) return cached;
  const file = findProtoFile();
  let packageDefinition: protoLoader.PackageDefinition;
  try {
    packageDefinition = protoLoader.loadSync(file, PROTO_LOADER_OPTIONS);
  } catch (err) {
    throw new TritonError(
      'INTERNAL',
      `Cannot load ${file} (${(err as Error).message}): the package is damaged, reinstall it`,
      { cause: err },
    );
  }
  const root = grpc.loadPackageDefinition(packageDefinition);
  const ServiceClient = (root.inference as grpc.GrpcObject)
    .GRPCInferenceService as grpc.ServiceClientConstructor;
  cached = { packageDefinition, ServiceClient, service: ServiceClient.service };
  return cached;
}

// ---- wire shapes (as proto-loader decodes them with the options above) -----------

/** int64 / uint64 fields: strings when decoded; numbers or strings when encoded. */
export type WireLong = string | number;

export interface WireInferParameter {
  bool_param?: boolean;
  int64_param?: WireLong;
  string_param?: string;
  double_param?: number;
  uint64_param?: WireLong;
  parameter_choice?: string;
}

export interface WireTensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: WireLong[];
  uint_contents?: number[];
  uint64_contents?: WireLong[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

export interface WireTensor {
  name: string;
  datatype: string;
  shape: WireLong[];
  parameters?: Record<string, WireInferParameter>;
  contents?: WireTensorContents | null;
}

export interface WireRequestedOutput {
  name: string;
  parameters?: Record<string, WireInferParameter>;
}

export interface WireInferRequest {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, WireInferParameter>;
  inputs: WireTensor[];
  outputs?: WireRequestedOutput[];
  raw_input_contents?: Uint8Array[];
}

export interface WireInferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, WireInferParameter>;
  outputs: WireTensor[];
  raw_output_contents?: Uint8Array[];
}

export interface WireTensorMetadata {
  name: string;
  datatype: string;
  shape: WireLong[];
}

export interface WireModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: WireTensorMetadata[];
  outputs: WireTensorMetadata[];
}

export interface WireServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface WireStatisticDuration {
  count: WireLong;
  ns: WireLong;
}

export interface WireModelStatistics {
  name: string;
  version: string;
  last_inference: WireLong;
  inference_count: WireLong;
  execution_count: WireLong;
  inference_stats?: Partial<Record<string, WireStatisticDuration | null>> | null;
}

export interface WireModelIndex {
  name: string;
  version: string;
  state: string;
  reason: string;
}

interface WireReshape {
  shape: WireLong[];
}

export interface WireModelInput {
  name: string;
  data_type: string;
  format?: string;
  dims: WireLong[];
  reshape?: WireReshape | null;
  is_shape_tensor?: boolean;
  allow_ragged_batch?: boolean;
  optional?: boolean;
}

export interface WireModelOutput {
  name: string;
  data_type: string;
  dims: WireLong[];
  label_filename?: string;
  reshape?: WireReshape | null;
  is_shape_tensor?: boolean;
}

export interface WireModelConfig {
  name: string;
  platform: string;
  backend: string;
  max_batch_size: number;
  input: WireModelInput[];
  output: WireModelOutput[];
  version_policy?: {
    latest?: { num_versions: number } | null;
    all?: Record<string, never> | null;
    specific?: { versions: WireLong[] } | null;
    policy_choice?: string;
  } | null;
  instance_group?: { name: string; count: number; gpus: number[]; kind: string }[];
  default_model_filename?: string;
  dynamic_batching?: {
    preferred_batch_size: number[];
    max_queue_delay_microseconds: WireLong;
    preserve_ordering: boolean;
  } | null;
  scheduling_choice?: string;
  parameters?: Record<string, { string_value: string }>;
}

// ---- small helpers --------------------------------------------------------------

/** An int64 / uint64 wire value as a JS number (shapes, counters, durations). */
export function longToNumber(v: WireLong | null | undefined): number {
  if (v === null || v === undefined || v === '') return 0;
  return typeof v === 'number' ? v : Number(v);
}

function numbers(list: readonly WireLong[] | null | undefined): number[] {
  return (list ?? []).map(longToNumber);
}

/**
 * Parses a tensor shape sent by a peer. Every dimension must be a non-negative
 * integer: a -1 belongs in metadata, never in an inference message.
 */
function parseShape(list: readonly WireLong[] | undefined, code: TritonErrorCode, what: string) {
  const shape = numbers(list);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TritonError(
      code,
      `${what} has shape [${(list ?? []).join(',')}]; every dimension must be a non-negative integer`,
    );
  }
  return shape;
}

function parseDataType(v: string, code: TritonErrorCode, what: string): DataType {
  if (isDataType(v)) return v;
  if (v.startsWith('TYPE_') && isDataType(v.slice(5))) {
    throw new TritonError(
      code,
      `${what} has datatype '${v}': inference uses the bare name '${v.slice(5)}', not the config name`,
    );
  }
  throw new TritonError(
    code,
    `${what} has datatype '${v}', which is not supported (use BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32 or FP64)`,
  );
}

/** Re-raises a codec error from tensor.ts with the code that fits this side of the wire. */
function withCode<T>(code: TritonErrorCode, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TritonError && err.code !== code && err.code !== 'UNSUPPORTED') {
      throw new TritonError(code, err.message, { cause: err });
    }
    throw err;
  }
}

// ---- typed `contents` (peers that do not use raw bytes) --------------------------

const INT_RANGE: Partial<Record<DataType, [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
};

/** Which InferTensorContents field carries each datatype (REFERENCE.md A.5). */
const CONTENTS_FIELD: Record<DataType, keyof WireTensorContents | undefined> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  // No typed field holds halves: FP16 must travel as raw bytes.
  FP16: undefined,
};

/**
 * Reads a tensor sent as typed `contents` (e.g. `fp32_contents`) instead of raw bytes.
 * Legal in KServe v2, though official clients always send raw bytes.
 */
function contentsToTensorData(
  contents: WireTensorContents,
  datatype: DataType,
  shape: number[],
  name: string,
  code: TritonErrorCode,
): TensorData {
  const field = CONTENTS_FIELD[datatype];
  if (!field) {
    throw new TritonError(
      code,
      `Tensor '${name}' is ${datatype}, which has no typed contents field: send it in raw_input_contents / raw_output_contents`,
    );
  }
  const values = (contents[field] ?? []) as readonly unknown[];
  const n = elementCount(shape);
  if (values.length !== n) {
    throw new TritonError(
      code,
      `Tensor '${name}' has shape [${shape.join(',')}] (${n} elements) but its ${field} holds ${values.length} values`,
    );
  }
  switch (datatype) {
    case 'BOOL':
      return Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0));
    case 'INT64':
      return BigInt64Array.from(values as WireLong[], (v) => BigInt(v));
    case 'UINT64':
      return BigUint64Array.from(values as WireLong[], (v) => BigInt(v));
    case 'FP32':
      return Float32Array.from(values as number[]);
    case 'FP64':
      return Float64Array.from(values as number[]);
    default: {
      const [lo, hi] = INT_RANGE[datatype]!;
      const ints = values as number[];
      for (let i = 0; i < ints.length; i++) {
        if (ints[i]! < lo || ints[i]! > hi) {
          throw new TritonError(
            code,
            `Tensor '${name}' is ${datatype} but element ${i} is ${ints[i]}, outside ${lo}..${hi}`,
          );
        }
      }
      const C = {
        INT8: Int8Array,
        INT16: Int16Array,
        INT32: Int32Array,
        UINT8: Uint8Array,
        UINT16: Uint16Array,
        UINT32: Uint32Array,
      }[datatype as 'INT8']!;
      return C.from(ints);
    }
  }
}

function hasContents(c: WireTensorContents | null | undefined): boolean {
  if (!c) return false;
  return Object.values(c).some((v) => Array.isArray(v) && v.length > 0);
}

/**
 * Decodes wire tensors plus their raw byte list into our Tensor[]. `raw[i]` belongs to
 * `tensors[i]`; when `raw` is empty each tensor carries typed `contents` instead.
 * `code` is what a malformed message is called on this side: INVALID_ARGUMENT for a
 * request the server received, PROTOCOL_ERROR for a response the client received.
 */
function decodeTensors(
  tensors: readonly WireTensor[],
  raw: readonly Uint8Array[],
  code: TritonErrorCode,
  kind: 'input' | 'output',
): Tensor[] {
  const rawField = kind === 'input' ? 'raw_input_contents' : 'raw_output_contents';
  if (raw.length > 0 && raw.length !== tensors.length) {
    throw new TritonError(
      code,
      `The message has ${tensors.length} ${kind}s but ${raw.length} entries in ${rawField}: there must be one per ${kind}`,
    );
  }
  return tensors.map((t, i) => {
    const what = `${kind === 'input' ? 'Input' : 'Output'} '${t.name}'`;
    const datatype = parseDataType(t.datatype, code, what);
    const shape = parseShape(t.shape, code, what);
    if (raw.length > 0) {
      if (hasContents(t.contents)) {
        throw new TritonError(
          code,
          `${what} sets typed contents while the message also uses ${rawField}: use one or the other`,
        );
      }
      return {
        name: t.name,
        datatype,
        shape,
        data: withCode(code, () => bytesToTensorData(raw[i]!, datatype, shape, t.name)),
      };
    }
    if (!t.contents && elementCount(shape) > 0) {
      throw new TritonError(code, `${what} carries no data: send ${rawField} or typed contents`);
    }
    return {
      name: t.name,
      datatype,
      shape,
      data: contentsToTensorData(t.contents ?? {}, datatype, shape, t.name, code),
    };
  });
}

function encodeTensors(tensors: readonly Tensor[]): { meta: WireTensor[]; raw: Buffer[] } {
  const meta: WireTensor[] = [];
  const raw: Buffer[] = [];
  for (const t of tensors) {
    // tensorToBytes validates shape/dtype/length and shares memory where it can.
    raw.push(tensorToBytes(t));
    meta.push({ name: t.name, datatype: t.datatype, shape: [...t.shape] });
  }
  return { meta, raw };
}

// ---- inference ------------------------------------------------------------------

/**
 * Our request → ModelInferRequest with every input as raw little-endian bytes (FP16 as
 * half bits). Throws INVALID_ARGUMENT for a tensor whose data does not fit its shape.
 */
export function encodeInferRequest(req: InferRequest): WireInferRequest {
  const { meta, raw } = encodeTensors(req.inputs);
  return {
    model_name: req.model,
    model_version: req.version ?? '',
    id: req.id ?? '',
    inputs: meta,
    outputs: (req.outputs ?? []).map((o) => ({ name: o.name })),
    raw_input_contents: raw,
  };
}

/** ModelInferRequest as a server received it → our request (raw or typed contents). */
export function decodeInferRequest(msg: WireInferRequest): InferRequest {
  const code: TritonErrorCode = 'INVALID_ARGUMENT';
  if (!msg.model_name) {
    throw new TritonError(code, 'The inference request names no model (model_name is empty)');
  }
  for (const o of msg.outputs ?? []) {
    if (o.parameters && 'classification' in o.parameters) {
      throw new TritonError(
        'UNSUPPORTED',
        `Output '${o.name}' asks for the classification extension, which this server does not implement: request the raw output and take the top-k yourself`,
      );
    }
  }
  const req: InferRequest = {
    model: msg.model_name,
    inputs: decodeTensors(msg.inputs ?? [], msg.raw_input_contents ?? [], code, 'input'),
  };
  if (msg.model_version) req.version = msg.model_version;
  if (msg.id) req.id = msg.id;
  if (msg.outputs && msg.outputs.length > 0)
    req.outputs = msg.outputs.map((o) => ({ name: o.name }));
  return req;
}

/** Our response → ModelInferResponse with raw_output_contents in the order of `outputs`. */
export function encodeInferResponse(res: InferResponse): WireInferResponse {
  const { meta, raw } = encodeTensors(res.outputs);
  return {
    model_name: res.model,
    model_version: res.version ?? '',
    id: res.id ?? '',
    outputs: meta,
    raw_output_contents: raw,
  };
}

/** ModelInferResponse as the client received it → our response. */
export function decodeInferResponse(msg: WireInferResponse): InferResponse {
  const res: InferResponse = {
    model: msg.model_name,
    version: msg.model_version ?? '',
    outputs: decodeTensors(
      msg.outputs ?? [],
      msg.raw_output_contents ?? [],
      'PROTOCOL_ERROR',
      'output',
    ),
  };
  if (msg.id) res.id = msg.id;
  return res;
}

// ---- metadata -------------------------------------------------------------------

function tensorMetadataFromWire(t: WireTensorMetadata): TensorMetadata {
  return { name: t.name, datatype: t.datatype, shape: numbers(t.shape) };
}

export function modelMetadataFromWire(m: WireModelMetadata): ModelMetadata {
  return {
    name: m.name,
    versions: [...(m.versions ?? [])],
    platform: m.platform ?? '',
    inputs: (m.inputs ?? []).map(tensorMetadataFromWire),
    outputs: (m.outputs ?? []).map(tensorMetadataFromWire),
  };
}

export function modelMetadataToWire(m: ModelMetadata): WireModelMetadata {
  const t = (x: TensorMetadata): WireTensorMetadata => ({
    name: x.name,
    datatype: x.datatype,
    shape: [...x.shape],
  });
  return {
    name: m.name,
    versions: [...m.versions],
    platform: m.platform,
    inputs: m.inputs.map(t),
    outputs: m.outputs.map(t),
  };
}

export function serverMetadataFromWire(m: WireServerMetadata): ServerMetadata {
  return { name: m.name ?? '', version: m.version ?? '', extensions: [...(m.extensions ?? [])] };
}

export function serverMetadataToWire(m: ServerMetadata): WireServerMetadata {
  return { name: m.name, version: m.version, extensions: [...m.extensions] };
}

// ---- statistics -----------------------------------------------------------------

const STAT_KEYS = [
  'success',
  'fail',
  'queue',
  'compute_input',
  'compute_infer',
  'compute_output',
] as const;

function durationFromWire(d: WireStatisticDuration | null | undefined): StatisticDuration {
  return { count: longToNumber(d?.count), ns: longToNumber(d?.ns) };
}

export function modelStatisticsFromWire(s: WireModelStatistics): ModelStatistics {
  const stats = s.inference_stats ?? {};
  const inference_stats = {} as ModelStatistics['inference_stats'];
  for (const key of STAT_KEYS) inference_stats[key] = durationFromWire(stats[key]);
  return {
    name: s.name,
    version: s.version ?? '',
    last_inference: longToNumber(s.last_inference),
    inference_count: longToNumber(s.inference_count),
    execution_count: longToNumber(s.execution_count),
    inference_stats,
  };
}

export function modelStatisticsToWire(s: ModelStatistics): WireModelStatistics {
  const inference_stats: Record<string, WireStatisticDuration> = {};
  for (const key of STAT_KEYS) {
    const d = s.inference_stats?.[key];
    inference_stats[key] = { count: d?.count ?? 0, ns: d?.ns ?? 0 };
  }
  return {
    name: s.name,
    version: s.version,
    last_inference: s.last_inference,
    inference_count: s.inference_count,
    execution_count: s.execution_count,
    inference_stats,
  };
}

// ---- repository index -----------------------------------------------------------

export function repositoryModelFromWire(m: WireModelIndex): RepositoryModel {
  const out: RepositoryModel = { name: m.name, state: m.state ?? '' };
  // proto3 cannot tell "absent" from "empty": an empty string means not given.
  if (m.version) out.version = m.version;
  if (m.reason) out.reason = m.reason;
  return out;
}

export function repositoryModelToWire(m: RepositoryModel): WireModelIndex {
  return { name: m.name, version: m.version ?? '', state: m.state, reason: m.reason ?? '' };
}

// ---- model configuration --------------------------------------------------------

function configInputFromWire(i: WireModelInput): ModelConfigInput {
  const out: ModelConfigInput = {
    name: i.name,
    data_type: (i.data_type || 'TYPE_INVALID') as ConfigDataType,
    format: (i.format || 'FORMAT_NONE') as NonNullable<ModelConfigInput['format']>,
    dims: numbers(i.dims),
  };
  // Defaults are left out, as a config.pbtxt that does not mention them reads.
  if (i.optional) out.optional = true;
  if (i.reshape) out.reshape = { shape: numbers(i.reshape.shape) };
  return out;
}

function configOutputFromWire(o: WireModelOutput): ModelConfigOutput {
  const out: ModelConfigOutput = {
    name: o.name,
    data_type: (o.data_type || 'TYPE_INVALID') as ConfigDataType,
    dims: numbers(o.dims),
  };
  if (o.label_filename) out.label_filename = o.label_filename;
  if (o.reshape) out.reshape = { shape: numbers(o.reshape.shape) };
  return out;
}

/**
 * protobuf ModelConfig → the shape of Triton's HTTP config JSON: numbers instead of
 * int64 strings, enum names, and max_batch_size present even when 0 (protobuf JSON
 * would drop it).
 */
export function modelConfigFromWire(c: WireModelConfig): ModelConfig {
  const out: ModelConfig = {
    name: c.name ?? '',
    platform: c.platform ?? '',
    backend: c.backend ?? '',
    max_batch_size: c.max_batch_size ?? 0,
    input: (c.input ?? []).map(configInputFromWire),
    output: (c.output ?? []).map(configOutputFromWire),
  };
  const vp = c.version_policy;
  if (vp?.latest) out.version_policy = { latest: { num_versions: vp.latest.num_versions } };
  else if (vp?.all) out.version_policy = { all: {} };
  else if (vp?.specific)
    out.version_policy = { specific: { versions: numbers(vp.specific.versions) } };
  if (c.instance_group && c.instance_group.length > 0) {
    out.instance_group = c.instance_group.map((g) => {
      const group: NonNullable<ModelConfig['instance_group']>[number] = {
        count: g.count,
        kind: g.kind || 'KIND_AUTO',
      };
      if (g.name) group.name = g.name;
      if (g.gpus && g.gpus.length > 0) group.gpus = [...g.gpus];
      return group;
    });
  }
  if (c.dynamic_batching) {
    out.dynamic_batching = {
      preferred_batch_size: [...(c.dynamic_batching.preferred_batch_size ?? [])],
      max_queue_delay_microseconds: longToNumber(c.dynamic_batching.max_queue_delay_microseconds),
      preserve_ordering: Boolean(c.dynamic_batching.preserve_ordering),
    };
  }
  if (c.default_model_filename) out.default_model_filename = c.default_model_filename;
  const params = Object.entries(c.parameters ?? {});
  if (params.length > 0) {
    out.parameters = {};
    for (const [k, v] of params) out.parameters[k] = { string_value: v?.string_value ?? '' };
  }
  return out;
}

/** Our normalised ModelConfig → the protobuf message (what a server frontend sends). */
export function modelConfigToWire(c: ModelConfig): WireModelConfig {
  const out: WireModelConfig = {
    name: c.name,
    platform: c.platform ?? '',
    backend: c.backend ?? '',
    max_batch_size: c.max_batch_size ?? 0,
    input: (c.input ?? []).map((i) => ({
      name: i.name,
      data_type: i.data_type,
      format: i.format ?? 'FORMAT_NONE',
      dims: [...i.dims],
      reshape: i.reshape ? { shape: [...i.reshape.shape] } : null,
      optional: Boolean(i.optional),
    })),
    output: (c.output ?? []).map((o) => ({
      name: o.name,
      data_type: o.data_type,
      dims: [...o.dims],
      label_filename: o.label_filename ?? '',
      reshape: o.reshape ? { shape: [...o.reshape.shape] } : null,
    })),
    default_model_filename: c.default_model_filename ?? '',
  };
  const vp = c.version_policy;
  if (vp && 'latest' in vp) out.version_policy = { latest: { ...vp.latest } };
  else if (vp && 'all' in vp) out.version_policy = { all: {} };
  else if (vp && 'specific' in vp)
    out.version_policy = { specific: { versions: [...vp.specific.versions] } };
  if (c.instance_group) {
    out.instance_group = c.instance_group.map((g) => ({
      name: g.name ?? '',
      count: g.count,
      gpus: [...(g.gpus ?? [])],
      kind: g.kind,
    }));
  }
  if (c.dynamic_batching) {
    out.dynamic_batching = {
      preferred_batch_size: [...(c.dynamic_batching.preferred_batch_size ?? [])],
      max_queue_delay_microseconds: c.dynamic_batching.max_queue_delay_microseconds ?? 0,
      preserve_ordering: Boolean(c.dynamic_batching.preserve_ordering),
    };
  }
  if (c.parameters) {
    out.parameters = {};
    for (const [k, v] of Object.entries(c.parameters)) {
      out.parameters[k] = { string_value: v.string_value };
    }
  }
  return out;
}

// ---- ModelInfer without copies ----------------------------------------------------
//
// The tensors dominate a ModelInfer message (4.9 MB in, 2.8 MB out for a 640 YOLO), so
// they are kept out of protobufjs: the request's small fields are serialised as usual
// and each raw input follows as a length-delimited field 7 whose bytes are the tensor's
// own memory; a reply's raw outputs (field 6) are copied once, from the socket's chunks
// into one aligned buffer, and everything else goes through protobufjs. Protobuf lets
// fields come in any order and repeated fields be split, so both are valid messages.

/** gRPC message prefix: 1 byte compressed flag, 4 bytes big-endian length. */
export const GRPC_FRAME_PREFIX_BYTES = 5;

/** A compressed reply that inflates past the message limit: MESSAGE_TOO_LARGE. */
export function checkInflatedReply(bytes: number, maxMessageBytes: number): void {
  if (bytes > maxMessageBytes) {
    throw new TritonError(
      'MESSAGE_TOO_LARGE',
      `the reply inflates to ${bytes} bytes, over the limit of ${maxMessageBytes} bytes`,
    );
  }
}

/** Any message → one gRPC frame (prefix + bytes), for the small RPCs (client and server). */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(GRPC_FRAME_PREFIX_BYTES + message.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, GRPC_FRAME_PREFIX_BYTES);
  return frame;
}
const TAG_RAW_INPUT = (7 << 3) | 2;
const RAW_OUTPUT_FIELD = 6;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

export interface InferRequestFrame {
  /** The gRPC frame in order: small headers interleaved with the tensors' own memory. */
  chunks: Buffer[];
  /** Bytes of the protobuf message (the frame is 5 more). */
  messageBytes: number;
}

/**
 * Our request → one gRPC message frame (prefix + ModelInferRequest) as a list of chunks,
 * the raw inputs sharing the caller's tensor memory (FP32, UINT8: no copy). The caller
 * must keep the tensors unchanged until the call has ended.
 */
export function encodeInferRequestFrame(req: InferRequest): InferRequestFrame {
  const wire = encodeInferRequest(req);
  const raw = wire.raw_input_contents ?? [];
  wire.raw_input_contents = [];
  const def = loadKserveProto().service.ModelInfer!;
  const head = def.requestSerialize(wire);
  let messageBytes = head.length;
  for (const r of raw) messageBytes += 1 + varintLength(r.byteLength) + r.byteLength;
  const chunks: Buffer[] = [];
  // One small buffer for the frame prefix, the header fields and the first tag: the
  // smaller pieces in front of each tensor travel with it in the same writev.
  const first = Buffer.allocUnsafe(
    GRPC_FRAME_PREFIX_BYTES +
      head.length +
      (raw.length > 0 ? 1 + varintLength(raw[0]!.byteLength) : 0),
  );
  first[0] = 0;
  first.writeUInt32BE(messageBytes, 1);
  head.copy(first, GRPC_FRAME_PREFIX_BYTES);
  let at = GRPC_FRAME_PREFIX_BYTES + head.length;
  raw.forEach((r, i) => {
    const bytes = Buffer.isBuffer(r) ? r : Buffer.from(r.buffer, r.byteOffset, r.byteLength);
    if (i === 0) {
      first[at++] = TAG_RAW_INPUT;
      writeVarint(first, at, r.byteLength);
      chunks.push(first);
    } else {
      const tag = Buffer.allocUnsafe(1 + varintLength(r.byteLength));
      tag[0] = TAG_RAW_INPUT;
      writeVarint(tag, 1, r.byteLength);
      chunks.push(tag);
    }
    chunks.push(bytes);
  });
  if (raw.length === 0) chunks.push(first);
  return { chunks, messageBytes };
}

/** Where a reader gets its reply memory; `acquire` returns a buffer of at least n bytes. */
export interface ReplyMemory {
  acquire(byteLength: number): ArrayBuffer;
  release(buffer: ArrayBuffer): void;
}

const freshMemory: ReplyMemory = {
  acquire: (n) => new ArrayBuffer(n),
  release: () => undefined,
};

type ReaderState = 'prefix' | 'tag' | 'length' | 'varint' | 'meta' | 'blob' | 'done';

/**
 * Reads one ModelInferResponse frame from a stream of chunks as they arrive. Raw outputs
 * land in one buffer from `memory`, each 8-byte aligned so typed arrays can view them in
 * place; the other fields (a few hundred bytes) are kept apart and decoded by protobufjs.
 * Errors (a limit crossed, a malformed message) are thrown from push() / finish() as
 * TritonErrors; `maxMessageBytes` is checked against the frame's declared length.
 */
export class InferReplyReader {
  private state: ReaderState = 'prefix';
  private readonly prefix = Buffer.alloc(GRPC_FRAME_PREFIX_BYTES);
  private prefixHave = 0;
  /** Message bytes not yet consumed. */
  private left = 0;
  private compressed = false;
  private compressedChunks: Buffer[] | undefined;
  // protobuf field being parsed
  private varint = 0;
  private varintShift = 1;
  private fieldNumber = 0;
  private wireType = 0;
  private fieldLeft = 0;
  private readonly metaChunks: Buffer[] = [];
  private metaField: Buffer | undefined;
  private metaFieldAt = 0;
  // raw outputs
  private memory: ArrayBuffer | undefined;
  /** Bytes of `memory`, made once per reply. */
  private target: Uint8Array | undefined;
  private blobs: { offset: number; length: number }[] = [];
  private blobAt = 0;
  private cursor = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly pool: ReplyMemory = freshMemory,
  ) {}

  /** The declared length of the message (after its prefix arrived), for error texts. */
  declaredBytes = -1;

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'prefix') {
        const take = Math.min(GRPC_FRAME_PREFIX_BYTES - this.prefixHave, chunk.length - i);
        chunk.copy(this.prefix, this.prefixHave, i, i + take);
        this.prefixHave += take;
        i += take;
        if (this.prefixHave === GRPC_FRAME_PREFIX_BYTES) this.startMessage();
        continue;
      }
      if (this.state === 'done') {
        throw new TritonError(
          'PROTOCOL_ERROR',
          'the server sent more than one message in reply to a unary call',
        );
      }
      if (this.compressedChunks) {
        const take = Math.min(this.left, chunk.length - i);
        this.compressedChunks.push(chunk.subarray(i, i + take));
        this.left -= take;
        i += take;
        if (this.left === 0) this.state = 'done';
        continue;
      }
      i = this.parse(chunk, i);
    }
  }

  private startMessage(): void {
    const flag = this.prefix[0]!;
    const length = this.prefix.readUInt32BE(1);
    this.declaredBytes = length;
    if (length > this.maxMessageBytes) {
      throw new TritonError(
        'MESSAGE_TOO_LARGE',
        `the reply declares ${length} bytes, over the limit of ${this.maxMessageBytes} bytes`,
      );
    }
    if (flag > 1) {
      throw new TritonError('PROTOCOL_ERROR', `the reply's frame has an unknown flag ${flag}`);
    }
    this.compressed = flag === 1;
    this.left = length;
    if (this.compressed) {
      this.compressedChunks = [];
      this.state = length === 0 ? 'done' : 'meta';
      return;
    }
    this.beginBody(length);
  }

  private beginBody(length: number): void {
    // Raw outputs take at most the message's bytes plus alignment padding (their tag and
    // length bytes, never copied, pay for most of that padding).
    this.memory = length > 0 ? this.pool.acquire(length + 64) : undefined;
    this.target = this.memory && new Uint8Array(this.memory);
    this.state = length === 0 ? 'done' : 'tag';
    this.resetVarint();
  }

  private resetVarint(): void {
    this.varint = 0;
    this.varintShift = 1;
  }

  /** Feeds one byte to the varint being read; true when it is complete. */
  private varintByte(b: number): boolean {
    this.varint += (b & 0x7f) * this.varintShift;
    this.varintShift *= 128;
    if (this.varintShift > 2 ** 70) {
      throw new TritonError('PROTOCOL_ERROR', 'the reply holds a malformed varint');
    }
    return (b & 0x80) === 0;
  }

  private parse(chunk: Buffer, i: number): number {
    const end = Math.min(chunk.length, i + this.left);
    const start = i;
    while (i < end) {
      switch (this.state) {
        case 'tag':
        case 'length':
        case 'varint': {
          const b = chunk[i++]!;
          this.pendingTag.push(b);
          if (!this.varintByte(b)) break;
          const v = this.varint;
          this.resetVarint();
          if (this.state === 'tag') this.onTag(v);
          else if (this.state === 'length') this.onLength(v);
          else {
            this.flushPending(0);
            this.state = 'tag';
          }
          break;
        }
        case 'meta': {
          const take = Math.min(this.fieldLeft, end - i);
          this.metaBytes(chunk, i, take);
          i += take;
          this.fieldLeft -= take;
          if (this.fieldLeft === 0) this.state = 'tag';
          break;
        }
        case 'blob': {
          const take = Math.min(this.fieldLeft, end - i);
          // A whole chunk of tensor bytes (the usual case) is copied without a view.
          this.target!.set(
            i === 0 && take === chunk.length ? chunk : chunk.subarray(i, i + take),
            this.blobAt,
          );
          this.blobAt += take;
          i += take;
          this.fieldLeft -= take;
          if (this.fieldLeft === 0) this.state = 'tag';
          break;
        }
        default:
          throw new TritonError('INTERNAL', `reply reader in state ${this.state}`);
      }
    }
    this.left -= i - start;
    if (this.left === 0) {
      if (this.state !== 'tag' || this.varintShift !== 1) {
        throw new TritonError('PROTOCOL_ERROR', 'the reply message ends inside a field');
      }
      this.state = 'done';
    }
    return i;
  }

  // Bytes of fields other than raw outputs are kept verbatim (tag, length and value): put
  // together they are a valid ModelInferResponse without raw_output_contents.
  private pendingTag: number[] = [];

  private metaBytes(chunk: Buffer, i: number, n: number): void {
    if (n === 0) return;
    this.metaField!.set(chunk.subarray(i, i + n), this.metaFieldAt);
    this.metaFieldAt += n;
  }

  private flushPending(extra: number): void {
    this.metaField = Buffer.allocUnsafe(this.pendingTag.length + extra);
    for (let k = 0; k < this.pendingTag.length; k++) this.metaField[k] = this.pendingTag[k]!;
    this.metaFieldAt = this.pendingTag.length;
    this.metaChunks.push(this.metaField);
    this.pendingTag = [];
  }

  private onTag(tag: number): void {
    this.fieldNumber = Math.floor(tag / 8);
    this.wireType = tag & 7;
    if (this.fieldNumber === 0) {
      throw new TritonError('PROTOCOL_ERROR', 'the reply holds a field numbered 0');
    }
    switch (this.wireType) {
      case 0:
        this.state = 'varint';
        return;
      case 1:
      case 5:
        this.fieldLeft = this.wireType === 1 ? 8 : 4;
        this.flushPending(this.fieldLeft);
        this.state = 'meta';
        return;
      case 2:
        this.state = 'length';
        return;
      default:
        throw new TritonError(
          'PROTOCOL_ERROR',
          `the reply holds field ${this.fieldNumber} with wire type ${this.wireType}, which ModelInferResponse never uses`,
        );
    }
  }

  private onLength(length: number): void {
    if (length > this.left) {
      throw new TritonError(
        'PROTOCOL_ERROR',
        `field ${this.fieldNumber} of the reply declares ${length} bytes, more than the message holds`,
      );
    }
    this.fieldLeft = length;
    if (this.fieldNumber === RAW_OUTPUT_FIELD) {
      // The tag and length bytes of a raw output are not kept.
      this.pendingTag = [];
      const offset = Math.ceil(this.cursor / 8) * 8;
      this.ensureCapacity(offset + length);
      this.blobs.push({ offset, length });
      this.blobAt = offset;
      this.cursor = offset + length;
      this.state = length === 0 ? 'tag' : 'blob';
      return;
    }
    this.flushPending(length);
    this.state = length === 0 ? 'tag' : 'meta';
  }

  private ensureCapacity(needed: number): void {
    const have = this.memory?.byteLength ?? 0;
    if (needed <= have) return;
    // Only a reply with many misaligned raw outputs gets here.
    const bigger = this.pool.acquire(Math.max(needed, have * 2));
    if (this.memory) {
      new Uint8Array(bigger).set(new Uint8Array(this.memory, 0, this.cursor));
      this.pool.release(this.memory);
    }
    this.memory = bigger;
    this.target = new Uint8Array(bigger);
  }

  /** True once the whole message has arrived. */
  get complete(): boolean {
    return this.state === 'done';
  }

  /** The message is compressed with grpc-encoding; finish() needs it inflated first. */
  get compressedBody(): Buffer | undefined {
    return this.compressed && this.compressedChunks
      ? Buffer.concat(this.compressedChunks)
      : undefined;
  }

  /** Restarts the reader on an inflated message (what a compressed frame carried). */
  readInflated(message: Buffer): void {
    checkInflatedReply(message.length, this.maxMessageBytes);
    this.compressed = false;
    this.compressedChunks = undefined;
    this.left = message.length;
    this.beginBody(message.length);
    if (message.length > 0) this.parse(message, 0);
  }

  /**
   * The message decoded, raw outputs as views of one buffer (`memory`, undefined when the
   * reply had no bytes); throws PROTOCOL_ERROR when it is incomplete or malformed.
   */
  finish(): { message: WireInferResponse; memory: ArrayBuffer | undefined } {
    if (this.state !== 'done') {
      throw new TritonError(
        'PROTOCOL_ERROR',
        this.prefixHave < GRPC_FRAME_PREFIX_BYTES
          ? 'the server ended the call without a reply message'
          : `the reply message ended after ${this.declaredBytes - this.left} of ${this.declaredBytes} bytes`,
      );
    }
    const def = loadKserveProto().service.ModelInfer!;
    let message: WireInferResponse;
    try {
      message = def.responseDeserialize(
        this.metaChunks.length === 1 ? this.metaChunks[0]! : Buffer.concat(this.metaChunks),
      ) as WireInferResponse;
    } catch (err) {
      throw new TritonError(
        'PROTOCOL_ERROR',
        `the reply is not a ModelInferResponse (${(err as Error).message})`,
        { cause: err },
      );
    }
    const memory = this.memory;
    message.raw_output_contents = this.blobs.map(({ offset, length }) =>
      Buffer.from(memory!, offset, length),
    );
    return { message, memory };
  }

  /** Gives the reply memory back after a failure (nothing refers to it). */
  discard(): void {
    if (this.memory) this.pool.release(this.memory);
    this.memory = undefined;
    this.target = undefined;
  }
}
