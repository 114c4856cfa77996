/**
 * Unary gRPC calls on node:http2 directly. For ModelInfer the request is written as the
 * chunks encodeInferRequestFrame() made (tensor memory included, no joined copy), and the
 * reply is read chunk by chunk into InferReplyReader (one copy into pooled memory). grpc-js
 * cannot do either: it serialises a message into one fresh buffer, copies it again to add
 * the frame prefix, and joins the reply's chunks into another (bench/grpc-options.ts
 * measures both). The small RPCs (metadata, config, health, repository) run here too, read
 * by MessageReader: runTask asks for a model's metadata and config with every image it is
 * given without a profile cache, and two grpc-js calls per image left enough long-lived
 * objects to keep V8 in full GCs (issue 11), on a second connection besides.
 *
 * What grpc-js gave is kept: an HTTP/2 connection per client, opened on first use and again
 * after it drops (a large request that finds it busy takes one of its own: see
 * DEFAULT_GRPC_CONNECTIONS); keep-alive pings while calls run; TLS with a CA,
 * client certificate, name override or no verification; metadata; deadlines (sent as
 * grpc-timeout and enforced here); cancellation. Failures come out as a
 * grpc.ServiceError-like status, so GrpcClient maps them in its one place.
 */
import * as http2 from 'node:http2';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { TritonError, isTritonError } from '../protocol/errors';
import { GRPC_FRAME_PREFIX_BYTES, checkInflatedReply } from '../protocol/grpc-codec';
import type { TlsOptions } from '../protocol/types';

const KEEPALIVE_TIME_MS = 30000;
const KEEPALIVE_TIMEOUT_MS = 10000;
/**
 * Our receive window per stream, which we switch between two sizes. Node's HTTP/2 stops
 * reading its socket while one of its own writes is pending, on either end. Against a
 * server built on it (triton-vision-serve), if we let the server send megabytes unread
 * while we upload megabytes, each end's write can wait, half-written, for the other end to
 * read: a deadlock only the deadline ends (the transport bench hung at concurrency 4 with a
 * fixed 16 MiB window). So while any request of ours is uploading, each stream lets the
 * server send at most NARROW_WINDOW_BYTES unread (the kernel's socket buffers always hold
 * that, so the server's writes finish and it goes on reading our upload); the rest of the
 * time, when we only read, WIDE_WINDOW_BYTES, so that a 2.8 MB reply does not wait on ~90
 * window updates, one round trip each (a 4.9 MB request and its reply against the instant
 * stub: 6-8 ms wide, 10-12 ms narrow, 7-9 ms switching as here). When the last call ends
 * the window is narrowed at once, so the next upload seldom waits for the acknowledgement.
 * The size is changed with SETTINGS_INITIAL_WINDOW_SIZE, which applies to streams already
 * open (RFC 9113 6.9.2). With other calls open, an upload starts only once the server has
 * acknowledged the narrow size: everything it sent on the wide grant is then already in our
 * socket (alone on the connection it need not wait: see holdNarrow).
 */
const NARROW_WINDOW_BYTES = 65535;
const WIDE_WINDOW_BYTES = 16 * 1024 * 1024;
/** Connection-level window: wide always; each stream's own window is what bounds it. */
const CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;
/** Requests up to this size are written at once, in either window (they fit any socket buffer). */
const SMALL_REQUEST_BYTES = 16 * 1024;
/**
 * Most connections a channel opens unless told otherwise (RemoteClientOptions.connections).
 * A large request that finds the open connections busy goes on one of its own, as the HTTP
 * client's keep-alive agent opens a socket per request in flight: sharing one, its upload
 * would hold the other calls' replies to the narrow window (and itself wait for the
 * server's acknowledgement); at concurrency 2 the node over gRPC gave 52-64 images/s on one
 * connection and 57-69 on a connection each (HTTP: 51-66; one interleaved run, 3 rounds).
 * Past this many, large requests share the connections as the window rule above allows.
 */
export const DEFAULT_GRPC_CONNECTIONS = 8;

/** A failed call as grpc-js reports one (GrpcClient.toError reads code and details). */
export interface CallStatus extends Error {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

function status(code: grpc.status, details: string, cause?: unknown): CallStatus {
  const err = new Error(`${code} ${grpc.status[code]}: ${details}`, { cause }) as CallStatus;
  err.code = code;
  err.details = details;
  err.metadata = new grpc.Metadata();
  return err;
}

/** HTTP status of a non-gRPC answer → gRPC status, as the gRPC HTTP/2 spec maps them. */
function fromHttpStatus(httpStatus: number): grpc.status {
  switch (httpStatus) {
    case 400:
      return grpc.status.INTERNAL;
    case 401:
      return grpc.status.UNAUTHENTICATED;
    case 403:
      return grpc.status.PERMISSION_DENIED;
    case 404:
      return grpc.status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.UNKNOWN;
  }
}

function decodeGrpcMessage(v: unknown): string {
  const s = Array.isArray(v) ? String(v[0]) : v === undefined ? '' : String(v);
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A deadline as the grpc-timeout header writes it: at most 8 digits and a unit. */
export function grpcTimeout(ms: number): string {
  const units: [string, number][] = [
    ['m', 1],
    ['S', 1000],
    ['M', 60000],
    ['H', 3600000],
  ];
  for (const [unit, per] of units) {
    const n = Math.max(1, Math.ceil(ms / per));
    if (n < 1e8) return `${n}${unit}`;
  }
  return '99999999H';
}

/** What a call's reply is fed into (InferReplyReader, MessageReader). */
export interface ReplyReader {
  /** Takes the next chunk of the body; throws a TritonError past a limit or on nonsense. */
  push(chunk: Buffer): void;
  /** The whole message, when it came compressed (grpc-encoding); inflated by the channel. */
  readonly compressedBody: Buffer | undefined;
  /** Restarts on the inflated message. */
  readInflated(message: Buffer): void;
  /** Gives back memory taken for the reply (after a failure). */
  discard(): void;
}

export interface UnaryCallSpec<R extends ReplyReader> {
  path: string;
  chunks: readonly Buffer[];
  metadata: grpc.Metadata;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  maxMessageBytes: number;
  reader: R;
}

export interface H2ChannelOptions {
  /** "host:port", an IPv6 host in brackets. */
  endpoint: string;
  tls?: TlsOptions | false | undefined;
  /** :authority sent instead of the endpoint (an ingress routing by host name). */
  authority?: string | undefined;
  /** Most connections opened (default DEFAULT_GRPC_CONNECTIONS). */
  connections?: number | undefined;
}

/**
 * Reads the one reply message of a small unary call (anything but ModelInfer) into a
 * Buffer for protobufjs. `maxMessageBytes` is checked against the declared length.
 */
export class MessageReader implements ReplyReader {
  private readonly prefix = Buffer.alloc(GRPC_FRAME_PREFIX_BYTES);
  private prefixHave = 0;
  private chunks: Buffer[] = [];
  /** Message bytes not yet arrived (after the prefix). */
  private left = 0;
  private declared = 0;
  private compressed = false;
  private inflated: Buffer | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.prefixHave < GRPC_FRAME_PREFIX_BYTES) {
        const take = Math.min(GRPC_FRAME_PREFIX_BYTES - this.prefixHave, chunk.length - i);
        chunk.copy(this.prefix, this.prefixHave, i, i + take);
        this.prefixHave += take;
        i += take;
        if (this.prefixHave === GRPC_FRAME_PREFIX_BYTES) this.startMessage();
        continue;
      }
      if (this.left === 0) {
        throw new TritonError(
          'PROTOCOL_ERROR',
          'the server sent more than one message in reply to a unary call',
        );
      }
      const take = Math.min(this.left, chunk.length - i);
      this.chunks.push(chunk.subarray(i, i + take));
      this.left -= take;
      i += take;
    }
  }

  private startMessage(): void {
    const flag = this.prefix[0]!;
    this.declared = this.prefix.readUInt32BE(1);
    if (this.declared > this.maxMessageBytes) {
      throw new TritonError(
        'MESSAGE_TOO_LARGE',
        `the reply declares ${this.declared} bytes, over the limit of ${this.maxMessageBytes} bytes`,
      );
    }
    if (flag > 1) {
      throw new TritonError('PROTOCOL_ERROR', `the reply's frame has an unknown flag ${flag}`);
    }
    this.compressed = flag === 1;
    this.left = this.declared;
  }

  get compressedBody(): Buffer | undefined {
    return this.compressed && !this.inflated ? Buffer.concat(this.chunks) : undefined;
  }

  readInflated(message: Buffer): void {
    checkInflatedReply(message.length, this.maxMessageBytes);
    this.inflated = message;
  }

  /** The message's protobuf bytes; PROTOCOL_ERROR when it did not arrive whole. */
  finish(): Buffer {
    if (this.inflated) return this.inflated;
    if (this.prefixHave < GRPC_FRAME_PREFIX_BYTES) {
      throw new TritonError('PROTOCOL_ERROR', 'the server ended the call without a reply message');
    }
    if (this.left > 0) {
      throw new TritonError(
        'PROTOCOL_ERROR',
        `the reply message ended after ${this.declared - this.left} of ${this.declared} bytes`,
      );
    }
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  discard(): void {
    this.chunks = [];
  }
}

/** Which receive window a connection offers now, and the uploads that hold it narrow. */
interface WindowState {
  wide: boolean;
  /** Waiting for an acknowledgement before widening. */
  widening: boolean;
  uploads: number;
  /** Settles when the server has acknowledged the narrow window we last asked for. */
  narrowing: Promise<void> | undefined;
}

export class H2Channel {
  private session: http2.ClientHttp2Session | undefined;
  private window: WindowState = { wide: false, widening: false, uploads: 0, narrowing: undefined };
  private readonly streams = new Set<http2.ClientHttp2Stream>();
  private keepalive: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly authority: string;
  private readonly url: string;

  /** Where a large request goes while this connection has calls open (see DEFAULT_GRPC_CONNECTIONS). */
  private overflow: H2Channel | undefined;

  /** `ordinal`: this channel's place in the chain of connections, from 1. */
  constructor(
    private readonly options: H2ChannelOptions,
    private readonly ordinal = 1,
  ) {
    this.authority =
      options.authority || (options.tls && options.tls.servername) || options.endpoint;
    this.url = `${options.tls ? 'https' : 'http'}://${options.endpoint}`;
  }

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const t = this.options.tls;
    const connectOptions: http2.SecureClientSessionOptions = {
      settings: { initialWindowSize: NARROW_WINDOW_BYTES, enablePush: false },
      // Large tensors in flight are counted against this (MB); the default 10 would
      // refuse a 4k FP32 request.
      maxSessionMemory: 1024,
    };
    if (t) {
      const pem = (v: string | Buffer | undefined): Buffer | undefined =>
        v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(v);
      const ca = pem(t.ca);
      const cert = pem(t.cert);
      const key = pem(t.key);
      if (ca) connectOptions.ca = ca;
      if (cert) connectOptions.cert = cert;
      if (key) connectOptions.key = key;
      connectOptions.ALPNProtocols = ['h2'];
      if (t.servername) connectOptions.servername = t.servername;
      if (t.verify === false) {
        connectOptions.rejectUnauthorized = false;
        connectOptions.checkServerIdentity = () => undefined;
      }
    }
    const session = http2.connect(this.url, connectOptions);
    session.on('error', () => undefined); // each stream reports its own failure
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.on('close', forget);
    session.on('goaway', forget);
    session.once('connect', () => {
      if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    session.unref();
    this.session = session;
    this.window = { wide: false, widening: false, uploads: 0, narrowing: undefined };
    return session;
  }

  /** Asks the server for the narrow window; `narrowing` settles when it acknowledges. */
  private narrow(session: http2.ClientHttp2Session): void {
    const w = this.window;
    w.wide = false;
    const narrowing = new Promise<void>((resolve) => {
      try {
        session.settings({ initialWindowSize: NARROW_WINDOW_BYTES }, () => resolve());
      } catch {
        resolve(); // a closing session: its streams fail on their own
      }
    });
    w.narrowing = narrowing;
    void narrowing.then(() => {
      if (w.narrowing === narrowing) w.narrowing = undefined;
    });
  }

  /**
   * Holds the receive window narrow for one upload; `ready`, when set, settles when the
   * upload may start. The returned release() opens the window wide again once no upload
   * holds it.
   *
   * An upload `alone` on the connection (every earlier call has ended) need not wait for
   * the server's acknowledgement: no reply is left to flow under the wide grant, and the
   * narrow size reaches the server before this stream's HEADERS, so even a server that
   * answers before reading the request can send only the narrow window. With other calls
   * open, their replies could use the wide grant while we upload: then it waits.
   */
  private holdNarrow(
    session: http2.ClientHttp2Session,
    alone: boolean,
  ): {
    ready: Promise<void> | undefined;
    release: () => void;
  } {
    const w = this.window;
    w.uploads += 1;
    if (w.wide) this.narrow(session);
    let held = true;
    return {
      ready: alone ? undefined : w.narrowing,
      release: () => {
        if (!held) return;
        held = false;
        w.uploads -= 1;
        this.widen(session);
      },
    };
  }

  /**
   * Opens the window wide if no upload holds it narrow. Only with no SETTINGS of ours
   * unacknowledged (else once they are), so that at most two are ever in flight (Node
   * refuses an eleventh) and a narrowing is never overtaken.
   */
  private widen(session: http2.ClientHttp2Session): void {
    const w = this.window;
    if (w.uploads > 0 || w.wide || w.widening || session !== this.session) return;
    if (session.destroyed || session.closed) return;
    if (session.pendingSettingsAck) {
      w.widening = true;
      session.once('localSettings', () => {
        w.widening = false;
        this.widen(session);
      });
      return;
    }
    w.wide = true;
    session.settings({ initialWindowSize: WIDE_WINDOW_BYTES });
  }

  /** Pings while calls run; a connection that does not answer in time is dropped. */
  private updateKeepalive(): void {
    if (this.streams.size > 0) this.session?.ref();
    else this.session?.unref();
    if (this.streams.size > 0 && !this.keepalive) {
      this.keepalive = setInterval(() => {
        const s = this.session;
        if (!s || s.destroyed) return;
        const timer = setTimeout(() => s.destroy(), KEEPALIVE_TIMEOUT_MS);
        timer.unref();
        try {
          s.ping(() => clearTimeout(timer));
        } catch {
          clearTimeout(timer);
        }
      }, KEEPALIVE_TIME_MS);
      this.keepalive.unref();
    } else if (this.streams.size === 0 && this.keepalive) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
  }

  /**
   * One unary call. Resolves with the reader holding the whole reply; rejects with a
   * CallStatus. The request chunks must stay unchanged until it settles.
   */
  unary<R extends ReplyReader>(spec: UnaryCallSpec<R>): Promise<R> {
    let bytes = 0;
    for (const c of spec.chunks) bytes += c.length;
    if (
      bytes > SMALL_REQUEST_BYTES &&
      this.streams.size > 0 &&
      !this.closed &&
      this.ordinal < (this.options.connections ?? DEFAULT_GRPC_CONNECTIONS)
    ) {
      this.overflow ??= new H2Channel(this.options, this.ordinal + 1);
      return this.overflow.unary(spec);
    }
    return new Promise<R>((resolve, reject) => {
      if (this.closed) {
        reject(status(grpc.status.CANCELLED, 'the channel is closed'));
        return;
      }
      let session: http2.ClientHttp2Session;
      let stream: http2.ClientHttp2Stream;
      const headers: http2.OutgoingHttpHeaders = {
        ...spec.metadata.toHttp2Headers(),
        ':method': 'POST',
        ':path': spec.path,
        ':authority': this.authority,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-accept-encoding': 'identity,deflate,gzip',
        'grpc-timeout': grpcTimeout(spec.timeoutMs),
        'user-agent': 'triton-vision-grpc/1',
      };
      let hold: { ready: Promise<void> | undefined; release: () => void } | undefined;
      try {
        session = this.connect();
        // Large uploads hold the narrow receive window (see WIDE_WINDOW_BYTES), asked for
        // before this stream's HEADERS, so that the server has the narrow size before it
        // knows of the stream.
        hold =
          bytes > SMALL_REQUEST_BYTES
            ? this.holdNarrow(session, this.streams.size === 0)
            : undefined;
        stream = session.request(headers, { endStream: false });
      } catch (err) {
        hold?.release();
        reject(status(grpc.status.UNAVAILABLE, (err as Error).message, err));
        return;
      }
      const reader = spec.reader;
      let settled = false;
      let httpStatus = 0;
      let contentType = '';
      let encoding = 'identity';
      let nonGrpcBody = 0;
      let malformed: unknown;
      /** The call's status arrived: a close after it (inflating the reply) is no failure. */
      let statusSeen = false;
      this.streams.add(stream);
      this.updateKeepalive();

      const finish = (err: CallStatus | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
        this.streams.delete(stream);
        this.updateKeepalive();
        hold?.release();
        // Idle again: narrow the window now, so that the next upload need not wait for it.
        if (
          this.streams.size === 0 &&
          this.window.wide &&
          session === this.session &&
          !session.destroyed &&
          !session.closed
        ) {
          this.narrow(session);
        }
        // A call the server has ended (its status came with END_STREAM) and whose request
        // was sent whole closes by itself. Resetting it anyway cost a RST_STREAM per call,
        // and servers count those: Node's (nghttp2's rapid-reset guard) answered the
        // 1000th or so with GOAWAY, failing the call in flight.
        if (!stream.closed && !(statusSeen && stream.writableFinished)) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
        if (err) {
          reader.discard();
          reject(err);
          return;
        }
        resolve(reader);
      };
      const timer = setTimeout(
        () => finish(status(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')),
        spec.timeoutMs,
      );
      const onAbort = (): void => finish(status(grpc.status.CANCELLED, 'Cancelled on client'));
      spec.signal?.addEventListener('abort', onAbort, { once: true });

      const onStatus = (h: http2.IncomingHttpHeaders): void => {
        if (statusSeen || settled) return;
        statusSeen = true;
        const code = Number(h['grpc-status']);
        if (!Number.isInteger(code)) {
          finish(status(grpc.status.UNKNOWN, 'the server ended the call without a grpc-status'));
          return;
        }
        if (code !== grpc.status.OK) {
          finish(status(code, decodeGrpcMessage(h['grpc-message'])));
          return;
        }
        if (malformed) {
          finish(this.readerFailure(malformed));
          return;
        }
        if (encoding !== 'identity' && reader.compressedBody) {
          const body = reader.compressedBody;
          const inflate = encoding === 'gzip' ? zlib.gunzip : zlib.inflate;
          inflate(
            body,
            { maxOutputLength: spec.maxMessageBytes + 1 },
            (zerr: NodeJS.ErrnoException | null, out: Buffer) => {
              if (zerr) {
                finish(
                  zerr.code === 'ERR_BUFFER_TOO_LARGE'
                    ? status(
                        grpc.status.RESOURCE_EXHAUSTED,
                        `Received message larger than max (over ${spec.maxMessageBytes})`,
                      )
                    : status(grpc.status.INTERNAL, `the ${encoding} reply does not inflate`),
                );
                return;
              }
              try {
                reader.readInflated(out);
              } catch (e) {
                finish(this.readerFailure(e));
                return;
              }
              finish(undefined);
            },
          );
          return;
        }
        finish(undefined);
      };

      stream.on('response', (h) => {
        httpStatus = Number(h[':status']);
        contentType = String(h['content-type'] ?? '');
        encoding = String(h['grpc-encoding'] ?? 'identity');
        if (httpStatus !== 200 || !contentType.startsWith('application/grpc')) {
          if (h['grpc-status'] !== undefined) {
            onStatus(h);
            return;
          }
          stream.resume();
          return; // reported at 'end' with the HTTP status
        }
        if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
          finish(
            status(
              grpc.status.UNIMPLEMENTED,
              `the reply is compressed as '${encoding}', which this client cannot read`,
            ),
          );
          return;
        }
        // Trailers-only: the status is in the headers.
        if (h['grpc-status'] !== undefined) onStatus(h);
      });
      const onData = (chunk: Buffer): void => {
        if (settled) return;
        if (httpStatus !== 200 || !contentType.startsWith('application/grpc')) {
          nonGrpcBody += chunk.length;
          return;
        }
        if (malformed) return;
        try {
          reader.push(chunk);
        } catch (e) {
          // Over the size limit: stop at once. Malformed: said only if the call ends
          // well, as grpc-js does (a connection cut mid-message is UNAVAILABLE).
          if (isTritonError(e) && e.code === 'MESSAGE_TOO_LARGE') finish(this.readerFailure(e));
          else malformed = e;
        }
      };
      // Each DATA frame (16 KiB: Node's HTTP/2 never sends larger ones) arrives as one
      // chunk, about 200 per 640 YOLO reply. Through the Readable machinery each costs a
      // process tick and a few objects, which lived long enough to be promoted and made the
      // heap run full GCs (issue 11). Taken where Node hands them to the stream, they cost
      // one call each. 'data' stays as the fallback should a Node version not push.
      const push = stream.push.bind(stream) as (chunk: unknown) => boolean;
      stream.push = (chunk: unknown): boolean => {
        if (!Buffer.isBuffer(chunk)) return push(chunk);
        onData(chunk);
        return true;
      };
      stream.on('data', onData);
      stream.on('trailers', (h) => onStatus(h));
      stream.on('end', () => {
        if (settled) return;
        if (
          httpStatus !== 0 &&
          (httpStatus !== 200 || !contentType.startsWith('application/grpc'))
        ) {
          finish(
            status(
              fromHttpStatus(httpStatus),
              `Received HTTP status code ${httpStatus} (${contentType || 'no content type'}, ${nonGrpcBody} bytes) instead of a gRPC answer`,
            ),
          );
        }
      });
      stream.on('close', () => {
        if (settled || statusSeen) return;
        const rst = stream.rstCode;
        if (rst === http2.constants.NGHTTP2_REFUSED_STREAM) {
          finish(status(grpc.status.UNAVAILABLE, 'the server refused the stream'));
        } else if (
          rst === http2.constants.NGHTTP2_CANCEL &&
          !session.destroyed &&
          !session.closed &&
          !this.closed
        ) {
          finish(status(grpc.status.CANCELLED, 'the server cancelled the call'));
        } else if (rst === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM) {
          finish(status(grpc.status.RESOURCE_EXHAUSTED, 'the server asked to slow down'));
        } else if (this.closed) {
          finish(status(grpc.status.CANCELLED, 'the channel was closed'));
        } else {
          finish(status(grpc.status.UNAVAILABLE, 'Connection dropped before the call ended'));
        }
      });
      stream.on('error', (err: NodeJS.ErrnoException) => {
        if (settled) return;
        const text =
          err.code === 'ERR_HTTP2_ERROR' || /protocol/i.test(err.message)
            ? `Protocol error: ${err.message}`
            : err.message;
        finish(status(grpc.status.UNAVAILABLE, text, err));
      });

      // One writev for the header pieces and every tensor, never joined in memory.
      const write = (): void => {
        if (settled) return;
        stream.cork();
        for (const c of spec.chunks) stream.write(c);
        stream.uncork();
        stream.end();
      };
      if (hold) stream.once('finish', hold.release);
      if (hold?.ready) void hold.ready.then(write);
      else write();
    });
  }

  private readerFailure(e: unknown): CallStatus {
    if (isTritonError(e) && e.code === 'MESSAGE_TOO_LARGE') {
      return status(
        grpc.status.RESOURCE_EXHAUSTED,
        `Received message larger than max: ${e.message}`,
        e,
      );
    }
    return status(grpc.status.INTERNAL, (e as Error).message, e);
  }

  /** Cancels running calls (they fail as CANCELLED) and closes the connections. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.overflow?.close();
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    this.updateKeepalive();
    this.session?.destroy();
    this.session = undefined;
  }
}
