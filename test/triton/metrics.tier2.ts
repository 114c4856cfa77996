/**
 * Tier 2 (`npm run test:triton`): triton-vision-serve's /metrics against NVIDIA's real
 * tritonserver's (TRITON_METRICS_URL, set by scripts/test-triton.js from
 * serve_fixtures.py's metrics port). After one inference on each, every family we serve
 * exists on real Triton with the same TYPE, the same label names and the same label
 * values for the model, so a Triton dashboard reads ours unchanged.
 */
import { strict as assert } from 'node:assert';
import { createClient } from '../../src/client';
import type { Tensor } from '../../src/protocol/types';
import { externalEndpoints } from '../support/endpoints';
import { buildFixtureRepository, FIXTURE_REPOSITORY } from '../support/fixtures';
import { seededValues } from '../support/ort';
import { parsePrometheus, type Family } from '../support/prometheus';
import { startServe } from '../support/serve';

const MODEL = 'mobilenetv2';
const image: Tensor = {
  name: 'input',
  datatype: 'FP32',
  shape: [1, 3, 224, 224],
  data: seededValues(3 * 224 * 224),
};

async function inferOnceAndScrape(
  http: { host: string; port: number },
  metricsUrl: string,
): Promise<Map<string, Family>> {
  const client = createClient({
    mode: 'http',
    host: http.host,
    port: http.port,
    timeoutMs: 120000,
  });
  try {
    await client.infer({ model: MODEL, inputs: [image] });
  } finally {
    await client.close();
  }
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200, `GET ${metricsUrl}`);
  return parsePrometheus(await res.text());
}

/** Label names of the family's samples for MODEL, sorted (one set: all samples agree). */
function labelNames(f: Family, where: string): string[] {
  const sets = new Set(
    f.samples
      .filter((s) => s.labels.model === MODEL)
      .map((s) => Object.keys(s.labels).sort().join(',')),
  );
  assert.equal(sets.size, 1, `${where}: label sets for ${MODEL}: ${[...sets].join(' | ')}`);
  return [...sets][0]!.split(',');
}

describe("real Triton: /metrics names, types and labels equal triton-vision-serve's", function () {
  this.timeout(300000);

  it('every family we serve is on real Triton with the same TYPE and labels', async () => {
    const external = externalEndpoints();
    const tritonMetrics = process.env.TRITON_METRICS_URL;
    if (!external.http || !tritonMetrics) {
      throw new Error(
        'This check needs a real Triton: set TRITON_URL and TRITON_METRICS_URL (http://host:8002/metrics; npm run test:triton does)',
      );
    }
    const real = await inferOnceAndScrape(external.http, tritonMetrics);

    const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((m) => m.name === MODEL));
    const serve = await startServe({
      repository: repo,
      extraArgs: ['--metrics-port', '0', '--allow-grpc', 'false'],
    });
    let ours: Map<string, Family>;
    try {
      const url = /Metrics service at (http:\/\/\S+)/.exec(serve.output())?.[1];
      assert.ok(url, serve.output());
      ours = await inferOnceAndScrape({ host: '127.0.0.1', port: serve.httpPort }, url);
    } finally {
      await serve.stop();
    }

    assert.ok(ours.size >= 9, `we serve the nine families: ${[...ours.keys()].join(', ')}`);
    for (const [name, mine] of ours) {
      const theirs = real.get(name);
      assert.ok(theirs, `${name}: not among real Triton's families`);
      assert.equal(mine.type, theirs.type, `${name}: TYPE`);
      assert.deepEqual(labelNames(mine, 'ours'), labelNames(theirs, 'Triton'), `${name}: labels`);
      const realValues = theirs.samples.filter((s) => s.labels.model === MODEL);
      for (const s of mine.samples) {
        assert.ok(
          realValues.some((r) => Object.entries(s.labels).every(([k, v]) => r.labels[k] === v)),
          `${name}${JSON.stringify(s.labels)}: real Triton has no sample with these label values`,
        );
      }
    }
    // One inference each: the request and inference counters moved on both.
    for (const fam of [ours, real]) {
      const success = fam
        .get('nv_inference_request_success')!
        .samples.find((s) => s.labels.model === MODEL);
      assert.ok(success && success.value >= 1);
    }
  });
});
