/**
 * The config node over several endpoints of one deployment and behind an ingress, the
 * health node's model statistics, and model management from a flow (triton-model), with
 * real triton-vision-serve processes on loopback and real Node-RED.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient } from '../../src/client/http';
import { RETRY_DEFAULTS } from '../../src/client/retry';
import { credentialsFor, PASSWORD_PLACEHOLDER } from '../../src/nodes/admin';
import type { HealthPayload } from '../../src/nodes/health';
import { activitySince, totalsByModel } from '../../src/nodes/health';
import { endpointKey, type ServerNode } from '../../src/nodes/server-node';
import tritonModel, { type ModelResult, type RepositoryRow } from '../../src/nodes/triton-model';
import type { NodeMessage, NodeStatus } from '../../src/nodes/types';
import type { TaskResult } from '../../src/vision/pipeline';
import type { ModelStatistics } from '../../src/protocol/types';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  SMALL_MODELS,
  freePort,
  helper,
  messages,
  nextMessage,
  serverNode,
  statusOf,
  type ServerTarget,
} from '../support/flows';
import { startLyingProxy } from '../support/lying-proxy';
import { startServe, type ServeHandle } from '../support/serve';

const DETECT_ONLY = SMALL_MODELS.filter((m) => m.name === 'yolov8n');
const NODES = [...ALL_NODES, tritonModel];
const AT = { x: 100, y: 100 };

/** tab + server + the given nodes, each wired to 'out', and a catch wired to 'caught'. */
function flow(
  target: ServerTarget,
  serverExtra: Record<string, unknown>,
  nodes: Record<string, unknown>[],
): object[] {
  return [
    { id: 'flow', type: 'tab', label: 'spec' },
    serverNode(target, serverExtra),
    ...nodes.map((n) => ({
      z: 'flow',
      server: 'server',
      version: 1,
      ...AT,
      wires: [['out']],
      ...n,
    })),
    { id: 'out', type: 'helper', z: 'flow', ...AT },
    {
      id: 'catcher',
      type: 'catch',
      z: 'flow',
      scope: null,
      uncaught: false,
      ...AT,
      wires: [['caught']],
    },
    { id: 'caught', type: 'helper', z: 'flow', ...AT },
  ];
}

const hasText = (fill: string, text: string) => (s: NodeStatus) =>
  s.fill === fill && s.text === text;

/** A model's successful requests on one server, read from that server itself. */
async function served(port: number, model: string): Promise<number> {
  const client = new HttpClient({ host: '127.0.0.1', port });
  try {
    const stats = await client.modelStatistics(model);
    return stats.reduce((n, s) => n + s.inference_stats.success.count, 0);
  } finally {
    await client.close();
  }
}

function stats(
  name: string,
  success: number,
  fail: number,
  queueNs: number,
  computeNs: [number, number, number],
): ModelStatistics {
  const d = (count: number, ns: number) => ({ count, ns });
  return {
    name,
    version: '1',
    last_inference: 0,
    inference_count: success,
    execution_count: success,
    inference_stats: {
      success: d(success, 0),
      fail: d(fail, 0),
      queue: d(success, queueNs),
      compute_input: d(success, computeNs[0]),
      compute_infer: d(success, computeNs[1]),
      compute_output: d(success, computeNs[2]),
    },
  };
}

describe('fleet: replicas, ingress, statistics and model control from a flow', function () {
  this.timeout(180000);
  let repo: string;
  let image: Buffer;

  before(() => {
    repo = buildFixtureRepository(DETECT_ONLY);
    image = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));
  afterEach(() => helper.unload());

  describe('replicas', function () {
    it('three replicas, one killed mid-stream: every message answered once, `2/3 up`, back to `3/3 up` after its restart', async () => {
      const ports = [await freePort(), await freePort(), await freePort()];
      const serves: ServeHandle[] = await Promise.all(
        ports.map((httpPort) => startServe({ repository: repo, httpPort })),
      );
      try {
        await helper.load(
          NODES,
          flow(
            { mode: 'http', httpPort: ports[0] },
            { replicas: `127.0.0.1:${ports[1]}\n127.0.0.1:${ports[2]}` },
            [
              {
                id: 'detect',
                type: 'triton-detect',
                model: 'yolov8n',
                concurrency: 3,
                queueLimit: 30,
              },
              {
                id: 'health',
                type: 'triton-health',
                models: 'yolov8n',
                interval: 0,
                statistics: false,
              },
            ],
          ),
        );
        await statusOf('detect', hasText('green', 'triton-detect.status.ready · 3/3 up'), 30000);
        const texts: string[] = [];
        helper
          .getNode('detect')
          .on('call:status', ((c: { args: [NodeStatus] }) =>
            texts.push(String(c.args[0].text))) as (arg: never) => void);
        const caughtCodes: string[] = [];
        helper
          .getNode('caught')
          .on('input', ((m: NodeMessage) =>
            caughtCodes.push(String((m.error as { code?: string }).code))) as (arg: never) => void);
        const total = 18;
        const answered = messages('out', total, 120000);
        const detect = helper.getNode('detect');
        const first = nextMessage('out', 60000);
        for (let i = 0; i < total; i++) detect.receive({ payload: image, seq: i } as NodeMessage);
        await first;
        // Mid-stream: requests are in flight on every replica (concurrency 3).
        await serves[1]!.kill();
        const got = await answered;
        const seqs = got.map((m) => (m as { seq?: number }).seq).sort((a, b) => a! - b!);
        assert.deepEqual(
          seqs,
          Array.from({ length: total }, (_, i) => i),
          'each message answered exactly once',
        );
        for (const m of got) assert.equal((m.payload as TaskResult).task, 'detect');
        // The requests caught on the dying replica were sent again: each message carries
        // its own count, and they add up to the node's total.
        const perMessage = got.reduce(
          (n, m) => n + (typeof m.retries === 'number' ? m.retries : 0),
          0,
        );
        assert.ok(perMessage >= 1, 'the kill cost at least one retry');
        assert.equal(detect.controller!.retries, perMessage);
        assert.ok(
          texts.some((t) => / · 2\/3 up$/.test(t)),
          `a status with 2/3 up: ${[...new Set(texts)].join(' | ')}`,
        );
        // The health node reports the rotation and the retry counters.
        const report = nextMessage('out');
        helper.getNode('health').receive({ payload: 'check' });
        const payload = (await report).payload as HealthPayload;
        assert.equal(payload.replicas?.text, '2/3 up');
        assert.equal(payload.replicas?.endpoints.length, 3);
        assert.equal(
          payload.replicas?.endpoints.find((e) => e.endpoint.endsWith(`:${ports[1]}`))?.state,
          'down',
        );
        assert.ok(payload.replicas!.stats.calls >= total, JSON.stringify(payload.replicas!.stats));
        // Restarted on its port, it rejoins without a redeploy.
        serves[1] = await startServe({ repository: repo, httpPort: ports[1] });
        await statusOf(
          'detect',
          (s) => s.fill === 'green' && / · 3\/3 up$/.test(String(s.text)),
          60000,
        );
        assert.deepEqual(caughtCodes, [], 'nothing failed');
      } finally {
        await helper.unload();
        await Promise.all(serves.map((s) => s.stop()));
      }
    });

    it('two replicas share the load, and the health node adds the deployment’s statistics since the last check', async () => {
      const ports = [await freePort(), await freePort()];
      const serves = await Promise.all(
        ports.map((grpcPort) => startServe({ repository: repo, grpcPort })),
      );
      try {
        await helper.load(
          NODES,
          flow({ mode: 'grpc', grpcPort: ports[0] }, { replicas: `127.0.0.1:${ports[1]}` }, [
            { id: 'detect', type: 'triton-detect', model: 'yolov8n' },
            {
              id: 'health',
              type: 'triton-health',
              models: 'yolov8n',
              interval: 0,
              statistics: true,
            },
          ]),
        );
        await statusOf('detect', hasText('green', 'triton-detect.status.ready · 2/2 up'), 30000);
        const health = helper.getNode('health');
        const check = async (): Promise<HealthPayload> => {
          const m = nextMessage('out');
          health.receive({ payload: 'check' });
          return (await m).payload as HealthPayload;
        };
        const before = await check();
        assert.equal(before.replicas?.text, '2/2 up');
        assert.ok(before.statistics?.yolov8n, JSON.stringify(before));
        const detect = helper.getNode('detect');
        const k = 6;
        for (let i = 0; i < k; i++) {
          const out = nextMessage('out');
          detect.receive({ payload: image });
          await out;
        }
        const after = await check();
        const s = after.statistics!.yolov8n!;
        // Exactly the k requests sent between the two checks, none failed.
        assert.equal(s.inferences, k);
        assert.equal(s.failures, 0);
        assert.ok(s.meanComputeMs !== null && s.meanComputeMs > 0, JSON.stringify(s));
        assert.ok(s.meanQueueMs !== null && s.meanQueueMs >= 0, JSON.stringify(s));
        // Both replicas served some (ties take turns), as each server counts it.
        const counts = await Promise.all(serves.map((sv) => served(sv.httpPort, 'yolov8n')));
        assert.ok(counts[0]! > 0 && counts[1]! > 0, `per replica: ${counts.join(', ')}`);
        assert.equal(counts[0]! + counts[1]!, before.statistics!.yolov8n!.inferences + k);
        // Nothing happened since: a third check counts zero, the means are null.
        const idle = (await check()).statistics!.yolov8n!;
        assert.deepEqual(idle, {
          inferences: 0,
          failures: 0,
          executions: 0,
          meanQueueMs: null,
          meanComputeMs: null,
        });
      } finally {
        await helper.unload();
        await Promise.all(serves.map((s) => s.stop()));
      }
    });

    it('a bad replica entry stops the server node with INVALID_CONFIG naming it', async () => {
      await helper.load(
        NODES,
        flow({ mode: 'grpc' }, { replicas: 'triton-2:8001\ntriton-3' }, [
          { id: 'model', type: 'triton-model', action: 'list' },
        ]),
      );
      const server = helper.getNode('server') as unknown as ServerNode;
      assert.equal(server.connection, undefined);
      assert.equal(server.configError?.code, 'INVALID_CONFIG');
      assert.match(server.configError!.message, /Replica 'triton-3' is not host:port/);
      const caught = nextMessage('caught');
      helper.getNode('model').receive({ payload: 'go' });
      const err = (await caught).error as { code?: string };
      assert.equal(err.code, 'INVALID_CONFIG');
    });

    it('stored secrets go only to the endpoints saved: another replica list, path prefix or Host header refuses them', function () {
      const saved = {
        mode: 'http',
        host: 'triton',
        httpPort: 8000,
        replicas: 'triton-2:8000\ntriton-3:8000',
        pathPrefix: '/kserve/demo',
        hostHeader: 'demo.example.com',
      };
      const deployed = {
        type: 'triton-server',
        savedEndpoint: endpointKey(saved),
        credentials: { token: 'secret' },
      } as unknown as ServerNode;
      const body = { credentials: { token: PASSWORD_PLACEHOLDER } };
      // The same deployment, replicas in another order and case: the secret goes.
      assert.deepEqual(
        credentialsFor(body, deployed, { ...saved, replicas: 'TRITON-3:8000, triton-2:8000' }),
        { token: 'secret' },
      );
      for (const changed of [
        { replicas: 'triton-2:8000\nevil:8000' },
        { replicas: 'triton-2:8000\ntriton-3:8000\nevil:8000' },
        { pathPrefix: '/kserve/other' },
        { hostHeader: 'evil.example.com' },
      ]) {
        assert.throws(
          () => credentialsFor(body, deployed, { ...saved, ...changed }),
          { code: 'INVALID_CONFIG' },
          JSON.stringify(changed),
        );
      }
    });
  });

  describe('retries', function () {
    it('one endpoint behind a gateway that answers 503: retried within the deadline, counted in msg.retries and the node’s total; a 400 is not retried', async () => {
      const serve = await startServe({ repository: repo });
      const proxy = await startLyingProxy(serve.httpPort);
      try {
        // No replicas: a server node with one endpoint retries too.
        await helper.load(
          NODES,
          flow({ mode: 'http', httpPort: proxy.port }, {}, [
            { id: 'detect', type: 'triton-detect', model: 'yolov8n' },
          ]),
        );
        await statusOf('detect', hasText('green', 'triton-detect.status.ready'), 30000);
        const detect = helper.getNode('detect');

        proxy.plan = [503, 503];
        const before = proxy.inferRequests;
        const out = nextMessage('out');
        detect.receive({ payload: image, retries: 7 } as NodeMessage);
        const answered = await out;
        assert.equal((answered.payload as TaskResult).detections?.[0]?.label, 'cat');
        assert.equal(answered.retries, 2, 'two 503s, two retries');
        assert.equal(proxy.inferRequests, before + 3);
        assert.equal(detect.controller!.retries, 2);
        // The status says so too (the node's total since deploy).
        await statusOf('detect', hasText('green', 'triton-detect.status.okRetried'));

        // No retry needed: no msg.retries (an upstream node's value is not kept).
        const plain = nextMessage('out');
        detect.receive({ payload: image, retries: 7 } as NodeMessage);
        assert.equal((await plain).retries, undefined);

        // A 400 is the server's answer: not retried, the message goes to Catch as it is.
        proxy.plan = [400];
        const refused = nextMessage('caught');
        detect.receive({ payload: image });
        const caught = await refused;
        assert.equal((caught.error as { code: string }).code, 'INVALID_ARGUMENT');
        assert.equal(caught.retries, undefined);
        assert.equal(detect.controller!.retries, 2);

        // Always 503: gives up after the retry budget, saying so, with the count on the message.
        proxy.plan = Array.from({ length: 20 }, () => 503);
        const given = nextMessage('caught');
        detect.receive({ payload: image });
        const gaveUp = await given;
        const err = gaveUp.error as { code: string; message: string };
        assert.equal(err.code, 'TRITON_UNAVAILABLE');
        assert.match(err.message, new RegExp(`gave up after ${RETRY_DEFAULTS.maxRetries} retries`));
        assert.equal(gaveUp.retries, RETRY_DEFAULTS.maxRetries);
        assert.equal(detect.controller!.retries, 2 + RETRY_DEFAULTS.maxRetries);
      } finally {
        await helper.unload();
        await proxy.close();
        await serve.stop();
      }
    });
  });

  describe('ingress', function () {
    it('HTTP through a proxy serving the server under /kserve/demo for one Host: path prefix and Host header reach it', async () => {
      const serve = await startServe({ repository: repo });
      const seen: { path: string; host: string }[] = [];
      // The ingress: routes Host demo.example.com + /kserve/demo/* to the server, 404 else.
      const proxy = http.createServer((req, res) => {
        const url = req.url ?? '';
        seen.push({ path: url, host: String(req.headers.host) });
        if (req.headers.host !== 'demo.example.com' || !url.startsWith('/kserve/demo/v2')) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('no route');
          return;
        }
        const upstream = http.request(
          {
            host: '127.0.0.1',
            port: serve.httpPort,
            method: req.method,
            path: url.slice('/kserve/demo'.length),
            headers: req.headers,
          },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      const port = (proxy.address() as AddressInfo).port;
      try {
        await helper.load(
          NODES,
          flow(
            { mode: 'http', httpPort: port },
            { pathPrefix: '/kserve/demo/', hostHeader: 'demo.example.com' },
            [{ id: 'detect', type: 'triton-detect', model: 'yolov8n' }],
          ),
        );
        await statusOf('detect', hasText('green', 'triton-detect.status.ready'), 30000);
        const out = nextMessage('out');
        helper.getNode('detect').receive({ payload: image });
        assert.equal(((await out).payload as TaskResult).task, 'detect');
        assert.ok(seen.length > 0);
        for (const s of seen) {
          assert.equal(s.host, 'demo.example.com');
          assert.match(s.path, /^\/kserve\/demo\/v2(\/|$)/);
        }
        assert.ok(seen.some((s) => s.path.startsWith('/kserve/demo/v2/models/yolov8n/infer')));
      } finally {
        await helper.unload();
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
        await serve.stop();
      }
    });
  });

  describe('health statistics (pure)', function () {
    it('counts and means between two checks, from known totals', function () {
      // Two versions of one model are added up; the second check adds 3 requests of
      // 2 ms queue and 1+4+1 = 6 ms compute each, and 1 failure.
      const ms = 1e6;
      const t0 = totalsByModel([
        stats('m', 2, 0, 2 * ms, [0, 0, 0]),
        stats('m', 1, 0, 0, [0, 0, 0]),
      ]);
      const t1 = totalsByModel([
        stats('m', 4, 1, 2 * ms + 4 * ms, [2 * ms, 8 * ms, 2 * ms]),
        stats('m', 2, 0, 2 * ms, [1 * ms, 4 * ms, 1 * ms]),
      ]);
      assert.deepEqual(activitySince(t0, t1), {
        m: { inferences: 3, failures: 1, executions: 3, meanQueueMs: 2, meanComputeMs: 6 },
      });
      // A restarted server (counters went down) counts from zero.
      const restarted = totalsByModel([stats('m', 1, 0, 3 * ms, [0, 1 * ms, 0])]);
      assert.deepEqual(activitySince(t1, restarted), {
        m: { inferences: 1, failures: 0, executions: 1, meanQueueMs: 3, meanComputeMs: 1 },
      });
    });
  });

  describe('triton-model', function () {
    it('explicit model control: list with ready state, unload, load; refused until the server node allows it', async () => {
      const serve = await startServe({
        repository: repo,
        extraArgs: ['--model-control-mode', 'explicit'],
      });
      const target: ServerTarget = { mode: 'grpc', grpcPort: serve.grpcPort };
      const nodes = [{ id: 'model', type: 'triton-model', action: 'list', model: 'yolov8n' }];
      try {
        // Off by default: listing works, loading and unloading are refused.
        await helper.load(NODES, flow(target, {}, nodes));
        const model = () => helper.getNode('model');
        const ask = async (msg: Record<string, unknown>): Promise<NodeMessage> => {
          const out = nextMessage('out');
          model().receive({ payload: '', ...msg });
          return out;
        };
        const refuse = async (
          msg: Record<string, unknown>,
        ): Promise<{ code?: string; message?: string }> => {
          const caught = nextMessage('caught');
          model().receive({ payload: '', ...msg });
          return (await caught).error as { code?: string; message?: string };
        };
        const listed = (await ask({})).payload as RepositoryRow[];
        assert.deepEqual(
          listed.map((r) => [r.name, r.ready]),
          [['yolov8n', true]],
        );
        const off = await refuse({ action: 'unload' });
        assert.equal(off.code, 'INVALID_CONFIG');
        assert.match(off.message!, /Allow model control from flows/);
        assert.equal(
          (await ask({ action: 'list' })).payload instanceof Array,
          true,
          'still loaded',
        );
        await helper.unload();

        await helper.load(NODES, flow(target, { modelControl: true }, nodes));
        const unloaded = (await ask({ action: 'unload' })).payload as ModelResult;
        assert.deepEqual(unloaded, { action: 'unload', model: 'yolov8n', ready: false });
        const after = (await ask({})).payload as RepositoryRow[];
        assert.equal(after.find((r) => r.name === 'yolov8n')?.ready, false);
        const loaded = (await ask({ action: 'load', model: 'yolov8n' })).payload as ModelResult;
        assert.deepEqual(loaded, { action: 'load', model: 'yolov8n', ready: true });
        // Wrong requests are coded like everywhere else.
        assert.equal((await refuse({ action: 'explode' })).code, 'INVALID_OPTION');
        assert.equal((await refuse({ action: 'load', model: 'no_such_model' })).code, 'NOT_FOUND');
      } finally {
        await helper.unload();
        await serve.stop();
      }
    });

    it('a server without model control refuses with its code; local mode loads and unloads', async () => {
      const serve = await startServe({ repository: repo });
      try {
        await helper.load(
          NODES,
          flow({ mode: 'http', httpPort: serve.httpPort }, { modelControl: true }, [
            { id: 'model', type: 'triton-model', action: 'unload', model: 'yolov8n' },
          ]),
        );
        const caught = nextMessage('caught');
        helper.getNode('model').receive({ payload: '' });
        const err = (await caught).error as { code?: string; message?: string };
        assert.equal(err.code, 'TRITON_UNAVAILABLE');
        assert.match(err.message!, /model-control-mode explicit/);
      } finally {
        await helper.unload();
        await serve.stop();
      }
      await helper.load(
        NODES,
        flow({ mode: 'local', modelRepository: repo }, { modelControl: true }, [
          { id: 'model', type: 'triton-model', action: 'load', model: 'yolov8n' },
        ]),
      );
      const ask = async (msg: Record<string, unknown>): Promise<unknown> => {
        const out = nextMessage('out', 60000);
        helper.getNode('model').receive({ payload: '', ...msg });
        return (await out).payload;
      };
      assert.deepEqual(await ask({}), { action: 'load', model: 'yolov8n', ready: true });
      assert.deepEqual(
        ((await ask({ action: 'list' })) as RepositoryRow[]).map((r) => [r.name, r.ready]),
        [['yolov8n', true]],
      );
      assert.deepEqual(await ask({ action: 'unload' }), {
        action: 'unload',
        model: 'yolov8n',
        ready: false,
      });
    });
  });
});
