/**
 * Which onnxruntime local mode runs on: onnxruntime-node (native, an optional peer) or
 * onnxruntime-web (WebAssembly, a dependency: installs everywhere without a download).
 * Both run the real fixture models; the WebAssembly outputs are compared with
 * onnxruntime-node run directly on the same input (test/support/ort.ts). The "not
 * installed" cases run the client bundled (as tsup bundles it) in a folder whose
 * node_modules holds only what each case installs.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalClient } from '../../src/client/local';
import type { Tensor } from '../../src/protocol/types';
import { FIXTURE_REPOSITORY, buildFixtureRepository, fixtureModel } from '../support/fixtures';
import { releaseOnnxSessions, runOnnx, seededValues } from '../support/ort';

const ROOT = path.resolve(__dirname, '..', '..');
const WEB_VERSION = (
  JSON.parse(
    fs.readFileSync(path.join(ROOT, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8'),
  ) as { version: string }
).version;

const mobileInput = (): Tensor => ({
  name: 'input',
  datatype: 'FP32',
  shape: [1, 3, 224, 224],
  data: seededValues(3 * 224 * 224, 5),
});
const yoloHalfInput = (): Tensor => ({
  name: 'images',
  datatype: 'FP16',
  shape: [1, 3, 640, 640],
  data: seededValues(3 * 640 * 640, 3),
});

/** Every element within `abs + rel·|expected|` of the reference. */
function assertClose(actual: Tensor, expected: Tensor, abs: number, rel: number): void {
  assert.deepEqual(actual.shape, expected.shape);
  const a = actual.data as Float32Array;
  const e = expected.data as Float32Array;
  assert.equal(a.length, e.length);
  for (let i = 0; i < a.length; i++) {
    const tol = abs + rel * Math.abs(e[i]!);
    if (!(Math.abs(a[i]! - e[i]!) <= tol)) {
      assert.fail(`element ${i}: ${a[i]} is not within ${tol} of ${e[i]}`);
    }
  }
}

describe('LocalClient runtimes', function () {
  this.timeout(180000);
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY);
  const savedEnv = process.env.TRITON_VISION_RUNTIME;

  afterEach(() => {
    if (savedEnv === undefined) delete process.env.TRITON_VISION_RUNTIME;
    else process.env.TRITON_VISION_RUNTIME = savedEnv;
  });
  after(async () => {
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it("'auto' takes onnxruntime-node when it is installed (here: a devDependency)", async () => {
    delete process.env.TRITON_VISION_RUNTIME;
    const c = new LocalClient({ modelRepository: repo });
    try {
      const info = await c.runtimeInfo();
      assert.equal(info.name, 'onnxruntime-node');
      assert.equal(info.backend, 'native');
      assert.equal(info.workerThreads, 1);
      assert.equal(info.note, undefined);
    } finally {
      await c.close();
    }
  });

  for (const workerThreads of [0, 1]) {
    it(`'wasm' runs the models on onnxruntime-web (workerThreads ${workerThreads}), matching onnxruntime-node`, async () => {
      const c = new LocalClient({ modelRepository: repo, runtime: 'wasm', workerThreads });
      try {
        const info = await c.runtimeInfo();
        assert.deepEqual(
          { ...info, threads: undefined },
          {
            name: 'onnxruntime-web',
            version: WEB_VERSION,
            backend: 'wasm',
            threads: undefined,
            workerThreads,
          },
        );
        assert.ok(Number.isInteger(info.threads) && info.threads >= 1, String(info.threads));
        const mobile = await c.infer({ model: 'mobilenetv2', inputs: [mobileInput()] });
        const mobileRef = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [mobileInput()]);
        assertClose(mobile.outputs[0]!, mobileRef.output!, 1e-4, 1e-4);
        // FP16 in and out: within two half-precision steps of the native result.
        const half = await c.infer({ model: 'yolov5n_fp16', inputs: [yoloHalfInput()] });
        const halfRef = await runOnnx(fixtureModel('yolov5n_fp16_dynamic.onnx'), [yoloHalfInput()]);
        assert.equal(half.outputs[0]!.datatype, 'FP16');
        assertClose(half.outputs[0]!, halfRef.output!, 1e-3, 2 ** -9);
      } finally {
        await c.close();
      }
    });
  }

  it('TRITON_VISION_RUNTIME=wasm chooses the WebAssembly runtime; intraOpNumThreads sets its threads', async () => {
    process.env.TRITON_VISION_RUNTIME = 'wasm';
    const c = new LocalClient({ modelRepository: repo, intraOpNumThreads: 2, workerThreads: 0 });
    try {
      const info = await c.runtimeInfo();
      assert.equal(info.name, 'onnxruntime-web');
      assert.equal(info.threads, 2);
      const res = await c.infer({ model: 'mobilenetv2', inputs: [mobileInput()] });
      assert.deepEqual(res.outputs[0]!.shape, [1, 1000]);
    } finally {
      await c.close();
    }
  });

  it('an unknown runtime (option or environment) → INVALID_CONFIG naming the choices', () => {
    assert.throws(
      () => new LocalClient({ modelRepository: repo, runtime: 'gpu' }),
      (err: Error & { code?: string }) =>
        err.code === 'INVALID_CONFIG' &&
        /runtime must be auto, node or wasm, not 'gpu'/.test(err.message),
    );
    process.env.TRITON_VISION_RUNTIME = 'cuda';
    assert.throws(
      () => new LocalClient({ modelRepository: repo }),
      (err: Error & { code?: string }) =>
        err.code === 'INVALID_CONFIG' &&
        /TRITON_VISION_RUNTIME must be auto, node or wasm/.test(err.message),
    );
  });

  describe('where a runtime package is not installed', () => {
    let dir: string;
    let bundle: string;

    before(async () => {
      const esbuild = require('esbuild') as typeof import('esbuild');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-runtime-'));
      bundle = path.join(dir, 'app', 'local.js');
      await esbuild.build({
        entryPoints: [path.join(ROOT, 'src', 'client', 'local', 'index.ts')],
        outfile: bundle,
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        external: ['onnxruntime-node', 'onnxruntime-web'],
        logLevel: 'silent',
      });
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs the bundled client with these packages (links to ours) in its node_modules. */
    async function runBundled(
      packages: string[],
      runtime: string,
    ): Promise<{ info?: Record<string, unknown>; code?: string; message?: string; top?: number }> {
      const modules = path.join(dir, 'app', 'node_modules');
      fs.rmSync(modules, { recursive: true, force: true });
      fs.mkdirSync(modules, { recursive: true });
      for (const p of packages) {
        fs.symlinkSync(path.join(ROOT, 'node_modules', p), path.join(modules, p), 'dir');
      }
      const script = `
        const { LocalClient } = require(${JSON.stringify(bundle)});
        const c = new LocalClient({ modelRepository: ${JSON.stringify(repo)}, runtime: ${JSON.stringify(runtime)} });
        const data = new Float32Array(3 * 224 * 224).fill(0.5);
        (async () => {
          try {
            const info = await c.runtimeInfo();
            const r = await c.infer({ model: 'mobilenetv2', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], data }] });
            const d = r.outputs[0].data;
            let top = 0;
            for (let i = 1; i < d.length; i++) if (d[i] > d[top]) top = i;
            console.log(JSON.stringify({ info, top }));
          } catch (e) {
            console.log(JSON.stringify({ code: e.code, message: e.message }));
          }
          await c.close();
        })();
      `;
      // NODE_PATH would let require() look elsewhere: the folder's node_modules only.
      const env = { ...process.env };
      delete env.NODE_PATH;
      delete env.TRITON_VISION_RUNTIME;
      const child = spawn(process.execPath, ['-e', script], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let errText = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (errText += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 0, errText);
      return JSON.parse(out.trim().split('\n').pop()!) as {
        info?: Record<string, unknown>;
        code?: string;
        message?: string;
        top?: number;
      };
    }

    it("only onnxruntime-web: 'auto' runs on it and says how to get the native runtime", async () => {
      const r = await runBundled(['onnxruntime-web', 'onnxruntime-common'], 'auto');
      assert.equal(r.info?.name, 'onnxruntime-web', JSON.stringify(r));
      assert.match(
        String(r.info?.note),
        /onnxruntime-node is not installed; .*run `npm install onnxruntime-node --ignore-scripts` in your Node-RED user directory/,
      );
      const ref = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [
        {
          name: 'input',
          datatype: 'FP32',
          shape: [1, 3, 224, 224],
          data: new Float32Array(3 * 224 * 224).fill(0.5),
        },
      ]);
      const d = ref.output!.data as Float32Array;
      let top = 0;
      for (let i = 1; i < d.length; i++) if (d[i]! > d[top]!) top = i;
      assert.equal(r.top, top);
    });

    it("only onnxruntime-web: 'node' → RUNTIME_MISSING with the command that installs it", async () => {
      const r = await runBundled(['onnxruntime-web', 'onnxruntime-common'], 'node');
      assert.equal(r.code, 'RUNTIME_MISSING', JSON.stringify(r));
      assert.match(
        r.message!,
        /^Local mode was told to use onnxruntime-node \(runtime node\), but onnxruntime-node is not installed: run `npm install onnxruntime-node --ignore-scripts` in your Node-RED user directory/,
      );
    });

    it('neither installed → RUNTIME_MISSING naming `npm install onnxruntime-web`', async () => {
      const r = await runBundled([], 'auto');
      assert.equal(r.code, 'RUNTIME_MISSING', JSON.stringify(r));
      assert.match(
        r.message!,
        /onnxruntime-web is not installed and neither is onnxruntime-node: run `npm install onnxruntime-web` in your Node-RED user directory$/,
      );
    });

    it('only onnxruntime-node: runs natively', async () => {
      const r = await runBundled(['onnxruntime-node', 'onnxruntime-common'], 'auto');
      assert.equal(r.info?.name, 'onnxruntime-node', JSON.stringify(r));
      assert.equal(r.info?.note, undefined);
    });
  });
});
