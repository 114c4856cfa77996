/**
 * The task nodes' results held to the reference implementations (issue #10.6): a detect,
 * a segment and a classify node (in-process backend, real Node-RED runtime via
 * node-red-node-test-helper) on reference.json cases, compared with the reference at the
 * strict goal of test/vision/reference.test.ts rather than with runTask's own output.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import type { TaskResult } from '../src/vision/pipeline';
import { fixtureImage } from './support/fixtures';
import { ALL_NODES, helper, isStatus, nextMessage, statusOf, taskFlow } from './support/flows';
import { REFERENCE, compareCase, modelName, referenceRepository } from './support/reference';
import type { RefCase } from './support/reference';

const PICKS: { id: string; type: 'triton-detect' | 'triton-segment' | 'triton-classify' }[] = [
  { id: 'yolov8n_int8_640/bus.jpg', type: 'triton-detect' },
  { id: 'yolox_nano_416/coffee.png', type: 'triton-detect' },
  { id: 'yolov8n-seg_int8_320/coffee.png', type: 'triton-segment' },
  { id: 'mobilenetv2-12-int8/chelsea.png', type: 'triton-classify' },
];

describe('task nodes: results equal the reference implementations', function () {
  this.timeout(120000);
  let repo: string;
  before(() => {
    repo = referenceRepository();
  });
  after(() => {
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(() => helper.unload());

  for (const pick of PICKS) {
    it(`${pick.type} on ${pick.id}`, async () => {
      const c: RefCase | undefined = REFERENCE.cases.find((x) => x.id === pick.id);
      assert.ok(c, pick.id);
      const id = pick.type.replace('triton-', '');
      const node: Record<string, unknown> = { id, model: modelName(c.model_file) };
      if (c.task === 'classify') node.topK = 5;
      else {
        Object.assign(node, {
          confidence: c.conf,
          iou: c.iou,
          maxDetections: c.max_det ?? 300,
          agnostic: c.agnostic === true,
        });
        if (c.task === 'segment') node.maskFormat = 'rle';
      }
      await helper.load(
        ALL_NODES,
        taskFlow(pick.type, { mode: 'local', modelRepository: repo }, node),
      );
      await statusOf(id, isStatus('green', `${pick.type}.status.ready`));
      const got = nextMessage('out');
      helper.getNode(id).receive({ payload: fs.readFileSync(fixtureImage(c.image)) });
      const payload = (await got).payload as TaskResult;
      assert.deepEqual(payload.image, { width: c.width, height: c.height });
      const report = compareCase(c, payload);
      assert.ok(report.ok, `${c.id}: ${report.problems.join('; ')}`);
    });
  }
});
