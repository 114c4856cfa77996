/**
 * The CLI speaks in its own terms: NOT_FOUND names the models that are there, and the
 * pipeline's node wording ("pick a classify model in this node", "msg.triton") comes out
 * as command-line advice. Run as a real process over the local backend.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliWording } from '../src/cli';
import { buildFixtureRepository, fixtureImage } from './support/fixtures';
import { SMALL_MODELS } from './support/flows';

const ROOT = path.resolve(__dirname, '..');

function cli(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'cli.ts'), ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 120000 },
  );
  return { status: r.status, stderr: r.stderr };
}

describe('triton-vision CLI: errors in CLI terms', function () {
  this.timeout(180000);
  const repo = buildFixtureRepository(
    SMALL_MODELS.filter((m) => m.name === 'yolov8n' || m.name === 'mobilenetv2'),
  );
  const bus = fixtureImage('bus.jpg');
  after(() => fs.rmSync(repo, { recursive: true, force: true }));

  it('NOT_FOUND lists the models that are there', () => {
    const r = cli(['detect', '--model', 'yolov8', '--model-repository', repo, bus]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /NOT_FOUND: .*\(models there: mobilenetv2, yolov8n\)/);
  });

  it('a model of another task: run the other subcommand, or give --model another model', () => {
    const r = cli(['detect', '--model', 'mobilenetv2', '--model-repository', repo, bus]);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /UNSUPPORTED_MODEL: 'mobilenetv2' is a classify model: run `triton-vision classify` with it, or give --model a detect model/,
    );
    assert.doesNotMatch(r.stderr, /this node/);
  });

  it('cliWording: option and image-size advice without the node', () => {
    assert.equal(
      cliWording(
        'Option iou must be a number from 0 to 1 (got 3); fix it in the node or in msg.triton',
      ),
      'Option iou must be a number from 0 to 1 (got 3); fix that option on the command line',
    );
    assert.equal(
      cliWording("over the limit: send a smaller image or raise the node's maximum image size"),
      'over the limit: send a smaller image',
    );
    assert.equal(
      cliWording('Was the model replaced? Redeploy to read its metadata again'),
      'Was the model replaced? Run the command again',
    );
  });
});
