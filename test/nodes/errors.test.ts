/**
 * Every failure ends the message with done(err): a catch node receives it with a
 * stable code, the node shows a red ring, and the next good message still works.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import type { TaskResult } from '../../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  SMALL_MODELS,
  helper,
  isStatus,
  messages,
  nextMessage,
  silentServer,
  statusOf,
  taskFlow,
  type ServerTarget,
} from '../support/flows';
import type { NodeMessage } from '../../src/nodes/types';
import { startServe, type ServeHandle } from '../support/serve';

/** CRC-32 (IEEE 802.3, as PNG chunks use it), written out for the header we forge. */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const t = Buffer.from(type, 'ascii');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([t, data])));
  return Buffer.concat([len, t, data, crc]);
}

/**
 * A well-formed PNG that declares 30000×30000 RGB (900 MP) in its IHDR but carries
 * only 16 bytes of pixel data: a decoder that trusted the header would allocate 2.7 GB.
 */
function hugePngHeader(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(30000, 0);
  ihdr.writeUInt32BE(30000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(16))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('task node error paths', function () {
  this.timeout(60000);
  let serve: ServeHandle;
  let repo: string;
  let good: Buffer;

  before(async () => {
    repo = buildFixtureRepository(SMALL_MODELS);
    serve = await startServe({ repository: repo });
    good = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(async () => {
    await serve?.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(() => helper.unload());

  const grpc = (): ServerTarget => ({ mode: 'grpc', grpcPort: serve.grpcPort });

  /** Sends `msg`, expects the catch node to get `code` and a red ring; then a good image works. */
  async function expectFailure(id: string, type: string, msg: NodeMessage, code: string) {
    const caught = nextMessage('caught');
    helper.getNode(id).receive(msg);
    const err = (await caught).error as { code: string; message: string; source: { id: string } };
    assert.equal(err.code, code, err.message);
    assert.equal(err.source.id, id);
    assert.ok(err.message.length > 20, 'a sentence, not just a code');
    await statusOf(id, isStatus('red', `${type}.errors.${code}`));
    const out = nextMessage('out');
    helper.getNode(id).receive({ payload: good });
    const answer = await out;
    assert.ok(Array.isArray((answer.payload as TaskResult).detections));
    return err;
  }

  describe('bad input on a working detect node', () => {
    beforeEach(async () => {
      await helper.load(
        ALL_NODES,
        taskFlow('triton-detect', grpc(), { id: 'detect', model: 'yolov8n' }),
      );
      await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
    });

    it('not an image → INVALID_IMAGE', async () => {
      await expectFailure(
        'detect',
        'triton-detect',
        { payload: Buffer.from('definitely not an image') },
        'INVALID_IMAGE',
      );
    });

    it('a truncated JPEG → INVALID_IMAGE', async () => {
      const jpeg = await sharp(good).jpeg().toBuffer();
      const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
      await expectFailure('detect', 'triton-detect', { payload: truncated }, 'INVALID_IMAGE');
    });

    it('a 30000×30000 image header → IMAGE_TOO_LARGE before any decoding', async () => {
      await expectFailure(
        'detect',
        'triton-detect',
        { payload: hugePngHeader() },
        'IMAGE_TOO_LARGE',
      );
    });

    it('no image in the configured property → INVALID_INPUT', async () => {
      await expectFailure('detect', 'triton-detect', { topic: 'no payload' }, 'INVALID_INPUT');
    });

    it('a bad msg.triton value → INVALID_OPTION naming it', async () => {
      const err = await expectFailure(
        'detect',
        'triton-detect',
        { payload: good, triton: { confidence: 'high' } },
        'INVALID_OPTION',
      );
      assert.match(err.message, /confidence/);
    });
  });

  it('model not found: red status at deploy, NOT_FOUND on input', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-detect', grpc(), { id: 'detect', model: 'no_such_model' }),
    );
    await statusOf('detect', isStatus('red', 'triton-detect.errors.NOT_FOUND'));
    const caught = nextMessage('caught');
    helper.getNode('detect').receive({ payload: good });
    assert.equal(((await caught).error as { code: string }).code, 'NOT_FOUND');
    // The same deployed node still serves a message that names a model it can use.
    const out = nextMessage('out');
    helper.getNode('detect').receive({ payload: good, triton: { model: 'yolov8n' } });
    assert.equal(((await out).payload as TaskResult).model.name, 'yolov8n');
  });

  it('setup errors reach the debug sidebar as a line of text, as core nodes write them', async () => {
    const flow = taskFlow(
      'triton-detect',
      grpc(),
      { id: 'detect', model: 'mobilenetv2' },
      {
        grpcPort: 99999,
      },
    );
    await helper.load(ALL_NODES, flow);
    await statusOf('detect', isStatus('red', 'triton-detect.errors.INVALID_CONFIG'));
    // Both errors are logged during the load (no message: no Catch): read the log spy.
    const logSpy = (helper as unknown as { log(): { args: unknown[][] } }).log();
    const logged = logSpy.args
      .map((a) => a[0] as { level?: number; id?: string; msg?: unknown })
      .filter((e) => e && e.level === 20 && (e.id === 'server' || e.id === 'detect'));
    assert.ok(logged.length >= 2, JSON.stringify(logged));
    for (const e of logged) {
      assert.equal(typeof e.msg, 'string', `${e.id}: ${JSON.stringify(e.msg)}`);
      assert.match(e.msg as string, /grpcPort/);
    }
  });

  it('wrong-task model: red status with the sentence at deploy, UNSUPPORTED_MODEL on input', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-detect', grpc(), { id: 'detect', model: 'mobilenetv2' }),
    );
    await statusOf('detect', isStatus('red', 'triton-detect.errors.UNSUPPORTED_MODEL'));
    const caught = nextMessage('caught');
    helper.getNode('detect').receive({ payload: good });
    const err = (await caught).error as { code: string; message: string };
    assert.equal(err.code, 'UNSUPPORTED_MODEL');
    assert.match(err.message, /classify model/);
  });

  it('a server that never answers → TIMEOUT within the configured timeout', async () => {
    const hung = await silentServer();
    try {
      await helper.load(
        ALL_NODES,
        taskFlow(
          'triton-detect',
          { mode: 'http', httpPort: hung.port },
          { id: 'detect', model: 'yolov8n' },
          { timeout: 0.3 },
        ),
      );
      const caught = nextMessage('caught', 10000);
      // Listen before sending: once the timeout shows red, the connection monitor may
      // already have moved the node on to red 'cannot reach host:port'.
      const red = statusOf('detect', isStatus('red', 'triton-detect.errors.TIMEOUT'));
      const t0 = Date.now();
      helper.getNode('detect').receive({ payload: good });
      assert.equal(((await caught).error as { code: string }).code, 'TIMEOUT');
      assert.ok(Date.now() - t0 < 5000, 'gave up near the 0.3 s timeout');
      await red;
    } finally {
      await helper.unload();
      await hung.close();
    }
  });

  // concurrency 1, queue limit 2, six messages at once: 1 runs, 2 and 3 wait, 4..6 find it full.
  const POLICIES = [
    { dropPolicy: 'oldest', answered: [1, 5, 6], dropped: [2, 3, 4] },
    { dropPolicy: 'newest', answered: [1, 2, 6], dropped: [3, 4, 5] },
    { dropPolicy: 'error', answered: [1, 2, 3], dropped: [4, 5, 6] },
  ];
  for (const p of POLICIES) {
    it(`queue full, policy '${p.dropPolicy}': every message answered or caught as QUEUE_FULL`, async () => {
      await helper.load(
        ALL_NODES,
        taskFlow('triton-detect', grpc(), {
          id: 'detect',
          model: 'yolov8n',
          concurrency: 1,
          queueLimit: 2,
          dropPolicy: p.dropPolicy,
        }),
      );
      await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
      const outs = messages('out', 3);
      const caught = messages('caught', 3);
      const queued = statusOf('detect', isStatus('blue', 'triton-detect.status.runningQueued'));
      for (let n = 1; n <= 6; n++) helper.getNode('detect').receive({ payload: good, n });
      await queued;
      const answered = (await outs).map((m) => m.n);
      const dropped = await caught;
      assert.deepEqual(answered, p.answered);
      assert.deepEqual(
        dropped.map((m) => m.n),
        p.dropped,
      );
      assert.ok(dropped.every((m) => (m.error as { code: string }).code === 'QUEUE_FULL'));
      assert.deepEqual(helper.getNode('detect').controller!.counters, {
        received: 6,
        answered: 3,
        dropped: 3,
      });
    });
  }
});
