/**
 * KServe v2 over gRPC (Triton's GRPCInferenceService) on our own protos/kserve_v2.proto,
 * every RPC on one node:http2 connection (grpc-h2.ts). ModelInfer uses the copy-free codec
 * (tensors written from their own memory, replies read into pooled aligned memory); the
 * other RPCs go through protobufjs (proto-loader's serialisers). Tensors travel as raw
 * little-endian bytes; message limits are raised so 4k FP32 tensors fit; every call has a
 * deadline; errors are mapped in one place (`toError`). @grpc/grpc-js is used for its
 * status codes and metadata rules only.
 */
import * as grpc from '@grpc/grpc-js';
import { resolveRemoteOptions } from './remote';
import { attachRelease, ReplyBufferPool } from './buffer-pool';
import {
  TritonError,
  codeFromGrpcStatus,
  isTritonError,
  type TritonErrorCode,
} from '../protocol/errors';
import { DEFAULT_GRPC_CONNECTIONS, H2Channel, MessageReader, type ReplyReader } from './grpc-h2';
import {
  InferReplyReader,
  decodeInferResponse,
  encodeInferRequestFrame,
  grpcFrame,
  loadKserveProto,
  modelConfigFromWire,
  modelMetadataFromWire,
  modelStatisticsFromWire,
  repositoryModelFromWire,
  serverMetadataFromWire,
  type WireModelConfig,
  type WireModelIndex,
  type WireModelMetadata,
  type WireModelStatistics,
  type WireServerMetadata,
} from '../protocol/grpc-codec';
import type {
  CallOptions,
  InferRequest,
  InferResponse,
  InferenceClient,
  ModelConfig,
  ModelMetadata,
  ModelStatistics,
  RemoteClientOptions,
  RepositoryModel,
  ServerMetadata,
} from '../protocol/types';

export const GRPC_DEFAULT_PORT = 8001;
export { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TIMEOUT_MS } from './remote';
/** gRPC keeps message limits in a signed 32-bit int. */
const MAX_GRPC_LIMIT = 2147483647;

type Method =
  | 'ServerLive'
  | 'ServerReady'
  | 'ModelReady'
  | 'ServerMetadata'
  | 'ModelMetadata'
  | 'ModelInfer'
  | 'ModelConfig'
  | 'ModelStatistics'
  | 'RepositoryIndex'
  | 'RepositoryModelLoad'
  | 'RepositoryModelUnload';

function buildMetadata(headers: Record<string, string> | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers ?? {})) {
    try {
      // gRPC carries binary values only under keys ending in -bin.
      md.set(key, key.toLowerCase().endsWith('-bin') ? Buffer.from(value) : String(value));
    } catch (err) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Header '${key}' cannot be sent as gRPC metadata (${(err as Error).message}): use lower-case letters, digits, '-', '_' and '.'`,
        { cause: err },
      );
    }
  }
  return md;
}

export class GrpcClient implements InferenceClient {
  readonly kind = 'grpc' as const;
  readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly metadata: grpc.Metadata;
  private readonly channel: H2Channel;
  private readonly replies = new ReplyBufferPool();
  private closed = false;

  constructor(options: RemoteClientOptions = {}) {
    const settings = resolveRemoteOptions(options, 'gRPC', GRPC_DEFAULT_PORT, MAX_GRPC_LIMIT);
    this.endpoint = settings.endpoint;
    this.timeoutMs = settings.timeoutMs;
    this.maxMessageBytes = settings.maxMessageBytes;
    this.metadata = buildMetadata(options.headers);
    const connections = options.connections;
    if (connections !== undefined && !(Number.isInteger(connections) && connections >= 1)) {
      throw new TritonError(
        'INVALID_CONFIG',
        `gRPC client option connections is ${String(connections)}: it must be a whole number of at least 1 (default ${DEFAULT_GRPC_CONNECTIONS})`,
      );
    }
    this.channel = new H2Channel({
      endpoint: this.endpoint,
      tls: options.tls,
      authority: options.authority,
      connections,
    });
  }

  // ---- the one place gRPC failures become TritonErrors ---------------------------

  private toError(err: grpc.ServiceError, what: string, timeoutMs: number, model?: string) {
    const status = err.code;
    // grpc-js appends an empty "Resolution note:" to connection failures; it says nothing.
    let detail = (err.details || err.message || 'no message').replace(
      /\.?\s*Resolution note:\s*$/,
      '',
    );
    if (!err.details && status !== grpc.status.OK && /^\d+ [A-Z_]+: *$/.test(detail)) {
      // Node's HTTP/2 layer drops a grpc-message that ends in a space, and Triton 2.x
      // ends some of its texts so (e.g. "unexpected shape ... got [1,3,320,320]. ").
      detail = `the server answered ${grpc.status[status] ?? status} without a readable reason${
        status === grpc.status.INVALID_ARGUMENT
          ? ': check the input names, shapes and datatypes against the model metadata'
          : ''
      } (the same call over HTTP shows the server's own text)`;
    }
    let code: TritonErrorCode = codeFromGrpcStatus(status, detail);
    let hint = '';
    if (this.closed && status === grpc.status.CANCELLED) {
      code = 'TRITON_UNAVAILABLE';
      hint = ': the client was closed while the call was running';
    } else if (code === 'TRITON_UNAVAILABLE' && /protocol error/i.test(detail)) {
      hint = ` (something answers at ${this.endpoint} but does not speak gRPC: Triton serves gRPC on port 8001 and HTTP on 8000)`;
    } else if (code === 'TRITON_UNAVAILABLE') {
      hint = ` (check that the server is running and reachable at ${this.endpoint})`;
    } else if (code === 'TIMEOUT') {
      hint = ` (no answer within ${timeoutMs} ms: raise timeoutMs or check the server's load)`;
    } else if (code === 'MESSAGE_TOO_LARGE') {
      hint = ` (this client allows ${this.maxMessageBytes} bytes per message: raise maxMessageBytes, and the server's limit if the server refused it)`;
    } else if (code === 'UNAUTHORIZED') {
      hint = ' (check the credentials sent in the client headers)';
    }
    return new TritonError(code, `${what} on ${this.endpoint}: ${detail}${hint}`, {
      endpoint: this.endpoint,
      status,
      cause: err,
      ...(model !== undefined ? { model } : {}),
    });
  }

  /** A call on a closed client, or with an aborted signal, fails before anything is sent. */
  private refuseIfClosedOrCancelled(
    what: string,
    details: { endpoint: string; model?: string },
    opts: CallOptions,
  ): void {
    if (this.closed) {
      throw new TritonError(
        'TRITON_UNAVAILABLE',
        `${what} on ${this.endpoint}: the client is closed (create a new one)`,
        details,
      );
    }
    if (opts.signal?.aborted) {
      throw new TritonError(
        'CANCELLED',
        `${what} on ${this.endpoint}: cancelled by the caller`,
        details,
      );
    }
  }

  /** One unary call on the channel, under the call's deadline; a failure becomes a TritonError. */
  private async unary<R extends ReplyReader>(
    path: string,
    chunks: readonly Buffer[],
    reader: R,
    what: string,
    opts: CallOptions,
    model?: string,
  ): Promise<R> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    try {
      return await this.channel.unary({
        path,
        chunks,
        metadata: this.metadata,
        timeoutMs,
        signal: opts.signal,
        maxMessageBytes: this.maxMessageBytes,
        reader,
      });
    } catch (err) {
      throw this.toError(err as grpc.ServiceError, what, timeoutMs, model);
    }
  }

  private async call<Res>(
    method: Method,
    request: object,
    what: string,
    opts: CallOptions = {},
    model?: string,
  ): Promise<Res> {
    const details = { endpoint: this.endpoint, ...(model !== undefined ? { model } : {}) };
    this.refuseIfClosedOrCancelled(what, details, opts);
    const def = loadKserveProto().service[method]!;
    let frame: Buffer;
    try {
      frame = grpcFrame(def.requestSerialize(request));
    } catch (err) {
      throw new TritonError('INVALID_ARGUMENT', `${what}: ${(err as Error).message}`, {
        ...details,
        cause: err,
      });
    }
    const reader = await this.unary(
      def.path,
      [frame],
      new MessageReader(this.maxMessageBytes),
      what,
      opts,
      model,
    );
    try {
      return def.responseDeserialize(reader.finish()) as Res;
    } catch (err) {
      const e = err as TritonError;
      throw new TritonError(
        isTritonError(err) ? e.code : 'PROTOCOL_ERROR',
        `${what} on ${this.endpoint}: ${isTritonError(err) ? e.message : `the reply does not decode (${e.message})`}`,
        { ...details, cause: err },
      );
    }
  }

  // ---- InferenceClient ------------------------------------------------------------

  async serverLive(opts?: CallOptions): Promise<boolean> {
    const r = await this.call<{ live: boolean }>('ServerLive', {}, 'Server live check', opts);
    return Boolean(r.live);
  }

  async serverReady(opts?: CallOptions): Promise<boolean> {
    const r = await this.call<{ ready: boolean }>('ServerReady', {}, 'Server ready check', opts);
    return Boolean(r.ready);
  }

  async serverMetadata(opts?: CallOptions): Promise<ServerMetadata> {
    const r = await this.call<WireServerMetadata>('ServerMetadata', {}, 'Server metadata', opts);
    return serverMetadataFromWire(r);
  }

  async modelReady(model: string, version?: string, opts?: CallOptions): Promise<boolean> {
    try {
      const r = await this.call<{ ready: boolean }>(
        'ModelReady',
        { name: model, version: version ?? '' },
        `Ready check of model '${model}'`,
        opts,
        model,
      );
      return Boolean(r.ready);
    } catch (err) {
      // "Is it ready?" has an answer for an unknown or unloaded model: no.
      const code = (err as TritonError).code;
      if (code === 'NOT_FOUND' || code === 'MODEL_NOT_READY') return false;
      throw err;
    }
  }

  async modelMetadata(model: string, version?: string, opts?: CallOptions): Promise<ModelMetadata> {
    const r = await this.call<WireModelMetadata>(
      'ModelMetadata',
      { name: model, version: version ?? '' },
      `Metadata of model '${model}'`,
      opts,
      model,
    );
    return modelMetadataFromWire(r);
  }

  async modelConfig(model: string, version?: string, opts?: CallOptions): Promise<ModelConfig> {
    const r = await this.call<{ config: WireModelConfig | null }>(
      'ModelConfig',
      { name: model, version: version ?? '' },
      `Config of model '${model}'`,
      opts,
      model,
    );
    if (!r.config) {
      throw new TritonError(
        'PROTOCOL_ERROR',
        `Config of model '${model}' on ${this.endpoint}: the server answered without a config`,
        { endpoint: this.endpoint, model },
      );
    }
    return modelConfigFromWire(r.config);
  }

  async repositoryIndex(opts?: CallOptions & { ready?: boolean }): Promise<RepositoryModel[]> {
    const r = await this.call<{ models: WireModelIndex[] }>(
      'RepositoryIndex',
      { repository_name: '', ready: Boolean(opts?.ready) },
      'Repository index',
      opts,
    );
    return (r.models ?? []).map(repositoryModelFromWire);
  }

  async loadModel(model: string, opts?: CallOptions): Promise<void> {
    await this.call(
      'RepositoryModelLoad',
      { repository_name: '', model_name: model },
      `Loading model '${model}'`,
      opts,
      model,
    );
  }

  async unloadModel(model: string, opts?: CallOptions): Promise<void> {
    await this.call(
      'RepositoryModelUnload',
      { repository_name: '', model_name: model },
      `Unloading model '${model}'`,
      opts,
      model,
    );
  }

  async modelStatistics(
    model?: string,
    version?: string,
    opts?: CallOptions,
  ): Promise<ModelStatistics[]> {
    const r = await this.call<{ model_stats: WireModelStatistics[] }>(
      'ModelStatistics',
      { name: model ?? '', version: version ?? '' },
      model ? `Statistics of model '${model}'` : 'Model statistics',
      opts,
      model,
    );
    return (r.model_stats ?? []).map(modelStatisticsFromWire);
  }

  /**
   * Outputs are views of one pooled reply buffer: valid until `response.release()`
   * (see buffer-pool.ts). The input tensors are written from their own memory, so they
   * must stay unchanged until this settles.
   */
  async infer(request: InferRequest, opts: CallOptions = {}): Promise<InferResponse> {
    const what = `Inference on model '${request.model}'`;
    const model = request.model;
    const details = { endpoint: this.endpoint, model };
    this.refuseIfClosedOrCancelled(what, details, opts);
    let frame;
    try {
      frame = encodeInferRequestFrame(request);
    } catch (err) {
      const e = err as TritonError;
      throw new TritonError(e.code ?? 'INVALID_ARGUMENT', `${what}: ${e.message}`, {
        ...details,
        cause: err,
      });
    }
    if (frame.messageBytes > this.maxMessageBytes) {
      throw new TritonError(
        'MESSAGE_TOO_LARGE',
        `${what} on ${this.endpoint}: the request is ${frame.messageBytes} bytes (this client allows ${this.maxMessageBytes} bytes per message: raise maxMessageBytes, and the server's limit too)`,
        details,
      );
    }
    const reader = await this.unary(
      loadKserveProto().service.ModelInfer!.path,
      frame.chunks,
      new InferReplyReader(this.maxMessageBytes, this.replies),
      what,
      opts,
      model,
    );
    let memory: ArrayBuffer | undefined;
    try {
      const read = reader.finish();
      memory = read.memory;
      return attachRelease(decodeInferResponse(read.message), this.replies, memory);
    } catch (err) {
      reader.discard();
      const e = err as TritonError;
      throw new TritonError(
        e.code ?? 'PROTOCOL_ERROR',
        `${what} on ${this.endpoint}: ${e.message}`,
        {
          ...details,
          cause: err,
        },
      );
    }
  }

  /** Cancels calls still running and closes the channel. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }
}
