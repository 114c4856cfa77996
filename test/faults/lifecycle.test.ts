/**
 * 100 redeploys of a flow with all five nodes (server, health, detect, segment,
 * classify) against a real server: afterwards the process holds no more handles than
 * before and the heap is back near its baseline. The heap is measured after full
 * garbage collections (gc exposed at run time, so mocha needs no extra flags).
 */
import * as assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { ProcessWatch, forgetHarnessCalls, sendExpectingOutput } from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { ALL_NODES, SMALL_MODELS, helper, isStatus, serverNode, statusOf } from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const REDEPLOYS = 100;
/**
 * Heap growth allowed after 100 redeploys. A leak of one node's controller, queue and
 * client per deploy (tens of kB with their closures and buffers) would pass 8 MB well
 * before the 100th; module caches and JIT code that settle after the warm-up stay under it.
 */
const HEAP_SLACK_BYTES = 8 * 1024 * 1024;

const AT = { x: 100, y: 100 };

function fiveNodeFlow(grpcPort: number): object[] {
  const task = (id: string, type: string, model: string): object => ({
    id,
    type,
    z: 'flow',
    server: 'server',
    model,
    version: 1,
    ...AT,
    wires: [['out']],
  });
  return [
    { id: 'flow', type: 'tab', label: 'lifecycle' },
    serverNode({ mode: 'grpc', grpcPort }),
    {
      id: 'health',
      type: 'triton-health',
      z: 'flow',
      server: 'server',
      models: '',
      interval: 0.5,
      emit: 'change',
      version: 1,
      ...AT,
      wires: [['healthOut']],
    },
    task('detect', 'triton-detect', 'yolov8n'),
    task('segment', 'triton-segment', 'yolov8n_seg'),
    task('classify', 'triton-classify', 'mobilenetv2'),
    { id: 'out', type: 'helper', z: 'flow', ...AT },
    { id: 'healthOut', type: 'helper', z: 'flow', ...AT },
  ];
}

/**
 * Where the timers still pending were made: a failure names the code that left one behind
 * instead of only counting it.
 */
function timerOrigins(): { stop(): void; pending(): string[] } {
  const made = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout') made.set(id, new Error().stack!.split('\n').slice(2, 9).join('\n'));
    },
    destroy(id) {
      made.delete(id);
    },
  }).enable();
  return { stop: () => hook.disable(), pending: () => [...made.values()] };
}

function handleCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

async function settledHeap(): Promise<number> {
  // Several rounds: finalizers and weak callbacks free more on the next pass.
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

describe('fault suite: 100 redeploys of all five nodes', function () {
  this.timeout(300000);
  const watch = new ProcessWatch();
  let serve: ServeHandle;
  let repo: string;

  before(async () => {
    watch.install();
    repo = buildFixtureRepository(SMALL_MODELS);
    serve = await startServe({ repository: repo });
  });
  afterEach(() => helper.unload());
  after(async () => {
    await serve?.stop();
    watch.uninstall();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('handles back to baseline, heap within a bound, every node ready each time', async () => {
    const flow = fiveNodeFlow(serve.grpcPort);
    const png = fs.readFileSync(fixtureImage('chelsea.png'));
    const allReady = (): Promise<unknown> =>
      Promise.all(
        (['detect', 'segment', 'classify'] as const).map((id) =>
          statusOf(id, isStatus('green', `triton-${id}.status.ready`)),
        ),
      );
    // Warm-up: one deploy that runs each node once creates what the libraries keep for
    // the life of the process (gRPC channel pools, sharp's thread pool, compiled code).
    await helper.load(ALL_NODES, flow);
    await allReady();
    for (const id of ['detect', 'segment', 'classify']) {
      await sendExpectingOutput(id, { payload: png });
    }
    await helper.unload();
    const baseHandles = handleCounts();
    const baseHeap = await settledHeap();

    const origins = timerOrigins();
    await helper.load(ALL_NODES, flow);
    for (let i = 0; i < REDEPLOYS; i++) {
      await helper.setFlows(flow);
      await allReady();
      forgetHarnessCalls();
    }
    // The last deployment still works.
    const out = await sendExpectingOutput('classify', { payload: png });
    assert.equal((out.payload as { task: string }).task, 'classify');
    await helper.unload();

    // Sockets and timers close asynchronously: give them up to 10 s. The wait keeps no
    // timer of its own pending while it counts (a race with a deadline timer would be
    // counted as one left behind whenever the baseline's own timer had fired meanwhile).
    let extra: string[];
    const giveUpAt = Date.now() + 10000;
    for (;;) {
      const now = handleCounts();
      extra = [...now]
        .filter(([k, n]) => n > (baseHandles.get(k) ?? 0))
        .map(([k, n]) => `${k}: ${n} (was ${baseHandles.get(k) ?? 0})`);
      if (extra.length === 0 || Date.now() > giveUpAt) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    origins.stop();
    assert.deepEqual(
      extra,
      [],
      `no handles left behind; timers made since the baseline and still pending:\n${origins.pending().join('\n--\n')}`,
    );
    const heap = await settledHeap();
    const growth = heap - baseHeap;
    assert.ok(
      growth < HEAP_SLACK_BYTES,
      `heap grew ${(growth / 1048576).toFixed(1)} MiB over ${REDEPLOYS} redeploys`,
    );
    watch.assertClean();
  });
});
