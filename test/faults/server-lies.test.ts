/**
 * Sizes and text a server declares are bounded (issue 14, item 4). A server declaring
 * an 8192×8192 input made every message build an 805 MB tensor; one answering a 5 MB
 * error body made a 5 MB msg.error.message. Against a lying KServe server, the node
 * refuses the model with UNSUPPORTED_MODEL and a sentence, stays responsive with its
 * memory flat, and error text from a server arrives cut to a readable length.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { HttpClient } from '../../src/client/http';
import { MAX_ERROR_MESSAGE_CHARS, TritonError } from '../../src/protocol/errors';
import { checkInputSize, DEFAULT_MAX_INPUT_SIDE } from '../../src/vision/limits';
import { ProcessWatch, sendExpectingError, startLyingServer } from '../support/faults';
import { fixtureImage } from '../support/fixtures';
import { ALL_NODES, helper, taskFlow } from '../support/flows';

const TYPE = 'triton-detect';
const ID = 'detect';
/** Memory growth allowed per refused message (the bug: 805 MB per message). */
const MEMORY_BOUND_BYTES = 200 * 1024 * 1024;

describe('fault suite: a server that declares too much', function () {
  this.timeout(120000);
  const watch = new ProcessWatch();
  let png: Buffer;

  before(() => {
    watch.install();
    png = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(() => watch.uninstall());
  afterEach(async () => {
    await helper.unload();
    watch.assertClean();
  });

  it('an 8192x8192 input → UNSUPPORTED_MODEL with a sentence, memory flat, every message answered', async () => {
    const liar = await startLyingServer({ name: 'huge', side: 8192 });
    try {
      await helper.load(
        ALL_NODES,
        taskFlow(TYPE, { mode: 'http', httpPort: liar.port }, { id: ID, model: 'huge' }),
      );
      const rss0 = process.memoryUsage().rss;
      let rssMax = rss0;
      const sampler = setInterval(() => {
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
      }, 20);
      try {
        for (let i = 0; i < 3; i++) {
          const err = await sendExpectingError(ID, TYPE, { payload: png }, 'UNSUPPORTED_MODEL');
          assert.match(err.message, /'huge' takes 8192x8192 images, over the limit of 4096/);
          assert.match(err.message, /805 MB tensor.*smaller input size/);
        }
      } finally {
        clearInterval(sampler);
      }
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
      assert.ok(
        rssMax - rss0 < MEMORY_BOUND_BYTES,
        `memory grew ${((rssMax - rss0) / 1048576).toFixed(0)} MiB`,
      );
    } finally {
      await liar.close();
    }
  });

  it('the limit is settable, and a model at it is taken', () => {
    assert.equal(DEFAULT_MAX_INPUT_SIDE, 4096);
    assert.doesNotThrow(() => checkInputSize(4096, 4096, 'm'));
    assert.throws(
      () => checkInputSize(4097, 640, 'm'),
      (e: TritonError) => e.code === 'UNSUPPORTED_MODEL' && /4097x640/.test(e.message),
    );
    assert.doesNotThrow(() => checkInputSize(8192, 8192, 'm', { maxInputSide: 8192 }));
    assert.throws(
      () => checkInputSize(640, 640, 'm', { maxInputSide: 0 }),
      (e: TritonError) => e.code === 'INVALID_OPTION',
    );
  });

  it('a 5 MB error body → an error of readable length, with a code; the node carries on', async () => {
    const huge = `CUDA says: ${'x'.repeat(5 * 1024 * 1024)}`;
    const liar = await startLyingServer({
      name: 'talker',
      side: 320,
      infer: (res) => {
        const body = Buffer.from(JSON.stringify({ error: huge }));
        res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': body.length });
        res.end(body);
      },
    });
    const client = new HttpClient({ port: liar.port });
    try {
      // The client alone.
      await assert.rejects(
        client.infer({
          model: 'talker',
          inputs: [
            {
              name: 'images',
              datatype: 'FP32',
              shape: [1, 3, 320, 320],
              data: new Float32Array(3 * 320 * 320),
            },
          ],
        }),
        (e: TritonError) => {
          assert.equal(e.code, 'INTERNAL');
          assert.match(e.message, /CUDA says: xxx/);
          assert.match(e.message, /more characters left out/);
          assert.ok(e.message.length < MAX_ERROR_MESSAGE_CHARS + 200, `${e.message.length}`);
          return true;
        },
      );
      // Through a node, twice: what reaches a Catch node is just as short.
      await helper.load(
        ALL_NODES,
        taskFlow(TYPE, { mode: 'http', httpPort: liar.port }, { id: ID, model: 'talker' }),
      );
      for (let i = 0; i < 2; i++) {
        const err = await sendExpectingError(ID, TYPE, { payload: png }, 'INTERNAL');
        assert.ok(err.message.length < MAX_ERROR_MESSAGE_CHARS + 400, `${err.message.length}`);
        assert.match(err.message, /left out/);
      }
    } finally {
      await client.close();
      await liar.close();
    }
  });
});
