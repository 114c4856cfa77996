/**
 * The model of the KServe v2 protocol, shared by the clients (grpc, http, local) and
 * the server frontends. Nothing here knows about images or Node-RED.
 */

/** Protocol datatype strings (metadata and inference; never the TYPE_* config names). */
export type DataType =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64';

/**
 * Element storage per datatype:
 * BOOL/UINT8 → Uint8Array, INT8 → Int8Array, UINT16 → Uint16Array, INT16 → Int16Array,
 * UINT32 → Uint32Array, INT32 → Int32Array, UINT64 → BigUint64Array, INT64 → BigInt64Array,
 * FP32 → Float32Array, FP64 → Float64Array,
 * FP16 → Float32Array of the values (converted to/from IEEE half on the wire; Node 20
 * has no Float16Array) — on input a Uint16Array of raw half bits is accepted too.
 */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

export interface Tensor {
  name: string;
  datatype: DataType;
  /** Full shape including any batch dimension; no -1 here. */
  shape: number[];
  /** Row-major elements; length = product(shape). */
  data: TensorData;
}

export interface CallOptions {
  /** Per-call deadline in milliseconds (default: the client's timeoutMs). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface TensorMetadata {
  name: string;
  datatype: DataType | string;
  /** -1 for a variable dimension. */
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** Config-side datatype names as in config.pbtxt / the HTTP config JSON. */
export type ConfigDataType = `TYPE_${DataType}` | 'TYPE_STRING' | 'TYPE_BF16' | 'TYPE_INVALID';

export interface ModelConfigInput {
  name: string;
  data_type: ConfigDataType;
  format?: 'FORMAT_NONE' | 'FORMAT_NHWC' | 'FORMAT_NCHW';
  /** Without the batch dimension when max_batch_size > 0. */
  dims: number[];
  reshape?: { shape: number[] };
  optional?: boolean;
}

export interface ModelConfigOutput {
  name: string;
  data_type: ConfigDataType;
  dims: number[];
  label_filename?: string;
  reshape?: { shape: number[] };
}

/**
 * ModelConfig normalised to the shape of Triton's HTTP config JSON: snake_case,
 * numbers (never int64 strings), enum names as strings, max_batch_size always set.
 * The gRPC client converts protobuf messages to this shape.
 */
export interface ModelConfig {
  name: string;
  platform: string;
  backend: string;
  max_batch_size: number;
  input: ModelConfigInput[];
  output: ModelConfigOutput[];
  version_policy?:
    | { latest: { num_versions: number } }
    | { all: Record<string, never> }
    | { specific: { versions: number[] } };
  instance_group?: { name?: string; count: number; kind: string; gpus?: number[] }[];
  dynamic_batching?: {
    preferred_batch_size?: number[];
    max_queue_delay_microseconds?: number;
    preserve_ordering?: boolean;
  };
  default_model_filename?: string;
  /** config.pbtxt `parameters { key: "k" value: { string_value: "v" } }`. */
  parameters?: Record<string, { string_value: string }>;
}

export interface RepositoryModel {
  name: string;
  version?: string;
  /** e.g. READY, UNAVAILABLE, LOADING, UNLOADING */
  state: string;
  reason?: string;
}

export interface StatisticDuration {
  count: number;
  ns: number;
}

export interface ModelStatistics {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: {
    success: StatisticDuration;
    fail: StatisticDuration;
    queue: StatisticDuration;
    compute_input: StatisticDuration;
    compute_infer: StatisticDuration;
    compute_output: StatisticDuration;
  };
}

export interface RequestedOutput {
  name: string;
}

export interface InferRequest {
  model: string;
  /** Empty / undefined = let the server choose (latest). */
  version?: string;
  id?: string;
  inputs: Tensor[];
  /** Undefined = all outputs. */
  outputs?: RequestedOutput[];
}

export interface InferResponse {
  model: string;
  version: string;
  id?: string;
  /**
   * Remote clients may return views of one reused reply buffer: they stay valid until
   * `release()` is called (see client/buffer-pool.ts).
   */
  outputs: Tensor[];
  /**
   * Gives the reply's memory back to the client for the next inference; the output
   * tensors must not be read afterwards. Optional to call (without it the memory is left
   * to the garbage collector) and to provide. Not enumerable where present.
   */
  release?: () => void;
}

export type ClientKind = 'grpc' | 'http' | 'local';

/** One surface over every transport. Every call takes a deadline / AbortSignal. */
export interface InferenceClient {
  readonly kind: ClientKind;
  /** Human-readable address for messages, e.g. "127.0.0.1:8001" or a folder. */
  readonly endpoint: string;
  serverLive(opts?: CallOptions): Promise<boolean>;
  serverReady(opts?: CallOptions): Promise<boolean>;
  serverMetadata(opts?: CallOptions): Promise<ServerMetadata>;
  modelReady(model: string, version?: string, opts?: CallOptions): Promise<boolean>;
  modelMetadata(model: string, version?: string, opts?: CallOptions): Promise<ModelMetadata>;
  modelConfig(model: string, version?: string, opts?: CallOptions): Promise<ModelConfig>;
  repositoryIndex(opts?: CallOptions & { ready?: boolean }): Promise<RepositoryModel[]>;
  loadModel(model: string, opts?: CallOptions): Promise<void>;
  unloadModel(model: string, opts?: CallOptions): Promise<void>;
  /** Without a model: all models. */
  modelStatistics(model?: string, version?: string, opts?: CallOptions): Promise<ModelStatistics[]>;
  infer(request: InferRequest, opts?: CallOptions): Promise<InferResponse>;
  /** Releases sockets / channels / sessions. Idempotent. */
  close(): Promise<void>;
}

export interface TlsOptions {
  /** PEM CA bundle to trust (in addition to none: only this CA when given). */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server certificate (default true). */
  verify?: boolean;
  /** Override the TLS server name (SNI / certificate host check). */
  servername?: string;
}

export interface RemoteClientOptions {
  /** Host name or IP (default 127.0.0.1). */
  host?: string;
  port?: number;
  tls?: TlsOptions | false;
  /** Extra headers / gRPC metadata on every call (auth goes here). */
  headers?: Record<string, string>;
  /** Default per-call deadline in ms (default 30000). */
  timeoutMs?: number;
  /** Largest request or response body in bytes (default 256 MiB). */
  maxMessageBytes?: number;
  /**
   * HTTP only: path the server's API sits under behind an ingress, e.g. '/kserve/demo'
   * (requests go to /kserve/demo/v2/...; default none). gRPC has no path prefix: route
   * it by `authority` instead.
   */
  pathPrefix?: string;
  /** gRPC only: the `:authority` sent (ingress routing by host name; default host:port). */
  authority?: string;
  /**
   * gRPC only: most HTTP/2 connections to the server (a whole number, default 8). A large
   * request that finds the open ones busy takes a new one, as HTTP opens a socket per
   * request in flight; 1 keeps every call on one connection.
   */
  connections?: number;
}

export interface LocalClientOptions {
  /** Triton model repository folder: <name>/config.pbtxt + <name>/<version>/model.onnx */
  modelRepository: string;
  /** Models load on first use (default) or all at start ('all'). */
  load?: 'lazy' | 'all';
  timeoutMs?: number;
  /** onnxruntime intra-op threads (default: ORT's choice). */
  intraOpNumThreads?: number;
  /**
   * Worker threads that run the models (default 1: onnxruntime already spreads one run
   * over its intra-op threads; more lets runs overlap, each worker holding its own copy
   * of every loaded model). 0 runs models on the calling thread, which then blocks the
   * event loop for the length of each run. An injected runtime (tests) cannot cross into
   * a worker, so with one the default is 0.
   */
  workerThreads?: number;
}
