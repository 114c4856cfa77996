/**
 * The fidelity options: classification presets (config parameter `preprocess`, runTask
 * option), their geometry, `resize: 'exact' | 'fast'`, `icc: 'ignore' | 'apply'` and
 * Ultralytics' per-axis box gains, each from first principles or the reference's formulas.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { isTritonError } from '../../src/protocol/errors';
import type { TensorMetadata } from '../../src/protocol/types';
import {
  boxToOriginal,
  computeCenterCrop,
  computeLetterbox,
  computeZooCrop,
} from '../../src/vision/geometry';
import { decodeImage, prepareInput } from '../../src/vision/image';
import { deriveProfile, withPreset } from '../../src/vision/profile';
import { fixtureImage } from '../support/fixtures';
import { config, metadata } from './build';

const classifier = (params: Record<string, string> = {}) =>
  deriveProfile(
    metadata(
      'c',
      [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
      [{ name: 'output', datatype: 'FP32', shape: [1, 1000] } as TensorMetadata],
    ),
    config('c', 0, {
      parameters: Object.fromEntries(
        Object.entries(params).map(([k, v]) => [k, { string_value: v }]),
      ),
    }),
  );

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isTritonError(err) ? err.code : 'not a TritonError';
  }
  return undefined;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isTritonError(err) ? err.code : 'not a TritonError';
  }
  return undefined;
}

describe('classification presets', () => {
  it("default 'torchvision' (bicubic); config parameter preprocess 'onnx-zoo' → bilinear", () => {
    const tv = classifier().preprocess;
    assert.equal(tv.kind === 'imagenet' && tv.preset, 'torchvision');
    assert.equal(tv.kind === 'imagenet' && tv.interpolation, 'bicubic');
    const zoo = classifier({ preprocess: 'onnx-zoo' }).preprocess;
    assert.equal(zoo.kind === 'imagenet' && zoo.preset, 'onnx-zoo');
    assert.equal(zoo.kind === 'imagenet' && zoo.interpolation, 'bilinear');
    // An explicit interpolation parameter still wins over the preset's filter.
    const mixed = classifier({ preprocess: 'onnx-zoo', interpolation: 'bicubic' }).preprocess;
    assert.equal(mixed.kind === 'imagenet' && mixed.interpolation, 'bicubic');
    assert.equal(
      code(() => classifier({ preprocess: 'timm' })),
      'INVALID_CONFIG',
    );
  });

  it('the runTask option overrides the config; unknown names are INVALID_OPTION', () => {
    const zoo = withPreset(classifier().preprocess, 'onnx-zoo');
    assert.deepEqual(zoo.kind === 'imagenet' && [zoo.preset, zoo.interpolation], [
      'onnx-zoo',
      'bilinear',
    ]);
    const back = withPreset(zoo, 'torchvision');
    assert.deepEqual(back.kind === 'imagenet' && [back.preset, back.interpolation], [
      'torchvision',
      'bicubic',
    ]);
    assert.equal(withPreset(zoo, undefined), zoo);
    assert.equal(
      code(() => withPreset(zoo, 'pil')),
      'INVALID_OPTION',
    );
  });

  it('onnx-zoo geometry: long side rounded, crop at w//2 − 112 (vs torchvision)', () => {
    // 451×300 (chelsea.png): ratio 256/300; long side 451·0.85333 = 384.85 → 385 (round);
    // crop x = 385//2 − 112 = 80, y = 256//2 − 112 = 16.
    assert.deepEqual(computeZooCrop(451, 300, 256, 224), {
      resizedWidth: 385,
      resizedHeight: 256,
      left: 80,
      top: 16,
      width: 224,
      height: 224,
    });
    // torchvision truncates the long side (384) and centres with round((384 − 224)/2) = 80.
    assert.deepEqual(computeCenterCrop(451, 300, 256, 224), {
      resizedWidth: 384,
      resizedHeight: 256,
      left: 80,
      top: 16,
      width: 224,
      height: 224,
    });
    // 810×1080 portrait: 256 × round(1080·256/810 = 341.33) = 341; y = 341//2 − 112 = 58
    // (torchvision: 341 too, round(117/2 = 58.5) = 58, half to even).
    assert.deepEqual(computeZooCrop(810, 1080, 256, 224).top, 58);
    // 600×400: 600·256/400 = 384 exactly.
    assert.equal(computeZooCrop(600, 400, 256, 224).resizedWidth, 384);
  });
});

describe('letterbox box mapping: per-axis gains from the rounded size (Ultralytics 8.4)', () => {
  it('uses newWidth/W0 and newHeight/H0, not one ratio', () => {
    // 600×400 → 640: r = 1.0667, size 640 × round(426.67) = 427, pads 0 / 106 (top).
    const g = computeLetterbox(600, 400, 640, 640);
    assert.deepEqual([g.newWidth, g.newHeight, g.padLeft, g.padTop], [640, 427, 0, 106]);
    // y gain 427/400 = 1.0675 (not 1.0667): input y 106 + 427 = 533 maps to exactly 400.
    const b = boxToOriginal({ x1: 0, y1: 106, x2: 640, y2: 533 }, g, 600, 400);
    assert.deepEqual(b, { x1: 0, y1: 0, x2: 600, y2: 400 });
    // The YOLOX demo divides by r: 533 − 106 = 427 → 400.3125, clipped to 400; y 319.5
    // (middle) → 213.28 with r, 213.0 with the y gain.
    const mid = { x1: 0, y1: 319.5, x2: 1, y2: 320 };
    assert.equal(boxToOriginal(mid, g, 600, 400).y1, (319.5 - 106) / (427 / 400));
    assert.equal(boxToOriginal(mid, g, 600, 400, false).y1, (319.5 - 106) / (640 / 600));
  });
});

describe("decode options: resize 'exact' | 'fast', icc 'ignore' | 'apply'", () => {
  const letterbox = {
    input: {
      name: 'images',
      datatype: 'FP32' as const,
      layout: 'NCHW' as const,
      width: 640,
      height: 640,
      shape: [1, 3, 640, 640],
    },
    preprocess: {
      kind: 'letterbox' as const,
      centred: true,
      padValue: 114,
      colour: 'RGB' as const,
      scale: 1 / 255,
    },
  };

  it('bad values are INVALID_OPTION', async () => {
    const jpeg = fs.readFileSync(fixtureImage('bus.jpg'));
    assert.equal(
      await codeOf(prepareInput(jpeg, letterbox, { resize: 'nearest' as never })),
      'INVALID_OPTION',
    );
    assert.equal(await codeOf(decodeImage(jpeg, { icc: 'srgb' as never })), 'INVALID_OPTION');
  });

  it("bus.jpg's embedded Display P3 profile: ignored by default (as cv2.imread), applied on request", async () => {
    const jpeg = fs.readFileSync(fixtureImage('bus.jpg'));
    const stored = await decodeImage(jpeg);
    const managed = await decodeImage(jpeg, { icc: 'apply' });
    assert.deepEqual([stored.width, stored.height], [810, 1080]);
    let differ = 0;
    for (let i = 0; i < stored.data.length; i++) if (stored.data[i] !== managed.data[i]) differ++;
    assert.ok(differ > stored.data.length / 10, `only ${differ} bytes differ`);
  });

  it("'fast' and 'exact' give the same geometry and different pixels on a reduction", async () => {
    const jpeg = fs.readFileSync(fixtureImage('bus.jpg'));
    const exact = await prepareInput(jpeg, letterbox);
    const fast = await prepareInput(jpeg, letterbox, { resize: 'fast' });
    assert.deepEqual(exact.letterbox, fast.letterbox);
    const a = exact.tensor as Float32Array;
    const b = fast.tensor as Float32Array;
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
    assert.ok(differ > 0);
    // The pad is the same 114/255 in both.
    assert.equal(a[0], Math.fround(114 / 255));
    assert.equal(b[0], Math.fround(114 / 255));
  });
});
