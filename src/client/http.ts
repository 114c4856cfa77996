/**
 * KServe v2 over HTTP/REST (Triton's port 8000) on Node's own node:http / node:https
 * with a keep-alive Agent. Request and response bodies use the binary tensor
 * extension (src/protocol/http-codec.ts); JSON-only replies are still understood.
 * Every failure is a TritonError, mapped in one place (`replyError` for HTTP
 * replies, `transportError` for sockets).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as zlib from 'node:zlib';
import { attachRelease, ReplyBufferPool } from './buffer-pool';
import { resolveRemoteOptions } from './remote';
import {
  TritonError,
  codeFromHttpStatus,
  httpStatusForCode,
  isTritonError,
  type TritonErrorCode,
} from '../protocol/errors';
import {
  BodyCollector,
  INFERENCE_HEADER,
  decodeInferResponse,
  encodeInferRequest,
  parseErrorBody,
} from '../protocol/http-codec';
import type {
  CallOptions,
  InferRequest,
  InferResponse,
  InferenceClient,
  ModelConfig,
  ModelConfigInput,
  ModelConfigOutput,
  ModelMetadata,
  ModelStatistics,
  RemoteClientOptions,
  RepositoryModel,
  ServerMetadata,
  StatisticDuration,
  TensorMetadata,
} from '../protocol/types';

/** Triton's default HTTP port. */
export const DEFAULT_HTTP_PORT = 8000;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The pooled buffer under `body`, when it came from spec.replyMemory and was not inflated. */
  memory?: ArrayBuffer;
}

interface SendSpec {
  /** What the call does, for messages: "infer on model 'yolov8n'". */
  what: string;
  model?: string;
  body?: Buffer;
  /** The body in pieces, written in order without joining them (used instead of `body`). */
  chunks?: Buffer[];
  headers?: Record<string, string>;
  /** Gather the reply into memory from here (inference replies). */
  replyMemory?: ReplyBufferPool;
}

/** Socket errors that mean a kept-alive socket was closed by the server while idle. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

const STATUS_HINT: Partial<Record<TritonErrorCode, string>> = {
  NOT_FOUND: 'check the model name and version',
  MODEL_NOT_READY: 'load the model or wait until it is ready',
  UNAUTHORIZED: 'check the credentials (headers) sent to the server',
  TRITON_UNAVAILABLE: 'the server is starting, stopping or overloaded; try again',
  UNSUPPORTED: 'this server does not offer that endpoint',
  MESSAGE_TOO_LARGE: 'send a smaller request or raise the server limit',
  INTERNAL: 'see the server log',
  TIMEOUT: 'raise the timeout or reduce the load on the server',
};

const ADVICE_TEXT = /\b(check|load|try|raise|send|use|set|add|pick|wait|give)\b/i;

/**
 * The exact code triton-vision-serve puts beside its status (several codes share
 * one status). Trusted only when it agrees with the status, so a stray header
 * from elsewhere cannot turn a 404 into something else.
 */
function sentCode(reply: Reply): TritonErrorCode | undefined {
  const v = reply.headers['x-triton-vision-error-code'];
  const code = Array.isArray(v) ? v[0] : v;
  if (!code || !/^[A-Z_]+$/.test(code)) return undefined;
  return httpStatusForCode(code as TritonErrorCode) === reply.status
    ? (code as TritonErrorCode)
    : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** int64/uint64 may arrive as strings from protobuf-JSON proxies; we want numbers. */
function num(v: unknown, fallback = 0): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  if (typeof v === 'bigint') return Number(v);
  return fallback;
}

function str(v: unknown, fallback = ''): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return fallback;
}

function dims(v: unknown): number[] {
  return Array.isArray(v) ? v.map((d) => num(d)) : [];
}

/** Says in a few words what a non-KServe body is, without dumping it into the message. */
function describeBody(reply: Reply): string {
  const type = String(reply.headers['content-type'] ?? '').toLowerCase();
  if (reply.body.length === 0) return 'an empty body';
  const start = reply.body.subarray(0, 256).toString('utf8').trimStart().toLowerCase();
  if (type.includes('html') || start.startsWith('<!doctype html') || start.startsWith('<html')) {
    return 'an HTML page';
  }
  if (type.includes('json')) return 'a JSON body without an "error" field';
  return `a ${type || 'non-JSON'} body of ${reply.body.length} bytes`;
}

// ---- normalisers: whatever a server or proxy sends → our types ------------------------

function normaliseTensorMetadata(v: unknown): TensorMetadata {
  const t = isObject(v) ? v : {};
  return { name: str(t.name), datatype: str(t.datatype), shape: dims(t.shape) };
}

function normaliseDuration(v: unknown): StatisticDuration {
  const d = isObject(v) ? v : {};
  return { count: num(d.count), ns: num(d.ns) };
}

function normaliseStats(v: unknown): ModelStatistics {
  const s = isObject(v) ? v : {};
  const i = isObject(s.inference_stats) ? s.inference_stats : {};
  return {
    ...(s as object),
    name: str(s.name),
    version: str(s.version),
    last_inference: num(s.last_inference),
    inference_count: num(s.inference_count),
    execution_count: num(s.execution_count),
    inference_stats: {
      ...(i as object),
      success: normaliseDuration(i.success),
      fail: normaliseDuration(i.fail),
      queue: normaliseDuration(i.queue),
      compute_input: normaliseDuration(i.compute_input),
      compute_infer: normaliseDuration(i.compute_infer),
      compute_output: normaliseDuration(i.compute_output),
    },
  } as ModelStatistics;
}

/**
 * Brings a model config to our ModelConfig shape: numbers for int64 fields (a
 * protobuf-JSON proxy writes them as strings), max_batch_size 0 when left out,
 * and a gRPC-style `{config: {...}}` wrapper removed.
 */
export function normaliseModelConfig(raw: unknown): ModelConfig {
  let c = isObject(raw) ? raw : {};
  if (isObject(c.config) && c.input === undefined && c.name === undefined) c = c.config;
  const input: ModelConfigInput[] = (Array.isArray(c.input) ? c.input : []).map((v: unknown) => {
    const t = isObject(v) ? v : {};
    const out = { ...t, name: str(t.name), data_type: str(t.data_type, 'TYPE_INVALID') };
    const r = { ...out, dims: dims(t.dims) } as ModelConfigInput;
    if (isObject(t.reshape)) r.reshape = { shape: dims(t.reshape.shape) };
    return r;
  });
  const output: ModelConfigOutput[] = (Array.isArray(c.output) ? c.output : []).map(
    (v: unknown) => {
      const t = isObject(v) ? v : {};
      const r = {
        ...t,
        name: str(t.name),
        data_type: str(t.data_type, 'TYPE_INVALID'),
        dims: dims(t.dims),
      } as ModelConfigOutput;
      if (isObject(t.reshape)) r.reshape = { shape: dims(t.reshape.shape) };
      return r;
    },
  );
  const cfg = {
    ...c,
    name: str(c.name),
    platform: str(c.platform),
    backend: str(c.backend),
    max_batch_size: num(c.max_batch_size),
    input,
    output,
  } as ModelConfig;
  const vp = c.version_policy;
  if (isObject(vp)) {
    if (isObject(vp.latest)) {
      cfg.version_policy = { latest: { num_versions: num(vp.latest.num_versions, 1) } };
    } else if (isObject(vp.specific)) {
      cfg.version_policy = { specific: { versions: dims(vp.specific.versions) } };
    }
  }
  if (Array.isArray(c.instance_group)) {
    cfg.instance_group = c.instance_group.map((g: unknown) => {
      const o = isObject(g) ? g : {};
      return {
        ...o,
        count: num(o.count, 1),
        kind: str(o.kind, 'KIND_AUTO'),
        ...(Array.isArray(o.gpus) ? { gpus: dims(o.gpus) } : {}),
      };
    });
  }
  if (isObject(c.dynamic_batching)) {
    const d = c.dynamic_batching;
    cfg.dynamic_batching = {
      ...d,
      ...(d.preferred_batch_size !== undefined
        ? { preferred_batch_size: dims(d.preferred_batch_size) }
        : {}),
      ...(d.max_queue_delay_microseconds !== undefined
        ? { max_queue_delay_microseconds: num(d.max_queue_delay_microseconds) }
        : {}),
    };
  }
  return cfg;
}

// ---- the client -----------------------------------------------------------------------

export class HttpClient implements InferenceClient {
  readonly kind = 'http' as const;
  readonly endpoint: string;
  private readonly host: string;
  private readonly port: number;
  private readonly secure: boolean;
  private readonly agent: http.Agent;
  private readonly baseHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly inflight = new Set<http.ClientRequest>();
  private readonly pathPrefix: string;
  private closed = false;
  private readonly replies = new ReplyBufferPool();

  /**
   * @param options host (default 127.0.0.1), port (default 8000), tls (https when set;
   *   verify defaults to true), headers sent on every request (auth), timeoutMs per
   *   call (default 30000 ms), maxMessageBytes for request and response bodies
   *   (default 256 MiB).
   */
  constructor(options: RemoteClientOptions = {}) {
    const settings = resolveRemoteOptions(options, 'HTTP', DEFAULT_HTTP_PORT);
    this.host = settings.host;
    this.port = settings.port;
    this.endpoint = settings.endpoint;
    this.timeoutMs = settings.timeoutMs;
    this.maxMessageBytes = settings.maxMessageBytes;
    this.baseHeaders = { ...(options.headers ?? {}) };
    // '/kserve/demo/' and 'kserve/demo' both mean '/kserve/demo'.
    this.pathPrefix = (options.pathPrefix ?? '').replace(/^\/*(.*?)\/*$/, (_, p: string) =>
      p ? `/${p}` : '',
    );
    const tls = options.tls;
    this.secure = !!tls;
    if (tls) {
      this.agent = new https.Agent({
        keepAlive: true,
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
        ...(tls.key !== undefined ? { key: tls.key } : {}),
        ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
        rejectUnauthorized: tls.verify !== false,
      });
    } else {
      this.agent = new http.Agent({ keepAlive: true });
    }
  }

  // ---- transport ------------------------------------------------------------------

  private send(
    method: 'GET' | 'POST',
    path: string,
    spec: SendSpec,
    opts: CallOptions = {},
  ): Promise<Reply> {
    if (this.closed) return Promise.reject(this.closedError(spec));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    if (!(timeoutMs > 0)) {
      return Promise.reject(
        new TritonError(
          'INVALID_ARGUMENT',
          `timeoutMs must be a positive number of milliseconds, got ${String(opts.timeoutMs)}`,
          { endpoint: this.endpoint },
        ),
      );
    }
    if (opts.signal?.aborted) return Promise.reject(this.cancelledError(spec));
    const chunks = spec.chunks ?? (spec.body ? [spec.body] : []);
    let bodyLength = 0;
    for (const c of chunks) bodyLength += c.length;
    if (bodyLength > this.maxMessageBytes) {
      return Promise.reject(
        new TritonError(
          'MESSAGE_TOO_LARGE',
          `The ${spec.what} request is ${bodyLength} bytes, over this client's maxMessageBytes limit of ${this.maxMessageBytes}: send a smaller input or raise maxMessageBytes`,
          { endpoint: this.endpoint, model: spec.model },
        ),
      );
    }
    const headers: Record<string, string> = {
      ...this.baseHeaders,
      ...(spec.headers ?? {}),
      'Content-Length': String(bodyLength),
    };

    return new Promise<Reply>((resolve, reject) => {
      let settled = false;
      let current: http.ClientRequest | undefined;
      const finish = (err: TritonError | undefined, reply?: Reply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (current) this.inflight.delete(current);
        if (err) reject(err);
        else resolve(reply!);
      };
      // Destroying the request also destroys its socket, so a half-read reply never
      // goes back into the keep-alive pool.
      const abandon = (err: TritonError): void => {
        if (settled) return;
        const req = current;
        finish(err);
        req?.destroy();
      };
      const onAbort = (): void => abandon(this.cancelledError(spec));
      const timer = setTimeout(
        () =>
          abandon(
            new TritonError(
              'TIMEOUT',
              `No reply from ${this.endpoint} to ${spec.what} within ${timeoutMs} ms: ${STATUS_HINT.TIMEOUT}`,
              { endpoint: this.endpoint, model: spec.model },
            ),
          ),
        timeoutMs,
      );
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      const attempt = (mayRetry: boolean): void => {
        const req = (this.secure ? https : http).request({
          agent: this.agent,
          host: this.host,
          port: this.port,
          method,
          path: this.pathPrefix + path,
          headers,
        });
        current = req;
        this.inflight.add(req);
        let responded = false;
        req.on('error', (err: NodeJS.ErrnoException) => {
          this.inflight.delete(req);
          if (settled) return;
          // A kept-alive socket the server closed while idle fails on first write;
          // the request never reached the server, so one retry on a fresh socket is safe.
          if (
            !responded &&
            mayRetry &&
            req.reusedSocket &&
            STALE_SOCKET_CODES.has(err.code ?? '')
          ) {
            attempt(false);
            return;
          }
          finish(this.transportError(err, spec));
        });
        req.on('response', (res: http.IncomingMessage) => {
          responded = true;
          const declared = Number(res.headers['content-length']);
          if (declared > this.maxMessageBytes) {
            abandon(this.tooLargeReply(spec, declared));
            return;
          }
          // Binary tensors start right after the JSON header: align them for in-place views.
          const inPlace = res.headers['content-encoding'] ? undefined : declared;
          const collected = new BodyCollector(
            inPlace,
            Number(res.headers[INFERENCE_HEADER] ?? NaN),
            spec.replyMemory,
          );
          let total = 0;
          res.on('data', (chunk: Buffer) => {
            total += chunk.length;
            if (total > this.maxMessageBytes) {
              abandon(this.tooLargeReply(spec, total));
              return;
            }
            collected.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            const raw: Reply = {
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: collected.finish(),
            };
            const backing = raw.body.buffer;
            if (spec.replyMemory && inPlace !== undefined && backing instanceof ArrayBuffer) {
              raw.memory = backing;
            }
            this.decompress(raw, spec).then(
              (reply) => finish(undefined, reply),
              (err: unknown) => finish(err as TritonError),
            );
          });
          res.on('error', (err: NodeJS.ErrnoException) => {
            if (settled) return;
            finish(this.cutOffError(err, spec, total, declared));
          });
        });
        // One writev for the header and every tensor, without joining them first.
        req.cork();
        for (const c of chunks) req.write(c);
        req.end();
      };
      attempt(true);
    });
  }

  /** Servers answer compressed only when asked; we do not ask, but a proxy may compress anyway. */
  private async decompress(reply: Reply, spec: SendSpec): Promise<Reply> {
    const enc = String(reply.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    if (enc === 'identity' || enc === '' || reply.body.length === 0) return reply;
    const opts = { maxOutputLength: this.maxMessageBytes };
    const run = (fn: typeof zlib.gunzip): Promise<Buffer> =>
      new Promise((resolve, reject) =>
        fn(reply.body, opts, (err, out) => (err ? reject(err) : resolve(out))),
      );
    let body: Buffer;
    try {
      if (enc === 'gzip' || enc === 'x-gzip') body = await run(zlib.gunzip);
      else if (enc === 'deflate') body = await run(zlib.inflate);
      else if (enc === 'br') body = await run(zlib.brotliDecompress as typeof zlib.gunzip);
      else {
        throw new TritonError(
          'PROTOCOL_ERROR',
          `The reply from ${this.endpoint} to ${spec.what} is compressed as '${enc}', which this client cannot read`,
          { endpoint: this.endpoint, model: spec.model },
        );
      }
    } catch (err) {
      if (isTritonError(err)) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw this.tooLargeReply(spec, this.maxMessageBytes + 1);
      }
      throw new TritonError(
        'PROTOCOL_ERROR',
        `The ${enc} reply from ${this.endpoint} to ${spec.what} does not decompress: ${(err as Error).message}`,
        { endpoint: this.endpoint, model: spec.model, cause: err },
      );
    }
    return { ...reply, body };
  }

  // ---- error mapping (the one place) -----------------------------------------------------

  private closedError(spec: SendSpec): TritonError {
    return new TritonError(
      'TRITON_UNAVAILABLE',
      `The HTTP client for ${this.endpoint} is closed, so ${spec.what} was not sent: create a new client`,
      { endpoint: this.endpoint, model: spec.model },
    );
  }

  private cancelledError(spec: SendSpec): TritonError {
    return new TritonError('CANCELLED', `The caller cancelled ${spec.what} on ${this.endpoint}`, {
      endpoint: this.endpoint,
      model: spec.model,
    });
  }

  private tooLargeReply(spec: SendSpec, bytes: number): TritonError {
    return new TritonError(
      'MESSAGE_TOO_LARGE',
      `The reply from ${this.endpoint} to ${spec.what} is ${bytes} bytes or more, over this client's maxMessageBytes limit of ${this.maxMessageBytes}: raise maxMessageBytes or ask for fewer outputs`,
      { endpoint: this.endpoint, model: spec.model },
    );
  }

  /** Socket-level failures before any reply: the server cannot be reached. */
  private transportError(err: NodeJS.ErrnoException, spec: SendSpec): TritonError {
    if (isTritonError(err)) return err;
    const details = { endpoint: this.endpoint, model: spec.model, cause: err };
    const code = err.code ?? '';
    let why: string;
    if (code === 'ECONNREFUSED') {
      why = `nothing is listening at ${this.endpoint} (connection refused): start Triton or check the host and port`;
    } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      why = `the host name '${this.host}' does not resolve: check the server address`;
    } else if (STALE_SOCKET_CODES.has(code) || /socket hang up/i.test(err.message)) {
      why = `the connection to ${this.endpoint} closed before a reply (${code || err.message}): the server stopped or restarted, or a proxy dropped the connection; try again`;
    } else if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code + err.message)) {
      why = `the TLS handshake with ${this.endpoint} failed (${err.message}): trust the server's CA with tls.ca, fix tls.servername, or check that the server speaks HTTPS`;
    } else {
      why = `cannot reach ${this.endpoint} (${code || err.message}): check the address and that the server is running`;
    }
    return new TritonError(
      'TRITON_UNAVAILABLE',
      `${capitalise(spec.what)} failed: ${why}`,
      details,
    );
  }

  /**
   * The connection closed after the reply began. We report TRITON_UNAVAILABLE, not
   * PROTOCOL_ERROR: what arrived was well-formed as far as it went, and the usual
   * cause is a server that stopped or restarted mid-reply, which a retry fixes.
   * (A reply that ends cleanly but does not add up is a PROTOCOL_ERROR from the codec.)
   */
  private cutOffError(
    err: NodeJS.ErrnoException,
    spec: SendSpec,
    received: number,
    declared: number,
  ): TritonError {
    const of = Number.isFinite(declared) ? ` of ${declared}` : '';
    return new TritonError(
      'TRITON_UNAVAILABLE',
      `The connection to ${this.endpoint} closed after ${received}${of} bytes of the reply to ${spec.what} (${err.code ?? err.message}): the server stopped or a proxy cut the connection; try again`,
      { endpoint: this.endpoint, model: spec.model, cause: err },
    );
  }

  /**
   * A reply with a non-2xx status. A KServe `{"error": ...}` body is mapped through
   * codeFromHttpStatus; anything else (a proxy's HTML page, an empty body) is
   * summarised, never dumped into the message.
   */
  private replyError(reply: Reply, spec: SendSpec): TritonError {
    const details = { endpoint: this.endpoint, model: spec.model, status: reply.status };
    const message = parseErrorBody(reply.body);
    if (message !== undefined) {
      const code = sentCode(reply) ?? codeFromHttpStatus(reply.status, message);
      // Our own server already says what to do; add advice only to bare messages.
      const hint = ADVICE_TEXT.test(message) ? undefined : STATUS_HINT[code];
      return new TritonError(
        code,
        `${capitalise(spec.what)} failed: ${message.replace(/\.$/, '')} (HTTP ${reply.status} from ${this.endpoint})${hint ? `: ${hint}` : ''}`,
        details,
      );
    }
    const kind = describeBody(reply);
    if (reply.body.length === 0) {
      const code = codeFromHttpStatus(reply.status);
      const hint = STATUS_HINT[code];
      return new TritonError(
        code,
        `${capitalise(spec.what)} failed: HTTP ${reply.status} from ${this.endpoint} with an empty body${hint ? `: ${hint}` : ''}`,
        details,
      );
    }
    let code: TritonErrorCode = 'PROTOCOL_ERROR';
    if (reply.status === 502 || reply.status === 503 || reply.status === 504) {
      code = 'TRITON_UNAVAILABLE';
    } else if (reply.status === 401 || reply.status === 403) {
      code = 'UNAUTHORIZED';
    } else if (reply.status === 413) {
      code = 'MESSAGE_TOO_LARGE';
    }
    return new TritonError(
      code,
      `HTTP ${reply.status} from ${this.endpoint} with ${kind}, not a KServe v2 reply, to ${spec.what} (is a proxy in front of Triton?)`,
      details,
    );
  }

  /** A 2xx reply that should be JSON but is not. */
  private notJson(reply: Reply, spec: SendSpec, err?: unknown): TritonError {
    return new TritonError(
      'PROTOCOL_ERROR',
      `HTTP ${reply.status} from ${this.endpoint} with ${describeBody(reply)}, not the KServe v2 JSON expected for ${spec.what} (is this a Triton / KServe v2 server?)`,
      { endpoint: this.endpoint, model: spec.model, status: reply.status, cause: err },
    );
  }

  // ---- request helpers ----------------------------------------------------------------

  private async call(
    method: 'GET' | 'POST',
    path: string,
    spec: SendSpec,
    opts?: CallOptions,
  ): Promise<Reply> {
    const reply = await this.send(method, path, spec, opts);
    if (reply.status < 200 || reply.status >= 300) throw this.replyError(reply, spec);
    return reply;
  }

  private async json(
    method: 'GET' | 'POST',
    path: string,
    spec: SendSpec,
    opts?: CallOptions,
  ): Promise<unknown> {
    const reply = await this.call(method, path, spec, opts);
    const text = reply.body.toString('utf8');
    const first = text.trimStart()[0];
    if (first !== '{' && first !== '[') throw this.notJson(reply, spec);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw this.notJson(reply, spec, err);
    }
  }

  /** 200 → true, 400 → false (Triton's health convention), anything else → error. */
  private async health(path: string, spec: SendSpec, opts?: CallOptions): Promise<boolean> {
    const reply = await this.send('GET', path, spec, opts);
    if (reply.status === 200) return true;
    if (reply.status === 400) return false;
    throw this.replyError(reply, spec);
  }

  private modelPath(model: string, version: string | undefined, suffix = ''): string {
    if (typeof model !== 'string' || model === '') {
      throw new TritonError('INVALID_ARGUMENT', 'The model name is empty: give a model name', {
        endpoint: this.endpoint,
      });
    }
    const v = version ? `/versions/${encodeURIComponent(version)}` : '';
    return `/v2/models/${encodeURIComponent(model)}${v}${suffix}`;
  }

  private static describeModel(model: string, version?: string): string {
    return version ? `model '${model}' version ${version}` : `model '${model}'`;
  }

  // ---- InferenceClient ------------------------------------------------------------------

  serverLive(opts?: CallOptions): Promise<boolean> {
    return this.health('/v2/health/live', { what: 'the server-live check' }, opts);
  }

  serverReady(opts?: CallOptions): Promise<boolean> {
    return this.health('/v2/health/ready', { what: 'the server-ready check' }, opts);
  }

  async serverMetadata(opts?: CallOptions): Promise<ServerMetadata> {
    const spec = { what: 'the server metadata request' };
    const raw = await this.json('GET', '/v2', spec, opts);
    if (!isObject(raw))
      throw new TritonError('PROTOCOL_ERROR', 'Server metadata is not a JSON object');
    return {
      name: str(raw.name),
      version: str(raw.version),
      extensions: Array.isArray(raw.extensions) ? raw.extensions.map((e) => String(e)) : [],
    };
  }

  async modelReady(model: string, version?: string, opts?: CallOptions): Promise<boolean> {
    const spec = {
      what: `the readiness check of ${HttpClient.describeModel(model, version)}`,
      model,
    };
    return this.health(this.modelPath(model, version, '/ready'), spec, opts);
  }

  async modelMetadata(model: string, version?: string, opts?: CallOptions): Promise<ModelMetadata> {
    const spec = {
      what: `the metadata request for ${HttpClient.describeModel(model, version)}`,
      model,
    };
    const raw = await this.json('GET', this.modelPath(model, version), spec, opts);
    if (!isObject(raw)) {
      throw new TritonError('PROTOCOL_ERROR', `Metadata of model '${model}' is not a JSON object`, {
        endpoint: this.endpoint,
        model,
      });
    }
    return {
      name: str(raw.name, model),
      versions: Array.isArray(raw.versions) ? raw.versions.map((v) => str(v)) : [],
      platform: str(raw.platform),
      inputs: Array.isArray(raw.inputs) ? raw.inputs.map(normaliseTensorMetadata) : [],
      outputs: Array.isArray(raw.outputs) ? raw.outputs.map(normaliseTensorMetadata) : [],
    };
  }

  async modelConfig(model: string, version?: string, opts?: CallOptions): Promise<ModelConfig> {
    const spec = {
      what: `the config request for ${HttpClient.describeModel(model, version)}`,
      model,
    };
    const raw = await this.json('GET', this.modelPath(model, version, '/config'), spec, opts);
    if (!isObject(raw)) {
      throw new TritonError('PROTOCOL_ERROR', `Config of model '${model}' is not a JSON object`, {
        endpoint: this.endpoint,
        model,
      });
    }
    return normaliseModelConfig(raw);
  }

  async repositoryIndex(opts: CallOptions & { ready?: boolean } = {}): Promise<RepositoryModel[]> {
    const spec: SendSpec = {
      what: 'the repository index request',
      body: Buffer.from(JSON.stringify({ ready: opts.ready === true })),
      headers: { 'Content-Type': 'application/json' },
    };
    const raw = await this.json('POST', '/v2/repository/index', spec, opts);
    // Some proxies re-wrap gRPC replies as {models: [...]}.
    const list = Array.isArray(raw)
      ? raw
      : isObject(raw) && Array.isArray(raw.models)
        ? raw.models
        : undefined;
    if (!list) {
      throw new TritonError('PROTOCOL_ERROR', 'The repository index is not a JSON array', {
        endpoint: this.endpoint,
      });
    }
    return list.map((v: unknown) => {
      const m = isObject(v) ? v : {};
      const out: RepositoryModel = { name: str(m.name), state: str(m.state) };
      if (m.version !== undefined && m.version !== '') out.version = str(m.version);
      if (typeof m.reason === 'string' && m.reason !== '') out.reason = m.reason;
      return out;
    });
  }

  async loadModel(model: string, opts?: CallOptions): Promise<void> {
    const path = `/v2/repository/models/${encodeURIComponent(model)}/load`;
    await this.call('POST', path, { what: `loading model '${model}'`, model }, opts);
  }

  async unloadModel(model: string, opts?: CallOptions): Promise<void> {
    const path = `/v2/repository/models/${encodeURIComponent(model)}/unload`;
    await this.call('POST', path, { what: `unloading model '${model}'`, model }, opts);
  }

  async modelStatistics(
    model?: string,
    version?: string,
    opts?: CallOptions,
  ): Promise<ModelStatistics[]> {
    const path = model ? this.modelPath(model, version, '/stats') : '/v2/models/stats';
    const spec = {
      what: model
        ? `the statistics request for ${HttpClient.describeModel(model, version)}`
        : 'the statistics request',
      ...(model ? { model } : {}),
    };
    const raw = await this.json('GET', path, spec, opts);
    if (!isObject(raw) || !Array.isArray(raw.model_stats)) {
      throw new TritonError('PROTOCOL_ERROR', 'The statistics reply has no model_stats array', {
        endpoint: this.endpoint,
        model,
      });
    }
    return raw.model_stats.map(normaliseStats);
  }

  /**
   * Runs inference. Inputs travel as binary blobs (`Tensor.data`, shape `Tensor.shape`
   * e.g. [1, 3, 640, 640]); outputs come back binary as well, in the server's order.
   */
  async infer(request: InferRequest, opts?: CallOptions): Promise<InferResponse> {
    const model = request.model;
    const spec: SendSpec = {
      what: `infer on ${HttpClient.describeModel(model, request.version)}`,
      model,
    };
    let encoded;
    try {
      encoded = encodeInferRequest(request, { binaryOutputs: true });
    } catch (err) {
      throw this.withContext(err, spec, 'INVALID_ARGUMENT');
    }
    const reply = await this.call(
      'POST',
      this.modelPath(model, request.version, '/infer'),
      // The chunks share the input tensors' memory (no copy): a successful reply means the
      // server read all of it, so the caller may reuse the tensors once this resolves.
      { ...spec, chunks: encoded.chunks, headers: encoded.headers, replyMemory: this.replies },
      opts,
    );
    try {
      // Outputs are views of the pooled body: valid until release() (buffer-pool.ts).
      return attachRelease(
        decodeInferResponse(reply.body, reply.headers),
        this.replies,
        reply.memory,
      );
    } catch (err) {
      throw this.withContext(err, spec, 'PROTOCOL_ERROR');
    }
  }

  private withContext(err: unknown, spec: SendSpec, fallback: TritonErrorCode): TritonError {
    const e = isTritonError(err) ? err : undefined;
    const message = err instanceof Error ? err.message : String(err);
    return new TritonError(
      e?.code ?? fallback,
      `${capitalise(spec.what)} at ${this.endpoint}: ${message}`,
      { endpoint: this.endpoint, model: spec.model, cause: err },
    );
  }

  /** Destroys every socket (idle and in flight); later calls fail with TRITON_UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const req of this.inflight) {
      req.destroy(
        new TritonError(
          'TRITON_UNAVAILABLE',
          `The HTTP client for ${this.endpoint} was closed while a call was in flight`,
          { endpoint: this.endpoint },
        ),
      );
    }
    this.inflight.clear();
    this.agent.destroy();
  }
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
