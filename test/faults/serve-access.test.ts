/**
 * triton-vision-serve exposed (issue 14, item 2): the repository API under Triton's
 * model control modes, a bearer token on every endpoint of both transports, a config
 * that names a file outside its version folder, and hidden model folders. Each
 * refusal has a code and a sentence, and the server keeps serving what it should.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createClient } from '../../src/client';
import type { InferenceClient } from '../../src/protocol/types';
import { isLoopback } from '../../src/server/access';
import { ProcessWatch, addIdentityModel, rawRequest } from '../support/faults';
import { startServe, type ServeHandle } from '../support/serve';

/** Triton's own sentence for load/unload in NONE mode (model_repository_manager.cc). */
const TRITON_REFUSAL = 'explicit model load / unload is not allowed if polling is enabled';

async function rejectsWith(p: Promise<unknown>, code: string, text?: RegExp): Promise<void> {
  await assert.rejects(p, (err: { code?: string; message?: string }) => {
    assert.equal(err.code, code, err.message);
    if (text) assert.match(err.message ?? '', text);
    return true;
  });
}

const identityInput = (side: number) => ({
  name: 'images',
  datatype: 'FP32' as const,
  shape: [1, 3, side, side],
  data: new Float32Array(3 * side * side).fill(0.25),
});

describe('fault suite: triton-vision-serve exposed', function () {
  this.timeout(120000);
  const watch = new ProcessWatch();
  let repo: string;

  before(() => {
    watch.install();
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-access-'));
    addIdentityModel(repo, 'identity', 8);
    // A hidden copy of a valid model, and a config that points out of its version folder.
    addIdentityModel(repo, '.hidden', 8);
    addIdentityModel(repo, 'escape', 8);
    const cfg = path.join(repo, 'escape', 'config.pbtxt');
    fs.appendFileSync(cfg, 'default_model_filename: "../../etc/passwd"\n');
  });
  after(() => {
    watch.uninstall();
    fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(() => watch.assertClean());

  describe('model control mode none (the default)', () => {
    let serve: ServeHandle;
    const clients: InferenceClient[] = [];
    before(async () => {
      serve = await startServe({ repository: repo });
      for (const mode of ['http', 'grpc'] as const) {
        const port = mode === 'http' ? serve.httpPort : serve.grpcPort;
        clients.push(createClient({ mode, host: '127.0.0.1', port }));
      }
    });
    after(async () => {
      for (const c of clients) await c.close();
      await serve.stop();
    });

    it("load and unload are refused with Triton's wording (503 / UNAVAILABLE) on both transports; the model stays served", async () => {
      const http = await rawRequest(
        serve.httpPort,
        'POST',
        '/v2/repository/models/identity/unload',
      );
      assert.equal(http.status, 503);
      const body = JSON.parse(http.body.toString('utf8')) as { error: string };
      assert.ok(body.error.startsWith(TRITON_REFUSAL), body.error);
      assert.match(body.error, /--model-control-mode explicit/);
      for (const c of clients) {
        await rejectsWith(c.unloadModel('identity'), 'TRITON_UNAVAILABLE', /not allowed/);
        await rejectsWith(c.loadModel('identity'), 'TRITON_UNAVAILABLE', /not allowed/);
        const res = await c.infer({ model: 'identity', inputs: [identityInput(8)] });
        assert.equal((res.outputs[0]!.data as Float32Array)[5], 0.25);
      }
      assert.match(serve.output(), /model control: none/);
    });

    it("a config whose default_model_filename leaves its folder ('../../etc/passwd') is refused, saying why", async () => {
      const index = await clients[0]!.repositoryIndex();
      const escape = index.find((m) => m.name === 'escape');
      assert.ok(escape, 'listed');
      assert.notEqual(escape.state, 'READY');
      assert.match(
        escape.reason ?? '',
        /default_model_filename '\.\.\/\.\.\/etc\/passwd' must be a file name/,
      );
      for (const c of clients) {
        await assert.rejects(
          c.infer({ model: 'escape', inputs: [identityInput(8)] }),
          (err: { code: string }) => ['MODEL_NOT_READY', 'INVALID_CONFIG'].includes(err.code),
        );
      }
    });

    it('a .hidden model folder is neither listed nor served by name', async () => {
      for (const c of clients) {
        const names = (await c.repositoryIndex()).map((m) => m.name);
        assert.ok(names.includes('identity'));
        assert.ok(!names.includes('.hidden'), names.join(','));
        await rejectsWith(c.infer({ model: '.hidden', inputs: [identityInput(8)] }), 'NOT_FOUND');
        assert.equal(await c.modelReady('.hidden'), false);
      }
    });
  });

  it('explicit mode: unload and load work, and a .hidden folder cannot be loaded by name', async () => {
    const serve = await startServe({
      repository: repo,
      extraArgs: ['--model-control-mode', 'explicit', '--allow-grpc', 'false'],
    });
    const c = createClient({ mode: 'http', host: '127.0.0.1', port: serve.httpPort });
    try {
      await c.unloadModel('identity');
      assert.equal(await c.modelReady('identity'), false);
      await c.loadModel('identity');
      assert.equal(await c.modelReady('identity'), true);
      await rejectsWith(c.loadModel('.hidden'), 'NOT_FOUND');
      assert.ok(!(await c.repositoryIndex()).some((m) => m.name === '.hidden'));
    } finally {
      await c.close();
      await serve.stop();
    }
  });

  it('a bearer token guards every endpoint of both transports (flag or environment)', async () => {
    for (const how of ['flag', 'env'] as const) {
      const token = `s3cret-${how}`;
      const serve = await startServe({
        repository: repo,
        ...(how === 'flag'
          ? { extraArgs: ['--auth-token', token] }
          : { env: { TRITON_VISION_SERVE_TOKEN: token } }),
      });
      try {
        for (const urlPath of ['/v2/health/live', '/v2/models/identity', '/v2/nothing/here']) {
          const none = await rawRequest(serve.httpPort, 'GET', urlPath);
          assert.equal(none.status, 401, urlPath);
          assert.equal(none.headers['x-triton-vision-error-code'], 'UNAUTHORIZED');
          assert.match(none.body.toString('utf8'), /requires a bearer token/);
          const wrong = await rawRequest(serve.httpPort, 'GET', urlPath, undefined, {
            Authorization: 'Bearer nope',
          });
          assert.equal(wrong.status, 401);
        }
        const ok = await rawRequest(serve.httpPort, 'GET', '/v2/health/live', undefined, {
          Authorization: `Bearer ${token}`,
        });
        assert.equal(ok.status, 200);
        for (const mode of ['http', 'grpc'] as const) {
          const port = mode === 'http' ? serve.httpPort : serve.grpcPort;
          const anonymous = createClient({ mode, host: '127.0.0.1', port });
          const wrong = createClient({
            mode,
            host: '127.0.0.1',
            port,
            headers: { authorization: 'Bearer x' },
          });
          const right = createClient({
            mode,
            host: '127.0.0.1',
            port,
            headers: { authorization: `Bearer ${token}` },
          });
          try {
            await rejectsWith(anonymous.serverLive(), 'UNAUTHORIZED');
            await rejectsWith(
              anonymous.infer({ model: 'identity', inputs: [identityInput(8)] }),
              'UNAUTHORIZED',
            );
            await rejectsWith(wrong.modelMetadata('identity'), 'UNAUTHORIZED');
            assert.equal(await right.serverLive(), true);
            const res = await right.infer({ model: 'identity', inputs: [identityInput(8)] });
            assert.equal((res.outputs[0]!.data as Float32Array)[0], 0.25);
          } finally {
            await Promise.all([anonymous.close(), wrong.close(), right.close()]);
          }
        }
        assert.match(serve.output(), /bearer token required/);
        assert.ok(!serve.output().includes(token), 'the token is never printed');
      } finally {
        await serve.stop();
      }
    }
  });

  it('what counts as loopback (no warning) and what does not (a warning at start)', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      assert.equal(isLoopback(h), true, h);
    }
    for (const h of [
      '0.0.0.0',
      '::',
      '192.168.1.4',
      '10.0.0.1',
      'example.com',
      '::ffff:10.0.0.1',
    ]) {
      assert.equal(isLoopback(h), false, h);
    }
  });
});
