/**
 * The gRPC frontend on node:http2 (src/server/grpc-frontend.ts), against real clients:
 * grpc-js (the generic client over our proto, as any grpc-js user calls Triton), our own
 * GrpcClient, and plain node:http2 where a header must be set by hand. The backend is
 * the real LocalClient on fixture models; where a test needs a call that runs until it
 * is stopped (deadlines, cancellation, close), only infer() is replaced by one that
 * waits for its abort signal.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { GrpcClient } from '../src/client/grpc';
import { LocalClient } from '../src/client/local';
import { loadKserveProto } from '../src/protocol/grpc-codec';
import type {
  CallOptions,
  InferRequest,
  InferResponse,
  InferenceClient,
  Tensor,
} from '../src/protocol/types';
import { encodeGrpcMessage, startGrpcFrontend } from '../src/server/grpc-frontend';
import { FIXTURE_REPOSITORY, buildFixtureRepository, fixtureModel } from './support/fixtures';
import { releaseOnnxSessions, runOnnx, sameBits, seededValues } from './support/ort';
import { TLS_SERVER_NAME, makeSelfSignedCert } from './support/tls';

const SERVICE = '/inference.GRPCInferenceService/';
const methods = () => loadKserveProto().service;

/** A grpc-js client for our proto: every RPC as a plain method taking a callback. */
function grpcJsClient(
  port: number,
  options: grpc.ChannelOptions = {},
  creds?: grpc.ChannelCredentials,
) {
  const Ctor = grpc.makeGenericClientConstructor(methods(), 'GRPCInferenceService');
  const client = new Ctor(
    `127.0.0.1:${port}`,
    creds ?? grpc.credentials.createInsecure(),
    options,
  ) as unknown as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const call = <T>(
    method: string,
    request: object,
    meta = new grpc.Metadata(),
    deadlineMs = 20000,
  ) =>
    new Promise<T>((resolve, reject) =>
      client[method]!(
        request,
        meta,
        { deadline: Date.now() + deadlineMs },
        (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)),
      ),
    );
  return { client, call };
}

/** Waits until `fn` is true (polled), or gives up after a while. */
async function eventually(fn: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 20));
  return fn();
}

/** The real backend with infer() replaced: it answers only when told, or when aborted. */
function heldBackend(real: InferenceClient) {
  const signals: AbortSignal[] = [];
  const timeouts: (number | undefined)[] = [];
  let answer: ((req: InferRequest) => InferResponse) | undefined;
  const waiting: (() => void)[] = [];
  const infer = (req: InferRequest, opts?: CallOptions): Promise<InferResponse> => {
    signals.push(opts!.signal!);
    timeouts.push(opts?.timeoutMs);
    if (answer) return Promise.resolve(answer(req));
    return new Promise((resolve, reject) => {
      opts!.signal!.addEventListener('abort', () =>
        reject(Object.assign(new Error('aborted'), { code: 'CANCELLED' })),
      );
      waiting.push(() =>
        resolve({
          model: req.model,
          version: '1',
          outputs: [{ name: 'out', datatype: 'FP32', shape: [2], data: new Float32Array([1, 2]) }],
        }),
      );
    });
  };
  const backend = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'infer') return infer;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as InferenceClient;
  return {
    backend,
    signals,
    timeouts,
    release: () => waiting.splice(0).forEach((f) => f()),
    answerWith: (f: (req: InferRequest) => InferResponse) => (answer = f),
  };
}

/** One unary call by hand over node:http2: returns the headers, the body and the trailers. */
function rawCall(
  port: number,
  method: string,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': `${SERVICE}${method}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      session.close();
      resolve({ headers: head, trailers, body: Buffer.concat(chunks) });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function framed(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** grpc-status and grpc-message, from the trailers or a trailers-only answer. */
const statusOf = (r: {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
}) => {
  const h = r.trailers['grpc-status'] !== undefined ? r.trailers : r.headers;
  return {
    code: Number(h['grpc-status']),
    message: decodeURIComponent(String(h['grpc-message'] ?? '')),
  };
};

describe('triton-vision-serve gRPC frontend on node:http2', function () {
  this.timeout(60000);
  const repo = buildFixtureRepository(
    FIXTURE_REPOSITORY.filter((m) => ['mobilenetv2'].includes(m.name)),
  );
  let real: LocalClient;
  const input: Tensor = {
    name: 'input',
    datatype: 'FP32',
    shape: [1, 3, 224, 224],
    data: seededValues(3 * 224 * 224, 5),
  };
  let expected: Float32Array;

  before(async () => {
    real = new LocalClient({ modelRepository: repo, load: 'all' });
    const ref = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [input]);
    expected = Object.values(ref)[0]!.data as Float32Array;
  });
  after(async () => {
    await real?.close();
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('a grpc-js client gets every RPC answered, ModelInfer too (plain and gzip-compressed)', async () => {
    const fe = await startGrpcFrontend(real, { port: 0 });
    const plain = grpcJsClient(fe.port);
    const gzip = grpcJsClient(fe.port, { 'grpc.default_compression_algorithm': 2 });
    try {
      const { call } = plain;
      assert.deepEqual(await call('ServerLive', {}), { live: true });
      assert.deepEqual(await call('ServerReady', {}), { ready: true });
      assert.deepEqual(await call('ModelReady', { name: 'mobilenetv2' }), { ready: true });
      assert.deepEqual(await call('ModelReady', { name: 'nope' }), { ready: false });
      const meta = await call<{ name: string; extensions: string[] }>('ServerMetadata', {});
      assert.equal(typeof meta.name, 'string');
      const md = await call<{ inputs: { name: string; shape: string[] }[] }>('ModelMetadata', {
        name: 'mobilenetv2',
      });
      assert.equal(md.inputs[0]!.name, 'input');
      const cfg = await call<{ config: { name: string } }>('ModelConfig', { name: 'mobilenetv2' });
      assert.equal(cfg.config.name, 'mobilenetv2');
      const index = await call<{ models: { name: string; state: string }[] }>(
        'RepositoryIndex',
        {},
      );
      assert.deepEqual(
        index.models.map((m) => [m.name, m.state]),
        [['mobilenetv2', 'READY']],
      );
      // Model control is off by default: Triton's refusal, UNAVAILABLE.
      const refused = await call('RepositoryModelUnload', { model_name: 'mobilenetv2' }).catch(
        (e: grpc.ServiceError) => e,
      );
      assert.equal((refused as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.match(
        (refused as grpc.ServiceError).details,
        /^explicit model load \/ unload is not allowed/,
      );
      const request = {
        model_name: 'mobilenetv2',
        id: 'r1',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
        raw_input_contents: [
          Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength),
        ],
      };
      for (const c of [plain, gzip]) {
        const res = await c.call<{
          id: string;
          outputs: { name: string; shape: string[] }[];
          raw_output_contents: Buffer[];
        }>('ModelInfer', request);
        assert.equal(res.id, 'r1');
        assert.deepEqual(res.outputs[0]!.shape.map(Number), [1, 1000]);
        const raw = Buffer.from(res.raw_output_contents[0]!);
        assert.ok(sameBits(new Float32Array(raw.buffer, raw.byteOffset, 1000), expected));
      }
      const stats = await call<{ model_stats: { name: string; inference_count: string }[] }>(
        'ModelStatistics',
        { name: 'mobilenetv2' },
      );
      assert.equal(Number(stats.model_stats[0]!.inference_count), 2);
    } finally {
      plain.client.close();
      gzip.client.close();
      await fe.close();
    }
  });

  it('unknown methods, other verbs and content types, and malformed messages get a clear answer', async () => {
    const fe = await startGrpcFrontend(real, { port: 0 });
    try {
      const unknown = await rawCall(fe.port, 'ModelExplode', framed(Buffer.alloc(0)));
      assert.equal(statusOf(unknown).code, grpc.status.UNIMPLEMENTED);
      assert.match(statusOf(unknown).message, /does not implement the method .*ModelExplode/);
      const bad = await rawCall(fe.port, 'ModelInfer', framed(Buffer.from([0x0a, 0x50, 1])));
      assert.equal(statusOf(bad).code, grpc.status.INVALID_ARGUMENT);
      assert.match(statusOf(bad).message, /not a ModelInferRequest/);
      const empty = await rawCall(fe.port, 'ServerLive', Buffer.alloc(0));
      assert.equal(statusOf(empty).code, grpc.status.INTERNAL);
      assert.match(statusOf(empty).message, /without a request message/);
      const json = await rawCall(fe.port, 'ServerLive', Buffer.from('{}'), {
        'content-type': 'application/json',
      });
      assert.equal(json.headers[':status'], 415);
      // A grpc-message is percent-encoded: any text survives the trip.
      assert.equal(decodeURIComponent(encodeGrpcMessage('100% × ü\n')), '100% × ü\n');
      assert.equal(encodeGrpcMessage('a%b'), 'a%25b');
    } finally {
      await fe.close();
    }
  });

  it('a request over --max-message-mb is RESOURCE_EXHAUSTED, so is a reply; the server keeps serving', async () => {
    const held = heldBackend(real);
    // 602 KB of input is over the 256 KB limit; a 1 MB answer to a small request too.
    const fe = await startGrpcFrontend(held.backend, { port: 0, maxMessageBytes: 256 * 1024 });
    const ours = new GrpcClient({ port: fe.port });
    const js = grpcJsClient(fe.port, { 'grpc.max_send_message_length': -1 });
    try {
      await assert.rejects(
        ours.infer({ model: 'mobilenetv2', inputs: [input] }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'MESSAGE_TOO_LARGE', err.message);
          assert.match(err.message, /larger than max \(\d+ vs\. 262144\)/);
          return true;
        },
      );
      const request = {
        model_name: 'mobilenetv2',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
        raw_input_contents: [Buffer.from(input.data.buffer)],
      };
      const e = (await js
        .call('ModelInfer', request)
        .catch((x: unknown) => x)) as grpc.ServiceError;
      assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED, e.details);
      held.answerWith((req) => ({
        model: req.model,
        version: '1',
        outputs: [
          { name: 'big', datatype: 'UINT8', shape: [1 << 20], data: new Uint8Array(1 << 20) },
        ],
      }));
      const small: Tensor = { name: 'x', datatype: 'UINT8', shape: [4], data: new Uint8Array(4) };
      await assert.rejects(
        ours.infer({ model: 'mobilenetv2', inputs: [small] }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'MESSAGE_TOO_LARGE', err.message);
          assert.match(err.message, /Sent message larger than max \(\d+ vs\. 262144\)/);
          return true;
        },
      );
      assert.equal(await ours.serverLive(), true);
    } finally {
      await ours.close();
      js.client.close();
      await fe.close();
    }
  });

  it("grpc-timeout is the backend's deadline: DEADLINE_EXCEEDED and the work is aborted", async () => {
    const held = heldBackend(real);
    const fe = await startGrpcFrontend(held.backend, { port: 0 });
    try {
      const message = methods().ModelInfer!.requestSerialize({
        model_name: 'mobilenetv2',
        inputs: [{ name: 'x', datatype: 'UINT8', shape: [1] }],
        raw_input_contents: [Buffer.from([7])],
      });
      // Set by hand: the client itself never gives up, so what ends the call is the server.
      const r = await rawCall(fe.port, 'ModelInfer', framed(message), { 'grpc-timeout': '200m' });
      assert.equal(statusOf(r).code, grpc.status.DEADLINE_EXCEEDED);
      assert.equal(held.signals.length, 1);
      assert.equal(held.signals[0]!.aborted, true);
      assert.ok(held.timeouts[0]! > 0 && held.timeouts[0]! <= 200, String(held.timeouts[0]));
      const badTimeout = await rawCall(fe.port, 'ServerLive', framed(Buffer.alloc(0)), {
        'grpc-timeout': 'soon',
      });
      assert.equal(statusOf(badTimeout).code, grpc.status.INTERNAL);
      assert.match(statusOf(badTimeout).message, /Invalid grpc-timeout value "soon"/);
    } finally {
      await fe.close();
    }
  });

  it('a caller that goes away cancels the backend work; the in-flight slot comes back', async () => {
    const held = heldBackend(real);
    const fe = await startGrpcFrontend(held.backend, { port: 0, maxInflight: 1 });
    const c = new GrpcClient({ port: fe.port });
    try {
      const ac = new AbortController();
      const running = c.infer({ model: 'mobilenetv2', inputs: [input] }, { signal: ac.signal });
      assert.ok(await eventually(() => held.signals.length === 1), 'the call reached the backend');
      ac.abort();
      await assert.rejects(running, { code: 'CANCELLED' });
      assert.ok(await eventually(() => held.signals[0]!.aborted), 'the backend saw the abort');
      // The one in-flight slot is free again: the next call is admitted (and answered).
      held.answerWith((req) => ({
        model: req.model,
        version: '1',
        outputs: [{ name: 'o', datatype: 'INT32', shape: [1], data: new Int32Array([42]) }],
      }));
      const res = await c.infer({ model: 'mobilenetv2', inputs: [input] });
      assert.deepEqual(Array.from(res.outputs[0]!.data as Float32Array), [42]);
    } finally {
      await c.close();
      await fe.close();
    }
  });

  it('close() lets a running call finish within the grace, and cuts off one that outlives it', async () => {
    const held = heldBackend(real);
    const fe = await startGrpcFrontend(held.backend, { port: 0, shutdownGraceMs: 30000 });
    const c = new GrpcClient({ port: fe.port });
    try {
      const running = c.infer({ model: 'mobilenetv2', inputs: [input] });
      assert.ok(await eventually(() => held.signals.length === 1));
      const closing = fe.close();
      held.release();
      const res = await running;
      assert.deepEqual(Array.from(res.outputs[0]!.data as Float32Array), [1, 2]);
      await closing;
      assert.equal(held.signals[0]!.aborted, false);
    } finally {
      await c.close();
    }
    // Cut off after the grace: a call that never ends does not hold close() up.
    const stuck = heldBackend(real);
    const fe2 = await startGrpcFrontend(stuck.backend, { port: 0, shutdownGraceMs: 50 });
    const c2 = new GrpcClient({ port: fe2.port });
    try {
      const running = c2.infer({ model: 'mobilenetv2', inputs: [input] }).then(
        () => 'answered',
        () => 'failed',
      );
      assert.ok(await eventually(() => stuck.signals.length === 1));
      await fe2.close();
      assert.equal(await running, 'failed');
      assert.ok(await eventually(() => stuck.signals[0]!.aborted));
    } finally {
      await c2.close();
    }
  });

  it('serves TLS from Node options, to grpc-js and to our client; a bearer token guards it', async () => {
    const { cert, key } = makeSelfSignedCert();
    const fe = await startGrpcFrontend(real, { port: 0, tls: { key, cert }, authToken: 's3cret' });
    const js = grpcJsClient(
      fe.port,
      { 'grpc.ssl_target_name_override': TLS_SERVER_NAME },
      grpc.credentials.createSsl(cert),
    );
    const ours = new GrpcClient({
      port: fe.port,
      tls: { ca: cert, servername: TLS_SERVER_NAME },
      headers: { Authorization: 'Bearer s3cret' },
    });
    try {
      const token = new grpc.Metadata();
      token.set('authorization', 'Bearer s3cret');
      assert.deepEqual(await js.call('ServerLive', {}, token), { live: true });
      const denied = (await js
        .call('ServerLive', {})
        .catch((e: unknown) => e)) as grpc.ServiceError;
      assert.equal(denied.code, grpc.status.UNAUTHENTICATED);
      assert.match(denied.details, /requires a bearer token/);
      const res = await ours.infer({ model: 'mobilenetv2', inputs: [input] });
      assert.ok(sameBits(res.outputs[0]!.data as Float32Array, expected));
      // Plaintext against the TLS port gets nowhere.
      const plain = new GrpcClient({ port: fe.port, timeoutMs: 5000 });
      await assert.rejects(plain.serverLive(), { code: 'TRITON_UNAVAILABLE' });
      await plain.close();
    } finally {
      js.client.close();
      await ours.close();
      await fe.close();
    }
  });

  it('keep-alive pings go out on an idle connection and are answered: it stays usable', async () => {
    const fe = await startGrpcFrontend(real, {
      port: 0,
      keepaliveTimeMs: 20,
      keepaliveTimeoutMs: 5000,
    });
    const session = http2.connect(`http://127.0.0.1:${fe.port}`);
    let pings = 0;
    session.on('ping', () => pings++);
    try {
      assert.ok(await eventually(() => pings >= 3), `pings: ${pings}`);
      assert.equal(session.destroyed, false);
    } finally {
      session.close();
      await fe.close();
    }
  });
});
