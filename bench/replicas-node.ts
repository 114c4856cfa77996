/**
 * One triton-detect node (real Node-RED, node-red-node-test-helper) over a server node with
 * 1, 2 and 3 triton-vision-serve replicas on loopback: messages answered per second with a
 * fixed number of messages in flight, then the failover: one of three replicas SIGKILLed
 * under a steady stream (time until the node's status says `2/3 up`, the slowest message
 * caught by the kill, every message answered exactly once, the retries it cost) and
 * restarted on the same ports (time until `3/3 up`). Each replica runs onnxruntime on one
 * thread; on a machine with fewer cores than replicas the numbers show the cores, not the
 * client. The load average is printed with each row: this machine may be shared.
 *
 *   npx tsx bench/replicas-node.ts [seconds-per-run=8] [grpc|http] [in-flight=6]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { NodeMessage, NodeStatus } from '../src/nodes/types';
import { buildFixtureRepository, fixtureImage } from '../test/support/fixtures';
import * as flows from '../test/support/flows';
import { ReplicaServers } from './replica-servers';
import { loadAverage, percentile } from './stats';

const SECONDS = Number(process.argv[2] ?? 8);
const MODE = (process.argv[3] ?? 'grpc') as 'grpc' | 'http';
const IN_FLIGHT = Number(process.argv[4] ?? 6);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Keeps IN_FLIGHT messages in the node until stop() says so; latencies by message. */
class Stream {
  readonly sentAt = new Map<number, number>();
  readonly ended = new Map<number, { at: number; ms: number; error?: string; retries: number }>();
  readonly duplicates: number[] = [];
  private next = 0;
  private stopped = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly image: Buffer,
    private readonly stop: () => boolean,
  ) {
    const end = (m: NodeMessage, error?: string): void => {
      const seq = m.seq as number;
      if (this.ended.has(seq)) {
        this.duplicates.push(seq);
        return;
      }
      const at = performance.now();
      const retries = typeof m.retries === 'number' ? m.retries : 0;
      this.ended.set(seq, {
        at,
        ms: at - this.sentAt.get(seq)!,
        retries,
        ...(error ? { error } : {}),
      });
      this.refill();
    };
    flows.helper.getNode('out').on('input', ((m: NodeMessage) => end(m)) as (arg: never) => void);
    flows.helper
      .getNode('caught')
      .on('input', ((m: NodeMessage) => end(m, String((m.error as { code?: string }).code))) as (
        arg: never,
      ) => void);
  }

  start(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.drained = resolve));
    for (let i = 0; i < IN_FLIGHT; i++) this.send();
    return done;
  }

  private send(): void {
    const seq = this.next++;
    this.sentAt.set(seq, performance.now());
    flows.helper.getNode('detect').receive({ payload: this.image, seq } as NodeMessage);
  }

  private refill(): void {
    if (!this.stopped && this.stop()) this.stopped = true;
    if (!this.stopped) {
      this.send();
      return;
    }
    if (this.ended.size >= this.next) this.drained?.();
  }
}

async function main(): Promise<void> {
  const repo = buildFixtureRepository(flows.SMALL_MODELS.filter((m) => m.name === 'yolov8n'));
  const image = fs.readFileSync(fixtureImage('chelsea.png'));
  const servers = await ReplicaServers.start(repo, 3);
  const deploy = async (k: number): Promise<void> => {
    const target = {
      mode: MODE,
      ...(MODE === 'grpc'
        ? { grpcPort: servers.port(0, MODE) }
        : { httpPort: servers.port(0, MODE) }),
    };
    const replicas = Array.from(
      { length: k - 1 },
      (_, i) => `127.0.0.1:${servers.port(i + 1, MODE)}`,
    ).join('\n');
    await flows.helper.load(
      flows.ALL_NODES,
      flows.taskFlow(
        'triton-detect',
        target,
        { id: 'detect', model: 'yolov8n', concurrency: IN_FLIGHT, queueLimit: 1000 },
        replicas ? { replicas } : {},
      ),
    );
    await flows.statusOf('detect', (s) => s.fill === 'green', 60000);
  };
  console.log(
    `triton-detect node, yolov8n 320 px on chelsea.png, over ${MODE}, ${IN_FLIGHT} messages in flight (node concurrency ${IN_FLIGHT}), ${SECONDS} s per run, onnxruntime 1 thread per replica, ${os.cpus().length} cores`,
  );
  console.log('replicas  msgs/s  p50 ms  p95 ms  errors  load average (1/5/15 min)');
  try {
    for (const k of [1, 2, 3]) {
      await deploy(k);
      try {
        for (let i = 0; i < 3 * k; i++) {
          const got = flows.nextMessage('out', 60000);
          flows.helper.getNode('detect').receive({ payload: image });
          await got;
        }
        const t0 = performance.now();
        const until = t0 + SECONDS * 1000;
        const stream = new Stream(image, () => performance.now() >= until);
        await stream.start();
        const seconds = (performance.now() - t0) / 1000;
        const ends = [...stream.ended.values()];
        const errors = ends.filter((e) => e.error).length;
        const ms = ends.filter((e) => !e.error).map((e) => e.ms);
        console.log(
          `${String(k).padStart(8)}  ${(ms.length / seconds).toFixed(1).padStart(6)}  ${percentile(ms, 50).toFixed(0).padStart(6)}  ${percentile(ms, 95).toFixed(0).padStart(6)}  ${String(errors).padStart(6)}  ${loadAverage(2)}`,
        );
      } finally {
        await flows.helper.unload();
      }
    }

    // Failover: replica 2 of 3 SIGKILLed under the stream, then restarted on its ports.
    await deploy(3);
    try {
      let killedAt = 0;
      let downAt = 0;
      let restartedAt = 0;
      let upAt = 0;
      flows.helper.getNode('detect').on('call:status', ((c: { args: [NodeStatus] }) => {
        const text = String(c.args[0].text ?? '');
        if (killedAt && !downAt && / · 2\/3 up$/.test(text)) downAt = performance.now();
        if (restartedAt && !upAt && / · 3\/3 up$/.test(text)) upAt = performance.now();
      }) as (arg: never) => void);
      let phase: 'before' | 'down' | 'back' | 'done' = 'before';
      const started = performance.now();
      const stream = new Stream(image, () => phase === 'done');
      const run = stream.start();
      await sleep(2000);
      killedAt = performance.now();
      await servers.kill(1);
      phase = 'down';
      await sleep(2000);
      await servers.restart(1);
      restartedAt = performance.now();
      for (let waited = 0; !upAt && waited < 30000; waited += 50) await sleep(50);
      phase = 'back';
      await sleep(1000);
      phase = 'done';
      await run;
      const ends = [...stream.ended.entries()];
      const errors = ends.filter(([, e]) => e.error);
      const around = ends
        .filter(([, e]) => e.at >= killedAt && e.at < killedAt + 1500)
        .map(([, e]) => e.ms);
      const before = ends
        .filter(([, e]) => e.at < killedAt && e.at > started + 300)
        .map(([, e]) => e.ms);
      const retries = ends.reduce((n, [, e]) => n + e.retries, 0);
      console.log(
        `failover (3 replicas, one SIGKILLed under the stream): ${stream.sentAt.size} messages, ${stream.ended.size} ended, ${stream.duplicates.length} twice, ${errors.length} errors${errors.length ? ` (${errors[0]![1].error})` : ''}`,
      );
      console.log(
        `  status '2/3 up' ${downAt ? `${(downAt - killedAt).toFixed(0)} ms after the kill` : 'never'}; slowest message ending within 1.5 s of it ${Math.max(...around).toFixed(0)} ms (p95 before the kill ${percentile(before, 95).toFixed(0)} ms); retries ${retries} (node total ${flows.helper.getNode('detect').controller!.retries})`,
      );
      console.log(
        `  status '3/3 up' ${upAt ? `${(upAt - restartedAt).toFixed(0)} ms after the restarted server was ready` : 'NOT within 30 s'}; load average ${loadAverage(2)}`,
      );
    } finally {
      await flows.helper.unload();
    }
  } finally {
    await servers.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
