/**
 * The `triton-vision` command's results held to the reference implementations (issue #10.6):
 * one case per fixture model from ../shared/fixtures/reference/reference.json, run as a real
 * process over the local backend with the reference's thresholds, must meet the same strict
 * goal as test/vision/reference.test.ts (same detections, box IoU ≥ 0.99, |Δscore| ≤ 1e-3,
 * mask IoU ≥ 0.99, same top-5). Unlike a comparison with runTask's own output, a change that
 * moves every result (a dropped detection, a shifted box) fails here.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TaskResult } from '../src/vision/pipeline';
import { fixtureImage } from './support/fixtures';
import { REFERENCE, compareCase, modelName, referenceRepository } from './support/reference';
import type { RefCase } from './support/reference';

const ROOT = path.resolve(__dirname, '..');

/** One case per model, the photos taken in turn so that every photo is used. */
export function onePerModel(): RefCase[] {
  const seen = new Map<string, RefCase[]>();
  for (const c of REFERENCE.cases) seen.set(c.model_file, [...(seen.get(c.model_file) ?? []), c]);
  return [...seen.values()].map((cases, i) => cases[i % cases.length]!);
}

describe('triton-vision CLI results equal the reference implementations', function () {
  this.timeout(300000);
  let repo: string;
  before(() => {
    repo = referenceRepository();
  });
  after(() => {
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });

  for (const c of onePerModel()) {
    it(`${c.id}`, () => {
      const args = [
        c.task,
        '--model',
        modelName(c.model_file),
        '--model-repository',
        repo,
        '--json',
      ];
      if (c.task === 'classify') args.push('--top-k', '5');
      else {
        args.push('--conf', String(c.conf), '--iou', String(c.iou));
        args.push('--max-det', String(c.max_det ?? 300));
        if (c.agnostic) args.push('--agnostic');
        if (c.task === 'segment') args.push('--rle');
      }
      args.push(fixtureImage(c.image));
      const r = spawnSync(
        process.execPath,
        ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'cli.ts'), ...args],
        { cwd: ROOT, encoding: 'utf8', timeout: 120000 },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n')[0]!) as TaskResult;
      assert.deepEqual(out.image, { width: c.width, height: c.height });
      const report = compareCase(c, out);
      assert.ok(report.ok, `${c.id}: ${report.problems.join('; ')}`);
    });
  }

  describe('--preprocess, --resize and --icc', () => {
    const run = (args: string[]) =>
      spawnSync(
        process.execPath,
        ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'cli.ts'), ...args],
        { cwd: ROOT, encoding: 'utf8', timeout: 120000 },
      );
    const find = (id: string): RefCase => REFERENCE.cases.find((x) => x.id === id)!;

    it('--preprocess torchvision gives torchvision’s transforms (the config says onnx-zoo)', () => {
      const c = find('mobilenetv2-12-int8/bus.jpg');
      const want = (c.alt as Record<string, unknown>).torchvision_bicubic as {
        classId: number;
        score: number;
      }[];
      const common = ['--model', modelName(c.model_file), '--model-repository', repo, '--json'];
      const r = run(['classify', ...common, '--preprocess', 'torchvision', fixtureImage(c.image)]);
      assert.equal(r.status, 0, r.stderr);
      const got = (JSON.parse(r.stdout) as TaskResult).classes!;
      assert.deepEqual(
        got.map((x) => x.classId),
        want.map((x) => x.classId),
      );
      got.forEach((g, k) => assert.ok(Math.abs(g.score - want[k]!.score) <= 1e-3));
      assert.notDeepEqual(
        want.map((x) => x.classId),
        c.classes!.map((x) => x.classId),
        'the two references must differ on this photo',
      );
    });

    it('--resize fast and --icc apply leave the reference; a wrong value is a usage error', () => {
      const c = find('yolov8n_int8_640/bus.jpg');
      const common = ['--model', modelName(c.model_file), '--model-repository', repo, '--json'];
      for (const flag of [
        ['--resize', 'fast'],
        ['--icc', 'apply'],
      ]) {
        const r = run(['detect', ...common, ...flag, fixtureImage(c.image)]);
        assert.equal(r.status, 0, r.stderr);
        const report = compareCase(c, JSON.parse(r.stdout) as TaskResult);
        assert.equal(report.ok, false, `${flag.join(' ')} changed nothing`);
      }
      const bad = run(['detect', ...common, '--resize', 'quick', fixtureImage(c.image)]);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /--resize must be one of exact, fast, got "quick"/);
    });
  });
});
