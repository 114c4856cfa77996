/**
 * ModelInfer on node:http2 without intermediate copies: the request frame built from the
 * tensors' own memory, the streaming reply reader (aligned raw outputs, any chunking,
 * unknown fields, limits, truncation), and the call over loopback with what grpc-js gave
 * it (TLS, metadata, compression, trailers-only errors, pooled reply memory).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { ReplyBufferPool } from '../../src/client/buffer-pool';
import { GrpcClient } from '../../src/client/grpc';
import { grpcTimeout } from '../../src/client/grpc-h2';
import {
  InferReplyReader,
  encodeInferRequest,
  encodeInferRequestFrame,
  loadKserveProto,
  type WireInferRequest,
} from '../../src/protocol/grpc-codec';
import { LocalClient } from '../../src/client/local';
import type { Tensor } from '../../src/protocol/types';
import { startGrpcFrontend, type GrpcFrontend } from '../../src/server/grpc-frontend';
import { FIXTURE_REPOSITORY, buildFixtureRepository, fixtureModel } from '../support/fixtures';
import { releaseOnnxSessions, runOnnx, sameBits, seededValues } from '../support/ort';
import { GUARD_REFUSAL, startGuardedFrontend } from '../support/grpc-guard';
import { TLS_SERVER_NAME, grpcServerCredentials, makeSelfSignedCert } from '../support/tls';

const infer = () => loadKserveProto().service.ModelInfer!;

/** A ModelInferResponse serialised by protobufjs, framed as gRPC sends it. */
function frame(message: Buffer, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** Three outputs whose sizes (3, 20, 16 bytes) leave the later ones misaligned in the message. */
function sampleReply(): Buffer {
  return infer().responseSerialize({
    model_name: 'm',
    model_version: '7',
    id: 'req-1',
    outputs: [
      { name: 'u8', datatype: 'UINT8', shape: [3] },
      { name: 'f32', datatype: 'FP32', shape: [5] },
      { name: 'i64', datatype: 'INT64', shape: [2] },
    ],
    raw_output_contents: [
      Buffer.from([1, 2, 255]),
      Buffer.from(new Float32Array([0.5, -1, 3.25, 1e9, -0]).buffer),
      Buffer.from(new BigInt64Array([-5n, 2n ** 60n]).buffer),
    ],
  });
}

/** Protobuf fields ModelInferResponse does not define (a newer server may send them). */
const UNKNOWN_FIELDS = Buffer.from([
  ((99 << 3) & 0x7f) | 0x80,
  99 >> 4,
  0x96,
  0x01, // field 99 varint 150
  ((98 << 3) & 0x7f) | 0x80 | 1,
  98 >> 4,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8, // field 98 fixed64
  ((97 << 3) & 0x7f) | 0x80 | 5,
  97 >> 4,
  9,
  9,
  9,
  9, // field 97 fixed32
  ((96 << 3) & 0x7f) | 0x80 | 2,
  96 >> 4,
  2,
  0xaa,
  0xbb, // field 96 bytes
]);

function readAll(chunks: Buffer[], pool?: ReplyBufferPool) {
  const reader = new InferReplyReader(1 << 20, pool);
  for (const c of chunks) reader.push(c);
  assert.ok(reader.complete);
  return reader.finish();
}

function split(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

describe('gRPC ModelInfer codec without copies', () => {
  it('writes deadlines as grpc-timeout allows: at most 8 digits and a unit', () => {
    assert.equal(grpcTimeout(30000), '30000m');
    assert.equal(grpcTimeout(0.2), '1m');
    assert.equal(grpcTimeout(99999999), '99999999m');
    assert.equal(grpcTimeout(100000000), '100000S');
    assert.equal(grpcTimeout(2 ** 31), '2147484S');
  });

  it('frames a request whose raw inputs are the tensors’ own memory, readable by protobufjs', () => {
    const f32 = new Float32Array([1.5, -2, 3]);
    const u8 = new Uint8Array(300).map((_, i) => i % 251);
    const request = {
      model: 'm',
      version: '3',
      id: 'x',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [3], data: f32 },
        { name: 'b', datatype: 'UINT8', shape: [1, 300], data: u8 },
      ] as Tensor[],
      outputs: [{ name: 'o' }],
    };
    const { chunks, messageBytes } = encodeInferRequestFrame(request);
    assert.ok(chunks.some((c) => c.buffer === f32.buffer && c.byteOffset === f32.byteOffset));
    assert.ok(chunks.some((c) => c.buffer === u8.buffer && c.length === 300));
    const whole = Buffer.concat(chunks);
    assert.equal(whole[0], 0, 'not compressed');
    assert.equal(whole.readUInt32BE(1), messageBytes);
    assert.equal(whole.length, messageBytes + 5);
    const parsed = infer().requestDeserialize(whole.subarray(5)) as WireInferRequest;
    const reference = infer().requestDeserialize(
      infer().requestSerialize(encodeInferRequest(request)),
    ) as WireInferRequest;
    assert.deepEqual(parsed, reference);
  });

  it('reads a reply split anywhere into aligned views of one buffer, skipping unknown fields', () => {
    const message = Buffer.concat([UNKNOWN_FIELDS, sampleReply()]);
    const whole = frame(message);
    for (const size of [1, 2, 3, 5, 7, 13, whole.length]) {
      const { message: msg, memory } = readAll(split(whole, size));
      assert.equal(msg.model_name, 'm');
      assert.equal(msg.model_version, '7');
      assert.equal(msg.id, 'req-1');
      assert.deepEqual(
        msg.outputs.map((o) => o.name),
        ['u8', 'f32', 'i64'],
      );
      const raw = msg.raw_output_contents!;
      assert.deepEqual([...raw[0]!], [1, 2, 255]);
      for (const r of raw) {
        assert.equal(r.buffer, memory, `chunks of ${size}: a view of the reply memory`);
        assert.equal(r.byteOffset % 8, 0, `chunks of ${size}: 8-byte aligned`);
      }
      assert.deepEqual(
        [...new Float32Array(raw[1]!.buffer, raw[1]!.byteOffset, 5)],
        [0.5, -1, 3.25, 1e9, -0],
      );
      assert.deepEqual(
        [...new BigInt64Array(raw[2]!.buffer, raw[2]!.byteOffset, 2)],
        [-5n, 2n ** 60n],
      );
    }
  });

  it('takes reply memory from the pool and reuses what was released', () => {
    const big = infer().responseSerialize({
      model_name: 'm',
      outputs: [{ name: 'o', datatype: 'FP32', shape: [100000] }],
      raw_output_contents: [Buffer.alloc(400000, 7)],
    });
    const pool = new ReplyBufferPool();
    const first = readAll(split(frame(big), 16384), pool);
    assert.ok(first.memory && first.memory.byteLength >= 400000);
    pool.release(first.memory);
    const second = readAll(split(frame(big), 65536), pool);
    assert.equal(second.memory, first.memory, 'the released buffer came back');
    assert.equal(second.message.raw_output_contents![0]![399999], 7);
  });

  it('refuses a declared length over the limit at once, and a cut or padded message', () => {
    const reader = new InferReplyReader(1000);
    const prefix = Buffer.from([0, 0, 0, 0x10, 0]);
    assert.throws(() => reader.push(prefix), { code: 'MESSAGE_TOO_LARGE' });

    const whole = frame(sampleReply());
    const cut = new InferReplyReader(1 << 20);
    cut.push(whole.subarray(0, whole.length - 4));
    assert.equal(cut.complete, false);
    assert.throws(() => cut.finish(), { code: 'PROTOCOL_ERROR', message: /ended after/ });

    const twice = new InferReplyReader(1 << 20);
    assert.throws(() => twice.push(Buffer.concat([whole, whole])), {
      code: 'PROTOCOL_ERROR',
      message: /more than one message/,
    });

    // A length-delimited field claiming more bytes than the message has.
    const lying = frame(Buffer.from([(6 << 3) | 2, 50, 1, 2]));
    assert.throws(() => new InferReplyReader(1 << 20).push(lying), {
      code: 'PROTOCOL_ERROR',
      message: /declares 50 bytes/,
    });
  });
});

/** A loopback port nobody listens on (it was free a moment ago). */
async function listen(server: http2.Http2Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

/** Resolves once `cond` holds (checked every millisecond); fails after `ms`. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * A TCP proxy to 127.0.0.1:`port` that counts the HTTP/2 frames its clients send, by frame
 * type (RFC 9113 §4.1: 3 length bytes, the type, flags, stream id; after a 24-byte preface).
 */
async function frameCountingProxy(
  port: number,
): Promise<{ port: number; sent: Map<number, number>; close(): Promise<void> }> {
  const sent = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    let pending: Buffer = Buffer.alloc(0);
    let preface = 24;
    client.on('data', (d: Buffer) => {
      upstream.write(d);
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      const skip = Math.min(preface, pending.length);
      pending = pending.subarray(skip);
      preface -= skip;
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        sent.set(pending[3]!, (sent.get(pending[3]!) ?? 0) + 1);
        pending = pending.subarray(9 + pending.readUIntBE(0, 3));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('gRPC ModelInfer on node:http2 over loopback', function () {
  this.timeout(60000);
  const repo = buildFixtureRepository(
    FIXTURE_REPOSITORY.filter((m) => ['mobilenetv2', 'yolov8n'].includes(m.name)),
  );
  let backend: LocalClient;
  let frontend: GrpcFrontend;
  const input: Tensor = {
    name: 'input',
    datatype: 'FP32',
    shape: [1, 3, 224, 224],
    data: seededValues(3 * 224 * 224, 11),
  };
  let expected: Float32Array;

  before(async () => {
    backend = new LocalClient({ modelRepository: repo, load: 'all' });
    frontend = await startGrpcFrontend(backend, { port: 0 });
    const ref = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [input]);
    expected = Object.values(ref)[0]!.data as Float32Array;
  });
  after(async () => {
    await frontend?.close();
    await backend?.close();
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('answers as onnxruntime does; a released reply buffer serves the next call', async () => {
    const images: Tensor = {
      name: 'images',
      datatype: 'FP32',
      shape: [1, 3, 640, 640],
      data: seededValues(3 * 640 * 640, 4),
    };
    const reference = await runOnnx(fixtureModel('yolov8n_int8_640.onnx'), [images]);
    const head = Object.values(reference)[0]!.data as Float32Array;
    const c = new GrpcClient({ port: frontend.port });
    try {
      const first = await c.infer({ model: 'yolov8n', inputs: [images] });
      const out = first.outputs[0]!;
      assert.deepEqual(out.shape, [1, 84, 8400]);
      assert.ok(sameBits(out.data as Float32Array, head));
      assert.ok(!Object.keys(first).includes('release'), 'release() is not enumerable');
      const memory = out.data.buffer;
      first.release!();
      first.release!();
      const second = await c.infer({ model: 'yolov8n', inputs: [images] });
      assert.equal(second.outputs[0]!.data.buffer, memory, 'the 2.8 MB reply buffer was reused');
      assert.ok(sameBits(second.outputs[0]!.data as Float32Array, head));
      // Not released: the next call must not write over these views.
      const third = await c.infer({ model: 'yolov8n', inputs: [images] });
      assert.notEqual(third.outputs[0]!.data.buffer, memory);
      assert.ok(sameBits(second.outputs[0]!.data as Float32Array, head));
    } finally {
      await c.close();
    }
  });

  it('resets no call that ended well (servers count RST_STREAM: Node closes the connection past ~1000)', async () => {
    const proxy = await frameCountingProxy(frontend.port);
    const c = new GrpcClient({ port: proxy.port });
    const RST_STREAM = 0x3;
    const HEADERS = 0x1;
    try {
      for (let i = 0; i < 3; i++) {
        const res = await c.infer({ model: 'mobilenetv2', inputs: [input] });
        assert.ok(sameBits(res.outputs[0]!.data as Float32Array, expected));
        res.release!();
      }
      for (let i = 0; i < 5; i++) assert.equal(await c.serverLive(), true);
      assert.equal((await c.modelMetadata('mobilenetv2')).name, 'mobilenetv2');
      assert.ok((proxy.sent.get(HEADERS) ?? 0) >= 9, `frames sent: ${[...proxy.sent]}`);
      assert.equal(proxy.sent.get(RST_STREAM) ?? 0, 0, 'RST_STREAM frames sent');
      // A call cancelled while it runs is still reset, and the proxy sees that: aborted
      // once its HEADERS went out, with 4.9 MB still to send and a YOLO run to come.
      const images: Tensor = {
        name: 'images',
        datatype: 'FP32',
        shape: [1, 3, 640, 640],
        data: seededValues(3 * 640 * 640, 4),
      };
      const abort = new AbortController();
      const headersBefore = proxy.sent.get(HEADERS) ?? 0;
      const running = c.infer({ model: 'yolov8n', inputs: [images] }, { signal: abort.signal });
      await until(() => (proxy.sent.get(HEADERS) ?? 0) > headersBefore, 10000);
      abort.abort();
      await assert.rejects(running, { code: 'CANCELLED' });
      await until(() => (proxy.sent.get(RST_STREAM) ?? 0) === 1, 10000);
    } finally {
      await c.close();
      await proxy.close();
    }
  });

  it('sends the configured headers as metadata with ModelInfer', async () => {
    const { withToken, without, seen, close } = await startGuardedFrontend(backend);
    try {
      const res = await withToken.infer({ model: 'mobilenetv2', inputs: [input] });
      assert.ok(sameBits(res.outputs[0]!.data as Float32Array, expected));
      await assert.rejects(without.infer({ model: 'mobilenetv2', inputs: [input] }), {
        code: 'UNAUTHORIZED',
        message: new RegExp(GUARD_REFUSAL),
      });
      assert.deepEqual(seen, ['Bearer s3cret|f1', 'undefined|undefined']);
    } finally {
      await close();
    }
  });

  it('runs over TLS with a CA and a server name, and refuses an unknown CA', async () => {
    const tls = makeSelfSignedCert();
    const secure = await startGrpcFrontend(backend, {
      port: 0,
      credentials: grpcServerCredentials(tls),
    });
    const trusted = new GrpcClient({
      port: secure.port,
      tls: { ca: tls.cert, servername: TLS_SERVER_NAME },
    });
    const unknown = new GrpcClient({ port: secure.port, tls: { servername: TLS_SERVER_NAME } });
    const wrongName = new GrpcClient({ port: secure.port, tls: { ca: tls.cert } });
    try {
      const res = await trusted.infer({ model: 'mobilenetv2', inputs: [input] });
      assert.ok(sameBits(res.outputs[0]!.data as Float32Array, expected));
      await assert.rejects(unknown.infer({ model: 'mobilenetv2', inputs: [input] }), {
        code: 'TRITON_UNAVAILABLE',
      });
      await assert.rejects(wrongName.infer({ model: 'mobilenetv2', inputs: [input] }), {
        code: 'TRITON_UNAVAILABLE',
      });
    } finally {
      await trusted.close();
      await unknown.close();
      await wrongName.close();
      await secure.close();
    }
  });

  it('reads a gzip-compressed reply and maps a trailers-only error status', async () => {
    const reply = sampleReply();
    const server = http2.createServer();
    let mode: 'gzip' | 'error' = 'gzip';
    server.on('stream', (stream) => {
      stream.resume();
      if (mode === 'error') {
        stream.respond(
          {
            ':status': 200,
            'content-type': 'application/grpc',
            'grpc-status': String(grpc.status.NOT_FOUND),
            'grpc-message': encodeURIComponent("Request for unknown model: 'nope' is not found"),
          },
          { endStream: true },
        );
        return;
      }
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-encoding': 'gzip' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(zlib.gzipSync(reply), true));
    });
    const port = await listen(server);
    const c = new GrpcClient({ port });
    try {
      const res = await c.infer({ model: 'm', inputs: [input] });
      assert.deepEqual(
        res.outputs.map((o) => [o.name, o.datatype, o.shape]),
        [
          ['u8', 'UINT8', [3]],
          ['f32', 'FP32', [5]],
          ['i64', 'INT64', [2]],
        ],
      );
      assert.deepEqual([...(res.outputs[2]!.data as BigInt64Array)], [-5n, 2n ** 60n]);
      mode = 'error';
      await assert.rejects(c.infer({ model: 'nope', inputs: [input] }), {
        code: 'NOT_FOUND',
        message: /unknown model: 'nope' is not found/,
      });
    } finally {
      await c.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
