import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import sharp from 'sharp';
import { annotate, buildOverlay, colourFor, escapeSvg, PALETTE } from '../../src/vision/annotate';
import { decodeImage } from '../../src/vision/image';
import type { DecodedImage, Detection } from '../../src/vision/types';
import { fixtureImage } from '../support/fixtures';

const GREY = 90;
const W = 240;
const H = 180;

function greyPng(): Promise<Buffer> {
  return sharp({
    create: { width: W, height: H, channels: 3, background: { r: GREY, g: GREY, b: GREY } },
  })
    .png()
    .toBuffer();
}

function detection(
  classId: number,
  label: string,
  box: [number, number, number, number],
): Detection {
  const [x1, y1, x2, y2] = box;
  return {
    label,
    classId,
    score: 0.87,
    box: { x1, y1, x2, y2 },
    boxNormalized: { x1: x1 / W, y1: y1 / H, x2: x2 / W, y2: y2 / H },
  };
}

function pixel(d: DecodedImage, x: number, y: number): number[] {
  const i = (y * d.width + x) * 3;
  return [d.data[i]!, d.data[i + 1]!, d.data[i + 2]!];
}

function near(actual: number[], want: readonly number[], tol: number, what: string): void {
  const ok = actual.every((v, i) => Math.abs(v - want[i]!) <= tol);
  assert.ok(ok, `${what}: got [${actual}], want [${want}] ± ${tol}`);
}

describe('vision/annotate', () => {
  it('PNG: the box outline has the class colour, pixels far from it keep the original', async () => {
    const det = detection(2, 'car', [40, 60, 120, 140]);
    const out = await annotate(
      await greyPng(),
      { detections: [det] },
      { format: 'png', lineWidth: 4 },
    );
    assert.equal((await sharp(out).metadata()).format, 'png');
    const d = await decodeImage(out);
    assert.deepEqual([d.width, d.height], [W, H]);
    const car = colourFor(2);
    // The outline lies inside the box: columns 40..43 and rows 136..139 are fully covered.
    assert.deepEqual(pixel(d, 41, 100), [...car]);
    assert.deepEqual(pixel(d, 118, 100), [...car]);
    assert.deepEqual(pixel(d, 80, 138), [...car]);
    // Just outside the box and in its middle: untouched.
    assert.deepEqual(pixel(d, 38, 100), [GREY, GREY, GREY]);
    assert.deepEqual(pixel(d, 80, 100), [GREY, GREY, GREY]);
    assert.deepEqual(pixel(d, 230, 170), [GREY, GREY, GREY]);
    // The label tab sits on top of the box, filled with the class colour at its left edge.
    assert.deepEqual(pixel(d, 41, 58), [...car]);
  });

  it('JPEG: the border colour survives compression within JPEG tolerance', async () => {
    const det = detection(0, 'person', [30, 50, 200, 160]);
    const out = await annotate(
      await greyPng(),
      { detections: [det] },
      { lineWidth: 8, quality: 90 },
    );
    assert.deepEqual([...out.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    const d = await decodeImage(out);
    near(pixel(d, 34, 100), colourFor(0), 40, 'left border');
    near(pixel(d, 100, 100), [GREY, GREY, GREY], 3, 'inside the box');
    near(pixel(d, 220, 10), [GREY, GREY, GREY], 3, 'far corner');
  });

  it('masks are filled translucently: opacity a blends a·colour + (1−a)·image', async () => {
    const det = detection(5, 'bus', [150, 20, 230, 100]);
    det.mask = {
      polygon: [
        [160, 30],
        [220, 30],
        [220, 90],
        [160, 90],
      ],
      polygons: [
        [
          [160, 30],
          [220, 30],
          [220, 90],
          [160, 90],
        ],
      ],
      area: 3600,
    };
    const out = await annotate(
      await greyPng(),
      { detections: [det] },
      { format: 'png', maskOpacity: 0.5, lineWidth: 2 },
    );
    const d = await decodeImage(out);
    const bus = colourFor(5);
    near(
      pixel(d, 190, 60),
      bus.map((c) => 0.5 * c + 0.5 * GREY),
      1,
      'mask interior',
    );
    // Inside the box but outside the polygon: only the original.
    assert.deepEqual(pixel(d, 155, 95), [GREY, GREY, GREY]);
  });

  it('classification top-k is drawn as a dark panel with light text in the top-left corner', async () => {
    const out = await annotate(
      await greyPng(),
      {
        classes: [
          { label: 'minibus', classId: 654, score: 0.39 },
          { label: 'police van', classId: 734, score: 0.33 },
        ],
      },
      { format: 'png', fontSize: 14 },
    );
    const d = await decodeImage(out);
    // Panel: 60 % black over grey 90 → 36.
    near(pixel(d, 1, 1), [36, 36, 36], 1, 'panel background');
    let light = 0;
    for (let y = 0; y < 40; y++) {
      for (let x = 0; x < 100; x++) if (pixel(d, x, y)[0]! > 150) light++;
    }
    assert.ok(light > 30, `expected rendered text in the panel, found ${light} light pixels`);
    assert.deepEqual(pixel(d, 200, 150), [GREY, GREY, GREY]);
  });

  it('labels are escaped for SVG, so markup in a label is drawn as text', async () => {
    assert.equal(
      escapeSvg(`<b>"Tom" & 'Jerry'</b>`),
      '&lt;b&gt;&quot;Tom&quot; &amp; &apos;Jerry&apos;&lt;/b&gt;',
    );
    const det = detection(1, '<script>&"x\'</script>', [10, 30, 100, 100]);
    const svg = buildOverlay(W, H, { detections: [det] });
    assert.ok(!svg.includes('<script>'));
    assert.ok(svg.includes('&lt;script&gt;&amp;&quot;x&apos;&lt;/script&gt;'));
    const out = await annotate(await greyPng(), { detections: [det] }, { format: 'png' });
    assert.equal((await sharp(out).metadata()).width, W);
  });

  it('draws on the EXIF-oriented image, as detections are in oriented pixels', async () => {
    const stored = await sharp({
      create: { width: 60, height: 30, channels: 3, background: '#5a5a5a' },
    })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const out = await annotate(
      stored,
      { detections: [detection(3, 'motorcycle', [2, 40, 28, 58])] },
      { format: 'png', lineWidth: 3 },
    );
    const d = await decodeImage(out);
    assert.deepEqual([d.width, d.height], [30, 60]);
    assert.deepEqual(pixel(d, 3, 50), [...colourFor(3)]);
  });

  it('accepts a DecodedImage and a real photo; no results re-encodes the image unchanged', async () => {
    const photo = await decodeImage(fs.readFileSync(fixtureImage('chelsea.png')));
    const plain = await decodeImage(await annotate(photo, {}, { format: 'png' }));
    assert.deepEqual(plain.data, photo.data);
    const drawn = await annotate(
      fs.readFileSync(fixtureImage('chelsea.png')),
      { detections: [detection(15, 'cat', [150, 20, 400, 290])] },
      { format: 'jpeg' },
    );
    const d = await decodeImage(drawn);
    assert.deepEqual([d.width, d.height], [451, 300]);
  });

  it('palette: fixed colours, one per class id modulo its length', () => {
    assert.equal(PALETTE.length, 20);
    assert.deepEqual(colourFor(0), PALETTE[0]);
    assert.deepEqual(colourFor(21), PALETTE[1]);
    assert.deepEqual(colourFor(-1), PALETTE[19]);
    assert.equal(new Set(PALETTE.map((c) => c.join())).size, 20);
  });

  it('bad image → INVALID_IMAGE; bad options → INVALID_OPTION', async () => {
    await assert.rejects(annotate(Buffer.from('not an image'), {}), { code: 'INVALID_IMAGE' });
    const png = await greyPng();
    await assert.rejects(annotate(png, {}, { format: 'gif' as 'png' }), { code: 'INVALID_OPTION' });
    await assert.rejects(annotate(png, {}, { quality: 0 }), { code: 'INVALID_OPTION' });
    await assert.rejects(annotate(png, {}, { maskOpacity: 2 }), { code: 'INVALID_OPTION' });
  });

  it('skips boxes with non-finite or inverted coordinates instead of failing', async () => {
    const out = await annotate(
      await greyPng(),
      {
        detections: [
          detection(1, 'nan', [NaN, 0, 10, 10]),
          detection(1, 'inverted', [50, 50, 40, 40]),
        ],
      },
      { format: 'png' },
    );
    const d = await decodeImage(out);
    assert.deepEqual(pixel(d, 45, 45), [GREY, GREY, GREY]);
  });
});
