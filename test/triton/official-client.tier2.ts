/**
 * Tier 2 (`npm run test:triton`): NVIDIA's official Python tritonclient, HTTP and
 * gRPC, against our triton-vision-serve (test/triton/official_client.py), so our
 * server is checked by a client we did not write. Needs the venv that
 * scripts/triton-venv.sh creates.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildFixtureRepository, FIXTURE_MODELS } from '../support/fixtures';
import { startServe, type ServeHandle } from '../support/serve';

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const SCRIPT = path.join(__dirname, 'official_client.py');

/** Every check official_client.py runs; a check that silently went missing must fail here. */
const CHECKS = [
  'health',
  'server_metadata',
  'model_metadata',
  'model_config',
  'repository_and_stats',
  'infer_http_binary',
  'infer_http_json',
  'infer_grpc',
  'infer_fp16',
  'infer_two_outputs',
  'errors',
];

function runPython(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(PYTHON, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, out, err }));
  });
}

describe('official tritonclient (Python, HTTP and gRPC) against triton-vision-serve', function () {
  this.timeout(180000);
  let serve: ServeHandle;

  before(async () => {
    if (!fs.existsSync(PYTHON)) {
      throw new Error(`${PYTHON} is missing: run bash scripts/triton-venv.sh first`);
    }
    serve = await startServe({ repository: buildFixtureRepository() });
  });
  after(async () => {
    await serve?.stop();
  });

  it('passes every check, with outputs equal to Python onnxruntime', async () => {
    const { code, out, err } = await runPython([
      SCRIPT,
      '--http',
      `${serve.host}:${serve.httpPort}`,
      '--grpc',
      `${serve.host}:${serve.grpcPort}`,
      '--models',
      FIXTURE_MODELS,
    ]);
    const last = out.trim().split('\n').pop() ?? '';
    let report: { passed: string[]; failed: string[]; equality: string };
    try {
      report = JSON.parse(last);
    } catch {
      throw new Error(`official_client.py printed no report (exit ${code}):\n${out}\n${err}`);
    }
    assert.deepEqual(report.failed, [], `${out}\n${err}`);
    assert.deepEqual(report.passed, CHECKS);
    assert.equal(code, 0);
    // Said out loud in the test log: bit-identical, or the tolerance that was needed.
    process.stdout.write(`      outputs vs Python onnxruntime: ${report.equality}\n`);
  });
});
