/**
 * Tier 2 (`npm run test:triton`): the same input through NVIDIA's real Triton
 * (gRPC and HTTP, from TRITON_GRPC_URL / TRITON_URL), through our
 * triton-vision-serve (gRPC and HTTP) and through local mode gives the same
 * output tensors, and the vision pipeline gives the same detections, masks and
 * classes on a real photo.
 *
 * Real Triton runs each fixture with Python's onnxruntime (test/triton/onnx_model.py);
 * the other three paths run onnxruntime-node. With the same ORT release the
 * outputs must be bit-identical; across releases they must agree within 1e-5
 * relative, and the summary printed at the end says which held.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { createClient } from '../../src/client';
import type { InferenceClient, Tensor } from '../../src/protocol/types';
import { runTask, type TaskResult } from '../../src/vision/pipeline';
import type { Classification, Detection } from '../../src/vision/types';
import { externalEndpoints } from '../support/endpoints';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { asHalfValues, sameBits, seededValues } from '../support/ort';
import { startServe, type ServeHandle } from '../support/serve';

const ROOT = path.resolve(__dirname, '..', '..');
const RELATIVE_TOLERANCE = 1e-5;

/** onnxruntime's version on each side: equal versions must give equal bits. */
function ortVersions(): { node: string; python: string | undefined } {
  const node = (require('onnxruntime-node/package.json') as { version: string }).version;
  let python = process.env.TRITON_ORT_VERSION;
  const venvPython = path.join(ROOT, '.venv', 'bin', 'python');
  if (!python && fs.existsSync(venvPython)) {
    python = execFileSync(venvPython, ['-c', 'import onnxruntime; print(onnxruntime.__version__)'])
      .toString()
      .trim();
  }
  return { node, python };
}

/** Largest |a-b| / max(|a|,|b|, 1e-30) over the arrays (0 when bit-identical). */
function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Object.is(x, y)) continue;
    const scale = Math.max(Math.abs(x), Math.abs(y), 1e-30);
    worst = Math.max(worst, Math.abs(x - y) / scale);
  }
  return worst;
}

interface Case {
  model: string;
  inputs: Tensor[];
}

/** One deterministic input per fixture model, covering FP32, FP16, two outputs and batching. */
const CASES: Case[] = [
  {
    model: 'yolov8n',
    inputs: [
      {
        name: 'images',
        datatype: 'FP32',
        shape: [1, 3, 640, 640],
        data: seededValues(3 * 640 * 640, 101),
      },
    ],
  },
  {
    model: 'yolov5n_fp16',
    inputs: [
      {
        name: 'images',
        datatype: 'FP16',
        shape: [2, 3, 640, 640],
        data: asHalfValues(seededValues(2 * 3 * 640 * 640, 102)),
      },
    ],
  },
  {
    model: 'yolov8n_seg',
    inputs: [
      {
        name: 'images',
        datatype: 'FP32',
        shape: [1, 3, 640, 640],
        data: seededValues(3 * 640 * 640, 103),
      },
    ],
  },
  {
    model: 'mobilenetv2',
    inputs: [
      {
        name: 'input',
        datatype: 'FP32',
        shape: [3, 3, 224, 224],
        data: seededValues(3 * 3 * 224 * 224, 104),
      },
    ],
  },
];

/** A task result without timings (which differ by nature) and with masks reduced to data. */
function comparable(r: TaskResult): unknown {
  return {
    task: r.task,
    image: r.image,
    model: { name: r.model.name, version: r.model.version, family: r.model.family },
    classes: r.classes,
    detections: r.detections?.map((d) => ({
      ...d,
      mask: d.mask && { area: d.mask.area, polygons: d.mask.polygons, rle: d.mask.rle },
    })),
  };
}

describe('real Triton cross-check: same tensors and detections on every path', function () {
  this.timeout(300000);
  const external = externalEndpoints();
  const repo = buildFixtureRepository();
  const versions = ortVersions();
  const sameBuild = versions.node === versions.python;
  const summary: string[] = [];
  let serve: ServeHandle | undefined;
  const clients: { label: string; client: InferenceClient }[] = [];

  before(async () => {
    if (!external.http || !external.grpc) {
      throw new Error(
        'The cross-check needs a real Triton: set TRITON_URL and TRITON_GRPC_URL (npm run test:triton does)',
      );
    }
    serve = await startServe({ repository: repo });
    const remote = { timeoutMs: 120000 };
    clients.push(
      {
        label: 'triton/grpc',
        client: createClient({
          mode: 'grpc',
          host: external.grpc.host,
          port: external.grpc.port,
          ...remote,
        }),
      },
      {
        label: 'triton/http',
        client: createClient({
          mode: 'http',
          host: external.http.host,
          port: external.http.port,
          ...remote,
        }),
      },
      {
        label: 'serve/grpc',
        client: createClient({ mode: 'grpc', host: serve.host, port: serve.grpcPort, ...remote }),
      },
      {
        label: 'serve/http',
        client: createClient({ mode: 'http', host: serve.host, port: serve.httpPort, ...remote }),
      },
      { label: 'local', client: createClient({ mode: 'local', modelRepository: repo }) },
    );
  });

  after(async () => {
    for (const { client } of clients) await client.close();
    await serve?.stop();
    const how = sameBuild
      ? `same onnxruntime ${versions.node}`
      : `onnxruntime-node ${versions.node} vs Python onnxruntime ${versions.python ?? '?'}`;
    process.stdout.write(`\n    cross-check (${how}):\n      ${summary.join('\n      ')}\n`);
  });

  for (const c of CASES) {
    it(`${c.model}: every output equal on triton/grpc, triton/http, serve/grpc, serve/http, local`, async () => {
      const results = [];
      for (const { label, client } of clients) {
        results.push({ label, res: await client.infer({ model: c.model, inputs: c.inputs }) });
      }
      const [ref, ...others] = results;
      assert.ok(ref!.res.outputs.length > 0);
      for (const out of ref!.res.outputs) {
        let bitIdentical = true;
        let worst = 0;
        for (const { label, res } of others) {
          const mine = res.outputs.find((o) => o.name === out.name);
          assert.ok(mine, `${label} has no output ${out.name}`);
          assert.equal(mine.datatype, out.datatype, `${label} ${out.name} datatype`);
          assert.deepEqual(mine.shape, out.shape, `${label} ${out.name} shape`);
          const a = out.data as Float32Array;
          const b = mine.data as Float32Array;
          assert.equal(b.length, a.length);
          const same = sameBits(a, b);
          const rel = same ? 0 : worstRelative(a, b);
          bitIdentical &&= same;
          worst = Math.max(worst, rel);
          if (sameBuild) assert.ok(same, `${label} ${out.name} differs from triton/grpc (${rel})`);
          assert.ok(
            rel <= RELATIVE_TOLERANCE,
            `${label} ${out.name} differs from triton/grpc by ${rel} relative`,
          );
        }
        summary.push(
          `${c.model} ${out.name} ${JSON.stringify(out.shape)}: ${
            bitIdentical ? 'bit-identical' : `within ${worst.toExponential(2)} relative`
          }`,
        );
      }
    });
  }

  const TASKS: { model: string; labels: string[] }[] = [
    { model: 'yolov8n', labels: ['bus', 'person'] },
    { model: 'yolov5n_fp16', labels: ['bus', 'person'] },
    { model: 'yolov8n_seg', labels: ['bus', 'person'] },
    { model: 'mobilenetv2', labels: [] },
  ];
  for (const t of TASKS) {
    it(`${t.model} on bus.jpg: the pipeline's result is the same on every path`, async () => {
      const image = fs.readFileSync(fixtureImage('bus.jpg'));
      const results = [];
      for (const { label, client } of clients) {
        results.push({ label, result: await runTask(client, t.model, image) });
      }
      const ref = results[0]!.result;
      // The photo shows a bus and people in front of it.
      const found = new Set((ref.detections ?? []).map((d) => d.label));
      for (const want of t.labels) assert.ok(found.has(want), `${t.model} found ${[...found]}`);
      if (ref.task === 'segment') assert.ok(ref.detections!.every((d) => d.mask!.area > 0));
      if (ref.task === 'classify') assert.equal(ref.classes!.length, 5);
      for (const { label, result } of results.slice(1)) {
        if (sameBuild) {
          assert.deepEqual(comparable(result), comparable(ref), `${label} vs triton/grpc`);
          continue;
        }
        // Outputs may differ in the last bits across ORT releases: the same objects,
        // scores within 1e-4 and boxes within a hundredth of a pixel.
        const a: (Detection | Classification)[] = result.detections ?? result.classes ?? [];
        const b: (Detection | Classification)[] = ref.detections ?? ref.classes ?? [];
        assert.equal(a.length, b.length, `${label} count`);
        a.forEach((x, i) => {
          const y = b[i]!;
          assert.equal(x.classId, y.classId, `${label} #${i}`);
          assert.ok(Math.abs(x.score - y.score) <= 1e-4, `${label} #${i} score`);
          if ('box' in x && 'box' in y) {
            for (const k of ['x1', 'y1', 'x2', 'y2'] as const) {
              assert.ok(Math.abs(x.box[k] - y.box[k]) <= 0.01, `${label} #${i} box.${k}`);
            }
          }
        });
      }
      const identical = results.every((r) =>
        isDeepStrictEqual(comparable(r.result), comparable(ref)),
      );
      summary.push(
        `${t.model} pipeline: ${
          ref.detections
            ? `${ref.detections.length} detections`
            : `top class ${ref.classes![0]!.label}`
        } ${identical ? 'identical' : 'equal within tolerance'} on all 5 paths`,
      );
    });
  }
});
