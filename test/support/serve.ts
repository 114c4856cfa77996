/**
 * Runs `triton-vision-serve` as a real child process on loopback for the
 * integration suites. Ports default to 0 (ephemeral); the actual ports are read
 * from the lines the server prints when it is ready.
 */
import * as path from 'node:path';
import { startServerProcess, type ServerProcess } from './server-process';

const ROOT = path.resolve(__dirname, '..', '..');
const SERVE_TS = path.join(ROOT, 'src', 'serve.ts');

export interface ServeHandle extends ServerProcess {
  host: string;
  httpPort: number;
  grpcPort: number;
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
  /** Node's own flags for the server (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
}

export function startServe(opts: ServeOptions): Promise<ServeHandle> {
  return startServerProcess({
    name: 'triton-vision-serve',
    args: [
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
    ],
    nodeArgs: opts.nodeArgs,
    cwd: ROOT,
    env: { ...process.env, ...(opts.env ?? {}) },
    readyTimeoutMs: opts.readyTimeoutMs ?? 60000,
    ready: (out) => {
      if (!/triton-vision-serve ready/.test(out)) return undefined;
      const http = /HTTP service at http:\/\/[^:\s]+:(\d+)/.exec(out);
      const grpc = /gRPC service at [^:\s]+:(\d+)/.exec(out);
      return {
        host: '127.0.0.1',
        httpPort: http ? Number(http[1]) : -1,
        grpcPort: grpc ? Number(grpc[1]) : -1,
      };
    },
  });
}
