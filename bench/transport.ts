/**
 * Transport benchmark, the ratios of issue 11 in one run, against the instant stub
 * (bench/stub-server.ts: our real frontends, a stored yolov8n answer) and a 1920×1080 JPEG:
 *
 * - client CPU per image (process.cpuUsage: every thread of the process) of runTask over
 *   gRPC and HTTP, against the floor: sharp's full decode (no shrink-on-load) + resize of
 *   the same JPEG;
 * - full (major) GCs per image (PerformanceObserver 'gc');
 * - images/s through one triton-detect node at concurrency 1, 2, 4;
 * - the official Python tritonclient (gRPC and HTTP; cv2/numpy pre- and post-processing,
 *   bench/tritonclient_loop.py) in a loop against the same stub, with the Python tier's
 *   .venv (scripts/triton-venv.sh; the row is skipped, saying so, when it is absent).
 *
 * Every measurement runs in its own child process. Rounds interleave the configurations;
 * with BENCH_BASE=/path/to/another/checkout, the same children also run from that tree
 * (e.g. the commit before a change), interleaved with this one, each tree's children
 * against a stub of its own tree, so a change to the server side shows too. The Python
 * loop runs against this tree's stub.
 *
 *   npm run bench -- transport
 *   BENCH_ROUNDS=3 BENCH_BASE=/work/base node --require tsx/cjs bench/transport.ts
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import sharp from 'sharp';
import { loadAverage, median } from './stats';
import { startInstantStub, type InstantStub } from '../test/support/instant-stub';

const ROOT = path.resolve(__dirname, '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const N = Number(process.env.BENCH_N ?? 40);
const NODE_N = Number(process.env.BENCH_NODE_N ?? 60);

interface Line {
  [k: string]: number | string;
}

/** CPU ms (all threads) and major GCs over `fn`. */
async function measure(
  fn: () => Promise<void>,
): Promise<{ cpuMs: number; gcs: number; secs: number }> {
  let gcs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const secs = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  // Entries arrive asynchronously: let the last ones in.
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  return { cpuMs: (c.user + c.system) / 1000, gcs, secs };
}

// ---- children ------------------------------------------------------------------------------

async function floorChild(jpegPath: string): Promise<void> {
  const jpeg = fs.readFileSync(jpegPath);
  const once = async (): Promise<void> => {
    // Full decode first: resizing straight from the JPEG would let libvips shrink on load.
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
      .resize(640, 360)
      .raw()
      .toBuffer();
  };
  for (let i = 0; i < 4; i++) await once();
  const m = await measure(async () => {
    for (let i = 0; i < N; i++) await once();
  });
  console.log(JSON.stringify({ cpuMs: m.cpuMs / N, gcs: m.gcs / N }));
}

async function clientChild(transport: string, port: number, jpegPath: string): Promise<void> {
  const { createClient } = require(
    path.join(ROOT, 'src', 'client', 'index'),
  ) as typeof import('../src/client/index');
  const { runTask } = require(
    path.join(ROOT, 'src', 'vision', 'pipeline'),
  ) as typeof import('../src/vision/pipeline');
  const jpeg = fs.readFileSync(jpegPath);
  const client = createClient({ mode: transport as 'grpc', host: '127.0.0.1', port });
  try {
    for (let i = 0; i < 4; i++) await runTask(client, 'yolov8n', jpeg);
    const m = await measure(async () => {
      for (let i = 0; i < N; i++) await runTask(client, 'yolov8n', jpeg);
    });
    console.log(JSON.stringify({ cpuMs: m.cpuMs / N, gcs: m.gcs / N, perSecond: N / m.secs }));
  } finally {
    await client.close();
  }
}

async function nodeChild(
  transport: string,
  port: number,
  concurrency: number,
  jpegPath: string,
): Promise<void> {
  // Loaded here only: it starts a Node-RED runtime.
  const flows = require(
    path.join(ROOT, 'test', 'support', 'flows'),
  ) as typeof import('../test/support/flows');
  const jpeg = fs.readFileSync(jpegPath);
  await flows.helper.load(
    flows.ALL_NODES,
    flows.taskFlow(
      'triton-detect',
      { mode: transport as 'grpc', httpPort: port, grpcPort: port },
      { id: 'detect', model: 'yolov8n', concurrency, queueLimit: NODE_N + 10 },
    ),
  );
  try {
    const node = flows.helper.getNode('detect');
    for (let i = 0; i < 4; i++) {
      const got = flows.nextMessage('out', 60000);
      node.receive({ payload: jpeg });
      await got;
    }
    const m = await measure(async () => {
      const done = flows.messages('out', NODE_N, 600000);
      for (let i = 0; i < NODE_N; i++) node.receive({ payload: jpeg, _msgid: `m${i}` });
      await done;
    });
    console.log(
      JSON.stringify({ perSecond: NODE_N / m.secs, cpuMs: m.cpuMs / NODE_N, gcs: m.gcs / NODE_N }),
    );
  } finally {
    await flows.helper.unload();
  }
}

// ---- the parent --------------------------------------------------------------------------

/** Runs one child from `tree` and returns its JSON line. */
function child(tree: string, args: string[]): Line | undefined {
  const r = spawnSync(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(tree, 'bench', 'transport.ts'), ...args],
    { encoding: 'utf8', cwd: tree, maxBuffer: 1 << 26, env: { ...process.env, BENCH_CHILD: '1' } },
  );
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.error(
      `child ${args.join(' ')} in ${tree} failed (${r.status}): ${r.stderr.slice(-2000)}`,
    );
    return undefined;
  }
  return JSON.parse(line) as Line;
}

function python(args: string[]): Line | undefined {
  const py = path.join(ROOT, '.venv', 'bin', 'python');
  if (!fs.existsSync(py))
    return { skip: '.venv is absent: run scripts/triton-venv.sh (about a minute)' };
  const r = spawnSync(py, [path.join(__dirname, 'tritonclient_loop.py'), ...args], {
    encoding: 'utf8',
  });
  const line = r.stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) return { skip: `the Python loop failed: ${r.stderr.slice(-500)}` };
  return JSON.parse(line) as Line;
}

async function parent(): Promise<void> {
  const { buildFixtureRepository } =
    require('../test/support/fixtures') as typeof import('../test/support/fixtures');
  const { fixtureImage } =
    require('../test/support/fixtures') as typeof import('../test/support/fixtures');
  const repo = buildFixtureRepository(
    (
      require('../test/support/fixtures') as typeof import('../test/support/fixtures')
    ).FIXTURE_REPOSITORY.filter((m) => m.name === 'yolov8n'),
  );
  const jpegPath = path.join(repo, 'hd.jpg');
  fs.writeFileSync(
    jpegPath,
    await sharp(fs.readFileSync(fixtureImage('bus.jpg')))
      .resize(1920, 1080, { fit: 'cover' })
      .jpeg({ quality: 90 })
      .toBuffer(),
  );
  const trees: [string, string][] = [['this', ROOT]];
  if (process.env.BENCH_BASE) trees.push(['base', path.resolve(process.env.BENCH_BASE)]);
  const stubs = new Map<string, InstantStub>();
  const results = new Map<string, Line[]>();
  const add = (key: string, l: Line | undefined): void => {
    if (!l) return;
    results.set(key, [...(results.get(key) ?? []), l]);
  };
  const loads: string[] = [];
  try {
    for (const [label, tree] of trees) stubs.set(label, await startInstantStub(repo, { tree }));
    const stub = stubs.get('this')!;
    for (let round = 1; round <= ROUNDS; round++) {
      loads.push(`round ${round} start: ${loadAverage()}`);
      add('floor', child(ROOT, ['floor', jpegPath]));
      for (const [label, tree] of trees) {
        const own = stubs.get(label)!;
        for (const t of ['grpc', 'http']) {
          const port = String(t === 'grpc' ? own.grpc : own.http);
          add(`${label} client ${t}`, child(tree, ['client', t, port, jpegPath]));
          for (const c of [1, 2, 4]) {
            add(`${label} node ${t} c${c}`, child(tree, ['node', t, port, String(c), jpegPath]));
          }
        }
      }
      for (const t of ['grpc', 'http']) {
        add(
          `python ${t}`,
          python([t, String(t === 'grpc' ? stub.grpc : stub.http), String(N), jpegPath]),
        );
      }
    }
    loads.push(`end: ${loadAverage()}`);
  } finally {
    for (const s of stubs.values()) await s.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  }

  const med = (key: string, field: string): number =>
    median((results.get(key) ?? []).map((l) => Number(l[field])).filter(Number.isFinite));
  const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : '—');
  const floor = med('floor', 'cpuMs');
  console.log(
    `\n1920×1080 JPEG, yolov8n 640 against the instant stub; medians of ${ROUNDS} rounds`,
  );
  console.log(`floor (sharp full decode + resize): ${f(floor)} ms CPU per image`);
  for (const [label] of trees) {
    console.log(`\n[${label}]`);
    console.log('transport  CPU ms/img  ×floor (≤1.5)  full GCs/img (≤0.1)  node img/s c1  c2  c4');
    for (const t of ['grpc', 'http']) {
      const cpu = med(`${label} client ${t}`, 'cpuMs');
      console.log(
        [
          t.padEnd(9),
          f(cpu).padStart(10),
          f(cpu / floor, 2).padStart(14),
          f(med(`${label} client ${t}`, 'gcs'), 2).padStart(20),
          ...[1, 2, 4].map((c) =>
            f(med(`${label} node ${t} c${c}`, 'perSecond')).padStart(c === 1 ? 14 : 4),
          ),
        ].join(' '),
      );
    }
    const g = med(`${label} node grpc c1`, 'perSecond');
    const h = med(`${label} node http c1`, 'perSecond');
    const pyGrpc = med('python grpc', 'perSecond');
    console.log(
      `node gRPC c1 / Python tritonclient gRPC loop: ${f(g / pyGrpc, 2)}× (≥ 2); gRPC / HTTP node c1: ${f(g / h, 2)} (≥ 1)`,
    );
  }
  console.log('\nPython tritonclient loop (cv2/numpy pre and post), same stub:');
  for (const t of ['grpc', 'http']) {
    const skip = (results.get(`python ${t}`) ?? []).find((l) => l.skip)?.skip;
    if (skip) console.log(`  ${t}: skipped — ${skip}`);
    else {
      console.log(
        `  ${t}: ${f(med(`python ${t}`, 'perSecond'))} img/s, ${f(med(`python ${t}`, 'cpuMs'))} ms CPU per image`,
      );
    }
  }
  console.log(`\nload average (1, 5, 15 min): ${loads.join('; ')}`);
}

async function main(): Promise<void> {
  const [mode, ...a] = process.argv.slice(2);
  if (mode === 'floor') return floorChild(a[0]!);
  if (mode === 'client') return clientChild(a[0]!, Number(a[1]), a[2]!);
  if (mode === 'node') return nodeChild(a[0]!, Number(a[1]), Number(a[2]), a[3]!);
  return parent();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error((err as Error).stack ?? err);
    process.exit(1);
  },
);
