/**
 * Crops for a second stage and split-style messages: the crop window's geometry from first
 * principles, real JPEG crops of a two-colour image, and a round trip through Node-RED's own
 * join node (automatic mode) — plus the same msg.parts as Node-RED's split node makes.
 */
import { strict as assert } from 'node:assert';
import sharp from 'sharp';
import type { NodeMessage } from '../../src/nodes/types';
import { cropDetections, cropRect, splitMessages } from '../../src/vision/track/crops';
import { helper } from '../support/flows';

const splitJoin: unknown = require('@node-red/nodes/core/sequence/17-split.js');

describe('crop geometry', () => {
  it('rounds the box outwards to whole pixels', () => {
    assert.deepEqual(cropRect({ x1: 10.2, y1: 20.7, x2: 30.5, y2: 40 }, 200, 100), {
      left: 10,
      top: 20,
      width: 21,
      height: 20,
    });
  });

  it('adds padding on every side', () => {
    assert.deepEqual(cropRect({ x1: 10.2, y1: 20.7, x2: 30.5, y2: 40 }, 200, 100, { padding: 5 }), {
      left: 5,
      top: 15,
      width: 31,
      height: 30,
    });
  });

  it('grows a small box around its centre to the minimum size', () => {
    assert.deepEqual(cropRect({ x1: 95, y1: 45, x2: 105, y2: 55 }, 200, 100, { minSize: 64 }), {
      left: 68,
      top: 18,
      width: 64,
      height: 64,
    });
  });

  it('slides a window at the border back inside, keeping its size', () => {
    assert.deepEqual(cropRect({ x1: 0, y1: 90, x2: 10, y2: 100 }, 200, 100, { minSize: 64 }), {
      left: 0,
      top: 36,
      width: 64,
      height: 64,
    });
  });

  it('never exceeds the image, even when the minimum size does', () => {
    assert.deepEqual(cropRect({ x1: 10, y1: 10, x2: 20, y2: 20 }, 200, 100, { minSize: 500 }), {
      left: 0,
      top: 0,
      width: 200,
      height: 100,
    });
  });

  it('refuses bad options and boxes with coded errors', () => {
    const b = { x1: 0, y1: 0, x2: 1, y2: 1 };
    assert.throws(() => cropRect(b, 10, 10, { padding: -1 }), { code: 'INVALID_OPTION' });
    assert.throws(() => cropRect(b, 10, 10, { minSize: 0 }), { code: 'INVALID_OPTION' });
    assert.throws(() => cropRect(b, 10, 10, { quality: 101 }), { code: 'INVALID_OPTION' });
    assert.throws(() => cropRect({ x1: 0 } as never, 10, 10), { code: 'INVALID_INPUT' });
  });
});

describe('JPEG crops', () => {
  /** 200x100: red left half, blue right half. */
  async function twoColours(): Promise<Buffer> {
    const raw = Buffer.alloc(200 * 100 * 3);
    for (let y = 0; y < 100; y++) {
      for (let x = 0; x < 200; x++) {
        raw[(y * 200 + x) * 3 + (x < 100 ? 0 : 2)] = 255;
      }
    }
    return sharp(raw, { raw: { width: 200, height: 100, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
  }

  it('cuts each detection out of the image at its window, as a JPEG', async () => {
    const image = await twoColours();
    const crops = await cropDetections(
      image,
      [{ box: { x1: 10, y1: 10, x2: 50, y2: 40 } }, { box: { x1: 140, y1: 50, x2: 190, y2: 95 } }],
      { padding: 2 },
    );
    assert.deepEqual(
      crops.map((c) => [c.index, c.rect]),
      [
        [0, { left: 8, top: 8, width: 44, height: 34 }],
        [1, { left: 138, top: 48, width: 54, height: 49 }],
      ],
    );
    const colours = [];
    for (const c of crops) {
      assert.equal(c.jpeg[0], 0xff);
      assert.equal(c.jpeg[1], 0xd8);
      const meta = await sharp(c.jpeg).metadata();
      assert.deepEqual([meta.width, meta.height], [c.rect.width, c.rect.height]);
      const { channels } = await sharp(c.jpeg).stats();
      colours.push(channels.map((ch) => Math.round(ch.mean / 255)));
    }
    assert.deepEqual(colours, [
      [1, 0, 0],
      [0, 0, 1],
    ]);
  });

  it('rejects what is not an image with INVALID_IMAGE', async () => {
    await assert.rejects(cropDetections(Buffer.from('not a picture'), []), {
      code: 'INVALID_IMAGE',
    });
  });
});

describe('split-style messages and a join node', function () {
  this.timeout(20000);
  afterEach(() => helper.unload());

  it('sets msg.parts exactly as the split node does for an array', async () => {
    await helper.load(
      [splitJoin],
      [
        {
          id: 'split',
          type: 'split',
          z: 'f',
          x: 0,
          y: 0,
          arraySplt: 1,
          arraySpltType: 'len',
          wires: [['out']],
        },
        { id: 'out', type: 'helper', z: 'f', x: 0, y: 0 },
        { id: 'f', type: 'tab' },
      ],
    );
    const values = ['a', 'b', 'c'];
    const got: NodeMessage[] = [];
    await new Promise<void>((resolve) => {
      helper.getNode('out').on('input', (m: never) => {
        got.push(m);
        if (got.length === values.length) resolve();
      });
      helper.getNode('split').receive({ payload: values, topic: 't' });
    });
    const ours = splitMessages({ payload: values, topic: 't', _msgid: 'x' }, values);
    const strip = (m: NodeMessage) => {
      const { _msgid: _m, parts, ...rest } = m as NodeMessage & { parts: { id: string } };
      assert.match(parts.id, /^[0-9a-f]+$/);
      return { ...rest, parts: { ...parts, id: 'ID' } };
    };
    assert.deepEqual(ours.map(strip), got.map(strip));
  });

  it('a join node in automatic mode puts per-detection results back in order', async () => {
    await helper.load(
      [splitJoin],
      [
        { id: 'join', type: 'join', z: 'f', x: 0, y: 0, mode: 'auto', wires: [['out']] },
        { id: 'out', type: 'helper', z: 'f', x: 0, y: 0 },
        { id: 'f', type: 'tab' },
      ],
    );
    const detections = [
      { label: 'cup', trackId: 3 },
      { label: 'bottle', trackId: 5 },
      { label: 'cup', trackId: 9 },
    ];
    const msgs = splitMessages({ payload: { detections }, topic: 'belt' }, detections, (i) => ({
      detection: detections[i],
    }));
    assert.equal(msgs[1].detection, detections[1]);
    const joined = await new Promise<NodeMessage>((resolve) => {
      helper.getNode('out').on('input', resolve as never);
      // A second stage answers out of order: the join still orders by parts.index.
      for (const m of [msgs[2], msgs[0], msgs[1]]) {
        helper.getNode('join').receive({
          ...m,
          payload: `class of ${(m.payload as { label: string }).label}`,
        } as never);
      }
    });
    assert.deepEqual(joined.payload, ['class of cup', 'class of bottle', 'class of cup']);
    assert.equal(joined.topic, 'belt');
  });

  it('keeps an incoming msg.parts as a stack, as the split node does', () => {
    const outer = { id: 'outer', index: 2, count: 4, type: 'array', len: 1 };
    const [m] = splitMessages({ payload: [1], parts: outer }, [1]);
    assert.deepEqual(m.parts.parts, outer);
    assert.equal(splitMessages({ payload: [] }, []).length, 0);
  });
});
