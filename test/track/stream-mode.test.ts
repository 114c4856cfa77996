/**
 * Stream mode of the task nodes in a real Node-RED, with the bundled YOLOX-nano in local mode:
 * "latest frame only" replaces a waiting frame of the same stream quietly (no Catch, counted in
 * the status and msg.stream), "every Nth frame" runs frames 1, N+1, ... of each msg.topic, and a
 * bad setting is refused at deploy with the schema's sentence.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeMessage } from '../../src/nodes/types';
import {
  ALL_NODES,
  helper,
  isStatus,
  messages,
  nextMessage,
  statusOf,
  taskFlow,
} from '../support/flows';

const ROOT = path.resolve(__dirname, '..', '..');
const local = { mode: 'local' as const, modelRepository: path.join(ROOT, 'models', 'demo') };
const MODEL = 'Detect_COCO_YOLOXnano_ONNX';
const photo = fs.readFileSync(path.join(ROOT, 'models', 'photos', 'chelsea.png'));

/** The task flow plus a complete node on the detect node: every done() shows up there. */
function flow(node: Record<string, unknown>): object[] {
  return [
    ...taskFlow('triton-detect', local, { id: 'detect', model: MODEL, ...node }),
    {
      id: 'finished',
      type: 'complete',
      z: 'flow',
      scope: ['detect'],
      x: 1,
      y: 1,
      wires: [['ended']],
    },
    { id: 'ended', type: 'helper', z: 'flow', x: 1, y: 1 },
  ];
}

interface Stream {
  key: string;
  mode: string;
  replaced: number;
  skipped: number;
}

describe('task nodes: stream mode (latest frame only, every Nth frame)', function () {
  this.timeout(60000);
  afterEach(() => helper.unload());

  it('latest frame only: newer frames of a topic replace its waiting frame, quietly and counted', async () => {
    await helper.load(
      ALL_NODES,
      flow({ concurrency: 1, queueLimit: 5, streamMode: 'latest', streamProperty: 'topic' }),
    );
    await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
    const caught: NodeMessage[] = [];
    helper.getNode('caught').on('input', (m: never) => caught.push(m));
    const outs = messages('out', 3);
    const ended = messages('ended', 6);
    // a1 runs; b2 and a3 wait; b4, a5, b6 each replace the waiting frame of their topic.
    const sent = ['a1', 'b2', 'a3', 'b4', 'a5', 'b6'];
    for (const id of sent) {
      helper.getNode('detect').receive({ topic: id[0], payload: photo, frame: id });
    }
    const answered = await outs;
    assert.deepEqual(
      answered.map((m) => m.frame),
      ['a1', 'b6', 'a5'],
    );
    // Every message ended (complete node), none reached the Catch node.
    assert.equal((await ended).length, 6);
    assert.deepEqual(caught, []);
    const last = answered[2]!;
    assert.deepEqual(last.stream as Stream, { key: 'a', mode: 'latest', replaced: 3, skipped: 0 });
    assert.ok(
      (last.payload as { detections: { label: string }[] }).detections.some(
        (d) => d.label === 'cat',
      ),
    );
    await statusOf('detect', isStatus('green', 'triton-detect.status.okReplaced'));
  });

  it('every Nth frame: frames 1, N+1, 2N+1 of each topic run, the others end at once', async () => {
    await helper.load(ALL_NODES, flow({ streamMode: 'nth', everyNth: '3' }));
    await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
    const outs = messages('out', 5);
    const ended = messages('ended', 11);
    const sent: string[] = [];
    for (let i = 1; i <= 7; i++) sent.push(`a${i}`);
    for (let i = 1; i <= 4; i++) sent.push(`b${i}`);
    for (const id of sent) {
      helper.getNode('detect').receive({ topic: id[0], payload: photo, frame: id });
    }
    const answered = await outs;
    assert.deepEqual(
      answered.map((m) => m.frame),
      ['a1', 'a4', 'a7', 'b1', 'b4'],
    );
    assert.equal((await ended).length, 11);
    assert.equal((answered[4]!.stream as Stream).skipped, 6);
    await statusOf('detect', isStatus('green', 'triton-detect.status.okSkipped'));
  });

  it('every message (the default) adds nothing: no msg.stream', async () => {
    await helper.load(ALL_NODES, flow({}));
    helper.getNode('detect').receive({ topic: 'a', payload: photo });
    const out = await nextMessage('out');
    assert.equal(out.stream, undefined);
  });

  it('refuses a bad Every Nth at deploy: each message caught with INVALID_CONFIG and the sentence', async () => {
    await helper.load(ALL_NODES, flow({ streamMode: 'nth', everyNth: '0' }));
    helper.getNode('detect').receive({ topic: 'a', payload: photo });
    const caught = await nextMessage('caught');
    const err = caught.error as { code: string; message: string };
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.match(err.message, /'everyNth' must be a whole number of at least 1/);
  });
});
