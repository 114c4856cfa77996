/**
 * Each task node over gRPC, HTTP and in-process: the output follows the message
 * contract and equals what the vision library's runTask gives for the same image.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createClient } from '../../src/client';
import type { InferenceClient } from '../../src/protocol/types';
import { runTask, type TaskOptions, type TaskResult } from '../../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  SMALL_MODELS,
  helper,
  isStatus,
  nextMessage,
  statusOf,
  taskFlow,
  type Mode,
  type ServerTarget,
} from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

type TaskType = 'triton-detect' | 'triton-segment' | 'triton-classify';

interface Case {
  type: TaskType;
  model: string;
  image: string;
  node: Record<string, unknown>;
  options: TaskOptions;
}

const CASES: Case[] = [
  {
    type: 'triton-detect',
    model: 'yolov8n',
    image: 'bus.jpg',
    node: { confidence: 0.25, iou: 0.45, maxDetections: 300 },
    options: { expectTask: 'detect', confidence: 0.25, iou: 0.45, maxDetections: 300 },
  },
  {
    type: 'triton-segment',
    model: 'yolov8n_seg',
    image: 'bus.jpg',
    node: { maskFormat: 'rle' },
    options: { expectTask: 'segment', confidence: 0.25, iou: 0.45, maxDetections: 300, rle: true },
  },
  {
    type: 'triton-classify',
    model: 'mobilenetv2',
    image: 'chelsea.png',
    node: { topK: 3 },
    options: { expectTask: 'classify', topK: 3 },
  },
];

function withoutTimings(r: object): object {
  const { timings: _t, annotated: _a, ...rest } = r as TaskResult;
  return JSON.parse(JSON.stringify(rest));
}

describe('task nodes: detect, segment, classify on every transport', function () {
  this.timeout(120000);
  let serve: ServeHandle;
  let repo: string;

  before(async () => {
    repo = buildFixtureRepository(SMALL_MODELS);
    serve = await startServe({ repository: repo });
  });
  after(async () => {
    await serve?.stop();
    fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(() => helper.unload());

  const targets = (): Record<Mode, ServerTarget> => ({
    grpc: { mode: 'grpc', grpcPort: serve.grpcPort },
    http: { mode: 'http', httpPort: serve.httpPort },
    local: { mode: 'local', modelRepository: repo },
  });

  for (const mode of ['grpc', 'http', 'local'] as Mode[]) {
    for (const c of CASES) {
      it(`${c.type} over ${mode}: contract-shaped output equal to runTask's`, async () => {
        const target = targets()[mode];
        const id = c.type.replace('triton-', '');
        await helper.load(ALL_NODES, taskFlow(c.type, target, { id, model: c.model, ...c.node }));
        await statusOf(id, isStatus('green', `${c.type}.status.ready`));
        const image = fs.readFileSync(fixtureImage(c.image));
        const got = nextMessage('out');
        helper.getNode(id).receive({ payload: image, topic: 'camera-1' });
        const msg = await got;

        // Independent reference: the library itself, over its own client.
        const client: InferenceClient = createClient(
          mode === 'local'
            ? { mode, modelRepository: repo }
            : { mode, host: '127.0.0.1', port: mode === 'grpc' ? serve.grpcPort : serve.httpPort },
        );
        let expected: TaskResult;
        try {
          expected = await runTask(client, c.model, image, c.options);
        } finally {
          await client.close();
        }

        assert.equal(msg.topic, 'camera-1');
        assert.equal(typeof msg._msgid, 'string');
        assert.ok(Buffer.isBuffer(msg.image) && (msg.image as Buffer).equals(image));
        const payload = msg.payload as TaskResult;
        assert.deepEqual(withoutTimings(payload), withoutTimings(expected));
        assert.equal(payload.task, id);
        assert.equal(payload.model.name, c.model);
        for (const k of [
          'decodeMs',
          'preprocessMs',
          'inferMs',
          'postprocessMs',
          'totalMs',
        ] as const) {
          assert.ok(payload.timings[k] >= 0, k);
        }
        if (id === 'classify') {
          assert.equal(payload.classes!.length, 3);
        } else {
          assert.ok(payload.detections!.length > 0, 'the bus photo has objects');
          for (const d of payload.detections!) {
            assert.ok(d.boxNormalized.x2 <= 1 && d.boxNormalized.x1 >= 0);
            if (id === 'segment') assert.ok(d.mask && d.mask.rle && d.mask.polygon.length > 2);
          }
        }
        await statusOf(id, (s) => s.fill === 'green' && s.text === `${c.type}.status.ok`);
      });
    }
  }

  it('annotate on: msg.annotated is a JPEG; keepImage off: no msg.image; custom input property', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-segment', targets().grpc, {
        id: 'segment',
        model: 'yolov8n_seg',
        maskFormat: 'png',
        annotate: true,
        keepImage: false,
        input: 'frame',
      }),
    );
    const image = fs.readFileSync(fixtureImage('coffee.png'));
    const got = nextMessage('out');
    helper.getNode('segment').receive({ frame: image, payload: 'ignored' });
    const msg = await got;
    const annotated = msg.annotated as Buffer;
    assert.ok(Buffer.isBuffer(annotated));
    assert.deepEqual([...annotated.subarray(0, 3)], [0xff, 0xd8, 0xff], 'JPEG SOI marker');
    assert.equal(msg.image, undefined);
    assert.equal(msg.frame, undefined);
    const payload = msg.payload as TaskResult;
    assert.deepEqual(payload.image, { width: 600, height: 400 });
    for (const d of payload.detections!) {
      const png = d.mask!.png!;
      assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'PNG signature');
    }
  });

  it('msg.triton overrides the node: a higher confidence keeps only stronger detections', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-detect', targets().http, { id: 'detect', model: 'yolov8n' }),
    );
    const image = fs.readFileSync(fixtureImage('bus.jpg'));
    const first = nextMessage('out');
    helper.getNode('detect').receive({ payload: image });
    const all = ((await first).payload as TaskResult).detections!;
    const second = nextMessage('out');
    helper
      .getNode('detect')
      .receive({ payload: image, triton: { confidence: 0.5, classes: ['bus'] } });
    const strong = ((await second).payload as TaskResult).detections!;
    const expected = all.filter((d) => d.score > 0.5 && d.label === 'bus');
    assert.ok(expected.length >= 1);
    assert.deepEqual(
      strong.map((d) => d.label),
      expected.map((d) => d.label),
    );
  });
});
