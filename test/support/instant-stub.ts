/**
 * The bench's instant stub server (bench/stub-server.ts: our real frontends answering with a
 * stored model output) in its own process, so a test or a bench counts only its client's
 * work. The one place it is started, for the tests and every bench.
 */
import * as path from 'node:path';
import { startServerProcess, type ServerProcess } from './server-process';

const ROOT = path.resolve(__dirname, '..', '..');

export interface InstantStub extends ServerProcess {
  /** Its ports on 127.0.0.1. */
  http: number;
  grpc: number;
}

export interface InstantStubOptions {
  /** The model whose stored answer it serves (default yolov8n). */
  model?: string;
  /** The checkout whose bench/stub-server.ts runs, in that folder (default this one). */
  tree?: string;
  /** Node's own flags for the stub (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
  nodeArgs?: string[];
  /** Give up waiting for it after this many ms (default 120 s). */
  readyTimeoutMs?: number;
}

export function startInstantStub(
  repo: string,
  opts: InstantStubOptions = {},
): Promise<InstantStub> {
  const tree = opts.tree ?? ROOT;
  return startServerProcess({
    name: `the instant stub server (${path.join(tree, 'bench', 'stub-server.ts')})`,
    args: [path.join(tree, 'bench', 'stub-server.ts'), repo, opts.model ?? 'yolov8n'],
    nodeArgs: opts.nodeArgs,
    cwd: tree,
    readyTimeoutMs: opts.readyTimeoutMs ?? 120000,
    ready: (out) => {
      const m = /ready http=(\d+) grpc=(\d+)/.exec(out);
      return m ? { http: Number(m[1]), grpc: Number(m[2]) } : undefined;
    },
  });
}
