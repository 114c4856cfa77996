/**
 * models/kserve: the InferenceService manifests cannot run here (no cluster), so they are
 * read with a small parser of the YAML they use (block mappings and sequences, plain and
 * quoted scalars, comments) that refuses anything else, and held to the model
 * repository in models/triton and to the settings the README tells the node to use.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SERVER_OPTIONS } from '../../src/shared/options';

const ROOT = path.resolve(__dirname, '..', '..');
const KSERVE = path.join(ROOT, 'models', 'kserve');

type Yaml = string | Yaml[] | { [key: string]: Yaml };

function scalar(text: string, where: string): string {
  const t = text.trim();
  if (t.startsWith('"') || t.startsWith("'")) {
    assert.match(t, /^(?:"[^"\\]*"|'[^']*')$/, `${where}: a quoted string ends where it starts`);
    return t.slice(1, -1);
  }
  assert.doesNotMatch(t, /^['{[&*!|>%@`]/, `${where}: only plain or quoted scalars`);
  assert.doesNotMatch(t, /: |\s#/, `${where}: a plain scalar holds no ': ' or ' #'`);
  return t;
}

/** The block YAML subset the manifests use; throws on anything else. */
export function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, i) => ({ raw, n: i + 1 }))
    .filter(({ raw }) => raw.trim() !== '' && !/^\s*#/.test(raw));
  for (const { raw, n } of lines) {
    assert.doesNotMatch(raw, /\t/, `line ${n}: tabs`);
    assert.equal((raw.length - raw.trimStart().length) % 2, 0, `line ${n}: indent of 2`);
  }
  let i = 0;
  const indentOf = (k: number): number => lines[k]!.raw.length - lines[k]!.raw.trimStart().length;
  function block(indent: number): Yaml {
    const first = lines[i]!.raw.trim();
    if (first.startsWith('- ')) {
      const list: Yaml[] = [];
      while (i < lines.length && indentOf(i) === indent && lines[i]!.raw.trim().startsWith('- ')) {
        const { raw, n } = lines[i]!;
        const rest = raw.trim().slice(2);
        if (/^[A-Za-z0-9_./-]+:( |$)/.test(rest)) {
          // "- key: value" opens a mapping whose other keys are indented two more.
          lines[i] = { raw: `${' '.repeat(indent + 2)}${rest}`, n };
          list.push(block(indent + 2));
        } else {
          list.push(scalar(rest, `line ${n}`));
          i++;
        }
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (i < lines.length && indentOf(i) === indent) {
      const { raw, n } = lines[i]!;
      const m = /^([A-Za-z0-9_./-]+):(?: (.*))?$/.exec(raw.trim());
      assert.ok(m, `line ${n}: not "key: value": ${raw}`);
      assert.ok(!(m[1]! in map), `line ${n}: ${m[1]} twice`);
      i++;
      if (m[2] !== undefined && m[2].trim() !== '') {
        map[m[1]!] = scalar(m[2], `line ${n}`);
      } else {
        assert.ok(i < lines.length && indentOf(i) > indent, `line ${n}: ${m[1]} has no value`);
        map[m[1]!] = block(indentOf(i));
      }
    }
    return map;
  }
  const doc = block(0);
  assert.equal(i, lines.length, `line ${lines[i]?.n}: indented where nothing opens a block`);
  return doc;
}

const at = (y: Yaml, ...keys: string[]): Yaml =>
  keys.reduce<Yaml>((o, k) => {
    assert.ok(typeof o === 'object' && !Array.isArray(o) && k in o, `no ${keys.join('.')}`);
    return (o as Record<string, Yaml>)[k]!;
  }, y);

describe('models/kserve manifests', function () {
  const seedModels = fs
    .readdirSync(path.join(ROOT, 'models', 'triton'))
    .filter((d) => fs.existsSync(path.join(ROOT, 'models', 'triton', d, 'config.pbtxt')))
    .sort();

  it('the parser refuses what it does not understand', function () {
    assert.throws(() => parseYaml('a:\n\tb: 1\n'));
    assert.throws(() => parseYaml('a: 1\n   b: 2\n'));
    assert.throws(() => parseYaml('a: [1, 2]\n'));
    assert.throws(() => parseYaml('a: 1\na: 2\n'));
    assert.deepEqual(parseYaml('a:\n  - x\n  - k: v\n    j: "w"\nb: \'c\'\n'), {
      a: ['x', { k: 'v', j: 'w' }],
      b: 'c',
    });
  });

  it('the seed has its eight models', function () {
    assert.equal(seedModels.length, 8, seedModels.join());
  });

  for (const [file, protocol] of [
    ['inferenceservice.yaml', 'v2'],
    ['inferenceservice-grpc.yaml', 'grpc-v2'],
  ] as const) {
    it(`${file}: an InferenceService on Triton loading exactly the eight models of models/triton`, function () {
      const doc = parseYaml(fs.readFileSync(path.join(KSERVE, file), 'utf8'));
      assert.equal(at(doc, 'apiVersion'), 'serving.kserve.io/v1beta1');
      assert.equal(at(doc, 'kind'), 'InferenceService');
      const name = at(doc, 'metadata', 'name') as string;
      // A DNS label: it becomes the service's host name.
      assert.match(name, /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/);
      const model = at(doc, 'spec', 'predictor', 'model');
      assert.equal(at(model, 'modelFormat', 'name'), 'triton');
      assert.equal(at(model, 'protocolVersion'), protocol);
      assert.match(at(model, 'storageUri') as string, /^(pvc|gs|s3|https?):\/\//);
      const args = at(model, 'args') as string[];
      assert.ok(args.includes('--model-control-mode=explicit'));
      const loaded = args
        .filter((a) => a.startsWith('--load-model='))
        .map((a) => a.slice('--load-model='.length))
        .sort();
      assert.deepEqual(loaded, seedModels);
      if (protocol === 'grpc-v2') {
        const ports = at(model, 'ports') as Record<string, string>[];
        assert.deepEqual(
          ports.map((p) => [p.name, p.protocol]),
          [['h2c', 'TCP']],
        );
      }
    });
  }

  it('README: the node settings it gives are valid values of those fields', function () {
    const readme = fs.readFileSync(path.join(KSERVE, 'README.md'), 'utf8');
    for (const prefix of ['/serving/models/triton-vision', '/kserve/demo']) {
      assert.ok(readme.includes(prefix));
      assert.ok(SERVER_OPTIONS.pathPrefix.pattern.test(prefix), prefix);
    }
    for (const host of [
      'triton-vision.models.example.com',
      'triton-vision-grpc.models.example.com',
    ]) {
      assert.ok(readme.includes(host));
      assert.ok(SERVER_OPTIONS.hostHeader.pattern.test(host), host);
    }
    for (const f of ['inferenceservice.yaml', 'inferenceservice-grpc.yaml']) {
      const doc = parseYaml(fs.readFileSync(path.join(KSERVE, f), 'utf8'));
      const name = at(doc, 'metadata', 'name') as string;
      const ns = at(doc, 'metadata', 'namespace') as string;
      assert.ok(readme.includes(`${name}.${ns}.`), `${name}.${ns} in the README`);
    }
  });
});
