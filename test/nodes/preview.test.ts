/**
 * The editor preview from the runtime side: with Preview on, a task node publishes a small
 * annotated JPEG on RED.comms (topic triton-vision/preview/<node id>) before the message moves
 * on; with it off, nothing is published; a failing publish never fails the message.
 */
import * as assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import sharp from 'sharp';
import { migrateTask, taskSettings } from '../../src/nodes/config';
import type { NodeMessage } from '../../src/nodes/types';
import { colourFor } from '../../src/vision/annotate';
import type { Detection } from '../../src/vision/types';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  SMALL_MODELS,
  helper,
  nextMessage,
  taskFlow,
  within,
  type ServerTarget,
} from '../support/flows';

const PREFIX = 'triton-vision/preview/';

interface CommsEvent {
  topic: string;
  data: unknown;
  retain: boolean;
}

/** The runtime's event bus: RED.comms.publish in a node emits 'comms' on it. */
const runtimeEvents = (): EventEmitter => (helper as unknown as { _events: EventEmitter })._events;

/** Every comms event published from now on (call stop() to detach). */
function recordComms(): { events: CommsEvent[]; stop(): void } {
  const events: CommsEvent[] = [];
  const on = (e: CommsEvent): void => {
    events.push(e);
  };
  runtimeEvents().on('comms', on);
  return { events, stop: () => runtimeEvents().off('comms', on) };
}

function previewsOf(events: CommsEvent[]): CommsEvent[] {
  return events.filter((e) => e.topic.startsWith(PREFIX));
}

/** The JPEG inside a `data:image/jpeg;base64,` URL. */
function jpegOf(url: unknown): Buffer {
  assert.equal(typeof url, 'string');
  const m = /^data:image\/jpeg;base64,([A-Za-z0-9+/]+=*)$/.exec(url as string);
  assert.ok(m, `not a JPEG data URL: ${String(url).slice(0, 40)}…`);
  const bytes = Buffer.from(m[1]!, 'base64');
  // JPEG files start with the SOI marker FF D8 FF.
  assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  return bytes;
}

describe('task nodes: editor preview over RED.comms', function () {
  this.timeout(60000);
  let repo: string;
  let target: ServerTarget;
  const bus = fs.readFileSync(fixtureImage('bus.jpg'));

  before(() => {
    repo = buildFixtureRepository(SMALL_MODELS);
    target = { mode: 'local', modelRepository: repo };
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));
  afterEach(() => helper.unload());

  it('config: preview is off by default, and a flow saved without it migrates to off', () => {
    assert.equal(migrateTask({ version: 1, model: 'm' }).preview, false);
    assert.equal(migrateTask({}).preview, false);
    assert.equal(taskSettings({}).preview, false);
    assert.equal(taskSettings({ preview: true }).preview, true);
    assert.equal(taskSettings({ preview: 'true' }).preview, true);
  });

  it('detect with Preview on publishes an annotated thumbnail (≤ 320 px wide) before sending', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-detect', target, { model: 'yolov8n', preview: true, annotate: false }),
    );
    const comms = recordComms();
    try {
      const out = nextMessage('out');
      helper.getNode('detect').receive({ payload: bus });
      const msg = await out;
      const previews = previewsOf(comms.events);
      assert.equal(previews.length, 1, 'one preview per result, published before the send');
      assert.equal(previews[0]!.topic, `${PREFIX}detect`);
      assert.equal(previews[0]!.retain, false);
      // Preview draws its own picture: msg.annotated stays off when Draw the result is off.
      assert.equal(msg.annotated, undefined);

      const jpeg = jpegOf(previews[0]!.data);
      // bus.jpg is 810×1080; fit inside 320×240 → scale 240/1080 → 180×240.
      const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
      assert.equal(info.width, 180);
      assert.equal(info.height, 240);

      // The best detection's label tab is filled with its class colour at the box's top-left
      // corner (above the box, or inside it at the image's top edge).
      const best = (msg.payload as { detections: Detection[] }).detections[0]!;
      const scale = 240 / 1080;
      const colour = colourFor(best.classId);
      const x0 = Math.round(best.box.x1 * scale);
      const y0 = Math.round(best.box.y1 * scale);
      let nearest = Infinity;
      for (let y = Math.max(0, y0 - 12); y <= Math.min(info.height - 1, y0 + 12); y++) {
        for (let x = Math.max(0, x0); x <= Math.min(info.width - 1, x0 + 20); x++) {
          const i = (y * info.width + x) * info.channels;
          const d = Math.hypot(
            data[i]! - colour[0],
            data[i + 1]! - colour[1],
            data[i + 2]! - colour[2],
          );
          nearest = Math.min(nearest, d);
        }
      }
      assert.ok(
        nearest < 30,
        `no ${best.label} label colour at its box corner (distance ${nearest})`,
      );
    } finally {
      comms.stop();
    }
  });

  it('classify with Preview on publishes a thumbnail of the photo with its classes', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-classify', target, { model: 'mobilenetv2', preview: true }),
    );
    const comms = recordComms();
    try {
      const out = nextMessage('out');
      helper.getNode('classify').receive({ payload: fs.readFileSync(fixtureImage('chelsea.png')) });
      await out;
      const previews = previewsOf(comms.events);
      assert.deepEqual(
        previews.map((e) => e.topic),
        [`${PREFIX}classify`],
      );
      const meta = await sharp(jpegOf(previews[0]!.data)).metadata();
      // chelsea.png is 451×300; fit inside 320×240 → scale 320/451 → 320×213.
      assert.equal(meta.format, 'jpeg');
      assert.equal(meta.width, 320);
      assert.equal(meta.height, 213);
    } finally {
      comms.stop();
    }
  });

  it('decodes the photo once per message when both Draw the result and Preview are on', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-detect', target, { model: 'yolov8n', preview: true, annotate: true }),
    );
    // Every decode of an encoded image starts with a header read (sharp's metadata());
    // pixels handed on as a raw frame need none. Counting those counts the decodes.
    const proto = sharp.prototype as unknown as { metadata: (...a: unknown[]) => unknown };
    const original = proto.metadata;
    let headerReads = 0;
    proto.metadata = function (this: unknown, ...args: unknown[]) {
      headerReads++;
      return original.apply(this, args);
    };
    const comms = recordComms();
    try {
      const out = nextMessage('out');
      helper.getNode('detect').receive({ payload: bus });
      const msg = await out;
      assert.equal(previewsOf(comms.events).length, 1, 'the preview was drawn');
      const annotated = await sharp(msg.annotated as Buffer).metadata();
      assert.deepEqual([annotated.format, annotated.width, annotated.height], ['jpeg', 810, 1080]);
      assert.equal(headerReads, 1 + 1, 'one decode of bus.jpg (+ the metadata() just above)');
      assert.ok(Buffer.isBuffer(msg.image), 'msg.image keeps the photo as it was sent');
    } finally {
      proto.metadata = original;
      comms.stop();
    }
  });

  it('with Preview off nothing is published', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-detect', target, { model: 'yolov8n', annotate: true }),
    );
    const comms = recordComms();
    try {
      const out = nextMessage('out');
      helper.getNode('detect').receive({ payload: bus });
      const msg = await out;
      assert.ok(Buffer.isBuffer(msg.annotated), 'the result itself was produced');
      assert.deepEqual(previewsOf(comms.events), []);
    } finally {
      comms.stop();
    }
  });

  it('a publish that throws never fails the message: one warning, results still sent', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow('triton-detect', target, { model: 'yolov8n', preview: true }),
    );
    const broken = (e: CommsEvent): void => {
      if (e.topic.startsWith(PREFIX)) throw new Error('editor connection lost');
    };
    runtimeEvents().on('comms', broken);
    const node = helper.getNode('detect');
    const warnings: unknown[] = [];
    node.on('call:warn', (call: { args: unknown[] }) => warnings.push(call.args[0]));
    const caught: NodeMessage[] = [];
    helper.getNode('caught').on('input', (m: NodeMessage) => caught.push(m));
    try {
      for (let i = 0; i < 2; i++) {
        const out = nextMessage('out');
        node.receive({ payload: bus });
        const msg = await out;
        assert.ok(Array.isArray((msg.payload as { detections: unknown[] }).detections));
      }
      // The warning spy reports on the next tick; wait for it rather than sleeping.
      await within(
        5000,
        'the preview warning',
        new Promise<void>((resolve) => {
          const check = (): void => (warnings.length > 0 ? resolve() : void setImmediate(check));
          check();
        }),
      );
      assert.equal(warnings.length, 1, 'warned once, not per message');
      assert.equal(warnings[0], 'triton-detect.errors.previewFailed');
      assert.deepEqual(caught, [], 'no message failed');
    } finally {
      runtimeEvents().off('comms', broken);
    }
  });
});
