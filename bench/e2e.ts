/**
 * End-to-end benchmark: per-stage medians over gRPC, HTTP and local, our client-side
 * overhead against a bare sharp decode+resize, node throughput at concurrency 1/2/4
 * against an instant model (bench/stub-server.ts) and against the real model, and the
 * peak RSS of every run.
 *
 * Images: bus.jpg (the fixture photo, 810×1080) and a 1920×1080 JPEG made here from it
 * with sharp (scaled to cover 1920×1080, centre-cropped, quality 90).
 * Models: yolov8n_int8_640 (detect) and yolov8n-seg_int8_640_retargeted (segment).
 *
 * Each configuration runs in its own child process, so that its peak RSS is its own.
 *
 *   npm run bench -- e2e                 everything
 *   node --require tsx/cjs bench/e2e.ts stages|throughput  one part
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import sharp from 'sharp';
import { loadAverage, median } from './stats';
import { loadKserveProto, encodeInferRequest as grpcEncode } from '../src/protocol/grpc-codec';
import { encodeInferRequest as httpEncode } from '../src/protocol/http-codec';
import { createClient } from '../src/client/index';
import { LocalClient } from '../src/client/local';
import type { InferRequest, InferenceClient, ModelStatistics } from '../src/protocol/types';
import { prepareInput } from '../src/vision/image';
import { resolveProfile, runTask } from '../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../test/support/fixtures';
import { startInstantStub } from '../test/support/instant-stub';
import { startServe } from '../test/support/serve';

const N = Number(process.env.BENCH_N ?? 20);
const WARMUP = 4;
const MODELS = { detect: 'yolov8n', segment: 'yolov8n_seg' } as const;

async function images(): Promise<Record<string, Buffer>> {
  const bus = fs.readFileSync(fixtureImage('bus.jpg'));
  const hd = await sharp(bus).resize(1920, 1080, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer();
  return { '1920x1080': hd, 'bus 810x1080': bus };
}

/** Peak resident set of a process in MiB (Linux: VmHWM). */
function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

const selfPeakMiB = (): number => process.resourceUsage().maxRSS / 1024;

// ---- remote server child processes ------------------------------------------------------

interface Child {
  pid: number;
  httpPort: number;
  grpcPort: number;
  stop(): Promise<void>;
}

/** BENCH_SERVER_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, profiles the server. */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);

async function startServeChild(repo: string): Promise<Child> {
  const s = await startServe({
    repository: repo,
    nodeArgs: SERVER_NODE_ARGS,
    readyTimeoutMs: 120000,
  });
  return { pid: s.proc.pid!, httpPort: s.httpPort, grpcPort: s.grpcPort, stop: s.stop };
}

async function startStubChild(repo: string, model: string): Promise<Child> {
  const s = await startInstantStub(repo, { model, nodeArgs: SERVER_NODE_ARGS });
  return { pid: s.proc.pid!, httpPort: s.http, grpcPort: s.grpc, stop: s.stop };
}

function clientFor(transport: string, repo: string, server?: Child): InferenceClient {
  if (transport === 'local') return new LocalClient({ modelRepository: repo, load: 'all' });
  return createClient(
    transport === 'grpc'
      ? { mode: 'grpc', host: '127.0.0.1', port: server!.grpcPort }
      : { mode: 'http', host: '127.0.0.1', port: server!.httpPort },
  );
}

// ---- part 1: stages ---------------------------------------------------------------------

type Stats = { n: number; request: number; compute: number; infer: number };

function statsOf(list: ModelStatistics[]): Stats {
  const s = list[0]!.inference_stats;
  return {
    n: s.success.count,
    request: s.success.ns / 1e6,
    compute: (s.compute_input.ns + s.compute_infer.ns + s.compute_output.ns) / 1e6,
    infer: s.compute_infer.ns / 1e6,
  };
}

/** One transport: every model × image; prints one JSON line per combination. */
async function stages(transport: string): Promise<void> {
  const repo = buildFixtureRepository();
  const server = transport === 'local' ? undefined : await startServeChild(repo);
  const client = clientFor(transport, repo, server);
  const imgs = await images();
  const grpcDef = loadKserveProto().service.ModelInfer!;
  try {
    for (const [task, model] of Object.entries(MODELS)) {
      const profile = await resolveProfile(client, model);
      for (const [imageName, jpeg] of Object.entries(imgs)) {
        const meta = await sharp(jpeg).metadata();
        const scale = Math.min(640 / meta.width!, 640 / meta.height!);
        const bw = Math.round(meta.width! * scale);
        const bh = Math.round(meta.height! * scale);
        const bare = (): Promise<Buffer> =>
          sharp(jpeg).resize(bw, bh, { kernel: 'linear' }).raw().toBuffer();
        for (let i = 0; i < WARMUP; i++) {
          await runTask(client, model, jpeg);
          await bare();
        }
        const before = statsOf(await client.modelStatistics(model));
        const rows: Record<string, number[]> = {
          decode: [],
          preprocess: [],
          infer: [],
          postprocess: [],
          total: [],
          bare: [],
        };
        for (let i = 0; i < N; i++) {
          const order = i % 2 === 0;
          if (order) {
            const t = performance.now();
            await bare();
            rows.bare!.push(performance.now() - t);
          }
          const r = await runTask(client, model, jpeg);
          rows.decode!.push(r.timings.decodeMs);
          rows.preprocess!.push(r.timings.preprocessMs);
          rows.infer!.push(r.timings.inferMs);
          rows.postprocess!.push(r.timings.postprocessMs);
          rows.total!.push(r.timings.totalMs);
          if (!order) {
            const t = performance.now();
            await bare();
            rows.bare!.push(performance.now() - t);
          }
        }
        const after = statsOf(await client.modelStatistics(model));
        const n = after.n - before.n;
        const serverRequest = (after.request - before.request) / n;
        const serverCompute = (after.compute - before.compute) / n;
        const serverInfer = (after.infer - before.infer) / n;
        // Serialisation, timed apart on the same tensor (the client does it inside infer).
        const prepared = await prepareInput(jpeg, profile);
        const req: InferRequest = {
          model,
          inputs: [
            {
              name: profile.input.name,
              datatype: profile.input.datatype,
              shape: prepared.shape,
              data: prepared.tensor,
            },
          ],
        };
        const ser: number[] = [];
        for (let i = 0; i < Math.max(5, N >> 1); i++) {
          const t = performance.now();
          if (transport === 'grpc') grpcDef.requestSerialize(grpcEncode(req));
          else if (transport === 'http') httpEncode(req);
          ser.push(performance.now() - t);
        }
        const serialize = transport === 'local' ? 0 : median(ser);
        const inferWall = median(rows.infer!);
        const total = median(rows.total!);
        const overhead = total - serverCompute;
        console.log(
          JSON.stringify({
            part: 'stages',
            transport,
            task,
            image: imageName,
            decode: median(rows.decode!),
            preprocess: median(rows.preprocess!),
            serialize,
            // Client wall time of infer() minus serialisation and the server's own
            // request time: wire + framing + response decode (+ queueing in the server's
            // transport layer).
            transfer: Math.max(0, inferWall - serialize - serverRequest),
            infer: serverInfer,
            postprocess: median(rows.postprocess!),
            total,
            overhead,
            bare: median(rows.bare!),
            ratio: overhead / median(rows.bare!),
          }),
        );
      }
    }
  } finally {
    await client.close();
    const serverPeak = server ? peakRssMiB(server.pid) : NaN;
    await server?.stop();
    fs.rmSync(repo, { recursive: true, force: true });
    console.log(
      JSON.stringify({
        part: 'rss',
        run: `stages ${transport}`,
        client: selfPeakMiB(),
        server: serverPeak,
      }),
    );
  }
}

// ---- part 2: throughput through one detect node ----------------------------------------

async function throughput(target: string, concurrency: number, count: number): Promise<void> {
  // Loaded here only: it starts a Node-RED runtime.
  const flows = require('../test/support/flows') as typeof import('../test/support/flows');
  const repo = buildFixtureRepository();
  const [kind, transport] = target.split('-') as ['stub' | 'real', 'grpc' | 'http' | 'local'];
  const server =
    transport === 'local'
      ? undefined
      : kind === 'stub'
        ? await startStubChild(repo, MODELS.detect)
        : await startServeChild(repo);
  const jpeg = (await images())['1920x1080']!;
  try {
    await flows.helper.load(
      flows.ALL_NODES,
      flows.taskFlow(
        'triton-detect',
        {
          mode: transport,
          httpPort: server?.httpPort ?? 0,
          grpcPort: server?.grpcPort ?? 0,
          modelRepository: repo,
        },
        { id: 'detect', model: MODELS.detect, concurrency, queueLimit: count + 10 },
      ),
    );
    const node = flows.helper.getNode('detect');
    const caught = flows.helper.getNode('caught');
    let errors = 0;
    caught.on('input', () => errors++);
    // Warm-up: profile lookup, connection, first run.
    for (let i = 0; i < 3; i++) {
      const got = flows.nextMessage('out', 60000);
      node.receive({ payload: jpeg });
      await got;
    }
    const done = flows.messages('out', count, 600000);
    const t = performance.now();
    for (let i = 0; i < count; i++) node.receive({ payload: jpeg, _msgid: `m${i}` });
    await done;
    const secs = (performance.now() - t) / 1000;
    const serverPeak = server ? peakRssMiB(server.pid) : NaN;
    console.log(
      JSON.stringify({
        part: 'throughput',
        target,
        concurrency,
        count,
        perSecond: count / secs,
        errors,
        client: selfPeakMiB(),
        server: serverPeak,
      }),
    );
  } finally {
    await flows.helper.unload();
    await server?.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

// ---- the parent: runs each configuration in a child, prints the tables ---------------------

interface Line {
  part: string;
  [k: string]: unknown;
}

function runChild(args: string[]): Line[] {
  const r = spawnSync(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), __filename, ...args],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: process.env },
  );
  const lines: Line[] = [];
  for (const l of r.stdout.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(l) as Line);
    } catch {
      // not one of ours
    }
  }
  if (r.status !== 0) {
    console.error(`bench child ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  }
  return lines;
}

const f = (v: unknown, d = 1): string =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '-';

function table(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => c.padStart(w[i]!)).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

async function parent(parts: string[]): Promise<void> {
  console.log(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average at start ${loadAverage()}; ${N} timed runs per row (median), ${WARMUP} warm-up`,
  );
  const rss: Line[] = [];
  if (parts.includes('stages')) {
    const rows: Line[] = [];
    for (const t of ['grpc', 'http', 'local']) {
      for (const l of runChild(['stages', t])) (l.part === 'rss' ? rss : rows).push(l);
    }
    console.log(
      '\nper-stage medians, ms (infer = server compute_infer; overhead = total − server compute)',
    );
    table(
      [
        'transport',
        'task',
        'image',
        'decode',
        'prep',
        'serial',
        'transfer',
        'infer',
        'post',
        'total',
        'overhead',
        'bare sharp',
        'ratio',
      ],
      rows.map((r) => [
        String(r.transport),
        String(r.task),
        String(r.image),
        f(r.decode),
        f(r.preprocess),
        f(r.serialize),
        f(r.transfer),
        f(r.infer),
        f(r.postprocess),
        f(r.total),
        f(r.overhead),
        f(r.bare),
        `${f(r.ratio, 2)}×`,
      ]),
    );
    console.log('target: overhead ≤ 1.3× bare sharp decode+resize');
  }
  if (parts.includes('throughput')) {
    const rows: Line[] = [];
    const plan: [string, number][] = [
      ['stub-grpc', 100],
      ['stub-http', 100],
      ['real-grpc', 24],
      ['real-local', 24],
    ];
    for (const [target, count] of plan) {
      for (const c of [1, 2, 4]) {
        for (const l of runChild(['throughput', target, String(c), String(count)])) rows.push(l);
      }
    }
    console.log('\nthroughput through one triton-detect node, 1920×1080 JPEG');
    table(
      [
        'target',
        'concurrency',
        'images',
        'images/s',
        'errors',
        'client peak RSS MiB',
        'server peak RSS MiB',
      ],
      rows.map((r) => [
        String(r.target),
        String(r.concurrency),
        String(r.count),
        f(r.perSecond),
        String(r.errors),
        f(r.client, 0),
        f(r.server, 0),
      ]),
    );
    console.log('target: ≥ 100 images/s against the instant (stub) model');
  }
  if (rss.length) {
    console.log('\npeak RSS of the stage runs, MiB');
    table(
      ['run', 'client', 'server'],
      rss.map((r) => [String(r.run), f(r.client, 0), f(r.server, 0)]),
    );
  }
  console.log(`load average at end ${loadAverage()}`);
}

async function main(): Promise<void> {
  const [mode, a, b, c] = process.argv.slice(2);
  if (mode === 'stages' && a) return stages(a);
  if (mode === 'throughput' && a && b) return throughput(a, Number(b), Number(c ?? 100));
  const parts = mode === 'stages' || mode === 'throughput' ? [mode] : ['stages', 'throughput'];
  return parent(parts);
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
