/**
 * One replica client over 1, 2 and 3 triton-vision-serve processes on loopback: inference
 * throughput with a fixed number of calls outstanding, then the failover: one of three
 * replicas killed under load (time until it leaves the rotation, the slowest call caught
 * by the kill, errors: there must be none) and restarted on the same ports (time until it
 * is back in the rotation). Each replica runs onnxruntime on one thread, so the replicas,
 * not one server's thread pool, are what is compared; on a machine with fewer cores than
 * replicas the numbers show the cores, not the client. The load average is printed with
 * each row: this machine may be shared.
 *
 *   npx tsx bench/replicas.ts [seconds-per-run=5] [grpc|http] [model=mobilenetv2] [outstanding=6]
 */
import * as os from 'node:os';
import { createClient } from '../src/client';
import { ReplicaClient } from '../src/client/replicas';
import type { InferRequest } from '../src/protocol/types';
import { buildFixtureRepository, FIXTURE_REPOSITORY } from '../test/support/fixtures';
import { seededValues } from '../test/support/ort';
import { ReplicaServers } from './replica-servers';
import { loadAverage, percentile } from './stats';

const SECONDS = Number(process.argv[2] ?? 5);
const MODE = (process.argv[3] ?? 'grpc') as 'grpc' | 'http';
const MODEL = process.argv[4] ?? 'mobilenetv2';
const OUTSTANDING = Number(process.argv[5] ?? 6);

const INPUTS: Record<string, { name: string; shape: number[] }> = {
  mobilenetv2: { name: 'input', shape: [1, 3, 224, 224] },
  yolov8n: { name: 'images', shape: [1, 3, 640, 640] },
};

/** Keeps `outstanding` calls going until `stop()` says so; returns each call's latency. */
async function drive(
  client: ReplicaClient,
  req: InferRequest,
  outstanding: number,
  stop: () => boolean,
  onError: (e: unknown) => void,
): Promise<{ latencies: number[]; ends: number[] }> {
  const latencies: number[] = [];
  const ends: number[] = [];
  const worker = async (): Promise<void> => {
    while (!stop()) {
      const t0 = performance.now();
      try {
        await client.infer(req);
        latencies.push(performance.now() - t0);
        ends.push(performance.now());
      } catch (e) {
        onError(e);
      }
    }
  };
  await Promise.all(Array.from({ length: outstanding }, worker));
  return { latencies, ends };
}

async function main(): Promise<void> {
  const spec = INPUTS[MODEL];
  if (!spec) throw new Error(`model must be one of ${Object.keys(INPUTS).join(', ')}`);
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((s) => s.name === MODEL));
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const req: InferRequest = {
    model: MODEL,
    inputs: [{ name: spec.name, datatype: 'FP32', shape: spec.shape, data: seededValues(n) }],
  };
  const replicas = await ReplicaServers.start(repo, 3);
  const clientFor = (k: number, opts = {}): ReplicaClient =>
    new ReplicaClient(
      Array.from({ length: k }, (_, i) =>
        createClient({ mode: MODE, host: '127.0.0.1', port: replicas.port(i, MODE) }),
      ),
      { healthIntervalMs: 0, ...opts },
    );
  console.log(
    `${MODEL} over ${MODE}, ${OUTSTANDING} calls outstanding, ${SECONDS} s per run, onnxruntime 1 thread per replica, ${os.cpus().length} cores`,
  );
  console.log('replicas  calls/s  p50 ms  p95 ms  errors  load average (1/5/15 min)');
  try {
    for (const k of [1, 2, 3]) {
      const client = clientFor(k);
      try {
        for (let i = 0; i < 3 * k; i++) await client.infer(req);
        let errors = 0;
        const until = performance.now() + SECONDS * 1000;
        const t0 = performance.now();
        const { latencies } = await drive(
          client,
          req,
          OUTSTANDING,
          () => performance.now() >= until,
          () => errors++,
        );
        const rate = latencies.length / ((performance.now() - t0) / 1000);
        console.log(
          `${String(k).padStart(8)}  ${rate.toFixed(1).padStart(7)}  ${percentile(latencies, 50)
            .toFixed(1)
            .padStart(
              6,
            )}  ${percentile(latencies, 95).toFixed(1).padStart(6)}  ${String(errors).padStart(6)}  ${loadAverage(2)}`,
        );
      } finally {
        await client.close();
      }
    }

    // Failover: kill replica 2 of 3 under load, then restart it on the same ports.
    const client = clientFor(3, { probeBackoffMs: 250, maxProbeBackoffMs: 2000 });
    try {
      for (let i = 0; i < 9; i++) await client.infer(req);
      let killedAt = 0;
      let downAt = 0;
      let upAt = 0;
      let restartedAt = 0;
      client.onStatus((s) => {
        if (s.up === 2 && !downAt) downAt = performance.now();
        if (s.up === 3 && downAt && !upAt) upAt = performance.now();
      });
      const errors: string[] = [];
      let phase = 'before';
      const started = performance.now();
      const run = drive(
        client,
        req,
        OUTSTANDING,
        () => phase === 'done',
        (e) => errors.push(String((e as Error).message)),
      );
      await new Promise((r) => setTimeout(r, 1500));
      const caught = client.status().endpoints[1]!.outstanding;
      killedAt = performance.now();
      await replicas.kill(1);
      phase = 'down';
      await new Promise((r) => setTimeout(r, 1500));
      await replicas.restart(1);
      restartedAt = performance.now();
      for (let waited = 0; !upAt && waited < 30000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 1000));
      phase = 'done';
      const { latencies, ends } = await run;
      // The calls that ended in the second after the kill include those caught on it.
      const around = latencies.filter((_, i) => ends[i]! >= killedAt && ends[i]! < killedAt + 1000);
      const before = latencies.filter((_, i) => ends[i]! < killedAt && ends[i]! > started + 200);
      const st = client.status();
      console.log(
        `failover (3 replicas, one SIGKILLed under load, ${caught} of its calls in flight):`,
      );
      console.log(
        `  out of the rotation ${(downAt - killedAt).toFixed(0)} ms after the kill; slowest call ending within 1 s of it ${Math.max(...around).toFixed(1)} ms (p95 before the kill ${percentile(before, 95).toFixed(1)} ms)`,
      );
      console.log(
        `  back in the rotation ${upAt ? `${(upAt - restartedAt).toFixed(0)} ms after the restarted server was ready` : 'NOT within 30 s'}; retries ${st.stats.retries}, failovers ${st.stats.failovers}, errors ${errors.length}${errors.length ? ` (${errors[0]})` : ''}; load average ${loadAverage(2)}`,
      );
    } finally {
      await client.close();
    }
  } finally {
    await replicas.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
