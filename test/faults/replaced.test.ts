/**
 * A model replaced on the server under the same name (new input size, new output shape)
 * is picked up without a redeploy: the first message after the swap is rejected by the
 * server for its old shape, the node re-reads the model's metadata once, logs the change
 * and answers with the new profile. Real triton-vision-serve processes on the same ports.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { NodeMessage } from '../../src/nodes/types';
import { ProcessWatch, sendExpectingOutput, type Detected } from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { ALL_NODES, freePort, helper, isStatus, statusOf, taskFlow } from '../support/flows';
import { startServe } from '../support/serve';

const TYPE = 'triton-detect';
const ID = 'detect';

const at = (size: number, file: string) => ({
  name: 'yolov8n',
  file,
  config: `name: "yolov8n"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, ${size}, ${size} ] } ]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 1, 84, ${(size / 32) ** 2 * 21} ] } ]
`,
});

/** Same input as the 320 model, different outputs: a segment model under the same name. */
const segmentAs = {
  name: 'yolov8n',
  file: 'yolov8n-seg_int8_320.onnx',
  config: `name: "yolov8n"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 320, 320 ] } ]
output [
  { name: "output0" data_type: TYPE_FP32 dims: [ 1, 116, 2100 ] },
  { name: "output1" data_type: TYPE_FP32 dims: [ 1, 32, 80, 80 ] }
]
`,
};

describe('fault suite: a model replaced on the server', function () {
  this.timeout(120000);
  const watch = new ProcessWatch();
  let small: string;
  let large: string;
  let seg: string;
  let png: Buffer;

  before(() => {
    watch.install();
    small = buildFixtureRepository([at(320, 'yolov8n_int8_320.onnx')]);
    large = buildFixtureRepository([at(640, 'yolov8n_int8_640.onnx')]);
    seg = buildFixtureRepository([segmentAs]);
    png = fs.readFileSync(fixtureImage('chelsea.png'));
  });
  after(() => {
    watch.uninstall();
    for (const r of [small, large, seg]) fs.rmSync(r, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    watch.assertClean();
  });

  for (const mode of ['http', 'grpc'] as const) {
    it(`${mode}: 320 → 640 under the same name: re-reads metadata once, logs it, answers`, async () => {
      const httpPort = await freePort();
      const grpcPort = await freePort();
      let serve = await startServe({ repository: small, httpPort, grpcPort });
      try {
        await helper.load(
          ALL_NODES,
          taskFlow(TYPE, { mode, httpPort, grpcPort }, { id: ID, model: 'yolov8n' }),
        );
        await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
        const before = await sendExpectingOutput(ID, { payload: png });
        assert.equal((before.payload as Detected).detections[0]?.label, 'cat');

        await serve.stop();
        serve = await startServe({ repository: large, httpPort, grpcPort });
        const logged: string[] = [];
        helper
          .getNode(ID)
          .on('call:log', (call: { args: unknown[] }) => logged.push(String(call.args[0])));
        const caught: NodeMessage[] = [];
        helper.getNode('caught').on('input', (m: NodeMessage) => caught.push(m));

        const after = await sendExpectingOutput(ID, { payload: png });
        const detections = (after.payload as Detected).detections;
        assert.equal(detections[0]?.label, 'cat');
        assert.deepEqual(caught, [], 'the message was not failed');
        const changed = logged.filter((l) => /changed/.test(l));
        assert.equal(changed.length, 1, logged.join('\n'));
        assert.match(changed[0]!, /FP32 \[1, 3, 320, 320\].* → FP32 \[1, 3, 640, 640\]/);
        // The next message uses the new profile straight away: no second re-read.
        await sendExpectingOutput(ID, { payload: png });
        assert.equal(logged.filter((l) => /changed/.test(l)).length, 1);
      } finally {
        await serve.stop();
      }
    });
  }

  it('http: same input, new outputs (a segment model under the name): re-reads once and answers', async () => {
    const httpPort = await freePort();
    const grpcPort = await freePort();
    let serve = await startServe({ repository: small, httpPort, grpcPort });
    try {
      await helper.load(
        ALL_NODES,
        taskFlow(TYPE, { mode: 'http', httpPort, grpcPort }, { id: ID, model: 'yolov8n' }),
      );
      await statusOf(ID, isStatus('green', `${TYPE}.status.ready`));
      await sendExpectingOutput(ID, { payload: png });
      await serve.stop();
      serve = await startServe({ repository: seg, httpPort, grpcPort });
      const logged: string[] = [];
      helper
        .getNode(ID)
        .on('call:log', (call: { args: unknown[] }) => logged.push(String(call.args[0])));
      const after = await sendExpectingOutput(ID, { payload: png });
      const best = (after.payload as Detected).detections[0];
      assert.equal(best?.label, 'cat');
      assert.equal(best?.mask, undefined, 'a detect node decodes boxes only');
      assert.equal(logged.filter((l) => /changed/.test(l)).length, 1, logged.join('\n'));
    } finally {
      await serve.stop();
    }
  });
});
