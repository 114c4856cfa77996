/**
 * What a user installs: the npm package's file list, and the built bundles (dist/) working
 * on their own — the library entry, the triton-vision-serve bin and the proto file found
 * from the bundle's location. `npm test` builds before mocha runs (scripts/ensure.js).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

describe('the published package', function () {
  this.timeout(120000);

  it('ships the runtime, editor, demo models and notices — and no test data or AGPL weights', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, npm_config_ignore_scripts: 'true' },
    });
    // npm may print lifecycle output before the JSON document: start at its first line.
    const json = out.slice(out.search(/^\[/m));
    const [pack] = JSON.parse(json) as { files: { path: string }[]; size: number }[];
    const files = pack!.files.map((f) => f.path);
    for (const required of [
      'dist/index.js',
      'dist/serve.js',
      'dist/cli.js',
      'protos/kserve_v2.proto',
      'LICENSE',
      'NOTICE',
      'models/demo/NOTICE',
      'models/photos/NOTICE',
      'models/demo/Detect_COCO_YOLOXnano_ONNX/1/model.onnx',
      'models/demo/Classify_ImageNet_MobileNetV2_ONNX/1/model.onnx',
      'models/triton/README.md',
    ]) {
      assert.ok(files.includes(required), `missing ${required}`);
    }
    for (const node of [
      'triton-server',
      'triton-health',
      'triton-detect',
      'triton-segment',
      'triton-classify',
      'triton-model',
      'triton-track',
    ]) {
      for (const f of [
        `nodes/${node}.js`,
        `nodes/${node}.html`,
        `nodes/locales/en-US/${node}.json`,
        `nodes/locales/en-US/${node}.html`,
        `nodes/icons/${node}.svg`,
      ]) {
        assert.ok(files.includes(f), `missing ${f}`);
      }
    }
    assert.ok(
      files.some((f) => f.startsWith('examples/') && f.endsWith('.json')),
      'no examples',
    );
    const onnx = files.filter((f) => f.endsWith('.onnx'));
    assert.deepEqual(onnx.sort(), [
      'models/demo/Classify_ImageNet_MobileNetV2_ONNX/1/model.onnx',
      'models/demo/Detect_COCO_YOLOXnano_ONNX/1/model.onnx',
    ]);
    assert.ok(
      !files.some((f) => /^test\/|bus\.jpg|yolov[58]|yolo11|__pycache__|\.pyc$/.test(f)),
      files.join('\n'),
    );
    // Only what users run or read: no sources, tooling, source maps or npm settings.
    const extra = files.filter(
      (f) =>
        /^(src|scripts|bench|\.ci|\.github)\/|\.map$|\.ts$/.test(f.replace(/\.d\.ts$/, '')) ||
        /(^|\/)\.npmrc$|tsconfig|eslint|prettier|tsup|mocharc/.test(f),
    );
    assert.deepEqual(extra, []);
    assert.ok(pack!.size < 20 * 1024 * 1024, `package is ${pack!.size} bytes`);
  });

  it('installs from the registry alone: the WebAssembly runtime a dependency, the native one an optional peer', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
      repository?: { url?: string };
      bugs?: { url?: string };
      homepage?: string;
    };
    assert.ok(pkg.dependencies['onnxruntime-web'], 'onnxruntime-web is a dependency');
    // onnxruntime-node's install script downloads CUDA libraries on linux x64: never
    // installed with the package (README: `npm install onnxruntime-node --ignore-scripts`).
    assert.equal(pkg.dependencies['onnxruntime-node'], undefined);
    assert.equal(pkg.optionalDependencies?.['onnxruntime-node'], undefined);
    assert.ok(pkg.peerDependencies?.['onnxruntime-node']);
    assert.equal(pkg.peerDependenciesMeta?.['onnxruntime-node']?.optional, true);
    // The flow library's scorecard (P03) and `node-red-dev validate` want these.
    assert.match(pkg.repository?.url ?? '', /^git\+https:\/\/github\.com\/.+\.git$/);
    assert.match(pkg.bugs?.url ?? '', /^https:\/\/github\.com\/.+\/issues$/);
    assert.match(pkg.homepage ?? '', /^https:\/\//);
    // The project's npm settings hold no option npm does not know (npm warns it will fail).
    const npmrc = fs.readFileSync(path.join(ROOT, '.npmrc'), 'utf8');
    assert.doesNotMatch(npmrc, /onnxruntime/);
  });

  it('dist/ works on its own: triton-vision-serve + the library entry over gRPC and HTTP', async () => {
    const serve = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist', 'serve.js'),
        '--model-repository',
        path.join(ROOT, 'models', 'demo'),
        '--http-port',
        '0',
        '--grpc-port',
        '0',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const ports = await new Promise<{ http: number; grpc: number }>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => reject(new Error(`serve not ready:\n${text}`)), 60000);
        const onData = (c: Buffer): void => {
          text += c.toString();
          const h = /HTTP service at http:\/\/[^:]+:(\d+)/.exec(text);
          const g = /gRPC service at [^:]+:(\d+)/.exec(text);
          if (h && g && /ready/.test(text)) {
            clearTimeout(timer);
            resolve({ http: Number(h[1]), grpc: Number(g[1]) });
          }
        };
        serve.stdout!.on('data', onData);
        serve.stderr!.on('data', onData);
        serve.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${text}`)));
      });
      // A separate plain-Node process that only knows the built entry point.
      const script = `
        const tv = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
        const fs = require('node:fs');
        (async () => {
          const image = fs.readFileSync(${JSON.stringify(path.join(ROOT, 'models', 'photos', 'coffee.png'))});
          const out = {};
          for (const url of ['grpc://127.0.0.1:${ports.grpc}', 'http://127.0.0.1:${ports.http}']) {
            const client = tv.createClient(tv.clientOptionsFromUrl(url));
            const r = await tv.runTask(client, 'Detect_COCO_YOLOXnano_ONNX', image, { expectTask: 'detect' });
            out[url.split(':')[0]] = r.detections.map((d) => d.label);
            await client.close();
          }
          process.stdout.write(JSON.stringify(out));
        })().catch((e) => { console.error(e.code, e.message); process.exit(1); });`;
      const result = JSON.parse(
        execFileSync(process.execPath, ['-e', script], { cwd: '/', encoding: 'utf8' }),
      );
      // MANIFEST.md: YOLOX-nano finds the cup on coffee.png.
      assert.ok(result.grpc.includes('cup'), JSON.stringify(result));
      assert.deepEqual(result.http, result.grpc);
    } finally {
      serve.kill('SIGTERM');
      await new Promise((r) => serve.once('exit', r));
    }
  });
});
