/**
 * `triton-vision ... --batch`: the images of one call go to a real triton-vision-serve in
 * batched requests (counted by the server's own statistics), and print exactly what the
 * one-by-one run prints; an unreadable file fails alone.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createClient } from '../src/client';
import type { InferenceClient } from '../src/protocol/types';
import { buildFixtureRepository, FIXTURE_REPOSITORY, fixtureImage } from './support/fixtures';
import { startServe, type ServeHandle } from './support/serve';

const ROOT = path.resolve(__dirname, '..');

/** Runs the CLI without blocking this process (the server's statistics are read meanwhile). */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src', 'cli.ts'), ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    child.once('exit', (status) => resolve({ status, stdout, stderr })),
  );
}

/** --json lines without their timings. */
const withoutTimings = (stdout: string): unknown[] =>
  stdout
    .trim()
    .split('\n')
    .map((l) => {
      const { timings: _t, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });

describe('triton-vision --batch', function () {
  this.timeout(240000);
  let serve: ServeHandle;
  let client: InferenceClient;
  let url: string;
  const photos = ['bus.jpg', 'astronaut.png', 'chelsea.png'].map(fixtureImage);

  before(async () => {
    serve = await startServe({
      repository: buildFixtureRepository(
        FIXTURE_REPOSITORY.filter((m) => m.name === 'mobilenetv2'),
      ),
      extraArgs: ['--allow-grpc', 'false', '--allow-metrics', 'false'],
    });
    url = `http://127.0.0.1:${serve.httpPort}`;
    client = createClient({ mode: 'http', host: '127.0.0.1', port: serve.httpPort });
  });
  after(async () => {
    await client?.close();
    await serve?.stop();
  });

  async function executions(): Promise<{ exec: number; inferences: number }> {
    const [s] = await client.modelStatistics('mobilenetv2');
    return { exec: s!.execution_count, inferences: s!.inference_count };
  }

  it('three images: one request with --batch, three without, the same lines', async () => {
    const args = ['classify', '--model', 'mobilenetv2', '--url', url, '--json', ...photos];
    const s0 = await executions();
    const one = await cli(args);
    assert.equal(one.status, 0, one.stderr);
    const s1 = await executions();
    const batched = await cli([...args, '--batch']);
    assert.equal(batched.status, 0, batched.stderr);
    const s2 = await executions();
    assert.deepEqual(
      { exec: s1.exec - s0.exec, inferences: s1.inferences - s0.inferences },
      { exec: 3, inferences: 3 },
    );
    assert.deepEqual(
      { exec: s2.exec - s1.exec, inferences: s2.inferences - s1.inferences },
      { exec: 1, inferences: 3 },
    );
    assert.equal(withoutTimings(batched.stdout).length, 3);
    assert.deepEqual(withoutTimings(batched.stdout), withoutTimings(one.stdout));
  });

  it('an unreadable file fails alone with its code; the others still go out together', async () => {
    const missing = path.join(ROOT, 'no-such-image.jpg');
    const s0 = await executions();
    const r = await cli([
      'classify',
      '--model',
      'mobilenetv2',
      '--url',
      url,
      '--json',
      '--batch',
      photos[0]!,
      missing,
      photos[1]!,
    ]);
    const s1 = await executions();
    assert.equal(r.status, 1);
    assert.equal(r.stdout.trim().split('\n').length, 2);
    assert.match(r.stderr, /no-such-image\.jpg: INVALID_INPUT: Cannot read image file/);
    assert.equal(s1.exec - s0.exec, 1);
    assert.equal(s1.inferences - s0.inferences, 2);
  });
});
