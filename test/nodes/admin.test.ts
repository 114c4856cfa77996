/**
 * The editor's admin routes say why a model list is empty and what Test connection found:
 * a missing local runtime (with the command that fixes it), an unreachable server, a
 * repository without models, none of the task asked for. The LocalClient here is the real
 * one, given a runtime loader that fails the way a missing onnxruntime-node does.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalClient } from '../../src/client/local';
import { listModels, testConnection, whyEmpty, type ListedModel } from '../../src/nodes/admin';
import { buildFixtureRepository } from '../support/fixtures';
import { ALL_NODES, SMALL_MODELS, freePort, helper, serverNode } from '../support/flows';

const DETECT_ONLY = SMALL_MODELS.filter((m) => m.name === 'yolov8n');

function withoutRuntime(modelRepository: string): LocalClient {
  return new LocalClient({
    modelRepository,
    loadRuntime: () => {
      throw Object.assign(new Error("Cannot find module 'onnxruntime-node'"), {
        code: 'MODULE_NOT_FOUND',
      });
    },
  });
}

describe('admin routes: why a list is empty, what a test found', function () {
  this.timeout(60000);
  let repo: string;
  before(() => {
    repo = buildFixtureRepository(DETECT_ONLY);
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));
  afterEach(() => helper.unload());

  it('Test connection in local mode reports a missing runtime with the fix, not "connected"', async () => {
    const client = withoutRuntime(repo);
    try {
      const r = await testConnection(client);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.code, 'RUNTIME_MISSING');
      assert.equal(r.reason, 'runtime-missing');
      assert.match(r.message, /npm install/);
    } finally {
      await client.close();
    }
  });

  for (const [runtime, name, backend] of [
    ['wasm', 'onnxruntime-web', 'WebAssembly'],
    ['node', 'onnxruntime-node', 'native CPU'],
  ] as const) {
    it(`Test connection in local mode names the runtime in use (${name})`, async () => {
      const client = new LocalClient({ modelRepository: repo, runtime });
      try {
        const r = await testConnection(client);
        assert.equal(r.ok, true, JSON.stringify(r));
        if (!r.ok) return;
        // The version is the installed package's, read here from its package.json.
        const pkg = JSON.parse(
          fs.readFileSync(
            path.join(__dirname, '..', '..', 'node_modules', name, 'package.json'),
            'utf8',
          ),
        ) as { version: string };
        assert.ok(r.runtime?.startsWith(`${name} ${pkg.version} (${backend}, `), String(r.runtime));
      } finally {
        await client.close();
      }
    });
  }

  it('a local server node writes the runtime in use to the log when it starts', async () => {
    await helper.load(ALL_NODES, [serverNode({ mode: 'local', modelRepository: repo })]);
    const logged = (): string[] =>
      // The helper spies on RED.log (log() is missing from its type declarations).
      (helper as unknown as { log(): { args: unknown[][] } })
        .log()
        .args.map((a: unknown[]) => (a[0] as { msg?: unknown }).msg)
        .filter((m: unknown): m is string => typeof m === 'string');
    // Logged once the runtime has loaded: wait for the line without a clock.
    while (!logged().some((m) => m.startsWith('local · onnxruntime-'))) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const line = logged().find((m) => m.startsWith('local · onnxruntime-'))!;
    assert.match(line, /^local · onnxruntime-(node|web) \S+ \((native CPU|WebAssembly), /);
  });

  it('the model list of a local client without runtime says runtime-missing, with the fix', async () => {
    const client = withoutRuntime(repo);
    try {
      const models = await listModels(client);
      assert.deepEqual(
        models.map((m) => [m.name, m.code]),
        [['yolov8n', 'RUNTIME_MISSING']],
      );
      const empty = whyEmpty(models, client.endpoint, 'detect');
      assert.equal(empty?.reason, 'runtime-missing');
      assert.match(empty?.message ?? '', /npm install/);
    } finally {
      await client.close();
    }
  });

  it('whyEmpty: nothing to say when a model of the task is there; no-models; no-task-model', () => {
    const detect: ListedModel = { name: 'y', version: '1', state: 'READY', task: 'detect' };
    assert.equal(whyEmpty([detect], 'srv:8001', 'detect'), undefined);
    assert.equal(whyEmpty([detect], 'srv:8001'), undefined);
    assert.deepEqual(whyEmpty([], 'srv:8001', 'detect'), {
      reason: 'no-models',
      message: 'srv:8001 holds no models',
    });
    const broken: ListedModel = { name: 'b', version: '', state: 'UNAVAILABLE', error: 'x' };
    const other = whyEmpty([detect, broken], 'srv:8001', 'classify');
    assert.equal(other?.reason, 'no-task-model');
    assert.match(other?.message ?? '', /no classify model.*models for detect and 1 that could/);
  });

  it('POST models names the reason: no model of the task asked for, or none at all', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-empty-'));
    try {
      await helper.load(ALL_NODES, [serverNode({ mode: 'local', modelRepository: repo })]);
      const seg = await helper
        .request()
        .post('/triton-vision/models')
        .send({ id: 'server', task: 'segment' });
      assert.equal(seg.status, 200);
      const body = seg.body as {
        models: ListedModel[];
        empty?: { reason: string; message: string };
      };
      assert.deepEqual(
        body.models.map((m) => m.task),
        ['detect'],
      );
      assert.equal(body.empty?.reason, 'no-task-model');
      assert.match(body.empty?.message ?? '', /no segment model/);
      const det = await helper
        .request()
        .post('/triton-vision/models')
        .send({ id: 'server', task: 'detect' });
      assert.equal((det.body as { empty?: unknown }).empty, undefined);
      await helper.unload();
      await helper.load(ALL_NODES, [serverNode({ mode: 'local', modelRepository: empty })]);
      const none = await helper.request().post('/triton-vision/models').send({ id: 'server' });
      assert.equal((none.body as { empty?: { reason: string } }).empty?.reason, 'no-models');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('POST models and test for an unreachable server: reason unreachable, with the code', async () => {
    await helper.load(ALL_NODES, []);
    const dead = await freePort();
    const config = { mode: 'http', host: '127.0.0.1', httpPort: dead, timeout: 5 };
    const models = await helper.request().post('/triton-vision/models').send({ config });
    assert.equal(models.status, 503);
    assert.deepEqual(
      [(models.body as { code: string }).code, (models.body as { reason: string }).reason],
      ['TRITON_UNAVAILABLE', 'unreachable'],
    );
    const test = await helper.request().post('/triton-vision/test').send({ config });
    assert.equal((test.body as { reason: string }).reason, 'unreachable');
  });
});
