/**
 * gRPC-specific behaviour of the client and the server frontend: the wire codec
 * through the real protobuf serializer, message size limits, metadata headers,
 * typed contents from a foreign client, deadlines, cancellation, TLS and handle
 * cleanup. The cases every transport shares live in suite.test.ts.
 *
 * The server is our grpc-js frontend, in process, over a LocalClient running the
 * real fixture models; expected outputs come from onnxruntime run directly.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GrpcClient } from '../../src/client/grpc';
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  findProtoFile,
  loadKserveProto,
  modelConfigFromWire,
  modelConfigToWire,
  type WireInferRequest,
  type WireInferResponse,
  type WireModelConfig,
} from '../../src/protocol/grpc-codec';
import { LocalClient } from '../../src/client/local';
import type { ModelConfig, Tensor } from '../../src/protocol/types';
import { startGrpcFrontend, type GrpcFrontend } from '../../src/server/grpc-frontend';
import { FIXTURE_REPOSITORY, buildFixtureRepository, fixtureModel } from '../support/fixtures';
import { asHalfValues, releaseOnnxSessions, runOnnx, sameBits, seededValues } from '../support/ort';
import { GUARD_REFUSAL, startGuardedFrontend } from '../support/grpc-guard';
import { TLS_SERVER_NAME, grpcServerCredentials, makeSelfSignedCert } from '../support/tls';

/** Serialises and parses `obj` with the real protobuf code for `method`'s request. */
function throughWire<T>(method: string, obj: object, side: 'request' | 'response' = 'request'): T {
  const def = loadKserveProto().service[method]!;
  if (side === 'request') return def.requestDeserialize(def.requestSerialize(obj)) as T;
  return def.responseDeserialize(def.responseSerialize(obj)) as T;
}

function netHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => /TCP|Pipe|Http2|TLS/i.test(r)).length;
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

/** A loopback port nobody listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

const mobilenetInput = (seed = 5): Tensor => ({
  name: 'input',
  datatype: 'FP32',
  shape: [1, 3, 224, 224],
  data: seededValues(3 * 224 * 224, seed),
});

/** A batch of FP16 640×640 images for yolov5n_fp16 (dynamic batch, 640 fixed). */
const halfImages = (batch: number, seed = 3): Tensor => ({
  name: 'images',
  datatype: 'FP16',
  shape: [batch, 3, 640, 640],
  data: asHalfValues(seededValues(batch * 3 * 640 * 640, seed)),
});

/** YOLOv5 rows at 640: 3 anchors per cell on the 80×80, 40×40 and 20×20 grids. */
const YOLOV5_ROWS = 3 * (80 * 80 + 40 * 40 + 20 * 20);

describe('gRPC wire codec', () => {
  it('finds protos/kserve_v2.proto above the source folder and serves all 11 RPCs', () => {
    assert.equal(findProtoFile(), path.resolve(__dirname, '..', '..', 'protos', 'kserve_v2.proto'));
    const { service } = loadKserveProto();
    assert.equal(loadKserveProto(), loadKserveProto(), 'loaded once and cached');
    assert.deepEqual(Object.keys(service).sort(), [
      'ModelConfig',
      'ModelInfer',
      'ModelMetadata',
      'ModelReady',
      'ModelStatistics',
      'RepositoryIndex',
      'RepositoryModelLoad',
      'RepositoryModelUnload',
      'ServerLive',
      'ServerMetadata',
      'ServerReady',
    ]);
    assert.equal(service.ModelInfer!.path, '/inference.GRPCInferenceService/ModelInfer');
  });

  it('sends tensors as raw little-endian bytes, FP16 as half bits, and reads them back', () => {
    const inputs: Tensor[] = [
      { name: 'f32', datatype: 'FP32', shape: [2], data: new Float32Array([1.5, -2]) },
      { name: 'f16', datatype: 'FP16', shape: [1, 2], data: new Float32Array([1, -2]) },
      { name: 'i64', datatype: 'INT64', shape: [1], data: new BigInt64Array([-(2n ** 62n)]) },
      { name: 'b', datatype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    ];
    const wire = throughWire<WireInferRequest>(
      'ModelInfer',
      encodeInferRequest({ model: 'm', version: '2', id: 'r1', inputs, outputs: [{ name: 'o' }] }),
    );
    // IEEE half: 1.0 = 0x3C00, -2.0 = 0xC000; little-endian puts the low byte first.
    assert.deepEqual([...wire.raw_input_contents![1]!], [0x00, 0x3c, 0x00, 0xc0]);
    // IEEE single 1.5 = 0x3FC00000.
    assert.deepEqual([...wire.raw_input_contents![0]!.subarray(0, 4)], [0, 0, 0xc0, 0x3f]);
    assert.deepEqual(wire.inputs[2]!.shape, ['1'], 'int64 travels losslessly as a string');
    const back = decodeInferRequest(wire);
    assert.equal(back.model, 'm');
    assert.equal(back.version, '2');
    assert.equal(back.id, 'r1');
    assert.deepEqual(back.outputs, [{ name: 'o' }]);
    assert.deepEqual(
      back.inputs.map((t) => [t.name, t.datatype, t.shape]),
      inputs.map((t) => [t.name, t.datatype, t.shape]),
    );
    assert.deepEqual([...(back.inputs[0]!.data as Float32Array)], [1.5, -2]);
    assert.deepEqual([...(back.inputs[1]!.data as Float32Array)], [1, -2]);
    assert.deepEqual([...(back.inputs[2]!.data as BigInt64Array)], [-(2n ** 62n)]);
    assert.deepEqual([...(back.inputs[3]!.data as Uint8Array)], [1, 0, 1]);
  });

  it('reads raw outputs that start at an odd offset of the message buffer', () => {
    const values = new Float32Array([0.25, 3, -7.5]);
    const blob = Buffer.alloc(13);
    Buffer.from(values.buffer).copy(blob, 1);
    const res = decodeInferResponse({
      model_name: 'm',
      model_version: '1',
      outputs: [{ name: 'o', datatype: 'FP32', shape: ['3'] }],
      raw_output_contents: [blob.subarray(1)],
    });
    assert.deepEqual([...(res.outputs[0]!.data as Float32Array)], [0.25, 3, -7.5]);
  });

  it('decodes typed contents a foreign client may send instead of raw bytes', () => {
    const req = decodeInferRequest(
      throughWire<WireInferRequest>('ModelInfer', {
        model_name: 'm',
        inputs: [
          { name: 'a', datatype: 'FP32', shape: [2], contents: { fp32_contents: [0.5, -1] } },
          { name: 'b', datatype: 'INT8', shape: [2], contents: { int_contents: [-128, 127] } },
          {
            name: 'c',
            datatype: 'UINT64',
            shape: [1],
            contents: { uint64_contents: ['18446744073709551615'] },
          },
          { name: 'd', datatype: 'BOOL', shape: [2], contents: { bool_contents: [true, false] } },
        ],
      }),
    );
    assert.deepEqual([...(req.inputs[0]!.data as Float32Array)], [0.5, -1]);
    assert.ok(req.inputs[1]!.data instanceof Int8Array);
    assert.deepEqual([...(req.inputs[1]!.data as Int8Array)], [-128, 127]);
    assert.deepEqual([...(req.inputs[2]!.data as BigUint64Array)], [2n ** 64n - 1n]);
    assert.deepEqual([...(req.inputs[3]!.data as Uint8Array)], [1, 0]);
  });

  it('rejects malformed requests as INVALID_ARGUMENT with a sentence naming the tensor', () => {
    const bad = (inputs: object[], raw?: Buffer[]): void => {
      decodeInferRequest(
        throughWire<WireInferRequest>('ModelInfer', {
          model_name: 'm',
          inputs,
          ...(raw ? { raw_input_contents: raw } : {}),
        }),
      );
    };
    const expect = (fn: () => void, pattern: RegExp): void =>
      assert.throws(fn, (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INVALID_ARGUMENT', err.message);
        assert.match(err.message, pattern);
        return true;
      });
    expect(
      () => bad([{ name: 'x', datatype: 'FP32', shape: [3], contents: { fp32_contents: [1] } }]),
      /'x'.*3 elements.*1 values/,
    );
    expect(
      () => bad([{ name: 'h', datatype: 'FP16', shape: [1], contents: { fp32_contents: [1] } }]),
      /'h'.*FP16.*raw_input_contents/,
    );
    expect(
      () => bad([{ name: 'u', datatype: 'UINT8', shape: [1], contents: { uint_contents: [256] } }]),
      /'u'.*256/,
    );
    expect(() => bad([{ name: 'x', datatype: 'FP32', shape: [2] }]), /'x' carries no data/);
    expect(
      () => bad([{ name: 'x', datatype: 'FP32', shape: [2] }], [Buffer.alloc(7)]),
      /'x'.*8 bytes.*7/,
    );
    expect(
      () =>
        bad(
          [{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
          [Buffer.alloc(4)],
        ),
      /one or the other/,
    );
    expect(() => bad([{ name: 'x', datatype: 'TYPE_FP32', shape: [1] }]), /bare name 'FP32'/);
  });

  it('turns a protobuf ModelConfig into numbers and enum names, max_batch_size included', () => {
    // What a Triton server sends: int64 dims, enum values, max_batch_size 0 (a default).
    const wire = throughWire<{ config: WireModelConfig }>(
      'ModelConfig',
      {
        config: {
          name: 'yolo',
          platform: 'onnxruntime_onnx',
          backend: 'onnxruntime',
          max_batch_size: 0,
          input: [{ name: 'images', data_type: 11, format: 2, dims: ['1', '3', '640', '640'] }],
          output: [{ name: 'output0', data_type: 'TYPE_FP16', dims: [1, 84, 8400] }],
          version_policy: { latest: { num_versions: 1 } },
          instance_group: [{ count: 2, kind: 'KIND_CPU' }],
          dynamic_batching: { max_queue_delay_microseconds: '100' },
          parameters: { task: { string_value: 'detect' } },
        },
      },
      'response',
    );
    const cfg = modelConfigFromWire(wire.config);
    assert.equal(cfg.max_batch_size, 0);
    assert.deepEqual(cfg.input[0], {
      name: 'images',
      data_type: 'TYPE_FP32',
      format: 'FORMAT_NCHW',
      dims: [1, 3, 640, 640],
    });
    assert.deepEqual(cfg.output[0]!.dims, [1, 84, 8400]);
    assert.equal(cfg.output[0]!.data_type, 'TYPE_FP16');
    assert.deepEqual(cfg.version_policy, { latest: { num_versions: 1 } });
    assert.deepEqual(cfg.instance_group, [{ count: 2, kind: 'KIND_CPU' }]);
    assert.deepEqual(cfg.dynamic_batching, {
      preferred_batch_size: [],
      max_queue_delay_microseconds: 100,
      preserve_ordering: false,
    });
    assert.deepEqual(cfg.parameters, { task: { string_value: 'detect' } });
  });

  it('round-trips our ModelConfig through the wire unchanged', () => {
    const cfg: ModelConfig = {
      name: 'seg',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 4,
      input: [
        {
          name: 'images',
          data_type: 'TYPE_FP32',
          format: 'FORMAT_NONE',
          dims: [3, -1, -1],
          reshape: { shape: [3, 640, 640] },
          optional: true,
        },
      ],
      output: [
        { name: 'output0', data_type: 'TYPE_FP32', dims: [116, -1], label_filename: 'coco.txt' },
        { name: 'output1', data_type: 'TYPE_FP32', dims: [32, 160, 160] },
      ],
      version_policy: { specific: { versions: [1, 3] } },
      instance_group: [{ name: 'cpu', count: 2, kind: 'KIND_CPU' }],
      dynamic_batching: {
        preferred_batch_size: [2, 4],
        max_queue_delay_microseconds: 500,
        preserve_ordering: true,
      },
      default_model_filename: 'model.onnx',
      parameters: { labels: { string_value: 'a,b' } },
    };
    const wire = throughWire<{ config: WireModelConfig }>(
      'ModelConfig',
      { config: modelConfigToWire(cfg) },
      'response',
    );
    assert.deepEqual(modelConfigFromWire(wire.config), cfg);
  });

  it('encodes a response with raw outputs in the order of the outputs list', () => {
    const wire = throughWire<WireInferResponse>(
      'ModelInfer',
      encodeInferResponse({
        model: 'm',
        version: '1',
        outputs: [
          { name: 'b', datatype: 'UINT8', shape: [2], data: new Uint8Array([7, 9]) },
          { name: 'a', datatype: 'INT32', shape: [1], data: new Int32Array([-2]) },
        ],
      }),
      'response',
    );
    assert.deepEqual(
      wire.outputs.map((o) => o.name),
      ['b', 'a'],
    );
    assert.deepEqual([...wire.raw_output_contents![0]!], [7, 9]);
    assert.deepEqual([...wire.raw_output_contents![1]!], [0xfe, 0xff, 0xff, 0xff]);
  });
});

describe('gRPC client and frontend over loopback', function () {
  this.timeout(60000);
  const repo = buildFixtureRepository(
    FIXTURE_REPOSITORY.filter((m) => ['yolov8n', 'yolov5n_fp16', 'mobilenetv2'].includes(m.name)),
  );
  let backend: LocalClient;
  let frontend: GrpcFrontend;
  let client: GrpcClient;

  before(async () => {
    backend = new LocalClient({ modelRepository: repo, load: 'all' });
    frontend = await startGrpcFrontend(backend, { port: 0 });
    client = new GrpcClient({ port: frontend.port, timeoutMs: 30000 });
  });
  after(async () => {
    await client?.close();
    await frontend?.close();
    await backend?.close();
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('names its endpoint host:port with the gRPC default port 8001', async () => {
    assert.equal(client.kind, 'grpc');
    assert.equal(client.endpoint, `127.0.0.1:${frontend.port}`);
    const named = new GrpcClient({ host: 'triton.local' });
    const v6 = new GrpcClient({ host: '::1', port: 9 });
    assert.equal(named.endpoint, 'triton.local:8001');
    assert.equal(v6.endpoint, '[::1]:9');
    await named.close();
    await v6.close();
  });

  it('delivers metadata and config exactly as the backend states them', async () => {
    for (const model of ['yolov8n', 'yolov5n_fp16', 'mobilenetv2']) {
      assert.deepEqual(await client.modelMetadata(model), await backend.modelMetadata(model));
      assert.deepEqual(await client.modelConfig(model), await backend.modelConfig(model));
    }
    assert.deepEqual(await client.serverMetadata(), await backend.serverMetadata());
    assert.deepEqual(await client.repositoryIndex(), await backend.repositoryIndex());
    assert.equal(await client.modelReady('no_such_model'), false);
  });

  it('carries a [1,3,1280,1280] FP32 request (19.7 MB) past both message limits', async () => {
    // The 4 MiB gRPC default would stop this at the client (RESOURCE_EXHAUSTED). yolov8n
    // takes 640 only, so the server reading the whole message shows as a shape error.
    const big: Tensor = {
      name: 'images',
      datatype: 'FP32',
      shape: [1, 3, 1280, 1280],
      data: new Float32Array(3 * 1280 * 1280),
    };
    await assert.rejects(
      client.infer({ model: 'yolov8n', inputs: [big] }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INVALID_ARGUMENT', err.message);
        assert.match(err.message, /640/);
        return true;
      },
    );
  });

  it('receives a 4.28 MB FP16 answer (over the 4 MiB gRPC default) equal to onnxruntime', async () => {
    const input = halfImages(1, 8);
    const res = await client.infer({ model: 'yolov5n_fp16', inputs: [input] });
    const out = res.outputs[0]!;
    assert.equal(out.datatype, 'FP16');
    // 25200 × 85 halves = 4,284,000 bytes > 4,194,304.
    assert.deepEqual(out.shape, [1, YOLOV5_ROWS, 85]);
    const expected = await runOnnx(fixtureModel('yolov5n_fp16_dynamic.onnx'), [input]);
    assert.ok(sameBits(out.data as Float32Array, expected.output!.data as Float32Array));
  });

  it('a response over a small maxMessageBytes → MESSAGE_TOO_LARGE, then small calls work', async () => {
    const small = new GrpcClient({ port: frontend.port, maxMessageBytes: 3 * 1024 * 1024 });
    try {
      // The 2,457,600-byte request fits in 3 MiB (3,145,728); the 4,284,000-byte answer
      // does not.
      await assert.rejects(
        small.infer({ model: 'yolov5n_fp16', inputs: [halfImages(1)] }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'MESSAGE_TOO_LARGE', err.message);
          assert.match(err.message, /maxMessageBytes/);
          assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${frontend.port}`));
          return true;
        },
      );
      const res = await small.infer({ model: 'mobilenetv2', inputs: [mobilenetInput()] });
      assert.deepEqual(res.outputs[0]!.shape, [1, 1000]);
    } finally {
      await small.close();
    }
  });

  it('a foreign grpc-js client sending typed fp32_contents gets the onnxruntime answer', async () => {
    const input = mobilenetInput(9);
    const expected = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [input]);
    const { ServiceClient } = loadKserveProto();
    const raw = new ServiceClient(`127.0.0.1:${frontend.port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
    try {
      const reply = await new Promise<WireInferResponse>((resolve, reject) => {
        (
          raw as unknown as {
            ModelInfer(
              r: object,
              cb: (e: grpc.ServiceError | null, v?: WireInferResponse) => void,
            ): void;
          }
        ).ModelInfer(
          {
            model_name: 'mobilenetv2',
            inputs: [
              {
                name: 'input',
                datatype: 'FP32',
                shape: [1, 3, 224, 224],
                contents: { fp32_contents: Array.from(input.data as Float32Array) },
              },
            ],
          },
          (err, v) => (err ? reject(err) : resolve(v!)),
        );
      });
      assert.equal(reply.model_name, 'mobilenetv2');
      assert.deepEqual(reply.outputs[0]!.shape, ['1', '1000']);
      const bytes = Buffer.from(reply.raw_output_contents![0]!);
      const got = new Float32Array(bytes.buffer, bytes.byteOffset, 1000);
      assert.ok(sameBits(got, expected.output!.data as Float32Array));
    } finally {
      raw.close();
    }
  });

  it('server not running → TRITON_UNAVAILABLE naming the endpoint, well within the timeout', async () => {
    const port = await freePort();
    const c = new GrpcClient({ port, timeoutMs: 3000 });
    const t0 = Date.now();
    try {
      await assert.rejects(c.serverReady(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'TRITON_UNAVAILABLE', err.message);
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        return true;
      });
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
    } finally {
      await c.close();
    }
  });

  it('an HTTP/1 server on the port → TRITON_UNAVAILABLE saying it does not speak gRPC', async () => {
    const web = http.createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const port = (web.address() as net.AddressInfo).port;
    const c = new GrpcClient({ port, timeoutMs: 3000 });
    try {
      await assert.rejects(c.serverLive(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'TRITON_UNAVAILABLE', err.message);
        assert.match(err.message, /does not speak gRPC/);
        assert.doesNotMatch(err.message, /Resolution note/);
        return true;
      });
    } finally {
      await c.close();
      web.closeAllConnections();
      await new Promise<void>((r) => web.close(() => r()));
    }
  });

  it('a proxy answering HTTP/2 502 with an HTML page → TRITON_UNAVAILABLE naming the 502', async () => {
    const proxy = http2.createServer();
    proxy.on('stream', (stream) => {
      stream.respond({ ':status': 502, 'content-type': 'text/html' });
      stream.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const port = (proxy.address() as net.AddressInfo).port;
    const c = new GrpcClient({ port, timeoutMs: 3000 });
    try {
      await assert.rejects(c.modelMetadata('yolov8n'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'TRITON_UNAVAILABLE', err.message);
        assert.match(err.message, /502/);
        assert.doesNotMatch(err.message, /<html>/);
        return true;
      });
    } finally {
      await c.close();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('a deadline shorter than the inference → TIMEOUT at the deadline', async () => {
    const t0 = Date.now();
    await assert.rejects(
      client.infer({ model: 'yolov5n_fp16', inputs: [halfImages(4, 4)] }, { timeoutMs: 100 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'TIMEOUT', err.message);
        assert.match(err.message, /100 ms/);
        return true;
      },
    );
    // Far below the client's 30 s default: the per-call deadline ended it. (Not ~100 ms:
    // encoding 9.8 MB and the in-process server share this event loop.)
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.equal(await client.modelReady('yolov8n'), true);
  });

  it('an abort → CANCELLED, before or during the call', async () => {
    const ac = new AbortController();
    const p = client.infer(
      { model: 'yolov5n_fp16', inputs: [halfImages(4, 6)] },
      { signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(p, { code: 'CANCELLED' });
    await assert.rejects(client.serverLive({ signal: ac.signal }), { code: 'CANCELLED' });
    assert.equal(await client.serverLive(), true);
  });

  it('sends the configured headers as metadata on every call', async () => {
    const { withToken, without, seen, close } = await startGuardedFrontend(backend);
    try {
      assert.equal(await withToken.serverLive(), true);
      assert.equal(await withToken.modelReady('mobilenetv2'), true);
      await assert.rejects(without.serverLive(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'UNAUTHORIZED', err.message);
        assert.match(err.message, new RegExp(GUARD_REFUSAL));
        return true;
      });
      assert.deepEqual(seen, ['Bearer s3cret|f1', 'Bearer s3cret|f1', 'undefined|undefined']);
    } finally {
      await close();
    }
  });

  it('keeps working when the server restarts on the same port', async () => {
    const first = await startGrpcFrontend(backend, { port: 0 });
    const c = new GrpcClient({ port: first.port, timeoutMs: 5000 });
    let second: GrpcFrontend | undefined;
    try {
      assert.equal(await c.serverLive(), true);
      await first.close();
      await assert.rejects(c.serverLive(), { code: 'TRITON_UNAVAILABLE' });
      second = await startGrpcFrontend(backend, { port: first.port });
      let live = false;
      for (let i = 0; i < 40 && !live; i++) {
        live = await c.serverLive().catch(() => false);
        if (!live) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(live, true);
    } finally {
      await c.close();
      await second?.close();
    }
  });

  it('close() cancels running calls, leaves no handles, and later calls say it is closed', async () => {
    const before = netHandles();
    const c = new GrpcClient({ port: frontend.port });
    assert.equal(await c.serverLive(), true);
    const running = c.infer({ model: 'yolov5n_fp16', inputs: [halfImages(1, 2)] });
    await new Promise((r) => setTimeout(r, 20));
    await c.close();
    await c.close();
    await assert.rejects(running, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TRITON_UNAVAILABLE', err.message);
      assert.match(err.message, /closed/);
      return true;
    });
    await assert.rejects(c.serverLive(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TRITON_UNAVAILABLE');
      assert.match(err.message, /client is closed/);
      return true;
    });
    assert.ok(
      await eventually(() => netHandles() <= before),
      `handles: ${process.getActiveResourcesInfo().join(', ')}`,
    );
  });

  it("the frontend's close() releases its port", async () => {
    const fe = await startGrpcFrontend(backend, { port: 0 });
    await fe.close();
    await fe.close();
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(fe.port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((r) => again.close(() => r()));
  });

  describe('TLS', () => {
    let cert: Buffer;
    let tlsFrontend: GrpcFrontend;

    before(async () => {
      const tls = makeSelfSignedCert();
      cert = tls.cert;
      tlsFrontend = await startGrpcFrontend(backend, {
        port: 0,
        credentials: grpcServerCredentials(tls),
      });
    });
    after(async () => {
      await tlsFrontend?.close();
    });

    const tryLive = async (tls: ConstructorParameters<typeof GrpcClient>[0]): Promise<string> => {
      const c = new GrpcClient({ port: tlsFrontend.port, timeoutMs: 5000, ...tls });
      try {
        return String(await c.serverLive());
      } catch (err) {
        return (err as { code: string }).code;
      } finally {
        await c.close();
      }
    };

    it('verifies the server by default: an unknown CA is refused', async () => {
      assert.equal(await tryLive({ tls: { servername: TLS_SERVER_NAME } }), 'TRITON_UNAVAILABLE');
    });

    it('trusts the given CA, and checks the name (servername overrides it)', async () => {
      // 'localhost' is not the name in the certificate.
      assert.equal(await tryLive({ host: 'localhost', tls: { ca: cert } }), 'TRITON_UNAVAILABLE');
      assert.equal(await tryLive({ tls: { ca: cert, servername: TLS_SERVER_NAME } }), 'true');
    });

    it('verify: false really skips both the CA and the name check', async () => {
      assert.equal(await tryLive({ host: 'localhost', tls: { verify: false } }), 'true');
    });

    it('plaintext against a TLS port fails as TRITON_UNAVAILABLE', async () => {
      assert.equal(await tryLive({}), 'TRITON_UNAVAILABLE');
    });
  });
});

describe('gRPC client options', () => {
  it('refuses options that cannot work, saying what to change', () => {
    assert.throws(() => new GrpcClient({ port: 70000 }), { code: 'INVALID_CONFIG' });
    assert.throws(() => new GrpcClient({ timeoutMs: 0 }), { code: 'INVALID_CONFIG' });
    assert.throws(() => new GrpcClient({ maxMessageBytes: -1 }), { code: 'INVALID_CONFIG' });
    assert.throws(() => new GrpcClient({ headers: { 'bad header': 'x' } }), {
      code: 'INVALID_CONFIG',
    });
    assert.throws(() => new GrpcClient({ tls: { cert: 'x' } }), /tls\.cert and tls\.key/);
    for (const connections of [0, 1.5, NaN]) {
      assert.throws(() => new GrpcClient({ connections }), {
        code: 'INVALID_CONFIG',
        message: /connections is .*: it must be a whole number of at least 1/,
      });
    }
  });
});
