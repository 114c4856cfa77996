/**
 * Wire-only round trip against the instant stub model (bench/stub-server.ts): infer() of a
 * [1,3,640,640] FP32 request (4.9 MB) answered by the stored [1,84,8400] FP32 output
 * (2.8 MB), over gRPC and HTTP. No decode, no postprocess: this is the transport's cost.
 *
 *   npx tsx bench/wire.ts [iterations] [grpc|http]
 */
import * as fs from 'node:fs';
import { createClient } from '../src/client';
import type { Tensor } from '../src/protocol/types';
import { buildFixtureRepository } from '../test/support/fixtures';
import { startInstantStub } from '../test/support/instant-stub';

const N = Number(process.argv[2] ?? 30);

/** User + system CPU of a process in ms (Linux /proc; clock ticks of 10 ms). */
function cpuOf(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function selfCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const repo = buildFixtureRepository();
  const stub = await startInstantStub(repo, {
    nodeArgs: (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean),
  });
  const input: Tensor = {
    name: 'images',
    datatype: 'FP32',
    shape: [1, 3, 640, 640],
    data: new Float32Array(3 * 640 * 640).fill(0.5),
  };
  try {
    const only = process.argv[3];
    const modes = (['grpc', 'http', 'grpc', 'http'] as const).filter((m) => !only || m === only);
    for (const mode of modes) {
      const c = createClient({
        mode,
        host: '127.0.0.1',
        port: mode === 'grpc' ? stub.grpc : stub.http,
      });
      try {
        for (let i = 0; i < 3; i++) await c.infer({ model: 'yolov8n', inputs: [input] });
        const walls: number[] = [];
        const c0 = selfCpu();
        const s0 = cpuOf(stub.proc.pid!);
        for (let i = 0; i < N; i++) {
          const t = performance.now();
          await c.infer({ model: 'yolov8n', inputs: [input] });
          walls.push(performance.now() - t);
        }
        const client = (selfCpu() - c0) / N;
        const server = (cpuOf(stub.proc.pid!) - s0) / N;
        console.log(
          `${mode.padEnd(5)} infer median ${median(walls).toFixed(1)} ms wall, CPU per call: client ${client.toFixed(1)} ms, server ${server.toFixed(1)} ms`,
        );
      } finally {
        await c.close();
      }
    }
  } finally {
    await stub.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
