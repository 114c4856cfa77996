/**
 * A server script run by Node (through tsx) in a child process on loopback, waited for until
 * what it prints says it is ready: the one launcher behind startServe (triton-vision-serve)
 * and startInstantStub (the bench's instant stub), for the tests and the benches alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ServerProcess {
  proc: ChildProcess;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (a crash, as far as clients can tell). */
  kill(): Promise<void>;
}

export interface ServerProcessOptions<T extends object> {
  /** The server's name in errors ("triton-vision-serve did not become ready: …"). */
  name: string;
  /** The script and its arguments, run as `node [nodeArgs] --require tsx/cjs ...args`. */
  args: string[];
  /** Node's own flags (e.g. `--cpu-prof`), before the script. */
  nodeArgs?: string[] | undefined;
  cwd?: string | undefined;
  /** The process's environment (default this one's). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Reads what is printed so far: what the caller wants of it (ports) once ready, else undefined. */
  ready(output: string): T | undefined;
  /** Give up (and SIGKILL it) after this many ms without readiness. */
  readyTimeoutMs: number;
}

export function startServerProcess<T extends object>(
  opts: ServerProcessOptions<T>,
): Promise<ServerProcess & T> {
  const proc = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), '--require', require.resolve('tsx/cjs'), ...opts.args],
    { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env },
  );
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

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${opts.name} did not become ready:\n${out}`));
    }, opts.readyTimeoutMs);
    let ready = false;
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (ready) return;
      const found = opts.ready(out);
      if (found === undefined) return;
      ready = true;
      clearTimeout(timer);
      resolve({
        ...found,
        proc,
        output: () => out,
        stop: () => waitExit('SIGTERM'),
        kill: () => waitExit('SIGKILL'),
      });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${opts.name} exited early (${code ?? signal}):\n${out}`));
    });
  });
}
