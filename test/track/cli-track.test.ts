/**
 * `triton-vision track` as a real process: JSON lines in (a file or stdin), JSON lines out,
 * usage errors with exit 2 and input errors as one coded line with exit 1 (those in-process).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { trackMain } from '../../src/cli-track';

const ROOT = path.resolve(__dirname, '..', '..');

function cli(
  args: string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'cli.ts'), 'track', ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 60000, input },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** trackMain in this process, with its three streams captured. */
async function inProcess(
  args: string[],
  input = '',
): Promise<{ status: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (c: Buffer) => o.push(c));
  err.on('data', (c: Buffer) => e.push(c));
  const status = await trackMain(args, out, Readable.from([input]), err);
  return { status, stdout: Buffer.concat(o).toString(), stderr: Buffer.concat(e).toString() };
}

/** One person walking right across x = 100, 10 px per frame. */
function frames(n: number): string {
  const lines = [];
  for (let i = 0; i < n; i++) {
    const cx = 40 + 10 * i;
    lines.push(
      JSON.stringify({
        detections: [
          {
            label: 'person',
            classId: 0,
            score: 0.9,
            box: { x1: cx - 10, y1: 80, x2: cx + 10, y2: 120 },
          },
        ],
        image: { width: 320, height: 240 },
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

describe('triton-vision track (process)', function () {
  this.timeout(120000);

  it('reads a file and writes one line per frame with trackId, line and zone counts', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'track-'));
    const file = path.join(dir, 'frames.jsonl');
    fs.writeFileSync(file, frames(12));
    const r = cli(['--line', '100,0,100,240', '--zone', '150,0,320,0,320,240,150,240', file]);
    fs.rmSync(dir, { recursive: true });
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(out.length, 12);
    assert.deepEqual(out[0].detections[0], {
      label: 'person',
      classId: 0,
      score: 0.9,
      box: { x1: 30, y1: 80, x2: 50, y2: 120 },
      trackId: 1,
    });
    assert.deepEqual(out[0].image, { width: 320, height: 240 });
    // Corners all right of x = 100 from cx = 120 (frame 9); bottom centre in 150.. from cx = 150.
    assert.deepEqual(
      out.map((f: { lines: { in: number }[] }) => f.lines[0].in),
      [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
    );
    assert.deepEqual(
      out.map((f: { zones: { count: number }[] }) => f.zones[0].count),
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    assert.deepEqual(out[11].lines, [{ in: 1, out: 0 }]);
  });

  it('reads stdin when no file is given', () => {
    const r = cli(['--frame-rate', '15'], frames(3));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 3);
  });

  it('prints its usage with --help and refuses bad arguments with exit 2', async () => {
    assert.match((await inProcess(['--help'])).stdout, /--track-threshold X/);
    const bad = await inProcess(['--line', '1,2,3']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /INVALID_OPTION: Line 1 needs x1,y1,x2,y2 \(4 numbers\)/);
    const zero = await inProcess(['--line', '1,1,1,1']);
    assert.equal(zero.status, 2);
    assert.match(zero.stderr, /INVALID_OPTION: A line needs two different end points/);
    assert.equal((await inProcess(['--track-threshold', 'high'])).status, 2);
    assert.equal((await inProcess(['--zone', '0,0,1,1'])).status, 2);
    assert.equal((await inProcess(['--nope'])).status, 2);
  });

  it('stops at a line that is not a detect payload, naming the line, exit 1', async () => {
    const r = await inProcess([], `${frames(1)}{"detections": 3}\n`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /INVALID_INPUT: line 2 needs a "detections" array/);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const notJson = await inProcess([], `${frames(1)}{oops\n`);
    assert.match(notJson.stderr, /INVALID_INPUT: line 2 is not JSON/);
    const missing = await inProcess([path.join(os.tmpdir(), 'no-such-file.jsonl')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /INVALID_INPUT: cannot read/);
  });
});
