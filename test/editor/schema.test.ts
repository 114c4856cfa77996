/**
 * One definition of each fact, checked: the option schema (src/shared/options.ts) against the
 * runtime's config parsing, the catalogs, the help pages, the example flows and the demo; the
 * error codes (src/protocol/errors.ts) against the catalogs and help; and the layout of the
 * shipped flows against their labels' widths. No browser: editor.test.ts does that part.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { LocalClient } from '../../src/client/local';
import { NODE_TYPES, catalog, help } from '../../src/editor/assemble';
import { healthForm, modelForm, serverForm, taskForm, trackForm } from '../../src/editor/forms';
import { listModels, testConnection } from '../../src/nodes/admin';
import { clientOptions, replicaEndpoints } from '../../src/nodes/connection';
import {
  healthSettings,
  migrateServer,
  modelNodeSettings,
  taskSettings,
} from '../../src/nodes/config';
import { trackNodeSettings } from '../../src/nodes/triton-track';
import { shortModelName, taskLabel } from '../../src/shared/labels';
import {
  HEALTH_OPTIONS,
  MODEL_OPTIONS,
  SERVER_OPTIONS,
  TASK_OPTIONS,
  TRACK_OPTIONS,
  check,
  defaultsOf,
  isValid,
  TASK_FIELDS,
  type Rule,
  type Schema,
  type TaskKind,
} from '../../src/shared/options';
import { collisions, draw, type FlowNode } from './layout';

const ROOT = path.resolve(__dirname, '..', '..');
type Catalog = Record<string, Record<string, Record<string, string>>>;

/** The codes of the TritonErrorCode union, read from its source. */
function errorCodes(): string[] {
  const src = fs.readFileSync(path.join(ROOT, 'src', 'protocol', 'errors.ts'), 'utf8');
  const union = /export type TritonErrorCode =([\s\S]*?);/.exec(src);
  assert.ok(union, 'TritonErrorCode not found in src/protocol/errors.ts');
  return [...union[1]!.matchAll(/\|\s*'([A-Z_]+)'/g)].map((m) => m[1]!);
}

function examples(): [string, FlowNode[]][] {
  const dir = path.join(ROOT, 'examples');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as FlowNode[]]);
}

function demo(): FlowNode[] {
  const { demoFlows } = require(path.join(ROOT, 'scripts', 'start.js')) as {
    demoFlows(): FlowNode[];
  };
  return demoFlows();
}

const SCHEMAS: Record<string, Schema> = {
  'triton-server': SERVER_OPTIONS,
  'triton-health': HEALTH_OPTIONS,
  'triton-detect': TASK_OPTIONS,
  'triton-segment': TASK_OPTIONS,
  'triton-classify': TASK_OPTIONS,
  'triton-model': MODEL_OPTIONS,
  'triton-track': TRACK_OPTIONS,
};

describe('editor sources: one definition of each fact', function () {
  describe('error codes', function () {
    const codes = errorCodes();

    it('reads the codes from src/protocol/errors.ts', function () {
      assert.ok(codes.length >= 20, codes.join());
      assert.ok(codes.includes('RUNTIME_MISSING') && codes.includes('QUEUE_FULL'));
    });

    it('every code has a short text in every node catalog (status text of a red ring)', function () {
      for (const type of NODE_TYPES) {
        const errors = (catalog(type) as Catalog)[type]!.errors!;
        const missing = codes.filter((c) => typeof errors[c] !== 'string' || errors[c] === '');
        assert.deepEqual(missing, [], `${type} catalog lacks errors for`);
      }
    });

    it('every code has one help entry, and the task nodes’ help lists every code', function () {
      const table = JSON.parse(
        fs.readFileSync(path.join(ROOT, 'src', 'editor', 'help', 'en-US', 'errors.json'), 'utf8'),
      ) as Record<string, string>;
      assert.deepEqual(Object.keys(table).sort(), [...codes].sort());
      for (const type of ['triton-detect', 'triton-segment', 'triton-classify'] as const) {
        const listed = [...help(type).matchAll(/<dt>([A-Z_]+)<\/dt>/g)].map((m) => m[1]);
        assert.deepEqual(listed.sort(), [...codes].sort(), type);
      }
      // The text exists once in the sources: no help page repeats an entry by hand.
      const sources = fs.readdirSync(path.join(ROOT, 'src', 'editor', 'help', 'en-US'));
      for (const f of sources.filter((s) => s.endsWith('.html'))) {
        const text = fs.readFileSync(path.join(ROOT, 'src', 'editor', 'help', 'en-US', f), 'utf8');
        assert.doesNotMatch(text, /<dt>[A-Z_]{4,}<\/dt>/, `${f} writes an error entry by hand`);
      }
    });
  });

  describe('catalogs and templates', function () {
    it('every data-i18n key of each dialog exists in that node’s catalog', function () {
      const forms: Record<string, string> = {
        'triton-server': serverForm(),
        'triton-health': healthForm(),
        'triton-detect': taskForm('detect'),
        'triton-segment': taskForm('segment'),
        'triton-classify': taskForm('classify'),
        'triton-model': modelForm(),
        'triton-track': trackForm(),
      };
      for (const type of NODE_TYPES) {
        const cat = catalog(type) as Record<string, unknown>;
        const keys = [...forms[type]!.matchAll(/data-i18n="(?:\[[a-z]+\])?([^"]+)"/g)].map(
          (m) => m[1]!,
        );
        assert.ok(keys.length > 5, type);
        for (const key of keys) {
          const value = key
            .split('.')
            .reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], cat);
          assert.equal(typeof value, 'string', `${type}: ${key} is not in the catalog`);
        }
      }
    });

    it('each validated field has its message, written from the schema', function () {
      const detect = (catalog('triton-detect') as Catalog)['triton-detect']!.validation!;
      assert.equal(detect.confidence, 'Confidence must be a number from 0 to 1');
      assert.equal(detect.maxDetections, 'Max detections must be a whole number of at least 1');
      assert.equal(detect.concurrency, 'Concurrency must be a whole number of at least 1');
      assert.equal(
        detect.labelsFile,
        'Label file must be a file name inside the Node-RED user directory (no absolute path, no ..)',
      );
      const server = (catalog('triton-server') as Catalog)['triton-server']!.validation!;
      assert.equal(server.grpcPort, 'gRPC port must be a port number from 1 to 65535');
      assert.equal(server.host, 'Host must be a host name or address');
      // Optional fields with a pattern get their sentence too (the red border's tooltip).
      assert.equal(server.replicas, 'Replicas must be one host:port per line (e.g. triton-2:8001)');
      assert.equal(
        server.pathPrefix,
        'Path prefix must be a URL path such as /kserve/demo, or empty',
      );
      assert.equal(
        server.hostHeader,
        'Host header must be a host name, optionally with :port, or empty',
      );
    });

    it('the replica list, path prefix and Host header: the editor and the runtime agree', function () {
      const remote = (f: string) => (f === 'mode' ? 'grpc' : undefined);
      const http = (f: string) => (f === 'mode' ? 'http' : undefined);
      for (const good of ['', 'triton-2:8001', 'a:1\nb:2\n', ' 10.0.0.2:8001, [::1]:8001 ']) {
        assert.equal(check(SERVER_OPTIONS, 'replicas', good, remote), null, JSON.stringify(good));
        assert.doesNotThrow(() => replicaEndpoints(good), good);
      }
      for (const bad of ['triton-2', 'triton-2:', 'http://triton-2:8001', 'a:1 b', 'a:1/x']) {
        assert.match(check(SERVER_OPTIONS, 'replicas', bad, remote)!, /host:port/, bad);
        assert.throws(() => replicaEndpoints(bad), { code: 'INVALID_CONFIG' }, bad);
      }
      // A port the pattern lets through but no socket has: the runtime's range check.
      assert.throws(() => replicaEndpoints('a:70000'), /port 1\.\.65535/);
      assert.deepEqual(replicaEndpoints('b:2\n[::1]:3'), [
        { host: 'b', port: 2 },
        { host: '::1', port: 3 },
      ]);
      assert.equal(
        check(SERVER_OPTIONS, 'replicas', 'x', (f) => (f === 'mode' ? 'local' : undefined)),
        null,
      );
      assert.equal(check(SERVER_OPTIONS, 'pathPrefix', '/kserve/demo', http), null);
      assert.match(check(SERVER_OPTIONS, 'pathPrefix', 'kserve demo', http)!, /URL path/);
      assert.equal(check(SERVER_OPTIONS, 'pathPrefix', 'kserve demo', remote), null);
      assert.match(check(SERVER_OPTIONS, 'hostHeader', 'a b', remote)!, /host name/);
      assert.throws(
        () =>
          clientOptions({
            config: { mode: 'http', host: 'h', pathPrefix: 'no slash' },
            credentials: {},
          }),
        (e: { code?: string; message?: string }) =>
          e.code === 'INVALID_CONFIG' && e.message!.includes(SERVER_OPTIONS.pathPrefix.message),
      );
      const o = clientOptions({
        config: {
          mode: 'http',
          host: 'h',
          pathPrefix: '/kserve/demo/',
          hostHeader: 'demo.example.com',
        },
        credentials: {},
      }) as { pathPrefix?: string; headers?: Record<string, string> };
      assert.equal(o.pathPrefix, '/kserve/demo');
      assert.equal(o.headers?.host, 'demo.example.com');
      const g = clientOptions({
        config: { mode: 'grpc', host: 'h', pathPrefix: '/ignored', hostHeader: 'demo.example.com' },
        credentials: {},
      }) as { pathPrefix?: string; authority?: string; headers?: Record<string, string> };
      assert.equal(g.authority, 'demo.example.com');
      assert.equal(g.pathPrefix, undefined);
      assert.equal(g.headers?.host, undefined);
    });

    it('nodes/ holds what the sources assemble to (run `npm run build` after editing them)', function () {
      for (const type of NODE_TYPES) {
        const dir = path.join(ROOT, 'nodes', 'locales', 'en-US');
        assert.deepEqual(
          JSON.parse(fs.readFileSync(path.join(dir, `${type}.json`), 'utf8')),
          catalog(type),
        );
        assert.equal(fs.readFileSync(path.join(dir, `${type}.html`), 'utf8'), help(type));
        const html = fs.readFileSync(path.join(ROOT, 'nodes', `${type}.html`), 'utf8');
        assert.match(html, new RegExp(`data-template-name="${type}"`));
        assert.match(html, new RegExp(`registerType\\("${type}"`));
        assert.ok(fs.existsSync(path.join(ROOT, 'nodes', 'icons', `${type}.svg`)), `${type}.svg`);
      }
    });
    it('each nodes/<type>.html registers its type with an object literal naming every field (as node-red-dev validate reads it)', function () {
      for (const type of NODE_TYPES) {
        const html = fs.readFileSync(path.join(ROOT, 'nodes', `${type}.html`), 'utf8');
        const scripts = [
          ...html.matchAll(/<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi),
        ].map((m) => m[1]!);
        const found: { type: string; keys: string[]; defaults: string[]; literal: string[] }[] = [];
        for (const code of scripts) {
          const file = ts.createSourceFile(
            'x.js',
            code,
            ts.ScriptTarget.Latest,
            true,
            ts.ScriptKind.JS,
          );
          const visit = (n: ts.Node): void => {
            if (
              ts.isCallExpression(n) &&
              ts.isPropertyAccessExpression(n.expression) &&
              n.expression.name.text === 'registerType'
            ) {
              const [name, def] = n.arguments;
              assert.ok(
                name && ts.isStringLiteral(name),
                `${type}: registerType without a literal name`,
              );
              assert.ok(
                def && ts.isObjectLiteralExpression(def),
                `${type}: definition is not an object literal`,
              );
              const props = def.properties.map((p) => {
                assert.ok(
                  ts.isPropertyAssignment(p),
                  `${type}: ${p.getText()} is not a plain property`,
                );
                return p as ts.PropertyAssignment;
              });
              const byName = new Map(props.map((p) => [p.name.getText(), p.initializer]));
              const defaults = byName.get('defaults');
              assert.ok(
                defaults && ts.isObjectLiteralExpression(defaults),
                `${type}: defaults not inline`,
              );
              found.push({
                type: name.text,
                keys: [...byName.keys()],
                defaults: defaults.properties.map((p) => p.name!.getText()),
                literal: ['category', 'color', 'icon', 'inputs', 'outputs']
                  .filter((k) => byName.has(k))
                  .filter(
                    (k) =>
                      !ts.isStringLiteral(byName.get(k)!) && !ts.isNumericLiteral(byName.get(k)!),
                  ),
              });
            }
            ts.forEachChild(n, visit);
          };
          visit(file);
        }
        assert.equal(found.length, 1, `${type}: ${found.length} registrations`);
        const [reg] = found;
        assert.equal(reg!.type, type);
        assert.deepEqual(reg!.literal, [], `${type}: not literal`);
        assert.ok(reg!.keys.includes('category'));
        const schema = SCHEMAS[type]!;
        const expectedFields =
          type === 'triton-server' ||
          type === 'triton-health' ||
          type === 'triton-model' ||
          type === 'triton-track'
            ? Object.keys(schema)
            : TASK_FIELDS[type.slice('triton-'.length) as TaskKind];
        assert.deepEqual([...reg!.defaults].sort(), [...expectedFields].sort(), type);
      }
    });
  });

  describe('defaults and rules', function () {
    it('the runtime fills a config saved empty with the schema defaults', function () {
      const task = taskSettings({}) as unknown as Record<string, unknown>;
      for (const [field, value] of Object.entries(defaultsOf(TASK_OPTIONS))) {
        assert.deepEqual(task[field], field === 'input' ? 'payload' : value, field);
      }
      assert.deepEqual({ ...migrateServer({}) }, { ...defaultsOf(SERVER_OPTIONS) });
      const health = healthSettings({}) as unknown as Record<string, unknown>;
      for (const [field, value] of Object.entries(defaultsOf(HEALTH_OPTIONS))) {
        assert.deepEqual(health[field], value, field);
      }
    });

    it('the runtime refuses what the editor marks red, with the same sentence', function () {
      const bad: [string, unknown][] = [
        ['confidence', '5'],
        ['iou', -0.1],
        ['maxDetections', '-3'],
        ['topK', '2.5'],
        ['concurrency', 'abc'],
        ['queueLimit', ''],
      ];
      for (const [field, value] of bad) {
        const rule: Rule = TASK_OPTIONS[field as keyof typeof TASK_OPTIONS];
        assert.equal(isValid(rule, value), false, `${field}=${String(value)}`);
        assert.throws(
          () => taskSettings({ [field]: value }),
          (e: { code?: string; message?: string }) =>
            e.code === 'INVALID_CONFIG' &&
            e.message!.includes(`'${field}' must be ${rule.message}`),
          field,
        );
      }
      assert.equal(isValid(TASK_OPTIONS.confidence, '0.5'), true);
      assert.equal(isValid(TASK_OPTIONS.model, ''), false);
      const mode = (m: string) => (f: string) => (f === 'mode' ? m : undefined);
      assert.match(check(SERVER_OPTIONS, 'grpcPort', '99999', mode('grpc'))!, /port number/);
      assert.equal(check(SERVER_OPTIONS, 'grpcPort', '99999', mode('http')), null);
      assert.match(check(SERVER_OPTIONS, 'host', ' ', mode('http'))!, /host name/);
      assert.equal(check(SERVER_OPTIONS, 'host', '', mode('local')), null);
    });

    it('triton-track: the runtime fills an empty config with supervision 0.29.1’s defaults', function () {
      const t = trackNodeSettings({});
      // sv.ByteTrack(track_activation_threshold=0.25, lost_track_buffer=30,
      // minimum_matching_threshold=0.8, frame_rate=30)
      assert.deepEqual(
        [t.trackThreshold, t.lostBuffer, t.matchThreshold, t.frameRate, t.streamProperty],
        [0.25, 30, 0.8, 30, 'topic'],
      );
      assert.deepEqual(
        [t.lines, t.zones, t.crops, t.split, t.annotate],
        [[], [], false, false, false],
      );
      const d = defaultsOf(TRACK_OPTIONS);
      assert.deepEqual(
        [d.trackThreshold, d.lostBuffer, d.matchThreshold, d.frameRate],
        [0.25, 30, 0.8, 30],
      );
    });

    it('triton-track: bad coordinates are red in the editor and refused by the runtime, with the same sentence', function () {
      const goodLines = ['', '100,0,100,300', ' 1 , 2,3.5,-4 \n\n10,0,10,300\n', '1e2,0,100,2.5e2'];
      const badLines = [
        '1,2,3',
        '1,2,3,4,5',
        'a,b,c,d',
        '100,0,100,300\n1,2',
        '1;2;3;4',
        '0x10,0,1,1',
      ];
      const goodZones = ['', '0,0,10,0,10,10', '0,0,10,0,10,10,0,10\n5,5,6,5,6,6'];
      const badZones = ['0,0,10,0', '0,0,10,0,10', '1,2,3,4,5,6,7', 'x'];
      for (const v of goodLines) assert.equal(check(TRACK_OPTIONS, 'lines', v), null, v);
      for (const v of goodZones) assert.equal(check(TRACK_OPTIONS, 'zones', v), null, v);
      for (const [field, values] of [
        ['lines', badLines],
        ['zones', badZones],
      ] as const) {
        for (const v of values) {
          const rule: Rule = TRACK_OPTIONS[field];
          assert.equal(isValid(rule, v), false, `${field}=${v}`);
          assert.throws(
            () => trackNodeSettings({ [field]: v }),
            (e: { code?: string; message?: string }) =>
              e.code === 'INVALID_CONFIG' &&
              e.message!.includes(`'${field}' must be ${rule.message}`),
            `${field}=${v}`,
          );
        }
      }
      // Good text reaches the tracker as geometry.
      const t = trackNodeSettings({
        lines: '100,0,100,300\n\n0,50,640,50',
        zones: '0,0,10,0,10,10',
      });
      assert.equal(t.lines.length, 2);
      assert.deepEqual(t.lines[0], { start: { x: 100, y: 0 }, end: { x: 100, y: 300 } });
      assert.equal(t.zones[0]!.polygon.length, 3);
      const bad: [string, unknown][] = [
        ['trackThreshold', '1.5'],
        ['matchThreshold', -0.1],
        ['lostBuffer', '2.5'],
        ['frameRate', 0],
        ['cropPadding', '-1'],
        ['cropMinSize', '0'],
        ['streamProperty', ' '],
      ];
      for (const [field, value] of bad) {
        const rule: Rule = TRACK_OPTIONS[field as keyof typeof TRACK_OPTIONS];
        assert.equal(isValid(rule, value), false, `${field}=${String(value)}`);
        assert.throws(
          () => trackNodeSettings({ [field]: value }),
          (e: { code?: string; message?: string }) =>
            e.code === 'INVALID_CONFIG' &&
            e.message!.includes(`'${field}' must be ${rule.message}`),
          field,
        );
      }
    });

    it('every Triton node of the examples and the demo flow holds valid values', function () {
      const flows: [string, FlowNode[]][] = [...examples(), ['npm start demo', demo()]];
      let checked = 0;
      for (const [name, flow] of flows) {
        for (const node of flow.filter((n) => SCHEMAS[n.type])) {
          const schema = SCHEMAS[node.type]!;
          for (const field of Object.keys(node).filter((f) => schema[f])) {
            const problem = check(schema, field, node[field], (f) => node[f]);
            assert.equal(problem, null, `${name}: ${node.id}: ${problem}`);
          }
          // And the runtime accepts them.
          if (node.type === 'triton-health') healthSettings(node);
          else if (node.type === 'triton-model') modelNodeSettings(node);
          else if (node.type === 'triton-track') trackNodeSettings(node);
          else if (node.type !== 'triton-server') taskSettings(node);
          checked++;
        }
      }
      assert.ok(checked >= 10, `${checked} nodes checked`);
    });
  });

  describe('labels and layout', function () {
    it('labels a task node with the task and its model’s architecture; the name wins', function () {
      assert.equal(shortModelName('Detect_COCO_YOLOXnano_ONNX'), 'YOLOX-nano');
      assert.equal(shortModelName('Classify_ImageNet_MobileNetV2_ONNX'), 'MobileNetV2');
      assert.equal(shortModelName('Segment_COCO_YOLOv8sSeg_ONNX'), 'YOLOv8sSeg');
      assert.equal(shortModelName('yolov5n_fp16'), 'yolov5n');
      assert.equal(shortModelName('yolov8n'), 'yolov8n');
      assert.equal(shortModelName('a_very_long_model_name_for_the_label'), 'a_very_long_model…');
      assert.equal(taskLabel('detect', '', 'Detect_COCO_YOLOXnano_ONNX'), 'detect · YOLOX-nano');
      assert.equal(taskLabel('detect', 'people', 'Detect_COCO_YOLOXnano_ONNX'), 'people');
      assert.equal(taskLabel('classify', '', ''), 'classify');
    });

    const layouts: [string, FlowNode[], string | undefined][] = [
      ...examples().map(([name, flow]): [string, FlowNode[], undefined] => [name, flow, undefined]),
      ['demo tab', demo(), 'demo-tab'],
      ['disabled Triton tab', demo(), 'triton-tab'],
    ];
    for (const [name, flow, z] of layouts) {
      it(`${name}: no node, label, status line or preview overlaps another`, function () {
        const drawn = draw(flow, z);
        assert.ok(drawn.length >= 5, `${drawn.length} nodes`);
        assert.deepEqual(collisions(drawn), []);
        for (const d of drawn) {
          assert.ok(d.box.x >= 0 && d.box.y >= 0, `${d.id} is off the workspace`);
          if (d.preview) assert.ok(d.preview.y >= 0, `preview of ${d.id} is off the workspace`);
        }
        // Every task node with Preview on has a place for it.
        const previews = flow.filter(
          (n) =>
            n.z === z && /^triton-(detect|segment|classify)$/.test(n.type) && n.preview === true,
        );
        assert.equal(drawn.filter((d) => d.preview).length, previews.length);
      });
    }
  });

  describe('status the editor shows', function () {
    it('Test connection in local mode reports a missing runtime with the command that installs it; the model list says why', async function () {
      const client = new LocalClient({
        modelRepository: path.join(ROOT, 'models', 'demo'),
        loadRuntime: () => {
          throw Object.assign(new Error("Cannot find module 'onnxruntime-node'"), {
            code: 'MODULE_NOT_FOUND',
          });
        },
      });
      try {
        const result = await testConnection(client);
        assert.equal(result.ok, false);
        assert.equal(result.ok === false && result.code, 'RUNTIME_MISSING');
        assert.match(result.ok === false ? result.message : '', /npm install/);
        const rows = await listModels(client);
        assert.ok(rows.length >= 2);
        assert.ok(
          rows.every((r) => r.code === 'RUNTIME_MISSING'),
          JSON.stringify(rows),
        );
      } finally {
        await client.close();
      }
    });
  });
});
