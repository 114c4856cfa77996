/**
 * What the editor's admin routes answer, shared by the runtime that sends it
 * (src/nodes/admin.ts) and the editor code that reads it (src/editor/browser).
 */

/** A model row of POST triton-vision/models. */
export interface ListedModel {
  name: string;
  version: string;
  state: string;
  reason?: string;
  task?: string;
  family?: string;
  backend?: string;
  labels?: string[];
  error?: string;
  /** The error's code when the model has no profile (RUNTIME_MISSING, UNSUPPORTED_MODEL...). */
  code?: string;
}
