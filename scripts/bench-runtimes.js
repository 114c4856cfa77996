#!/usr/bin/env node
'use strict';
// `npm run bench:runtimes`: local mode's inference latency on each onnxruntime, in one run
// with interleaved rounds: onnxruntime-node (native) and onnxruntime-web (WebAssembly) at
// 1, 2 and 4 threads, on YOLOX-nano 416 (models/demo) and YOLOv8n int8 640
// (../shared/fixtures/models). Each case is a LocalClient from dist/ (worker thread
// included, as Node-RED runs it) fed a constant tensor; the first two runs are warm-up.
//   node scripts/bench-runtimes.js [--runs N]
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { LocalClient } = require(path.join(ROOT, 'dist', 'index.js'));

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;

function repositories() {
  const yolov8n = path.join(ROOT, '..', 'shared', 'fixtures', 'models', 'yolov8n_int8_640.onnx');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-bench-runtimes-'));
  const models = [
    {
      label: 'yolox-nano 416',
      repo: path.join(ROOT, 'models', 'demo'),
      model: 'Detect_COCO_YOLOXnano_ONNX',
    },
  ];
  if (fs.existsSync(yolov8n)) {
    fs.mkdirSync(path.join(dir, 'yolov8n', '1'), { recursive: true });
    fs.copyFileSync(yolov8n, path.join(dir, 'yolov8n', '1', 'model.onnx'));
    models.push({ label: 'yolov8n int8 640', repo: dir, model: 'yolov8n' });
  } else {
    console.log(`(${yolov8n} not found: yolov8n skipped)`);
  }
  return { dir, models };
}

const RUNTIMES = [
  { label: 'onnxruntime-node', runtime: 'node' },
  { label: 'onnxruntime-web 1 thread', runtime: 'wasm', threads: 1 },
  { label: 'onnxruntime-web 2 threads', runtime: 'wasm', threads: 2 },
  { label: 'onnxruntime-web 4 threads', runtime: 'wasm', threads: 4 },
];

async function main() {
  const { dir, models } = repositories();
  const cases = [];
  for (const m of models) {
    for (const r of RUNTIMES) {
      const client = new LocalClient({
        modelRepository: m.repo,
        runtime: r.runtime,
        ...(r.threads ? { intraOpNumThreads: r.threads } : {}),
      });
      const t0 = performance.now();
      const md = await client.modelMetadata(m.model);
      const input = md.inputs[0];
      const shape = input.shape.map((d) => (d < 0 ? 1 : d));
      const size = shape.reduce((a, b) => a * b, 1);
      const request = {
        model: m.model,
        inputs: [
          {
            name: input.name,
            datatype: input.datatype,
            shape,
            data: new Float32Array(size).fill(0.5),
          },
        ],
      };
      await client.infer(request);
      const load = performance.now() - t0;
      await client.infer(request);
      const info = await client.runtimeInfo();
      cases.push({ model: m.label, runtime: r.label, info, client, request, load, times: [] });
    }
  }
  // Interleaved: one run of every case per round, so load changes hit all alike.
  for (let i = 0; i < RUNS; i++) {
    for (const c of cases) {
      const t = performance.now();
      await c.client.infer(c.request);
      c.times.push(performance.now() - t);
    }
  }
  const rows = cases.map((c) => {
    const s = [...c.times].sort((a, b) => a - b);
    return {
      model: c.model,
      runtime: `${c.info.name} ${c.info.version} (${c.info.backend}, ${c.info.threads || 'default'} threads)`,
      'first run incl. load ms': Math.round(c.load),
      'median ms': Number(s[s.length >> 1].toFixed(1)),
      'min ms': Number(s[0].toFixed(1)),
    };
  });
  console.log(
    `node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, ` +
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}, ${RUNS} runs per case`,
  );
  console.table(rows);
  for (const c of cases) await c.client.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
