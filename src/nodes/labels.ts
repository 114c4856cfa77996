/**
 * Class names the Triton way, with overrides. Each source replaces the one before it:
 *
 *   the model config's `labels` parameter (or the dataset default: COCO, ImageNet)
 *   → the model's label file (`label_filename` in the config, one name per line, read from
 *     the repository: local mode only, since KServe v2 has no route that serves it)
 *   → the node's override: Labels (a list) or Label file (a file in the Node-RED user
 *     directory)
 *   → msg.triton.labels.
 *
 * A list must hold one name per class. Results are relabelled after decoding, and a class
 * filter written with the new names is turned into class ids first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TritonError, toTritonError } from '../protocol/errors';
import type { InferenceClient } from '../protocol/types';
import { resolveProfile, type ProfileCache, type TaskResult } from '../vision/pipeline';
import type { ModelProfile, Task } from '../vision/types';

/** A Labels value `file:NAME` names a Label file (an earlier form of the setting). */
export const LABEL_FILE_PREFIX = 'file:';
/** Largest label file read (a 1000-class list is ~10 KB). */
const MAX_LABEL_FILE_BYTES = 1024 * 1024;

/** "a, b" or one name per line → names; blank entries are dropped. */
export function parseLabelList(text: string): string[] {
  return text
    .split(/[,\n\r]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A label file: one name per line (Triton's format), blank lines ignored. */
export function parseLabelFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

async function readSmall(file: string): Promise<string> {
  const stat = await fs.promises.stat(file);
  if (!stat.isFile() || stat.size > MAX_LABEL_FILE_BYTES) {
    throw new Error(`not a file of at most ${MAX_LABEL_FILE_BYTES} bytes`);
  }
  return fs.promises.readFile(file, 'utf8');
}

/** A task node's own label override: its two settings as saved. */
export interface NodeLabelSettings {
  /** Labels: names separated by commas or new lines, in class-id order ('' = none). */
  labels: string;
  /** Label file: a file (one name per line) inside the Node-RED user directory ('' = none). */
  labelsFile: string;
}

/**
 * The node's label override, or undefined. Labels is a list; Label file a file read from
 * the user directory only (no absolute paths, no way out with `..` or a link). A Labels
 * value `file:NAME` is read as Label file NAME (an earlier form of the setting).
 */
export async function readNodeLabels(
  settings: NodeLabelSettings,
  userDir: string | undefined,
): Promise<string[] | undefined> {
  let list = settings.labels.trim();
  let file = settings.labelsFile.trim();
  if (list.startsWith(LABEL_FILE_PREFIX) && file === '') {
    file = list.slice(LABEL_FILE_PREFIX.length).trim();
    list = '';
  }
  if (list !== '' && file !== '') {
    throw new TritonError(
      'INVALID_CONFIG',
      'Labels and Label file are both set: keep one of them (clear the other) in the node',
    );
  }
  if (list !== '') return parseLabelList(list);
  if (file === '') return undefined;
  return readUserLabelFile(file, userDir);
}

async function readUserLabelFile(name: string, userDir: string | undefined): Promise<string[]> {
  const bad = (why: string): TritonError =>
    new TritonError(
      'INVALID_CONFIG',
      `Label file '${name}': ${why}. Put the file (one name per line) in the Node-RED user ` +
        'directory and give its name there, or list the names in Labels',
    );
  if (!userDir) throw bad('this Node-RED has no user directory to read it from');
  if (path.isAbsolute(name)) throw bad('give a file name inside the user directory');
  let root: string;
  let real: string;
  try {
    root = await fs.promises.realpath(userDir);
    real = await fs.promises.realpath(path.resolve(root, name));
  } catch {
    throw bad('no such file in the user directory');
  }
  if (!real.startsWith(root + path.sep)) throw bad('the file is outside the user directory');
  try {
    const labels = parseLabelFile(await readSmall(real));
    if (labels.length === 0) throw new Error('it holds no names');
    return labels;
  } catch (e) {
    throw bad(`could not read it (${(e as Error).message})`);
  }
}

/** msg.triton.labels: an array of names, or a string of comma/newline-separated names. */
export function parseMessageLabels(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const list = typeof value === 'string' ? parseLabelList(value) : value;
  const ok =
    Array.isArray(list) &&
    list.length > 0 &&
    list.every((x) => typeof x === 'string' && x.trim() !== '');
  if (!ok) {
    throw new TritonError(
      'INVALID_OPTION',
      `msg.triton.labels must be a list of class names (one per class), got ` +
        `${JSON.stringify(value) ?? String(value)}: fix it or remove it to use the node's labels`,
    );
  }
  return (list as string[]).map((s) => s.trim());
}

/** A file name from a model config: a name in the model's folder, nothing more. */
function safeFileName(name: string): boolean {
  return name !== '' && !/[\\/]/.test(name) && name !== '.' && name !== '..';
}

export interface LabelFileResult {
  labels?: string[];
  /** Why a named file was not used (remote server, unreadable): said once in the log. */
  note?: string;
}

/**
 * The label file the model's config names (on its classification/detection output), read
 * from `<repository>/<model>/<file>` in local mode. Remote servers cannot send it.
 */
export async function readModelLabelFile(
  client: InferenceClient,
  model: string,
  version: string,
): Promise<LabelFileResult> {
  let file: string | undefined;
  try {
    const config = await client.modelConfig(model, version || undefined);
    file = config.output?.find((o) => o.label_filename)?.label_filename;
  } catch (e) {
    if (toTritonError(e).code === 'UNSUPPORTED') return {};
    throw e;
  }
  if (!file) return {};
  if (client.kind !== 'local') {
    return {
      note:
        `Model '${model}' names the label file '${file}', which a KServe server offers no ` +
        "way to read: put the names in the node's Labels setting or in the config's labels " +
        'parameter',
    };
  }
  if (!safeFileName(file)) {
    return { note: `Model '${model}' names the label file '${file}': use a plain file name` };
  }
  try {
    const labels = parseLabelFile(await readSmall(path.join(client.endpoint, model, file)));
    return labels.length > 0 ? { labels } : { note: `Label file '${file}' is empty` };
  } catch (e) {
    return { note: `Label file '${file}' of model '${model}' could not be read: ${String(e)}` };
  }
}

/**
 * The labels that replace the profile's (the last source given wins), checked against
 * the model's class count; undefined when nothing replaces them.
 */
export function effectiveLabels(
  profile: Pick<ModelProfile, 'model' | 'numClasses'>,
  sources: { file?: string[]; node?: string[]; message?: string[] },
): string[] | undefined {
  const pick: [string, string[] | undefined][] = [
    ['msg.triton.labels', sources.message],
    ["the node's Labels", sources.node],
    ["the model's label file", sources.file],
  ];
  const chosen = pick.find(([, l]) => l !== undefined);
  if (!chosen) return undefined;
  const [where, labels] = chosen as [string, string[]];
  if (labels.length !== profile.numClasses) {
    throw new TritonError(
      where === 'msg.triton.labels' ? 'INVALID_OPTION' : 'INVALID_CONFIG',
      `Model '${profile.model}' has ${profile.numClasses} classes but ${where} has ` +
        `${labels.length} names: give exactly one name per class`,
    );
  }
  return labels;
}

/** A class filter in the new names → class ids (ids and unknown names pass unchanged). */
export function classIdsFor(classes: (number | string)[], labels: string[]): (number | string)[] {
  return classes.map((c) => {
    if (typeof c !== 'string') return c;
    const name = c.trim().toLowerCase();
    const id = labels.findIndex((l) => l.toLowerCase() === name);
    return id >= 0 ? id : c;
  });
}

/** Writes the new names into the result's detections / classes (by class id). */
export function relabel(result: TaskResult, labels: string[]): void {
  for (const d of result.detections ?? []) d.label = labels[d.classId] ?? d.label;
  for (const c of result.classes ?? []) c.label = labels[c.classId] ?? c.label;
}

/**
 * One task node's label sources: its Labels or Label file (read once, at deploy) and each
 * model's label file (read once per model and version, forgotten when the model changes).
 */
export class LabelResolver {
  private readonly node: Promise<string[] | undefined>;
  private readonly files = new Map<string, Promise<LabelFileResult>>();

  constructor(
    setting: NodeLabelSettings,
    userDir: string | undefined,
    private readonly task: Task,
    /** Where a note about an unusable label file goes (once per model). */
    private readonly log: (text: string) => void,
  ) {
    this.node = readNodeLabels(setting, userDir);
    // Failures surface at deploy and on each message, never unhandled.
    this.node.catch(() => undefined);
  }

  /** The names that replace the model's for one message, or undefined: the model's apply. */
  async labelsFor(
    server: { client: InferenceClient; cache: ProfileCache },
    model: string,
    version: string,
    message?: string[],
  ): Promise<string[] | undefined> {
    const node = await this.node;
    const file = (await this.labelFile(server.client, model, version)).labels;
    if (!node && !message && !file) return undefined;
    const profile = await resolveProfile(server.client, model, version, {
      cache: server.cache,
      expectTask: this.task,
    });
    return effectiveLabels(profile, {
      ...(file ? { file } : {}),
      ...(node ? { node } : {}),
      ...(message ? { message } : {}),
    });
  }

  /** The model was replaced: read its label file again. */
  forget(model: string): void {
    for (const key of [...this.files.keys()]) {
      if (key.startsWith(`${model}@`)) this.files.delete(key);
    }
  }

  private labelFile(
    client: InferenceClient,
    model: string,
    version: string,
  ): Promise<LabelFileResult> {
    const key = `${model}@${version}`;
    let found = this.files.get(key);
    if (!found) {
      found = readModelLabelFile(client, model, version).then((r) => {
        if (r.note) this.log(r.note);
        return r;
      });
      this.files.set(key, found);
      found.catch(() => {
        if (this.files.get(key) === found) this.files.delete(key);
      });
    }
    return found;
  }
}
