/**
 * Labels the Triton way: a model's label_filename read from the repository (local mode),
 * then the node's Labels (a list) or Label file (a file in the user directory), then
 * msg.triton.labels, each replacing the one before; one name per class, checked at deploy.
 * COCO class 15 is "cat": chelsea.png's best detection, so every source renames that line.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { TASK_OPTIONS, check } from '../../src/shared/options';
import { COCO80 } from '../../src/vision/labels';
import type { NodeMessage } from '../../src/nodes/types';
import { sendExpectingError, sendExpectingOutput, type Detected } from '../support/faults';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import {
  ALL_NODES,
  helper,
  isStatus,
  nextMessage,
  statusOf,
  taskFlow,
  type ServerTarget,
} from '../support/flows';
import { startServe, type ServeHandle } from '../support/serve';

const TYPE = 'triton-detect';
const CAT = 15;

/** COCO's 80 names with the cat renamed. */
function renamed(cat: string): string[] {
  const l = [...COCO80];
  l[CAT] = cat;
  return l;
}

const withLabelFile = (params = '') => ({
  name: 'yolov8n',
  file: 'yolov8n_int8_320.onnx',
  config: `name: "yolov8n"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 320, 320 ] } ]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 1, 84, 2100 ] label_filename: "labels.txt" } ]
${params}`,
});

describe('task nodes: labels from the label file, the node and the message', function () {
  this.timeout(60000);
  let repo: string;
  let userDir: string;
  let target: ServerTarget;
  const png = fs.readFileSync(fixtureImage('chelsea.png'));

  before(() => {
    // The config's labels parameter says "param-cat"; the label file, one per line, "file-cat".
    repo = buildFixtureRepository([
      withLabelFile(
        `parameters { key: "labels" value: { string_value: "${renamed('param-cat').join(',')}" } }\n`,
      ),
    ]);
    fs.writeFileSync(
      path.join(repo, 'yolov8n', 'labels.txt'),
      renamed('file-cat').join('\n') + '\n',
    );
    target = { mode: 'local', modelRepository: repo };
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-userdir-'));
    fs.writeFileSync(path.join(userDir, 'my-labels.txt'), renamed('userdir-cat').join('\n'));
    helper.settings({ userDir });
  });
  after(() => {
    helper.settings({});
    fs.rmSync(repo, { recursive: true, force: true });
    fs.rmSync(userDir, { recursive: true, force: true });
  });
  afterEach(() => helper.unload());

  const best = (msg: NodeMessage) => (msg.payload as Detected).detections[0]!;

  it('the label file replaces the config labels parameter', async () => {
    await helper.load(ALL_NODES, taskFlow(TYPE, target, { id: 'detect', model: 'yolov8n' }));
    await statusOf('detect', isStatus('green', `${TYPE}.status.ready`));
    const d = best(await sendExpectingOutput('detect', { payload: png }));
    assert.deepEqual([d.classId, d.label], [CAT, 'file-cat']);
  });

  it("the editor's model list shows the label file's names (what the class filter will match)", async () => {
    await helper.load(ALL_NODES, taskFlow(TYPE, target, { id: 'detect', model: 'yolov8n' }));
    const res = await helper.request().post('/triton-vision/models').send({ id: 'server' });
    const row = (res.body as { models: { name: string; labels?: string[] }[] }).models[0]!;
    assert.equal(row.labels?.[CAT], 'file-cat');
  });

  it('the node list replaces the file, the message replaces the node; filters use the new names', async () => {
    await helper.load(
      ALL_NODES,
      taskFlow(TYPE, target, {
        id: 'detect',
        model: 'yolov8n',
        labels: renamed('node-cat').join(', '),
        annotate: true,
      }),
    );
    await statusOf('detect', isStatus('green', `${TYPE}.status.ready`));
    const byNode = await sendExpectingOutput('detect', { payload: png });
    assert.equal(best(byNode).label, 'node-cat');
    const meta = await sharp(byNode.annotated as Buffer).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 451, 300]);

    const byMsg = await sendExpectingOutput('detect', {
      payload: png,
      triton: { labels: renamed('msg-cat'), classes: ['msg-cat'] },
    });
    const dets = (byMsg.payload as Detected).detections;
    assert.ok(dets.length > 0);
    assert.ok(
      dets.every((x) => x.classId === CAT && x.label === 'msg-cat'),
      'only the class filtered by its new name',
    );
  });

  it('Label file reads the list from the user directory (and Labels file:NAME still does)', async () => {
    for (const node of [{ labelsFile: 'my-labels.txt' }, { labels: 'file:my-labels.txt' }]) {
      await helper.load(
        ALL_NODES,
        taskFlow(TYPE, target, { id: 'detect', model: 'yolov8n', ...node }),
      );
      await statusOf('detect', isStatus('green', `${TYPE}.status.ready`));
      const got = await sendExpectingOutput('detect', { payload: png });
      assert.equal(best(got).label, 'userdir-cat', JSON.stringify(node));
      await helper.unload();
    }
  });

  for (const [node, why] of [
    [{ labelsFile: '../../../../etc/hostname' }, /outside the user directory|no such file/],
    [{ labelsFile: '/etc/hostname' }, /inside the user directory/],
    [{ labels: 'file:/etc/hostname' }, /inside the user directory/],
    [{ labelsFile: 'missing.txt' }, /Label file 'missing.txt': no such file/],
    [{ labels: 'a, b, c' }, /80 classes but the node's Labels has 3 names/],
    [
      { labels: 'a, b', labelsFile: 'my-labels.txt' },
      /Labels and Label file are both set: keep one/,
    ],
  ] as const) {
    it(`a bad node label setting ${JSON.stringify(node)} is refused at deploy with INVALID_CONFIG`, async () => {
      await helper.load(
        ALL_NODES,
        taskFlow(TYPE, target, { id: 'detect', model: 'yolov8n', ...node }),
      );
      await statusOf('detect', isStatus('red', `${TYPE}.errors.INVALID_CONFIG`));
      const err = await sendExpectingError('detect', TYPE, { payload: png }, 'INVALID_CONFIG');
      assert.match(err.message, why);
    });
  }

  it('the editor marks a Label file outside the user directory, as the runtime refuses it', () => {
    for (const bad of ['/etc/hostname', '../secret.txt', 'a/../../b', 'C:\\labels.txt', '..\\x']) {
      assert.notEqual(check(TASK_OPTIONS, 'labelsFile', bad), null, bad);
    }
    for (const good of ['', 'labels.txt', 'models/coco names.txt', 'a..b.txt']) {
      assert.equal(check(TASK_OPTIONS, 'labelsFile', good), null, good);
    }
  });

  it('msg.triton.labels of the wrong length or type → INVALID_OPTION', async () => {
    await helper.load(ALL_NODES, taskFlow(TYPE, target, { id: 'detect', model: 'yolov8n' }));
    await statusOf('detect', isStatus('green', `${TYPE}.status.ready`));
    for (const labels of [['one'], [1, 2], []]) {
      const err = await sendExpectingError(
        'detect',
        TYPE,
        { payload: png, triton: { labels } },
        'INVALID_OPTION',
      );
      assert.match(err.message, /labels/);
    }
  });

  describe('over HTTP', () => {
    let serve: ServeHandle;
    before(async () => {
      serve = await startServe({ repository: repo });
    });
    after(() => serve?.stop());

    it('a remote server cannot send the label file: said once in the log, config labels used', async () => {
      await helper.load(
        ALL_NODES,
        taskFlow(
          TYPE,
          { mode: 'http', httpPort: serve.httpPort },
          { id: 'detect', model: 'yolov8n' },
        ),
      );
      const logged: string[] = [];
      helper
        .getNode('detect')
        .on('call:log', (call: { args: unknown[] }) => logged.push(String(call.args[0])));
      await statusOf('detect', isStatus('green', `${TYPE}.status.ready`));
      for (let i = 0; i < 2; i++) {
        const out = nextMessage('out');
        helper.getNode('detect').receive({ payload: png });
        assert.equal(best(await out).label, 'param-cat');
      }
      const notes = logged.filter((l) => /label file 'labels.txt'/.test(l));
      assert.equal(notes.length, 1, logged.join('\n'));
      assert.match(notes[0]!, /KServe server offers no way to read/);
    });
  });
});
