/**
 * Pipelining in a task node: while a message's request is at the server, the next
 * messages' decode and pre-processing run (at most Concurrency of them), and everything
 * else stays as it was: the same results in the same order, each bad image failing in its
 * own turn, the queue's drop policy and counts. A real triton-vision-serve answers behind
 * a proxy that holds inference replies until the test lets them go, so "prepared before
 * the first reply" is a fact the test arranges, not a race it times.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import type { TaskController } from '../../src/nodes/task-controller';
import type { NodeMessage } from '../../src/nodes/types';
import type { TaskResult } from '../../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { ALL_NODES, SMALL_MODELS, helper, isStatus, statusOf, taskFlow } from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

/**
 * A proxy that passes everything, but holds inference replies while `holding`, and answers
 * 503 (a KServe JSON error, as a busy gateway does) to the next `refuse.left` GETs of one
 * model's metadata or config (/v2/models/<model>, /v2/models/<model>/config...).
 */
interface GateProxy {
  port: number;
  holding: boolean;
  refuse: { model: string; left: number } | undefined;
  /** 503s given to those GETs so far. */
  refused: number;
  /** Inference requests that reached the proxy. */
  inferRequests: number;
  /** Replies held back since the last hold(). */
  held: number;
  /** Starts holding inference replies, counting held ones from zero. */
  hold(): void;
  /** Stops holding and sends every held reply, in order. */
  open(): void;
  close(): Promise<void>;
}

async function startGateProxy(targetPort: number): Promise<GateProxy> {
  const sockets = new Set<net.Socket>();
  let waiting: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const isInfer = req.method === 'POST' && /\/infer$/.test(req.url ?? '');
    if (isInfer) gate.inferRequests++;
    const refuse = gate.refuse;
    const modelPath = refuse && `/v2/models/${refuse.model}`;
    if (
      refuse &&
      refuse.left > 0 &&
      req.method === 'GET' &&
      (req.url === modelPath || req.url?.startsWith(`${modelPath}/`))
    ) {
      refuse.left--;
      gate.refused++;
      req.resume();
      res
        .writeHead(503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'server is busy' }));
      return;
    }
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const answer = (): void => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(Buffer.concat(chunks));
          };
          if (isInfer && gate.holding) {
            gate.held++;
            waiting.push(answer);
          } else answer();
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const gate: GateProxy = {
    port: (server.address() as net.AddressInfo).port,
    holding: false,
    refuse: undefined,
    refused: 0,
    inferRequests: 0,
    held: 0,
    hold() {
      gate.holding = true;
      gate.held = 0;
    },
    open() {
      gate.holding = false;
      const list = waiting;
      waiting = [];
      for (const answer of list) answer();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return gate;
}

/** Waits (polling once per macrotask turn) until `ok()` holds; mocha's timeout ends a wait that never does. */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 5));
}

/** How the queue's counters moved since `before`. */
function since(
  before: TaskController['counters'],
  now: TaskController['counters'],
): TaskController['counters'] {
  return {
    received: now.received - before.received,
    answered: now.answered - before.answered,
    dropped: now.dropped - before.dropped,
  };
}

/** A payload without its timings (which differ run to run), as plain JSON. */
function stable(p: unknown): unknown {
  const { timings: _t, ...rest } = p as TaskResult;
  return JSON.parse(JSON.stringify(rest));
}

/**
 * Adds an 'input' callback to a helper node; the function returned takes it off again
 * (Node-RED's removeListener, a microtask later: see listenInput in test/support/flows.ts).
 */
function listenInput(id: string, fn: (msg: NodeMessage) => void): () => void {
  const node = helper.getNode(id);
  let active = true;
  const on = (msg: NodeMessage): void => {
    if (active) fn(msg);
  };
  node.on('input', on);
  return () => {
    active = false;
    queueMicrotask(() => node.removeListener('input', on));
  };
}

/** Every message that leaves the node, in the order it leaves: results and Catch alike. */
function recorder(): {
  events: { tag: string; kind: 'out' | 'caught'; msg: NodeMessage }[];
  stop(): void;
  /** Waits for `count` endings, stops, and lists them as `kind tag` in order. */
  ended(count: number): Promise<string[]>;
} {
  const events: { tag: string; kind: 'out' | 'caught'; msg: NodeMessage }[] = [];
  const offOut = listenInput('out', (msg) =>
    events.push({ tag: String(msg.tag), kind: 'out', msg }),
  );
  const offCaught = listenInput('caught', (msg) =>
    events.push({ tag: String(msg.tag), kind: 'caught', msg }),
  );
  return {
    events,
    stop() {
      offOut();
      offCaught();
    },
    async ended(count) {
      await until(() => events.length === count);
      this.stop();
      return events.map((e) => `${e.kind} ${e.tag}`);
    },
  };
}

describe('task nodes: the next messages are prepared while a request is at the server', function () {
  this.timeout(120000);
  let repo: string;
  let serve: ServeHandle;
  let gate: GateProxy;
  const bus = fs.readFileSync(fixtureImage('bus.jpg'));
  const chelsea = fs.readFileSync(fixtureImage('chelsea.png'));
  const coffee = fs.readFileSync(fixtureImage('coffee.png'));
  const notImage = Buffer.from('this is not an image at all, just some text');
  const truncated = bus.subarray(0, 2000);
  const singles = new Map<Buffer, unknown>();
  const TWIN = 'yolov8n_twin';

  before(async () => {
    // The same model twice, under another name too: a message that names the second one
    // (msg.triton.model) needs its profile read before its first request.
    const yolo = SMALL_MODELS.find((m) => m.name === 'yolov8n')!;
    const twin = {
      ...yolo,
      name: TWIN,
      config: yolo.config.replace('name: "yolov8n"', `name: "${TWIN}"`),
    };
    assert.notEqual(twin.config, yolo.config);
    repo = buildFixtureRepository([yolo, twin]);
    serve = await startServe({ repository: repo, extraArgs: ['--intra-op-threads', '1'] });
    gate = await startGateProxy(serve.httpPort);
  });
  after(async () => {
    await gate?.close();
    await serve?.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(async () => {
    gate.refuse = undefined;
    gate.open();
    await helper.unload();
  });

  async function deploy(node: Record<string, unknown> = {}): Promise<TaskController> {
    const flow = taskFlow(
      'triton-detect',
      { mode: 'http', httpPort: gate.port },
      { id: 'detect', model: 'yolov8n', concurrency: 1, queueLimit: 10, ...node },
    );
    await helper.load(ALL_NODES, flow);
    await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
    return (helper.getNode('detect') as unknown as { controller: TaskController }).controller;
  }

  /** What the node answers for an image sent alone (nothing else queued: nothing prepared ahead). */
  async function alone(image: Buffer): Promise<unknown> {
    const cached = singles.get(image);
    if (cached) return cached;
    const rec = recorder();
    helper.getNode('detect').receive({ payload: image, tag: 'alone' });
    await until(() => rec.events.length === 1);
    rec.stop();
    assert.equal(rec.events[0]!.kind, 'out');
    const p = stable(rec.events[0]!.msg.payload);
    singles.set(image, p);
    return p;
  }

  it('the second message is decoded and letterboxed before the first reply arrives', async () => {
    const controller = await deploy();
    const expected = [await alone(bus), await alone(chelsea)];
    assert.equal(controller.preparedAhead, 0, 'a message sent alone is prepared in its turn');
    const before = { ...controller.counters };
    const rec = recorder();
    gate.hold();
    const sentBefore = gate.inferRequests;
    helper.getNode('detect').receive({ payload: bus, tag: 'a' });
    helper.getNode('detect').receive({ payload: chelsea, tag: 'b' });
    // The first request reaches the server and its reply is held there...
    await until(() => gate.held === 1);
    // ...and meanwhile the second message's pre-processing completes. Without pipelining
    // it would wait for the first reply, which never comes while the gate is shut.
    await until(() => controller.preparedAhead === 1);
    assert.equal(gate.inferRequests - sentBefore, 1, 'Concurrency 1: one request at a time');
    assert.equal(rec.events.length, 0);
    gate.open();
    assert.deepEqual(await rec.ended(2), ['out a', 'out b']);
    assert.deepEqual(
      rec.events.map((e) => stable(e.msg.payload)),
      expected,
    );
    assert.deepEqual(since(before, controller.counters), {
      received: 2,
      answered: 2,
      dropped: 0,
    });
  });

  it('retries made while a message is prepared ahead count on that message and in the node’s total', async () => {
    const controller = await deploy();
    const expected = (await alone(chelsea)) as TaskResult;
    const retriesBefore = controller.retries;
    const rec = recorder();
    gate.hold();
    // The gateway is busy twice when the second message's model profile is first read.
    const busy = 2;
    gate.refuse = { model: TWIN, left: busy };
    const refusedBefore = gate.refused;
    // An upstream node's msg.retries is not kept on either.
    helper.getNode('detect').receive({ payload: bus, tag: 'a', retries: 7 });
    helper
      .getNode('detect')
      .receive({ payload: chelsea, tag: 'b', retries: 7, triton: { model: TWIN } });
    // The first reply is held, so the second message's profile (and its two 503s) is read
    // while it is prepared ahead, outside its turn.
    await until(() => gate.held === 1 && controller.preparedAhead === 1);
    assert.equal(gate.refused - refusedBefore, busy, 'the 503s were given during the look-ahead');
    assert.equal(rec.events.length, 0);
    gate.open();
    assert.deepEqual(await rec.ended(2), ['out a', 'out b']);
    const [a, b] = rec.events.map((e) => e.msg);
    assert.equal(a!.retries, undefined, 'the first message needed no retry');
    assert.equal(b!.retries, busy, 'one retry per 503, made ahead of its turn');
    assert.equal(controller.retries - retriesBefore, busy, 'the node’s total has them too');
    // The twin is the same model file and config: the same answer, under its own name.
    assert.deepEqual(stable(b!.payload), {
      ...expected,
      model: { ...expected.model, name: TWIN },
    });
  });

  it('good and bad images mixed: the same results in the same order, each bad one failing in its turn', async () => {
    const controller = await deploy();
    const images = [bus, notImage, chelsea, truncated, coffee, notImage, bus];
    const goods = [bus, chelsea, coffee];
    const expected = new Map<Buffer, unknown>();
    for (const image of goods) expected.set(image, await alone(image));
    const before = { ...controller.counters };
    const rec = recorder();
    // The first reply held: the bad image behind it is prepared (and fails) ahead of its turn.
    gate.hold();
    for (const [i, image] of images.entries()) {
      helper.getNode('detect').receive({ payload: image, tag: `m${i}` });
    }
    await until(() => gate.held === 1 && controller.preparedAhead === 1);
    assert.equal(rec.events.length, 0, 'the bad image prepared ahead waits for its turn');
    gate.open();
    await until(() => rec.events.length === images.length);
    rec.stop();
    // Concurrency 1: every message ends in the order it came, exactly once.
    assert.deepEqual(
      rec.events.map((e) => e.tag),
      images.map((_, i) => `m${i}`),
    );
    for (const [i, image] of images.entries()) {
      const e = rec.events[i]!;
      if (goods.includes(image)) {
        assert.equal(e.kind, 'out', `m${i} answered`);
        assert.deepEqual(stable(e.msg.payload), expected.get(image), `m${i} as if sent alone`);
      } else {
        assert.equal(e.kind, 'caught', `m${i} caught`);
        const err = e.msg.error as { code?: string };
        assert.equal(err.code, 'INVALID_IMAGE', `m${i}: ${JSON.stringify(err)}`);
      }
    }
    assert.ok(controller.preparedAhead >= 1);
    assert.deepEqual(since(before, controller.counters), {
      received: images.length,
      answered: images.length,
      dropped: 0,
    });
  });

  it('a message prepared ahead and then dropped by the queue frees its slot for the next one', async () => {
    const controller = await deploy({ concurrency: 1, queueLimit: 1, dropPolicy: 'oldest' });
    const expected = [await alone(bus), await alone(coffee)];
    const before = { ...controller.counters };
    const rec = recorder();
    gate.hold();
    helper.getNode('detect').receive({ payload: bus, tag: 'a' });
    helper.getNode('detect').receive({ payload: chelsea, tag: 'b' });
    await until(() => gate.held === 1 && controller.preparedAhead === 1);
    // 'b' waits, prepared; 'c' finds the queue full and 'b' (the oldest waiting) is dropped.
    helper.getNode('detect').receive({ payload: coffee, tag: 'c' });
    // The dropped message's slot comes back, so 'c' is prepared ahead in its place.
    await until(() => controller.preparedAhead === 2);
    assert.equal(gate.held, 1);
    gate.open();
    assert.deepEqual(await rec.ended(3), ['caught b', 'out a', 'out c']);
    assert.equal((rec.events[0]!.msg.error as { code?: string }).code, 'QUEUE_FULL');
    assert.deepEqual(
      rec.events.filter((e) => e.kind === 'out').map((e) => stable(e.msg.payload)),
      expected,
    );
    assert.deepEqual(since(before, controller.counters), {
      received: 3,
      answered: 2,
      dropped: 1,
    });
  });

  it('closing the node cancels the messages prepared ahead', async () => {
    const controller = await deploy({ concurrency: 1 });
    const before = { ...controller.counters };
    const rec = recorder();
    gate.hold();
    helper.getNode('detect').receive({ payload: bus, tag: 'a' });
    helper.getNode('detect').receive({ payload: chelsea, tag: 'b' });
    helper.getNode('detect').receive({ payload: coffee, tag: 'c' });
    await until(() => gate.held === 1 && controller.preparedAhead === 1);
    const closing = controller.close();
    gate.open();
    await closing;
    // Catch nodes get their messages asynchronously: wait for the two (the test's timeout
    // fails it if they never come).
    await until(() => rec.events.filter((e) => e.tag !== 'a').length >= 2);
    rec.stop();
    // 'a' was at the server (its end depends on the abort); 'b' (prepared) and 'c' never ran.
    const later = rec.events.filter((e) => e.tag !== 'a');
    assert.deepEqual(
      later.map((e) => `${e.kind} ${e.tag} ${(e.msg.error as { code?: string }).code}`),
      ['caught b CANCELLED', 'caught c CANCELLED'],
    );
    assert.deepEqual(since(before, controller.counters), {
      received: 3,
      answered: 1,
      dropped: 2,
    });
  });
});
