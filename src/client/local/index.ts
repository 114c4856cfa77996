/**
 * Local mode: a Triton model repository run in-process with onnxruntime (see client.ts).
 */
export {
  LocalClient,
  LOCAL_EXTENSIONS,
  LOCAL_SERVER_NAME,
  type LocalClientInternalOptions,
} from './client';
export { checkModelAgainstConfig } from './config';
export type { OrtRuntime, OrtSession, OrtTensor, OrtValueMetadata } from './ort';
export {
  NATIVE_INSTALL_COMMAND,
  RUNTIME_ENV,
  WASM_INSTALL_COMMAND,
  describeRuntime,
  type RuntimeInfo,
} from './runtime';
export { WorkerRuntime } from './worker-pool';
