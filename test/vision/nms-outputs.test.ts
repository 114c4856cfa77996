/**
 * Server-side NMS outputs: the EfficientNMS layout (num_dets, det_boxes, det_scores,
 * det_classes) and the end-to-end [1, K, 6] layout are recognised from metadata and
 * decoded by the detect path. The fixtures are ONNX graphs built here whose outputs are
 * constants chosen by hand, run in local mode on a 128×64 image: the letterbox into
 * 64×64 halves every coordinate and pads 16 rows on top, so the expected boxes follow
 * by hand.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { LocalClient } from '../../src/client/local';
import {
  AttributeType,
  OnnxType,
  encodeModel,
  floatTensor,
  valueInfo,
  type OnnxNode,
  type OnnxTensor,
} from '../../src/tools/onnx';
import { findNmsOutputs } from '../../src/vision/nms-outputs';
import { resolveProfile, runTask } from '../../src/vision/pipeline';
import { releaseOnnxSessions } from '../support/ort';

function int32Tensor(name: string, dims: number[], values: number[]): OnnxTensor {
  return {
    name,
    data_type: OnnxType.INT32,
    dims,
    raw_data: new Uint8Array(Int32Array.from(values).buffer),
  };
}

/** A model whose outputs are the given constants; its image input [1,3,64,64] is unused. */
function constantModel(outputs: OnnxTensor[]): Buffer {
  const node = (t: OnnxTensor): OnnxNode => ({
    name: `const_${t.name}`,
    op_type: 'Constant',
    input: [],
    output: [t.name],
    attribute: [
      { name: 'value', type: AttributeType.TENSOR, t: { ...t, name: `${t.name}_value` } },
    ],
  });
  return encodeModel({
    ir_version: 7,
    producer_name: 'triton-vision tests',
    opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'constants',
      node: outputs.map(node),
      input: [valueInfo('images', OnnxType.FLOAT, [1, 3, 64, 64])],
      output: outputs.map((t) => valueInfo(t.name, t.data_type, t.dims)),
    },
  });
}

const TYPE = { [OnnxType.FLOAT]: 'TYPE_FP32', [OnnxType.INT32]: 'TYPE_INT32' } as Record<
  number,
  string
>;

function addModel(repo: string, name: string, outputs: OnnxTensor[]): void {
  fs.mkdirSync(path.join(repo, name, '1'), { recursive: true });
  fs.writeFileSync(path.join(repo, name, '1', 'model.onnx'), constantModel(outputs));
  const outs = outputs
    .map(
      (t) => `{ name: "${t.name}" data_type: ${TYPE[t.data_type]} dims: [ ${t.dims.join(', ')} ] }`,
    )
    .join(',\n  ');
  fs.writeFileSync(
    path.join(repo, name, 'config.pbtxt'),
    `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 64, 64 ] } ]
output [
  ${outs}
]
`,
  );
}

describe('server-side NMS outputs', function () {
  this.timeout(60000);
  let repo: string;
  let client: LocalClient;
  let image: Buffer;

  before(async () => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-nms-'));
    // Three real rows (scores 0.9, 0.6, 0.2), two padding rows; input-space corners.
    addModel(repo, 'efficient_nms', [
      int32Tensor('num_dets', [1, 1], [3]),
      floatTensor(
        'det_boxes',
        [1, 5, 4],
        [8, 24, 40, 40, 0, 16, 64, 48, 2, 20, 6, 30, 0, 0, 0, 0, 0, 0, 0, 0],
      ),
      floatTensor('det_scores', [1, 5], [0.9, 0.6, 0.2, 0, 0]),
      int32Tensor('det_classes', [1, 5], [0, 16, 2, 0, 0]),
    ]);
    // Rows x1, y1, x2, y2, score, class; the highest score deliberately not first.
    addModel(repo, 'end2end', [
      floatTensor(
        'output0',
        [1, 4, 6],
        [0, 16, 64, 48, 0.6, 16, 8, 24, 40, 40, 0.9, 0, 2, 20, 6, 30, 0.1, 2, 0, 0, 0, 0, 0, 0],
      ),
    ]);
    client = new LocalClient({ modelRepository: repo });
    image = await sharp({
      create: { width: 128, height: 64, channels: 3, background: { r: 90, g: 120, b: 30 } },
    })
      .png()
      .toBuffer();
  });
  after(async () => {
    await client?.close();
    await releaseOnnxSessions();
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('recognises both layouts from metadata, and not a raw head', () => {
    assert.deepEqual(
      findNmsOutputs([
        { name: 'det_scores', shape: [1, 100] },
        { name: 'num_dets', shape: [1, 1] },
        { name: 'det_classes', shape: [1, 100] },
        { name: 'det_boxes', shape: [1, 100, 4] },
      ]),
      {
        kind: 'efficient',
        count: 'num_dets',
        boxes: 'det_boxes',
        scores: 'det_scores',
        classes: 'det_classes',
      },
    );
    assert.equal(
      findNmsOutputs([
        { name: 'num_detections', shape: [-1, 1] },
        { name: 'detection_boxes', shape: [-1, 100, 4] },
        { name: 'detection_scores', shape: [-1, 100] },
        { name: 'detection_classes', shape: [-1, 100] },
      ])?.kind,
      'efficient',
    );
    assert.deepEqual(findNmsOutputs([{ name: 'output0', shape: [1, 300, 6] }]), {
      kind: 'end2end',
      detections: 'output0',
    });
    assert.equal(findNmsOutputs([{ name: 'output0', shape: [1, 84, 8400] }]), undefined);
    // A one-class YOLOv5 head has 6 columns too, but 25200 rows.
    assert.equal(findNmsOutputs([{ name: 'output0', shape: [1, 25200, 6] }]), undefined);
  });

  for (const model of ['efficient_nms', 'end2end']) {
    it(`${model}: the detect path keeps rows over the threshold, mapped to the original image`, async () => {
      const profile = await resolveProfile(client, model);
      assert.equal(profile.task, 'detect');
      assert.equal(profile.outputs.nms?.kind, model === 'end2end' ? 'end2end' : 'efficient');
      const result = await runTask(client, model, image);
      const got = result.detections!.map((d) => ({
        label: d.label,
        score: Number(d.score.toFixed(4)),
        box: [d.box.x1, d.box.y1, d.box.x2, d.box.y2].map((v) => Number(v.toFixed(3))),
      }));
      // x / 0.5 and (y - 16) / 0.5, clipped to 128×64.
      assert.deepEqual(got, [
        { label: 'person', score: 0.9, box: [16, 16, 80, 48] },
        { label: 'dog', score: 0.6, box: [0, 0, 128, 64] },
      ]);
      const strict = await runTask(client, model, image, { confidence: 0.7 });
      assert.deepEqual(
        strict.detections!.map((d) => d.label),
        ['person'],
      );
      const dogs = await runTask(client, model, image, { classes: ['dog'] });
      assert.deepEqual(
        dogs.detections!.map((d) => d.label),
        ['dog'],
      );
    });
  }
});
