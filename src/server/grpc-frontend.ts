/**
 * A KServe v2 gRPC frontend (Triton's GRPCInferenceService, all 11 RPCs of our proto)
 * over any InferenceClient, normally the in-process LocalClient. Used by
 * `triton-vision-serve` and the test suites. Accepts raw_input_contents or typed
 * contents, answers with raw_output_contents, and reports failures as gRPC statuses
 * from the shared table in errors.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { TritonError, grpcStatusForCode, toTritonError } from '../protocol/errors';
import {
  decodeInferRequest,
  encodeInferResponse,
  loadKserveProto,
  modelConfigToWire,
  modelMetadataToWire,
  modelStatisticsToWire,
  repositoryModelToWire,
  serverMetadataToWire,
  type WireInferRequest,
} from '../protocol/grpc-codec';
import type { CallOptions, InferenceClient } from '../protocol/types';
import { checkBearer, modelControlRefused, type ModelControlMode } from './access';
import { BodyPool } from './body-pool';
import {
  MAX_TYPED_CONTENTS_BYTES,
  alignRawInputs,
  inferResponseSerializer,
  typedContentsBytes,
} from './grpc-infer-wire';
import { DEFAULT_MAX_INFLIGHT, InflightGate, serverBusy } from './request-limits';

export interface GrpcFrontendOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8001; 0 picks a free one, reported in the result). */
  port?: number;
  /** Largest request and response in bytes (default 2147483647, as Triton). */
  maxMessageBytes?: number;
  /** TLS or other server credentials (default: plaintext). */
  credentials?: grpc.ServerCredentials;
  /**
   * Run before every call, e.g. an authentication check in front of the service
   * (grpc-js server interceptors).
   */
  interceptors?: grpc.ServerInterceptor[];
  /** How long close() lets running calls finish before cutting them off (default 2000 ms). */
  shutdownGraceMs?: number;
  /**
   * Calls other than health and metadata in progress at once; past it a call fails at
   * once with UNAVAILABLE (default 64).
   */
  maxInflight?: number;
  /**
   * `none` (default, as Triton): RepositoryModelLoad/Unload are refused with UNAVAILABLE;
   * `explicit`: allowed.
   */
  modelControl?: ModelControlMode;
  /** When set, every call must carry metadata `authorization: Bearer <authToken>` (else UNAUTHENTICATED). */
  authToken?: string;
}

export interface GrpcFrontend {
  port: number;
  /** Stops accepting calls, lets running ones finish for a short grace, then cuts them off. */
  close(): Promise<void>;
}

/** gRPC keeps message limits in a signed 32-bit int; Triton sets exactly this. */
const INT32_MAX = 2147483647;

type Handler = (
  call: grpc.ServerUnaryCall<unknown, unknown>,
  opts: CallOptions,
  /** Runs `fn` once the answer has been handed to grpc-js (and serialized). */
  afterReply: (fn: () => void) => void,
) => Promise<object>;

/** Empty strings mean "not given" in proto3: the backend wants undefined for those. */
const opt = (s: unknown): string | undefined => (typeof s === 'string' && s !== '' ? s : undefined);

function rejectRepositoryParameters(req: { parameters?: Record<string, unknown> }, what: string) {
  if (req.parameters && Object.keys(req.parameters).length > 0) {
    throw new TritonError(
      'UNSUPPORTED',
      `${what} with parameters (${Object.keys(req.parameters).join(', ')}) is not supported by this server: put the config and files in the model repository instead`,
    );
  }
}

/**
 * Passes the caller's deadline on to the backend and turns a cancelled call into an
 * aborted signal, so work nobody waits for stops early.
 */
function callOptions(call: grpc.ServerUnaryCall<unknown, unknown>): {
  opts: CallOptions;
  done: () => void;
} {
  const ac = new AbortController();
  const onCancel = (): void => ac.abort();
  call.on('cancelled', onCancel);
  const opts: CallOptions = { signal: ac.signal };
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (Number.isFinite(at)) opts.timeoutMs = Math.max(1, at - Date.now());
  return { opts, done: () => call.removeListener('cancelled', onCancel) };
}

function handlers(
  backend: InferenceClient,
  pool: BodyPool,
  modelControl: ModelControlMode,
): Record<string, Handler> {
  return {
    ServerLive: async (_call, o) => ({ live: await backend.serverLive(o) }),
    ServerReady: async (_call, o) => ({ ready: await backend.serverReady(o) }),
    ModelReady: async (call, o) => {
      const r = call.request as { name: string; version: string };
      return { ready: await backend.modelReady(r.name, opt(r.version), o) };
    },
    ServerMetadata: async (_call, o) => serverMetadataToWire(await backend.serverMetadata(o)),
    ModelMetadata: async (call, o) => {
      const r = call.request as { name: string; version: string };
      return modelMetadataToWire(await backend.modelMetadata(r.name, opt(r.version), o));
    },
    ModelConfig: async (call, o) => {
      const r = call.request as { name: string; version: string };
      return { config: modelConfigToWire(await backend.modelConfig(r.name, opt(r.version), o)) };
    },
    ModelStatistics: async (call, o) => {
      const r = call.request as { name: string; version: string };
      const stats = await backend.modelStatistics(opt(r.name), opt(r.version), o);
      return { model_stats: stats.map(modelStatisticsToWire) };
    },
    RepositoryIndex: async (call, o) => {
      const r = call.request as { ready: boolean };
      const models = await backend.repositoryIndex({ ...o, ready: Boolean(r.ready) });
      return { models: models.map(repositoryModelToWire) };
    },
    RepositoryModelLoad: async (call, o) => {
      const r = call.request as { model_name: string; parameters?: Record<string, unknown> };
      if (modelControl !== 'explicit') throw modelControlRefused();
      rejectRepositoryParameters(r, `Loading model '${r.model_name}'`);
      await backend.loadModel(r.model_name, o);
      return {};
    },
    RepositoryModelUnload: async (call, o) => {
      const r = call.request as { model_name: string; parameters?: Record<string, unknown> };
      if (modelControl !== 'explicit') throw modelControlRefused();
      rejectRepositoryParameters(r, `Unloading model '${r.model_name}'`);
      await backend.unloadModel(r.model_name, o);
      return {};
    },
    ModelInfer: async (call, o, afterReply) => {
      if (call.request instanceof TritonError) throw call.request;
      const wire = call.request as WireInferRequest;
      afterReply(alignRawInputs(wire.inputs ?? [], wire.raw_input_contents, pool));
      const req = decodeInferRequest(wire);
      const res = await backend.infer(req, o);
      let outputs = res.outputs;
      if (req.outputs) {
        // Only what was asked for, in the order the backend produced it.
        const wanted = new Set(req.outputs.map((x) => x.name));
        outputs = outputs.filter((t) => wanted.has(t.name));
      }
      return encodeInferResponse({ ...res, id: req.id ?? res.id, outputs });
    },
  };
}

/** Calls that do work worth bounding (the rest answer from memory at once). */
const GATED = new Set(['ModelInfer', 'RepositoryModelLoad', 'RepositoryModelUnload']);

function unary(
  handler: Handler,
  gate: InflightGate | undefined,
  token: string | undefined,
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    if (token !== undefined) {
      const given = call.metadata.get('authorization')[0];
      const denied = checkBearer(typeof given === 'string' ? given : undefined, token);
      if (denied) {
        callback({ code: grpcStatusForCode(denied.code), details: denied.message });
        return;
      }
    }
    const release = gate?.enter();
    if (gate && !release) {
      const e = serverBusy(gate.limit);
      callback({ code: grpcStatusForCode(e.code), details: e.message });
      return;
    }
    const { opts, done } = callOptions(call);
    const after: (() => void)[] = [];
    const finish = (): void => {
      for (const fn of after.splice(0)) fn();
    };
    handler(call, opts, (fn) => after.push(fn)).then(
      (reply) => {
        release?.();
        done();
        callback(null, reply);
        finish();
      },
      (err: unknown) => {
        release?.();
        done();
        finish();
        const e = toTritonError(err, 'INTERNAL');
        callback({ code: grpcStatusForCode(e.code), details: e.message });
      },
    );
  };
}

function listenAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Starts a gRPC server for `backend`; resolves once it listens. */
export function startGrpcFrontend(
  backend: InferenceClient,
  opts: GrpcFrontendOptions = {},
): Promise<GrpcFrontend> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8001;
  const max = opts.maxMessageBytes ?? INT32_MAX;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return Promise.reject(
      new TritonError('INVALID_CONFIG', `gRPC port ${String(port)} is not 0-65535`),
    );
  }
  if (!(max > 0)) {
    return Promise.reject(
      new TritonError('INVALID_CONFIG', `gRPC maxMessageBytes ${String(max)} must be positive`),
    );
  }
  const limit = Math.min(Math.floor(max), INT32_MAX);
  let server: grpc.Server;
  try {
    server = new grpc.Server({
      'grpc.max_receive_message_length': limit,
      'grpc.max_send_message_length': limit,
      ...(opts.interceptors ? { interceptors: opts.interceptors } : {}),
    });
    const gate = new InflightGate(opts.maxInflight ?? DEFAULT_MAX_INFLIGHT);
    const impl: grpc.UntypedServiceImplementation = {};
    const all = handlers(backend, new BodyPool(), opts.modelControl ?? 'none');
    for (const [name, h] of Object.entries(all)) {
      impl[name] = unary(h, GATED.has(name) ? gate : undefined, opts.authToken);
    }
    const service = { ...loadKserveProto().service };
    const infer = service.ModelInfer!;
    const decode = infer.requestDeserialize as (b: Buffer) => unknown;
    service.ModelInfer = {
      ...infer,
      // Refused before decoding: what grpc-js does with a throw here is an INTERNAL status,
      // so the refusal travels to the handler as the request and is thrown there.
      requestDeserialize: (buf: Buffer) => {
        const typed = typedContentsBytes(buf);
        if (typed <= MAX_TYPED_CONTENTS_BYTES) return decode(buf);
        return new TritonError(
          'INVALID_ARGUMENT',
          `The request carries ${typed} bytes of typed tensor contents, over this server's limit of ${MAX_TYPED_CONTENTS_BYTES}: send large tensors as raw_input_contents`,
        );
      },
      responseSerialize: inferResponseSerializer(infer.responseSerialize as (v: unknown) => Buffer),
    };
    server.addService(service, impl);
  } catch (err) {
    return Promise.reject(toTritonError(err, 'INTERNAL'));
  }
  const address = listenAddress(host, port);
  return new Promise<GrpcFrontend>((resolve, reject) => {
    server.bindAsync(
      address,
      opts.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, bound) => {
        if (err) {
          server.forceShutdown();
          reject(
            new TritonError(
              'TRITON_UNAVAILABLE',
              `Cannot listen for gRPC on ${address}: ${err.message} (pick another port or stop what is using it)`,
              { cause: err },
            ),
          );
          return;
        }
        let closing: Promise<void> | undefined;
        const graceMs = opts.shutdownGraceMs ?? 2000;
        resolve({
          port: bound,
          close: () => {
            closing ??= new Promise<void>((done) => {
              const timer = setTimeout(() => {
                server.forceShutdown();
                done();
              }, graceMs);
              server.tryShutdown(() => {
                clearTimeout(timer);
                done();
              });
            });
            return closing;
          },
        });
      },
    );
  });
}
