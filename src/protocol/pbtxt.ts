/**
 * Triton's config.pbtxt: the protobuf text-format subset model configurations use,
 * parsed into a generic tree, then normalised to the shape of Triton's HTTP config
 * JSON (the ModelConfig every client returns).
 */
import { TritonError } from './errors';
import type { ConfigDataType, ModelConfig, ModelConfigInput, ModelConfigOutput } from './types';

// ---- generic tree -------------------------------------------------------------

export type PbScalar =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number; text: string }
  | { kind: 'ident'; value: string };

export interface PbMessage {
  kind: 'message';
  fields: PbField[];
}

export type PbValue = PbScalar | PbMessage;

/**
 * One `name: value` occurrence. Repeated fields appear once per value, whether
 * written several times or as a `[a, b]` list (text format treats both alike);
 * `list` records which, so unknown fields can still become JSON arrays.
 */
export interface PbField {
  name: string;
  value: PbValue;
  line: number;
  column: number;
  list: boolean;
}

export interface ParseOptions {
  /** File name used in error messages (default "config.pbtxt"). */
  file?: string;
}

interface Token {
  type: 'ident' | 'number' | 'string' | 'punct' | 'eof';
  text: string;
  /** Decoded value for strings. */
  value?: string;
  line: number;
  column: number;
}

class Lexer {
  private pos = 0;
  private line = 1;
  private col = 1;
  private peeked: Token | undefined;

  constructor(
    private readonly src: string,
    private readonly fail: (line: number, column: number, msg: string) => never,
  ) {}

  peek(): Token {
    if (!this.peeked) this.peeked = this.read();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private advance(n = 1): void {
    for (let i = 0; i < n; i++) {
      if (this.src[this.pos] === '\n') {
        this.line++;
        this.col = 1;
      } else {
        this.col++;
      }
      this.pos++;
    }
  }

  private skipSpaceAndComments(): void {
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (c === '#') {
        while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.advance();
      } else if (/\s/.test(c)) {
        this.advance();
      } else {
        return;
      }
    }
  }

  private read(): Token {
    this.skipSpaceAndComments();
    const line = this.line;
    const column = this.col;
    if (this.pos >= this.src.length) return { type: 'eof', text: 'end of file', line, column };
    const rest = this.src.slice(this.pos);
    const c = rest[0]!;
    if (c === '"' || c === "'") return this.readString(c, line, column);
    const num =
      /^[-+]?(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?[fF]?|inf(inity)?|nan)/i.exec(rest);
    if (num && (/[\d.]/.test(c) || ((c === '-' || c === '+') && num[0].length > 1))) {
      this.advance(num[0].length);
      return { type: 'number', text: num[0], line, column };
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (ident) {
      this.advance(ident[0].length);
      return { type: 'ident', text: ident[0], line, column };
    }
    if ('{}[]<>:,;'.includes(c)) {
      this.advance();
      return { type: 'punct', text: c, line, column };
    }
    return this.fail(line, column, `unexpected character '${c}'`);
  }

  private readString(quote: string, line: number, column: number): Token {
    this.advance(); // opening quote
    const bytes: number[] = [];
    const pushText = (s: string): void => {
      for (const b of Buffer.from(s, 'utf8')) bytes.push(b);
    };
    while (true) {
      if (this.pos >= this.src.length || this.src[this.pos] === '\n') {
        this.fail(line, column, 'string is not closed on the line it starts');
      }
      const c = this.src[this.pos]!;
      if (c === quote) {
        this.advance();
        break;
      }
      if (c !== '\\') {
        const cp = this.src.codePointAt(this.pos)!;
        const ch = String.fromCodePoint(cp);
        pushText(ch);
        this.advance(ch.length);
        continue;
      }
      const escLine = this.line;
      const escCol = this.col;
      this.advance();
      const e = this.src[this.pos];
      const simple: Record<string, number> = {
        n: 10,
        t: 9,
        r: 13,
        a: 7,
        b: 8,
        f: 12,
        v: 11,
        '\\': 92,
        "'": 39,
        '"': 34,
        '?': 63,
      };
      if (e !== undefined && simple[e] !== undefined) {
        bytes.push(simple[e]!);
        this.advance();
      } else if (e === 'x' || e === 'X') {
        const m = /^[0-9a-fA-F]{1,2}/.exec(this.src.slice(this.pos + 1));
        if (!m) this.fail(escLine, escCol, 'escape \\x needs hex digits');
        bytes.push(parseInt(m[0], 16));
        this.advance(1 + m[0].length);
      } else if (e !== undefined && /[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(this.src.slice(this.pos))!;
        bytes.push(parseInt(m[0], 8) & 0xff);
        this.advance(m[0].length);
      } else if (e === 'u' || e === 'U') {
        const len = e === 'u' ? 4 : 8;
        const hex = this.src.slice(this.pos + 1, this.pos + 1 + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) {
          this.fail(escLine, escCol, `escape \\${e} needs ${len} hex digits`);
        }
        pushText(String.fromCodePoint(parseInt(hex, 16)));
        this.advance(1 + len);
      } else {
        this.fail(escLine, escCol, `unknown escape '\\${e ?? ''}' in string`);
      }
    }
    // Escapes describe bytes; text format strings are UTF-8 underneath.
    return {
      type: 'string',
      text: 'string',
      value: Buffer.from(bytes).toString('utf8'),
      line,
      column,
    };
  }
}

function describe(t: Token): string {
  if (t.type === 'eof') return 'the end of the file';
  if (t.type === 'string') return 'a string';
  return `'${t.text}'`;
}

/**
 * Parses protobuf text format into a tree. Throws INVALID_CONFIG naming the file,
 * line and column of the first syntax error.
 */
export function parseTextProto(text: string, opts: ParseOptions = {}): PbMessage {
  const file = opts.file ?? 'config.pbtxt';
  const fail = (line: number, column: number, msg: string): never => {
    throw new TritonError(
      'INVALID_CONFIG',
      `${file} line ${line}, column ${column}: ${msg}. Fix the model configuration (protobuf text format) and load the model again.`,
    );
  };
  const lex = new Lexer(text, fail);

  const expectPunct = (p: string, what: string): Token => {
    const t = lex.next();
    if (t.type !== 'punct' || t.text !== p)
      fail(t.line, t.column, `expected ${what}, found ${describe(t)}`);
    return t;
  };

  const skipSeparator = (): void => {
    const t = lex.peek();
    if (t.type === 'punct' && (t.text === ',' || t.text === ';')) lex.next();
  };

  const parseScalar = (): PbScalar => {
    const t = lex.next();
    if (t.type === 'string') {
      let value = t.value!;
      // Adjacent literals concatenate, as in C.
      while (lex.peek().type === 'string') value += lex.next().value!;
      return { kind: 'string', value };
    }
    if (t.type === 'number') return { kind: 'number', value: parseNumber(t.text), text: t.text };
    if (t.type === 'ident') {
      // Text format spells float specials as bare words.
      if (/^(inf|infinity|nan)$/i.test(t.text)) {
        return { kind: 'number', value: parseNumber(t.text), text: t.text };
      }
      return { kind: 'ident', value: t.text };
    }
    return fail(t.line, t.column, `expected a value, found ${describe(t)}`);
  };

  const parseMessageBody = (close: string | undefined): PbMessage => {
    const fields: PbField[] = [];
    while (true) {
      const t = lex.peek();
      if (close === undefined && t.type === 'eof') break;
      if (close !== undefined && t.type === 'punct' && t.text === close) {
        lex.next();
        break;
      }
      if (t.type === 'eof')
        fail(t.line, t.column, `expected '${close}' before the end of the file`);
      fields.push(...parseField());
      skipSeparator();
    }
    return { kind: 'message', fields };
  };

  const parseMessageValue = (): PbMessage => {
    const open = lex.next(); // '{' or '<'
    return parseMessageBody(open.text === '{' ? '}' : '>');
  };

  const isMessageStart = (t: Token): boolean =>
    t.type === 'punct' && (t.text === '{' || t.text === '<');

  const parseField = (): PbField[] => {
    const nameTok = lex.next();
    let name: string;
    if (nameTok.type === 'ident') {
      name = nameTok.text;
    } else if (nameTok.type === 'punct' && nameTok.text === '[') {
      // Extension or Any type URL: `[pkg.ext] { ... }`; kept under its bracketed name.
      const parts: string[] = [];
      while (true) {
        const p = lex.next();
        if (p.type === 'punct' && p.text === ']') break;
        if (p.type === 'eof') fail(p.line, p.column, "expected ']' to close the extension name");
        parts.push(p.text);
      }
      name = `[${parts.join('')}]`;
    } else {
      return fail(
        nameTok.line,
        nameTok.column,
        `expected a field name, found ${describe(nameTok)}`,
      );
    }
    const at = { line: nameTok.line, column: nameTok.column };
    let t = lex.peek();
    let colon = false;
    if (t.type === 'punct' && t.text === ':') {
      lex.next();
      colon = true;
      t = lex.peek();
    }
    if (isMessageStart(t)) {
      return [{ name, value: parseMessageValue(), ...at, list: false }];
    }
    if (t.type === 'punct' && t.text === '[') {
      lex.next();
      const out: PbField[] = [];
      let first = true;
      while (true) {
        const n = lex.peek();
        if (n.type === 'punct' && n.text === ']') {
          lex.next();
          break;
        }
        if (!first) {
          expectPunct(',', `',' or ']' in the list for '${name}'`);
          const after = lex.peek();
          if (after.type === 'punct' && after.text === ']') {
            lex.next();
            break;
          }
        }
        first = false;
        const v = isMessageStart(lex.peek()) ? parseMessageValue() : parseScalar();
        out.push({ name, value: v, ...at, list: true });
      }
      return out;
    }
    if (!colon) {
      return fail(
        t.line,
        t.column,
        `expected ':' or '{' after the field name '${name}', found ${describe(t)}`,
      );
    }
    return [{ name, value: parseScalar(), ...at, list: false }];
  };

  return parseMessageBody(undefined);
}

function parseNumber(text: string): number {
  let s = text;
  if (/^[-+]?0[xX]/.test(s)) {
    const neg = s.startsWith('-');
    s = s.replace(/^[-+]?0[xX]/, '');
    const v = parseInt(s, 16);
    return neg ? -v : v;
  }
  s = s.replace(/([\d.])[fF]$/, '$1'); // C-style float suffix: 1.5f
  if (/inf/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/nan/i.test(s)) return NaN;
  return Number(s);
}

// ---- ModelConfig ----------------------------------------------------------------

export interface ModelConfigParseOptions extends ParseOptions {
  /** Model name to use when the text has no `name` (Triton takes the folder name). */
  name?: string;
}

/** platform ⇔ backend pairs Triton fills in for each other. */
const PLATFORM_BACKEND: [string, string][] = [
  ['onnxruntime_onnx', 'onnxruntime'],
  ['tensorrt_plan', 'tensorrt'],
  ['pytorch_libtorch', 'pytorch'],
  ['tensorflow_savedmodel', 'tensorflow'],
  ['tensorflow_graphdef', 'tensorflow'],
];

/** The model file Triton looks for when the config names none. */
const DEFAULT_FILENAME: Record<string, string> = {
  onnxruntime: 'model.onnx',
  tensorrt: 'model.plan',
  pytorch: 'model.pt',
  tensorflow: 'model.savedmodel',
};

const DATA_TYPES: ConfigDataType[] = [
  'TYPE_INVALID',
  'TYPE_BOOL',
  'TYPE_UINT8',
  'TYPE_UINT16',
  'TYPE_UINT32',
  'TYPE_UINT64',
  'TYPE_INT8',
  'TYPE_INT16',
  'TYPE_INT32',
  'TYPE_INT64',
  'TYPE_FP16',
  'TYPE_FP32',
  'TYPE_FP64',
  'TYPE_STRING',
  'TYPE_BF16',
];
const FORMATS = ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'] as const;
const KINDS = ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'];

/** Normalises config.pbtxt text to ModelConfig (Triton's HTTP config JSON shape). */
export function parseModelConfig(text: string, opts: ModelConfigParseOptions = {}): ModelConfig {
  return modelConfigFromTree(parseTextProto(text, opts), opts);
}

/** Same as parseModelConfig, from an already parsed tree. */
export function modelConfigFromTree(
  root: PbMessage,
  opts: ModelConfigParseOptions = {},
): ModelConfig {
  const file = opts.file ?? 'config.pbtxt';
  const bad = (f: PbField | undefined, msg: string): never => {
    const where = f ? ` line ${f.line}, column ${f.column}` : '';
    throw new TritonError(
      'INVALID_CONFIG',
      `${file}${where}: ${msg}. Fix the model configuration and load the model again.`,
    );
  };

  const all = (m: PbMessage, name: string): PbField[] => m.fields.filter((f) => f.name === name);
  const one = (m: PbMessage, name: string): PbField | undefined => {
    const fs = all(m, name);
    if (fs.length > 1) bad(fs[1], `'${name}' is set more than once`);
    return fs[0];
  };
  const str = (m: PbMessage, name: string): string | undefined => {
    const f = one(m, name);
    if (!f) return undefined;
    if (f.value.kind !== 'string') bad(f, `'${name}' must be a quoted string`);
    return (f.value as { value: string }).value;
  };
  const intOf = (f: PbField): number => {
    const v = f.value;
    if (v.kind !== 'number' || !Number.isInteger(v.value)) bad(f, `'${f.name}' must be an integer`);
    return (v as { value: number }).value;
  };
  const int = (m: PbMessage, name: string): number | undefined => {
    const f = one(m, name);
    return f ? intOf(f) : undefined;
  };
  const ints = (m: PbMessage, name: string): number[] => all(m, name).map(intOf);
  const bool = (m: PbMessage, name: string): boolean | undefined => {
    const f = one(m, name);
    if (!f) return undefined;
    const v = f.value;
    if (v.kind === 'ident' && (v.value === 'true' || v.value === 'false'))
      return v.value === 'true';
    if (v.kind === 'number' && (v.value === 0 || v.value === 1)) return v.value === 1;
    return bad(f, `'${name}' must be true or false`);
  };
  const msg = (f: PbField): PbMessage => {
    if (f.value.kind !== 'message') bad(f, `'${f.name}' must be a { ... } block`);
    return f.value as PbMessage;
  };
  const enumOf = <T extends string>(
    m: PbMessage,
    name: string,
    names: readonly T[],
  ): T | undefined => {
    const f = one(m, name);
    if (!f) return undefined;
    const v = f.value;
    if (v.kind === 'ident' && (names as readonly string[]).includes(v.value)) return v.value as T;
    if (v.kind === 'number' && Number.isInteger(v.value) && names[v.value] !== undefined) {
      return names[v.value]!;
    }
    return bad(f, `'${name}' must be one of ${names.join(', ')}`);
  };
  const reshape = (m: PbMessage): { shape: number[] } | undefined => {
    const f = one(m, 'reshape');
    return f ? { shape: ints(msg(f), 'shape') } : undefined;
  };

  const nameField = one(root, 'name');
  const name = str(root, 'name') ?? opts.name ?? '';
  if (!name) bad(nameField, "the model has no 'name'");
  let platform = str(root, 'platform') ?? '';
  let backend = str(root, 'backend') ?? '';
  if (platform && !backend) {
    backend = PLATFORM_BACKEND.find(([p]) => p === platform)?.[1] ?? '';
  } else if (backend && !platform) {
    // tensorflow has two platforms; Triton leaves platform empty for it.
    const matches = PLATFORM_BACKEND.filter(([, b]) => b === backend);
    platform = matches.length === 1 ? matches[0]![0] : '';
  } else if (platform && backend) {
    const pair = PLATFORM_BACKEND.find(([p]) => p === platform);
    if (pair && pair[1] !== backend) {
      bad(
        one(root, 'backend'),
        `platform '${platform}' runs on backend '${pair[1]}', not '${backend}'`,
      );
    }
  }

  const mbs = int(root, 'max_batch_size') ?? 0;
  if (mbs < 0) bad(one(root, 'max_batch_size'), "'max_batch_size' must be 0 or more");

  const tensorName = (m: PbMessage, f: PbField, kind: string): string => {
    const n = str(m, 'name');
    if (!n) bad(f, `every ${kind} needs a 'name'`);
    return n!;
  };

  const input: ModelConfigInput[] = all(root, 'input').map((f) => {
    const m = msg(f);
    const out: ModelConfigInput = {
      name: tensorName(m, f, 'input'),
      data_type: enumOf(m, 'data_type', DATA_TYPES) ?? 'TYPE_INVALID',
      format: enumOf(m, 'format', FORMATS) ?? 'FORMAT_NONE',
      dims: ints(m, 'dims'),
    };
    const r = reshape(m);
    if (r) out.reshape = r;
    const optional = bool(m, 'optional');
    if (optional !== undefined) out.optional = optional;
    return out;
  });
  const output: ModelConfigOutput[] = all(root, 'output').map((f) => {
    const m = msg(f);
    const out: ModelConfigOutput = {
      name: tensorName(m, f, 'output'),
      data_type: enumOf(m, 'data_type', DATA_TYPES) ?? 'TYPE_INVALID',
      dims: ints(m, 'dims'),
    };
    const label = str(m, 'label_filename');
    if (label !== undefined) out.label_filename = label;
    const r = reshape(m);
    if (r) out.reshape = r;
    return out;
  });

  const cfg: ModelConfig = { name, platform, backend, max_batch_size: mbs, input, output };

  const vp = one(root, 'version_policy');
  if (vp) {
    const m = msg(vp);
    const latest = one(m, 'latest');
    const allV = one(m, 'all');
    const specific = one(m, 'specific');
    if ([latest, allV, specific].filter(Boolean).length !== 1) {
      bad(vp, "'version_policy' needs exactly one of latest, all, specific");
    }
    if (latest) {
      const n = int(msg(latest), 'num_versions') ?? 1;
      if (n < 1) bad(latest, "'num_versions' must be 1 or more");
      cfg.version_policy = { latest: { num_versions: n } };
    } else if (allV) {
      msg(allV);
      cfg.version_policy = { all: {} };
    } else {
      cfg.version_policy = { specific: { versions: ints(msg(specific!), 'versions') } };
    }
  } else {
    cfg.version_policy = { latest: { num_versions: 1 } };
  }

  const groups = all(root, 'instance_group');
  if (groups.length) {
    cfg.instance_group = groups.map((f) => {
      const m = msg(f);
      const g: { name?: string; count: number; kind: string; gpus?: number[] } = {
        count: int(m, 'count') ?? 1,
        kind: enumOf(m, 'kind', KINDS) ?? 'KIND_AUTO',
      };
      const gname = str(m, 'name');
      if (gname !== undefined) g.name = gname;
      const gpus = ints(m, 'gpus');
      if (gpus.length) g.gpus = gpus;
      return g;
    });
  }

  const db = one(root, 'dynamic_batching');
  if (db) {
    const m = msg(db);
    const d: NonNullable<ModelConfig['dynamic_batching']> = {};
    const pref = ints(m, 'preferred_batch_size');
    if (pref.length) d.preferred_batch_size = pref;
    const delay = int(m, 'max_queue_delay_microseconds');
    if (delay !== undefined) d.max_queue_delay_microseconds = delay;
    const keep = bool(m, 'preserve_ordering');
    if (keep !== undefined) d.preserve_ordering = keep;
    cfg.dynamic_batching = d;
  }

  const filename = str(root, 'default_model_filename');
  // A file name inside the version folder, never a path out of it ('../../etc/passwd').
  if (filename && (/[/\\\0]/.test(filename) || filename === '.' || filename === '..')) {
    bad(
      one(root, 'default_model_filename'),
      `default_model_filename '${filename}' must be a file name in the version folder, without '/', '\\' or '..'`,
    );
  }
  if (filename) cfg.default_model_filename = filename;
  else if (DEFAULT_FILENAME[backend]) cfg.default_model_filename = DEFAULT_FILENAME[backend];

  const params = all(root, 'parameters');
  if (params.length) {
    cfg.parameters = {};
    for (const f of params) {
      const m = msg(f);
      const key = str(m, 'key');
      if (key === undefined) bad(f, "every 'parameters' entry needs a 'key'");
      const vf = one(m, 'value');
      const value = vf ? (str(msg(vf), 'string_value') ?? '') : '';
      cfg.parameters[key!] = { string_value: value };
    }
  }

  // Fields we do not model (optimization, model_warmup, ...) pass through best-effort.
  const known = new Set([
    'name',
    'platform',
    'backend',
    'max_batch_size',
    'input',
    'output',
    'version_policy',
    'instance_group',
    'dynamic_batching',
    'default_model_filename',
    'parameters',
  ]);
  const extra = cfg as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(treeToJson(root))) {
    if (!known.has(key)) extra[key] = value;
  }
  return cfg;
}

/**
 * Generic tree → JSON. Without the schema, a field is an array when it was written
 * as a list or more than once; otherwise a single value.
 */
export function treeToJson(m: PbMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const groups = new Map<string, PbField[]>();
  for (const f of m.fields) {
    const list = groups.get(f.name) ?? [];
    list.push(f);
    groups.set(f.name, list);
  }
  for (const [name, fs] of groups) {
    const values = fs.map((f) =>
      f.value.kind === 'message' ? treeToJson(f.value) : f.value.value,
    );
    out[name] = fs.length > 1 || fs[0]!.list ? values : values[0];
  }
  return out;
}

// ---- ModelConfig → text ----------------------------------------------------------

function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

const list = (xs: number[]): string => `[ ${xs.join(', ')} ]`;

/** ModelConfig → config.pbtxt text (the fields ModelConfig models). */
export function formatModelConfig(cfg: ModelConfig): string {
  const lines: string[] = [`name: ${quote(cfg.name)}`];
  if (cfg.platform) lines.push(`platform: ${quote(cfg.platform)}`);
  if (cfg.backend) lines.push(`backend: ${quote(cfg.backend)}`);
  lines.push(`max_batch_size: ${cfg.max_batch_size}`);
  const vp = cfg.version_policy;
  if (vp) {
    if ('latest' in vp) {
      lines.push(`version_policy: { latest: { num_versions: ${vp.latest.num_versions} } }`);
    } else if ('all' in vp) lines.push('version_policy: { all: { } }');
    else lines.push(`version_policy: { specific: { versions: ${list(vp.specific.versions)} } }`);
  }
  const tensor = (t: ModelConfigInput | ModelConfigOutput, isInput: boolean): string => {
    const parts = [`name: ${quote(t.name)}`, `data_type: ${t.data_type}`];
    if (isInput) {
      const i = t as ModelConfigInput;
      if (i.format && i.format !== 'FORMAT_NONE') parts.push(`format: ${i.format}`);
      if (i.optional) parts.push('optional: true');
    }
    parts.push(`dims: ${list(t.dims)}`);
    if (t.reshape) parts.push(`reshape: { shape: ${list(t.reshape.shape)} }`);
    const label = (t as ModelConfigOutput).label_filename;
    if (!isInput && label) parts.push(`label_filename: ${quote(label)}`);
    return `  { ${parts.join(' ')} }`;
  };
  if (cfg.input.length) {
    lines.push('input [', cfg.input.map((t) => tensor(t, true)).join(',\n'), ']');
  }
  if (cfg.output.length) {
    lines.push('output [', cfg.output.map((t) => tensor(t, false)).join(',\n'), ']');
  }
  for (const g of cfg.instance_group ?? []) {
    const parts = [`count: ${g.count}`, `kind: ${g.kind}`];
    if (g.name) parts.unshift(`name: ${quote(g.name)}`);
    if (g.gpus?.length) parts.push(`gpus: ${list(g.gpus)}`);
    lines.push(`instance_group { ${parts.join(' ')} }`);
  }
  if (cfg.dynamic_batching) {
    const d = cfg.dynamic_batching;
    const parts: string[] = [];
    if (d.preferred_batch_size?.length)
      parts.push(`preferred_batch_size: ${list(d.preferred_batch_size)}`);
    if (d.max_queue_delay_microseconds !== undefined)
      parts.push(`max_queue_delay_microseconds: ${d.max_queue_delay_microseconds}`);
    if (d.preserve_ordering !== undefined) parts.push(`preserve_ordering: ${d.preserve_ordering}`);
    lines.push(`dynamic_batching { ${parts.join(' ')} }`);
  }
  if (cfg.default_model_filename) {
    lines.push(`default_model_filename: ${quote(cfg.default_model_filename)}`);
  }
  for (const [key, v] of Object.entries(cfg.parameters ?? {})) {
    lines.push(
      `parameters { key: ${quote(key)} value: { string_value: ${quote(v.string_value)} } }`,
    );
  }
  return `${lines.join('\n')}\n`;
}
