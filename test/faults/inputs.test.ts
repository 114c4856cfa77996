/**
 * Bad input at the image, message and model layers, sent to one deployed detect node
 * talking gRPC to a real triton-vision-serve. Each rejected input must end with the
 * right code at a catch node and a red ring, and the same node must answer the next good
 * image; each input a user would expect to work (1×1, CMYK, 16-bit, animated) must give a
 * correct result. Nothing may escape to the process, and the server must stay up.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import sharp from 'sharp';
import { createClient } from '../../src/client';
import type { InferenceClient } from '../../src/protocol/types';
import type { NodeMessage } from '../../src/nodes/types';
import type { TaskResult } from '../../src/vision/pipeline';
import {
  ProcessWatch,
  type Detected,
  addIdentityModel,
  jpegScanStart,
  jpegWithSize,
  pngWithHeader,
  sendExpectingError,
  sendExpectingOutput,
} from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { ALL_NODES, SMALL_MODELS, helper, isStatus, statusOf, taskFlow } from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

const TYPE = 'triton-detect';
const ID = 'detect';

/** A detect result without its timings (which differ run to run). */
function stable(r: TaskResult): object {
  const { timings: _t, annotated: _a, ...rest } = r;
  return JSON.parse(JSON.stringify(rest));
}

/**
 * The same objects as `ref`, boxes within `px` pixels and scores within `score`: what a
 * pixel-identical source gives when the resize runs on other bits (16-bit samples, WebP
 * shrink-on-load) and rounds a little differently.
 */
function assertSameDetections(r: Detected, ref: Detected, px: number, score: number): void {
  assert.deepEqual(r.image, ref.image);
  assert.deepEqual(
    r.detections.map((d) => d.label),
    ref.detections.map((d) => d.label),
  );
  r.detections.forEach((d, i) => {
    const e = ref.detections[i]!;
    assert.ok(Math.abs(d.score - e.score) <= score, `score ${d.score} vs ${e.score}`);
    for (const k of ['x1', 'y1', 'x2', 'y2'] as const) {
      assert.ok(Math.abs(d.box[k] - e.box[k]) <= px, `${k} ${d.box[k]} vs ${e.box[k]}`);
    }
  });
}

interface Rejected {
  name: string;
  msg: () => NodeMessage;
  code: string;
  /** A phrase the sentence must hold, so the user learns what was wrong. */
  says?: RegExp;
}

describe('fault suite: bad inputs at the image, message and model layers', function () {
  this.timeout(120000);
  const watch = new ProcessWatch();
  let serve: ServeHandle;
  let repo: string;
  let png: Buffer; // chelsea.png, 451×300: YOLOv8n sees a cat
  let jpeg: Buffer;
  let baseline: Detected;
  const forged: Record<string, Buffer> = {};

  before(async () => {
    watch.install();
    repo = buildFixtureRepository(SMALL_MODELS.filter((m) => m.name !== 'yolov8n_seg'));
    addIdentityModel(repo, 'identity_model');
    // A second copy of the detector, for the unload case, so the others keep theirs.
    const v8 = SMALL_MODELS.find((m) => m.name === 'yolov8n')!;
    fs.mkdirSync(`${repo}/yolov8n_b/1`, { recursive: true });
    fs.writeFileSync(
      `${repo}/yolov8n_b/config.pbtxt`,
      v8.config.replace('"yolov8n"', '"yolov8n_b"'),
    );
    fs.symlinkSync(
      fs.realpathSync(`${repo}/yolov8n/1/model.onnx`),
      `${repo}/yolov8n_b/1/model.onnx`,
    );
    // One case unloads and reloads a model under a flow: the repository API must allow it.
    serve = await startServe({ repository: repo, extraArgs: ['--model-control-mode', 'explicit'] });

    png = fs.readFileSync(fixtureImage('chelsea.png'));
    jpeg = await sharp(png).jpeg({ quality: 90 }).toBuffer();
    const negated = await sharp(png).negate().png().toBuffer();
    const scan = jpegScanStart(jpeg);
    const garbledScan = Buffer.from(jpeg);
    for (let i = scan + 200; i < scan + 1200; i++) garbledScan[i] = (i * 7919) & 0xff;
    const garbledTables = Buffer.from(jpeg);
    garbledTables.fill(0x04, 20, 200);
    const flippedPng = Buffer.from(png);
    const idat = flippedPng.indexOf('IDAT');
    for (let i = idat + 50; i < idat + 500; i++) flippedPng[i]! ^= 0x5a;
    Object.assign(forged, {
      garbledScan,
      garbledTables,
      flippedPng,
      onePixel: await sharp({
        create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 30, b: 30 } },
      })
        .png()
        .toBuffer(),
      cmyk: await sharp(png).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(),
      rgb16: await sharp(png).toColourspace('rgb16').png().toBuffer(),
      // Frame 1 is the photo, frame 2 its negative: the first frame is the one to run.
      webpAnimated: await sharp([png, negated], { join: { animated: true } })
        .webp({ lossless: true })
        .toBuffer(),
      gifAnimated: await sharp([png, negated], { join: { animated: true } })
        .gif()
        .toBuffer(),
      tiffPages: await sharp([png, negated], { join: { animated: true } })
        .tiff({ compression: 'lzw' })
        .toBuffer(),
    });

    await helper.load(
      ALL_NODES,
      taskFlow(
        TYPE,
        { mode: 'grpc', grpcPort: serve.grpcPort },
        { id: ID, model: 'yolov8n', confidence: 0.25 },
      ),
    );
    await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
    baseline = (await sendExpectingOutput(ID, { payload: png })).payload as Detected;
    assert.equal(baseline.detections[0]?.label, 'cat', 'the reference photo shows a cat');
  });

  after(async () => {
    await helper.unload();
    await serve?.stop();
    watch.uninstall();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  afterEach(() => {
    watch.assertClean();
    assert.equal(serve.proc.exitCode, null, 'the server is still running');
  });

  /** The node still answers a good image, correctly, after whatever came before. */
  async function stillAnswers(): Promise<void> {
    const out = await sendExpectingOutput(ID, { payload: png });
    assert.deepEqual(stable(out.payload as Detected), stable(baseline));
    await statusOf(ID, (s) => s.fill === 'green');
  }

  const raw = (width: number, height: number, channels: number, bytes: number) => ({
    data: Buffer.alloc(bytes, 128),
    width,
    height,
    channels,
  });

  const REJECTED: Rejected[] = [
    // ---- image layer: encoded bytes
    {
      name: 'an empty Buffer',
      msg: () => ({ payload: Buffer.alloc(0) }),
      code: 'INVALID_IMAGE',
      says: /empty/,
    },
    {
      name: 'a zero-length Uint8Array',
      msg: () => ({ payload: new Uint8Array(0) }),
      code: 'INVALID_IMAGE',
      says: /empty/,
    },
    {
      name: 'a JPEG cut in half',
      msg: () => ({ payload: jpeg.subarray(0, jpeg.length >> 1) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a JPEG cut after its first 600 bytes',
      msg: () => ({ payload: jpeg.subarray(0, 600) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a JPEG of only its start-of-image marker',
      msg: () => ({ payload: jpeg.subarray(0, 2) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a PNG cut in half',
      msg: () => ({ payload: png.subarray(0, png.length >> 1) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a PNG of only its signature',
      msg: () => ({ payload: png.subarray(0, 8) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a JPEG with garbled tables',
      msg: () => ({ payload: forged.garbledTables }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a PNG with corrupt compressed data',
      msg: () => ({ payload: forged.flippedPng }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a PNG that declares 0×10 pixels',
      msg: () => ({ payload: pngWithHeader(0, 10) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a JPEG that declares a height of 0',
      msg: () => ({ payload: jpegWithSize(jpeg, 451, 0) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a text file',
      msg: () => ({ payload: Buffer.from('name,score\ncat,0.9\n') }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a BMP (a format the nodes do not take)',
      msg: () => ({ payload: Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a PNG header declaring 30000×30000',
      msg: () => ({ payload: pngWithHeader(30000, 30000) }),
      code: 'IMAGE_TOO_LARGE',
      says: /30000×30000/,
    },
    {
      name: 'a JPEG header declaring 30000×30000',
      msg: () => ({ payload: jpegWithSize(jpeg, 30000, 30000) }),
      code: 'IMAGE_TOO_LARGE',
      says: /30000×30000/,
    },
    {
      name: 'a PNG header declaring 1×60000000',
      msg: () => ({ payload: pngWithHeader(1, 60_000_000) }),
      code: 'IMAGE_TOO_LARGE',
    },
    // ---- image layer: strings
    {
      name: 'an empty string',
      msg: () => ({ payload: '' }),
      code: 'INVALID_IMAGE',
      says: /empty string/,
    },
    {
      name: 'a string that is not base64',
      msg: () => ({ payload: 'hello, camera 3 here!' }),
      code: 'INVALID_IMAGE',
      says: /neither a data URL nor base64/,
    },
    {
      name: 'base64 of a text',
      msg: () => ({ payload: Buffer.from('just some text, no pixels').toString('base64') }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a data URL that is not base64',
      msg: () => ({ payload: 'data:image/png,%89PNG' }),
      code: 'INVALID_IMAGE',
      says: /not base64/,
    },
    {
      name: 'a data URL of a truncated JPEG',
      msg: () => ({
        payload: `data:image/jpeg;base64,${jpeg.subarray(0, 300).toString('base64')}`,
      }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a file path',
      msg: () => ({ payload: '/home/pi/frames/cam1.jpg' }),
      code: 'INVALID_IMAGE',
      says: /file path/,
    },
    // ---- image layer: raw frames
    {
      name: 'a raw frame with too few bytes',
      msg: () => ({ payload: raw(64, 48, 3, 64 * 48 * 3 - 1) }),
      code: 'INVALID_IMAGE',
      says: /needs exactly 9216 bytes/,
    },
    {
      name: 'a raw frame with too many bytes',
      msg: () => ({ payload: raw(64, 48, 3, 64 * 48 * 4) }),
      code: 'INVALID_IMAGE',
      says: /needs exactly 9216 bytes/,
    },
    {
      name: 'a raw frame of 2 channels',
      msg: () => ({ payload: raw(64, 48, 2, 64 * 48 * 2) }),
      code: 'INVALID_IMAGE',
      says: /channels/,
    },
    {
      name: 'a raw frame of width 0',
      msg: () => ({ payload: raw(0, 48, 3, 0) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a raw frame of negative height',
      msg: () => ({ payload: raw(64, -48, 3, 64 * 48 * 3) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a raw frame of width 6.5',
      msg: () => ({ payload: raw(6.5, 2, 3, 39) }),
      code: 'INVALID_IMAGE',
    },
    {
      name: 'a raw frame whose data is a number array',
      msg: () => ({ payload: { data: [1, 2, 3], width: 1, height: 1, channels: 3 } }),
      code: 'INVALID_IMAGE',
    },
    // ---- message layer: payload of the wrong type
    {
      name: 'a number payload',
      msg: () => ({ payload: 42 }),
      code: 'INVALID_IMAGE',
      says: /a number/,
    },
    {
      name: 'an object payload',
      msg: () => ({ payload: { camera: 3 } }),
      code: 'INVALID_IMAGE',
      says: /an object with keys camera/,
    },
    { name: 'an empty object payload', msg: () => ({ payload: {} }), code: 'INVALID_IMAGE' },
    {
      name: 'an array payload',
      msg: () => ({ payload: [1, 2, 3] }),
      code: 'INVALID_IMAGE',
      says: /array/,
    },
    { name: 'a boolean payload', msg: () => ({ payload: true }), code: 'INVALID_IMAGE' },
    {
      name: 'a null payload',
      msg: () => ({ payload: null }),
      code: 'INVALID_INPUT',
      says: /msg\.payload is empty/,
    },
    { name: 'no payload at all', msg: () => ({ topic: 'frame' }), code: 'INVALID_INPUT' },
    {
      name: 'a JSON-serialised Buffer of text',
      msg: () => ({ payload: JSON.parse(JSON.stringify(Buffer.from('not an image'))) }),
      code: 'INVALID_IMAGE',
    },
    // ---- message layer: msg.triton
    {
      name: 'a non-numeric confidence',
      msg: () => ({ payload: png, triton: { confidence: 'high' } }),
      code: 'INVALID_OPTION',
      says: /confidence/,
    },
    {
      name: 'a NaN confidence',
      msg: () => ({ payload: png, triton: { confidence: NaN } }),
      code: 'INVALID_OPTION',
      says: /confidence/,
    },
    {
      name: 'a negative confidence',
      msg: () => ({ payload: png, triton: { confidence: -0.1 } }),
      code: 'INVALID_OPTION',
      says: /confidence/,
    },
    {
      name: 'a confidence above 1',
      msg: () => ({ payload: png, triton: { confidence: 1.5 } }),
      code: 'INVALID_OPTION',
      says: /confidence/,
    },
    {
      name: 'an infinite iou',
      msg: () => ({ payload: png, triton: { iou: Infinity } }),
      code: 'INVALID_OPTION',
      says: /iou/,
    },
    {
      name: 'an iou above 1',
      msg: () => ({ payload: png, triton: { iou: 2 } }),
      code: 'INVALID_OPTION',
      says: /iou/,
    },
    {
      name: 'a negative iou',
      msg: () => ({ payload: png, triton: { iou: -1 } }),
      code: 'INVALID_OPTION',
      says: /iou/,
    },
    {
      name: 'maxDetections of 0',
      msg: () => ({ payload: png, triton: { maxDetections: 0 } }),
      code: 'INVALID_OPTION',
      says: /maxDetections/,
    },
    {
      name: 'maxDetections as a string',
      msg: () => ({ payload: png, triton: { maxDetections: '10' } }),
      code: 'INVALID_OPTION',
      says: /maxDetections/,
    },
    {
      name: 'classes that are not an array',
      msg: () => ({ payload: png, triton: { classes: 'cat' } }),
      code: 'INVALID_OPTION',
      says: /classes/,
    },
    {
      name: 'a negative class id',
      msg: () => ({ payload: png, triton: { classes: [-1] } }),
      code: 'INVALID_OPTION',
      says: /classes/,
    },
    {
      name: 'msg.triton as a string',
      msg: () => ({ payload: png, triton: 'fast' }),
      code: 'INVALID_OPTION',
      says: /msg\.triton must be an object/,
    },
    {
      name: 'msg.triton as an array',
      msg: () => ({ payload: png, triton: [0.5] }),
      code: 'INVALID_OPTION',
      says: /an array/,
    },
    {
      name: 'an empty model name',
      msg: () => ({ payload: png, triton: { model: ' ' } }),
      code: 'INVALID_OPTION',
      says: /model/,
    },
    // ---- model layer
    {
      name: 'an unknown model',
      msg: () => ({ payload: png, triton: { model: 'no_such_model' } }),
      code: 'NOT_FOUND',
      says: /no_such_model/,
    },
    {
      name: 'a model name that walks out of the repository',
      msg: () => ({ payload: png, triton: { model: '../yolov8n' } }),
      code: 'NOT_FOUND',
    },
    {
      name: 'a model of the wrong task',
      msg: () => ({ payload: png, triton: { model: 'mobilenetv2' } }),
      code: 'UNSUPPORTED_MODEL',
      says: /classify/,
    },
    {
      name: 'a model whose output has an unsupported layout',
      msg: () => ({ payload: png, triton: { model: 'identity_model' } }),
      code: 'UNSUPPORTED_MODEL',
      says: /output/,
    },
  ];

  for (const c of REJECTED) {
    it(`rejects ${c.name} with ${c.code}, then answers the next image`, async () => {
      const err = await sendExpectingError(ID, TYPE, c.msg(), c.code);
      assert.ok(err.message.length > 30, `a sentence, not just a code: '${err.message}'`);
      if (c.says) assert.match(err.message, c.says);
      await stillAnswers();
    });
  }

  it('has at least 40 distinct rejected inputs', () => {
    assert.ok(REJECTED.length >= 40, `${REJECTED.length} cases`);
    assert.equal(new Set(REJECTED.map((c) => c.name)).size, REJECTED.length);
  });

  describe('inputs a user expects to work', () => {
    async function detect(payload: Buffer): Promise<Detected> {
      const out = await sendExpectingOutput(ID, { payload });
      return out.payload as Detected;
    }

    it('a 1×1 PNG: a result for a 1×1 image, every box inside it', async () => {
      const r = await detect(forged.onePixel!);
      assert.deepEqual(r.image, { width: 1, height: 1 });
      for (const d of r.detections) {
        assert.ok(d.box.x1 >= 0 && d.box.y1 >= 0 && d.box.x2 <= 1 && d.box.y2 <= 1);
      }
      await stillAnswers();
    });

    it('a 16-bit PNG: the result of its 8-bit original (8→16→8 bits is exact)', async () => {
      assertSameDetections(await detect(forged.rgb16!), baseline, 1, 0.005);
    });

    it("an animated lossless WebP: the first frame is run, so the result is the photo's", async () => {
      assertSameDetections(await detect(forged.webpAnimated!), baseline, 2, 0.01);
    });

    it("a two-page lossless TIFF: the first page is run, so the result is the photo's", async () => {
      assertSameDetections(await detect(forged.tiffPages!), baseline, 2, 0.01);
    });

    it('an animated GIF: one frame of the photo (451×300), the cat still found', async () => {
      const r = await detect(forged.gifAnimated!);
      assert.deepEqual(r.image, { width: 451, height: 300 });
      assert.equal(r.detections[0]?.label, 'cat');
    });

    it('a CMYK JPEG: converted to RGB, the cat still found at the same place', async () => {
      const r = await detect(forged.cmyk!);
      assert.deepEqual(r.image, { width: 451, height: 300 });
      const cat = r.detections[0]!;
      assert.equal(cat.label, 'cat');
      const ref = baseline.detections[0]!.box;
      for (const k of ['x1', 'y1', 'x2', 'y2'] as const) {
        assert.ok(Math.abs(cat.box[k] - ref[k]) < 15, `${k} ${cat.box[k]} vs ${ref[k]}`);
      }
    });

    it('a JPEG with damaged scan data but intact headers: decoded like a camera viewer would, full size', async () => {
      // libjpeg reports damaged entropy data as a warning and fills in what it can; a frame
      // that still has its size gives a result rather than an error (see FAIL_ON in image.ts).
      const r = await detect(forged.garbledScan!);
      assert.deepEqual(r.image, { width: 451, height: 300 });
      await stillAnswers();
    });
  });

  it('a model unloaded while the flow runs: MODEL_NOT_READY, then answers again once it is loaded, no redeploy', async () => {
    const admin: InferenceClient = createClient({
      mode: 'http',
      host: '127.0.0.1',
      port: serve.httpPort,
    });
    try {
      const send = (): NodeMessage => ({ payload: png, triton: { model: 'yolov8n_b' } });
      const before = await sendExpectingOutput(ID, send());
      assert.equal((before.payload as Detected).model.name, 'yolov8n_b');
      // Unload while a message is in flight: it is answered or fails as not ready, never lost.
      // (Listeners come off after the event, not inside it: Node-RED calls input listeners
      // from an array that a removal during the call would shift.)
      const outNode = helper.getNode('out');
      const caughtNode = helper.getNode('caught');
      let onOut = (): void => undefined;
      let onCaught = (_m: { error: { code: string } }): void => undefined;
      const inFlight = new Promise<string>((resolve) => {
        onOut = () => resolve('answered');
        onCaught = (m) => resolve(m.error.code);
      });
      outNode.on('input', onOut);
      caughtNode.on('input', onCaught);
      helper.getNode(ID).receive(send());
      await admin.unloadModel('yolov8n_b');
      const fate = await inFlight;
      outNode.off('input', onOut);
      caughtNode.off('input', onCaught);
      assert.ok(['answered', 'MODEL_NOT_READY'].includes(fate), fate);
      await statusOf(ID, (s) => s.fill === 'green' || s.fill === 'red');
      const err = await sendExpectingError(ID, TYPE, send(), 'MODEL_NOT_READY');
      assert.match(err.message, /yolov8n_b/);
      await admin.loadModel('yolov8n_b');
      const after = await sendExpectingOutput(ID, send());
      assert.deepEqual(
        stable({ ...(after.payload as Detected), model: baseline.model }),
        stable(baseline),
      );
      await stillAnswers();
    } finally {
      await admin.close();
    }
  });
});
