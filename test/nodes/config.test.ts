import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TritonError } from '../../src/protocol/errors';
import { parseOverrides, taskOptions } from '../../src/nodes/overrides';
import { TASK_OPTIONS, check } from '../../src/shared/options';
import {
  CONFIG_VERSION,
  migrateHealth,
  migrateServer,
  migrateTask,
  taskSettings,
} from '../../src/nodes/config';
import {
  authHeaders,
  clientOptions,
  resolveRepository,
  tlsFromConfigNode,
} from '../../src/nodes/connection';

const ROOT = path.resolve(__dirname, '..', '..');
const code = (c: string) => (err: TritonError) => err.code === c;

describe('node config migrations', () => {
  it('triton-server v0 (no version) gets every v1 default and keeps what was saved', () => {
    const m = migrateServer({ id: 's', type: 'triton-server', host: 'gpu-box', mode: 'http' });
    assert.equal(m.version, CONFIG_VERSION);
    assert.equal(m.host, 'gpu-box');
    assert.equal(m.mode, 'http');
    assert.equal(m.httpPort, 8000);
    assert.equal(m.grpcPort, 8001);
    assert.equal(m.timeout, 30);
    assert.equal(m.authType, 'none');
    assert.equal(m.tls, false);
    assert.equal(m.modelRepository, 'demo');
    assert.equal(m.id, 's');
  });

  it('triton-health v0 gets interval 10 s and emit on change', () => {
    const m = migrateHealth({ server: 'srv' });
    assert.deepEqual(
      {
        server: m.server,
        models: m.models,
        interval: m.interval,
        emit: m.emit,
        version: m.version,
      },
      { server: 'srv', models: '', interval: 10, emit: 'change', version: 1 },
    );
  });

  it('task v0 gets the documented defaults; a comma-separated class string becomes a list', () => {
    const m = migrateTask({ model: 'yolo', classes: 'person, bus ,' });
    assert.equal(m.confidence, 0.25);
    assert.equal(m.iou, 0.45);
    assert.equal(m.maxDetections, 300);
    assert.equal(m.topK, 5);
    assert.equal(m.input, 'payload');
    assert.equal(m.keepImage, true);
    assert.equal(m.concurrency, 1);
    assert.equal(m.queueLimit, 10);
    assert.equal(m.dropPolicy, 'oldest');
    assert.equal(m.maskFormat, 'polygon');
    assert.deepEqual(m.classes, ['person', 'bus']);
    assert.equal(m.version, 1);
  });

  it('a config saved by a newer release is refused with INVALID_CONFIG', () => {
    assert.throws(() => migrateServer({ version: 2 }), code('INVALID_CONFIG'));
    assert.throws(() => migrateTask({ version: 9 }), code('INVALID_CONFIG'));
  });

  it('task settings accept numbers stored as strings and refuse out-of-range ones', () => {
    const s = taskSettings({ confidence: '0.5', concurrency: '2', queueLimit: '0' });
    assert.equal(s.confidence, 0.5);
    assert.equal(s.concurrency, 2);
    assert.equal(s.queueLimit, 0);
    assert.throws(() => taskSettings({ confidence: 1.5 }), code('INVALID_CONFIG'));
    assert.throws(() => taskSettings({ concurrency: 0 }), code('INVALID_CONFIG'));
    assert.throws(() => taskSettings({ dropPolicy: 'random' }), code('INVALID_CONFIG'));
  });
});

describe('server node settings → client options', () => {
  it('bearer, basic and custom-header auth become the right headers', () => {
    assert.deepEqual(authHeaders('bearer', '', { token: 'abc' }), { authorization: 'Bearer abc' });
    // RFC 7617: base64("aladdin:opensesame")
    assert.deepEqual(authHeaders('basic', '', { username: 'aladdin', password: 'opensesame' }), {
      authorization: 'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
    });
    assert.deepEqual(authHeaders('header', 'X-Api-Key', { headerValue: 'k1' }), {
      'x-api-key': 'k1',
    });
    assert.deepEqual(authHeaders('none', '', { token: 'ignored' }), {});
    assert.throws(() => authHeaders('bearer', '', {}), code('INVALID_CONFIG'));
    assert.throws(
      () => authHeaders('header', 'bad header', { headerValue: 'v' }),
      code('INVALID_CONFIG'),
    );
  });

  it('builds gRPC/HTTP options from editor values (ports as strings, timeout in seconds)', () => {
    const grpc = clientOptions({
      config: { mode: 'grpc', host: 'h', grpcPort: '9001', timeout: '2.5', authType: 'none' },
      credentials: {},
    });
    assert.deepEqual(grpc, {
      mode: 'grpc',
      host: 'h',
      port: 9001,
      timeoutMs: 2500,
      headers: {},
      tls: false,
    });
    const http = clientOptions({
      config: { mode: 'http', host: 'h', httpPort: 8080, tls: true, authType: 'bearer' },
      credentials: { token: 't' },
    });
    assert.equal(http.mode, 'http');
    assert.deepEqual((http as { tls: unknown }).tls, { verify: true });
    assert.deepEqual((http as { headers: unknown }).headers, { authorization: 'Bearer t' });
    assert.throws(
      () =>
        clientOptions({ config: { mode: 'grpc', host: 'h', grpcPort: 70000 }, credentials: {} }),
      code('INVALID_CONFIG'),
    );
    assert.throws(
      () => clientOptions({ config: { mode: 'ftp' }, credentials: {} }),
      code('INVALID_CONFIG'),
    );
  });

  it('TLS comes from the tls-config node; verification stays on unless it is turned off', () => {
    const node = {
      verifyservercert: false,
      addTLSOptions(o: Record<string, unknown>) {
        o.ca = 'CA-PEM';
        o.cert = 'CERT-PEM';
        o.key = 'KEY-PEM';
        o.rejectUnauthorized = false;
        return o;
      },
    };
    assert.deepEqual(tlsFromConfigNode(node), {
      verify: false,
      ca: 'CA-PEM',
      cert: 'CERT-PEM',
      key: 'KEY-PEM',
    });
    assert.deepEqual(tlsFromConfigNode(null), { verify: true });
  });

  it("local mode: 'demo' and '' are the bundled models; relative paths prefer the user dir", () => {
    const demo = path.join(ROOT, 'models', 'demo');
    assert.equal(resolveRepository('demo'), demo);
    assert.equal(resolveRepository(''), demo);
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-userdir-'));
    fs.mkdirSync(path.join(userDir, 'repo'));
    assert.equal(resolveRepository('repo', userDir), path.join(userDir, 'repo'));
    assert.equal(resolveRepository('elsewhere', userDir), path.resolve(process.cwd(), 'elsewhere'));
    assert.equal(resolveRepository('/abs/repo', userDir), '/abs/repo');
    fs.rmSync(userDir, { recursive: true });
  });
});

describe('msg.triton overrides', () => {
  it('accepts valid values and merges them over the node config', () => {
    const o = parseOverrides({
      confidence: 0.6,
      classes: ['person', 2],
      agnostic: true,
      other: 'x',
    });
    const opts = taskOptions('detect', taskSettings({ model: 'm', iou: 0.3 }), o);
    assert.equal(opts.confidence, 0.6);
    assert.equal(opts.iou, 0.3);
    assert.deepEqual(opts.classes, ['person', 2]);
    assert.equal(opts.agnostic, true);
    assert.equal(opts.expectTask, 'detect');
  });

  it('refuses non-numeric, NaN, negative and >1 thresholds with INVALID_OPTION', () => {
    for (const bad of ['0.5', NaN, -0.1, 1.01, null, Infinity]) {
      assert.throws(() => parseOverrides({ confidence: bad }), code('INVALID_OPTION'), String(bad));
      assert.throws(() => parseOverrides({ iou: bad }), code('INVALID_OPTION'), String(bad));
    }
    assert.throws(() => parseOverrides({ maxDetections: 0 }), code('INVALID_OPTION'));
    assert.throws(() => parseOverrides({ topK: 2.5 }), code('INVALID_OPTION'));
    assert.throws(() => parseOverrides({ classes: 'person' }), code('INVALID_OPTION'));
    assert.throws(() => parseOverrides({ annotate: 'yes' }), code('INVALID_OPTION'));
    assert.throws(() => parseOverrides('fast'), code('INVALID_OPTION'));
  });

  it('holds msg.triton to the rule of the node option it overrides (src/shared/options.ts)', () => {
    // Each range and sentence is the editor's: the same check() refuses the same value there.
    for (const [key, field, bad] of [
      ['confidence', 'confidence', 1.5],
      ['maxDetections', 'maxDetections', 0],
      ['topK', 'topK', 2.5],
      ['resize', 'resizeMode', 'quick'],
      ['icc', 'icc', 'srgb'],
      ['preprocess', 'preprocess', 'imagenet'],
    ] as const) {
      const sentence = check(TASK_OPTIONS, field, bad)!;
      assert.ok(sentence, `${field} ${String(bad)} is valid in the schema`);
      const expected = sentence.replace(/^'[^']+' must be (.*), got .*$/, '$1');
      assert.throws(
        () => parseOverrides({ [key]: bad }),
        (e: { code?: string; message?: string }) =>
          e.code === 'INVALID_OPTION' &&
          e.message!.startsWith(`msg.triton.${key} must be ${expected}, got `),
        key,
      );
    }
    // A message keeps JSON types: the editor's string '0.5' is not a number here.
    assert.throws(() => parseOverrides({ iou: '0.5' }), code('INVALID_OPTION'));
  });

  it('Resize, Colour profile and Preprocess reach the pipeline; a message overrides them', () => {
    const node = taskSettings({
      model: 'm',
      resizeMode: 'fast',
      icc: 'apply',
      preprocess: 'onnx-zoo',
    });
    const cls = taskOptions('classify', node, {});
    assert.deepEqual([cls.resize, cls.icc, cls.preprocess], ['fast', 'apply', 'onnx-zoo']);
    const o = parseOverrides({ resize: 'exact', icc: 'ignore', preprocess: 'torchvision' });
    const msg = taskOptions('classify', node, o);
    assert.deepEqual([msg.resize, msg.icc, msg.preprocess], ['exact', 'ignore', 'torchvision']);
    // auto: the model config's preset (runTask reads it); detect models have no preset.
    assert.equal(taskOptions('classify', taskSettings({ model: 'm' }), {}).preprocess, undefined);
    assert.equal(taskOptions('detect', node, o).preprocess, undefined);
    const defaults = taskOptions('detect', taskSettings({ model: 'm' }), {});
    assert.deepEqual([defaults.resize, defaults.icc], ['exact', 'ignore']);
    assert.throws(() => taskSettings({ icc: 'srgb' }), code('INVALID_CONFIG'));
  });

  it('segment mask format and classify top-k reach the pipeline options', () => {
    const seg = taskOptions('segment', taskSettings({ maskFormat: 'rle' }), {});
    assert.equal(seg.rle, true);
    assert.equal(seg.png, undefined);
    const png = taskOptions('segment', taskSettings({ maskFormat: 'png' }), {});
    assert.equal(png.png, true);
    const cls = taskOptions('classify', taskSettings({ topK: 3 }), { topK: 7 });
    assert.equal(cls.topK, 7);
    assert.equal(cls.confidence, undefined);
  });
});
