/**
 * triton-vision-serve's frontends, CPU per request on the server side (issue 11, item 3):
 * the instant stub (bench/stub-server.ts: our real gRPC and HTTP frontends over a backend
 * that answers with a stored yolov8n output) receives a 640×640 FP32 request (4.9 MB, a
 * letterboxed 1920×1080 JPEG) and answers with the 2.8 MB raw head, over and over. The
 * stub's CPU (user + system, every thread, from /proc/PID/stat) per request is the row;
 * wall time per request and the client's CPU come with it.
 *
 * With BENCH_BASE=/path/to/another/checkout, a stub from that tree runs beside this one
 * and the rounds interleave the two (order alternating), same client, same request.
 * When the Python tier's .venv is there (scripts/triton-venv.sh), the official
 * tritonclient loop (bench/tritonclient_loop.py: grpcio and its HTTP client, cv2/numpy
 * around them) is a second client of each stub: its rows are the stub's CPU per request
 * for a client we did not write (client CPU and wall are the Python pipeline's whole).
 *
 *   npm run bench -- serve
 *   BENCH_BASE=/work/base BENCH_ROUNDS=5 BENCH_N=60 node --require tsx/cjs bench/serve.ts
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadAverage, median } from './stats';
import { createClient } from '../src/client/index';
import type { InferenceClient, Tensor } from '../src/protocol/types';
import { prepareInput } from '../src/vision/image';
import { resolveProfile } from '../src/vision/pipeline';
import { FIXTURE_REPOSITORY, buildFixtureRepository, fixtureImage } from '../test/support/fixtures';
import { startInstantStub, type InstantStub } from '../test/support/instant-stub';

const ROOT = path.resolve(__dirname, '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const N = Number(process.env.BENCH_N ?? 50);
/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on every Linux we run on). */
const TICKS_PER_SECOND = 100;

interface Stub extends InstantStub {
  label: string;
}

/** CPU ms (user + system, all threads) a process has used so far. */
function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

interface Row {
  serverCpuMs: number;
  clientCpuMs: number;
  wallMs: number;
}

async function measure(stub: Stub, client: InferenceClient, input: Tensor): Promise<Row> {
  const call = async (): Promise<void> => {
    const res = await client.infer({ model: 'yolov8n', inputs: [input] });
    if (res.outputs[0]?.shape[2] !== 8400) throw new Error('unexpected answer');
  };
  for (let i = 0; i < 5; i++) await call();
  const s0 = processCpuMs(stub.proc.pid!);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await call();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return {
    serverCpuMs: (processCpuMs(stub.proc.pid!) - s0) / N,
    clientCpuMs: (c.user + c.system) / 1000 / N,
    wallMs: wall / N,
  };
}

const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
/** Requests the Python loop makes before it starts counting (see tritonclient_loop.py). */
const PYTHON_WARMUP = 3;

/** The stub's CPU over a run of the official tritonclient loop, per request. */
function measurePython(stub: Stub, mode: 'grpc' | 'http', jpegPath: string): Row | undefined {
  const s0 = processCpuMs(stub.proc.pid!);
  const r = spawnSync(
    PYTHON,
    [
      path.join(__dirname, 'tritonclient_loop.py'),
      mode,
      String(mode === 'grpc' ? stub.grpc : stub.http),
      String(N),
      jpegPath,
    ],
    { encoding: 'utf8' },
  );
  const server = processCpuMs(stub.proc.pid!) - s0;
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.error(`tritonclient loop ${mode} failed: ${r.stderr.slice(-500)}`);
    return undefined;
  }
  const out = JSON.parse(line) as { cpuMs: number; perSecond: number; skip?: string };
  if (out.skip) return undefined;
  return {
    serverCpuMs: server / (N + PYTHON_WARMUP),
    clientCpuMs: out.cpuMs,
    wallMs: 1000 / out.perSecond,
  };
}

async function main(): Promise<void> {
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((m) => m.name === 'yolov8n'));
  const trees: [string, string][] = [['this', ROOT]];
  if (process.env.BENCH_BASE) trees.push(['base', path.resolve(process.env.BENCH_BASE)]);
  const stubs: Stub[] = [];
  const clients: InferenceClient[] = [];
  const results = new Map<string, Row[]>();
  const loads: string[] = [];
  try {
    for (const [label, tree] of trees) {
      stubs.push({ label, ...(await startInstantStub(repo, { tree })) });
    }
    const hd = await sharp(fs.readFileSync(fixtureImage('bus.jpg')))
      .resize(1920, 1080, { fit: 'cover' })
      .jpeg({ quality: 90 })
      .toBuffer();
    const jpegPath = path.join(repo, 'hd.jpg');
    fs.writeFileSync(jpegPath, hd);
    const python = fs.existsSync(PYTHON);
    if (!python) console.log('.venv is absent: no tritonclient rows (scripts/triton-venv.sh)');
    const probe = createClient({ mode: 'http', host: '127.0.0.1', port: stubs[0]!.http });
    clients.push(probe);
    const profile = await resolveProfile(probe, 'yolov8n');
    const prepared = await prepareInput(hd, profile);
    const input: Tensor = {
      name: profile.input.name,
      datatype: profile.input.datatype,
      shape: prepared.shape,
      data: prepared.tensor,
    };
    const pairs = stubs.flatMap((stub) =>
      (['grpc', 'http'] as const).map((mode) => {
        const client = createClient({
          mode,
          host: '127.0.0.1',
          port: mode === 'grpc' ? stub.grpc : stub.http,
          timeoutMs: 60000,
        });
        clients.push(client);
        return { key: `${stub.label} ${mode}`, stub, client };
      }),
    );
    for (let round = 1; round <= ROUNDS; round++) {
      loads.push(`round ${round} start: ${loadAverage()}`);
      // Alternate the order, so neither tree always runs first in a round.
      const order = round % 2 ? pairs : [...pairs].reverse();
      for (const p of order) {
        const row = await measure(p.stub, p.client, input);
        results.set(p.key, [...(results.get(p.key) ?? []), row]);
      }
      const stubOrder = round % 2 ? stubs : [...stubs].reverse();
      for (const stub of python ? stubOrder : []) {
        for (const mode of ['grpc', 'http'] as const) {
          const row = measurePython(stub, mode, jpegPath);
          const key = `${stub.label} ${mode} py`;
          if (row) results.set(key, [...(results.get(key) ?? []), row]);
        }
      }
    }
    loads.push(`end: ${loadAverage()}`);
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(stubs.map((s) => s.stop()));
    fs.rmSync(repo, { recursive: true, force: true });
  }
  console.log(
    `\ntriton-vision-serve frontends, 640×640 FP32 request (4.9 MB) → 2.8 MB yolov8n head,` +
      ` instant stub; medians of ${ROUNDS} rounds × ${N} sequential requests`,
  );
  console.log(
    `${'frontend'.padEnd(16)} ${'server CPU ms/req'.padStart(18)} ${'client CPU ms/req'.padStart(18)} ${'wall ms/req'.padStart(12)}   per round (server CPU)`,
  );
  for (const [key, rows] of results) {
    const m = (f: keyof Row): string => median(rows.map((r) => r[f])).toFixed(1);
    console.log(
      `${key.padEnd(16)} ${m('serverCpuMs').padStart(18)} ${m('clientCpuMs').padStart(18)} ${m('wallMs').padStart(12)}   ${rows.map((r) => r.serverCpuMs.toFixed(1)).join(' ')}`,
    );
  }
  console.log(`\nload average (1, 5, 15 min): ${loads.join('; ')}`);
}

main().catch((err: unknown) => {
  console.error((err as Error).stack ?? String(err));
  process.exit(1);
});
