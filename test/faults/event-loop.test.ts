/**
 * No long stalls on the event loop (issue 14, item 5). A server may answer with the worst
 * a model head can hold: every one of YOLOv8's 8400 anchors (or YOLOv5's 25 200 rows)
 * above the threshold with its own box and class, so NMS keeps as many as maxDetections
 * allows, or a segmentation head whose 1000 kept instances cover large boxes of a
 * 4096×4096 photo. Before, 8400 masks blocked Node-RED for 2.1 s and 30 000 boxes through
 * NMS for 1.5 s. Here a lying KServe server sends those heads, through runTask and through
 * a deployed node, while a 5 ms timer watches the event loop: its stalls must stay far below
 * those seconds (a generous bound, for a loaded CI host), and the results must be the
 * right ones, in the right order.
 */
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import sharp from 'sharp';
import { createClient } from '../../src/client';
import { encodeInferResponse } from '../../src/protocol/http-codec';
import type { InferenceClient, Tensor } from '../../src/protocol/types';
import { COCO80 } from '../../src/vision/labels';
import { runTask } from '../../src/vision/pipeline';
import { anchorCount } from '../../src/vision/profile';
import type { Detection } from '../../src/vision/types';
import { ProcessWatch, type Detected, sendExpectingOutput } from '../support/faults';
import { ALL_NODES, helper, taskFlow } from '../support/flows';
import { rankScore, segHead, v5AllRows, v8AllAnchors, v8Crowd } from '../vision/worst';

/** Largest event-loop delay allowed while a worst case runs (the bug: 1500–2100 ms). */
const LAG_BOUND_MS = 250;

const N8 = anchorCount(640, 640); // 8400
const N5 = 3 * N8; // 25200
const N1280 = anchorCount(1280, 1280); // 33600
/** Instances in the segmentation worst case, and their side in model-input pixels. */
const SEG_INSTANCES = 1000;
const SEG_SIDE = 96;

interface LiarModel {
  /** Input side (FP32 [1, 3, side, side]); 640 unless given. */
  side?: number;
  outputs: { name: string; shape: number[] }[];
  answer: () => Tensor[];
}

/**
 * A KServe v2 HTTP server for YOLO-shaped models (square FP32 inputs) whose infer answers
 * are whatever `answer` builds, however unlikely from a real model.
 */
async function startLiar(
  models: Record<string, LiarModel>,
): Promise<{ port: number; close(): Promise<void> }> {
  const json = (res: http.ServerResponse, status: number, value: unknown): void => {
    const body = Buffer.from(JSON.stringify(value));
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = (req.url ?? '/').replace(/\/+$/, '');
      if (url === '/v2/health/live' || url === '/v2/health/ready') {
        res.writeHead(200, { 'Content-Length': 0 }).end();
        return;
      }
      if (url === '/v2') {
        json(res, 200, { name: 'liar', version: '0', extensions: ['binary_tensor_data'] });
        return;
      }
      const m = /^\/v2\/models\/([^/]+)(?:\/versions\/1)?(\/ready|\/config|\/infer)?$/.exec(url);
      const model = m ? models[m[1]!] : undefined;
      if (!m || !model) {
        json(res, 404, { error: `no ${url} here` });
        return;
      }
      const name = m[1]!;
      const side = model.side ?? 640;
      const input = { name: 'images', datatype: 'FP32', shape: [1, 3, side, side] };
      const outputs = model.outputs.map((o) => ({ ...o, datatype: 'FP32' }));
      if (m[2] === '/ready') res.writeHead(200, { 'Content-Length': 0 }).end();
      else if (m[2] === '/config') {
        json(res, 200, {
          name,
          platform: 'onnxruntime_onnx',
          backend: 'onnxruntime',
          max_batch_size: 0,
          input: [{ name: 'images', data_type: 'TYPE_FP32', dims: input.shape }],
          output: outputs.map((o) => ({ name: o.name, data_type: 'TYPE_FP32', dims: o.shape })),
        });
      } else if (m[2] === '/infer') {
        const body = encodeInferResponse(
          { model: name, version: '1', outputs: model.answer() },
          true,
        );
        res.writeHead(200, body.headers);
        for (const c of body.chunks) res.write(c);
        res.end();
      } else {
        json(res, 200, {
          name,
          versions: ['1'],
          platform: 'onnxruntime_onnx',
          inputs: [input],
          outputs,
        });
      }
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const tensor = (name: string, t: { data: Float32Array; shape: number[] }): Tensor => ({
  name,
  datatype: 'FP32',
  shape: t.shape,
  data: t.data,
});

interface Lag {
  /** Longest gap between two 5 ms ticks beyond the 5 ms, wall clock. */
  wallMs: number;
  /**
   * The same gap counted only as far as this process used the CPU during it: a loop
   * blocked by our code burns CPU all through the gap, a process that the loaded host
   * merely did not schedule burns none. The bound is on this one, so that two cores
   * shared by a whole CI run cannot fail the test, and a real stall always does.
   */
  busyMs: number;
}

/** Runs `work` while a 5 ms timer samples the event loop; its result and the worst gap. */
async function withLagProbe<T>(work: () => Promise<T>): Promise<{ result: T; lag: Lag }> {
  const lag: Lag = { wallMs: 0, busyMs: 0 };
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let lastWall = performance.now();
  let lastCpu = cpuMs();
  const sample = (): void => {
    const wall = performance.now();
    const cpu = cpuMs();
    const late = wall - lastWall - 5;
    lag.wallMs = Math.max(lag.wallMs, late);
    lag.busyMs = Math.max(lag.busyMs, Math.min(late, cpu - lastCpu));
    lastWall = wall;
    lastCpu = cpu;
  };
  const timer = setInterval(sample, 5);
  try {
    const result = await work();
    // One more tick, so a stall at the very end is sampled too.
    await new Promise((resolve) => setTimeout(resolve, 10));
    sample();
    return { result, lag };
  } finally {
    clearInterval(timer);
  }
}

function assertLag(lag: Lag, what: string): void {
  if (process.env.LAG_LOG) {
    console.log(`    ${what}: lag ${lag.wallMs.toFixed(0)} ms, busy ${lag.busyMs.toFixed(0)} ms`);
  }
  assert.ok(
    lag.busyMs < LAG_BOUND_MS,
    `${what}: the event loop stalled ${lag.busyMs.toFixed(0)} ms (bound ${LAG_BOUND_MS} ms)`,
  );
}

/**
 * The first `count` candidates of a grid head, as decode must report them on a 640×640
 * image (scale 1, no padding): candidate i has class i % 80, score rankScore(i, n) and
 * the box of grid cell i (`cell` px apart, `side` px wide).
 */
function assertGridDetections(
  dets: Detection[],
  count: number,
  n: number,
  cell: number,
  side: number,
): void {
  assert.equal(dets.length, count);
  const perRow = Math.floor(640 / cell);
  dets.forEach((d, i) => {
    assert.equal(d.classId, i % 80, `detection ${i}`);
    assert.equal(d.label, COCO80[i % 80]);
    assert.equal(d.score, rankScore(i, n));
    const x = (i % perRow) * cell;
    const y = Math.floor(i / perRow) * cell;
    assert.deepEqual(d.box, { x1: x, y1: y, x2: x + side, y2: y + side }, `box ${i}`);
  });
}

/**
 * The segmentation worst case on a 4096×4096 image (gain 6.4): instance i is the box of
 * segHead(i) mapped to the image; even instances have a solid mask (the whole box, a
 * four-corner polygon), odd ones a checkered one (a part of the box).
 */
function assertSegments(dets: Detection[]): void {
  assert.equal(dets.length, SEG_INSTANCES);
  dets.forEach((d, i) => {
    assert.equal(d.score, rankScore(i, SEG_INSTANCES), `instance ${i} in score order`);
    assert.equal(d.classId, i % 80);
    const mask = d.mask!;
    const { x1, y1, x2, y2 } = d.box;
    assert.ok(x2 - x1 > SEG_SIDE * 6 && y2 - y1 > SEG_SIDE * 6, `instance ${i} is large`);
    const boxPixels = (Math.ceil(x2) - Math.ceil(x1)) * (Math.ceil(y2) - Math.ceil(y1));
    if (i % 2 === 0) {
      assert.equal(mask.area, boxPixels, `solid mask ${i} fills its box`);
      assert.equal(mask.polygon.length, 4);
    } else {
      assert.ok(mask.area > 0 && mask.area < boxPixels, `checkered mask ${i} is part of its box`);
    }
  });
}

describe('fault suite: no long stalls on the event loop (worst-case heads)', function () {
  this.timeout(180000);
  const watch = new ProcessWatch();
  let liar: { port: number; close(): Promise<void> };
  let client: InferenceClient;
  let square: Buffer; // 640×640: decoded boxes are the head's own
  let square1280: Buffer;
  let photo4k: Buffer; // 4096×4096
  let photo49mp: Buffer; // 7000×7000, just under the 50 MP default limit

  before(async () => {
    watch.install();
    const seg = segHead(640, 80, SEG_INSTANCES, SEG_SIDE);
    const whole = segHead(640, 80, 2, 640);
    liar = await startLiar({
      v8_all: {
        outputs: [{ name: 'output0', shape: [1, 84, N8] }],
        answer: () => [tensor('output0', v8AllAnchors())],
      },
      v5_all: {
        outputs: [{ name: 'output0', shape: [1, N5, 85] }],
        answer: () => [tensor('output0', v5AllRows())],
      },
      v8_crowd: {
        side: 1280,
        outputs: [{ name: 'output0', shape: [1, 84, N1280] }],
        answer: () => [tensor('output0', v8Crowd(1280))],
      },
      seg_all: {
        outputs: [
          { name: 'output0', shape: [1, 116, N8] },
          { name: 'output1', shape: [1, 32, 160, 160] },
        ],
        answer: () => [tensor('output0', seg.head), tensor('output1', seg.protos)],
      },
      seg_whole: {
        outputs: [
          { name: 'output0', shape: [1, 116, N8] },
          { name: 'output1', shape: [1, 32, 160, 160] },
        ],
        answer: () => [tensor('output0', whole.head), tensor('output1', whole.protos)],
      },
    });
    client = createClient({ mode: 'http', host: '127.0.0.1', port: liar.port });
    const grey = (side: number): Promise<Buffer> =>
      sharp({ create: { width: side, height: side, channels: 3, background: '#777' } })
        .png()
        .toBuffer();
    square = await grey(640);
    square1280 = await grey(1280);
    photo4k = await grey(4096);
    photo49mp = await grey(7000);
  });
  after(async () => {
    await client.close();
    await liar.close();
    watch.uninstall();
  });
  afterEach(async () => {
    await helper.unload();
    watch.assertClean();
  });

  it(`YOLOv8, all ${N8} anchors above threshold, maxDetections 1000: the first 1000 by score, no stall`, async () => {
    const { result, lag } = await withLagProbe(() =>
      runTask(client, 'v8_all', square, { maxDetections: 1000 }),
    );
    assertGridDetections(result.detections!, 1000, N8, 5, 4);
    assertLag(lag, 'v8 8400 anchors');
  });

  it(`YOLOv5, all ${N5} rows above threshold, maxDetections 1000: the first 1000 by score, no stall`, async () => {
    const { result, lag } = await withLagProbe(() =>
      runTask(client, 'v5_all', square, { maxDetections: 1000 }),
    );
    assertGridDetections(result.detections!, 1000, N5, 3, 2);
    assertLag(lag, 'v5 25200 rows');
  });

  it(`NMS at its costliest: ${N1280} candidates capped to 30 000, each compared with ~1000 kept boxes, no stall`, async () => {
    const { result, lag } = await withLagProbe(() =>
      runTask(client, 'v8_crowd', square1280, { maxDetections: 1000, iou: 0.9999 }),
    );
    // The 999 shifted boxes survive, every copy of the last one is suppressed.
    const dets = result.detections!;
    assert.equal(dets.length, 999);
    dets.forEach((d, i) => {
      assert.equal(d.score, rankScore(i, N1280), `detection ${i} in score order`);
      assert.ok(Math.abs(d.box.x1 - i * 0.3) < 1e-3, `box ${i} at x ${d.box.x1}`);
      assert.ok(Math.abs(d.box.x2 - (i * 0.3 + 600)) < 1e-3);
    });
    assertLag(lag, 'NMS of 30 000 against 999 kept');
  });

  it(`YOLOv8-seg, ${SEG_INSTANCES} large instances on a 4096×4096 image (RLE): all masks, no stall`, async () => {
    const { result, lag } = await withLagProbe(() =>
      runTask(client, 'seg_all', photo4k, { maxDetections: 1000, iou: 1, rle: true }),
    );
    assertSegments(result.detections!);
    const rle = result.detections![0]!.mask!.rle!;
    assert.deepEqual(rle.size, [4096, 4096]);
    assert.equal(
      rle.counts.reduce((a, b) => a + b, 0),
      4096 * 4096,
    );
    assertLag(lag, `${SEG_INSTANCES} masks through runTask`);
  });

  it('one mask as large as the largest image (7000×7000, RLE): no stall inside the mask either', async () => {
    const { result, lag } = await withLagProbe(() =>
      runTask(client, 'seg_whole', photo49mp, { iou: 1, rle: true }),
    );
    const [solid, checkered] = result.detections!;
    assert.equal(result.detections!.length, 2);
    assert.deepEqual(solid!.box, { x1: 0, y1: 0, x2: 7000, y2: 7000 });
    assert.equal(solid!.mask!.area, 7000 * 7000);
    assert.deepEqual(solid!.mask!.rle!.counts, [0, 7000 * 7000]);
    assert.ok(checkered!.mask!.area > 0 && checkered!.mask!.area < 7000 * 7000);
    assert.equal(
      checkered!.mask!.rle!.counts.reduce((a, b) => a + b, 0),
      7000 * 7000,
    );
    assertLag(lag, 'a 49 MP mask');
  });

  it('the same through a deployed segment node: the message arrives whole, the runtime stays responsive', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow(
        'triton-segment',
        { mode: 'http', httpPort: liar.port },
        { id: 'segment', model: 'seg_all', maxDetections: 1000, iou: 1, maskFormat: 'polygon' },
      ),
    );
    const { result, lag } = await withLagProbe(() =>
      sendExpectingOutput('segment', { payload: photo4k }, 120000),
    );
    assertSegments((result.payload as Detected).detections);
    assertLag(lag, `${SEG_INSTANCES} masks through a segment node`);
  });
});
