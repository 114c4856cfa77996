/**
 * The triton-track node in a real Node-RED: track ids per topic, counts and events on the second output, msg.reset,
 * per-message lines, crops split into joinable messages, and coded errors for Catch nodes.
 */
import { strict as assert } from 'node:assert';
import sharp from 'sharp';
import tritonTrack from '../../src/nodes/triton-track';
import type { NodeMessage } from '../../src/nodes/types';
import { helper } from '../support/flows';

const splitJoin: unknown = require('@node-red/nodes/core/sequence/17-split.js');

const AT = { z: 'flow', x: 0, y: 0 };

function flow(settings: Record<string, unknown>, joinOut = false): object[] {
  return [
    { id: 'flow', type: 'tab' },
    {
      id: 'track',
      type: 'triton-track',
      ...AT,
      ...settings,
      wires: [[joinOut ? 'join' : 'out'], ['events']],
    },
    ...(joinOut ? [{ id: 'join', type: 'join', mode: 'auto', ...AT, wires: [['out']] }] : []),
    { id: 'out', type: 'helper', ...AT },
    { id: 'events', type: 'helper', ...AT },
    { id: 'catch', type: 'catch', scope: null, ...AT, wires: [['caught']] },
    { id: 'caught', type: 'helper', ...AT },
  ];
}

/** A person at centre x, 40 px wide, 80 tall. */
const person = (cx: number) => ({
  label: 'person',
  classId: 0,
  score: 0.9,
  box: { x1: cx - 20, y1: 100, x2: cx + 20, y2: 180 },
});

/** Sends msgs one by one, collecting what reaches `out` and `events` until each expected count. */
async function run(
  msgs: NodeMessage[],
  expectOut: number,
): Promise<{ out: NodeMessage[]; events: NodeMessage[] }> {
  const out: NodeMessage[] = [];
  const events: NodeMessage[] = [];
  helper.getNode('events').on('input', (m: never) => events.push(m));
  await new Promise<void>((resolve) => {
    helper.getNode('out').on('input', (m: never) => {
      out.push(m);
      if (out.length === expectOut) resolve();
    });
    for (const m of msgs) helper.getNode('track').receive(m);
  });
  return { out, events };
}

describe('triton-track node (runtime)', function () {
  this.timeout(20000);
  afterEach(() => helper.unload());

  it('gives track ids per topic, counts a line and sends crossing events on output 2', async () => {
    await helper.load([tritonTrack], flow({ lines: '100,0,100,300' }));
    const msgs: NodeMessage[] = [];
    for (let i = 0; i < 8; i++) {
      msgs.push({ topic: 'cam1', payload: { detections: [person(40 + 20 * i)] } });
      msgs.push({ topic: 'cam2', payload: { detections: [person(300), person(500)] } });
    }
    const { out, events } = await run(msgs, 16);
    const last1 = out[14].payload as {
      detections: { trackId: number }[];
      lines: { in: number; out: number }[];
      tracking: { stream: string; frame: number };
    };
    assert.deepEqual(
      last1.detections.map((d) => d.trackId),
      [1],
    );
    assert.equal(last1.lines[0].in, 1);
    assert.deepEqual(last1.tracking, { stream: 'cam1', frame: 8 });
    const last2 = out[15].payload as { detections: { trackId: number }[] };
    assert.deepEqual(
      last2.detections.map((d) => d.trackId),
      [1, 2],
    );
    assert.equal(events.length, 1);
    assert.equal(events[0].topic, 'cam1');
    assert.deepEqual(
      (({ type, direction, trackId, label }) => ({ type, direction, trackId, label }))(
        events[0].payload as Record<string, unknown>,
      ),
      { type: 'crossed', direction: 'in', trackId: 1, label: 'person' },
    );
  });

  it('msg.reset forgets a stream: its ids start again', async () => {
    await helper.load([tritonTrack], flow({}));
    const d = { detections: [person(100), person(300)] };
    const { out } = await run(
      [
        { topic: 'a', payload: { detections: [person(100)] } },
        { topic: 'a', payload: d },
        { topic: 'a', payload: d },
        { topic: 'a', reset: true },
        { topic: 'a', payload: d },
      ],
      4,
    );
    const ids = out.map((m) =>
      (m.payload as { detections: { trackId: number }[] }).detections.map((x) => x.trackId),
    );
    // The second person appears on frame 2, is shown from frame 3; after the reset, frame 1 again.
    assert.deepEqual(ids, [[1], [1], [1, 2], [1, 2]]);
  });

  it('msg.triton.lines replaces the lines of that stream; repeating them keeps the counts', async () => {
    await helper.load([tritonTrack], flow({ lines: '100,0,100,300' }));
    const msgs: NodeMessage[] = [];
    for (let i = 0; i < 16; i++) {
      msgs.push({
        topic: 'x',
        payload: { detections: [person(120 + 10 * i)] },
        triton: { lines: ['200,0,200,300'] },
      });
    }
    const { out } = await run(msgs, 16);
    const counts = out.map((m) => (m.payload as { lines: { in: number }[] }).lines[0].in);
    // Box x from 100 + 10i to 140 + 10i: all corners strictly past x = 200 from i = 11. (The
    // configured line at x = 100 would never count: the box starts on it.)
    assert.deepEqual(counts, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  });

  it('splits crops into one message per detection that a join node reassembles in order', async () => {
    await helper.load(
      [tritonTrack, splitJoin],
      flow({ crops: true, split: true, cropPadding: 4 }, true),
    );
    const image = await sharp({
      create: { width: 640, height: 240, channels: 3, background: { r: 20, g: 120, b: 200 } },
    })
      .jpeg()
      .toBuffer();
    const frame = { detections: [person(100), person(300), person(500)] };
    const { out } = await run(
      [
        { topic: 't', payload: frame, image },
        { topic: 't', payload: frame, image },
      ],
      2,
    );
    const joined = out[1].payload as Buffer[];
    assert.equal(joined.length, 3);
    for (const jpeg of joined) {
      const meta = await sharp(jpeg).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 48, 88]);
    }
  });

  it('sends a coded error to a Catch node when the payload has no detections or the image is missing', async () => {
    await helper.load([tritonTrack], flow({ annotate: true }));
    const caught: NodeMessage[] = [];
    await new Promise<void>((resolve) => {
      helper.getNode('caught').on('input', (m: never) => {
        caught.push(m);
        if (caught.length === 2) resolve();
      });
      helper.getNode('track').receive({ payload: 'hello' });
      helper.getNode('track').receive({ payload: { detections: [] } });
    });
    const errs = caught.map((m) => m.error as { code?: string; message: string });
    assert.equal(errs[0].code, 'INVALID_INPUT');
    assert.match(errs[0].message, /needs a detections array/);
    assert.match(errs[1].message, /original image in msg.image/);
  });

  it('refuses a bad line at deploy with INVALID_CONFIG on every message', async () => {
    await helper.load([tritonTrack], flow({ lines: '1,2,3' }));
    const track = helper.getNode('track');
    const caught = await new Promise<NodeMessage>((resolve) => {
      helper.getNode('caught').on('input', resolve as never);
      track.receive({ payload: { detections: [] } });
    });
    const err = caught.error as { code: string; message: string };
    assert.equal(err.code, 'INVALID_CONFIG');
    assert.match(err.message, /'lines' must be one line x1,y1,x2,y2/);
  });

  it('a bad msg.triton.lines fails that message with INVALID_OPTION; the next one still tracks', async () => {
    await helper.load([tritonTrack], flow({}));
    const caught: NodeMessage[] = [];
    helper.getNode('caught').on('input', (m: never) => caught.push(m));
    const { out } = await run(
      [
        { topic: 'a', payload: { detections: [person(100)] }, triton: { lines: ['1,2,3'] } },
        { topic: 'a', payload: { detections: [person(100)] } },
      ],
      1,
    );
    assert.equal((caught[0]!.error as { code: string }).code, 'INVALID_OPTION');
    assert.equal((out[0]!.payload as { tracking: { frame: number } }).tracking.frame, 1);
  });
});
