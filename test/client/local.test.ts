/**
 * LocalClient: a real Triton-layout repository of the fixture ONNX models, run
 * in-process by onnxruntime-node. Every expected tensor comes from running the same
 * ONNX file directly with onnxruntime-node on the same input (test/support/ort.ts).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalClient, type OrtRuntime, type OrtSession } from '../../src/client/local';
import { float32ToHalf } from '../../src/protocol/tensor';
import type { InferRequest, Tensor } from '../../src/protocol/types';
import {
  FIXTURE_REPOSITORY,
  buildFixtureRepository,
  fixtureModel,
  type FixtureModelSpec,
} from '../support/fixtures';
import { asHalfValues, releaseOnnxSessions, runOnnx, sameBits, seededValues } from '../support/ort';
import { version as PACKAGE_VERSION } from '../../package.json';

const TRITON_DIR = path.resolve(__dirname, '..', '..', 'models', 'triton');

/** Extra models beside the shared fixture repository, one per situation under test. */
const EXTRA: FixtureModelSpec[] = [
  {
    // The fixed-size FP16 export (yolov5 export.py --half at 256 px): a quick FP16 model.
    name: 'yolov5n_fp16_256',
    file: 'yolov5n_fp16_256.onnx',
    config: `name: "yolov5n_fp16_256"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP16 dims: [ 1, 3, 256, 256 ] } ]
output [ { name: "output0" data_type: TYPE_FP16 dims: [ 1, 4032, 85 ] } ]
`,
  },
  {
    name: 'seg320',
    file: 'yolov8n-seg_int8_320.onnx',
    config: `name: "seg320"
backend: "onnxruntime"
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 320, 320 ] } ]
output [
  { name: "output0" data_type: TYPE_FP32 dims: [ 1, 116, 2100 ] },
  { name: "output1" data_type: TYPE_FP32 dims: [ 1, 32, 80, 80 ] }
]
`,
  },
  {
    name: 'wrong_dtype',
    file: 'yolov8n_int8_640.onnx',
    config: `name: "wrong_dtype"
platform: "onnxruntime_onnx"
input [ { name: "images" data_type: TYPE_FP16 dims: [ 1, 3, 640, 640 ] } ]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 1, 84, 8400 ] } ]
`,
  },
  {
    // max_batch_size > 0 needs a variable first dimension; this export has a fixed 1.
    name: 'fixed_batch',
    file: 'yolov8n_int8_640.onnx',
    config: `name: "fixed_batch"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "images" data_type: TYPE_FP32 dims: [ 3, 640, 640 ] } ]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 84, 8400 ] } ]
`,
  },
  {
    name: 'wrong_dims',
    file: 'mobilenetv2-12-int8.onnx',
    config: `name: "wrong_dims"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 256, 256 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 1000 ] } ]
`,
  },
  {
    name: 'broken_syntax',
    file: 'mobilenetv2-12-int8.onnx',
    config: `name: "broken_syntax"
max_batch_size 8
`,
  },
  {
    name: 'engine',
    file: 'mobilenetv2-12-int8.onnx',
    config: `name: "engine"
platform: "tensorrt_plan"
input [ { name: "input" data_type: TYPE_FP16 dims: [ 1, 3, 224, 224 ] } ]
output [ { name: "output" data_type: TYPE_FP16 dims: [ 1, 1000 ] } ]
`,
  },
  {
    name: 'reloadable',
    file: 'mobilenetv2-12-int8.onnx',
    config: FIXTURE_REPOSITORY.find((s) => s.name === 'mobilenetv2')!.config.replace(
      'name: "mobilenetv2"',
      'name: "reloadable"',
    ),
  },
];

/** Folders buildFixtureRepository cannot make: no config, no version folder. */
function addOddFolders(repo: string): void {
  for (const [name, file] of [
    ['auto_mobilenet', 'mobilenetv2-12-int8.onnx'],
    ['auto_yolov8n', 'yolov8n_int8_640.onnx'],
  ] as const) {
    fs.mkdirSync(path.join(repo, name, '1'), { recursive: true });
    fs.symlinkSync(fixtureModel(file), path.join(repo, name, '1', 'model.onnx'));
  }
  fs.mkdirSync(path.join(repo, 'no_versions'));
  fs.writeFileSync(
    path.join(repo, 'no_versions', 'config.pbtxt'),
    'name: "no_versions"\nbackend: "onnxruntime"\n',
  );
}

const mobileInput = (n = 1, seed = 5): Tensor => ({
  name: 'input',
  datatype: 'FP32',
  shape: [n, 3, 224, 224],
  data: seededValues(n * 3 * 224 * 224, seed),
});

interface Counted {
  runtime: OrtRuntime;
  created: number;
  released: number;
}

/** The real onnxruntime-node, with session creation and release counted. */
function countingRuntime(): Counted {
  const ort = require('onnxruntime-node') as OrtRuntime;
  const counted: Counted = {
    created: 0,
    released: 0,
    runtime: {
      Tensor: ort.Tensor,
      InferenceSession: {
        async create(file: string, options?: Record<string, unknown>): Promise<OrtSession> {
          const session = await ort.InferenceSession.create(file, options);
          counted.created++;
          const release = session.release.bind(session);
          (session as { release: () => Promise<void> }).release = async () => {
            counted.released++;
            await release();
          };
          return session;
        },
      },
    },
  };
  return counted;
}

async function rejectsWith(
  p: Promise<unknown>,
  code: string,
  ...patterns: RegExp[]
): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    for (const re of patterns) assert.match(err.message, re);
    return true;
  });
}

describe('LocalClient', function () {
  this.timeout(120000);
  const repo = buildFixtureRepository([...FIXTURE_REPOSITORY, ...EXTRA]);
  addOddFolders(repo);
  let client: LocalClient;

  before(() => {
    // The default runtime loader: a lazy require('onnxruntime-node').
    client = new LocalClient({ modelRepository: repo, load: 'all' });
  });
  after(async () => {
    await client.close();
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  describe('server', () => {
    it('is live and ready, and names itself with the package version', async () => {
      assert.equal(await client.serverLive(), true);
      assert.equal(await client.serverReady(), true);
      assert.equal(client.kind, 'local');
      assert.equal(client.endpoint, repo);
      assert.deepEqual(await client.serverMetadata(), {
        name: 'triton-vision-serve',
        version: PACKAGE_VERSION,
        extensions: ['model_repository', 'model_configuration', 'binary_tensor_data', 'statistics'],
      });
    });
  });

  describe('repository', () => {
    it('lists every folder, READY or UNAVAILABLE with the reason', async () => {
      const index = await client.repositoryIndex();
      const byName = new Map(index.map((m) => [m.name, m]));
      assert.deepEqual(
        [...byName.keys()].sort(),
        [...FIXTURE_REPOSITORY, ...EXTRA]
          .map((s) => s.name)
          .concat(['auto_mobilenet', 'auto_yolov8n', 'no_versions'])
          .sort(),
      );
      for (const name of [
        'yolov8n',
        'yolov5n_fp16',
        'yolov8n_seg',
        'mobilenetv2',
        'yolov5n_fp16_256',
        'seg320',
        'auto_mobilenet',
        'auto_yolov8n',
        'reloadable',
      ]) {
        assert.deepEqual(byName.get(name), { name, version: '1', state: 'READY' });
      }
      const reason = (name: string): string => {
        const m = byName.get(name)!;
        assert.equal(m.state, 'UNAVAILABLE', name);
        return m.reason ?? '';
      };
      assert.match(
        reason('wrong_dtype'),
        /input 'images' is TYPE_FP16 but the ONNX model has TYPE_FP32/,
      );
      assert.match(
        reason('fixed_batch'),
        /max_batch_size is 4.*fixed first dimension \[1,3,640,640\]/,
      );
      assert.match(
        reason('wrong_dims'),
        /shape \[-1,3,256,256\], but the ONNX model has \[batch_size,3,224,224\]/,
      );
      assert.match(
        reason('broken_syntax'),
        /config\.pbtxt line 2, column 16: expected ':' or '\{'/,
      );
      assert.match(reason('engine'), /tensorrt_plan.*local mode runs ONNX models/);
      assert.match(reason('no_versions'), /no version folder.*no_versions\/1\/model\.onnx/);
    });

    it('lists only READY models when asked', async () => {
      const ready = await client.repositoryIndex({ ready: true });
      assert.ok(ready.length >= 9);
      assert.ok(ready.every((m) => m.state === 'READY'));
      assert.ok(!ready.some((m) => m.name === 'wrong_dtype'));
    });

    it('says which models and versions are ready', async () => {
      assert.equal(await client.modelReady('yolov8n'), true);
      assert.equal(await client.modelReady('yolov8n', '1'), true);
      assert.equal(await client.modelReady('yolov8n', '2'), false);
      assert.equal(await client.modelReady('wrong_dtype'), false);
      assert.equal(await client.modelReady('no_such_model'), false);
      assert.equal(await client.modelReady('../yolov8n'), false);
    });

    it('returns metadata with [-1, ...dims] when batching and dims exactly when not', async () => {
      assert.deepEqual(await client.modelMetadata('yolov8n'), {
        name: 'yolov8n',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640] }],
        outputs: [{ name: 'output0', datatype: 'FP32', shape: [1, 84, 8400] }],
      });
      const v5 = await client.modelMetadata('yolov5n_fp16', '1');
      assert.equal(v5.platform, 'onnxruntime_onnx');
      assert.deepEqual(v5.inputs, [{ name: 'images', datatype: 'FP16', shape: [-1, 3, 640, 640] }]);
      assert.deepEqual(v5.outputs, [{ name: 'output', datatype: 'FP16', shape: [-1, 25200, 85] }]);
      const mb = await client.modelMetadata('mobilenetv2');
      assert.deepEqual(mb.inputs[0]!.shape, [-1, 3, 224, 224]);
      assert.deepEqual(mb.outputs[0]!.shape, [-1, 1000]);
      const seg = await client.modelMetadata('yolov8n_seg');
      assert.deepEqual(
        seg.outputs.map((o) => [o.name, o.shape]),
        [
          ['output0', [1, 116, 8400]],
          ['output1', [1, 32, 160, 160]],
        ],
      );
    });

    it('returns the normalised config, as a copy', async () => {
      const v5 = await client.modelConfig('yolov5n_fp16');
      assert.equal(v5.platform, 'onnxruntime_onnx');
      assert.equal(v5.backend, 'onnxruntime');
      assert.equal(v5.max_batch_size, 4);
      assert.deepEqual(v5.input[0]!.dims, [3, 640, 640]);
      const v8 = await client.modelConfig('yolov8n');
      assert.equal(v8.max_batch_size, 0);
      assert.deepEqual(v8.parameters, { task: { string_value: 'detect' } });
      v8.input[0]!.dims.push(99);
      assert.deepEqual((await client.modelConfig('yolov8n')).input[0]!.dims, [1, 3, 640, 640]);
    });

    it('auto-completes a model without config.pbtxt from the ONNX file, as Triton does', async () => {
      // Symbolic first dimension everywhere → batching with Triton's default of 4.
      const auto = await client.modelConfig('auto_mobilenet');
      assert.equal(auto.name, 'auto_mobilenet');
      assert.equal(auto.platform, 'onnxruntime_onnx');
      assert.equal(auto.max_batch_size, 4);
      assert.deepEqual(
        auto.input.map((i) => [i.name, i.data_type, i.dims]),
        [['input', 'TYPE_FP32', [3, 224, 224]]],
      );
      assert.deepEqual(
        auto.output.map((o) => [o.name, o.data_type, o.dims]),
        [['output', 'TYPE_FP32', [1000]]],
      );
      assert.deepEqual(
        (await client.modelMetadata('auto_mobilenet')).inputs[0]!.shape,
        [-1, 3, 224, 224],
      );
      // Fixed shapes → no batching; dims are the whole shape.
      const fixed = await client.modelConfig('auto_yolov8n');
      assert.equal(fixed.max_batch_size, 0);
      assert.deepEqual(fixed.input[0]!.dims, [1, 3, 640, 640]);
      assert.deepEqual(fixed.output[0]!.dims, [1, 84, 8400]);
      const res = await client.infer({ model: 'auto_mobilenet', inputs: [mobileInput(2, 8)] });
      assert.deepEqual(res.outputs[0]!.shape, [2, 1000]);
    });
  });

  describe('inference', () => {
    it('gives yolov8n outputs bit-identical to onnxruntime on the same input', async () => {
      const input: Tensor = {
        name: 'images',
        datatype: 'FP32',
        shape: [1, 3, 640, 640],
        data: seededValues(3 * 640 * 640, 7),
      };
      const expected = await runOnnx(fixtureModel('yolov8n_int8_640.onnx'), [input]);
      const res = await client.infer({ model: 'yolov8n', id: 'req-1', inputs: [input] });
      assert.equal(res.model, 'yolov8n');
      assert.equal(res.version, '1');
      assert.equal(res.id, 'req-1');
      assert.equal(res.outputs.length, 1);
      const out = res.outputs[0]!;
      assert.equal(out.name, 'output0');
      assert.equal(out.datatype, 'FP32');
      assert.deepEqual(out.shape, [1, 84, 8400]);
      assert.ok(out.data instanceof Float32Array);
      assert.ok(sameBits(out.data, expected.output0!.data as Float32Array));
    });

    it('runs a batch of 2 on mobilenetv2, equal to onnxruntime and to two single runs', async () => {
      const a = mobileInput(1, 31);
      const b = mobileInput(1, 32);
      const both = new Float32Array(2 * 3 * 224 * 224);
      both.set(a.data as Float32Array, 0);
      both.set(b.data as Float32Array, a.data.length);
      const pair: Tensor = { ...a, shape: [2, 3, 224, 224], data: both };
      const res = await client.infer({ model: 'mobilenetv2', inputs: [pair] });
      const out = res.outputs[0]!;
      assert.deepEqual(out.shape, [2, 1000]);
      const expected = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [pair]);
      assert.ok(sameBits(out.data as Float32Array, expected.output!.data as Float32Array));
      const first = await client.infer({ model: 'mobilenetv2', inputs: [a] });
      const second = await client.infer({ model: 'mobilenetv2', inputs: [b] });
      const batched = out.data as Float32Array;
      assert.ok(sameBits(batched.subarray(0, 1000), first.outputs[0]!.data as Float32Array));
      assert.ok(sameBits(batched.subarray(1000), second.outputs[0]!.data as Float32Array));
    });

    it('round-trips FP16: float values or raw half bits in, float values out', async () => {
      const values = asHalfValues(seededValues(3 * 256 * 256, 3));
      const input: Tensor = {
        name: 'images',
        datatype: 'FP16',
        shape: [1, 3, 256, 256],
        data: values,
      };
      const expected = await runOnnx(fixtureModel('yolov5n_fp16_256.onnx'), [input]);
      const res = await client.infer({ model: 'yolov5n_fp16_256', inputs: [input] });
      const out = res.outputs[0]!;
      assert.equal(out.datatype, 'FP16');
      // 256/8, /16, /32 grids with 3 anchors each: 3 × (32² + 16² + 8²) = 4032 rows.
      assert.deepEqual(out.shape, [1, 4032, 85]);
      assert.ok(out.data instanceof Float32Array);
      assert.ok(sameBits(out.data, expected.output0!.data as Float32Array));
      const bits = float32ToHalf(values);
      const res2 = await client.infer({
        model: 'yolov5n_fp16_256',
        inputs: [{ ...input, data: bits }],
      });
      assert.ok(sameBits(res2.outputs[0]!.data as Float32Array, out.data));
    });

    it('runs a batch of 2 on the dynamic-batch FP16 model, equal to two single runs', async () => {
      const size = 3 * 640 * 640;
      const a = asHalfValues(seededValues(size, 21));
      const b = asHalfValues(seededValues(size, 22));
      const both = new Float32Array(size * 2);
      both.set(a, 0);
      both.set(b, size);
      const tensor = (shape: number[], data: Float32Array): Tensor => ({
        name: 'images',
        datatype: 'FP16',
        shape,
        data,
      });
      const res = await client.infer({
        model: 'yolov5n_fp16',
        inputs: [tensor([2, 3, 640, 640], both)],
      });
      const out = res.outputs[0]!;
      assert.deepEqual(out.shape, [2, 25200, 85]);
      const rows = 25200 * 85;
      for (const [i, values] of [a, b].entries()) {
        const single = await client.infer({
          model: 'yolov5n_fp16',
          inputs: [tensor([1, 3, 640, 640], values)],
        });
        const ref = single.outputs[0]!.data as Float32Array;
        const part = (out.data as Float32Array).subarray(i * rows, (i + 1) * rows);
        // A batch may change accumulation order inside ORT kernels: compare at half precision.
        let worst = 0;
        for (let k = 0; k < rows; k++)
          worst = Math.max(worst, Math.abs(part[k]! - ref[k]!) / (Math.abs(ref[k]!) + 1));
        assert.ok(worst < 2e-3, `batch item ${i} differs from its single run by ${worst}`);
      }
    });

    it('returns only the requested outputs, in the order asked', async () => {
      const input: Tensor = {
        name: 'images',
        datatype: 'FP32',
        shape: [1, 3, 320, 320],
        data: seededValues(3 * 320 * 320, 11),
      };
      const expected = await runOnnx(fixtureModel('yolov8n-seg_int8_320.onnx'), [input]);
      const one = await client.infer({
        model: 'seg320',
        inputs: [input],
        outputs: [{ name: 'output1' }],
      });
      assert.deepEqual(
        one.outputs.map((o) => [o.name, o.shape]),
        [['output1', [1, 32, 80, 80]]],
      );
      assert.ok(
        sameBits(one.outputs[0]!.data as Float32Array, expected.output1!.data as Float32Array),
      );
      const both = await client.infer({
        model: 'seg320',
        inputs: [input],
        outputs: [{ name: 'output1' }, { name: 'output0' }],
      });
      assert.deepEqual(
        both.outputs.map((o) => o.name),
        ['output1', 'output0'],
      );
      assert.ok(
        sameBits(both.outputs[1]!.data as Float32Array, expected.output0!.data as Float32Array),
      );
    });

    it('keeps concurrent requests apart', async () => {
      const inputs = [1, 2, 3, 4, 5, 6].map((seed) => mobileInput(1, 100 + seed));
      const together = await Promise.all(
        inputs.map((input) => client.infer({ model: 'mobilenetv2', inputs: [input] })),
      );
      for (const [i, input] of inputs.entries()) {
        const alone = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [input]);
        assert.ok(
          sameBits(
            together[i]!.outputs[0]!.data as Float32Array,
            alone.output!.data as Float32Array,
          ),
          `request ${i} got another request's answer`,
        );
      }
    });
  });

  describe('load and unload', () => {
    it('unload → MODEL_NOT_READY; load → works again', async () => {
      await client.unloadModel('reloadable');
      assert.equal(await client.modelReady('reloadable'), false);
      const row = (await client.repositoryIndex()).find((m) => m.name === 'reloadable');
      assert.deepEqual(row, { name: 'reloadable', state: 'UNAVAILABLE', reason: 'unloaded' });
      await rejectsWith(
        client.infer({ model: 'reloadable', inputs: [mobileInput()] }),
        'MODEL_NOT_READY',
        /'reloadable' is not loaded/,
      );
      await rejectsWith(client.modelMetadata('reloadable'), 'MODEL_NOT_READY');
      await client.loadModel('reloadable');
      assert.equal(await client.modelReady('reloadable'), true);
      const res = await client.infer({ model: 'reloadable', inputs: [mobileInput()] });
      assert.deepEqual(res.outputs[0]!.shape, [1, 1000]);
    });

    it('re-reads config.pbtxt on load, and keeps serving when a reload fails', async () => {
      const file = path.join(repo, 'reloadable', 'config.pbtxt');
      const original = fs.readFileSync(file, 'utf8');
      try {
        fs.writeFileSync(
          file,
          `${original}parameters { key: "task" value: { string_value: "classify" } }\n`,
        );
        await client.loadModel('reloadable');
        assert.deepEqual((await client.modelConfig('reloadable')).parameters, {
          task: { string_value: 'classify' },
        });
        fs.writeFileSync(file, original.replace('TYPE_FP32', 'TYPE_FP16'));
        await rejectsWith(client.loadModel('reloadable'), 'INVALID_CONFIG', /TYPE_FP16/);
        // Like Triton: the version already served stays up.
        assert.equal(await client.modelReady('reloadable'), true);
        assert.equal((await client.modelConfig('reloadable')).input[0]!.data_type, 'TYPE_FP32');
      } finally {
        fs.writeFileSync(file, original);
      }
    });

    it('retries a model that failed to load once it is fixed', async () => {
      await rejectsWith(client.loadModel('broken_syntax'), 'INVALID_CONFIG', /line 2, column 16/);
      const file = path.join(repo, 'broken_syntax', 'config.pbtxt');
      const original = fs.readFileSync(file, 'utf8');
      try {
        fs.writeFileSync(file, original.replace('max_batch_size 8', 'max_batch_size: 8'));
        await client.loadModel('broken_syntax');
        assert.equal((await client.modelConfig('broken_syntax')).max_batch_size, 8);
        const res = await client.infer({ model: 'broken_syntax', inputs: [mobileInput(3)] });
        assert.deepEqual(res.outputs[0]!.shape, [3, 1000]);
      } finally {
        fs.writeFileSync(file, original);
      }
    });

    it('rejects unknown models with NOT_FOUND', async () => {
      await rejectsWith(client.loadModel('no_such_model'), 'NOT_FOUND', /no_such_model/);
      await rejectsWith(client.unloadModel('no_such_model'), 'NOT_FOUND', /no_such_model/);
      await rejectsWith(client.loadModel('../etc'), 'NOT_FOUND');
    });
  });

  describe('statistics', () => {
    it('counts inferences, executions, failures and phase times', async () => {
      const stat = async () => (await client.modelStatistics('mobilenetv2'))[0]!;
      const before = await stat();
      const t0 = Date.now();
      await client.infer({ model: 'mobilenetv2', inputs: [mobileInput(1, 1)] });
      await client.infer({ model: 'mobilenetv2', inputs: [mobileInput(1, 2)] });
      await client.infer({ model: 'mobilenetv2', inputs: [mobileInput(2, 3)] });
      await assert.rejects(
        client.infer({
          model: 'mobilenetv2',
          inputs: [{ ...mobileInput(), shape: [1, 3, 112, 448] }],
        }),
      );
      const after = await stat();
      assert.equal(after.name, 'mobilenetv2');
      assert.equal(after.version, '1');
      // Triton counts inferences per batch item and executions per model run.
      assert.equal(after.inference_count - before.inference_count, 4);
      assert.equal(after.execution_count - before.execution_count, 3);
      const d = (k: keyof typeof after.inference_stats) =>
        after.inference_stats[k].count - before.inference_stats[k].count;
      assert.equal(d('success'), 3);
      assert.equal(d('fail'), 1);
      assert.equal(d('compute_input'), 3);
      assert.equal(d('compute_infer'), 3);
      assert.equal(d('compute_output'), 3);
      assert.ok(after.inference_stats.compute_infer.ns > before.inference_stats.compute_infer.ns);
      assert.ok(after.inference_stats.success.ns > before.inference_stats.success.ns);
      assert.ok(after.last_inference >= t0 && after.last_inference <= Date.now());
    });

    it('lists every READY model without a name, and rejects unknown ones', async () => {
      const all = await client.modelStatistics();
      const names = new Set(all.map((s) => s.name));
      assert.ok(names.has('yolov8n') && names.has('mobilenetv2'));
      assert.ok(!names.has('wrong_dtype'));
      await rejectsWith(client.modelStatistics('no_such_model'), 'NOT_FOUND', /no_such_model/);
      await rejectsWith(client.modelStatistics('mobilenetv2', '9'), 'NOT_FOUND', /version 9/);
    });
  });

  describe('errors', () => {
    const v8 = (t: Partial<Tensor> = {}): InferRequest => ({
      model: 'yolov8n',
      inputs: [
        {
          name: 'images',
          datatype: 'FP32',
          shape: [1, 3, 640, 640],
          data: new Float32Array(3 * 640 * 640),
          ...t,
        } as Tensor,
      ],
    });

    it('unknown model → NOT_FOUND naming the model and the repository', async () => {
      await rejectsWith(
        client.infer({ ...v8(), model: 'no_such_model' }),
        'NOT_FOUND',
        /Model 'no_such_model' is not in the model repository/,
        new RegExp(repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
      );
      await rejectsWith(client.modelMetadata('no_such_model'), 'NOT_FOUND');
      await rejectsWith(client.modelConfig('no_such_model'), 'NOT_FOUND');
      await rejectsWith(client.infer({ ...v8(), model: '../yolov8n' }), 'NOT_FOUND');
    });

    it('unknown or unserved version → NOT_FOUND / MODEL_NOT_READY', async () => {
      await rejectsWith(client.infer({ ...v8(), version: '3' }), 'NOT_FOUND', /no version 3/);
      fs.mkdirSync(path.join(repo, 'yolov8n', '0'));
      try {
        // Folder 0 exists, but version_policy latest:1 serves only version 1.
        await client.loadModel('yolov8n');
        await rejectsWith(client.infer({ ...v8(), version: '0' }), 'MODEL_NOT_READY', /not loaded/);
      } finally {
        fs.rmdirSync(path.join(repo, 'yolov8n', '0'));
      }
    });

    it('a model that failed to load → MODEL_NOT_READY with the reason', async () => {
      await rejectsWith(
        client.infer({ ...v8(), model: 'wrong_dtype' }),
        'MODEL_NOT_READY',
        /'wrong_dtype' is not ready: .*TYPE_FP16/,
      );
    });

    it('wrong shape → INVALID_ARGUMENT naming expected and sent shapes', async () => {
      await rejectsWith(
        client.infer(v8({ shape: [1, 3, 320, 320], data: new Float32Array(3 * 320 * 320) })),
        'INVALID_ARGUMENT',
        /expects shape \[1,3,640,640\], but the request sent \[1,3,320,320\]/,
      );
    });

    it('wrong datatype → INVALID_ARGUMENT', async () => {
      await rejectsWith(
        client.infer({
          model: 'yolov5n_fp16_256',
          inputs: [
            {
              name: 'images',
              datatype: 'FP32',
              shape: [1, 3, 256, 256],
              data: new Float32Array(3 * 256 * 256),
            },
          ],
        }),
        'INVALID_ARGUMENT',
        /is FP16, but the request sent FP32/,
      );
    });

    it('unknown input, missing input, duplicate input → INVALID_ARGUMENT', async () => {
      await rejectsWith(
        client.infer(v8({ name: 'image' })),
        'INVALID_ARGUMENT',
        /no input named 'image': its inputs are 'images'/,
      );
      await rejectsWith(
        client.infer({ model: 'yolov8n', inputs: [] }),
        'INVALID_ARGUMENT',
        /needs input 'images' \(FP32 \[1,3,640,640\]\)/,
      );
      const req = v8();
      await rejectsWith(
        client.infer({ ...req, inputs: [req.inputs[0]!, req.inputs[0]!] }),
        'INVALID_ARGUMENT',
        /appears twice/,
      );
    });

    it('batch too big or batch dimension missing → INVALID_ARGUMENT', async () => {
      await rejectsWith(
        client.infer({ model: 'mobilenetv2', inputs: [mobileInput(9)] }),
        'INVALID_ARGUMENT',
        /batches of 1 to 8, but input 'input' has a batch of 9/,
      );
      await rejectsWith(
        client.infer({
          model: 'mobilenetv2',
          inputs: [{ ...mobileInput(), shape: [3, 224, 224] }],
        }),
        'INVALID_ARGUMENT',
        /expects shape \[-1,3,224,224\] with the batch size \(1 to 8\) first, but the request sent \[3,224,224\]/,
      );
    });

    it('data that does not fill the shape, or an unknown output → INVALID_ARGUMENT', async () => {
      await rejectsWith(
        client.infer(v8({ data: new Float32Array(10) })),
        'INVALID_ARGUMENT',
        /1228800 elements\) but 10 values/,
      );
      await rejectsWith(
        client.infer({ ...v8(), outputs: [{ name: 'output7' }] }),
        'INVALID_ARGUMENT',
        /no output named 'output7': its outputs are 'output0'/,
      );
    });

    it('a deadline that passes during the run → TIMEOUT, and the model keeps working', async () => {
      await rejectsWith(
        client.infer({ model: 'mobilenetv2', inputs: [mobileInput(8)] }, { timeoutMs: 1 }),
        'TIMEOUT',
        /within 1 ms/,
      );
      const input = mobileInput(1, 77);
      const res = await client.infer({ model: 'mobilenetv2', inputs: [input] });
      const expected = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [input]);
      assert.ok(
        sameBits(res.outputs[0]!.data as Float32Array, expected.output!.data as Float32Array),
      );
    });

    it('an abort → CANCELLED, before or during the run', async () => {
      const early = new AbortController();
      early.abort();
      await rejectsWith(
        client.infer({ model: 'mobilenetv2', inputs: [mobileInput()] }, { signal: early.signal }),
        'CANCELLED',
      );
      // During the run: aborted from inside session.run itself, the moment the run begins
      // (an event, not a guess at how long the run takes).
      const ort = require('onnxruntime-node') as OrtRuntime;
      const ac = new AbortController();
      let runs = 0;
      const during = new LocalClient({
        modelRepository: repo,
        loadRuntime: () => ({
          Tensor: ort.Tensor,
          InferenceSession: {
            async create(file: string, options?: Record<string, unknown>): Promise<OrtSession> {
              const session = await ort.InferenceSession.create(file, options);
              const run = session.run.bind(session);
              (session as { run: OrtSession['run'] }).run = (feeds, fetches) => {
                runs++;
                ac.abort();
                return run(feeds, fetches);
              };
              return session;
            },
          },
        }),
      });
      try {
        const p = during.infer(
          { model: 'mobilenetv2', inputs: [mobileInput(8)] },
          { signal: ac.signal },
        );
        await rejectsWith(p, 'CANCELLED', /cancelled by the caller/);
        assert.equal(runs, 1, 'the abort came during the run');
        assert.equal(await during.modelReady('mobilenetv2'), true);
        const res = await during.infer({ model: 'mobilenetv2', inputs: [mobileInput()] });
        assert.deepEqual(res.outputs[0]!.shape, [1, 1000]);
      } finally {
        await during.close();
      }
      assert.equal(await client.modelReady('mobilenetv2'), true);
    });
  });

  describe('the models/triton configs', () => {
    it('load in local mode when a matching ONNX file is present', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-seed-'));
      const files: Record<string, string> = {
        // Same I/O as the seed's YOLOv8s / YOLOv8s-seg exports (REFERENCE.md B.1).
        Detect_COCO_YOLOv8s_ONNX: 'yolov8n_int8_640.onnx',
        Segment_COCO_YOLOv8sSeg_ONNX: 'yolov8n-seg_int8_640_retargeted.onnx',
        // An FP16 YOLOv5 export whose output is named `output`: not what the config says.
        Detect_COCO_YOLOv5s_ONNX: 'yolov5n_fp16_dynamic.onnx',
      };
      for (const name of fs.readdirSync(TRITON_DIR)) {
        if (!fs.statSync(path.join(TRITON_DIR, name)).isDirectory()) continue;
        fs.mkdirSync(path.join(dir, name, '1'), { recursive: true });
        fs.copyFileSync(
          path.join(TRITON_DIR, name, 'config.pbtxt'),
          path.join(dir, name, 'config.pbtxt'),
        );
        const file = files[name];
        if (file) fs.symlinkSync(fixtureModel(file), path.join(dir, name, '1', 'model.onnx'));
      }
      const seed = new LocalClient({ modelRepository: dir });
      try {
        const index = new Map((await seed.repositoryIndex()).map((m) => [m.name, m]));
        assert.equal(index.size, 8);
        assert.equal(index.get('Detect_COCO_YOLOv8s_ONNX')!.state, 'READY');
        assert.equal(index.get('Segment_COCO_YOLOv8sSeg_ONNX')!.state, 'READY');
        assert.match(
          index.get('Detect_COCO_YOLOv5s_ONNX')!.reason!,
          /TYPE_FP32 but the ONNX model has TYPE_FP16/,
        );
        assert.match(
          index.get('Classify_ImageNet_EfficientNetB0_ONNX')!.reason!,
          /model\.onnx is missing/,
        );
        for (const name of [...index.keys()].filter((n) => n.endsWith('_TensorRT'))) {
          assert.equal(index.get(name)!.state, 'UNAVAILABLE');
          assert.match(index.get(name)!.reason!, /tensorrt_plan, but local mode runs ONNX models/);
        }
        const md = await seed.modelMetadata('Segment_COCO_YOLOv8sSeg_ONNX');
        assert.deepEqual(md.inputs, [
          { name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640] },
        ]);
        assert.deepEqual(
          md.outputs.map((o) => o.shape),
          [
            [1, 116, 8400],
            [1, 32, 160, 160],
          ],
        );
        const cfg = await seed.modelConfig('Detect_COCO_YOLOv8s_ONNX');
        assert.deepEqual(cfg.parameters, {
          task: { string_value: 'detect' },
          family: { string_value: 'yolov8' },
          labels: { string_value: 'coco80' },
        });
      } finally {
        await seed.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('lifecycle', () => {
    it('lazy mode loads a model on first use only', async () => {
      const lazyCount = countingRuntime();
      const lazy = new LocalClient({ modelRepository: repo, loadRuntime: () => lazyCount.runtime });
      try {
        assert.equal(await lazy.serverReady(), true);
        assert.deepEqual(await lazy.modelStatistics(), []);
        assert.equal(lazyCount.created, 0);
        const res = await lazy.infer({ model: 'mobilenetv2', inputs: [mobileInput()] });
        assert.deepEqual(res.outputs[0]!.shape, [1, 1000]);
        assert.equal(lazyCount.created, 1);
        assert.deepEqual(
          (await lazy.modelStatistics()).map((s) => [s.name, s.inference_count]),
          [['mobilenetv2', 1]],
        );
      } finally {
        await lazy.close();
      }
      assert.equal(lazyCount.released, lazyCount.created);
    });

    it('a runtime that cannot be loaded → RUNTIME_MISSING saying how to install one', async () => {
      const missing = new LocalClient({
        modelRepository: repo,
        loadRuntime: () => {
          throw Object.assign(new Error("Cannot find module 'onnxruntime-node'"), {
            code: 'MODULE_NOT_FOUND',
          });
        },
      });
      try {
        assert.equal(await missing.serverLive(), true);
        await rejectsWith(
          missing.infer({ model: 'mobilenetv2', inputs: [mobileInput()] }),
          'RUNTIME_MISSING',
          /^Local mode could not load onnxruntime \(Cannot find module 'onnxruntime-node'\): run `npm install onnxruntime-web` in your Node-RED user directory$/,
        );
        await rejectsWith(missing.loadModel('yolov8n'), 'RUNTIME_MISSING');
        const row = (await missing.repositoryIndex()).find((m) => m.name === 'yolov8n')!;
        assert.equal(row.state, 'UNAVAILABLE');
        assert.match(row.reason!, /npm install onnxruntime-web/);
      } finally {
        await missing.close();
      }
    });

    it('a missing repository folder → not ready, and calls say which folder', async () => {
      const gone = path.join(os.tmpdir(), 'tv-no-such-repository');
      const c = new LocalClient({ modelRepository: gone });
      try {
        assert.equal(await c.serverReady(), false);
        await rejectsWith(
          c.repositoryIndex(),
          'INVALID_CONFIG',
          /tv-no-such-repository does not exist/,
        );
        await rejectsWith(c.infer({ model: 'm', inputs: [] }), 'INVALID_CONFIG');
      } finally {
        await c.close();
      }
    });

    it('close() waits for runs in flight, releases every session, and later calls fail cleanly', async () => {
      const own = countingRuntime();
      const c = new LocalClient({ modelRepository: repo, loadRuntime: () => own.runtime });
      const input = mobileInput(4, 9);
      await c.infer({ model: 'mobilenetv2', inputs: [input] });
      await c.modelReady('yolov8n');
      assert.equal(own.created, 2);
      const inFlight = c.infer({ model: 'mobilenetv2', inputs: [input] });
      const closed = c.close();
      const res = await inFlight;
      assert.deepEqual(res.outputs[0]!.shape, [4, 1000]);
      await closed;
      assert.equal(own.released, 2);
      await c.close(); // idempotent
      assert.equal(own.released, 2);
      for (const call of [
        () => c.serverLive(),
        () => c.repositoryIndex(),
        () => c.infer({ model: 'mobilenetv2', inputs: [input] }),
      ]) {
        await rejectsWith(call(), 'TRITON_UNAVAILABLE', /is closed/);
      }
    });
  });
});
