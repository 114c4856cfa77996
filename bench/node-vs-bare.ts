/**
 * Per-image wall time of a bare runTask loop against the per-image time of the same work
 * through one triton-detect node (concurrency 1), alternating in one process, against the
 * instant stub model (bench/stub-server.ts). Shows what the Node-RED node path adds.
 *
 *   npx tsx bench/node-vs-bare.ts [grpc|http] [rounds]
 */
import * as fs from 'node:fs';
import sharp from 'sharp';
import { createClient } from '../src/client';
import { runTask } from '../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../test/support/fixtures';
import * as flows from '../test/support/flows';
import { startInstantStub } from '../test/support/instant-stub';

const transport = (process.argv[2] ?? 'grpc') as 'grpc' | 'http';
const ROUNDS = Number(process.argv[3] ?? 4);
const PER = Number(process.env.PER ?? 10);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const repo = buildFixtureRepository();
  const stub = await startInstantStub(repo);
  const jpeg = await sharp(fs.readFileSync(fixtureImage('bus.jpg')))
    .resize(1920, 1080, { fit: 'cover' })
    .jpeg({ quality: 90 })
    .toBuffer();
  const client = createClient({
    mode: transport,
    host: '127.0.0.1',
    port: transport === 'grpc' ? stub.grpc : stub.http,
  });
  try {
    await flows.helper.load(
      flows.ALL_NODES,
      flows.taskFlow(
        'triton-detect',
        { mode: transport, httpPort: stub.http, grpcPort: stub.grpc },
        { id: 'detect', model: 'yolov8n', concurrency: 1, queueLimit: 100 },
      ),
    );
    const node = flows.helper.getNode('detect');
    for (let i = 0; i < 3; i++) {
      const got = flows.nextMessage('out', 60000);
      node.receive({ payload: jpeg });
      await got;
      await runTask(client, 'yolov8n', jpeg);
    }
    const bare: number[] = [];
    const viaNode: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      let t = performance.now();
      for (let i = 0; i < PER; i++) await runTask(client, 'yolov8n', jpeg);
      bare.push((performance.now() - t) / PER);
      const done = flows.messages('out', PER, 60000);
      t = performance.now();
      for (let i = 0; i < PER; i++) node.receive({ payload: jpeg });
      await done;
      viaNode.push((performance.now() - t) / PER);
    }
    console.log(
      `${transport}: bare runTask ${median(bare).toFixed(1)} ms/image, node ${median(viaNode).toFixed(1)} ms/image (medians of ${ROUNDS} rounds of ${PER})`,
    );
  } finally {
    await flows.helper.unload();
    await client.close();
    await stub.stop();
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
