/**
 * TensorPool: input tensors are reused across images (runTask releases one after its
 * infer succeeded). A pooled buffer still holds the previous image's values, so every
 * element must be rewritten — checked here against a fresh tensor for the same image.
 */
import { strict as assert } from 'node:assert';
import sharp from 'sharp';
import { TensorPool, prepareInput } from '../../src/vision/image';
import type { ModelProfile } from '../../src/vision/types';

type Pre = Pick<ModelProfile, 'input' | 'preprocess'>;

const letterbox = (datatype: 'FP32' | 'FP16', centred: boolean): Pre => ({
  input: { name: 'images', datatype, layout: 'NCHW', width: 64, height: 64, shape: [1, 3, 64, 64] },
  preprocess: {
    kind: 'letterbox',
    centred,
    padValue: 114,
    colour: centred ? 'RGB' : 'BGR',
    scale: centred ? 1 / 255 : 1,
  },
});

const imagenet: Pre = {
  input: {
    name: 'input',
    datatype: 'FP32',
    layout: 'NCHW',
    width: 32,
    height: 32,
    shape: [1, 3, 32, 32],
  },
  preprocess: {
    kind: 'imagenet',
    resize: 36,
    crop: 32,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    interpolation: 'bilinear',
    colour: 'RGB',
  },
};

/** A noisy image, so stale values could not hide behind a flat colour. */
async function noise(width: number, height: number, seed: number): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  let x = seed;
  for (let i = 0; i < px.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return sharp(px, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

describe('TensorPool', () => {
  it('hands out distinct buffers, takes them back once, and keeps at most perSize per length', () => {
    const pool = new TensorPool(2);
    const a = pool.acquire(16);
    const b = pool.acquire(16);
    assert.notEqual(a, b);
    assert.equal(a.byteLength, 16);
    pool.release(a);
    pool.release(a); // a second release of the same buffer is ignored
    assert.equal(pool.size, 1);
    assert.equal(pool.acquire(16), a);
    assert.equal(pool.size, 0);
    pool.release(a);
    pool.release(b);
    pool.release(new ArrayBuffer(16)); // over perSize: dropped
    assert.equal(pool.size, 2);
    assert.notEqual(pool.acquire(32), a, 'another length never gets this buffer');
  });

  for (const [name, profile] of [
    ['Ultralytics letterbox FP32', letterbox('FP32', true)],
    ['Ultralytics letterbox FP16', letterbox('FP16', true)],
    ['YOLOX letterbox', letterbox('FP32', false)],
    ['ImageNet crop', imagenet],
  ] as const) {
    it(`${name}: a reused tensor equals a fresh one for the same image`, async () => {
      const pool = new TensorPool();
      // First a landscape image fills the buffer; then a portrait one reuses it, so the
      // padding and image areas fall on different elements.
      const first = await prepareInput(await noise(90, 40, 1), profile, { tensorPool: pool });
      pool.release(first.tensor.buffer);
      const portrait = await noise(30, 70, 2);
      const reused = await prepareInput(portrait, profile, { tensorPool: pool });
      assert.equal(reused.tensor.buffer, first.tensor.buffer, 'the pooled buffer was reused');
      const fresh = await prepareInput(portrait, profile);
      assert.notEqual(fresh.tensor.buffer, first.tensor.buffer);
      assert.deepEqual(reused.shape, fresh.shape);
      assert.deepEqual([...reused.tensor], [...fresh.tensor]);
    });
  }
});
