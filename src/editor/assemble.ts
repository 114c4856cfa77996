/**
 * Build step (run by tsup, see tsup.config.ts): writes what Node-RED loads for each node from
 * the typed editor sources.
 *
 *   nodes/<type>.html                    the registration (an object literal naming every
 *                                        field, see registration()) and the edit template
 *                                        (forms.ts); triton-server.html also carries the
 *                                        editor library (src/editor/browser) and the styles
 *   nodes/locales/en-US/<type>.json      common.json + task.json (task nodes) + <type>.json,
 *                                        plus `validation.<field>` from src/shared/options.ts
 *   nodes/locales/en-US/<type>.html      help/en-US/<type>.html with its `<!-- include -->`s
 *                                        resolved (one error table: help/en-US/errors.json)
 *   nodes/icons/<type>.svg               copied from the top-level icons/ folder
 *
 * All of these are build outputs, git-ignored like nodes/*.js, and shipped in the npm package.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  HEALTH_OPTIONS,
  MODEL_OPTIONS,
  SERVER_CREDENTIALS,
  SERVER_OPTIONS,
  TASK_FIELDS,
  TASK_OPTIONS,
  TRACK_OPTIONS,
  expected,
  type Schema,
  type TaskKind,
} from '../shared/options';
import { STYLE, healthForm, modelForm, serverForm, taskForm, trackForm } from './forms';

export const NODE_TYPES = [
  'triton-server',
  'triton-health',
  'triton-detect',
  'triton-segment',
  'triton-classify',
  'triton-model',
  'triton-track',
] as const;
export type NodeType = (typeof NODE_TYPES)[number];

/** src/editor: where the fragments are (set again by assembleEditor when bundled elsewhere). */
let HERE = __dirname;
type Json = { [key: string]: Json } | string;

function readJson(file: string): Record<string, Json> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Json>;
}

/** Deep merge of catalog fragments; a key defined twice is a mistake in the fragments. */
function merge(target: Record<string, Json>, src: Record<string, Json>, at = ''): void {
  for (const [key, value] of Object.entries(src)) {
    const here = target[key];
    if (typeof value === 'object' && typeof here === 'object') {
      merge(here, value, `${at}${key}.`);
    } else if (here !== undefined) {
      throw new Error(`catalog key ${at}${key} is defined in two fragments`);
    } else {
      target[key] = typeof value === 'object' ? JSON.parse(JSON.stringify(value)) : value;
    }
  }
}

function taskOf(type: NodeType): TaskKind | null {
  const m = /^triton-(detect|segment|classify)$/.exec(type);
  return m ? (m[1] as TaskKind) : null;
}

function schemaOf(type: NodeType): { schema: Schema; fields: readonly string[] } {
  const task = taskOf(type);
  if (task) return { schema: TASK_OPTIONS, fields: TASK_FIELDS[task] };
  const schema: Schema =
    type === 'triton-server'
      ? SERVER_OPTIONS
      : type === 'triton-model'
        ? MODEL_OPTIONS
        : type === 'triton-track'
          ? TRACK_OPTIONS
          : HEALTH_OPTIONS;
  return { schema, fields: Object.keys(schema) };
}

/** The catalog of one node type, as Node-RED loads it: `{ "<type>": { ... } }`. */
export function catalog(type: NodeType, lang = 'en-US'): Record<string, Json> {
  const dir = path.join(HERE, 'locales', lang);
  const out: Record<string, Json> = {};
  merge(out, readJson(path.join(dir, 'common.json')));
  if (taskOf(type)) merge(out, readJson(path.join(dir, 'task.json')));
  // Stream mode (latest frame only / every Nth): its own fragment, shared by the task nodes.
  if (taskOf(type)) merge(out, readJson(path.join(dir, 'task-stream.json')));
  merge(out, readJson(path.join(dir, `${type}.json`)));
  // One sentence per rule, from the schema: "<Label> must be <what>".
  const labels = (out.label ?? {}) as Record<string, string>;
  const validation: Record<string, Json> = {};
  const { schema, fields } = schemaOf(type);
  for (const field of fields) {
    const rule = schema[field]!;
    if (rule.kind === 'boolean' || rule.kind === 'list' || field === 'version') continue;
    // A free-text string without a rule (Name, Labels) is never refused.
    if (rule.kind === 'string' && (rule.node || (!rule.required && !rule.pattern))) continue;
    const name = labels[field];
    if (typeof name !== 'string') throw new Error(`${type}: no label.${field} in the catalog`);
    validation[field] = `${name} must be ${expected(rule)}`;
  }
  merge(out, { validation });
  return { [type]: out };
}

const INCLUDE = /<!-- include ([a-z-]+)((?: [a-z]+="[^"]*")*) -->/g;

/** The error table: every code of errors.json, or the `codes` listed. */
function errorTable(lang: string, codes: string | undefined): string {
  const all = readJson(path.join(HERE, 'help', lang, 'errors.json')) as Record<string, string>;
  const wanted = codes ? codes.split(/\s+/) : Object.keys(all);
  const rows = wanted.map((code) => {
    const text = all[code];
    if (!text) throw new Error(`help/${lang}/errors.json has no entry for ${code}`);
    return `  <dt>${code}</dt>\n  <dd>${text}</dd>`;
  });
  return `<dl class="message-properties">\n${rows.join('\n')}\n</dl>`;
}

/** Resolves `<!-- include name key="value" -->` (fragments `_name.html`, `{{key}}` filled). */
function resolveIncludes(html: string, lang: string, depth = 0): string {
  if (depth > 4) throw new Error('help includes nest too deep');
  return html.replace(INCLUDE, (_all, name: string, rawArgs: string) => {
    const args: Record<string, string> = {};
    for (const m of rawArgs.matchAll(/ ([a-z]+)="([^"]*)"/g)) args[m[1]!] = m[2]!;
    if (name === 'errors') return errorTable(lang, args.codes);
    const file = path.join(HERE, 'help', lang, `_${name}.html`);
    const text = fs.readFileSync(file, 'utf8').replace(/\{\{([a-z]+)\}\}/g, (_m, key: string) => {
      if (args[key] === undefined) throw new Error(`include ${name} needs ${key}="..."`);
      return args[key];
    });
    return resolveIncludes(text.trimEnd(), lang, depth + 1);
  });
}

/** The help page of one node type. */
export function help(type: NodeType, lang = 'en-US'): string {
  const source = fs.readFileSync(path.join(HERE, 'help', lang, `${type}.html`), 'utf8');
  const body = resolveIncludes(source, lang).trimEnd();
  return `<script type="text/html" data-help-name="${type}">\n${body}\n</script>\n`;
}

function template(type: NodeType): string {
  const task = taskOf(type);
  if (task) return taskForm(task);
  if (type === 'triton-model') return modelForm();
  if (type === 'triton-track') return trackForm();
  return type === 'triton-server' ? serverForm() : healthForm();
}

/** The static part of each node's definition: written as literals into its HTML. */
export const NODE_META: Record<
  NodeType,
  { category: string; color?: string; inputs?: number; outputs?: number; paletteLabel?: string }
> = {
  'triton-server': { category: 'config' },
  'triton-health': {
    category: 'Triton Vision',
    color: '#A3D977',
    inputs: 1,
    outputs: 1,
    paletteLabel: 'health',
  },
  'triton-detect': {
    category: 'Triton Vision',
    color: '#A3D977',
    inputs: 1,
    outputs: 1,
    paletteLabel: 'detect',
  },
  'triton-segment': {
    category: 'Triton Vision',
    color: '#A3D977',
    inputs: 1,
    outputs: 1,
    paletteLabel: 'segment',
  },
  'triton-classify': {
    category: 'Triton Vision',
    color: '#A3D977',
    inputs: 1,
    outputs: 1,
    paletteLabel: 'classify',
  },
  'triton-model': {
    category: 'Triton Vision',
    color: '#A3D977',
    inputs: 1,
    outputs: 1,
    paletteLabel: 'model',
  },
  'triton-track': {
    category: 'Triton Vision',
    color: '#A3D977',
    inputs: 1,
    outputs: 2,
    paletteLabel: 'track',
  },
};

const BEHAVIOUR = ['label', 'labelStyle', 'oneditprepare', 'oneditsave'];

/**
 * The registration of one node type: `RED.nodes.registerType('<type>', { ... })` with an
 * object literal whose static values are literals and whose `defaults` (and `credentials`)
 * name every field, as tools that read node files statically expect (the flow library's
 * `node-red-dev validate`); the values come from the editor library's definition.
 */
export function registration(type: NodeType): string {
  const meta = NODE_META[type];
  const { fields } = schemaOf(type);
  const lines: string[] = [`category: ${JSON.stringify(meta.category)},`];
  if (meta.color) lines.push(`color: ${JSON.stringify(meta.color)},`);
  lines.push(
    `defaults: {\n${fields.map((f) => `        ${f}: d.defaults.${f},`).join('\n')}\n      },`,
  );
  if (type === 'triton-server') {
    const creds = Object.keys(SERVER_CREDENTIALS);
    lines.push(
      `credentials: {\n${creds.map((c) => `        ${c}: d.credentials.${c},`).join('\n')}\n      },`,
    );
  }
  if (meta.inputs !== undefined) lines.push(`inputs: ${meta.inputs},`);
  if (meta.outputs !== undefined) lines.push(`outputs: ${meta.outputs},`);
  if (type !== 'triton-server') lines.push(`icon: ${JSON.stringify(`${type}.svg`)},`);
  if (meta.paletteLabel) lines.push(`paletteLabel: ${JSON.stringify(meta.paletteLabel)},`);
  for (const key of BEHAVIOUR) lines.push(`${key}: d.${key},`);
  if ((meta.outputs ?? 0) > 1) lines.push('outputLabels: d.outputLabels,');
  return `(function () {
  // The behaviour is in the editor library (nodes/triton-server.html, src/editor/browser).
  function register(lib) {
    var d = lib.definition(${JSON.stringify(type)});
    RED.nodes.registerType(${JSON.stringify(type)}, {
      ${lines.join('\n      ')}
    });
  }
  if (window.TritonVisionEditor) register(window.TritonVisionEditor);
  else (window.TritonVisionEditorPending = window.TritonVisionEditorPending || []).push(register);
})();`;
}

/** nodes/<type>.html: the library bundle (triton-server only), registration and template. */
export function nodeHtml(type: NodeType, library?: string): string {
  if (library?.includes('</script')) throw new Error(`${type}: the bundle contains </script`);
  const parts = [
    '<!-- Generated by `npm run build` from src/editor (see src/editor/assemble.ts): edit there. -->',
  ];
  if (library) parts.push(`<script type="text/javascript">\n${library.trimEnd()}\n</script>`);
  parts.push(
    `<script type="text/javascript">\n${registration(type)}\n</script>`,
    `<script type="text/html" data-template-name="${type}">\n${template(type)}\n</script>`,
  );
  if (type === 'triton-server') parts.push(`<style>${STYLE}</style>`);
  return `${parts.join('\n\n')}\n`;
}

/**
 * Writes every editor file of the package under `root` (the package folder) from the editor
 * bundle in `bundleDir` (`triton-vision-editor.global.js`, tsup's IIFE output).
 */
export function assembleEditor(root: string, bundleDir: string): string[] {
  HERE = path.join(root, 'src', 'editor');
  const written: string[] = [];
  const write = (rel: string, text: string | Buffer): void => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    written.push(rel);
  };
  for (const type of NODE_TYPES) {
    const library =
      type === 'triton-server'
        ? fs.readFileSync(path.join(bundleDir, 'triton-vision-editor.global.js'), 'utf8')
        : undefined;
    write(`nodes/${type}.html`, nodeHtml(type, library));
    write(`nodes/locales/en-US/${type}.json`, `${JSON.stringify(catalog(type), null, 2)}\n`);
    write(`nodes/locales/en-US/${type}.html`, help(type));
  }
  // Node-RED looks for icons only in an `icons` folder beside the node files (Node-RED 4 and 5:
  // @node-red/registry localfilesystem.js), so the sources in icons/ are copied there.
  for (const icon of fs.readdirSync(path.join(root, 'icons'))) {
    write(`nodes/icons/${icon}`, fs.readFileSync(path.join(root, 'icons', icon)));
  }
  return written;
}
