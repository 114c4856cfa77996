/**
 * The client suite: the same cases over gRPC, HTTP and local, against a real
 * `triton-vision-serve` process on loopback serving the real fixture models, or,
 * when TRITON_URL / TRITON_GRPC_URL are set (`npm run test:triton`), against
 * NVIDIA's real tritonserver for those transports (test/support/endpoints.ts).
 * Expected outputs come from running the same ONNX file directly with
 * onnxruntime-node on the same input (bit-identical), never from the client.
 * The few expectations that differ for real Triton are in fixtureExpectations()
 * and test/triton/NOTES.md.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createClient, type ClientOptions } from '../../src/client';
import { float32ToHalf } from '../../src/protocol/tensor';
import type { InferenceClient, Tensor } from '../../src/protocol/types';
import { buildFixtureRepository, fixtureModel } from '../support/fixtures';
import { asHalfValues, releaseOnnxSessions, runOnnx, sameBits, seededValues } from '../support/ort';
import {
  externalEndpoints,
  fixtureExpectations,
  openRemoteEndpoints,
  type RemoteEndpoints,
  type ServerKind,
} from '../support/endpoints';
import { startServe, type ServeHandle } from '../support/serve';

type Mode = 'grpc' | 'http' | 'local';
const MODES: Mode[] = ['grpc', 'http', 'local'];

function optionsFor(
  mode: Mode,
  endpoints: RemoteEndpoints,
  repo: string,
  extra: object = {},
): ClientOptions {
  if (mode === 'local') return { mode, modelRepository: repo, ...extra };
  const ep = endpoints[mode];
  return { mode, host: ep.host, port: ep.port, timeoutMs: 20000, ...extra };
}

/** Who answers `mode`: known before any server starts, so test titles can say it. */
function serverKind(mode: Mode): ServerKind {
  return mode !== 'local' && externalEndpoints()[mode] ? 'triton' : 'triton-vision-serve';
}

const yoloInput = (n = 1, seed = 7): Tensor => ({
  name: 'images',
  datatype: 'FP32',
  shape: [n, 3, 640, 640],
  data: seededValues(n * 3 * 640 * 640, seed),
});

/** Network handles (sockets, servers) currently open in this process. */
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

describe('client suite (gRPC, HTTP, local)', function () {
  this.timeout(120000);
  const repo = buildFixtureRepository();
  let endpoints: RemoteEndpoints;

  before(async () => {
    endpoints = await openRemoteEndpoints(repo);
  });
  after(async () => {
    await endpoints?.stop();
    await releaseOnnxSessions();
  });

  for (const mode of MODES) {
    const kind = serverKind(mode);
    const expected = fixtureExpectations(kind);
    describe(`over ${mode} against ${kind === 'triton' ? 'real Triton' : 'triton-vision-serve'}`, () => {
      let client: InferenceClient;
      before(() => {
        client = createClient(optionsFor(mode, endpoints, repo));
      });
      after(async () => {
        await client?.close();
      });

      it('reports the server live and ready', async () => {
        assert.equal(await client.serverLive(), true);
        assert.equal(await client.serverReady(), true);
      });

      it('returns server metadata with the extensions it implements', async () => {
        const md = await client.serverMetadata();
        assert.equal(md.name, expected.serverName);
        assert.match(md.version, /^\d+\.\d+\.\d+/);
        for (const ext of ['binary_tensor_data', 'model_repository', 'statistics']) {
          assert.ok(md.extensions.includes(ext), `missing extension ${ext}`);
        }
      });

      it('lists every fixture model in the repository index as READY', async () => {
        const index = await client.repositoryIndex();
        const byName = new Map(index.map((m) => [m.name, m]));
        for (const name of ['yolov8n', 'yolov5n_fp16', 'yolov8n_seg', 'mobilenetv2']) {
          assert.equal(
            byName.get(name)?.state,
            'READY',
            `${name}: ${JSON.stringify(byName.get(name))}`,
          );
        }
      });

      it('says a model is ready, and an unknown model is not', async () => {
        assert.equal(await client.modelReady('yolov8n'), true);
        assert.equal(await client.modelReady('yolov8n', '1'), true);
        assert.equal(await client.modelReady('no_such_model'), false);
      });

      it('returns model metadata with the batch dimension per max_batch_size', async () => {
        const v8 = await client.modelMetadata('yolov8n');
        assert.equal(v8.name, 'yolov8n');
        assert.deepEqual(v8.versions, ['1']);
        assert.equal(v8.platform, expected.metadataPlatform);
        assert.deepEqual(v8.inputs, [
          { name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640] },
        ]);
        assert.deepEqual(v8.outputs, [{ name: 'output0', datatype: 'FP32', shape: [1, 84, 8400] }]);
        // max_batch_size > 0: the full shape is [-1] + dims
        const v5 = await client.modelMetadata('yolov5n_fp16');
        assert.deepEqual(v5.inputs, [
          { name: 'images', datatype: 'FP16', shape: [-1, 3, 640, 640] },
        ]);
        assert.deepEqual(v5.outputs, [
          { name: 'output', datatype: 'FP16', shape: [-1, 25200, 85] },
        ]);
        const seg = await client.modelMetadata('yolov8n_seg');
        assert.deepEqual(
          seg.outputs.map((o) => [o.name, o.shape]),
          [
            ['output0', [1, 116, 8400]],
            ['output1', [1, 32, 160, 160]],
          ],
        );
      });

      it('returns the model config as numbers, with max_batch_size always present', async () => {
        const v8 = await client.modelConfig('yolov8n');
        assert.equal(v8.name, 'yolov8n');
        assert.equal(v8.platform, expected.configPlatform);
        assert.equal(v8.backend, expected.configBackend);
        assert.equal(v8.max_batch_size, 0);
        assert.deepEqual(v8.input[0]!.dims, [1, 3, 640, 640]);
        assert.equal(v8.input[0]!.data_type, 'TYPE_FP32');
        assert.deepEqual(v8.parameters?.task, { string_value: 'detect' });
        const mb = await client.modelConfig('mobilenetv2');
        assert.equal(mb.max_batch_size, 8);
        assert.deepEqual(mb.input[0]!.dims, [3, 224, 224]);
        assert.deepEqual(mb.output[0]!.dims, [1000]);
      });

      it('infers yolov8n with outputs bit-identical to onnxruntime on the same input', async () => {
        const input = yoloInput();
        const expected = await runOnnx(fixtureModel('yolov8n_int8_640.onnx'), [input]);
        const res = await client.infer({ model: 'yolov8n', inputs: [input] });
        assert.equal(res.model, 'yolov8n');
        assert.equal(res.version, '1');
        assert.equal(res.outputs.length, 1);
        const out = res.outputs[0]!;
        assert.equal(out.name, 'output0');
        assert.equal(out.datatype, 'FP32');
        assert.deepEqual(out.shape, [1, 84, 8400]);
        assert.ok(sameBits(out.data as Float32Array, expected.output0!.data as Float32Array));
      });

      it('returns both segmentation outputs, and only the requested one when asked', async () => {
        const input = yoloInput(1, 11);
        const expected = await runOnnx(fixtureModel('yolov8n-seg_int8_640_retargeted.onnx'), [
          input,
        ]);
        const all = await client.infer({ model: 'yolov8n_seg', inputs: [input] });
        assert.deepEqual(
          all.outputs.map((o) => o.name),
          ['output0', 'output1'],
        );
        assert.ok(
          sameBits(all.outputs[1]!.data as Float32Array, expected.output1!.data as Float32Array),
        );
        const one = await client.infer({
          model: 'yolov8n_seg',
          inputs: [input],
          outputs: [{ name: 'output1' }],
        });
        assert.deepEqual(
          one.outputs.map((o) => o.name),
          ['output1'],
        );
        assert.ok(
          sameBits(one.outputs[0]!.data as Float32Array, expected.output1!.data as Float32Array),
        );
      });

      it('round-trips FP16 tensors through the FP16 model', async () => {
        const values = asHalfValues(seededValues(3 * 640 * 640, 3));
        const input: Tensor = {
          name: 'images',
          datatype: 'FP16',
          shape: [1, 3, 640, 640],
          data: values,
        };
        const expected = await runOnnx(fixtureModel('yolov5n_fp16_dynamic.onnx'), [input]);
        const res = await client.infer({ model: 'yolov5n_fp16', inputs: [input] });
        const out = res.outputs[0]!;
        assert.equal(out.datatype, 'FP16');
        assert.deepEqual(out.shape, [1, 25200, 85]);
        assert.ok(out.data instanceof Float32Array);
        assert.ok(sameBits(out.data, expected.output!.data as Float32Array));
        // Raw half bits are accepted as input too and give the same answer.
        const bits = new Uint16Array(values.length);
        float32ToHalf(values, bits);
        const res2 = await client.infer({
          model: 'yolov5n_fp16',
          inputs: [{ ...input, data: bits }],
        });
        assert.ok(
          sameBits(res2.outputs[0]!.data as Float32Array, expected.output!.data as Float32Array),
        );
      });

      it('runs a batch of 2 on the dynamic-batch model, equal to two single runs', async () => {
        const a = asHalfValues(seededValues(3 * 640 * 640, 21));
        const b = asHalfValues(seededValues(3 * 640 * 640, 22));
        const both = new Float32Array(a.length * 2);
        both.set(a, 0);
        both.set(b, a.length);
        const res = await client.infer({
          model: 'yolov5n_fp16',
          inputs: [{ name: 'images', datatype: 'FP16', shape: [2, 3, 640, 640], data: both }],
        });
        const out = res.outputs[0]!;
        assert.deepEqual(out.shape, [2, 25200, 85]);
        const batched = await runOnnx(fixtureModel('yolov5n_fp16_dynamic.onnx'), [
          { name: 'images', datatype: 'FP16', shape: [2, 3, 640, 640], data: both },
        ]);
        assert.ok(sameBits(out.data as Float32Array, batched.output!.data as Float32Array));
        const half = 25200 * 85;
        const single = await runOnnx(fixtureModel('yolov5n_fp16_dynamic.onnx'), [
          { name: 'images', datatype: 'FP16', shape: [1, 3, 640, 640], data: b },
        ]);
        const second = (out.data as Float32Array).subarray(half);
        // Batching may change accumulation order inside ORT kernels: compare in half precision.
        let worst = 0;
        const ref = single.output!.data as Float32Array;
        for (let i = 0; i < half; i++)
          worst = Math.max(worst, Math.abs(second[i]! - ref[i]!) / (Math.abs(ref[i]!) + 1));
        assert.ok(worst < 2e-3, `batch item 2 differs from its single run by ${worst}`);
      });

      it('unloads a model (infer then says MODEL_NOT_READY) and loads it back', async () => {
        const state = async () =>
          (await client.repositoryIndex()).find((m) => m.name === 'mobilenetv2')?.state;
        /** Real Triton answers unload at once and unloads in the background (NOTES.md). */
        const unloaded = async (): Promise<string | undefined> => {
          const end = Date.now() + (expected.asyncUnload ? 30000 : 0);
          let s = await state();
          while (s !== 'UNAVAILABLE' && Date.now() < end) {
            assert.ok(s === 'UNLOADING' || s === 'READY', `state while unloading: ${s}`);
            await new Promise((r) => setTimeout(r, 100));
            s = await state();
          }
          return s;
        };
        await client.unloadModel('mobilenetv2');
        try {
          assert.equal(await client.modelReady('mobilenetv2'), false);
          assert.equal(await unloaded(), 'UNAVAILABLE');
          const ready = await client.repositoryIndex({ ready: true });
          assert.ok(!ready.some((m) => m.name === 'mobilenetv2'));
          await assert.rejects(
            client.infer({
              model: 'mobilenetv2',
              inputs: [
                {
                  name: 'input',
                  datatype: 'FP32',
                  shape: [1, 3, 224, 224],
                  data: seededValues(3 * 224 * 224),
                },
              ],
            }),
            (err: { code?: string; message?: string }) => {
              assert.equal(err.code, 'MODEL_NOT_READY', err.message);
              assert.match(err.message!, /mobilenetv2/);
              return true;
            },
          );
        } finally {
          // Loading while the old instance is still unloading can fail on real Triton.
          await unloaded();
          await client.loadModel('mobilenetv2');
        }
        assert.equal(await client.modelReady('mobilenetv2'), true);
        assert.equal(await state(), 'READY');
      });

      it('counts successes and failures in the model statistics', async () => {
        const stat = async () => (await client.modelStatistics('mobilenetv2'))[0]!;
        const before = await stat();
        const input: Tensor = {
          name: 'input',
          datatype: 'FP32',
          shape: [1, 3, 224, 224],
          data: seededValues(3 * 224 * 224, 5),
        };
        await client.infer({ model: 'mobilenetv2', inputs: [input] });
        await client.infer({ model: 'mobilenetv2', inputs: [input] });
        await assert.rejects(
          client.infer({ model: 'mobilenetv2', inputs: [{ ...input, shape: [1, 3, 112, 448] }] }),
        );
        const after = await stat();
        assert.equal(after.name, 'mobilenetv2');
        assert.equal(after.version, '1');
        assert.equal(after.inference_stats.success.count - before.inference_stats.success.count, 2);
        assert.ok(after.inference_stats.success.ns > before.inference_stats.success.ns);
        assert.ok(
          after.inference_stats.compute_infer.count >=
            before.inference_stats.compute_infer.count + 2,
        );
        assert.equal(after.inference_count - before.inference_count, 2);
        assert.ok(after.last_inference >= before.last_inference);
        const all = await client.modelStatistics();
        assert.ok(all.some((s) => s.name === 'yolov8n'));
      });

      describe('errors', () => {
        it('unknown model → NOT_FOUND naming the model', async () => {
          await assert.rejects(
            client.infer({ model: 'no_such_model', inputs: [yoloInput()] }),
            (err: Error & { code?: string }) => {
              assert.equal(err.code, 'NOT_FOUND', err.message);
              assert.match(err.message, /no_such_model/);
              return true;
            },
          );
          await assert.rejects(client.modelMetadata('no_such_model'), { code: 'NOT_FOUND' });
          await assert.rejects(client.modelConfig('no_such_model'), { code: 'NOT_FOUND' });
        });

        it('wrong input shape → INVALID_ARGUMENT', async () => {
          await assert.rejects(
            client.infer({
              model: 'yolov8n',
              inputs: [
                {
                  name: 'images',
                  datatype: 'FP32',
                  shape: [1, 3, 320, 320],
                  data: new Float32Array(3 * 320 * 320),
                },
              ],
            }),
            (err: Error & { code?: string }) => {
              assert.equal(err.code, 'INVALID_ARGUMENT', err.message);
              if (mode === 'grpc' && kind === 'triton') {
                // Triton's text for this one ends in a space, so Node's HTTP/2 drops it
                // (NOTES.md); the client must still say what to check.
                assert.match(err.message, /without a readable reason: check the input .*shapes/);
              } else {
                assert.match(err.message, /640/);
              }
              return true;
            },
          );
        });

        it('wrong input datatype → INVALID_ARGUMENT', async () => {
          await assert.rejects(
            client.infer({
              model: 'yolov5n_fp16',
              inputs: [
                {
                  name: 'images',
                  datatype: 'FP32',
                  shape: [1, 3, 640, 640],
                  data: new Float32Array(3 * 640 * 640),
                },
              ],
            }),
            (err: Error & { code?: string }) => {
              assert.equal(err.code, 'INVALID_ARGUMENT', err.message);
              assert.match(err.message, /FP16/);
              return true;
            },
          );
        });

        it('a deadline shorter than the inference → TIMEOUT, and the client still works', async () => {
          await assert.rejects(
            client.infer({ model: 'yolov8n_seg', inputs: [yoloInput(1, 9)] }, { timeoutMs: 1 }),
            { code: 'TIMEOUT' },
          );
          assert.equal(await client.modelReady('yolov8n'), true);
        });

        it('an aborted call → CANCELLED', async () => {
          const ac = new AbortController();
          const p = client.infer(
            { model: 'yolov8n_seg', inputs: [yoloInput(1, 10)] },
            { signal: ac.signal },
          );
          setTimeout(() => ac.abort(), 5);
          await assert.rejects(p, { code: 'CANCELLED' });
          assert.equal(await client.serverLive(), true);
        });

        if (mode !== 'local') {
          it('a request bigger than the configured limit → MESSAGE_TOO_LARGE, then small calls work', async () => {
            const small = createClient(
              optionsFor(mode, endpoints, repo, { maxMessageBytes: 1024 * 1024 }),
            );
            try {
              await assert.rejects(
                small.infer({ model: 'yolov8n', inputs: [yoloInput()] }),
                (err: Error & { code?: string }) => {
                  assert.equal(err.code, 'MESSAGE_TOO_LARGE', err.message);
                  return true;
                },
              );
              assert.equal(await small.serverLive(), true);
            } finally {
              await small.close();
            }
          });
        }
      });

      it('leaves no socket or channel open after close()', async () => {
        const before = netHandles();
        const c = createClient(optionsFor(mode, endpoints, repo));
        assert.equal(await c.serverLive(), true);
        await c.infer({
          model: 'mobilenetv2',
          inputs: [
            {
              name: 'input',
              datatype: 'FP32',
              shape: [1, 3, 224, 224],
              data: seededValues(3 * 224 * 224),
            },
          ],
        });
        await c.close();
        await c.close(); // idempotent
        assert.ok(
          await eventually(() => netHandles() <= before),
          `handles: ${process.getActiveResourcesInfo().join(', ')}`,
        );
        await assert.rejects(c.serverLive(), { code: 'TRITON_UNAVAILABLE' });
      });
    });
  }
});

describe('remote clients when the server is down, dies, or is not KServe', function () {
  this.timeout(120000);
  const repo = buildFixtureRepository();

  for (const mode of ['grpc', 'http'] as const) {
    describe(`over ${mode}`, () => {
      it('server not running → TRITON_UNAVAILABLE within the timeout, no hang', async () => {
        // A port that was just free: nobody listens there.
        const probe = http.createServer();
        await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
        const port = (probe.address() as AddressInfo).port;
        await new Promise<void>((r) => probe.close(() => r()));
        const c = createClient({ mode, host: '127.0.0.1', port, timeoutMs: 3000 });
        const t0 = Date.now();
        try {
          await assert.rejects(c.serverReady(), (err: Error & { code?: string }) => {
            assert.equal(err.code, 'TRITON_UNAVAILABLE', err.message);
            assert.match(err.message, new RegExp(String(port)));
            return true;
          });
          assert.ok(Date.now() - t0 < 3500, `took ${Date.now() - t0} ms`);
        } finally {
          await c.close();
        }
      });

      it('a non-KServe 502 HTML page from a proxy → a clear error', async () => {
        // gRPC rides on HTTP/2, so its proxy must speak HTTP/2 to show a status at all.
        const page = '<html><body><h1>502 Bad Gateway</h1>nginx</body></html>';
        const proxy =
          mode === 'grpc'
            ? http2.createServer((_req, res) => {
                res.writeHead(502, { 'content-type': 'text/html' });
                res.end(page);
              })
            : http.createServer((_req, res) => {
                res.writeHead(502, { 'content-type': 'text/html' });
                res.end(page);
              });
        const sessions = new Set<http2.ServerHttp2Session>();
        if (!(proxy instanceof http.Server)) proxy.on('session', (s) => sessions.add(s));
        await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
        const port = (proxy.address() as AddressInfo).port;
        const c = createClient({ mode, host: '127.0.0.1', port, timeoutMs: 3000 });
        try {
          await assert.rejects(c.modelMetadata('yolov8n'), (err: Error & { code?: string }) => {
            assert.ok(
              ['TRITON_UNAVAILABLE', 'PROTOCOL_ERROR'].includes(err.code!),
              `${err.code}: ${err.message}`,
            );
            assert.match(err.message, /502/);
            assert.doesNotMatch(err.message, /<html>/i, 'the HTML page is summarised, not dumped');
            return true;
          });
        } finally {
          await c.close();
          for (const s of sessions) s.destroy();
          if (proxy instanceof http.Server) proxy.closeAllConnections();
          await new Promise<void>((r) => proxy.close(() => r()));
        }
      });

      it('server killed mid-request → an error, then the same client works once it is back', async () => {
        const first = await startServe({ repository: repo });
        const port = mode === 'grpc' ? first.grpcPort : first.httpPort;
        const c = createClient({ mode, host: '127.0.0.1', port, timeoutMs: 20000 });
        let second: ServeHandle | undefined;
        try {
          assert.equal(await c.serverReady(), true);
          const pending = c.infer({ model: 'yolov8n_seg', inputs: [yoloInput(1, 4)] });
          const failed = assert.rejects(pending, (err: Error & { code?: string }) => {
            assert.ok(
              ['TRITON_UNAVAILABLE', 'PROTOCOL_ERROR'].includes(err.code!),
              `${err.code}: ${err.message}`,
            );
            return true;
          });
          await new Promise((r) => setTimeout(r, 60));
          await first.kill();
          await failed;
          await assert.rejects(c.serverLive(), { code: 'TRITON_UNAVAILABLE' });
          second = await startServe({
            repository: repo,
            httpPort: first.httpPort,
            grpcPort: first.grpcPort,
          });
          // grpc-js reconnects with backoff: allow a few tries within a bounded time.
          let live = false;
          for (let i = 0; i < 40 && !live; i++) {
            live = await c.serverLive().catch(() => false);
            if (!live) await new Promise((r) => setTimeout(r, 250));
          }
          assert.equal(live, true);
          const res = await c.infer({
            model: 'mobilenetv2',
            inputs: [
              {
                name: 'input',
                datatype: 'FP32',
                shape: [1, 3, 224, 224],
                data: seededValues(3 * 224 * 224),
              },
            ],
          });
          assert.deepEqual(res.outputs[0]!.shape, [1, 1000]);
        } finally {
          await c.close();
          await second?.stop();
          await first.stop();
        }
      });
    });
  }
});
