/**
 * A KServe v2 HTTP/REST frontend on node:http over any InferenceClient backend
 * (in triton-vision-serve: the in-process onnxruntime LocalClient). It speaks the
 * subset of Triton's HTTP API our clients and the official tritonclient use:
 * health, metadata, config, infer (JSON and binary tensors, raw binary requests,
 * gzip/deflate bodies both ways), statistics and the repository extension.
 *
 * Status codes follow Triton 2.51 (test/triton/NOTES.md): health/ready answer 200
 * with an empty `text/plain` body, and a model that is not ready 400 with a JSON
 * error; errors answer httpStatusForCode(err.code) with `{"error": "..."}`; a known
 * path with the wrong method answers 405 `{"error":"Method Not Allowed"}`; an
 * unknown path, or a version that is not a number, answers 404. Where we still
 * differ from Triton on purpose is listed in NOTES.md under "Differences from
 * triton-vision-serve".
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { TritonError, httpStatusForCode, isTritonError } from '../protocol/errors';
import {
  decodeInferRequest,
  encodeErrorBody,
  encodeInferResponse,
  isRawBinaryRequest,
  BodyCollector,
  INFERENCE_HEADER,
  wantsBinary,
  type BinaryOutputChoice,
} from '../protocol/http-codec';
import type { InferResponse, InferenceClient } from '../protocol/types';
import { checkBearer, modelControlRefused, type ModelControlMode } from './access';
import { BodyPool, MIN_POOLED_BYTES, PooledBody } from './body-pool';
import { JsonWorker } from './json-worker';
import {
  DEFAULT_MAX_INFLATE_RATIO,
  DEFAULT_MAX_INFLIGHT,
  InflightGate,
  JSON_BYTES_PER_VALUE,
  WORKER_JSON_BYTES,
  bodyTooLarge,
  inferBodyBound,
  serverBusy,
} from './request-limits';

/**
 * Our exact error code beside the KServe status: several codes share one status
 * (MODEL_NOT_READY and TRITON_UNAVAILABLE are both 503), and our client reads this
 * header to give back the code the backend raised. Other clients ignore it.
 */
export const ERROR_CODE_HEADER = 'X-Triton-Vision-Error-Code';

export interface HttpFrontendOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on; 0 picks a free one (default 8000). */
  port?: number;
  /** Largest request body in bytes, before and after decompression (default 256 MiB). */
  maxBodyBytes?: number;
  /** How far a compressed body may expand, decompressed ÷ compressed (default 100). */
  maxInflateRatio?: number;
  /**
   * Requests other than health checks in progress at once; past it a request is answered
   * 503 at once (default 64).
   */
  maxInflight?: number;
  /**
   * `none` (default, as Triton): load and unload through the repository API are refused;
   * `explicit`: allowed.
   */
  modelControl?: ModelControlMode;
  /** When set, every request must carry `Authorization: Bearer <authToken>` (else 401). */
  authToken?: string;
}

export interface HttpFrontend {
  /** The port actually listened on (useful with port 0). */
  port: number;
  /** Stops listening and closes every connection, idle or not. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;
/** Declared bodies up to this size go into pooled memory; larger ones are gathered as they arrive. */
const MAX_POOLED_BODY_BYTES = 64 * 1024 * 1024;
/** Below this, compressing a reply costs more than it saves. */
const MIN_COMPRESS_BYTES = 1024;

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer;
  /** The body in pieces (tensor bytes shared, not copied); sent as they are when uncompressed. */
  chunks?: Buffer[];
}

interface Route {
  method: 'GET' | 'POST';
  run: (ctx: RequestContext) => Promise<Answer>;
}

/** A tighter bound than the server's message limit for one request's body. */
interface BodyLimit {
  bytes: number;
  model: string;
}

interface RequestContext {
  req: http.IncomingMessage;
  signal: AbortSignal;
  /**
   * The request body, read (and decompressed) on first call; a body over `limit` (or the
   * server's message limit) is drained unread and refused.
   */
  body(limit?: BodyLimit): Promise<Buffer>;
}

/** Statuses chosen by the frontend itself (not from an error code), e.g. 405, 413, 415. */
const explicitStatus = new WeakMap<TritonError, number>();
/** Headers that go with such an answer (Allow for 405). */
const extraHeaders = new WeakMap<TritonError, Record<string, string>>();

function httpError(
  code: TritonError['code'],
  message: string,
  status?: number,
  headers?: Record<string, string>,
): TritonError {
  const err = new TritonError(code, message);
  if (status !== undefined) explicitStatus.set(err, status);
  if (headers) extraHeaders.set(err, headers);
  return err;
}

function json(value: unknown, status = 200): Answer {
  return {
    status,
    headers: { 'Content-Type': 'application/json' },
    body: Buffer.from(JSON.stringify(value), 'utf8'),
  };
}

/** Triton sends its empty health answers as text/plain; clients that check the type see the same. */
const empty = (status: number): Answer => ({
  status,
  headers: { 'Content-Type': 'text/plain' },
});

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional JSON object body (repository endpoints): empty means `{}`. */
function parseOptionalJson(body: Buffer, what: string): Record<string, unknown> {
  if (body.length === 0 || body.toString('utf8').trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw httpError(
      'INVALID_ARGUMENT',
      `The ${what} body is not valid JSON (${(err as Error).message})`,
    );
  }
  if (!isObject(v)) throw httpError('INVALID_ARGUMENT', `The ${what} body is not a JSON object`);
  return v;
}

// ---- body reading and compression ---------------------------------------------------------

/**
 * Reads the whole body. Past the limit it keeps draining without storing, then
 * answers 413: replying before the client has finished sending would make many
 * clients see a reset instead of our JSON error.
 */
function readBody(
  req: http.IncomingMessage,
  maxBytes: number,
  tooLargeError: (bytes: number) => TritonError,
  pool: BodyPool,
  onRelease: (release: () => void) => void,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let total = 0;
    const declared = Number(req.headers['content-length']);
    let tooLarge = declared > maxBytes;
    const alignAt = Number(req.headers[INFERENCE_HEADER] ?? NaN);
    // A body of declared size goes into reused memory (binary inputs aligned for in-place
    // views); it is given back when the answer has gone (see handle()).
    let pooled =
      !tooLarge &&
      !req.headers['content-encoding'] &&
      Number.isSafeInteger(declared) &&
      declared >= MIN_POOLED_BYTES &&
      declared <= MAX_POOLED_BODY_BYTES
        ? new PooledBody(pool, declared, alignAt)
        : undefined;
    if (pooled) onRelease(() => pooled?.release());
    let collected: BodyCollector | undefined = pooled
      ? undefined
      : new BodyCollector(
          tooLarge || req.headers['content-encoding'] ? undefined : declared,
          alignAt,
        );
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) tooLarge = true;
      if (tooLarge) return;
      if (pooled && !pooled.push(chunk)) {
        // More than declared: carry on in ordinary memory with what came so far.
        collected = new BodyCollector(undefined, alignAt);
        collected.push(Buffer.from(pooled.taken()));
        pooled.release();
        pooled = undefined;
      }
      if (!pooled) collected!.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) {
        reject(tooLargeError(total));
      } else {
        resolve(pooled ? pooled.taken() : collected!.finish());
      }
    });
    const gone = (why: string): void =>
      reject(httpError('CANCELLED', `The client went away while sending the body (${why})`, 499));
    req.on('error', (err) => gone(err.message));
    req.on('close', () => {
      if (!req.complete) gone('connection closed');
    });
  });
}

type ZlibFn = (
  buf: Buffer,
  opts: zlib.ZlibOptions | zlib.BrotliOptions,
  cb: (err: Error | null, out: Buffer) => void,
) => void;

function zlibRun(
  fn: ZlibFn,
  buf: Buffer,
  opts: zlib.ZlibOptions | zlib.BrotliOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    fn(buf, opts, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

const DECODERS: Record<string, ZlibFn> = {
  gzip: zlib.gunzip as ZlibFn,
  'x-gzip': zlib.gunzip as ZlibFn,
  deflate: zlib.inflate as ZlibFn,
  br: zlib.brotliDecompress as ZlibFn,
};

/** Reads and discards a body (a request refused before it was read), then resolves. */
function drainBody(req: http.IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) {
      resolve();
      return;
    }
    req.on('data', () => undefined);
    req.once('end', () => resolve());
    req.once('close', () => resolve());
    req.once('error', () => resolve());
  });
}

async function decodeContent(
  body: Buffer,
  encoding: string | undefined,
  maxBytes: number,
  maxRatio: number,
  tooLargeError: (bytes: number | undefined) => TritonError,
): Promise<Buffer> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '' || body.length === 0) return body;
  const fn = DECODERS[enc];
  if (!fn) {
    throw httpError(
      'INVALID_ARGUMENT',
      `Content-Encoding '${enc}' is not supported: send the body plain, gzip or deflate`,
      415,
    );
  }
  // The ratio cap bites first for a bomb: a few KB may not buy hundreds of MB of work.
  const byRatio = Math.max(64 * 1024, Math.ceil(body.length * maxRatio));
  try {
    return await zlibRun(fn, body, { maxOutputLength: Math.min(maxBytes, byRatio) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      if (byRatio < maxBytes) throw bodyTooLarge(body.length, maxRatio, 'inflate');
      throw tooLargeError(undefined);
    }
    throw httpError(
      'INVALID_ARGUMENT',
      `The request body is marked Content-Encoding: ${enc} but does not decompress (${(err as Error).message})`,
    );
  }
}

/** The encoding to answer with, from Accept-Encoding (gzip preferred, q=0 honoured). */
function pickEncoding(accept: string | undefined): 'gzip' | 'deflate' | undefined {
  if (!accept) return undefined;
  const offered = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    offered.set(name!.trim(), q ? Number(q.slice(2)) : 1);
  }
  const ok = (n: string): boolean => (offered.get(n) ?? offered.get('*') ?? 0) > 0;
  if (ok('gzip')) return 'gzip';
  if (ok('deflate')) return 'deflate';
  return undefined;
}

// ---- routing --------------------------------------------------------------------------

function decodeSegments(pathname: string): string[] {
  const trimmed = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  try {
    return trimmed.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw httpError('INVALID_ARGUMENT', `The path '${pathname}' is not valid percent-encoding`);
  }
}

/** The byte length of the JSON part, from Inference-Header-Content-Length (undefined: all of it, or unreadable). */
function jsonPartLength(req: http.IncomingMessage, bodyLength: number): number {
  const raw = req.headers[INFERENCE_HEADER];
  if (raw === undefined) return bodyLength;
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  return Number.isSafeInteger(n) && n >= 0 && n <= bodyLength ? n : 0;
}

/**
 * Decodes an infer request. A large JSON part (tensors as JSON `data`) is parsed on the
 * worker thread, which hands back a small header and the tensors' bytes; anything else
 * goes straight to the shared codec. Whatever the codec throws that is not one of our
 * errors (a value BigInt cannot take, nesting past the stack) is the client's mistake:
 * INVALID_ARGUMENT, never a 500.
 */
async function decodeRequest(
  body: Buffer,
  req: http.IncomingMessage,
  target: Parameters<typeof decodeInferRequest>[2],
  worker: JsonWorker,
): Promise<ReturnType<typeof decodeInferRequest>> {
  const jsonLength = target.rawInput ? 0 : jsonPartLength(req, body.length);
  if (jsonLength >= WORKER_JSON_BYTES) {
    const converted = await worker.convert(body.subarray(0, jsonLength));
    // Reassemble header + blobs in input order, the converted ones beside the original binary ones.
    const original = body.subarray(jsonLength);
    const chunks: Uint8Array[] = [converted.header];
    let offset = 0;
    for (const part of converted.parts) {
      if (part.kind === 'converted') chunks.push(part.bytes);
      else if (part.kind === 'binary' && typeof part.size === 'number' && part.size >= 0) {
        chunks.push(original.subarray(offset, offset + part.size));
        offset += part.size;
      }
    }
    if (offset < original.length) chunks.push(original.subarray(offset));
    const collector = new BodyCollector(
      chunks.reduce((n, c) => n + c.byteLength, 0),
      converted.header.byteLength,
    );
    for (const c of chunks) collector.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    return decodeWith(
      collector.finish(),
      { [INFERENCE_HEADER]: String(converted.header.byteLength) },
      target,
    );
  }
  return decodeWith(body, req.headers, target);
}

function decodeWith(
  body: Buffer,
  headers: http.IncomingHttpHeaders,
  target: Parameters<typeof decodeInferRequest>[2],
): ReturnType<typeof decodeInferRequest> {
  try {
    return decodeInferRequest(body, headers, target);
  } catch (err) {
    if (isTritonError(err)) throw err;
    const why = err instanceof Error ? err.message : String(err);
    if (err instanceof RangeError && /call stack/i.test(why)) {
      throw httpError(
        'INVALID_ARGUMENT',
        `The infer request's tensor data is nested too deeply: nest it as its shape says, or send it flat`,
      );
    }
    throw httpError(
      'INVALID_ARGUMENT',
      `The infer request's tensor values cannot be read (${why}): send numbers that fit each input's datatype (whole numbers for INT and UINT types)`,
    );
  }
}

/**
 * Encodes an infer response. Outputs asked for as JSON that hold many values are
 * written out on the worker thread (the shared codec makes the header, the worker
 * puts the values in); small ones, and FP16 (which the codec refuses as JSON), here.
 */
async function encodeResponse(
  response: InferResponse,
  choice: BinaryOutputChoice,
  worker: JsonWorker,
): Promise<Answer> {
  const asJson = response.outputs.map((t) => !wantsBinary(choice, t.name));
  let values = 0;
  response.outputs.forEach((t, i) => {
    if (asJson[i]) values += t.data.length;
  });
  const fp16 = response.outputs.some((t, i) => asJson[i] && t.datatype === 'FP16');
  if (values * JSON_BYTES_PER_VALUE < WORKER_JSON_BYTES || fp16) {
    const enc = encodeInferResponse(response, choice);
    return { status: 200, headers: enc.headers, chunks: enc.chunks };
  }
  const binary = encodeInferResponse(response, true);
  const [head, ...blobs] = binary.chunks;
  const out = await worker.encode(head!, blobs, asJson);
  const header = Buffer.from(out.header.buffer, out.header.byteOffset, out.header.byteLength);
  const kept = out.keep.map((i) => blobs[i]!);
  let length = header.length;
  for (const b of kept) length += b.length;
  const headers: Record<string, string> = { 'Content-Length': String(length) };
  if (kept.length > 0) {
    headers['Content-Type'] = 'application/octet-stream';
    headers['Inference-Header-Content-Length'] = String(header.length);
  } else {
    headers['Content-Type'] = 'application/json';
  }
  return { status: 200, headers, chunks: [header, ...kept] };
}

function buildRoutes(
  backend: InferenceClient,
  worker: JsonWorker,
  modelControl: ModelControlMode,
): (segs: string[]) => Route | undefined {
  const modelReady = async (
    model: string,
    version: string | undefined,
    signal: AbortSignal,
  ): Promise<Answer> => {
    const notReady = (): Answer =>
      json(
        {
          error: `Model '${model}'${version ? ` version ${version}` : ''} is not ready: check the name, or load the model`,
        },
        400,
      );
    try {
      return (await backend.modelReady(model, version, { signal })) ? empty(200) : notReady();
    } catch (err) {
      // Triton answers "not ready" (400) for a model it does not know, too.
      if (isTritonError(err) && (err.code === 'NOT_FOUND' || err.code === 'MODEL_NOT_READY')) {
        return notReady();
      }
      throw err;
    }
  };

  const infer = async (ctx: RequestContext, model: string, version?: string): Promise<Answer> => {
    // Before reading a byte: what could this model's inputs need? (An unknown model fails here.)
    // A model whose config cannot be read gets only the message limit; infer says what is wrong.
    const config = await backend
      .modelConfig(model, version, { signal: ctx.signal })
      .catch(() => undefined);
    const body = await ctx.body(config ? { bytes: inferBodyBound(config), model } : undefined);
    let rawInput;
    if (isRawBinaryRequest(ctx.req.headers)) {
      const md = await backend.modelMetadata(model, version, { signal: ctx.signal });
      if (md.inputs.length !== 1) {
        throw httpError(
          'INVALID_ARGUMENT',
          `A raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one input, but '${model}' has ${md.inputs.length}: send a JSON header naming each input`,
        );
      }
      rawInput = md.inputs[0];
    }
    const decoded = await decodeRequest(
      body,
      ctx.req,
      { model, ...(version ? { version } : {}), ...(rawInput ? { rawInput } : {}) },
      worker,
    );
    const { binaryOutputs, ...request } = decoded;
    const response = await backend.infer(request, { signal: ctx.signal });
    return encodeResponse(response, binaryOutputs, worker);
  };

  const modelRoutes = (segs: string[]): Route | undefined => {
    // segs: [model] [versions v] [ready|config|infer|stats]
    const model = segs[0]!;
    let rest = segs.slice(1);
    let version: string | undefined;
    if (rest[0] === 'versions') {
      // Triton's versions are numbers; anything else is an unknown path there (404).
      if (rest.length < 2 || !/^\d+$/.test(rest[1]!)) return undefined;
      version = rest[1];
      rest = rest.slice(2);
    }
    if (model === '' || rest.length > 1) return undefined;
    switch (rest[0]) {
      case undefined:
        return {
          method: 'GET',
          run: async (ctx) =>
            json(await backend.modelMetadata(model, version, { signal: ctx.signal })),
        };
      case 'ready':
        return { method: 'GET', run: (ctx) => modelReady(model, version, ctx.signal) };
      case 'config':
        return {
          method: 'GET',
          run: async (ctx) =>
            json(await backend.modelConfig(model, version, { signal: ctx.signal })),
        };
      case 'stats':
        return {
          method: 'GET',
          run: async (ctx) =>
            json({
              model_stats: await backend.modelStatistics(model, version, { signal: ctx.signal }),
            }),
        };
      case 'infer':
        return { method: 'POST', run: (ctx) => infer(ctx, model, version) };
      default:
        return undefined;
    }
  };

  const health = (live: boolean): Route => ({
    method: 'GET',
    run: async (ctx) => {
      const ok = live
        ? await backend.serverLive({ signal: ctx.signal })
        : await backend.serverReady({ signal: ctx.signal });
      return empty(ok ? 200 : 400);
    },
  });

  const repositoryControl = (model: string, action: 'load' | 'unload'): Route => ({
    method: 'POST',
    run: async (ctx) => {
      const body = parseOptionalJson(await ctx.body(), `${action} request`);
      const params = isObject(body.parameters) ? body.parameters : {};
      if (
        action === 'load' &&
        Object.keys(params).some((k) => k === 'config' || k.startsWith('file:'))
      ) {
        throw httpError(
          'UNSUPPORTED',
          `Loading '${model}' with an override config or uploaded files is not supported by this server: change the model repository on disk and load the model by name`,
        );
      }
      if (modelControl !== 'explicit') throw modelControlRefused();
      if (action === 'load') await backend.loadModel(model, { signal: ctx.signal });
      else await backend.unloadModel(model, { signal: ctx.signal });
      // Triton's answer: 200, an empty body labelled JSON.
      return { status: 200, headers: { 'Content-Type': 'application/json' } };
    },
  });

  return (segs) => {
    if (segs[0] !== 'v2') return undefined;
    const s = segs.slice(1);
    if (s.length === 0) {
      return {
        method: 'GET',
        run: async (ctx) => {
          const md = await backend.serverMetadata({ signal: ctx.signal });
          // The binary tensor extension is this frontend's, whatever the backend lists.
          const extensions = md.extensions.includes('binary_tensor_data')
            ? md.extensions
            : [...md.extensions, 'binary_tensor_data'];
          return json({ ...md, extensions });
        },
      };
    }
    if (s[0] === 'health' && s.length === 2 && (s[1] === 'live' || s[1] === 'ready')) {
      return health(s[1] === 'live');
    }
    if (s[0] === 'models') {
      if (s.length === 2 && s[1] === 'stats') {
        return {
          method: 'GET',
          run: async (ctx) =>
            json({
              model_stats: await backend.modelStatistics(undefined, undefined, {
                signal: ctx.signal,
              }),
            }),
        };
      }
      if (s.length >= 2) return modelRoutes(s.slice(1));
      return undefined;
    }
    if (s[0] === 'repository') {
      if (s.length === 2 && s[1] === 'index') {
        return {
          method: 'POST',
          run: async (ctx) => {
            const body = parseOptionalJson(await ctx.body(), 'repository index request');
            if (body.ready !== undefined && typeof body.ready !== 'boolean') {
              throw httpError(
                'INVALID_ARGUMENT',
                `'ready' in the repository index request must be true or false`,
              );
            }
            return json(
              await backend.repositoryIndex({ ready: body.ready === true, signal: ctx.signal }),
            );
          },
        };
      }
      if (
        s.length === 4 &&
        s[1] === 'models' &&
        (s[3] === 'load' || s[3] === 'unload') &&
        s[2] !== ''
      ) {
        return repositoryControl(s[2]!, s[3]);
      }
      return undefined;
    }
    if (s[0] === 'systemsharedmemory' || s[0] === 'cudasharedmemory') {
      const unsupported = async (): Promise<Answer> => {
        throw httpError(
          'UNSUPPORTED',
          'Shared memory is not supported by this server: send tensors in the request body',
        );
      };
      return { method: s[s.length - 1] === 'status' ? 'GET' : 'POST', run: unsupported };
    }
    return undefined;
  };
}

// ---- the server ---------------------------------------------------------------------------

/**
 * Starts the HTTP frontend. Resolves once listening; rejects with INVALID_CONFIG
 * when the address cannot be bound (e.g. the port is taken).
 */
export function startHttpFrontend(
  backend: InferenceClient,
  opts: HttpFrontendOptions = {},
): Promise<HttpFrontend> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 8000;
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxRatio = opts.maxInflateRatio ?? DEFAULT_MAX_INFLATE_RATIO;
  const gate = new InflightGate(opts.maxInflight ?? DEFAULT_MAX_INFLIGHT);
  const worker = new JsonWorker();
  const pool = new BodyPool();
  const route = buildRoutes(backend, worker, opts.modelControl ?? 'none');
  const token = opts.authToken;

  const respond = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    answer: Answer,
  ): Promise<void> => {
    if (res.destroyed || res.headersSent) return;
    const headers: Record<string, string> = { ...(answer.headers ?? {}) };
    let chunks = answer.chunks ?? (answer.body ? [answer.body] : []);
    let length = 0;
    for (const c of chunks) length += c.length;
    const encoding = pickEncoding(req.headers['accept-encoding']);
    if (encoding && length >= MIN_COMPRESS_BYTES) {
      // Tensor data barely compresses: the fastest level keeps the CPU cost small.
      const fn = (encoding === 'gzip' ? zlib.gzip : zlib.deflate) as ZlibFn;
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      const body = await zlibRun(fn, whole, { level: zlib.constants.Z_BEST_SPEED });
      chunks = [body];
      length = body.length;
      headers['Content-Encoding'] = encoding;
      headers['Vary'] = 'Accept-Encoding';
    }
    headers['Content-Length'] = String(length);
    if (res.destroyed) return;
    res.writeHead(answer.status, headers);
    // One writev for the header and every tensor, without joining them first.
    res.cork();
    for (const c of chunks) res.write(c);
    res.end();
  };

  const fail = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    err: unknown,
  ): Promise<void> => {
    const e = isTritonError(err)
      ? err
      : new TritonError(
          'INTERNAL',
          `Internal server error: ${err instanceof Error ? err.message : String(err)}`,
        );
    const status = explicitStatus.get(e) ?? httpStatusForCode(e.code);
    return respond(req, res, {
      status,
      headers: {
        'Content-Type': 'application/json',
        [ERROR_CODE_HEADER]: e.code,
        ...(extraHeaders.get(e) ?? {}),
      },
      body: encodeErrorBody(e.message),
    });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const abort = new AbortController();
    const releases: (() => void)[] = [];
    // The client hung up (or its deadline passed): stop the backend work for it. Either
    // way the answer is gone, so the request's pooled memory may be reused.
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
      for (const r of releases.splice(0)) r();
    });
    let bodyPromise: Promise<Buffer> | undefined;
    const ctx: RequestContext = {
      req,
      signal: abort.signal,
      body: (limit) => {
        if (bodyPromise) return bodyPromise;
        const bytes = Math.min(maxBodyBytes, limit?.bytes ?? Infinity);
        const tooLarge = (n: number | undefined): TritonError =>
          bytes < maxBodyBytes
            ? bodyTooLarge(n, bytes, 'model', limit?.model)
            : bodyTooLarge(n, maxBodyBytes, 'message');
        bodyPromise = readBody(req, bytes, tooLarge, pool, (r) => releases.push(r)).then((raw) =>
          decodeContent(raw, req.headers['content-encoding'], bytes, maxRatio, tooLarge),
        );
        return bodyPromise;
      },
    };
    let release: (() => void) | undefined;
    try {
      if (token !== undefined) {
        const denied = checkBearer(req.headers.authorization, token);
        if (denied) throw denied;
      }
      const url = new URL(req.url ?? '/', 'http://frontend');
      const r = route(decodeSegments(url.pathname));
      if (!r) {
        throw httpError(
          'NOT_FOUND',
          `No KServe v2 endpoint at ${req.method ?? 'GET'} ${url.pathname}: see /v2/health/ready, /v2/models/<name>, /v2/models/<name>/infer`,
          404,
        );
      }
      if (req.method !== r.method) {
        throw httpError('INVALID_ARGUMENT', 'Method Not Allowed', 405, { Allow: r.method });
      }
      // Health checks always answer; everything else waits its turn in a bounded room.
      if (r.method === 'POST') {
        release = gate.enter();
        if (!release) throw serverBusy(gate.limit);
      }
      await respond(req, res, await r.run(ctx));
    } catch (err) {
      // A body that is still arriving must be drained, unread, before we answer (see readBody).
      if (bodyPromise === undefined && !req.readableEnded) await drainBody(req);
      await fail(req, res, err);
    } finally {
      release?.();
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      // Writing the answer itself failed (the socket is gone): nothing left to tell anyone.
      res.destroy();
    });
  });

  return new Promise<HttpFrontend>((resolve, reject) => {
    const onListenError = (err: NodeJS.ErrnoException): void => {
      reject(
        new TritonError(
          'INVALID_CONFIG',
          `Cannot listen for HTTP on ${host}:${port} (${err.code ?? err.message}): ${
            err.code === 'EADDRINUSE'
              ? 'the port is taken; pick another port or stop the other server'
              : 'check the host address and port'
          }`,
          { cause: err },
        ),
      );
    };
    server.once('error', onListenError);
    server.listen({ host, port }, () => {
      server.off('error', onListenError);
      // Errors after start (rare: e.g. EMFILE on accept) must not crash the process.
      server.on('error', () => undefined);
      let closing: Promise<void> | undefined;
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }).then(() => worker.close());
          return closing;
        },
      });
    });
  });
}
