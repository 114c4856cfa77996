/** How the node entry points reach the library (kept apart so they do not bundle it). */
import type { Library } from './library';

/** Runs `register` with the library now, or once triton-server.html has loaded it. */
export function withLibrary(register: (lib: Library) => void): void {
  if (window.TritonVisionEditor) register(window.TritonVisionEditor);
  else (window.TritonVisionEditorPending = window.TritonVisionEditorPending ?? []).push(register);
}
