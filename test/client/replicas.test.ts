/**
 * The replica client over real `triton-vision-serve` processes on loopback: routing,
 * a replica killed mid-stream and restarted on the same ports, retries counted on
 * injected gateway errors, the CLI with several --url, and the HTTP path prefix / Host
 * header / gRPC authority an ingress needs. The retry policy's table is checked on its own.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { clientOptionsFromUrl, createClient } from '../../src/client';
import { GrpcStatus, TritonError, isTritonError } from '../../src/protocol/errors';
import { GrpcClient } from '../../src/client/grpc';
import { HttpClient } from '../../src/client/http';
import { ReplicaClient, sumStatistics, type ReplicaStatus } from '../../src/client/replicas';
import { backoffDelay, isRetryable, RETRY_DEFAULTS } from '../../src/client/retry';
import type { InferenceClient, InferRequest, ModelStatistics } from '../../src/protocol/types';
import { buildFixtureRepository, fixtureImage, FIXTURE_REPOSITORY } from '../support/fixtures';
import { startLyingProxy } from '../support/lying-proxy';
import { startServe, type ServeHandle } from '../support/serve';

const ROOT = path.resolve(__dirname, '..', '..');
const MODEL = 'mobilenetv2';

/** Input i of a small set: [1, 3, 224, 224] FP32, distinct per i. */
function request(i: number, id: string): InferRequest {
  const data = new Float32Array(3 * 224 * 224);
  for (let k = 0; k < data.length; k++) data[k] = ((k * (i + 3)) % 251) / 251 - 0.5;
  return {
    model: MODEL,
    id,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], data }],
  };
}

/** Resolves once `pred` holds for the client's status; fails after `ms`. */
function statusWhere(
  client: ReplicaClient,
  pred: (s: ReplicaStatus) => boolean,
  ms: number,
  what: string,
): Promise<ReplicaStatus> {
  return new Promise((resolve, reject) => {
    if (pred(client.status())) {
      resolve(client.status());
      return;
    }
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(`no status where ${what} within ${ms} ms: ${JSON.stringify(client.status())}`),
      );
    }, ms);
    const off = client.onStatus((s) => {
      if (!pred(s)) return;
      clearTimeout(timer);
      off();
      resolve(s);
    });
  });
}

/** Runs `count` calls of `fn`, at most `concurrency` at once; `after(i)` runs when call i answers. */
async function pool<T>(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
  after: (i: number) => void | Promise<void> = () => undefined,
): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
      await after(i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

async function inferenceCount(client: InferenceClient): Promise<number> {
  const stats = await client.modelStatistics(MODEL);
  return stats.reduce((n, s) => n + s.inference_count, 0);
}

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'cli.ts'), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// ---- the policy ------------------------------------------------------------------------------

describe('retry policy', () => {
  const err = (
    code: ConstructorParameters<typeof TritonError>[0],
    status?: number,
    details?: string,
  ): TritonError =>
    new TritonError(code, 'x', {
      ...(status !== undefined ? { status } : {}),
      ...(details !== undefined ? { cause: { details } } : {}),
    });

  it('retries UNAVAILABLE, RESOURCE_EXHAUSTED and HTTP 502/503/504, nothing else', () => {
    assert.equal(isRetryable(err('TRITON_UNAVAILABLE')), true, 'refused / reset connection');
    assert.equal(isRetryable(err('TRITON_UNAVAILABLE', GrpcStatus.UNAVAILABLE)), true);
    assert.equal(isRetryable(err('TRITON_UNAVAILABLE', 502)), true);
    assert.equal(isRetryable(err('TRITON_UNAVAILABLE', 503)), true);
    assert.equal(isRetryable(err('TIMEOUT', 504)), true, 'a gateway timeout');
    assert.equal(
      isRetryable(err('MESSAGE_TOO_LARGE', GrpcStatus.RESOURCE_EXHAUSTED, 'rate limit reached')),
      true,
    );
    // Not retried: the same request would get the same answer.
    assert.equal(
      isRetryable(
        err(
          'MESSAGE_TOO_LARGE',
          GrpcStatus.RESOURCE_EXHAUSTED,
          'Received message larger than max (9 vs. 4)',
        ),
      ),
      false,
    );
    assert.equal(isRetryable(err('MODEL_NOT_READY', 503)), false);
    assert.equal(isRetryable(err('TIMEOUT', GrpcStatus.DEADLINE_EXCEEDED)), false);
    assert.equal(isRetryable(err('TIMEOUT')), false, "the call's own deadline");
    assert.equal(isRetryable(err('INVALID_ARGUMENT', 400)), false);
    assert.equal(isRetryable(err('INTERNAL', 500)), false);
    assert.equal(isRetryable(err('UNAUTHORIZED', 401)), false);
    assert.equal(isRetryable(err('CANCELLED')), false);
    assert.equal(isRetryable(new Error('plain')), false);
    // A TLS refusal is unreachable too, but refuses the same way every time.
    const tls = (message: string, cause?: object): TritonError =>
      new TritonError('TRITON_UNAVAILABLE', message, cause ? { cause } : {});
    assert.equal(
      isRetryable(
        tls('Inference failed: the TLS handshake with h:8000 failed (self-signed certificate)'),
      ),
      false,
    );
    assert.equal(
      isRetryable(
        tls('Cannot reach h:8001', { code: 14, details: 'unable to verify the first certificate' }),
      ),
      false,
    );
    assert.equal(
      isRetryable(tls('x', { code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: 'names differ' })),
      false,
    );
  });

  it('backs off exponentially with full jitter, capped', () => {
    const top = (): number => 0.999999;
    assert.equal(
      backoffDelay(0, RETRY_DEFAULTS, () => 0),
      0,
      'full jitter reaches 0',
    );
    assert.equal(backoffDelay(0, RETRY_DEFAULTS, top), RETRY_DEFAULTS.baseDelayMs - 1);
    assert.equal(backoffDelay(2, RETRY_DEFAULTS, top), RETRY_DEFAULTS.baseDelayMs * 4 - 1);
    assert.equal(backoffDelay(40, RETRY_DEFAULTS, top), RETRY_DEFAULTS.maxDelayMs - 1);
  });

  it('sums statistics over endpoints per model and version', () => {
    const d = (count: number, ns: number) => ({ count, ns });
    const s = (version: string, n: number, last: number): ModelStatistics => ({
      name: MODEL,
      version,
      last_inference: last,
      inference_count: n,
      execution_count: n,
      inference_stats: {
        success: d(n, n * 10),
        fail: d(0, 0),
        queue: d(n, n),
        compute_input: d(n, n),
        compute_infer: d(n, n * 5),
        compute_output: d(n, n),
      },
    });
    const sum = sumStatistics([[s('1', 2, 100)], [s('1', 3, 50), s('2', 1, 7)]]);
    assert.equal(sum.length, 2);
    const v1 = sum.find((x) => x.version === '1')!;
    assert.equal(v1.inference_count, 5);
    assert.equal(v1.last_inference, 100);
    assert.deepEqual(v1.inference_stats.success, { count: 5, ns: 50 });
    assert.equal(sum.find((x) => x.version === '2')!.inference_count, 1);
  });

  it('refuses an empty or repeated endpoint list with a sentence', () => {
    assert.throws(
      () => new ReplicaClient([]),
      (e: unknown) => isTritonError(e) && e.code === 'INVALID_CONFIG',
    );
    const a = new HttpClient({ port: 9 });
    const b = new HttpClient({ port: 9 });
    assert.throws(
      () => new ReplicaClient([a, b]),
      (e: unknown) =>
        isTritonError(e) && e.code === 'INVALID_CONFIG' && /listed twice/.test(e.message),
    );
    void a.close();
    void b.close();
  });
});

// ---- real servers ------------------------------------------------------------------------------

describe('replica client over triton-vision-serve processes', function () {
  this.timeout(240000);
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((s) => s.name === MODEL));
  const servers: ServeHandle[] = [];
  const ports: { http: number; grpc: number }[] = [];
  const extras: { close(): Promise<void> }[] = [];
  /** Reference output per input index, from one server directly. */
  const reference: Float32Array[] = [];

  before(async () => {
    const started = await Promise.all([0, 1, 2].map(() => startServe({ repository: repo })));
    for (const s of started) {
      servers.push(s);
      ports.push({ http: s.httpPort, grpc: s.grpcPort });
    }
    const direct = new HttpClient({ port: ports[0]!.http });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await direct.infer(request(i, `ref-${i}`));
        reference.push(r.outputs[0]!.data as Float32Array);
      }
    } finally {
      await direct.close();
    }
  });

  after(async () => {
    for (const e of extras) await e.close();
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** Restarts replica k on its old ports (the previous process must have exited). */
  async function restart(k: number): Promise<void> {
    servers[k] = await startServe({
      repository: repo,
      httpPort: ports[k]!.http,
      grpcPort: ports[k]!.grpc,
    });
  }

  for (const mode of ['grpc', 'http'] as const) {
    it(`${mode}: a replica killed mid-stream loses no request and duplicates none, and rejoins after restart`, async () => {
      const client = new ReplicaClient(
        ports.map((p) =>
          createClient({ mode, host: '127.0.0.1', port: mode === 'grpc' ? p.grpc : p.http }),
        ),
        { timeoutMs: 30000, probeBackoffMs: 100, maxProbeBackoffMs: 500, healthIntervalMs: 0 },
      );
      const seen: string[] = [];
      client.onStatus((s) => seen.push(s.text));
      const victim = 1;
      try {
        assert.equal(client.status().text, '3/3 up');
        const total = 60;
        let killing: Promise<void> | undefined;
        let outstandingAtKill = -1;
        const answers = await pool(
          total,
          6,
          (i) => client.infer(request(i % 3, `msg-${i}`)),
          async (i) => {
            if (i === 15) {
              outstandingAtKill = client.status().endpoints[victim]!.outstanding;
              killing = servers[victim]!.kill();
            }
          },
        );
        await killing;
        // Every message answered once, with its own answer.
        assert.equal(answers.length, total);
        assert.deepEqual(
          answers.map((a) => a.id),
          Array.from({ length: total }, (_, i) => `msg-${i}`),
        );
        for (const [i, a] of answers.entries()) {
          assert.deepEqual(a.outputs[0]!.data, reference[i % 3], `answer ${i}`);
        }
        const after = client.status();
        assert.ok(seen.includes('2/3 up'), `left the rotation: ${seen.join(' → ')}`);
        assert.equal(after.endpoints[victim]!.state, 'down');
        assert.equal(after.stats.calls, total);
        assert.ok(
          after.stats.retries >= 1,
          `retries ${after.stats.retries} (outstanding at kill ${outstandingAtKill})`,
        );
        // The others shared the load.
        for (const k of [0, 2]) assert.ok(after.endpoints[k]!.requests > 0);

        // Back on the same ports: probed back in, then it serves again.
        await restart(victim);
        await statusWhere(client, (s) => s.up === 3, 60000, '3/3 up');
        const fresh = new HttpClient({ port: ports[victim]!.http });
        extras.push(fresh);
        assert.equal(await inferenceCount(fresh), 0, 'a new process');
        const more = await pool(30, 3, (i) => client.infer(request(i % 3, `again-${i}`)));
        assert.deepEqual(new Set(more.map((a) => a.id)).size, 30);
        assert.ok((await inferenceCount(fresh)) > 0, 'the restarted replica takes requests');
        // The deployment's statistics add up the three processes.
        const stats = await client.modelStatistics(MODEL);
        const direct = await Promise.all(
          ports.map(async (p) => {
            const c = new HttpClient({ port: p.http });
            try {
              return await inferenceCount(c);
            } finally {
              await c.close();
            }
          }),
        );
        assert.equal(
          stats[0]!.inference_count,
          direct.reduce((a, b) => a + b, 0),
        );
      } finally {
        await client.close();
      }
    });
  }

  it('sends each call to the endpoint with the fewest outstanding calls, ties in turn', async () => {
    const client = new ReplicaClient(
      ports.map((p) => new HttpClient({ port: p.http })),
      {
        healthIntervalMs: 0,
      },
    );
    try {
      // One at a time: every tie, so strict turns.
      for (let i = 0; i < 6; i++) await client.infer(request(0, `seq-${i}`));
      assert.deepEqual(
        client.status().endpoints.map((e) => e.requests),
        [2, 2, 2],
      );
      // Three at once: one each (the fewest outstanding is always the idle one).
      await Promise.all([0, 1, 2].map((i) => client.infer(request(0, `par-${i}`))));
      assert.deepEqual(
        client.status().endpoints.map((e) => e.requests),
        [3, 3, 3],
      );
    } finally {
      await client.close();
    }
  });

  it('metadata and config come from any up endpoint; health says some replica is ready', async () => {
    const dead = new HttpClient({ port: await freePort() });
    const client = new ReplicaClient([dead, new HttpClient({ port: ports[0]!.http })], {
      healthIntervalMs: 0,
    });
    try {
      assert.equal(await client.serverReady(), true);
      const meta = await client.modelMetadata(MODEL);
      assert.equal(meta.name, MODEL);
      const cfg = await client.modelConfig(MODEL);
      assert.equal(cfg.max_batch_size, 8);
      assert.equal(client.status().text, '1/2 up');
      assert.equal(client.status().endpoints[0]!.lastError?.code, 'TRITON_UNAVAILABLE');
    } finally {
      await client.close();
    }
  });

  it('an endpoint that fails its periodic health probe leaves the rotation without any call', async () => {
    const client = new ReplicaClient(
      [new HttpClient({ port: ports[0]!.http }), new HttpClient({ port: await freePort() })],
      { healthIntervalMs: 50, probeTimeoutMs: 5000 },
    );
    try {
      assert.equal(client.status().text, '2/2 up');
      const s = await statusWhere(client, (x) => x.up === 1, 20000, '1/2 up');
      assert.equal(s.endpoints[1]!.state, 'down');
      assert.equal(s.endpoints[0]!.state, 'up');
      assert.equal(s.stats.calls, 0);
    } finally {
      await client.close();
    }
  });

  it('with every endpoint down, a call tries each, backs off, and fails with the last error', async () => {
    const client = new ReplicaClient(
      [new HttpClient({ port: await freePort() }), new HttpClient({ port: await freePort() })],
      { healthIntervalMs: 0, baseDelayMs: 1, maxRetries: 3 },
    );
    try {
      await assert.rejects(client.infer(request(0, 'nowhere')), (e: unknown) => {
        assert.ok(isTritonError(e));
        assert.equal(e.code, 'TRITON_UNAVAILABLE');
        assert.match(e.message, /refused.*gave up after 3 retries on 2 endpoints/);
        return true;
      });
      const s = client.status();
      assert.equal(s.text, '0/2 up');
      assert.deepEqual(
        s.endpoints.map((e) => e.requests),
        [2, 2],
      );
      await assert.rejects(
        client.serverReady(),
        (e: unknown) => isTritonError(e) && e.code === 'TRITON_UNAVAILABLE',
      );
    } finally {
      await client.close();
    }
  });

  it('counts retries on injected 502/503/504 and retries nothing else', async () => {
    const proxy = await startLyingProxy(ports[0]!.http);
    extras.push(proxy);
    const client = new ReplicaClient([new HttpClient({ port: proxy.port })], {
      healthIntervalMs: 0,
      baseDelayMs: 5,
    });
    try {
      proxy.plan = [503, 502, 504];
      const r = await client.infer(request(2, 'lied-to'));
      assert.deepEqual(r.outputs[0]!.data, reference[2]);
      assert.equal(proxy.inferRequests, 4);
      assert.equal(client.status().stats.retries, 3);

      // A 400 is an answer: not retried.
      proxy.plan = [400];
      await assert.rejects(
        client.infer(request(0, 'bad')),
        (e: unknown) => isTritonError(e) && e.code === 'INVALID_ARGUMENT',
      );
      assert.equal(proxy.inferRequests, 5);
      assert.equal(client.status().stats.retries, 3);

      // Always 503: gives up after maxRetries, with the gateway's code and the history.
      proxy.plan = Array.from({ length: 20 }, () => 503);
      await assert.rejects(client.infer(request(0, 'never')), (e: unknown) => {
        assert.ok(isTritonError(e));
        assert.equal(e.code, 'TRITON_UNAVAILABLE');
        assert.match(e.message, /gave up after 5 retries/);
        return true;
      });
      assert.equal(proxy.inferRequests, 5 + 1 + RETRY_DEFAULTS.maxRetries);
      assert.equal(client.status().stats.retries, 3 + RETRY_DEFAULTS.maxRetries);
    } finally {
      await client.close();
    }
  });

  it('retries stay inside the deadline and stop when the caller aborts', async () => {
    const proxy = await startLyingProxy(ports[0]!.http);
    extras.push(proxy);
    const client = new ReplicaClient([new HttpClient({ port: proxy.port })], {
      healthIntervalMs: 0,
      baseDelayMs: 10000,
      maxDelayMs: 10000,
      // The backoff always draws its ceiling: longer than the deadline below.
      random: () => 0.99,
    });
    try {
      proxy.plan = [503, 503];
      await assert.rejects(
        client.infer(request(0, 'deadline'), { timeoutMs: 2000 }),
        (e: unknown) => {
          assert.ok(isTritonError(e));
          assert.equal(
            e.code,
            'TRITON_UNAVAILABLE',
            'the last failure, not a wait past the deadline',
          );
          return true;
        },
      );
      assert.equal(proxy.inferRequests, 1);
      const quick = new ReplicaClient([new HttpClient({ port: proxy.port })], {
        healthIntervalMs: 0,
        baseDelayMs: 5000,
        maxDelayMs: 5000,
        random: () => 0.99,
      });
      extras.push(quick);
      proxy.plan = [503];
      const ac = new AbortController();
      const call = quick.infer(request(0, 'aborted'), { signal: ac.signal });
      // Abort once the first attempt has failed and the client waits to retry.
      await until(() => proxy.inferRequests === 2, 20000);
      ac.abort();
      await assert.rejects(call, (e: unknown) => isTritonError(e) && e.code === 'CANCELLED');
      assert.equal(proxy.inferRequests, 2);
    } finally {
      await client.close();
    }
  });

  it('the CLI with two --url spreads images over both and survives either one down', async () => {
    const bus = fixtureImage('bus.jpg');
    const images = [bus, bus, bus, bus];
    const direct = [0, 1].map((k) => new HttpClient({ port: ports[k]!.http }));
    extras.push(...direct);
    const urls = (k: number): string => `grpc://127.0.0.1:${ports[k]!.grpc}`;
    const run = (first: number, second: number) =>
      cli([
        'classify',
        '--model',
        MODEL,
        '--url',
        urls(first),
        '--url',
        `http://127.0.0.1:${ports[second]!.http}`,
        '--json',
        ...images,
      ]);

    const before = await Promise.all(direct.map(inferenceCount));
    const both = await run(0, 1);
    assert.equal(both.status, 0, both.stderr);
    const lines = both.stdout.trim().split('\n');
    assert.equal(lines.length, images.length);
    // Top-1 of the reference (../shared/fixtures/reference: mobilenetv2-12-int8/bus.jpg, ONNX
    // Model Zoo pre-processing): every replica must give the same answer as the reference.
    for (const l of lines) assert.equal(JSON.parse(l).classes[0].label, 'police van');
    const afterBoth = await Promise.all(direct.map(inferenceCount));
    const spread = afterBoth.map((n, k) => n - before[k]!);
    assert.ok(spread[0]! > 0 && spread[1]! > 0, `both served: ${spread.join(', ')}`);
    assert.equal(spread[0]! + spread[1]!, images.length, 'each image inferred once');

    // The first --url down, then the second; and with the --urls given in the other order.
    for (const [first, second] of [
      [0, 1],
      [1, 0],
    ] as const) {
      for (const down of [first, second]) {
        await servers[down]!.kill();
        try {
          const r = await run(first, second);
          assert.equal(r.status, 0, r.stderr);
          const out = r.stdout.trim().split('\n');
          assert.equal(out.length, images.length);
          for (const l of out) assert.equal(JSON.parse(l).classes[0].label, 'police van');
        } finally {
          await restart(down);
        }
      }
    }
  });

  it('the CLI with one --url retries a gateway’s 503s: the table says so per image, stderr counts them', async () => {
    const proxy = await startLyingProxy(ports[0]!.http);
    extras.push(proxy);
    proxy.plan = [503, 503];
    const r = await cli([
      'classify',
      '--model',
      MODEL,
      '--url',
      `http://127.0.0.1:${proxy.port}`,
      fixtureImage('bus.jpg'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(proxy.inferRequests, 3, 'two 503s, then the answer');
    assert.match(r.stdout, /bus\.jpg: \d+x\d+, mobilenetv2 v1 .* ms, 2 retries\n/);
    assert.match(r.stdout, /police van/);
    assert.match(r.stderr, /2 requests were sent again/);
  });
});

// ---- ingress addressing ------------------------------------------------------------------------

describe('ingress addressing: HTTP path prefix, Host header, gRPC authority', function () {
  this.timeout(120000);
  let serve: ServeHandle;
  before(async () => {
    serve = await startServe({
      repository: buildFixtureRepository(FIXTURE_REPOSITORY.filter((s) => s.name === MODEL)),
    });
  });
  after(() => serve.stop());

  it('reaches a server published under /kserve/demo, with the Host the ingress routes on', async () => {
    const proxy = await startLyingProxy(serve.httpPort, '/kserve/demo');
    const client = createClient(
      clientOptionsFromUrl(`http://127.0.0.1:${proxy.port}/kserve/demo/`, {
        headers: { host: 'demo.models.example.com' },
      }),
    );
    const bare = new HttpClient({ port: proxy.port });
    try {
      assert.equal(await client.serverReady(), true);
      const r = await client.infer(request(0, 'prefixed'));
      assert.equal(r.outputs[0]!.shape.join('x'), '1x1000');
      assert.ok(proxy.seen.length >= 2);
      for (const s of proxy.seen) {
        assert.match(s.path, /^\/kserve\/demo\/v2\//);
        assert.equal(s.host, 'demo.models.example.com');
      }
      // Without the prefix the ingress has nothing there: its own 404 page, not KServe's.
      await assert.rejects(bare.modelMetadata(MODEL), (e: unknown) => {
        assert.ok(isTritonError(e));
        assert.equal(e.code, 'PROTOCOL_ERROR');
        assert.equal(e.status, 404);
        return true;
      });
    } finally {
      await client.close();
      await bare.close();
      await proxy.close();
    }
  });

  it('refuses a gRPC URL with a path, and sends the :authority given', async () => {
    assert.throws(
      () => clientOptionsFromUrl('grpc://127.0.0.1:8001/kserve/demo'),
      (e: unknown) =>
        isTritonError(e) && e.code === 'INVALID_CONFIG' && /authority/.test(e.message),
    );
    const authorities: string[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      authorities.push(String(headers[':authority']));
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () =>
        stream.sendTrailers({
          'grpc-status': String(GrpcStatus.UNIMPLEMENTED),
          'grpc-message': 'nothing here',
        }),
      );
      stream.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const client = new GrpcClient({ port, authority: 'demo.models.example.com' });
    try {
      await assert.rejects(
        client.serverLive(),
        (e: unknown) => isTritonError(e) && e.code === 'UNSUPPORTED',
      );
      assert.deepEqual(authorities, ['demo.models.example.com']);
    } finally {
      await client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Polls `cond` every 10 ms; fails after `ms`. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
