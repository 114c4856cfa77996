/**
 * The nodes' Resize, Colour profile and Preprocess settings, and their msg.triton
 * overrides, reach the pipeline: each is held to the reference result it claims to follow
 * (../shared/fixtures/reference), never to runTask's own output.
 *
 * - Preprocess: the fixture MobileNetV2 declares `onnx-zoo` in its config; the reference
 *   file also holds torchvision's transforms (bicubic) on the same model and photo
 *   (`alt.torchvision_bicubic`), whose top-5 differs on bus.jpg (minivan replaces
 *   trolleybus), so each preset is told apart by the classes it returns.
 * - Resize / ICC: exact + ignore equal Ultralytics' result on bus.jpg at the strict goal;
 *   fast (libvips' own reduce) and apply (bus.jpg embeds a Display P3 profile, which
 *   cv2.imread ignores) move the scores off it, while staying near it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import type { NodeMessage } from '../../src/nodes/types';
import type { TaskResult } from '../../src/vision/pipeline';
import { sendExpectingError, sendExpectingOutput } from '../support/faults';
import { fixtureImage } from '../support/fixtures';
import { ALL_NODES, helper, isStatus, statusOf, taskFlow } from '../support/flows';
import { REFERENCE, compareCase, modelName, referenceRepository } from '../support/reference';
import type { RefCase } from '../support/reference';

function refCase(id: string): RefCase {
  const c = REFERENCE.cases.find((x) => x.id === id);
  assert.ok(c, id);
  return c;
}

const top5 = (l: { label: string }[]): string[] => l.map((x) => x.label);

describe('task nodes: Resize, Colour profile and Preprocess reach the pipeline', function () {
  this.timeout(120000);
  let repo: string;
  before(() => {
    repo = referenceRepository();
  });
  after(() => {
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });
  afterEach(() => helper.unload());

  describe('classify: Preprocess and msg.triton.preprocess', () => {
    const c = refCase('mobilenetv2-12-int8/bus.jpg');
    const image = (): Buffer => fs.readFileSync(fixtureImage(c.image));
    const torchvision = (c.alt as Record<string, unknown>).torchvision_bicubic as {
      label: string;
      score: number;
    }[];

    before(() => {
      // The two references must differ here, or this test could not tell them apart.
      assert.notDeepEqual(top5(torchvision), top5(c.classes!));
    });

    async function deploy(preprocess: string): Promise<void> {
      await helper.load(
        ALL_NODES,
        taskFlow(
          'triton-classify',
          { mode: 'local', modelRepository: repo },
          { id: 'classify', model: modelName(c.model_file), topK: 5, preprocess },
        ),
      );
      await statusOf('classify', isStatus('green', 'triton-classify.status.ready'));
    }

    const classes = async (msg: NodeMessage): Promise<{ label: string; score: number }[]> =>
      ((await sendExpectingOutput('classify', msg)).payload as TaskResult).classes!;

    it('auto follows the model config (onnx-zoo): the ONNX Model Zoo reference', async () => {
      await deploy('auto');
      const got = await classes({ payload: image() });
      assert.ok(compareCase(c, { classes: got } as TaskResult).ok);
      assert.ok(Math.abs(got[0]!.score - c.classes![0]!.score) <= 1e-3);
    });

    it('torchvision in the node overrides the config: torchvision’s transforms', async () => {
      await deploy('torchvision');
      const got = await classes({ payload: image() });
      assert.deepEqual(top5(got), top5(torchvision));
      got.forEach((g, k) => assert.ok(Math.abs(g.score - torchvision[k]!.score) <= 1e-3, g.label));
      // And a message may go back to the zoo's recipe, or to the model's own (auto).
      for (const preprocess of ['onnx-zoo', 'auto']) {
        const zoo = await classes({ payload: image(), triton: { preprocess } });
        assert.deepEqual(top5(zoo), top5(c.classes!), preprocess);
      }
    });
  });

  describe('detect: Resize, Colour profile and their msg.triton overrides', () => {
    const c = refCase('yolov8n_int8_640/bus.jpg');
    const image = (): Buffer => fs.readFileSync(fixtureImage(c.image));

    async function deploy(node: Record<string, unknown>): Promise<void> {
      await helper.load(
        ALL_NODES,
        taskFlow(
          'triton-detect',
          { mode: 'local', modelRepository: repo },
          {
            id: 'detect',
            model: modelName(c.model_file),
            confidence: c.conf,
            iou: c.iou,
            maxDetections: c.max_det ?? 300,
            ...node,
          },
        ),
      );
      await statusOf('detect', isStatus('green', 'triton-detect.status.ready'));
    }

    const compare = async (msg: NodeMessage) =>
      compareCase(c, (await sendExpectingOutput('detect', msg)).payload as TaskResult);

    for (const [node, message] of [
      [{ resizeMode: 'fast' }, { resize: 'exact' }],
      [{ icc: 'apply' }, { icc: 'ignore' }],
    ] as const) {
      it(`${JSON.stringify(node)} leaves the reference; msg.triton ${JSON.stringify(message)} returns to it`, async () => {
        await deploy(node);
        const off = await compare({ payload: image() });
        assert.equal(off.ok, false, 'the setting changed nothing');
        // Off the reference by the measured deviation, not broken.
        assert.ok(off.minIou >= 0.8 && off.maxScoreDiff <= 0.3, JSON.stringify(off));
        const exact = await compare({ payload: image(), triton: message });
        assert.ok(exact.ok, exact.problems.join('; '));
      });
    }

    it('an annotated message decodes once with the same colour choice (icc apply)', async () => {
      await deploy({ icc: 'apply', annotate: true });
      const annotated = await compare({ payload: image() });
      await helper.unload();
      await deploy({ icc: 'apply' });
      const plain = await compare({ payload: image() });
      assert.equal(annotated.maxScoreDiff, plain.maxScoreDiff);
      assert.equal(annotated.minIou, plain.minIou);
    });

    it('a bad msg.triton.resize / icc / preprocess ends the message with INVALID_OPTION', async () => {
      await deploy({});
      for (const [key, value, want] of [
        ['resize', 'quick', /msg\.triton\.resize must be one of exact, fast, got "quick"/],
        ['icc', true, /msg\.triton\.icc must be one of ignore, apply, got true/],
        ['preprocess', 'imagenet', /msg\.triton\.preprocess must be one of auto, torchvision/],
      ] as const) {
        const err = await sendExpectingError(
          'detect',
          'triton-detect',
          { payload: image(), triton: { [key]: value } },
          'INVALID_OPTION',
        );
        assert.match(err.message, want);
      }
    });
  });
});
