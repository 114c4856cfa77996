/**
 * A KServe v2 gRPC frontend (Triton's GRPCInferenceService, all 11 RPCs of our proto)
 * over any InferenceClient, normally the in-process LocalClient. Used by
 * `triton-vision-serve` and the test suites. Accepts raw_input_contents or typed
 * contents, answers with raw_output_contents, and reports failures as gRPC statuses
 * from the shared table in errors.ts.
 *
 * gRPC here is served on node:http2 directly (every RPC is unary: a 5-byte prefixed
 * message each way, then trailers with grpc-status). ModelInfer, where the megabytes are,
 * never goes through protobufjs with its tensors: the request's raw inputs are copied
 * once, from the socket into aligned pooled memory the backend views
 * (grpc-infer-server.ts), and the reply's raw outputs are written from the output
 * tensors themselves. The small RPCs are decoded and encoded by protobufjs from the proto.
 * What grpc-js gave us stays: TLS, message size limits (RESOURCE_EXHAUSTED), grpc-timeout
 * deadlines, cancellation when the caller goes away, compressed requests, keep-alive
 * pings, grpc-js server interceptors, and a graceful close.
 */
import * as http2 from 'node:http2';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { TritonError, grpcStatusForCode, toTritonError } from '../protocol/errors';
import {
  GRPC_FRAME_PREFIX_BYTES,
  decodeInferRequest,
  encodeInferResponse,
  grpcFrame,
  loadKserveProto,
  modelConfigToWire,
  modelMetadataToWire,
  modelStatisticsToWire,
  repositoryModelToWire,
  serverMetadataToWire,
  type ReplyMemory,
  type WireInferRequest,
} from '../protocol/grpc-codec';
import { InferRequestSplitter, encodeInferResponseFrame } from '../protocol/grpc-infer-server';
import type { CallOptions, InferenceClient } from '../protocol/types';
import { checkBearer, modelControlRefused, type ModelControlMode } from './access';
import { BodyPool } from './body-pool';
import { MAX_TYPED_CONTENTS_BYTES, typedContentsBytes } from './grpc-infer-wire';
import { DEFAULT_MAX_INFLIGHT, InflightGate, serverBusy } from './request-limits';

export interface GrpcFrontendOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8001; 0 picks a free one, reported in the result). */
  port?: number;
  /** Largest request and response in bytes (default 2147483647, as Triton). */
  maxMessageBytes?: number;
  /**
   * TLS as grpc-js server credentials (`grpc.ServerCredentials.createSsl(...)`; its key,
   * certificate, CA and client-certificate check are used). Default: plaintext.
   */
  credentials?: grpc.ServerCredentials;
  /** TLS as Node's options (key, cert, ca, requestCert...), instead of `credentials`. */
  tls?: http2.SecureServerOptions;
  /**
   * Run before every call, e.g. an authentication check in front of the service
   * (grpc-js server interceptors). They see the call's metadata and its status, and may
   * end it with a status of their own; messages do not pass through them.
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
  /**
   * How often an idle-looking connection is pinged; one that does not answer within
   * `keepaliveTimeoutMs` is dropped (defaults 2 hours and 20 s, as grpc-js servers).
   */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
}

export interface GrpcFrontend {
  port: number;
  /** Stops accepting calls, lets running ones finish for a short grace, then cuts them off. */
  close(): Promise<void>;
}

/** gRPC keeps message limits in a signed 32-bit int; Triton sets exactly this. */
const INT32_MAX = 2147483647;
const SERVICE_PREFIX = '/inference.GRPCInferenceService/';
/** Flow-control window per stream and per connection: a 4.9 MB request in few round trips. */
const WINDOW_BYTES = 16 * 1024 * 1024;
const KEEPALIVE_TIME_MS = 2 * 60 * 60 * 1000;
const KEEPALIVE_TIMEOUT_MS = 20000;
const { NGHTTP2_CANCEL } = http2.constants;

/** gRPC's timeout units (grpc-timeout: up to 8 digits and one of these). */
const TIMEOUT_UNITS: Record<string, number> = {
  H: 3600000,
  M: 60000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** grpc-message is percent-encoded: bytes outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

interface Status {
  code: number;
  details: string;
  metadata?: grpc.Metadata | null;
}

type Listener = Parameters<grpc.ServerInterceptingCallInterface['start']>[0];

type Handler = (request: unknown, opts: CallOptions) => Promise<object>;

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

type Named = { name: string; version: string };

function handlers(
  backend: InferenceClient,
  modelControl: ModelControlMode,
): Record<string, Handler> {
  return {
    ServerLive: async (_r, o) => ({ live: await backend.serverLive(o) }),
    ServerReady: async (_r, o) => ({ ready: await backend.serverReady(o) }),
    ModelReady: async (r, o) => {
      const { name, version } = r as Named;
      return { ready: await backend.modelReady(name, opt(version), o) };
    },
    ServerMetadata: async (_r, o) => serverMetadataToWire(await backend.serverMetadata(o)),
    ModelMetadata: async (r, o) => {
      const { name, version } = r as Named;
      return modelMetadataToWire(await backend.modelMetadata(name, opt(version), o));
    },
    ModelConfig: async (r, o) => {
      const { name, version } = r as Named;
      return { config: modelConfigToWire(await backend.modelConfig(name, opt(version), o)) };
    },
    ModelStatistics: async (r, o) => {
      const { name, version } = r as Named;
      const stats = await backend.modelStatistics(opt(name), opt(version), o);
      return { model_stats: stats.map(modelStatisticsToWire) };
    },
    RepositoryIndex: async (r, o) => {
      const models = await backend.repositoryIndex({
        ...o,
        ready: Boolean((r as { ready: boolean }).ready),
      });
      return { models: models.map(repositoryModelToWire) };
    },
    RepositoryModelLoad: async (r, o) => {
      const req = r as { model_name: string; parameters?: Record<string, unknown> };
      if (modelControl !== 'explicit') throw modelControlRefused();
      rejectRepositoryParameters(req, `Loading model '${req.model_name}'`);
      await backend.loadModel(req.model_name, o);
      return {};
    },
    RepositoryModelUnload: async (r, o) => {
      const req = r as { model_name: string; parameters?: Record<string, unknown> };
      if (modelControl !== 'explicit') throw modelControlRefused();
      rejectRepositoryParameters(req, `Unloading model '${req.model_name}'`);
      await backend.unloadModel(req.model_name, o);
      return {};
    },
  };
}

/** Calls that do work worth bounding (the rest answer from memory at once). */
const GATED = new Set(['ModelInfer', 'RepositoryModelLoad', 'RepositoryModelUnload']);

/** What every call of one frontend shares. */
interface Context {
  backend: InferenceClient;
  handlers: Record<string, Handler>;
  methods: ReturnType<typeof loadKserveProto>['service'];
  gate: InflightGate;
  memory: ReplyMemory;
  limit: number;
  token: string | undefined;
  interceptors: grpc.ServerInterceptor[];
}

/** The request a call read: a split ModelInfer message, or the bytes of any other. */
type Received =
  | { kind: 'infer'; meta: Buffer; raw: Buffer[]; memory: ArrayBuffer | undefined }
  | { kind: 'message'; bytes: Buffer };

/**
 * One call on one HTTP/2 stream: reads the prefixed request message, runs the handler,
 * writes the reply frame and the trailers. It is also the innermost call grpc-js server
 * interceptors wrap (ServerInterceptingCallInterface).
 */
class Call implements grpc.ServerInterceptingCallInterface {
  private readonly ac = new AbortController();
  private listener: Listener | undefined;
  private deadline = Infinity;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private ended = false;
  private responded = false;
  private readonly sentMetadata = new grpc.Metadata();
  /**
   * Memory to give back once the stream has closed and the handler has settled (then
   * neither the backend nor the reply views it any more).
   */
  private held: ArrayBuffer | undefined;
  private closed = false;
  private settled = false;
  // reading
  private prefix = Buffer.alloc(GRPC_FRAME_PREFIX_BYTES);
  private prefixHave = 0;
  private splitter: InferRequestSplitter | undefined;
  private gathered: Buffer | undefined;
  private gatheredAt = 0;
  private compressed = false;
  private received = false;

  constructor(
    private readonly ctx: Context,
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly method: string,
  ) {
    stream.on('close', () => {
      this.clearDeadline();
      this.closed = true;
      this.giveBack();
      this.splitter?.discard();
      if (!this.ended) {
        this.ended = true;
        this.ac.abort();
        this.listener?.onCancel();
      }
    });
    stream.on('error', () => undefined); // a reset stream: 'close' does the rest
  }

  private giveBack(): void {
    if (!this.closed || !this.settled || !this.held) return;
    this.ctx.memory.release(this.held);
    this.held = undefined;
  }

  // ---- ServerInterceptingCallInterface ---------------------------------------------

  start(listener: Listener): void {
    this.listener = listener;
  }

  sendMetadata(metadata: grpc.Metadata): void {
    this.sentMetadata.merge(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    // Only an interceptor that answers by itself gets here: the handlers write their own.
    const def = this.ctx.methods[this.method];
    try {
      this.writeReply([grpcFrame(def!.responseSerialize(message))]);
    } catch (err) {
      this.sendStatus({ code: grpc.status.INTERNAL, details: (err as Error).message });
    }
    callback();
  }

  sendStatus(status: Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0]): void {
    this.finish({
      code: status.code,
      details: status.details ?? '',
      metadata: status.metadata ?? null,
    });
  }

  startRead(): void {
    // The request message is read as it arrives, whatever interceptors ask.
  }

  getPeer(): string {
    const s = this.stream.session?.socket;
    return s?.remoteAddress ? `${s.remoteAddress}:${s.remotePort ?? ''}` : 'unknown';
  }

  getDeadline(): number {
    return this.deadline;
  }

  getHost(): string {
    return String(this.headers[':authority'] ?? '');
  }

  getAuthContext(): ReturnType<grpc.ServerInterceptingCallInterface['getAuthContext']> {
    return this.stream.session?.encrypted ? { transportSecurityType: 'ssl' } : {};
  }

  getConnectionInfo(): ReturnType<grpc.ServerInterceptingCallInterface['getConnectionInfo']> {
    const s = this.stream.session?.socket;
    return {
      localAddress: s?.localAddress,
      localPort: s?.localPort,
      remoteAddress: s?.remoteAddress,
      remotePort: s?.remotePort,
    };
  }

  getMetricsRecorder(): ReturnType<grpc.ServerInterceptingCallInterface['getMetricsRecorder']> {
    throw new TritonError('UNSUPPORTED', 'this server records no per-call metrics');
  }

  // ---- the call ----------------------------------------------------------------------

  /** Starts the call: deadline, interceptors, then reading and answering. */
  run(): void {
    const metadata = grpc.Metadata.fromHttp2Headers(this.headers);
    const timeout = this.headers['grpc-timeout'];
    if (timeout !== undefined) {
      const m = /^(\d{1,8})([HMSmun])$/.exec(String(timeout));
      if (!m) {
        this.finish({
          code: grpc.status.INTERNAL,
          details: `Invalid grpc-timeout value "${String(timeout)}"`,
        });
        return;
      }
      const ms = Number(m[1]) * TIMEOUT_UNITS[m[2]!]!;
      this.deadline = Date.now() + ms;
      this.deadlineTimer = setTimeout(() => {
        this.ac.abort();
        this.finish({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
      }, ms);
    }
    for (const h of [
      'grpc-timeout',
      'grpc-encoding',
      'grpc-accept-encoding',
      'accept-encoding',
      'te',
      'content-type',
    ]) {
      metadata.remove(h);
    }
    const encoding = String(this.headers['grpc-encoding'] ?? 'identity');
    if (!['identity', 'gzip', 'deflate'].includes(encoding)) {
      this.finish({
        code: grpc.status.UNIMPLEMENTED,
        details: `Received message compressed with unsupported encoding "${encoding}"`,
      });
      return;
    }
    if (this.ctx.interceptors.length === 0) {
      this.admit(metadata);
      return;
    }
    const def = this.ctx.methods[this.method]!;
    const descriptor = {
      path: def.path,
      requestStream: false,
      responseStream: false,
      requestDeserialize: def.requestDeserialize,
      responseSerialize: def.responseSerialize,
    };
    const call = this.ctx.interceptors.reduce<grpc.ServerInterceptingCallInterface>(
      (inner, interceptor) => interceptor(descriptor, inner),
      this,
    );
    this.outer = call;
    call.start({
      onReceiveMetadata: (md) => this.admit(md),
      onReceiveMessage: () => undefined,
      onReceiveHalfClose: () => undefined,
      onCancel: () => undefined,
    });
    this.listener?.onReceiveMetadata(metadata);
  }

  /** The outermost interceptor's call: statuses go out through it. */
  private outer: grpc.ServerInterceptingCallInterface = this;

  private fail(err: unknown): void {
    const e = toTritonError(err, 'INTERNAL');
    this.outer.sendStatus({ code: grpcStatusForCode(e.code), details: e.message });
  }

  /** Metadata passed the interceptors: check the token and the gate, then read. */
  private admit(metadata: grpc.Metadata): void {
    if (this.ended) return;
    if (this.ctx.token !== undefined) {
      const given = metadata.get('authorization')[0];
      const denied = checkBearer(typeof given === 'string' ? given : undefined, this.ctx.token);
      if (denied) {
        this.fail(denied);
        return;
      }
    }
    let release: (() => void) | undefined;
    if (GATED.has(this.method)) {
      release = this.ctx.gate.enter();
      if (!release) {
        this.fail(serverBusy(this.ctx.gate.limit));
        return;
      }
    }
    this.read()
      .then((received) => this.answer(received))
      .finally(() => {
        this.settled = true;
        this.giveBack();
      })
      .then(
        (chunks) => {
          release?.();
          if (this.ended) return;
          this.writeReply(chunks);
          this.outer.sendStatus({ code: grpc.status.OK, details: 'OK' });
        },
        (err: unknown) => {
          release?.();
          this.fail(err);
        },
      )
      // A stream that cannot take its answer any more (reset under us): drop it.
      .catch(() => this.stream.destroy());
  }

  /** Reads the one request message from the stream. */
  private read(): Promise<Received> {
    return new Promise<Received>((resolve, reject) => {
      const stream = this.stream;
      // Each DATA frame (16 KiB: Node's HTTP/2 never sends larger ones) arrives as one
      // chunk, about 300 for a 640 YOLO request. Taken where Node hands them to the stream
      // instead of through the Readable machinery's 'data' events, receiving a 4.9 MB
      // request costs about 2.7 ms of this process's CPU instead of 3.7 (HTTP/1.1: 1.9).
      // 'data' stays as the fallback should a Node version not push.
      const push = stream.push;
      const pushed = (chunk: unknown, encoding?: BufferEncoding): boolean => {
        if (!Buffer.isBuffer(chunk)) return push.call(stream, chunk, encoding);
        onData(chunk);
        return true;
      };
      stream.push = pushed;
      const done = (r: Received | Error): void => {
        if (stream.push === pushed) stream.push = push;
        this.stream.off('data', onData);
        this.stream.off('end', onEnd);
        this.stream.off('close', onClose);
        // Anything after the message (a client that sends two) is drained unread.
        this.stream.resume();
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      const onData = (chunk: Buffer): void => {
        try {
          const r = this.take(chunk);
          if (r) done(r);
        } catch (err) {
          done(err as Error);
        }
      };
      const onEnd = (): void =>
        done(
          new TritonError(
            'INTERNAL',
            this.prefixHave < GRPC_FRAME_PREFIX_BYTES
              ? 'The call ended without a request message'
              : 'The call ended inside its request message',
          ),
        );
      const onClose = (): void => done(new TritonError('CANCELLED', 'The caller went away'));
      this.stream.on('data', onData);
      this.stream.on('end', onEnd);
      this.stream.on('close', onClose);
    }).then((r) => (r.kind === 'message' && this.compressed ? this.inflate(r.bytes) : r));
  }

  /** Feeds one chunk; returns the request once it is complete. */
  private take(chunk: Buffer): Received | undefined {
    if (this.received) return undefined;
    let i = 0;
    if (this.prefixHave < GRPC_FRAME_PREFIX_BYTES) {
      const n = Math.min(GRPC_FRAME_PREFIX_BYTES - this.prefixHave, chunk.length);
      chunk.copy(this.prefix, this.prefixHave, 0, n);
      this.prefixHave += n;
      i = n;
      if (this.prefixHave < GRPC_FRAME_PREFIX_BYTES) return undefined;
      this.startMessage();
    }
    if (this.splitter) {
      this.splitter.push(chunk, i);
      return this.splitter.complete ? this.splitDone() : undefined;
    }
    const g = this.gathered!;
    const n = Math.min(g.length - this.gatheredAt, chunk.length - i);
    chunk.copy(g, this.gatheredAt, i, i + n);
    this.gatheredAt += n;
    if (this.gatheredAt < g.length) return undefined;
    this.received = true;
    return { kind: 'message', bytes: g };
  }

  private startMessage(): void {
    const flag = this.prefix[0]!;
    const length = this.prefix.readUInt32BE(1);
    if (length > this.ctx.limit) {
      throw new TritonError(
        'MESSAGE_TOO_LARGE',
        `Received message larger than max (${length} vs. ${this.ctx.limit})`,
      );
    }
    if (flag > 1) throw new TritonError('INTERNAL', `Invalid message flag ${flag}`);
    this.compressed = flag === 1;
    if (this.compressed && String(this.headers['grpc-encoding'] ?? 'identity') === 'identity') {
      throw new TritonError('INTERNAL', 'Received a compressed message without grpc-encoding');
    }
    if (this.method === 'ModelInfer' && !this.compressed) {
      this.splitter = new InferRequestSplitter(length, this.ctx.memory);
    } else {
      this.gathered = Buffer.allocUnsafe(length);
    }
  }

  private splitDone(): Received {
    this.received = true;
    const s = this.splitter!.finish();
    this.splitter = undefined;
    this.held = s.memory;
    return { kind: 'infer', ...s };
  }

  /** A compressed message, inflated off the event loop, no larger than the limit. */
  private inflate(bytes: Buffer): Promise<Received> {
    const gzip = this.headers['grpc-encoding'] === 'gzip';
    return new Promise<Buffer>((resolve, reject) => {
      const fn = gzip ? zlib.gunzip : zlib.inflate;
      fn(bytes, { maxOutputLength: this.ctx.limit }, (err, out) => {
        if (!err) resolve(out);
        else if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          reject(
            new TritonError(
              'MESSAGE_TOO_LARGE',
              `Received message that decompresses to a size larger than ${this.ctx.limit}`,
            ),
          );
        } else {
          reject(new TritonError('INTERNAL', `Failed to decompress the message: ${err.message}`));
        }
      });
    }).then((message) => {
      if (this.method !== 'ModelInfer') return { kind: 'message', bytes: message };
      const splitter = new InferRequestSplitter(message.length, this.ctx.memory);
      this.splitter = splitter;
      splitter.push(message);
      return this.splitDone();
    });
  }

  /** Runs the handler; resolves to the reply frame's chunks. */
  private async answer(received: Received): Promise<Buffer[]> {
    const opts: CallOptions = { signal: this.ac.signal };
    if (Number.isFinite(this.deadline)) opts.timeoutMs = Math.max(1, this.deadline - Date.now());
    const def = this.ctx.methods[this.method]!;
    if (received.kind === 'message') {
      let request: unknown;
      try {
        request = def.requestDeserialize(received.bytes);
      } catch (err) {
        throw new TritonError(
          'INVALID_ARGUMENT',
          `The request is not a ${this.method} request: ${(err as Error).message}`,
        );
      }
      if (this.method === 'ModelInfer') {
        return this.infer(request as WireInferRequest, opts);
      }
      const reply = await this.ctx.handlers[this.method]!(request, opts);
      return this.sized([grpcFrame(def.responseSerialize(reply))]);
    }
    const typed = typedContentsBytes(received.meta);
    if (typed > MAX_TYPED_CONTENTS_BYTES) {
      throw new TritonError(
        'INVALID_ARGUMENT',
        `The request carries ${typed} bytes of typed tensor contents, over this server's limit of ${MAX_TYPED_CONTENTS_BYTES}: send large tensors as raw_input_contents`,
      );
    }
    let wire: WireInferRequest;
    try {
      wire = def.requestDeserialize(received.meta) as WireInferRequest;
    } catch (err) {
      throw new TritonError(
        'INVALID_ARGUMENT',
        `The request is not a ModelInferRequest: ${(err as Error).message}`,
      );
    }
    if (received.raw.length > 0) wire.raw_input_contents = received.raw;
    return this.infer(wire, opts);
  }

  private async infer(wire: WireInferRequest, opts: CallOptions): Promise<Buffer[]> {
    const req = decodeInferRequest(wire);
    const res = await this.ctx.backend.infer(req, opts);
    let outputs = res.outputs;
    if (req.outputs) {
      // Only what was asked for, in the order the backend produced it.
      const wanted = new Set(req.outputs.map((x) => x.name));
      outputs = outputs.filter((t) => wanted.has(t.name));
    }
    const message = encodeInferResponse({ ...res, id: req.id ?? res.id, outputs });
    const frame = encodeInferResponseFrame({
      model_name: message.model_name,
      model_version: message.model_version ?? '',
      id: message.id ?? '',
      outputs: message.outputs,
      raw_output_contents: message.raw_output_contents ?? [],
    });
    if (frame) return this.sized(frame.chunks, frame.messageBytes);
    const def = this.ctx.methods.ModelInfer!;
    return this.sized([grpcFrame(def.responseSerialize(message))]);
  }

  private sized(chunks: Buffer[], messageBytes?: number): Buffer[] {
    const bytes = messageBytes ?? chunks[0]!.length - GRPC_FRAME_PREFIX_BYTES;
    if (bytes > this.ctx.limit) {
      throw new TritonError(
        'MESSAGE_TOO_LARGE',
        `Sent message larger than max (${bytes} vs. ${this.ctx.limit})`,
      );
    }
    return chunks;
  }

  private responseHeaders(): http2.OutgoingHttpHeaders {
    return {
      ...this.sentMetadata.toHttp2Headers(),
      ':status': 200,
      'content-type': 'application/grpc+proto',
      'grpc-accept-encoding': 'identity,deflate,gzip',
    };
  }

  /** Writes the reply frame; the trailers follow from finish(). */
  private writeReply(chunks: Buffer[]): void {
    if (this.ended || this.stream.destroyed) return;
    if (!this.responded) {
      this.responded = true;
      this.stream.respond(this.responseHeaders(), { waitForTrailers: true });
    }
    this.stream.cork();
    for (const c of chunks) this.stream.write(c);
    this.stream.uncork();
  }

  private clearDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  /** Ends the call with `status` (once): trailers after a reply, else trailers only. */
  private finish(status: Status): void {
    if (this.ended) return;
    this.ended = true;
    this.clearDeadline();
    if (status.code !== grpc.status.OK) this.ac.abort();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const trailers: http2.OutgoingHttpHeaders = {
      ...(status.metadata ? status.metadata.toHttp2Headers() : {}),
      'grpc-status': String(status.code),
      'grpc-message': encodeGrpcMessage(status.details),
    };
    if (this.responded) {
      stream.once('wantTrailers', () => {
        try {
          stream.sendTrailers(trailers);
        } catch {
          stream.destroy();
        }
      });
      stream.end();
      return;
    }
    this.responded = true;
    try {
      stream.respond({ ...this.responseHeaders(), ...trailers }, { endStream: true });
    } catch {
      stream.destroy();
      return;
    }
    // What a client still sends (a request refused before it was read) is drained unread.
    stream.resume();
  }
}

/** Answers a stream that is not a gRPC call of our service. */
function refuse(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
  const method = headers[':method'];
  if (method !== 'POST') {
    stream.respond({ ':status': 405, allow: 'POST' }, { endStream: true });
    stream.resume();
    return true;
  }
  const type = String(headers['content-type'] ?? '');
  if (!/^application\/grpc(\+proto)?(;|$)/.test(type)) {
    stream.respond({ ':status': 415 }, { endStream: true });
    stream.resume();
    return true;
  }
  return false;
}

function secureOptions(opts: GrpcFrontendOptions): http2.SecureServerOptions | undefined {
  if (opts.tls) return opts.tls;
  const creds = opts.credentials;
  if (!creds || !creds._isSecure()) return undefined;
  return { ...creds._getConstructorOptions(), ...creds._getSecureContextOptions() };
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
  const pool = new BodyPool();
  let ctx: Context;
  let server: http2.Http2Server | http2.Http2SecureServer;
  try {
    ctx = {
      backend,
      handlers: handlers(backend, opts.modelControl ?? 'none'),
      methods: loadKserveProto().service,
      gate: new InflightGate(opts.maxInflight ?? DEFAULT_MAX_INFLIGHT),
      memory: { acquire: (n) => pool.take(n), release: (ab) => pool.give(ab) },
      limit: Math.min(Math.floor(max), INT32_MAX),
      token: opts.authToken,
      interceptors: [...(opts.credentials?._getInterceptors() ?? []), ...(opts.interceptors ?? [])],
    };
    const serverOptions: http2.ServerOptions = {
      settings: { initialWindowSize: WINDOW_BYTES, enablePush: false },
      // Replies in flight count against this (MB); the default 10 would stall big ones.
      maxSessionMemory: 1024,
    };
    const secure = secureOptions(opts);
    server = secure
      ? http2.createSecureServer({ ...serverOptions, ...secure, allowHTTP1: false })
      : http2.createServer(serverOptions);
  } catch (err) {
    return Promise.reject(toTritonError(err, 'INTERNAL'));
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  const keepaliveMs = opts.keepaliveTimeMs ?? KEEPALIVE_TIME_MS;
  const keepaliveTimeoutMs = opts.keepaliveTimeoutMs ?? KEEPALIVE_TIMEOUT_MS;
  server.on('session', (session) => {
    sessions.add(session);
    session.on('error', () => undefined); // the session's streams report their own end
    try {
      session.setLocalWindowSize(WINDOW_BYTES);
    } catch {
      // A session closing as it opens.
    }
    const keepalive = setInterval(() => {
      if (session.destroyed) return;
      const timer = setTimeout(() => session.destroy(), keepaliveTimeoutMs);
      timer.unref();
      try {
        session.ping(() => clearTimeout(timer));
      } catch {
        clearTimeout(timer);
      }
    }, keepaliveMs);
    keepalive.unref();
    session.once('close', () => {
      clearInterval(keepalive);
      sessions.delete(session);
    });
  });
  server.on('stream', (stream, headers) => {
    try {
      onStream(stream, headers);
    } catch {
      // Headers nothing could make sense of: no answer but a reset.
      stream.destroy();
    }
  });
  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    if (refuse(stream, headers)) return;
    const path = String(headers[':path'] ?? '');
    const method = path.startsWith(SERVICE_PREFIX) ? path.slice(SERVICE_PREFIX.length) : '';
    const call = new Call(ctx, stream, headers, method);
    if (method !== 'ModelInfer' && !ctx.handlers[method]) {
      call.sendStatus({
        code: grpc.status.UNIMPLEMENTED,
        details: `The server does not implement the method ${path}`,
      });
      stream.resume();
      return;
    }
    call.run();
  };
  // A client that speaks something else than HTTP/2 is dropped (as grpc-js does).
  server.on('unknownProtocol', (socket) => socket.destroy());
  return new Promise<GrpcFrontend>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new TritonError(
          'TRITON_UNAVAILABLE',
          `Cannot listen for gRPC on ${host}:${port}: ${err.message} (pick another port or stop what is using it)`,
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
      server.off('error', onError);
      server.on('error', () => undefined);
      const address = server.address();
      let closing: Promise<void> | undefined;
      const graceMs = opts.shutdownGraceMs ?? 2000;
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        close: () => {
          closing ??= new Promise<void>((done) => {
            const timer = setTimeout(() => {
              for (const s of sessions) s.destroy(undefined, NGHTTP2_CANCEL);
            }, graceMs);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            // GOAWAY: running calls finish, new ones go elsewhere.
            for (const s of sessions) s.close();
          });
          return closing;
        },
      });
    });
  });
}
