/**
 * How to carry ModelInfer over gRPC, measured: the three candidates against the instant
 * stub (bench/stub-server.ts) with a 640×640 FP32 tensor (4.9 MB in, 2.8 MB out):
 *
 * - grpc-js + proto-loader: protobufjs encodes the whole message (the client before issue 11);
 * - grpc-js with our serialize/deserialize: the copy-free frame pieces joined into the one
 *   Buffer grpc-js wants, and the reply read by InferReplyReader from the Buffer grpc-js
 *   joined;
 * - node:http2 with our codec (GrpcClient today): no joined copy on either side.
 *
 * Per call: client CPU (all threads), wall time, and allocations of 256 KiB or more made
 * from JavaScript (test/support/allocations.ts).
 *
 *   node --require tsx/cjs bench/grpc-options.ts
 */
import * as grpc from '@grpc/grpc-js';
import { ReplyBufferPool } from '../src/client/buffer-pool';
import { GrpcClient } from '../src/client/grpc';
import {
  InferReplyReader,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferRequestFrame,
  loadKserveProto,
  type WireInferResponse,
} from '../src/protocol/grpc-codec';
import type { InferRequest } from '../src/protocol/types';
import { largeAllocations } from '../test/support/allocations';
import { FIXTURE_REPOSITORY, buildFixtureRepository } from '../test/support/fixtures';
import { startInstantStub } from '../test/support/instant-stub';
import { loadAverage } from './stats';
import { seededValues } from '../test/support/ort';

const N = Number(process.env.BENCH_N ?? 40);

type Call = () => Promise<void>;

function grpcJs(
  port: number,
  request: InferRequest,
  custom: boolean,
): { call: Call; close(): void } {
  const { ServiceClient, service } = loadKserveProto();
  const client = new ServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  const def = service.ModelInfer!;
  const pool = new ReplyBufferPool();
  const serialize = custom
    ? (r: InferRequest): Buffer => Buffer.concat(encodeInferRequestFrame(r).chunks).subarray(5)
    : (r: InferRequest): Buffer => def.requestSerialize(encodeInferRequest(r));
  const deserialize = custom
    ? (b: Buffer): WireInferResponse => {
        const reader = new InferReplyReader(2 ** 31, pool);
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(b.length, 1);
        reader.push(prefix);
        reader.push(b);
        const { message, memory } = reader.finish();
        if (memory) pool.release(memory);
        return message;
      }
    : (b: Buffer): WireInferResponse => def.responseDeserialize(b) as WireInferResponse;
  const call: Call = () =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(def.path, serialize, deserialize, request, (err, res) => {
        if (err) reject(err);
        else {
          decodeInferResponse(res!);
          resolve();
        }
      }),
    );
  return { call, close: () => client.close() };
}

async function run(name: string, call: Call): Promise<string[]> {
  for (let i = 0; i < 4; i++) await call();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const seen = await largeAllocations(256 * 1024, async () => {
    for (let i = 0; i < N; i++) await call();
  });
  const wall = (performance.now() - t0) / N;
  const c = process.cpuUsage(c0);
  return [
    name,
    ((c.user + c.system) / 1000 / N).toFixed(1),
    wall.toFixed(1),
    (seen.length / N).toFixed(1),
    (seen.reduce((s, a) => s + a.bytes, 0) / N / 1e6).toFixed(1),
  ];
}

async function main(): Promise<void> {
  const repo = buildFixtureRepository(FIXTURE_REPOSITORY.filter((m) => m.name === 'yolov8n'));
  const stub = await startInstantStub(repo);
  const request: InferRequest = {
    model: 'yolov8n',
    inputs: [
      {
        name: 'images',
        datatype: 'FP32',
        shape: [1, 3, 640, 640],
        data: seededValues(3 * 640 * 640),
      },
    ],
    outputs: [{ name: 'output0' }],
  };
  const rows: string[][] = [];
  try {
    // Two interleaved rounds.
    for (let round = 0; round < 2; round++) {
      const plain = grpcJs(stub.grpc, request, false);
      rows.push(await run('grpc-js + proto-loader', plain.call));
      plain.close();
      const custom = grpcJs(stub.grpc, request, true);
      rows.push(await run('grpc-js + our (de)serialize', custom.call));
      custom.close();
      const h2 = new GrpcClient({ port: stub.grpc });
      rows.push(
        await run('node:http2 + our codec', async () => {
          (await h2.infer(request)).release?.();
        }),
      );
      await h2.close();
    }
  } finally {
    await stub.stop();
  }
  const head = ['option', 'CPU ms/call', 'wall ms/call', 'allocs ≥256K/call', 'MB allocated/call'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(`load average ${loadAverage()}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
