/**
 * Helpers for the fault suite (test/faults): forged image files, a process watch that
 * records anything that would have crashed Node-RED, loopback proxies that misbehave on
 * demand in front of a real server, a TLS terminator with a throw-away CA, and a tiny
 * ONNX model written byte by byte for the layout no fixture has.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as zlib from 'node:zlib';
import type { NodeMessage } from '../../src/nodes/types';
import type { TaskResult } from '../../src/vision/pipeline';
import { helper, isStatus, nextMessage, statusOf } from './flows';

/** A detect (or segment) node's payload, whose detections are always there. */
export type Detected = TaskResult & Required<Pick<TaskResult, 'detections'>>;

// ---- forged images ----------------------------------------------------------------------

/** CRC-32 (IEEE 802.3, as PNG chunks use it). */
export function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const t = Buffer.from(type, 'ascii');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([t, data])));
  return Buffer.concat([len, t, data, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A well-formed 8-bit RGB PNG whose IHDR declares `width`×`height` but whose IDAT holds
 * only `dataBytes` zero bytes (deflated): a decoder that trusted the header would
 * allocate width×height×3 bytes.
 */
export function pngWithHeader(width: number, height: number, dataBytes = 16): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(dataBytes))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * `jpeg` with the frame size in its SOF0/SOF2 segment rewritten to `width`×`height`
 * (the bytes after the marker: length u16, precision u8, height u16, width u16).
 */
export function jpegWithSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i + 9 < out.length;) {
    if (out[i] !== 0xff) throw new Error(`not a JPEG marker at byte ${i}`);
    const marker = out[i + 1]!;
    const len = out.readUInt16BE(i + 2);
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + len;
  }
  throw new Error('no SOF segment in the JPEG');
}

/** Offset of the first byte after the JPEG's SOS header (the entropy-coded data). */
export function jpegScanStart(jpeg: Buffer): number {
  for (let i = 2; i + 4 < jpeg.length;) {
    const marker = jpeg[i + 1]!;
    const len = jpeg.readUInt16BE(i + 2);
    if (marker === 0xda) return i + 2 + len;
    i += 2 + len;
  }
  throw new Error('no SOS segment in the JPEG');
}

// ---- the process watch --------------------------------------------------------------------

/**
 * Records unhandled rejections and uncaught exceptions while installed: in Node-RED
 * either one takes the whole runtime down, so the suite asserts the list stays empty.
 */
export class ProcessWatch {
  readonly problems: string[] = [];
  private readonly onRejection = (reason: unknown): void => {
    this.problems.push(`unhandledRejection: ${describeError(reason)}`);
  };
  private readonly onException = (err: unknown): void => {
    this.problems.push(`uncaughtException: ${describeError(err)}`);
  };

  install(): void {
    process.on('unhandledRejection', this.onRejection);
    process.on('uncaughtExceptionMonitor', this.onException);
  }

  uninstall(): void {
    process.off('unhandledRejection', this.onRejection);
    process.off('uncaughtExceptionMonitor', this.onException);
  }

  assertClean(): void {
    assert.deepEqual(this.problems, [], 'nothing escaped to the process');
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
}

// ---- one failing message, observed -----------------------------------------------------------

export interface CaughtError {
  code: string;
  message: string;
  source: { id: string; type: string };
}

/**
 * Sends `msg` to node `id` (of `type`), and resolves with the error the catch node got
 * once the node also shows the red ring for that code. Listens before sending: a
 * transient failure may move the status on to yellow quickly.
 */
export async function sendExpectingError(
  id: string,
  type: string,
  msg: NodeMessage,
  code: string,
  ms = 20000,
): Promise<CaughtError> {
  const caught = nextMessage('caught', ms);
  const red = statusOf(id, isStatus('red', `${type}.errors.${code}`), ms);
  helper.getNode(id).receive(msg);
  const err = (await caught).error as CaughtError;
  assert.equal(err.code, code, `${err.code}: ${err.message}`);
  assert.equal(err.source.id, id);
  await red;
  return err;
}

/** Sends `msg` and resolves with what the node sent on. */
export async function sendExpectingOutput(
  id: string,
  msg: NodeMessage,
  ms = 20000,
): Promise<NodeMessage> {
  const out = nextMessage('out', ms);
  helper.getNode(id).receive(msg);
  return out;
}

// ---- a proxy in front of a real HTTP server -------------------------------------------------

/**
 * What the HTTP proxy does with inference requests (everything else always passes, so
 * the node deploys and prepares against the real server behind it).
 */
export type HttpFault = 'pass' | 'bad-gateway' | 'not-json' | 'hang' | 'cut';

export interface HttpFaultProxy {
  port: number;
  fault: HttpFault;
  /** Inference requests that reached the proxy. */
  inferRequests: number;
  close(): Promise<void>;
}

const BAD_GATEWAY_PAGE =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n' +
  '<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n' +
  '</body>\r\n</html>\r\n';

export async function startHttpFaultProxy(targetPort: number): Promise<HttpFaultProxy> {
  const sockets = new Set<net.Socket>();
  const state: HttpFaultProxy = {
    port: 0,
    fault: 'pass',
    inferRequests: 0,
    close: () => Promise.resolve(),
  };
  const server = http.createServer((req, res) => {
    const isInfer = req.method === 'POST' && /\/infer$/.test(req.url ?? '');
    const fault = isInfer ? state.fault : 'pass';
    if (isInfer) state.inferRequests++;
    if (fault === 'pass') {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: targetPort,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
      return;
    }
    // Read the request fully first, as a proxy would before answering.
    req.resume();
    req.on('end', () => {
      if (fault === 'bad-gateway') {
        res.writeHead(502, { 'content-type': 'text/html', server: 'nginx/1.24.0' });
        res.end(BAD_GATEWAY_PAGE);
      } else if (fault === 'not-json') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('upstream says hello, this is not JSON\n');
      } else if (fault === 'cut') {
        // Headers and the start of a promised 4096-byte JSON body, then the connection dies.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
        res.write('{"model_name":"yolov8n","outputs":[{"name":"output0","datatype":"FP32",');
        setImmediate(() => res.socket?.destroy());
      }
      // 'hang': never answer.
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}

// ---- a proxy in front of a real gRPC server ---------------------------------------------------

/**
 * What the gRPC proxy does with ModelInfer calls (other calls always pass through).
 * 'oversize' starts a reply whose length prefix declares 300 MiB, over the client's
 * 256 MiB receive limit; 'cut' sends the reply headers and half a message, then
 * drops the connection; 'hang' never answers.
 */
export type GrpcFault = 'pass' | 'oversize' | 'cut' | 'hang';

export interface GrpcFaultProxy {
  port: number;
  fault: GrpcFault;
  inferCalls: number;
  close(): Promise<void>;
}

export async function startGrpcFaultProxy(targetPort: number): Promise<GrpcFaultProxy> {
  const upstream = http2.connect(`http://127.0.0.1:${targetPort}`);
  upstream.on('error', () => undefined);
  const sessions = new Set<http2.ServerHttp2Session>();
  const state: GrpcFaultProxy = {
    port: 0,
    fault: 'pass',
    inferCalls: 0,
    close: () => Promise.resolve(),
  };
  const server = http2.createServer();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const isInfer = /\/ModelInfer$/.test(String(headers[':path']));
    const fault = isInfer ? state.fault : 'pass';
    if (isInfer) state.inferCalls++;
    if (fault === 'pass') {
      const fwd: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) {
        if (k !== ':authority' && k !== ':scheme') fwd[k] = v;
      }
      const up = upstream.request(fwd);
      up.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      up.on('response', (h) => {
        const out: http2.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(h))
          if (!k.startsWith(':') || k === ':status') out[k] = v;
        stream.respond(out, { waitForTrailers: true });
        up.pipe(stream);
      });
      let trailers: http2.OutgoingHttpHeaders = {};
      up.on('trailers', (t) => (trailers = { ...t }));
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.pipe(up);
      return;
    }
    stream.resume();
    if (fault === 'hang') return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    const prefix = Buffer.alloc(5);
    if (fault === 'oversize') {
      prefix.writeUInt32BE(300 * 1024 * 1024, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(1024)]));
    } else {
      // Half a message, then the connection goes away (a server killed mid-reply).
      prefix.writeUInt32BE(4096, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(100)]));
      setImmediate(() => stream.session?.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy();
      upstream.destroy();
      server.close(() => resolve());
    });
  return state;
}

// ---- TLS ------------------------------------------------------------------------------------

export interface TestCa {
  dir: string;
  /** PEM of the CA that signed the server certificate. */
  caPem: string;
  caPath: string;
  certPem: string;
  keyPem: string;
}

/**
 * A throw-away CA and a server certificate it signed for 127.0.0.1 / localhost, made by
 * the system's openssl (EC P-256: fast to generate).
 */
export function makeTestCa(): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-ca-'));
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=triton-vision fault-suite CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(
    path.join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');
  return {
    dir,
    caPem: read('ca.pem'),
    caPath: path.join(dir, 'ca.pem'),
    certPem: read('server.pem'),
    keyPem: read('server.key'),
  };
}

/**
 * A TLS terminator on loopback that forwards the decrypted bytes to `targetPort`: the
 * usual way a Triton behind a gateway gets HTTPS / gRPC over TLS. `alpn` is what it
 * offers ('h2' for gRPC).
 */
export async function startTlsTerminator(
  ca: TestCa,
  targetPort: number,
  alpn: string[],
): Promise<{ port: number; handshakes: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { port: 0, handshakes: 0, close: () => Promise.resolve() };
  const server = tls.createServer(
    { cert: ca.certPem, key: ca.keyPem, ALPNProtocols: alpn },
    (clear) => {
      state.handshakes++;
      const plain = net.connect(targetPort, '127.0.0.1');
      for (const s of [clear, plain]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      clear.pipe(plain).pipe(clear);
      clear.on('close', () => plain.destroy());
      plain.on('close', () => clear.destroy());
    },
  );
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}

// ---- a tiny ONNX model --------------------------------------------------------------------

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 127) {
    bytes.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** A length-delimited protobuf field (wire type 2). */
function lenField(field: number, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
}

/** A varint protobuf field (wire type 0). */
function intField(field: number, value: number): Buffer {
  return Buffer.concat([varint(field << 3), varint(value)]);
}

/** ValueInfoProto of a FLOAT tensor with a fixed shape. */
function floatTensorInfo(name: string, shape: number[]): Buffer {
  const dims = shape.map((d) => lenField(1, intField(1, d)));
  const tensorType = Buffer.concat([intField(1, 1), lenField(2, Buffer.concat(dims))]);
  return Buffer.concat([lenField(1, name), lenField(2, lenField(1, tensorType))]);
}

/**
 * An ONNX model (IR 7, opset 13) that is one Identity node: input `images`
 * FP32 [1, 3, size, size] → output `output0` of the same shape. As a detector its
 * output fits no YOLO layout (a [1, 3, size, size] image, not [1, 4+nc, anchors]).
 */
export function identityOnnx(size: number): Buffer {
  const shape = [1, 3, size, size];
  const node = Buffer.concat([
    lenField(1, 'images'),
    lenField(2, 'output0'),
    lenField(3, 'passthrough'),
    lenField(4, 'Identity'),
  ]);
  const graph = Buffer.concat([
    lenField(1, node),
    lenField(2, 'identity'),
    lenField(11, floatTensorInfo('images', shape)),
    lenField(12, floatTensorInfo('output0', shape)),
  ]);
  return Buffer.concat([
    intField(1, 7),
    lenField(2, 'triton-vision fault suite'),
    lenField(7, graph),
    lenField(8, intField(2, 13)),
  ]);
}

/** Adds model `name` (an identityOnnx file and its config) to the repository at `root`. */
export function addIdentityModel(root: string, name: string, size = 64): void {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, '1'), { recursive: true });
  fs.writeFileSync(path.join(dir, '1', 'model.onnx'), identityOnnx(size));
  fs.writeFileSync(
    path.join(dir, 'config.pbtxt'),
    `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, ${size}, ${size} ] } ]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 1, 3, ${size}, ${size} ] } ]
`,
  );
}

// ---- a server process under attack, observed from outside -----------------------------------

/**
 * A process's resident memory now and at its peak, in bytes, from /proc (Linux); undefined
 * elsewhere, where the suites skip the memory bound.
 */
export function processMemory(pid: number): { rss: number; peak: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number =>
    Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/**
 * Polls `GET /v2/health/live` on loopback every 20 ms until stopped, recording the
 * slowest answer: a server whose event loop is blocked answers late (or never).
 */
export function watchHealth(port: number): { stop(): Promise<{ maxMs: number; polls: number }> } {
  let stopped = false;
  let maxMs = 0;
  let polls = 0;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/health/live' }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) polls++;
          resolve();
        });
      });
      req.on('error', () => resolve());
      req.on('close', () => {
        maxMs = Math.max(maxMs, performance.now() - t0);
      });
    });
  const loop = (async () => {
    while (!stopped) {
      await once();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { maxMs, polls };
    },
  };
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request on loopback, answered in full (no client library in between). */
export function rawRequest(
  port: number,
  method: string,
  urlPath: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        headers: body ? { 'Content-Length': String(body.length), ...headers } : headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A gzip body that inflates to an infer request for `model` whose JSON `data` holds
 * `values` zeros (2 bytes each): a few tens of KB on the wire for hundreds of MB of JSON.
 */
export async function gzipJsonBomb(model: string, values: number): Promise<Buffer> {
  const gz = zlib.createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on('data', (c: Buffer) => parts.push(c));
  const ended = new Promise((r) => gz.on('end', r));
  gz.write(`{"inputs":[{"name":"images","datatype":"FP32","shape":[1,3,640,640],"data":[`);
  const block = Buffer.from('0,'.repeat(1 << 16));
  for (let left = values - 1; left > 0;) {
    const k = Math.min(left, 1 << 16);
    if (!gz.write(k === 1 << 16 ? block : block.subarray(0, 2 * k))) {
      await new Promise((r) => gz.once('drain', r));
    }
    left -= k;
  }
  gz.end(`0]}],"id":"${model}"}`);
  await ended;
  return Buffer.concat(parts);
}

// ---- a KServe server that lies ----------------------------------------------------------------

export interface LyingModel {
  name: string;
  /** Input side the server declares (FP32 [1, 3, side, side]). */
  side: number;
  /** Answers an infer request (default: an output of zeros of the declared shape). */
  infer?: (res: http.ServerResponse) => void;
}

/**
 * A KServe v2 HTTP server that serves one YOLOv8-style detector's metadata and config as
 * given, whatever they claim: an input of any size, an infer answer of any kind. It
 * stands for a misconfigured or hostile server, which our own server cannot be made to
 * be. Every GET that a client needs to deploy is answered; unknown paths get 404.
 */
export async function startLyingServer(
  model: LyingModel,
): Promise<{ port: number; close(): Promise<void> }> {
  const anchors = [8, 16, 32].reduce((n, s) => n + Math.ceil(model.side / s) ** 2, 0);
  const input = { name: 'images', datatype: 'FP32', shape: [1, 3, model.side, model.side] };
  const output = { name: 'output0', datatype: 'FP32', shape: [1, 84, anchors] };
  const metadata = {
    name: model.name,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [input],
    outputs: [output],
  };
  const config = {
    name: model.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: 0,
    input: [{ name: 'images', data_type: 'TYPE_FP32', dims: input.shape }],
    output: [{ name: 'output0', data_type: 'TYPE_FP32', dims: output.shape }],
  };
  const json = (res: http.ServerResponse, status: number, value: unknown): void => {
    const body = Buffer.from(JSON.stringify(value));
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = (req.url ?? '/').replace(/\/+$/, '');
      const base = `/v2/models/${model.name}`;
      if (url === '/v2/health/live' || url === '/v2/health/ready' || url === `${base}/ready`) {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 0 }).end();
      } else if (url === '/v2') {
        json(res, 200, { name: 'liar', version: '0', extensions: ['binary_tensor_data'] });
      } else if (url === base || url === `${base}/versions/1`) {
        json(res, 200, metadata);
      } else if (url === `${base}/config` || url === `${base}/versions/1/config`) {
        json(res, 200, config);
      } else if (url.startsWith(`${base}`) && url.endsWith('/infer') && model.infer) {
        model.infer(res);
      } else {
        json(res, 404, { error: `no ${url} here` });
      }
    });
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---- the test harness's own memory ----------------------------------------------------------

/**
 * The test helper wraps Node.prototype's methods and RED.log in sinon spies that keep every
 * call, with the node it was made on, until unload: a harness leak of ~90 kB per deploy
 * that is not ours. Clearing their history after each deploy leaves only what the
 * runtime and our nodes keep.
 */
export function forgetHarnessCalls(): void {
  const h = helper as unknown as {
    _NodePrototype: Record<string, { resetHistory?: () => void }>;
    log(): { resetHistory(): void };
  };
  for (const m of ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send']) {
    h._NodePrototype[m]?.resetHistory?.();
  }
  h.log().resetHistory();
}
