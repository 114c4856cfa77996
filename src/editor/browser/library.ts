/**
 * The editor code of every node. triton-server.html (always loaded with the package) carries
 * this bundle and publishes it as `window.TritonVisionEditor`; each node's HTML then registers
 * its type with a literal definition that takes its behaviour from here (written by
 * src/editor/assemble.ts), queueing itself if it runs first.
 */
import { healthNode } from './health';
import { modelNode } from './model';
import { installPreviews } from './preview';
import { serverNode } from './server';
import { taskNode } from './task';
import { trackNode } from './track';

export interface Library {
  /** The behaviour of a node type: its defaults and validators, label, dialog code. */
  definition(type: string): NodeBehaviour;
}

function definition(type: string): NodeBehaviour {
  switch (type) {
    case 'triton-server':
      return serverNode();
    case 'triton-health':
      return healthNode();
    case 'triton-model':
      return modelNode();
    case 'triton-detect':
      return taskNode('detect');
    case 'triton-segment':
      return taskNode('segment');
    case 'triton-classify':
      return taskNode('classify');
    case 'triton-track':
      return trackNode();
  }
  throw new Error(`unknown node type ${type}`);
}

export function installLibrary(): Library {
  if (window.TritonVisionEditor) return window.TritonVisionEditor;
  const lib: Library = { definition };
  window.TritonVisionEditor = lib;
  installPreviews();
  for (const register of (window.TritonVisionEditorPending ?? []).splice(0)) register(lib);
  return lib;
}
