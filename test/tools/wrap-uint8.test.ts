/**
 * `triton-vision wrap-uint8`: a real exported model wrapped by the CLI, run in local mode
 * on an image's UINT8 pixels, answers as the original FP32 model fed the same image's FP32
 * tensor (x/255; for ImageNet (x/255 - mean)/std, computed here step by step in float32);
 * NHWC pixels give the same answer; the profile sends such a model raw pixels.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { main } from '../../src/cli';
import { LocalClient } from '../../src/client/local';
import { parseModelConfig } from '../../src/protocol/pbtxt';
import type { Tensor } from '../../src/protocol/types';
import { wrapUint8 } from '../../src/tools/wrap-uint8';
import { resolveProfile, runTask } from '../../src/vision/pipeline';
import { fixtureImage, fixtureModel } from '../support/fixtures';
import { releaseOnnxSessions, runOnnx } from '../support/ort';

const f = Math.fround;

/** An image resized to size×size: RGB pixels as HWC bytes. */
async function pixels(file: string, size: number): Promise<Uint8Array> {
  const { data } = await sharp(fixtureImage(file))
    .removeAlpha()
    .resize(size, size, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return new Uint8Array(data);
}

function toChw(hwc: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(hwc.length);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++)
        out[c * size * size + y * size + x] = hwc[(y * size + x) * 3 + c]!;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

class Capture {
  text = '';
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

describe('triton-vision wrap-uint8', function () {
  this.timeout(120000);
  let repo: string;
  let client: LocalClient;

  before(async () => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-wrap-'));
    const run = async (args: string[]): Promise<void> => {
      const out = new Capture();
      const code = await main(['wrap-uint8', ...args], out as unknown as typeof process.stdout);
      assert.equal(code, 0, out.text);
      assert.match(out.text, /UINT8/);
    };
    const det = fixtureModel('yolov8n_int8_320.onnx');
    await run([det, '--repository', repo, '--name', 'det_u8', '--normalise', 'yolo']);
    await run([
      det,
      '--repository',
      repo,
      '--name',
      'det_u8_nhwc',
      '--normalise',
      'yolo',
      '--layout',
      'nhwc',
    ]);
    await run([
      fixtureModel('mobilenetv2-12-int8.onnx'),
      '--repository',
      repo,
      '--name',
      'cls_u8',
      '--normalise',
      'imagenet',
      '--task',
      'classify',
    ]);
    client = new LocalClient({ modelRepository: repo });
  });
  after(async () => {
    await client?.close();
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('writes a config with the UINT8 input, its layout, and the outputs of the model', () => {
    const cfg = parseModelConfig(
      fs.readFileSync(path.join(repo, 'det_u8_nhwc', 'config.pbtxt'), 'utf8'),
    );
    assert.equal(cfg.name, 'det_u8_nhwc');
    assert.equal(cfg.platform, 'onnxruntime_onnx');
    assert.deepEqual(
      cfg.input.map((i) => [i.name, i.data_type, i.format, i.dims]),
      [['images', 'TYPE_UINT8', 'FORMAT_NHWC', [1, 320, 320, 3]]],
    );
    assert.deepEqual(
      cfg.output.map((o) => [o.name, o.data_type, o.dims]),
      [['output0', 'TYPE_FP32', [1, 84, 2100]]],
    );
  });

  it('detect: UINT8 pixels (NCHW and NHWC) give what the FP32 model gives for x/255', async () => {
    const hwc = await pixels('bus.jpg', 320);
    const chw = toChw(hwc, 320);
    const fp32: Tensor = {
      name: 'images',
      datatype: 'FP32',
      shape: [1, 3, 320, 320],
      data: Float32Array.from(chw, (v) => f(v / 255)),
    };
    const expected = (await runOnnx(fixtureModel('yolov8n_int8_320.onnx'), [fp32])).output0!;
    const nchw = await client.infer({
      model: 'det_u8',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 3, 320, 320], data: chw }],
    });
    const nhwc = await client.infer({
      model: 'det_u8_nhwc',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 320, 320, 3], data: hwc }],
    });
    for (const res of [nchw, nhwc]) {
      const out = res.outputs.find((o) => o.name === 'output0')!;
      assert.deepEqual(out.shape, [1, 84, 2100]);
      // Same arithmetic in the same order: equal up to float rounding.
      assert.ok(maxAbsDiff(out.data as Float32Array, expected.data as Float32Array) < 1e-3);
    }
  });

  it('classify: ImageNet mean/std in the graph match the FP32 model fed the normalised tensor', async () => {
    const chw = toChw(await pixels('chelsea.png', 224), 224);
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const plane = 224 * 224;
    const fp32 = Float32Array.from(chw, (v, i) => {
      const c = Math.floor(i / plane);
      return f(f(f(v / 255) - f(mean[c]!)) / f(std[c]!));
    });
    const expected = (
      await runOnnx(fixtureModel('mobilenetv2-12-int8.onnx'), [
        { name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224], data: fp32 },
      ])
    ).output!;
    const res = await client.infer({
      model: 'cls_u8',
      inputs: [{ name: 'input', datatype: 'UINT8', shape: [1, 3, 224, 224], data: chw }],
    });
    const got = res.outputs[0]!.data as Float32Array;
    assert.ok(maxAbsDiff(got, expected.data as Float32Array) < 1e-3);
    const top = (a: Float32Array): number => a.indexOf(Math.max(...a));
    assert.equal(top(got), top(expected.data as Float32Array));
  });

  it('the profile sends raw pixels to the wrapped model, and the pipeline finds the bus', async () => {
    const profile = await resolveProfile(client, 'det_u8_nhwc');
    assert.equal(profile.input.datatype, 'UINT8');
    assert.equal(profile.input.layout, 'NHWC');
    assert.equal(profile.task, 'detect');
    const result = await runTask(client, 'det_u8_nhwc', fs.readFileSync(fixtureImage('bus.jpg')));
    assert.ok(result.detections!.some((d) => d.label === 'bus' && d.score > 0.5));
  });

  it('refuses what it cannot wrap, saying why', async () => {
    const wrapped = fs.readFileSync(path.join(repo, 'det_u8', '1', 'model.onnx'));
    assert.throws(() => wrapUint8(wrapped, { normalise: 'yolo' }), /already UINT8/);
    assert.throws(
      () =>
        wrapUint8(fs.readFileSync(fixtureModel('yolov8n_int8_320.onnx')), {
          normalise: 'yolo',
          input: 'x',
        }),
      /no input 'x' \(its inputs: 'images'\)/,
    );
    const out = new Capture();
    assert.equal(await main(['wrap-uint8', 'a.onnx', '--name', 'n'], out as never), 2);
    assert.equal(
      await main(
        [
          'wrap-uint8',
          fixtureModel('yolov8n_int8_320.onnx'),
          '--repository',
          repo,
          '--name',
          'det_u8',
          '--normalise',
          'yolo',
        ],
        out as never,
      ),
      1,
      'an existing model folder is kept without --force',
    );
  });
});
