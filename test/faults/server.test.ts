/**
 * Our serve command coming and going under a deployed detect node: down at deploy,
 * killed mid-flow, restarted 20 times during a steady stream. The node must wait in
 * yellow, fail messages with codes while the server is away, recover by itself, and
 * account for every message exactly once.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { NodeMessage } from '../../src/nodes/types';
import { ProcessWatch, sendExpectingOutput, type Detected } from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  SMALL_MODELS,
  freePort,
  helper,
  isStatus,
  nextMessage,
  statusOf,
  taskFlow,
  within,
  type Mode,
} from '../support/flows';
import { startServe } from '../support/serve';

const TYPE = 'triton-detect';
const ID = 'detect';
/** What a message may fail with while the server is away (or its queue is full). */
const SERVER_GONE = ['TRITON_UNAVAILABLE', 'TIMEOUT', 'MODEL_NOT_READY', 'QUEUE_FULL'];

describe('fault suite: the server goes away and comes back', function () {
  this.timeout(180000);
  const watch = new ProcessWatch();
  let repo: string;
  let png: Buffer;

  before(() => {
    watch.install();
    repo = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name === 'yolov8n'));
    png = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(() => {
    watch.uninstall();
    fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    watch.assertClean();
  });

  async function deploy(mode: Mode, httpPort: number, grpcPort: number): Promise<void> {
    await helper.load(
      ALL_NODES,
      taskFlow(TYPE, { mode, httpPort, grpcPort }, { id: ID, model: 'yolov8n' }, { timeout: 3 }),
    );
  }

  for (const mode of ['grpc', 'http'] as const) {
    it(`${mode}: down at deploy → yellow 'connecting', messages fail with a code, then it recovers by itself`, async () => {
      // The one case that needs ports before its server exists: it comes up later on them.
      const httpPort = await freePort();
      const grpcPort = await freePort();
      await deploy(mode, httpPort, grpcPort);
      await statusOf(ID, (s) => s.shape === 'ring');
      // A message while it waits is not lost: it fails with a code saying the server is away.
      const caught = nextMessage('caught');
      helper.getNode(ID).receive({ payload: png });
      assert.equal(((await caught).error as { code: string }).code, 'TRITON_UNAVAILABLE');
      const serve = await startServe({ repository: repo, httpPort, grpcPort });
      try {
        await statusOf(ID, isStatus('green', `${TYPE}.status.ready`), 30000);
        const out = await sendExpectingOutput(ID, { payload: png });
        assert.equal((out.payload as Detected).detections[0]?.label, 'cat');
      } finally {
        await serve.stop();
      }
    });

    it(`${mode}: killed mid-flow → every message answered or failed with a code, then recovery without redeploy`, async () => {
      let serve = await startServe({ repository: repo });
      const { httpPort, grpcPort } = serve;
      try {
        await deploy(mode, httpPort, grpcPort);
        await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
        const fates = collectFates();
        for (let n = 0; n < 4; n++) helper.getNode(ID).receive({ payload: png, n });
        await serve.kill();
        const settled = await within(20000, 'all 4 messages to end', fates.until(4));
        assert.deepEqual(
          [...settled.keys()].sort((a, b) => a - b),
          [0, 1, 2, 3],
        );
        const failed = [...settled.values()].filter((f) => f !== 'answered');
        assert.ok(failed.length > 0, 'the kill failed at least the queued messages');
        for (const code of failed) assert.ok(SERVER_GONE.includes(code), code);
        // The node shows that the server is gone: a red ring (the code, or 'cannot reach').
        await statusOf(ID, (s) => s.fill === 'red' && s.shape === 'ring');
        fates.stop();
        serve = await startServe({ repository: repo, httpPort, grpcPort });
        await statusOf(ID, (s) => s.fill === 'green', 30000);
        const out = await sendExpectingOutput(ID, { payload: png });
        assert.equal((out.payload as Detected).detections[0]?.label, 'cat');
      } finally {
        await serve.stop();
      }
    });
  }

  it('grpc: restarted 20 times during a steady stream → every message ends once, no stuck node', async () => {
    // Listens on ports it picks (0); each restart must come back on the same ones.
    let serve = await startServe({ repository: repo });
    const { httpPort, grpcPort } = serve;
    let fates: ReturnType<typeof collectFates> | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await deploy('grpc', httpPort, grpcPort);
      await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
      fates = collectFates();
      let sent = 0;
      // 20 images a second, about what one 320 px detector answers on this machine.
      timer = setInterval(() => helper.getNode(ID).receive({ payload: png, n: sent++ }), 50);
      for (let restart = 0; restart < 20; restart++) {
        // Half crash, half clean shutdown: clients see both.
        await (restart % 2 === 0 ? serve.kill() : serve.stop());
        serve = await startServe({ repository: repo, httpPort, grpcPort });
        // The node must get back to answering before the next restart.
        await within(30000, `an answer after restart ${restart + 1}`, fates.nextAnswer());
      }
      clearInterval(timer);
      timer = undefined;
      const settled = await within(30000, `all ${sent} messages to end`, fates.until(sent));
      assert.equal(settled.size, sent, 'each message ended exactly once');
      assert.deepEqual(fates.duplicates, [], 'no message ended twice');
      const codes = [...settled.values()].filter((f) => f !== 'answered');
      for (const code of codes) assert.ok(SERVER_GONE.includes(code), code);
      const answered = [...settled.values()].filter((f) => f === 'answered').length;
      assert.ok(answered >= 20, `${answered} of ${sent} answered`);
      const counters = helper.getNode(ID).controller!.counters;
      assert.equal(counters.received, sent);
      assert.equal(counters.answered + counters.dropped, sent);
      const out = await sendExpectingOutput(ID, { payload: png });
      assert.equal((out.payload as Detected).detections[0]?.label, 'cat');
      await statusOf(ID, (s) => s.fill === 'green');
    } finally {
      if (timer) clearInterval(timer);
      fates?.stop();
      await serve.stop();
    }
  });
});

/**
 * (Call after the flow is deployed.) Watches 'out' and 'caught' and records, per msg.n, how each message ended ('answered'
 * or the error code), and any message that ended twice.
 */
function collectFates() {
  const fates = new Map<number, string>();
  const duplicates: number[] = [];
  const waiters: (() => void)[] = [];
  const record = (n: unknown, fate: string): void => {
    if (typeof n !== 'number') return;
    if (fates.has(n)) duplicates.push(n);
    else fates.set(n, fate);
    for (const w of waiters.splice(0)) w();
  };
  let answers = 0;
  const onOut = (m: NodeMessage): void => {
    answers++;
    record(m.n, 'answered');
  };
  const onCaught = (m: NodeMessage): void => record(m.n, (m.error as { code: string }).code);
  const out = helper.getNode('out');
  const caught = helper.getNode('caught');
  out.on('input', onOut);
  caught.on('input', onCaught);
  let attached = true;
  const changed = (): Promise<void> => new Promise((resolve) => waiters.push(resolve));
  return {
    duplicates,
    async until(count: number): Promise<Map<number, string>> {
      while (fates.size < count) await changed();
      return fates;
    },
    async nextAnswer(): Promise<void> {
      const seen = answers;
      while (answers === seen) await changed();
    },
    stop(): void {
      if (!attached) return;
      attached = false;
      out.off('input', onOut);
      caught.off('input', onCaught);
    },
  };
}
