/**
 * A message carrying an array of images: batched requests through the node (one execution
 * per max_batch_size, read from the backend's own statistics), one result per image in
 * order, identical to what the same node answers for each image sent alone, and per-image
 * failures in msg.errors. Real Node-RED, the in-process runtime, real models and photos.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { ServerNode } from '../../src/nodes/server-node';
import type { NodeMessage } from '../../src/nodes/types';
import type { TaskResult } from '../../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  SMALL_MODELS,
  helper,
  isStatus,
  messages,
  nextMessage,
  statusOf,
  taskFlow,
  type ServerTarget,
} from '../support/flows';

type TaskType = 'triton-detect' | 'triton-classify';

/** A payload without its timings (which differ run to run), as plain JSON. */
function stable(p: unknown): unknown {
  if (p === null) return null;
  const { timings: _t, ...rest } = p as TaskResult;
  return JSON.parse(JSON.stringify(rest));
}

const isJpeg = (b: unknown): boolean =>
  Buffer.isBuffer(b) && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

describe('task nodes: an array of images in one message', function () {
  this.timeout(180000);
  let repo: string;
  let target: ServerTarget;
  const photos = ['bus.jpg', 'astronaut.png', 'chelsea.png', 'coffee.png'].map((f) =>
    fs.readFileSync(fixtureImage(f)),
  );

  before(() => {
    repo = buildFixtureRepository(SMALL_MODELS);
    target = { mode: 'local', modelRepository: repo };
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));
  afterEach(() => helper.unload());

  async function deploy(type: TaskType, node: Record<string, unknown>): Promise<string> {
    const id = type.replace('triton-', '');
    await helper.load(ALL_NODES, taskFlow(type, target, { id, ...node }));
    await statusOf(id, isStatus('green', `${type}.status.ready`));
    return id;
  }

  /** Executions and inferences of `model` so far, from the node's own backend. */
  async function counts(model: string): Promise<{ exec: number; inferences: number }> {
    const server = helper.getNode('server') as unknown as ServerNode;
    const [s] = await server.connection!.client.modelStatistics(model);
    return { exec: s!.execution_count, inferences: s!.inference_count };
  }

  async function send(id: string, msg: NodeMessage): Promise<NodeMessage> {
    const got = nextMessage('out');
    helper.getNode(id).receive(msg);
    return got;
  }

  /** What the node answers for each image sent on its own. */
  async function singles(id: string, images: Buffer[]): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const image of images) out.push(stable((await send(id, { payload: image })).payload));
    return out;
  }

  it('classify (max_batch_size 8): four photos in one execution, each result as if sent alone', async () => {
    const id = await deploy('triton-classify', { model: 'mobilenetv2', topK: 3 });
    const expected = await singles(id, photos);

    const before = await counts('mobilenetv2');
    const msg = await send(id, { payload: photos, topic: 'cams' });
    const after = await counts('mobilenetv2');

    assert.equal(after.exec - before.exec, 1, 'one batched execution');
    assert.equal(after.inferences - before.inferences, 4, 'of four images');
    assert.equal(msg.topic, 'cams');
    assert.ok(Array.isArray(msg.payload));
    assert.deepEqual((msg.payload as unknown[]).map(stable), expected);
    assert.equal(msg.errors, undefined);
    assert.ok(Array.isArray(msg.image) && (msg.image as Buffer[])[2]!.equals(photos[2]!));
    // The photos are told apart: a batch that mixed results up could not pass.
    assert.notDeepEqual(expected[2], expected[3]);
    await statusOf(id, (s) => s.fill === 'green' && s.text === 'triton-classify.status.batchOk');
  });

  it('detect (no batch dimension): one execution per image, same detections as single messages', async () => {
    const id = await deploy('triton-detect', { model: 'yolov8n' });
    const images = [photos[0]!, photos[1]!];
    const expected = await singles(id, images);
    const before = await counts('yolov8n');
    const msg = await send(id, { payload: images });
    const after = await counts('yolov8n');
    assert.equal(after.exec - before.exec, 2);
    assert.deepEqual((msg.payload as unknown[]).map(stable), expected);
    assert.ok(((msg.payload as TaskResult[])[0]!.detections ?? []).length > 0);
  });

  it('a bad image in the array: null in its place, its error in msg.errors, the others still batched', async () => {
    const id = await deploy('triton-classify', { model: 'mobilenetv2', topK: 2 });
    const good = [photos[2]!, photos[3]!];
    const expected = await singles(id, good);
    const before = await counts('mobilenetv2');
    const msg = await send(id, { payload: [good[0], Buffer.from('not an image'), good[1]] });
    const after = await counts('mobilenetv2');
    assert.equal(after.exec - before.exec, 1);
    assert.equal(after.inferences - before.inferences, 2);
    const payload = msg.payload as unknown[];
    assert.equal(payload.length, 3);
    assert.equal(payload[1], null);
    assert.deepEqual([stable(payload[0]), stable(payload[2])], expected);
    const errors = msg.errors as { index: number; code: string; message: string }[];
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.index, 1);
    assert.equal(errors[0]!.code, 'INVALID_IMAGE');
    assert.match(errors[0]!.message, /\w+ \w+/);
    await statusOf(
      id,
      (s) => s.fill === 'yellow' && s.text === 'triton-classify.status.batchPartial',
    );
  });

  it('every image failing, or an empty array: the message fails as a whole, to Catch', async () => {
    const id = await deploy('triton-classify', { model: 'mobilenetv2' });
    let caught = nextMessage('caught');
    helper.getNode(id).receive({ payload: [Buffer.from('x'), Buffer.from('y')] });
    let err = (await caught).error as { message: string; code?: string };
    assert.equal(err.code, 'INVALID_IMAGE');

    caught = nextMessage('caught');
    helper.getNode(id).receive({ payload: [] });
    err = (await caught).error as { message: string; code?: string };
    assert.equal(err.code, 'INVALID_INPUT');
    assert.match(err.message, /empty array/);

    // Every image failing the same way (a model that is not there) is one error too.
    caught = nextMessage('caught');
    helper.getNode(id).receive({ payload: photos, triton: { model: 'no_such_model' } });
    err = (await caught).error as { message: string; code?: string };
    assert.equal(err.code, 'NOT_FOUND');
  });

  it('annotate on: msg.annotated holds one JPEG per image, null where the image failed', async () => {
    const id = await deploy('triton-detect', { model: 'yolov8n', annotate: true });
    const msg = await send(id, { payload: [photos[0], Buffer.from('bad')] });
    const drawn = msg.annotated as (Buffer | null)[];
    assert.equal(drawn.length, 2);
    assert.ok(isJpeg(drawn[0]));
    assert.equal(drawn[1], null);
    const single = await send(id, { payload: photos[0] });
    assert.deepEqual(stable((msg.payload as unknown[])[0]), stable(single.payload));
  });
});

describe('task nodes: dynamic batching across messages (node option, off by default)', function () {
  this.timeout(180000);
  let repo: string;
  let target: ServerTarget;
  const photos = ['bus.jpg', 'astronaut.png', 'chelsea.png', 'coffee.png'].map((f) =>
    fs.readFileSync(fixtureImage(f)),
  );
  /** What a classify node without batching answers for each photo. */
  let expected: unknown[];

  async function deploy(node: Record<string, unknown>): Promise<void> {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-classify', target, {
        id: 'classify',
        model: 'mobilenetv2',
        topK: 3,
        ...node,
      }),
    );
    await statusOf('classify', isStatus('green', 'triton-classify.status.ready'));
  }

  async function counts(): Promise<{ exec: number; inferences: number }> {
    const server = helper.getNode('server') as unknown as ServerNode;
    const [s] = await server.connection!.client.modelStatistics('mobilenetv2');
    return { exec: s!.execution_count, inferences: s!.inference_count };
  }

  before(async () => {
    repo = buildFixtureRepository(SMALL_MODELS);
    target = { mode: 'local', modelRepository: repo };
    await deploy({});
    expected = [];
    for (const image of photos) {
      const got = nextMessage('out');
      helper.getNode('classify').receive({ payload: image });
      expected.push(stable((await got).payload));
    }
    await helper.unload();
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));
  afterEach(() => helper.unload());

  it('four messages, batch size 4: one execution, each message its own result', async () => {
    // A long delay: the batch goes out because it is full, not because a clock ran out.
    await deploy({ batching: true, batchSize: 4, batchDelay: 10000000, concurrency: 1 });
    const before = await counts();
    const got = messages('out', 4);
    photos.forEach((payload, i) => helper.getNode('classify').receive({ payload, topic: `${i}` }));
    const out = await got;
    const after = await counts();
    assert.equal(after.exec - before.exec, 1, 'one batched execution');
    assert.equal(after.inferences - before.inferences, 4);
    const byTopic = new Map(out.map((m) => [Number(m.topic), stable(m.payload)]));
    assert.deepEqual(
      photos.map((_, i) => byTopic.get(i)),
      expected,
    );
  });

  it('a bad image among them fails alone to Catch; the others are answered from one batch', async () => {
    await deploy({ batching: true, batchSize: 3, batchDelay: 10000000 });
    const before = await counts();
    const got = messages('out', 3);
    const caught = nextMessage('caught');
    const node = helper.getNode('classify');
    node.receive({ payload: photos[0], topic: '0' });
    node.receive({ payload: Buffer.from('not an image'), topic: 'bad' });
    node.receive({ payload: photos[2], topic: '2' });
    node.receive({ payload: photos[3], topic: '3' });
    const failed = await caught;
    assert.equal(failed.topic, 'bad');
    assert.equal((failed.error as { code?: string }).code, 'INVALID_IMAGE');
    const out = await got;
    const after = await counts();
    assert.equal(after.exec - before.exec, 1);
    assert.equal(after.inferences - before.inferences, 3);
    const byTopic = new Map(out.map((m) => [m.topic, stable(m.payload)]));
    assert.deepEqual(
      ['0', '2', '3'].map((t) => byTopic.get(t)),
      [expected[0], expected[2], expected[3]],
    );
  });

  it('batch size 0 takes the model’s max_batch_size; a short delay still answers every message', async () => {
    await deploy({ batching: true, batchSize: 0, batchDelay: 1000 });
    const before = await counts();
    const got = messages('out', 3);
    photos
      .slice(0, 3)
      .forEach((payload, i) => helper.getNode('classify').receive({ payload, topic: `${i}` }));
    const out = await got;
    const after = await counts();
    assert.equal(after.inferences - before.inferences, 3);
    assert.ok(after.exec - before.exec <= 3);
    const byTopic = new Map(out.map((m) => [Number(m.topic), stable(m.payload)]));
    assert.deepEqual(
      [0, 1, 2].map((i) => byTopic.get(i)),
      expected.slice(0, 3),
    );
  });
});
