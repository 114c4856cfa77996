/**
 * Security faults: TLS verification is on by default (a server with a certificate from
 * an unknown CA is refused with a sentence until its CA is configured in a tls-config
 * node), over gRPC and HTTP; credentials stay out of flow exports, Node-RED's log and
 * error messages; and a string payload is never read as a file path.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeImage } from '../../src/vision/image';
import {
  ProcessWatch,
  makeTestCa,
  sendExpectingError,
  sendExpectingOutput,
  startTlsTerminator,
  type Detected,
  type TestCa,
} from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  NODE_RED_MAIN,
  SMALL_MODELS,
  helper,
  isStatus,
  statusOf,
  taskFlow,
} from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

const TYPE = 'triton-detect';
const ID = 'detect';

/** The core tls-config node, loaded from the Node-RED under test like any other node. */
const tlsConfigNode = require(
  path.join(
    path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [NODE_RED_MAIN] })),
    'core',
    'network',
    '05-tls.js',
  ),
) as (RED: unknown) => void;

describe('fault suite: TLS, credentials and file paths', function () {
  this.timeout(90000);
  const watch = new ProcessWatch();
  let serve: ServeHandle;
  let repo: string;
  let ca: TestCa;
  let png: Buffer;

  before(async () => {
    watch.install();
    ca = makeTestCa();
    repo = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name === 'yolov8n'));
    serve = await startServe({ repository: repo });
    png = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(async () => {
    await serve?.stop();
    watch.uninstall();
    fs.rmSync(repo, { recursive: true, force: true });
    if (ca) fs.rmSync(ca.dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    watch.assertClean();
  });

  for (const mode of ['grpc', 'http'] as const) {
    describe(`${mode} over TLS`, () => {
      let terminator: Awaited<ReturnType<typeof startTlsTerminator>>;
      before(async () => {
        terminator = await startTlsTerminator(
          ca,
          mode === 'grpc' ? serve.grpcPort : serve.httpPort,
          mode === 'grpc' ? ['h2'] : ['http/1.1'],
        );
      });
      after(() => terminator?.close());

      const target = () =>
        mode === 'grpc'
          ? { mode, grpcPort: terminator.port, host: 'localhost' }
          : { mode, httpPort: terminator.port, host: 'localhost' };

      it('verification is on by default: an unknown CA is refused with a sentence', async () => {
        const handshakes = terminator.handshakes;
        await helper.load(
          [...ALL_NODES, tlsConfigNode],
          taskFlow(TYPE, target(), { id: ID, model: 'yolov8n' }, { tls: true, timeout: 5 }),
        );
        await statusOf(ID, (s) => s.shape === 'ring');
        const err = await sendExpectingError(ID, TYPE, { payload: png }, 'TRITON_UNAVAILABLE');
        assert.match(err.message, /certificate|TLS|self[- ]signed|CA/i);
        assert.equal(terminator.handshakes, handshakes, 'no TLS session was ever completed');
        // The same certificate is refused the same way every time: not retried.
        assert.equal(helper.getNode(ID).controller!.retries, 0, 'a certificate refusal');
      });

      it('with the CA in a tls-config node: connects and answers', async () => {
        const flow = [
          {
            id: 'tls',
            type: 'tls-config',
            name: '',
            cert: '',
            key: '',
            ca: ca.caPath,
            certname: '',
            keyname: '',
            caname: 'ca.pem',
            servername: '',
            verifyservercert: true,
            alpnprotocol: '',
          },
          ...taskFlow(
            TYPE,
            target(),
            { id: ID, model: 'yolov8n' },
            { tls: true, tlsConfig: 'tls', timeout: 5 },
          ),
        ];
        await helper.load([tlsConfigNode, ...ALL_NODES], flow);
        await statusOf(ID, isStatus('green', `${TYPE}.status.ready`), 20000);
        const out = await sendExpectingOutput(ID, { payload: png });
        assert.equal((out.payload as Detected).detections[0]?.label, 'cat');
        assert.ok(terminator.handshakes > 0);
      });
    });
  }

  it('credentials appear in no flow export, log line or error message', async () => {
    const token = 'tv-S3CRET-8f2a61c9';
    // The token goes to a server that is not there (and over plain gRPC, which our
    // server ignores): every message fails, and each failure is logged.
    const flow = taskFlow(
      TYPE,
      { mode: 'http', httpPort: 1, host: '127.0.0.1' },
      { id: ID, model: 'yolov8n' },
      { authType: 'bearer', timeout: 1 },
    );
    await helper.load(ALL_NODES, flow, { server: { token } });
    const errors: string[] = [];
    for (let i = 0; i < 2; i++) {
      const err = await sendExpectingError(ID, TYPE, { payload: png }, 'TRITON_UNAVAILABLE');
      errors.push(JSON.stringify(err), err.message);
    }
    const exported = JSON.stringify(
      (helper as unknown as { _redNodes: { getFlows(): unknown } })._redNodes.getFlows(),
    );
    const logSpy = (helper as unknown as { log(): { args: unknown[][] } }).log();
    const logged = logSpy.args.map((a) =>
      JSON.stringify(a, (_k, v) =>
        v instanceof Error ? { message: v.message, stack: v.stack } : v,
      ),
    );
    assert.ok(logged.length >= 2, 'the failures were logged');
    assert.ok(exported.includes('"triton-server"'));
    for (const [where, text] of [
      ['the flow export', exported],
      ['the log', logged.join('\n')],
      ['the error messages', errors.join('\n')],
    ] as const) {
      assert.ok(!text.includes(token), `the token is not in ${where}`);
      assert.ok(!text.includes(Buffer.from(token).toString('base64')), `nor base64 in ${where}`);
    }
  });

  it('a string payload that is a path is not read: INVALID_IMAGE saying so', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow(TYPE, { mode: 'grpc', grpcPort: serve.grpcPort }, { id: ID, model: 'yolov8n' }),
    );
    await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
    const real = fixtureImage('chelsea.png');
    for (const p of [real, `file://${real}`, 'images/cam1.jpg', 'C:\\frames\\cam1.jpg']) {
      const err = await sendExpectingError(ID, TYPE, { payload: p }, 'INVALID_IMAGE');
      assert.match(err.message, /file path|never read from disk|not base64/i, p);
    }
    // An SVG that points at the same file renders without it: libvips is not asked to load
    // files either (the pixels stay black where the image would be).
    const svg = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ` +
        `width="32" height="32"><image xlink:href="file://${real}" width="32" height="32"/></svg>`,
    );
    const decoded = await decodeImage(svg);
    assert.ok(
      decoded.data.every((v) => v === 0),
      'the referenced file was not loaded',
    );
  });
});
