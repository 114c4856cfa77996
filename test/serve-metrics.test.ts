/**
 * triton-vision-serve's Prometheus endpoint (--metrics-port): Triton's metric names,
 * types and labels, counters that follow real inferences, and the bearer token.
 * The names, types and label names are checked against the real tritonserver's in
 * test/triton/metrics.tier2.ts.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { createClient } from '../src/client';
import type { InferenceClient, Tensor } from '../src/protocol/types';
import { METRIC_FAMILIES, METRICS_CONTENT_TYPE } from '../src/server/metrics';
import { buildFixtureRepository, FIXTURE_REPOSITORY } from './support/fixtures';
import { seededValues } from './support/ort';
import { parsePrometheus, type Family } from './support/prometheus';
import { startServe, type ServeHandle } from './support/serve';

const ROOT = path.resolve(__dirname, '..');

/** The names issue 13 asks for, written out here rather than read from our table. */
const TRITON_NAMES = [
  'nv_inference_request_success',
  'nv_inference_request_failure',
  'nv_inference_count',
  'nv_inference_exec_count',
  'nv_inference_request_duration_us',
  'nv_inference_queue_duration_us',
  'nv_inference_compute_input_duration_us',
  'nv_inference_compute_infer_duration_us',
  'nv_inference_compute_output_duration_us',
];

function metricsUrl(s: ServeHandle): string {
  const m = /Metrics service at (http:\/\/\S+)/.exec(s.output());
  assert.ok(m, `no metrics line in:\n${s.output()}`);
  return m[1]!;
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers });
}

async function families(url: string): Promise<Map<string, Family>> {
  const res = await scrape(url);
  assert.equal(res.status, 200);
  return parsePrometheus(await res.text());
}

/**
 * Triton's failure reasons (core's failure_reasons_map), written out here: every model
 * has one nv_inference_request_failure series per reason.
 */
const TRITON_REASONS = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

/** The one sample of `name` for `model` version 1 (for the failures: the one `reason`). */
function value(
  f: Map<string, Family>,
  name: string,
  { model = 'mobilenetv2', reason }: { model?: string; reason?: string } = {},
): number {
  const s =
    f
      .get(name)
      ?.samples.filter(
        (x) => x.labels.model === model && (reason === undefined || x.labels.reason === reason),
      ) ?? [];
  assert.equal(s.length, 1, `${name}: ${JSON.stringify(s)}`);
  assert.equal(s[0]!.labels.version, '1');
  return s[0]!.value;
}

/** A model that loads, takes its requests, and fails inside onnxruntime every time. */
const BROKEN = {
  // The config lies about a model with dynamic sizes: 100 px passes the request checks,
  // but is no multiple of the network's stride, so a Concat in the middle fails.
  name: 'broken',
  file: 'yolov5n_fp16_dynamic.onnx',
  config: `name: "broken"
backend: "onnxruntime"
max_batch_size: 4
input [ { name: "images" data_type: TYPE_FP16 dims: [ 3, 100, 100 ] } ]
output [ { name: "output" data_type: TYPE_FP16 dims: [ -1, 85 ] } ]
`,
};

const image = (batch: number): Tensor => ({
  name: 'input',
  datatype: 'FP32',
  shape: [batch, 3, 224, 224],
  data: seededValues(batch * 3 * 224 * 224),
});

describe('triton-vision-serve metrics', function () {
  this.timeout(120000);
  const repo = buildFixtureRepository([
    ...FIXTURE_REPOSITORY.filter((m) => m.name === 'mobilenetv2'),
    BROKEN,
  ]);

  describe('without a token', () => {
    let s: ServeHandle;
    let client: InferenceClient;
    let url: string;
    before(async () => {
      s = await startServe({ repository: repo, extraArgs: ['--metrics-port', '0'] });
      client = createClient({ mode: 'http', host: '127.0.0.1', port: s.httpPort });
      url = metricsUrl(s);
    });
    after(async () => {
      await client?.close();
      await s?.stop();
    });

    it("serves Triton's nine families as counters labelled model and version, at zero", async () => {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      assert.doesNotMatch(url, /:8002\//, '--metrics-port 0 picks a free port');
      const res = await scrape(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), METRICS_CONTENT_TYPE);
      const f = parsePrometheus(await res.text());
      assert.deepEqual(
        METRIC_FAMILIES.map((m) => m.name),
        TRITON_NAMES,
      );
      for (const name of TRITON_NAMES) {
        const fam = f.get(name);
        assert.ok(fam, `${name} missing`);
        assert.equal(fam.type, 'counter', name);
        assert.ok(fam.help && fam.help.length > 10, `${name} has a HELP line`);
        const failures = name === 'nv_inference_request_failure';
        const mine = fam.samples.filter((x) => x.labels.model === 'mobilenetv2');
        // As Triton: one failure series per reason for every model, at zero until used.
        assert.equal(mine.length, failures ? TRITON_REASONS.length : 1, name);
        if (failures) {
          assert.deepEqual(mine.map((x) => x.labels.reason).sort(), [...TRITON_REASONS].sort());
        }
        for (const sample of mine) {
          const labels = Object.keys(sample.labels).sort();
          assert.deepEqual(
            labels,
            failures ? ['model', 'reason', 'version'] : ['model', 'version'],
          );
          assert.equal(sample.value, 0, `${name} before any inference`);
        }
      }
    });

    it('counters follow inferences: requests, inferences per batch item, executions, failures', async () => {
      await client.infer({ model: 'mobilenetv2', inputs: [image(1)] });
      await client.infer({ model: 'mobilenetv2', inputs: [image(1)] });
      await client.infer({ model: 'mobilenetv2', inputs: [image(3)] });
      // A request the model cannot run (wrong image size) fails at the model.
      await assert.rejects(
        client.infer({
          model: 'mobilenetv2',
          inputs: [{ ...image(1), shape: [1, 3, 10, 10], data: seededValues(300) }],
        }),
      );
      // A model that fails inside onnxruntime: BACKEND, on its own series.
      await assert.rejects(
        client.infer({
          model: 'broken',
          inputs: [
            {
              name: 'images',
              datatype: 'FP16',
              shape: [1, 3, 100, 100],
              data: new Uint16Array(3 * 100 * 100),
            },
          ],
        }),
      );
      const f = await families(url);
      assert.equal(value(f, 'nv_inference_request_success'), 3);
      // The wrong size is refused by the model's checks: OTHER, as Triton.
      const failures = Object.fromEntries(
        TRITON_REASONS.map((reason) => [
          reason,
          value(f, 'nv_inference_request_failure', { reason }),
        ]),
      );
      assert.deepEqual(failures, { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 1 });
      const broken = Object.fromEntries(
        TRITON_REASONS.map((reason) => [
          reason,
          value(f, 'nv_inference_request_failure', { model: 'broken', reason }),
        ]),
      );
      assert.deepEqual(broken, { REJECTED: 0, CANCELED: 0, BACKEND: 1, OTHER: 0 });
      assert.equal(value(f, 'nv_inference_count'), 1 + 1 + 3);
      assert.equal(value(f, 'nv_inference_exec_count'), 3);
      const request = value(f, 'nv_inference_request_duration_us');
      const infer = value(f, 'nv_inference_compute_infer_duration_us');
      assert.ok(infer > 0, 'running mobilenetv2 three times takes more than a microsecond');
      // Each phase is a part of its request's time.
      for (const phase of [
        'nv_inference_queue_duration_us',
        'nv_inference_compute_input_duration_us',
        'nv_inference_compute_output_duration_us',
      ]) {
        assert.ok(value(f, phase) >= 0, phase);
      }
      assert.ok(
        request >=
          infer +
            value(f, 'nv_inference_compute_input_duration_us') +
            value(f, 'nv_inference_compute_output_duration_us') -
            3,
        `request ${request} µs covers its phases (rounding: 1 µs each)`,
      );

      // The same numbers as the statistics extension, in microseconds.
      const [stats] = await client.modelStatistics('mobilenetv2', '1');
      assert.equal(
        value(f, 'nv_inference_compute_infer_duration_us'),
        Math.floor(stats!.inference_stats.compute_infer.ns / 1000),
      );
      assert.equal(value(f, 'nv_inference_request_success'), stats!.inference_stats.success.count);
    });

    it('answers 404 off /metrics and 405 to anything but GET', async () => {
      const base = url.replace(/\/metrics$/, '');
      assert.equal((await scrape(`${base}/v2/health/ready`)).status, 404);
      const post = await fetch(url, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
    });
  });

  it('with --auth-token, /metrics asks for the same bearer token', async () => {
    const s = await startServe({
      repository: repo,
      extraArgs: ['--metrics-port', '0', '--allow-grpc', 'false'],
      env: { TRITON_VISION_SERVE_TOKEN: 's3cret-token' },
    });
    try {
      const url = metricsUrl(s);
      const none = await scrape(url);
      assert.equal(none.status, 401);
      assert.match(await none.text(), /requires a bearer token/);
      assert.equal((await scrape(url, { Authorization: 'Bearer wrong' })).status, 401);
      const ok = await scrape(url, { Authorization: 'Bearer s3cret-token' });
      assert.equal(ok.status, 200);
      assert.ok(parsePrometheus(await ok.text()).has('nv_inference_count'));
    } finally {
      await s.stop();
    }
  });

  it('--allow-metrics false serves none; a bad --metrics-port is refused', async () => {
    const s = await startServe({ repository: repo, extraArgs: ['--allow-metrics', 'false'] });
    try {
      assert.doesNotMatch(s.output(), /Metrics service/);
    } finally {
      await s.stop();
    }
    const r = spawnSync(
      process.execPath,
      [
        '--require',
        require.resolve('tsx/cjs'),
        path.join(ROOT, 'src', 'serve.ts'),
        '--model-repository',
        repo,
        '--metrics-port',
        '70000',
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 60000 },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--metrics-port must be a port number 0-65535, got '70000'/);
  });

  it('a metrics port already in use → exit 1 saying it cannot start', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      const r = spawnSync(
        process.execPath,
        [
          '--require',
          require.resolve('tsx/cjs'),
          path.join(ROOT, 'src', 'serve.ts'),
          '--model-repository',
          repo,
          '--http-port',
          '0',
          '--grpc-port',
          '0',
          '--metrics-port',
          String(port),
        ],
        { cwd: ROOT, encoding: 'utf8', timeout: 60000 },
      );
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /cannot start: .*EADDRINUSE/);
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });
});
