/**
 * The bench's instant stub server (bench/stub-server.ts: our real frontends answering with a
 * stored yolov8n reply) in its own process, so a test counts only its client's work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export function startInstantStub(
  repo: string,
): Promise<{ proc: ChildProcess; http: number; grpc: number }> {
  const proc = spawn(
    process.execPath,
    [
      '--require',
      require.resolve('tsx/cjs'),
      path.join(ROOT, 'bench', 'stub-server.ts'),
      repo,
      'yolov8n',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /ready http=(\d+) grpc=(\d+)/.exec(out);
      if (m) {
        proc.stdout!.off('data', onData);
        resolve({ proc, http: Number(m[1]), grpc: Number(m[2]) });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`stub server exited (${code}): ${out}`)));
  });
}
