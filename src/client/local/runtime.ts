/**
 * Which onnxruntime local mode runs on, and loading it.
 *
 * - onnxruntime-web (a dependency): ONNX Runtime compiled to WebAssembly, run by Node
 *   itself with SIMD and threads. Plain JavaScript and .wasm files, no install script: it
 *   installs on every platform Node runs on, from the registry alone. Always there.
 * - onnxruntime-node (an optional peer: not installed with the package): the native CPU
 *   build, 2-5x faster. Its install script downloads CUDA libraries on linux x64, so it is
 *   the user's choice: `npm install onnxruntime-node --ignore-scripts` in the Node-RED
 *   user directory (the CPU library is inside the package; the flag skips the download).
 *
 * 'auto' (the default) takes onnxruntime-node when it loads, else onnxruntime-web. The
 * `runtime` option or the TRITON_VISION_RUNTIME environment variable (`node`, `wasm`,
 * `auto`) forces one, so both are testable on one machine.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TritonError } from '../../protocol/errors';
import type { OrtRuntime } from './ort';
import { WorkerRuntime } from './worker-pool';

export const RUNTIME_ENV = 'TRITON_VISION_RUNTIME';

export type RuntimeChoice = 'auto' | 'node' | 'wasm';

export type RuntimeName = 'onnxruntime-node' | 'onnxruntime-web';

/** Set by tests and embedders that hand the client a module of their own. */
export type InjectedRuntime = () => OrtRuntime;

/** What local mode runs on: shown in server metadata and logged by the nodes. */
export interface RuntimeInfo {
  /** The package in use ('injected' for a module handed over by the embedder). */
  name: RuntimeName | 'injected';
  version: string;
  /** 'native' (onnxruntime-node's CPU library) or 'wasm' (WebAssembly with SIMD). */
  backend: 'native' | 'wasm';
  /** Threads one inference uses (WebAssembly: set here; native: 0 means ORT's choice). */
  threads: number;
  /** Worker threads the sessions live on (0: the calling thread). */
  workerThreads: number;
  /** Why the faster runtime is not the one in use, when 'auto' fell back. */
  note?: string;
}

/** The one command that installs the native runtime without its download. */
export const NATIVE_INSTALL_COMMAND = 'npm install onnxruntime-node --ignore-scripts';
/** The one command that restores the WebAssembly runtime of a broken install. */
export const WASM_INSTALL_COMMAND = 'npm install onnxruntime-web';

const CHOICES: Record<string, RuntimeChoice> = {
  auto: 'auto',
  node: 'node',
  native: 'node',
  'onnxruntime-node': 'node',
  wasm: 'wasm',
  web: 'wasm',
  'onnxruntime-web': 'wasm',
};

/** The runtime asked for: the option, else TRITON_VISION_RUNTIME, else 'auto'. */
export function runtimeChoice(option?: string): RuntimeChoice {
  const given = option ?? process.env[RUNTIME_ENV];
  if (given === undefined || given === '') return 'auto';
  const choice = CHOICES[given.trim().toLowerCase()];
  if (!choice) {
    throw new TritonError(
      'INVALID_CONFIG',
      `${option !== undefined ? 'runtime' : RUNTIME_ENV} must be auto, node or wasm, not '${given}'`,
    );
  }
  return choice;
}

/** onnxruntime-web's default: half the cores, at most 4 (its own rule in browsers). */
function defaultWasmThreads(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : 1;
  return Math.max(1, Math.min(4, Math.ceil(cores / 2)));
}

/** The version in the package.json above a resolved module file. */
function packageVersion(file: string, name: string): string {
  let dir = path.dirname(file);
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === name) return pkg.version ?? 'unknown';
    } catch {
      // not here: look further up
    }
    const up = path.dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

function looksLikeOrt(rt: unknown): rt is OrtRuntime {
  const r = rt as OrtRuntime | undefined;
  return !!r && typeof r.InferenceSession?.create === 'function' && !!r.Tensor;
}

interface Found {
  name: RuntimeName;
  file: string;
  module: OrtRuntime;
}

/** Requires one runtime package; the reason it cannot be used, as a sentence, otherwise. */
function tryLoad(name: RuntimeName): Found | string {
  let file: string;
  try {
    file =
      name === 'onnxruntime-node'
        ? require.resolve('onnxruntime-node')
        : require.resolve('onnxruntime-web');
  } catch {
    return `${name} is not installed`;
  }
  let module: unknown;
  try {
    module = name === 'onnxruntime-node' ? require('onnxruntime-node') : require('onnxruntime-web');
  } catch (err) {
    return `${name} is installed but failed to load (${(err as Error).message})`;
  }
  if (!looksLikeOrt(module)) return `the module found as ${name} does not look like onnxruntime`;
  return { name, file, module };
}

export interface RuntimeSettings {
  choice: RuntimeChoice;
  /** A module to use instead of either package (tests); runs in-process only. */
  inject?: InjectedRuntime;
  workerThreads: number;
  intraOpNumThreads?: number;
  endpoint: string;
}

export interface LoadedRuntime {
  /** What sessions are created with (the worker pool when workerThreads > 0). */
  runtime: OrtRuntime;
  pool?: WorkerRuntime;
  info: RuntimeInfo;
  /** Options every InferenceSession.create gets. */
  sessionOptions: Record<string, unknown>;
}

/**
 * Loads the runtime `settings.choice` names. Throws RUNTIME_MISSING with the command
 * that fixes it when none can be used.
 */
export function loadRuntime(settings: RuntimeSettings): LoadedRuntime {
  const { choice, workerThreads, endpoint } = settings;
  if (settings.inject) return injected(settings.inject, settings);
  let found: Found | undefined;
  let note: string | undefined;
  if (choice !== 'wasm') {
    const native = tryLoad('onnxruntime-node');
    if (typeof native !== 'string') found = native;
    else if (choice === 'node') {
      throw new TritonError(
        'RUNTIME_MISSING',
        `Local mode was told to use onnxruntime-node (runtime node), but ${native}: run \`${NATIVE_INSTALL_COMMAND}\` in your Node-RED user directory, or drop the setting to use the built-in WebAssembly runtime`,
        { endpoint },
      );
    } else {
      note = `${native}; for 2-5x faster local inference run \`${NATIVE_INSTALL_COMMAND}\` in your Node-RED user directory`;
    }
  }
  if (!found) {
    const wasm = tryLoad('onnxruntime-web');
    if (typeof wasm === 'string') {
      throw new TritonError(
        'RUNTIME_MISSING',
        `Local mode needs onnxruntime, but ${wasm}${note ? ' and neither is onnxruntime-node' : ''}: run \`${WASM_INSTALL_COMMAND}\` in your Node-RED user directory`,
        { endpoint },
      );
    }
    found = wasm;
  }
  const sessionOptions: Record<string, unknown> = {};
  let threads =
    settings.intraOpNumThreads && settings.intraOpNumThreads > 0 ? settings.intraOpNumThreads : 0;
  let wasmThreads: number | undefined;
  if (found.name === 'onnxruntime-web') {
    // One setting for the whole module, read when its WebAssembly instance starts.
    threads = threads || defaultWasmThreads();
    wasmThreads = threads;
    const env = (found.module as unknown as { env?: { wasm?: { numThreads?: number } } }).env;
    if (env?.wasm) env.wasm.numThreads = threads;
  } else if (threads > 0) {
    sessionOptions.intraOpNumThreads = threads;
  }
  const info: RuntimeInfo = {
    name: found.name,
    version: packageVersion(found.file, found.name),
    backend: found.name === 'onnxruntime-web' ? 'wasm' : 'native',
    threads,
    workerThreads,
  };
  if (note && found.name === 'onnxruntime-web') info.note = note;
  if (workerThreads > 0) {
    const pool = new WorkerRuntime(found.file, workerThreads, wasmThreads);
    return { runtime: pool, pool, info, sessionOptions };
  }
  return { runtime: found.module, info, sessionOptions };
}

/** One line for logs: `onnxruntime-web 1.30.0 (WebAssembly, 2 threads, 1 worker)`. */
export function describeRuntime(info: RuntimeInfo): string {
  const threads =
    info.threads > 0 ? `${info.threads} thread${info.threads === 1 ? '' : 's'}` : 'default threads';
  const where =
    info.workerThreads > 0
      ? `${info.workerThreads} worker${info.workerThreads === 1 ? '' : 's'}`
      : 'main thread';
  return `${info.name} ${info.version} (${info.backend === 'wasm' ? 'WebAssembly' : 'native CPU'}, ${threads}, ${where})`;
}

function injected(inject: InjectedRuntime, settings: RuntimeSettings): LoadedRuntime {
  let module: unknown;
  try {
    module = inject();
  } catch (err) {
    throw new TritonError(
      'RUNTIME_MISSING',
      `Local mode could not load onnxruntime (${(err as Error).message}): run \`${WASM_INSTALL_COMMAND}\` in your Node-RED user directory`,
      { endpoint: settings.endpoint, cause: err },
    );
  }
  if (!looksLikeOrt(module)) {
    throw new TritonError(
      'RUNTIME_MISSING',
      `Local mode was given a module that does not look like onnxruntime: run \`${WASM_INSTALL_COMMAND}\` in your Node-RED user directory`,
      { endpoint: settings.endpoint },
    );
  }
  const threads =
    settings.intraOpNumThreads && settings.intraOpNumThreads > 0 ? settings.intraOpNumThreads : 0;
  return {
    runtime: module,
    info: { name: 'injected', version: 'unknown', backend: 'native', threads, workerThreads: 0 },
    sessionOptions: threads > 0 ? { intraOpNumThreads: threads } : {},
  };
}
