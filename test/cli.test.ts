/**
 * The `triton-vision` command, run as a real process over the local backend on the
 * fixture photo: its --json line is exactly the pipeline's result (the nodes'
 * msg.payload), and failures are one coded line with a non-zero exit.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { LocalClient } from '../src/client/local';
import { runTask } from '../src/vision/pipeline';
import { buildFixtureRepository, fixtureImage } from './support/fixtures';

const ROOT = path.resolve(__dirname, '..');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'cli.ts'), ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 120000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('triton-vision CLI', function () {
  this.timeout(180000);
  const repo = buildFixtureRepository();
  const bus = fixtureImage('bus.jpg');

  it('detect --json prints one line per image: the pipeline result, bus and people on bus.jpg', async () => {
    const r = cli(['detect', '--model', 'yolov8n', '--model-repository', repo, '--json', bus, bus]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    const out = JSON.parse(lines[0]!);
    assert.equal(out.task, 'detect');
    assert.deepEqual(out.image, { width: 810, height: 1080 });
    assert.deepEqual(out.model, {
      name: 'yolov8n',
      version: '1',
      backend: 'onnx',
      family: 'yolov8',
    });
    for (const k of ['decodeMs', 'preprocessMs', 'inferMs', 'postprocessMs', 'totalMs']) {
      assert.equal(typeof out.timings[k], 'number', k);
    }
    // REFERENCE-RESULTS.txt: yolov8n_int8_640 finds a bus and people on bus.jpg.
    const labels = out.detections.map((d: { label: string }) => d.label);
    assert.ok(labels.includes('bus'), labels.join(','));
    assert.ok(labels.filter((l: string) => l === 'person').length >= 3, labels.join(','));
    for (const d of out.detections) {
      assert.deepEqual(Object.keys(d).sort(), [
        'box',
        'boxNormalized',
        'classId',
        'label',
        'score',
      ]);
      assert.ok(d.score > 0.25 && d.score <= 1);
      assert.ok(d.box.x1 >= 0 && d.box.x2 <= 810 && d.box.y1 >= 0 && d.box.y2 <= 1080);
      assert.ok(Math.abs(d.boxNormalized.x2 - d.box.x2 / 810) < 1e-9);
    }
    // The same numbers as the library gives in-process for the same image.
    const client = new LocalClient({ modelRepository: repo });
    try {
      const lib = await runTask(client, 'yolov8n', fs.readFileSync(bus), { expectTask: 'detect' });
      assert.deepEqual(out.detections, JSON.parse(JSON.stringify(lib.detections)));
    } finally {
      await client.close();
    }
  });

  it('classify and segment work the same way; thresholds and top-k apply', () => {
    const c = cli([
      'classify',
      '--model',
      'mobilenetv2',
      '--model-repository',
      repo,
      '--top-k',
      '3',
      '--json',
      bus,
    ]);
    assert.equal(c.status, 0, c.stderr);
    const cls = JSON.parse(c.stdout);
    assert.equal(cls.classes.length, 3);
    assert.ok(
      cls.classes[0].score >= cls.classes[1].score && cls.classes[1].score >= cls.classes[2].score,
    );
    // REFERENCE-RESULTS.txt: minibus and police van are MobileNetV2's top two on bus.jpg.
    assert.deepEqual(
      cls.classes
        .slice(0, 2)
        .map((x: { label: string }) => x.label)
        .sort(),
      ['minibus', 'police van'],
    );
    const s = cli([
      'segment',
      '--model',
      'yolov8n_seg',
      '--model-repository',
      repo,
      '--conf',
      '0.5',
      '--json',
      bus,
    ]);
    assert.equal(s.status, 0, s.stderr);
    const seg = JSON.parse(s.stdout);
    assert.ok(seg.detections.length > 0);
    for (const d of seg.detections) {
      assert.ok(d.score > 0.5);
      assert.ok(d.mask.polygon.length >= 3);
      assert.ok(d.mask.area > 0);
    }
  });

  it('--annotate writes a JPEG of the original size; the table mode is readable', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-cli-'));
    const out = path.join(dir, 'bus.jpg');
    try {
      await annotateChecks(out);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  async function annotateChecks(out: string): Promise<void> {
    const r = cli([
      'detect',
      '--model',
      'yolov8n',
      '--model-repository',
      repo,
      '--annotate',
      out,
      bus,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /bus\.jpg: 810x1080, yolov8n v1 \(yolov8, onnx\)/);
    assert.match(r.stdout, /\d\.\d{3}\s+bus\s+\[/);
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 810);
    assert.equal(meta.height, 1080);
  }

  it('errors are one line with the code, and a non-zero exit', () => {
    const missing = cli(['detect', '--model', 'nope', '--model-repository', repo, bus]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /NOT_FOUND: Model 'nope' is not in the model repository/);
    const wrongTask = cli(['detect', '--model', 'mobilenetv2', '--model-repository', repo, bus]);
    assert.equal(wrongTask.status, 1);
    assert.match(wrongTask.stderr, /UNSUPPORTED_MODEL: 'mobilenetv2' is a classify model/);
    const notImage = cli([
      'detect',
      '--model',
      'yolov8n',
      '--model-repository',
      repo,
      path.join(ROOT, 'package.json'),
    ]);
    assert.equal(notImage.status, 1);
    assert.match(notImage.stderr, /INVALID_IMAGE/);
    const usage = cli(['find', '--model', 'x', bus]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /detect, segment or classify/);
    const badNumber = cli([
      'detect',
      '--model',
      'yolov8n',
      '--model-repository',
      repo,
      '--conf',
      'high',
      bus,
    ]);
    assert.equal(badNumber.status, 2);
    assert.match(badNumber.stderr, /--conf needs a number/);
    const badConf = cli([
      'detect',
      '--model',
      'yolov8n',
      '--model-repository',
      repo,
      '--conf',
      '1.5',
      bus,
    ]);
    assert.equal(badConf.status, 1);
    assert.match(badConf.stderr, /INVALID_OPTION/);
  });
});
