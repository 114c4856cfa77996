/**
 * The model repository on disk: which model folders exist (rescanned on demand), each
 * model's state, its config.pbtxt (read and checked, or left to auto-complete), and the
 * versions its version_policy serves.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { TritonError } from '../../protocol/errors';
import { modelConfigFromTree, parseTextProto, type PbMessage } from '../../protocol/pbtxt';
import type { ModelConfig } from '../../protocol/types';
import type { OrtSession } from './ort';

export type SlotState = 'READY' | 'UNAVAILABLE' | 'UNLOADING';

/** One served version of a model. */
export interface VersionSlot {
  version: string;
  state: SlotState;
  reason?: string;
  failure?: TritonError;
  session?: OrtSession;
  /** Runs in progress on `session`; it is released only once this is back to 0. */
  inflight: number;
  drained?: () => void;
}

export type ModelStatus = 'NEW' | 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADING' | 'UNLOADED';

export interface ModelEntry {
  name: string;
  dir: string;
  status: ModelStatus;
  reason?: string;
  failure?: TritonError;
  config?: ModelConfig;
  /** Served versions, highest first. */
  slots: VersionSlot[];
  /** Numeric version folders found at the last load. */
  versionDirs: string[];
  /** Tail of this model's load/unload operations, which run one at a time. */
  op: Promise<void>;
}

/**
 * Model names travel in URLs and requests: never let one climb out of the repository.
 * One path segment, not hidden: a `.hidden` folder is left out of the index and cannot be
 * loaded or served by name either (one rule for both).
 */
export function isSafeName(name: unknown): name is string {
  return (
    typeof name === 'string' && name.length > 0 && !name.startsWith('.') && !/[/\\\0]/.test(name)
  );
}

export async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The model folders of one repository and their entries. */
export class Repository {
  readonly models = new Map<string, ModelEntry>();

  constructor(readonly dir: string) {}

  /** Entries sorted by name. */
  entries(): ModelEntry[] {
    return [...this.models.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Adds model folders that appeared, forgets unloaded ones that vanished. */
  async scan(): Promise<void> {
    let names: string[];
    try {
      const list = await fsp.readdir(this.dir, { withFileTypes: true });
      names = [];
      for (const d of list) {
        if (d.name.startsWith('.') || !isSafeName(d.name)) continue;
        if (d.isDirectory() || (d.isSymbolicLink() && (await isDir(path.join(this.dir, d.name)))))
          names.push(d.name);
      }
    } catch (err) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Cannot read the model repository ${this.dir}: ${(err as Error).message}`,
        { endpoint: this.dir, cause: err },
      );
    }
    const present = new Set(names);
    for (const [name, entry] of this.models) {
      if (!present.has(name) && entry.slots.length === 0 && entry.status !== 'LOADING') {
        this.models.delete(name);
      }
    }
    for (const name of names) if (!this.models.has(name)) this.addEntry(name);
  }

  addEntry(name: string): ModelEntry {
    const entry: ModelEntry = {
      name,
      dir: path.join(this.dir, name),
      status: 'NEW',
      slots: [],
      versionDirs: [],
      op: Promise.resolve(),
    };
    this.models.set(name, entry);
    return entry;
  }

  /** The entry for `name`, picking up folders added since the last scan. */
  async lookup(name: string): Promise<ModelEntry | undefined> {
    if (!isSafeName(name)) return undefined;
    const known = this.models.get(name);
    if (known) return known;
    if (await isDir(path.join(this.dir, name))) return this.models.get(name) ?? this.addEntry(name);
    return undefined;
  }

  notFound(name: unknown): TritonError {
    return new TritonError(
      'NOT_FOUND',
      `Model '${String(name)}' is not in the model repository ${this.dir}: check the name, or add the folder ${String(name)}/ with its config.pbtxt and version folders`,
      { model: String(name), endpoint: this.dir },
    );
  }

  async readConfig(entry: ModelEntry): Promise<{ cfg: ModelConfig; tree?: PbMessage }> {
    const file = path.join(entry.dir, 'config.pbtxt');
    let text: string | undefined;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') {
        throw new TritonError('INVALID_CONFIG', `Cannot read ${file}: ${(err as Error).message}`, {
          model: entry.name,
          endpoint: this.dir,
          cause: err,
        });
      }
    }
    if (text === undefined) {
      // No config.pbtxt: everything is auto-completed from the ONNX file.
      return {
        cfg: {
          name: entry.name,
          platform: 'onnxruntime_onnx',
          backend: 'onnxruntime',
          max_batch_size: 0,
          input: [],
          output: [],
          version_policy: { latest: { num_versions: 1 } },
          default_model_filename: 'model.onnx',
        },
      };
    }
    const tree = parseTextProto(text, { file });
    const cfg = modelConfigFromTree(tree, { file, name: entry.name });
    if (cfg.name !== entry.name) {
      throw new TritonError(
        'INVALID_CONFIG',
        `${file} names the model '${cfg.name}' but its folder is '${entry.name}': make them equal`,
        { model: entry.name, endpoint: this.dir },
      );
    }
    if (!cfg.platform && !cfg.backend) {
      cfg.platform = 'onnxruntime_onnx';
      cfg.backend = 'onnxruntime';
      cfg.default_model_filename ??= 'model.onnx';
    }
    return { cfg, tree };
  }

  async versionsToServe(entry: ModelEntry, cfg: ModelConfig): Promise<string[]> {
    const found: number[] = [];
    for (const d of await fsp.readdir(entry.dir, { withFileTypes: true })) {
      if (/^\d+$/.test(d.name) && (await isDir(path.join(entry.dir, d.name))))
        found.push(Number(d.name));
    }
    found.sort((a, b) => b - a);
    entry.versionDirs = found.map(String);
    const policy = cfg.version_policy ?? { latest: { num_versions: 1 } };
    let chosen: number[];
    if ('latest' in policy) chosen = found.slice(0, policy.latest.num_versions);
    else if ('all' in policy) chosen = found;
    else chosen = [...policy.specific.versions].sort((a, b) => b - a);
    if (chosen.length === 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Model '${entry.name}' has no version folder to serve: put the model file at ${path.join(entry.dir, '1', cfg.default_model_filename ?? 'model.onnx')}`,
        { model: entry.name, endpoint: this.dir },
      );
    }
    return chosen.map(String);
  }
}
