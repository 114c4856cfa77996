/**
 * What the node entry points share. triton-server.html (always loaded with the package)
 * carries this bundle and publishes it as `window.TritonVisionEditor`; the other nodes'
 * scripts register through it, queueing themselves if they run first.
 */
import { healthNode } from './health';
import { installPreviews } from './preview';
import { serverNode } from './server';
import { taskNode } from './task';

export interface Library {
  taskNode: typeof taskNode;
  healthNode: typeof healthNode;
  serverNode: typeof serverNode;
}

export function installLibrary(): Library {
  if (window.TritonVisionEditor) return window.TritonVisionEditor;
  const lib: Library = { taskNode, healthNode, serverNode };
  window.TritonVisionEditor = lib;
  installPreviews();
  for (const register of (window.TritonVisionEditorPending ?? []).splice(0)) register(lib);
  return lib;
}
