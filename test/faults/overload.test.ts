/**
 * Overload: a detect node fed ten times more images per second than the server answers,
 * for 60 s with each drop policy. The process's memory must stay bounded, every message
 * must be answered or reported dropped (the counts add up exactly), and the status must
 * show the queue depth while it is full.
 *
 * The window is the 60 s per policy (3 min in all), kept rather than shortened:
 * a leak of the dropped messages (20 000 or so per policy) shows within seconds, but a
 * slow creep in the queue or the client's buffers needs the full minute to pass a bound.
 *
 * Memory alone cannot see a leak of the dropped messages (they all share one image
 * buffer, so 20 000 retained messages weigh little), so each message sent is also
 * watched with a FinalizationRegistry: once all have ended and the heap is collected,
 * no more than the queue's worth may still be reachable.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { NodeMessage } from '../../src/nodes/types';
import { ProcessWatch, forgetHarnessCalls, sendExpectingOutput } from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { ALL_NODES, SMALL_MODELS, helper, isStatus, statusOf, taskFlow } from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

const TYPE = 'triton-detect';
const ID = 'detect';
const WINDOW_MS = 60000;
const QUEUE_LIMIT = 10;
/**
 * RSS growth allowed over a window. The queue holds at most 11 messages that all share one
 * 240 kB image; what an answered message leaves (one 320×320 FP32 tensor is 1.2 MB) is
 * garbage the collector may keep a while. 150 MB is far under what 20 000 retained
 * messages with their results would take, and above V8's young-generation slack.
 */
const RSS_SLACK_BYTES = 150 * 1024 * 1024;
/**
 * Messages that may stay reachable once every message has ended: the queue's worth and
 * a few the runtime keeps for a while (the last one handled, a pending status). A leak of
 * the dropped messages keeps thousands.
 */
const RETAINED_LIMIT = QUEUE_LIMIT + 10;

// gc exposed at run time, so mocha needs no extra flags (as the lifecycle test does).
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Collects until at most `limit` watched objects are alive (or ten rounds pass); returns how many are. */
async function collectedDownTo(alive: () => number, limit: number): Promise<number> {
  for (let round = 0; round < 10 && alive() > limit; round++) {
    gc();
    // Finalization callbacks run as tasks after the collection.
    await new Promise((r) => setTimeout(r, 50));
  }
  return alive();
}

describe('fault suite: overload with each drop policy', function () {
  this.timeout(WINDOW_MS * 2 + 60000);
  const watch = new ProcessWatch();
  let serve: ServeHandle;
  let repo: string;
  let png: Buffer;

  before(async () => {
    watch.install();
    repo = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name === 'yolov8n'));
    serve = await startServe({ repository: repo, extraArgs: ['--intra-op-threads', '1'] });
    png = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(async () => {
    await serve?.stop();
    watch.uninstall();
    fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    watch.assertClean();
  });

  for (const dropPolicy of ['oldest', 'newest', 'error'] as const) {
    it(`policy '${dropPolicy}': RSS bounded, answered + dropped = sent, queue depth shown`, async () => {
      await helper.load(
        ALL_NODES,
        taskFlow(
          TYPE,
          { mode: 'grpc', grpcPort: serve.grpcPort },
          { id: ID, model: 'yolov8n', concurrency: 1, queueLimit: QUEUE_LIMIT, dropPolicy },
        ),
      );
      await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
      // The server's pace, measured: ten images one after the other.
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) await sendExpectingOutput(ID, { payload: png });
      const perImageMs = (performance.now() - t0) / 10;
      const node = helper.getNode(ID);
      const controller = node.controller!;
      const start = { ...controller.counters };

      let answered = 0;
      let dropped = 0;
      const otherErrors: string[] = [];
      const onOut = (): void => void answered++;
      const onCaught = (m: NodeMessage): void => {
        const code = (m.error as { code: string }).code;
        if (code === 'QUEUE_FULL') dropped++;
        else otherErrors.push(code);
      };
      helper.getNode('out').on('input', onOut);
      helper.getNode('caught').on('input', onCaught);
      let queuedStatus = 0;
      const onStatus = (call: { args: [{ text?: string }] }): void => {
        if (call.args[0].text === `${TYPE}.status.runningQueued`) queuedStatus++;
      };
      node.on('call:status', onStatus);

      // Ten times the server's pace, sent in batches every 10 ms (timers are coarse).
      const perTick = (10 * 10) / perImageMs;
      let owed = 0;
      let sent = 0;
      let maxWaiting = 0;
      const rss0 = process.memoryUsage().rss;
      let rssMax = rss0;
      let alive = 0;
      const watched = new FinalizationRegistry<number>(() => void alive--);
      const feeder = setInterval(() => {
        owed += perTick;
        for (; owed >= 1; owed--) {
          const msg = { payload: png, n: sent++ };
          alive++;
          watched.register(msg, msg.n);
          node.receive(msg);
        }
      }, 10);
      const sampler = setInterval(() => {
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
      }, 250);
      const depth = setInterval(() => {
        const waiting = (controller as unknown as { queue: { state: { waiting: number } } }).queue
          .state.waiting;
        maxWaiting = Math.max(maxWaiting, waiting);
      }, 50);
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      clearInterval(feeder);
      // Everything sent must end: the queue drains at the server's pace.
      const deadline = Date.now() + 30000;
      while (answered + dropped + otherErrors.length < sent && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      clearInterval(sampler);
      clearInterval(depth);
      helper.getNode('out').off('input', onOut);
      helper.getNode('caught').off('input', onCaught);
      node.off('call:status', onStatus);

      const served = (WINDOW_MS / perImageMs) * 10;
      assert.ok(
        sent > served * 0.5,
        `fed ${sent} images, about 10× the ${Math.round(served / 10)} served`,
      );
      assert.deepEqual(otherErrors, [], 'only QUEUE_FULL while the server is healthy');
      assert.equal(answered + dropped, sent, 'every message answered or reported dropped');
      assert.ok(dropped > sent / 2, `${dropped} of ${sent} dropped: the node was overloaded`);
      const c = controller.counters;
      assert.equal(c.received - start.received, sent);
      assert.equal(c.answered - start.answered, answered);
      assert.equal(c.dropped - start.dropped, dropped);
      assert.ok(maxWaiting <= QUEUE_LIMIT, `${maxWaiting} waiting, limit ${QUEUE_LIMIT}`);
      assert.ok(queuedStatus > 0, 'the status showed the queue depth');
      assert.ok(
        rssMax - rss0 < RSS_SLACK_BYTES,
        `RSS grew ${((rssMax - rss0) / 1048576).toFixed(0)} MiB while overloaded`,
      );
      // The harness's spies keep every message sent or failed; only what the node keeps counts.
      forgetHarnessCalls();
      const retained = await collectedDownTo(() => alive, RETAINED_LIMIT);
      assert.ok(
        retained <= RETAINED_LIMIT,
        `${retained} of ${sent} messages still reachable after all of them ended`,
      );
    });
  }
});
