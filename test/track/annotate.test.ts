/**
 * The tracked frame drawn: lines in white with their in/out counts, zones tinted with their
 * counts, boxes labelled with their track ids — checked on the SVG and on real pixels.
 */
import { strict as assert } from 'node:assert';
import sharp from 'sharp';
import { annotateTracking, trackOverlay } from '../../src/vision/track/annotate';
import type { LineSpec, ZoneSpec } from '../../src/vision/track/streams';

const lines: LineSpec[] = [{ start: { x: 40, y: 20 }, end: { x: 40, y: 220 } }];
const zones: ZoneSpec[] = [
  {
    polygon: [
      { x: 200, y: 20 },
      { x: 300, y: 20 },
      { x: 300, y: 120 },
      { x: 200, y: 120 },
    ],
  },
];
const frame = {
  detections: [
    {
      label: 'person',
      classId: 0,
      score: 0.9,
      box: { x1: 100, y1: 150, x2: 140, y2: 230 },
      trackId: 3,
    },
  ],
  lines: [{ name: 'door', in: 2, out: 1, inPerClass: {}, outPerClass: {} }],
  zones: [{ name: 'dock', count: 4, perClass: {} }],
};

describe('drawing a tracked frame', () => {
  it('writes the counts and the geometry into the overlay', () => {
    const svg = trackOverlay(320, 240, lines, zones, frame);
    assert.match(svg, /door: in 2 · out 1/);
    assert.match(svg, /dock: 4/);
    assert.match(svg, /<polygon points="200,20 300,20 300,120 200,120"/);
    assert.match(svg, /<line x1="40" y1="20" x2="40" y2="220"/);
  });

  it('draws the line, the zone and the labelled box on the image', async () => {
    const grey = await sharp({
      create: { width: 320, height: 240, channels: 3, background: { r: 60, g: 60, b: 60 } },
    })
      .png()
      .toBuffer();
    const out = await annotateTracking(grey, frame, { lines, zones }, { format: 'png' });
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    const px = (x: number, y: number) => [
      ...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3),
    ];
    assert.deepEqual([info.width, info.height], [320, 240]);
    assert.deepEqual(px(40, 200), [255, 255, 255]); // on the line
    assert.deepEqual(px(10, 200), [60, 60, 60]); // away from everything
    const zone = px(290, 110);
    assert.notDeepEqual(zone, [60, 60, 60]); // tinted inside the zone
    assert.notDeepEqual(px(120, 229), [60, 60, 60]); // box outline
  });
});
