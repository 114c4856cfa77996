/**
 * Loading onnxruntime-node for local mode: in-process, or on a pool of worker threads.
 */
import { TritonError } from '../errors';
import type { OrtRuntime } from './ort';
import { WorkerRuntime } from './worker-pool';

const RUNTIME_MISSING_TEXT =
  'Local mode needs onnxruntime-node, which is not installed: run `npm install onnxruntime-node` in your Node-RED user directory';

export interface RuntimeSettings {
  /** Returns the onnxruntime module (injected by tests; default: require('onnxruntime-node')). */
  loadModule: () => OrtRuntime;
  workerThreads: number;
  endpoint: string;
}

export interface LoadedRuntime {
  /** What sessions are created with (the worker pool when workerThreads > 0). */
  runtime: OrtRuntime;
  pool?: WorkerRuntime;
}

/** Loads the runtime; throws RUNTIME_MISSING with the command that fixes it. */
export function loadRuntime(settings: RuntimeSettings): LoadedRuntime {
  const { endpoint } = settings;
  let rt: OrtRuntime;
  try {
    rt = settings.loadModule();
  } catch (err) {
    const code = (err as { code?: string }).code;
    const missing = code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
    throw new TritonError(
      'RUNTIME_MISSING',
      missing
        ? RUNTIME_MISSING_TEXT
        : `onnxruntime-node is installed but failed to load (${(err as Error).message}): reinstall it with \`npm install onnxruntime-node\` in your Node-RED user directory`,
      { endpoint, cause: err },
    );
  }
  if (!rt || typeof rt.InferenceSession?.create !== 'function' || !rt.Tensor) {
    throw new TritonError(
      'RUNTIME_MISSING',
      `${RUNTIME_MISSING_TEXT} (the module found does not look like onnxruntime-node)`,
      { endpoint },
    );
  }
  if (settings.workerThreads > 0) {
    // Loaded above on this thread too, so a missing or broken install is reported the
    // same way; the workers load the very same package file.
    let runtimePath: string;
    try {
      runtimePath = require.resolve('onnxruntime-node');
    } catch (err) {
      throw new TritonError('RUNTIME_MISSING', RUNTIME_MISSING_TEXT, { endpoint, cause: err });
    }
    const pool = new WorkerRuntime(runtimePath, settings.workerThreads);
    return { runtime: pool, pool };
  }
  return { runtime: rt };
}
