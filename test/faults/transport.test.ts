/**
 * Faults between the node and a real server: a proxy that answers inference with a 502
 * HTML page or a body that is not JSON, a reply over the client's size limit, a server
 * that accepts and never answers, and one that closes mid-reply. The proxies pass every
 * other call through to a real triton-vision-serve, so the node deploys normally, and
 * each fault is switched off again to show the same node answering without a redeploy.
 * Faults a retry may cure (a 502, a cut connection) are retried, and counted.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import {
  ProcessWatch,
  type Detected,
  sendExpectingError,
  sendExpectingOutput,
  startGrpcFaultProxy,
  startHttpFaultProxy,
  type GrpcFault,
  type GrpcFaultProxy,
  type HttpFault,
  type HttpFaultProxy,
} from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { ALL_NODES, SMALL_MODELS, helper, isStatus, statusOf, taskFlow } from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

const TYPE = 'triton-detect';
const ID = 'detect';
/** Seconds: short, so the hung cases end quickly, and far above a 320 px inference. */
const TIMEOUT_S = 1.5;

describe('fault suite: transport faults through a proxy in front of the server', function () {
  this.timeout(90000);
  const watch = new ProcessWatch();
  let serve: ServeHandle;
  let repo: string;
  let png: Buffer;

  before(async () => {
    watch.install();
    repo = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name === 'yolov8n'));
    serve = await startServe({ repository: repo });
    png = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(async () => {
    await serve?.stop();
    watch.uninstall();
    fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(() => watch.assertClean());

  async function answersAgain(): Promise<void> {
    const out = await sendExpectingOutput(ID, { payload: png });
    assert.equal((out.payload as Detected).detections[0]?.label, 'cat');
    await statusOf(ID, (s) => s.fill === 'green');
  }

  describe('HTTP', () => {
    let proxy: HttpFaultProxy;
    before(async () => {
      proxy = await startHttpFaultProxy(serve.httpPort);
      await helper.load(
        ALL_NODES,
        taskFlow(
          TYPE,
          { mode: 'http', httpPort: proxy.port },
          { id: ID, model: 'yolov8n' },
          { timeout: TIMEOUT_S },
        ),
      );
      await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
      await answersAgain();
    });
    after(async () => {
      await helper.unload();
      await proxy?.close();
    });

    // A 502 and a connection cut mid-reply are retried (the server may be back a moment
    // later; inference is idempotent) until the retry budget or the deadline runs out, so
    // more than one request reaches the proxy: as many as the node counted retries, plus one.
    const CASES: { fault: HttpFault; code: string; says: RegExp; retried: boolean }[] = [
      { fault: 'bad-gateway', code: 'TRITON_UNAVAILABLE', says: /HTTP 502 .*proxy/, retried: true },
      { fault: 'not-json', code: 'PROTOCOL_ERROR', says: /JSON is not valid/, retried: false },
      { fault: 'cut', code: 'TRITON_UNAVAILABLE', says: /closed/, retried: true },
      { fault: 'hang', code: 'TIMEOUT', says: /1500 ms|timed out|no answer/i, retried: false },
    ];
    for (const c of CASES) {
      it(`${c.fault}: ${c.code} with a sentence${c.retried ? ' after retries' : ''}, then the node answers once the proxy behaves`, async () => {
        proxy.fault = c.fault;
        const before = proxy.inferRequests;
        const retriesBefore = helper.getNode(ID).controller!.retries;
        const t0 = Date.now();
        const err = await sendExpectingError(ID, TYPE, { payload: png }, c.code);
        const retries = helper.getNode(ID).controller!.retries - retriesBefore;
        assert.equal(proxy.inferRequests, before + 1 + retries, 'each retry reached the proxy');
        if (c.retried) {
          assert.ok(retries >= 1, 'retried');
          assert.match(err.message, /gave up after \d+ retr(y|ies)/);
        } else {
          assert.equal(retries, 0, 'not retried');
        }
        assert.match(err.message, c.says);
        assert.ok(!/<html|<body|nginx\/1/i.test(err.message), 'no HTML dumped in the message');
        if (c.fault === 'hang') assert.ok(Date.now() - t0 < TIMEOUT_S * 1000 + 3000);
        proxy.fault = 'pass';
        await answersAgain();
      });
    }
  });

  describe('gRPC', () => {
    let proxy: GrpcFaultProxy;
    before(async () => {
      proxy = await startGrpcFaultProxy(serve.grpcPort);
      await helper.load(
        ALL_NODES,
        taskFlow(
          TYPE,
          { mode: 'grpc', grpcPort: proxy.port },
          { id: ID, model: 'yolov8n' },
          { timeout: TIMEOUT_S },
        ),
      );
      await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
      await answersAgain();
    });
    after(async () => {
      await helper.unload();
      await proxy?.close();
    });

    // A cut connection is retried (see the HTTP cases); a reply over the size limit is not:
    // RESOURCE_EXHAUSTED for a size gives the same answer every time.
    const CASES: { fault: GrpcFault; code: string; says: RegExp; retried: boolean }[] = [
      { fault: 'oversize', code: 'MESSAGE_TOO_LARGE', says: /268435456 bytes/, retried: false },
      { fault: 'cut', code: 'TRITON_UNAVAILABLE', says: /./, retried: true },
      { fault: 'hang', code: 'TIMEOUT', says: /1500 ms/, retried: false },
    ];
    for (const c of CASES) {
      it(`${c.fault}: ${c.code} with a sentence${c.retried ? ' after retries' : ''}, then the node answers once the proxy behaves`, async () => {
        proxy.fault = c.fault;
        const before = proxy.inferCalls;
        const retriesBefore = helper.getNode(ID).controller!.retries;
        const err = await sendExpectingError(ID, TYPE, { payload: png }, c.code);
        const retries = helper.getNode(ID).controller!.retries - retriesBefore;
        assert.equal(proxy.inferCalls, before + 1 + retries, 'each retry reached the proxy');
        if (c.retried) assert.ok(retries >= 1, 'retried');
        else assert.equal(retries, 0, 'not retried');
        assert.match(err.message, c.says);
        proxy.fault = 'pass';
        await answersAgain();
      });
    }
  });
});
