/**
 * Runs `triton-vision-serve` as a real child process on loopback for the
 * integration suites. Ports default to 0 (ephemeral); the actual ports are read
 * from the lines the server prints when it is ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const SERVE_TS = path.join(ROOT, 'src', 'serve.ts');

export interface ServeHandle {
  proc: ChildProcess;
  host: string;
  httpPort: number;
  grpcPort: number;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (a crash, as far as clients can tell). */
  kill(): Promise<void>;
}

export interface ServeOptions {
  repository: string;
  httpPort?: number;
  grpcPort?: number;
  extraArgs?: string[];
  /** Give up waiting for readiness after this many ms (default 60 s: models load at start). */
  readyTimeoutMs?: number;
  /** Extra environment variables for the process (added to this one's). */
  env?: Record<string, string>;
}

export function startServe(opts: ServeOptions): Promise<ServeHandle> {
  const args = [
    '--require',
    require.resolve('tsx/cjs'),
    SERVE_TS,
    '--model-repository',
    opts.repository,
    '--host',
    '127.0.0.1',
    '--http-port',
    String(opts.httpPort ?? 0),
    '--grpc-port',
    String(opts.grpcPort ?? 0),
    // Metrics on a free port unless the test says otherwise: a server restarted on fixed
    // HTTP/gRPC ports would otherwise take Triton's default 8002, which another may hold.
    ...((opts.extraArgs ?? []).some((a) => /^--(metrics-port|allow-metrics)/.test(a))
      ? []
      : ['--metrics-port', '0']),
    ...(opts.extraArgs ?? []),
  ];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  let out = '';
  let exited = false;
  const exitPromise = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    if (!exited) proc.kill(signal);
    await exitPromise;
  };

  return new Promise<ServeHandle>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`triton-vision-serve did not become ready:\n${out}`));
    }, opts.readyTimeoutMs ?? 60000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (!/triton-vision-serve ready/.test(out)) return;
      clearTimeout(timer);
      const http = /HTTP service at http:\/\/[^:\s]+:(\d+)/.exec(out);
      const grpc = /gRPC service at [^:\s]+:(\d+)/.exec(out);
      resolve({
        proc,
        host: '127.0.0.1',
        httpPort: http ? Number(http[1]) : -1,
        grpcPort: grpc ? Number(grpc[1]) : -1,
        output: () => out,
        stop: () => waitExit('SIGTERM'),
        kill: () => waitExit('SIGKILL'),
      });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`triton-vision-serve exited early (${code ?? signal}):\n${out}`));
    });
  });
}
