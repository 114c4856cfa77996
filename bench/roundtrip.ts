/**
 * Round trip of one yolov8n_int8_640 inference ([1,3,640,640] FP32 in, [1,84,8400] out) over
 * each transport: gRPC and HTTP to a triton-vision-serve child process on loopback, and
 * local (in-process onnxruntime). Reports the median wall time per call and the part of it
 * that is not the model's own compute (taken from the server's statistics).
 *
 *   npx tsx bench/roundtrip.ts [iterations]
 */
import { createClient } from '../src/client';
import type { InferenceClient, Tensor } from '../src/protocol/types';
import { buildFixtureRepository } from '../test/support/fixtures';
import { seededValues } from '../test/support/ort';
import { startServe } from '../test/support/serve';

const N = Number(process.argv[2] ?? 30);
const WARMUP = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(
  client: InferenceClient,
  input: Tensor,
): Promise<{ wall: number; compute: number }> {
  for (let i = 0; i < WARMUP; i++) await client.infer({ model: 'yolov8n', inputs: [input] });
  const before = (await client.modelStatistics('yolov8n'))[0]!.inference_stats.compute_infer;
  const walls: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await client.infer({ model: 'yolov8n', inputs: [input] });
    walls.push(performance.now() - t0);
  }
  const after = (await client.modelStatistics('yolov8n'))[0]!.inference_stats.compute_infer;
  const compute = (after.ns - before.ns) / (after.count - before.count) / 1e6;
  return { wall: median(walls), compute };
}

async function main(): Promise<void> {
  const repo = buildFixtureRepository();
  const input: Tensor = {
    name: 'images',
    datatype: 'FP32',
    shape: [1, 3, 640, 640],
    data: seededValues(3 * 640 * 640),
  };
  const serve = await startServe({ repository: repo });
  const rows: string[] = [];
  try {
    for (const mode of ['grpc', 'http', 'local'] as const) {
      const client =
        mode === 'local'
          ? createClient({ mode, modelRepository: repo })
          : createClient({
              mode,
              host: '127.0.0.1',
              port: mode === 'grpc' ? serve.grpcPort : serve.httpPort,
            });
      try {
        const r = await measure(client, input);
        rows.push(
          `${mode.padEnd(6)} ${r.wall.toFixed(1).padStart(9)} ${r.compute.toFixed(1).padStart(11)} ${(r.wall - r.compute).toFixed(1).padStart(10)}`,
        );
      } finally {
        await client.close();
      }
    }
  } finally {
    await serve.stop();
  }
  console.log(
    `yolov8n_int8_640 round trip, ${N} calls each (median ms), loadavg ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`,
  );
  console.log('mode   wall (ms)  compute(ms)  other (ms)');
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
