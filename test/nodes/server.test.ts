/**
 * The config node and the health node against a server that comes and goes:
 * recovery without a redeploy, health messages on change, no handles left after
 * many redeploys, credentials kept out of the flow, and the editor's admin routes.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListedModel } from '../../src/nodes/admin';
import type { HealthPayload } from '../../src/nodes/health';
import type { TaskResult } from '../../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  SMALL_MODELS,
  freePort,
  healthFlow,
  helper,
  isStatus,
  nextMessage,
  serverNode,
  statusOf,
  taskFlow,
  within,
} from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

const DETECT_ONLY = SMALL_MODELS.filter((m) => m.name === 'yolov8n');

describe('server connection and health', function () {
  this.timeout(120000);
  let repo: string;
  let image: Buffer;

  before(() => {
    repo = buildFixtureRepository(DETECT_ONLY);
    image = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));
  afterEach(() => helper.unload());

  for (const mode of ['http', 'grpc'] as const) {
    it(`${mode}: server down at deploy → yellow 'connecting', red 'cannot reach', then green and working once it starts, no redeploy`, async () => {
      const httpPort = await freePort();
      const grpcPort = await freePort();
      await helper.load(
        ALL_NODES,
        taskFlow('triton-detect', { mode, httpPort, grpcPort }, { id: 'detect', model: 'yolov8n' }),
      );
      await statusOf('detect', isStatus('yellow', 'triton-detect.status.connecting'));
      // Once the first attempt has failed the node says so: a red ring, not yellow forever.
      const red = await statusOf('detect', isStatus('red', 'triton-detect.status.unreachable'));
      assert.equal(red.shape, 'ring');
      const serve = await startServe({ repository: repo, httpPort, grpcPort });
      try {
        await statusOf('detect', isStatus('green', 'triton-detect.status.ready'), 30000);
        const out = nextMessage('out');
        helper.getNode('detect').receive({ payload: image });
        assert.equal(((await out).payload as TaskResult).task, 'detect');
      } finally {
        await helper.unload();
        await serve.stop();
      }
    });
  }

  it('health sends on change: up, down when the server stops, up again when it returns', async () => {
    const httpPort = await freePort();
    const grpcPort = await freePort();
    let serve = await startServe({ repository: repo, httpPort, grpcPort });
    try {
      const got: HealthPayload[] = [];
      await helper.load(
        ALL_NODES,
        healthFlow(
          { mode: 'http', httpPort },
          { models: 'yolov8n, missing_model', interval: 0.2, emit: 'change' },
        ),
      );
      helper.getNode('out').on('input', (msg: { payload: HealthPayload }) => got.push(msg.payload));
      const waitFor = (pred: (p: HealthPayload) => boolean, what: string) =>
        within(
          30000,
          what,
          new Promise<void>((resolve) => {
            const last = (): HealthPayload | undefined => got[got.length - 1];
            if (last() && pred(last()!)) return resolve();
            const on = (): void => {
              // The collector above runs first (it was registered first).
              if (last() && pred(last()!)) {
                helper.getNode('out').off('input', on);
                resolve();
              }
            };
            helper.getNode('out').on('input', on);
          }),
        );
      await waitFor((p) => p.live && p.ready, 'a first message: up');
      assert.deepEqual(got[0].models, { yolov8n: true, missing_model: false });
      assert.equal(typeof got[0].server?.name, 'string');
      await statusOf('health', isStatus('yellow', 'triton-health.status.someNotReady'));

      await serve.stop();
      await waitFor((p) => !p.live, 'a message: down');
      const down = got[got.length - 1];
      assert.equal(down.error?.code, 'TRITON_UNAVAILABLE');
      assert.deepEqual(down.models, { yolov8n: false, missing_model: false });
      await statusOf('health', isStatus('red', 'triton-health.status.down'));

      serve = await startServe({ repository: repo, httpPort, grpcPort });
      await waitFor((p) => p.live && p.models.yolov8n, 'a message: up again');
      // Only changes were sent: no two consecutive messages say the same thing.
      for (let i = 1; i < got.length; i++) {
        assert.notDeepEqual(
          [got[i].live, got[i].ready, got[i].models, got[i].error?.code],
          [got[i - 1].live, got[i - 1].ready, got[i - 1].models, got[i - 1].error?.code],
        );
      }
      assert.ok(got.length >= 3 && got.length <= 5, `${got.length} messages`);
    } finally {
      await helper.unload();
      await serve.stop();
    }
  });

  it('health on input answers every message with the current state', async () => {
    await helper.load(
      ALL_NODES,
      healthFlow({ mode: 'local', modelRepository: repo }, { interval: 0 }),
    );
    const out = nextMessage('out');
    helper.getNode('health').receive({ payload: 'check', topic: 't' });
    const msg = await out;
    const p = msg.payload as HealthPayload;
    assert.equal(msg.topic, 't');
    assert.equal(p.live, true);
    assert.ok('yolov8n' in p.models);
  });

  it('50 redeploys leave no handles behind', async () => {
    const serve = await startServe({ repository: repo });
    try {
      const flow = taskFlow(
        'triton-detect',
        { mode: 'grpc', grpcPort: serve.grpcPort },
        { id: 'detect', model: 'yolov8n' },
      );
      const count = (): Map<string, number> => {
        const m = new Map<string, number>();
        for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
        return m;
      };
      // Warm-up: one deploy creates whatever the libraries keep for the whole process.
      await helper.load(ALL_NODES, flow);
      await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
      await helper.unload();
      const baseline = count();
      await helper.load(ALL_NODES, flow);
      for (let i = 0; i < 50; i++) {
        await helper.setFlows(flow);
        await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
      }
      await helper.unload();
      // Sockets close asynchronously; give them a bounded number of turns to do so.
      let extra: string[] = [];
      for (let turn = 0; turn < 100; turn++) {
        const now = count();
        extra = [...now]
          .filter(([k, n]) => n > (baseline.get(k) ?? 0))
          .map(([k, n]) => `${k}: ${n} (was ${baseline.get(k) ?? 0})`);
        if (extra.length === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(extra, []);
    } finally {
      await serve.stop();
    }
  });

  it('credentials reach the server as headers and never appear in the flow', async () => {
    const seen: (string | undefined)[] = [];
    // A loopback endpoint that records the Authorization header of each health probe.
    const probe = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.statusCode = req.url === '/v2/health/live' ? 200 : 404;
      res.end(req.url === '/v2/health/live' ? '' : '{"error":"not here"}');
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    try {
      const port = (probe.address() as AddressInfo).port;
      const secret = 'S3CRET-token-value';
      const flow = [
        serverNode({ mode: 'http', httpPort: port }, { authType: 'bearer' }),
        { id: 'note', type: 'helper', x: 1, y: 1 },
      ];
      const liveProbe = new Promise<void>((resolve) =>
        probe.once('request', () => setImmediate(resolve)),
      );
      await helper.load(ALL_NODES, flow, { server: { token: secret } });
      await within(5000, 'the probe request', liveProbe);
      assert.equal(seen[0], `Bearer ${secret}`);
      const exported = JSON.stringify(
        (helper as unknown as { _redNodes: { getFlows(): unknown } })._redNodes.getFlows(),
      );
      assert.ok(exported.includes('"triton-server"'));
      assert.ok(!exported.includes(secret), 'the token is not in the flow');
    } finally {
      await helper.unload();
      await new Promise<void>((r) => probe.close(() => r()));
    }
  });

  describe('admin routes for the editor', () => {
    let serve: ServeHandle;
    before(async () => {
      serve = await startServe({ repository: buildFixtureRepository(SMALL_MODELS) });
    });
    after(() => serve?.stop());

    it("POST triton-vision/models lists the deployed server's models with task, family and labels", async () => {
      await helper.load(ALL_NODES, [serverNode({ mode: 'grpc', grpcPort: serve.grpcPort })]);
      const res = await helper.request().post('/triton-vision/models').send({ id: 'server' });
      assert.equal(res.status, 200);
      const models = (res.body as { models: ListedModel[] }).models;
      const byName = Object.fromEntries(models.map((m) => [m.name, m]));
      assert.equal(byName.yolov8n.task, 'detect');
      assert.equal(byName.yolov8n.family, 'yolov8');
      assert.equal(byName.yolov8n.labels?.length, 80);
      assert.equal(byName.yolov8n_seg.task, 'segment');
      assert.equal(byName.mobilenetv2.task, 'classify');
      assert.equal(byName.mobilenetv2.labels?.length, 1000);
    });

    it('POST triton-vision/test with unsaved settings: ok for a live server, a code for a dead port', async () => {
      await helper.load(ALL_NODES, []);
      const ok = await helper
        .request()
        .post('/triton-vision/test')
        .send({
          config: { mode: 'http', host: '127.0.0.1', httpPort: serve.httpPort, timeout: 5 },
        });
      assert.deepEqual(
        { ok: (ok.body as { ok: boolean }).ok, live: (ok.body as { live: boolean }).live },
        { ok: true, live: true },
      );
      const dead = await freePort();
      const bad = await helper
        .request()
        .post('/triton-vision/test')
        .send({ config: { mode: 'http', host: '127.0.0.1', httpPort: dead, timeout: 5 } });
      assert.equal((bad.body as { ok: boolean }).ok, false);
      assert.equal((bad.body as { code: string }).code, 'TRITON_UNAVAILABLE');
    });
  });
});
