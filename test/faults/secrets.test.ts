/**
 * Secrets only to their own server, from the editor's admin routes: a node id plus new
 * settings never sends that node's stored credentials anywhere but the endpoint the node
 * was deployed with, another node type's id gives nothing (an mqtt-broker's password
 * was captured this way), and a local-mode model list only reads the allowed folders.
 * The "servers" here record every request they get, so a leaked secret would be seen.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ListedModel } from '../../src/nodes/admin';
import { buildFixtureRepository } from '../support/fixtures';
import { ALL_NODES, NODE_RED_MAIN, SMALL_MODELS, helper, serverNode } from '../support/flows';

/** The core mqtt-broker config node, loaded from the Node-RED under test. */
const mqttNodes = require(
  path.join(
    path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [NODE_RED_MAIN] })),
    'core',
    'network',
    '10-mqtt.js',
  ),
) as (RED: unknown) => void;

/** A KServe-looking HTTP server that answers health checks and records every request. */
interface Recorder {
  port: number;
  seen: string[];
  close(): Promise<void>;
}
async function recorder(): Promise<Recorder> {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(JSON.stringify(req.headers));
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (basic) seen.push(Buffer.from(basic[1]!, 'base64').toString('utf8'));
    req.resume();
    if (req.url === '/v2') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name: 'recorder', version: '1', extensions: [] }));
      return;
    }
    res.end();
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}

type TestAnswer = { ok: boolean; code?: string; message?: string; reason?: string };

async function post(route: string, body: object): Promise<{ status: number; body: unknown }> {
  const res = await helper.request().post(route).send(body);
  return { status: res.status, body: res.body };
}

describe('fault suite: secrets only to their own server (admin routes)', function () {
  this.timeout(60000);
  const token = 'tv-S3CRET-c0ffee42';
  const password = 'mqtt-pa55-77aa';
  let home: Recorder;
  let elsewhere: Recorder;

  beforeEach(async () => {
    home = await recorder();
    elsewhere = await recorder();
  });
  afterEach(async () => {
    await helper.unload();
    await home.close();
    await elsewhere.close();
  });

  const leaked = (r: Recorder, secret: string): boolean => r.seen.some((h) => h.includes(secret));

  it("another node type's id gives no credentials: the mqtt-broker password stays home", async () => {
    const flow = [
      { id: 'broker', type: 'mqtt-broker', name: '', broker: '127.0.0.1', port: '1883' },
    ];
    await helper.load([mqttNodes, ...ALL_NODES], flow, {
      broker: { user: 'admin', password },
    });
    // The capture as found: a username typed, the password left as the placeholder.
    const body = {
      id: 'broker',
      config: { mode: 'http', host: '127.0.0.1', httpPort: elsewhere.port, authType: 'basic' },
      credentials: { username: 'admin', password: '__PWRD__' },
    };
    await post('/triton-vision/test', body);
    await post('/triton-vision/models', body);
    assert.ok(elsewhere.seen.length > 0, 'the requests did reach the address sent');
    assert.ok(!leaked(elsewhere, password), 'the mqtt password never left');
  });

  it("a triton-server node's token goes to its saved endpoint only; elsewhere it must be typed again", async () => {
    const saved = { mode: 'http' as const, host: '127.0.0.1', httpPort: home.port };
    await helper.load(ALL_NODES, [serverNode(saved, { authType: 'bearer' })], {
      server: { token },
    });
    const ask = (httpPort: number, tokenSent: string): Promise<{ body: unknown }> =>
      post('/triton-vision/test', {
        id: 'server',
        config: { ...serverNode({ ...saved, httpPort }, { authType: 'bearer' }) },
        credentials: { token: tokenSent },
      });

    // Same endpoint, secret left as the placeholder: the stored token is used there.
    assert.equal(((await ask(home.port, '__PWRD__')).body as TestAnswer).ok, true);
    assert.ok(leaked(home, token), 'the saved server got its own token');

    // A changed port with the placeholder: refused with a sentence, nothing sent there.
    const refused = (await ask(elsewhere.port, '__PWRD__')).body as TestAnswer;
    assert.deepEqual([refused.ok, refused.code], [false, 'INVALID_CONFIG']);
    assert.match(refused.message ?? '', /type the secret again/);
    assert.equal(elsewhere.seen.length, 0, 'no request at all went to the new address');

    // So is a changed host spelling of the mode (http → grpc on that port) or TLS.
    for (const change of [{ mode: 'grpc', grpcPort: elsewhere.port }, { tls: true }]) {
      const r = await post('/triton-vision/test', {
        id: 'server',
        config: { ...serverNode(saved, { authType: 'bearer' }), ...change },
        credentials: { token: '__PWRD__' },
      });
      assert.equal((r.body as TestAnswer).code, 'INVALID_CONFIG', JSON.stringify(change));
    }
    assert.ok(!leaked(elsewhere, token));

    // Typed again, the new token goes to the new address (and only the new one).
    const typed = 'typed-again-1234';
    assert.equal(((await ask(elsewhere.port, typed)).body as TestAnswer).ok, true);
    assert.ok(leaked(elsewhere, typed));
    assert.ok(!leaked(elsewhere, token));
  });

  describe('local-mode model list: only the allowed folders', () => {
    let userDir: string;
    let listed: string;
    before(() => {
      userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-userdir-'));
      const inside = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name === 'yolov8n'));
      fs.cpSync(inside, path.join(userDir, 'models'), { recursive: true });
      fs.rmSync(inside, { recursive: true, force: true });
      fs.symlinkSync('/etc', path.join(userDir, 'etc-link'));
      listed = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name === 'mobilenetv2'));
      helper.settings({ userDir, tritonVision: { modelRepositories: [listed] } });
    });
    after(() => {
      helper.settings({});
      fs.rmSync(userDir, { recursive: true, force: true });
      fs.rmSync(listed, { recursive: true, force: true });
    });

    const list = (modelRepository: string): Promise<{ status: number; body: unknown }> =>
      post('/triton-vision/models', { config: { mode: 'local', modelRepository } });

    it('refuses /etc, /proc/self, a way out with .. and a link out of the user directory', async () => {
      await helper.load(ALL_NODES, []);
      for (const repo of ['/etc', '/proc/self', '../../../../../../etc', 'etc-link', os.tmpdir()]) {
        const r = await list(repo);
        assert.equal(r.status, 400, repo);
        const body = r.body as { code: string; message: string; models?: unknown };
        assert.equal(body.code, 'INVALID_CONFIG', repo);
        assert.match(body.message, /outside the folders local mode may read/);
        assert.equal(body.models, undefined, 'nothing listed');
        assert.ok(!body.message.includes('passwd'));
      }
    });

    it('lists the user directory, the demo and the folders named in settings', async () => {
      await helper.load(ALL_NODES, []);
      const names = async (repo: string): Promise<string[]> => {
        const r = await list(repo);
        assert.equal(r.status, 200, `${repo}: ${JSON.stringify(r.body)}`);
        return (r.body as { models: ListedModel[] }).models.map((m) => m.name).sort();
      };
      assert.deepEqual(await names('models'), ['yolov8n']);
      assert.deepEqual(await names(path.join(userDir, 'models')), ['yolov8n']);
      assert.deepEqual(await names(listed), ['mobilenetv2']);
      assert.ok((await names('demo')).length > 0, 'the bundled demo models');
    });
  });
});
