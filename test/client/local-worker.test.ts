/**
 * LocalClient with models on worker threads: the event loop stays free during a run,
 * deadlines and aborts settle a call at once, and the worker code runs from a bundle
 * the way tsup ships it. Expected tensors come from onnxruntime-node run directly on the
 * same input (test/support/ort.ts).
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalClient } from '../../src/client/local';
import type { InferRequest } from '../../src/protocol/types';
import { buildFixtureRepository, fixtureModel } from '../support/fixtures';
import { releaseOnnxSessions, runOnnx, sameBits, seededValues } from '../support/ort';

const ROOT = path.resolve(__dirname, '..', '..');

/** yolov8n-seg at 640 px: a run of a few hundred ms on this machine. */
const slowRequest = (seed = 3): InferRequest => ({
  model: 'yolov8n_seg',
  inputs: [
    {
      name: 'images',
      datatype: 'FP32',
      shape: [1, 3, 640, 640],
      data: seededValues(3 * 640 * 640, seed),
    },
  ],
});

const mobileRequest = (seed: number): InferRequest => ({
  model: 'mobilenetv2',
  inputs: [
    {
      name: 'input',
      datatype: 'FP32',
      shape: [1, 3, 224, 224],
      data: seededValues(3 * 224 * 224, seed),
    },
  ],
});

/**
 * Runs `work` while a 5 ms interval timer ticks; returns the longest gap between ticks
 * (the event loop's worst delay) and how long `work` took.
 */
async function timerGapDuring(
  work: () => Promise<unknown>,
): Promise<{ maxGapMs: number; tookMs: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 5);
  const start = performance.now();
  try {
    await work();
  } finally {
    clearInterval(tick);
  }
  const end = performance.now();
  maxGapMs = Math.max(maxGapMs, end - last);
  return { maxGapMs, tookMs: end - start };
}

describe('LocalClient on worker threads', () => {
  let repo: string;

  before(() => {
    repo = buildFixtureRepository();
  });

  after(async () => {
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('keeps the event loop responsive during a slow run, unlike workerThreads: 0', async () => {
    const onWorker = new LocalClient({ modelRepository: repo });
    const inProcess = new LocalClient({ modelRepository: repo, workerThreads: 0 });
    try {
      // Loading is not what is measured.
      await onWorker.loadModel('yolov8n_seg');
      await inProcess.loadModel('yolov8n_seg');
      const worker = await timerGapDuring(() => onWorker.infer(slowRequest()));
      const main = await timerGapDuring(() => inProcess.infer(slowRequest()));
      // The control proves the run is long enough to matter: on the main thread it
      // holds the timer back for most of its length.
      assert.ok(main.tookMs > 100, `the run took only ${main.tookMs.toFixed(0)} ms`);
      assert.ok(
        main.maxGapMs > 0.5 * main.tookMs,
        `in-process gap ${main.maxGapMs.toFixed(0)} ms over a ${main.tookMs.toFixed(0)} ms run`,
      );
      // Relative, not absolute: on a loaded 2-core CI machine other processes also delay
      // the timer now and then, but never for a large part of a multi-second run.
      assert.ok(
        worker.maxGapMs < Math.max(50, 0.1 * worker.tookMs),
        `on a worker the timer waited ${worker.maxGapMs.toFixed(0)} ms during a ${worker.tookMs.toFixed(0)} ms run`,
      );
    } finally {
      await onWorker.close();
      await inProcess.close();
    }
  });

  it('returns outputs bit-identical to onnxruntime on this thread, and the input is not consumed', async () => {
    const client = new LocalClient({ modelRepository: repo });
    try {
      const req: InferRequest = {
        model: 'yolov8n',
        inputs: [
          {
            name: 'images',
            datatype: 'FP32',
            shape: [1, 3, 640, 640],
            data: seededValues(3 * 640 * 640, 11),
          },
        ],
      };
      const first = await client.infer(req);
      // The caller still owns its request tensor: a second send sees the same values.
      assert.equal((req.inputs[0]!.data as Float32Array).length, 3 * 640 * 640);
      const second = await client.infer(req);
      const expected = await runOnnx(fixtureModel('yolov8n_int8_640.onnx'), req.inputs);
      assert.deepEqual(first.outputs[0]!.shape, [1, 84, 8400]);
      assert.ok(first.outputs[0]!.data instanceof Float32Array);
      assert.ok(
        sameBits(first.outputs[0]!.data as Float32Array, expected.output0!.data as Float32Array),
      );
      assert.ok(
        sameBits(second.outputs[0]!.data as Float32Array, expected.output0!.data as Float32Array),
      );
    } finally {
      await client.close();
    }
  });

  it('a deadline settles the call at the deadline, not when the run ends; the result is dropped', async () => {
    const client = new LocalClient({ modelRepository: repo });
    try {
      await client.loadModel('yolov8n_seg');
      const full = performance.now();
      await client.infer(slowRequest(4));
      const runMs = performance.now() - full;
      const start = performance.now();
      await assert.rejects(
        client.infer(slowRequest(5), { timeoutMs: 30 }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'TIMEOUT');
          assert.match(err.message, /within 30 ms/);
          return true;
        },
      );
      const waited = performance.now() - start;
      assert.ok(
        // Near the deadline and well before the run could have ended (the slack is relative
        // so a loaded CI machine does not turn scheduling delay into a failure).
        waited < 30 + Math.max(40, runMs / 3) && waited < runMs,
        `TIMEOUT came after ${waited.toFixed(0)} ms (deadline 30 ms, a run takes ${runMs.toFixed(0)} ms)`,
      );
      // The run it gave up on finishes in the background; the model keeps serving.
      const after = await client.infer(mobileRequest(6));
      const expected = await runOnnx(
        fixtureModel('mobilenetv2-12-int8.onnx'),
        mobileRequest(6).inputs,
      );
      assert.ok(
        sameBits(after.outputs[0]!.data as Float32Array, expected.output!.data as Float32Array),
      );
    } finally {
      await client.close();
    }
  });

  it('an abort during the run settles the call at once with CANCELLED', async () => {
    const client = new LocalClient({ modelRepository: repo });
    try {
      await client.loadModel('yolov8n_seg');
      const full = performance.now();
      await client.infer(slowRequest(8));
      const runMs = performance.now() - full;
      const ac = new AbortController();
      const p = client.infer(slowRequest(7), { signal: ac.signal });
      let abortedAt = 0;
      setTimeout(() => {
        abortedAt = performance.now();
        ac.abort();
      }, 20);
      await assert.rejects(p, (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CANCELLED');
        return true;
      });
      const late = performance.now() - abortedAt;
      assert.ok(
        abortedAt > 0 && late < Math.max(40, runMs / 3),
        `CANCELLED came ${late.toFixed(0)} ms after the abort (a run takes ${runMs.toFixed(0)} ms)`,
      );
      assert.equal(await client.modelReady('yolov8n_seg'), true);
    } finally {
      await client.close();
    }
  });

  it('with two workers, concurrent runs all return the right tensors', async () => {
    const client = new LocalClient({ modelRepository: repo, workerThreads: 2 });
    try {
      const reqs = [1, 2, 3, 4].map((seed) => mobileRequest(seed));
      const results = await Promise.all(reqs.map((r) => client.infer(r)));
      for (let i = 0; i < reqs.length; i++) {
        const expected = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), reqs[i]!.inputs);
        assert.ok(
          sameBits(
            results[i]!.outputs[0]!.data as Float32Array,
            expected.output!.data as Float32Array,
          ),
          `request ${i}`,
        );
      }
    } finally {
      await client.close();
    }
  });

  it('rejects a workerThreads that is not a whole number ≥ 0 with INVALID_CONFIG', () => {
    assert.throws(
      () => new LocalClient({ modelRepository: repo, workerThreads: -1 }),
      (err: Error & { code?: string }) =>
        err.code === 'INVALID_CONFIG' && /workerThreads/.test(err.message),
    );
  });

  it('runs from a bundle in another working folder, and an idle client lets the process exit', async function () {
    this.timeout(60000);
    // Bundled the way tsup bundles dist/ and nodes/ (esbuild, CommonJS, onnxruntime-node
    // external), inside the package so that onnxruntime-node resolves from it.
    const esbuild = require('esbuild') as typeof import('esbuild');
    const outDir = fs.mkdtempSync(path.join(ROOT, 'node_modules', '.tv-worker-bundle-'));
    try {
      const bundle = path.join(outDir, 'local.js');
      await esbuild.build({
        entryPoints: [path.join(ROOT, 'src', 'client', 'local', 'index.ts')],
        outfile: bundle,
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        external: ['onnxruntime-node'],
        logLevel: 'silent',
      });
      // No close(): the worker must keep the process up while the run is pending, then
      // let it exit on its own.
      const script = `
        const { LocalClient } = require(${JSON.stringify(bundle)});
        const c = new LocalClient({ modelRepository: ${JSON.stringify(repo)} });
        const data = new Float32Array(3 * 224 * 224).fill(0.5);
        c.infer({ model: 'mobilenetv2', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], data }] })
          .then((r) => console.log(JSON.stringify({ shape: r.outputs[0].shape, first: r.outputs[0].data[0] })),
                (e) => { console.error(e.code, e.message); process.exitCode = 1; });
      `;
      const child = spawn(process.execPath, ['-e', script], {
        cwd: os.tmpdir(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 30000);
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      assert.equal(code, 0, `the bundled client's process did not exit cleanly: ${out}`);
      const printed = JSON.parse(out.trim()) as { shape: number[]; first: number };
      assert.deepEqual(printed.shape, [1, 1000]);
      const expected = await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [
        {
          name: 'input',
          datatype: 'FP32',
          shape: [1, 3, 224, 224],
          data: new Float32Array(3 * 224 * 224).fill(0.5),
        },
      ]);
      assert.equal(printed.first, (expected.output!.data as Float32Array)[0]);
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });
});
