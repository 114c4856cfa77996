/**
 * The real install, as a Node-RED user gets it (`npm run test:install`; .ci/run runs it).
 *
 * The package is packed (`npm pack`) and the tarball installed into a fresh user directory
 * the way Node-RED's palette manager installs (`npm install --omit=dev --save ...`), with
 * the user's own npm settings: no project .npmrc, no npm_config_* from the npm that runs
 * this test, npm's own cache; once with this machine's npm and once with npm 10 (from the
 * registry), which is what the official Node-RED Docker image ships and which, unlike npm 11,
 * runs dependencies' install scripts. Then Node-RED (this clone's devDependency) starts on that
 * user directory; every bundled example is fetched the way the editor's Import → Examples
 * does (`GET /library/examples/flows/...`), deployed through the admin API
 * (`POST /flows`), its inject nodes fired, and its real result checked on the debug
 * websocket and the flows' HTTP routes: the classes of coffee.png, the cat and the person
 * found by YOLOX-nano, segmentation masks, a ready server.
 *
 * Local mode runs on onnxruntime-web here (onnxruntime-node is not installed with the
 * package). Last, the command the RUNTIME_MISSING error names for the native runtime is
 * run in that user directory, and the native runtime then works.
 *
 * The install logs are kept in the temporary folder (printed on failure) and checked for
 * downloads from anywhere but the npm registry.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixtureModel } from '../support/fixtures';

const WebSocket = require('ws') as typeof import('ws');

const ROOT = path.resolve(__dirname, '..', '..');
const PACKAGE = 'node-red-contrib-triton-vision';
const RED_JS = path.join(ROOT, 'node_modules', 'node-red', 'red.js');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** This process's environment less what the npm running the tests put there. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE_PATH') continue;
    if (k.startsWith('TRITON_VISION_') || k.startsWith('ONNXRUNTIME_NODE_INSTALL')) continue;
    env[k] = v;
  }
  // npm run / npx put node_modules/.bin first, where node-red's own npm 10 sits.
  const sep = path.delimiter;
  const pathKey = Object.keys(env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH';
  env[pathKey] = (env[pathKey] ?? '')
    .split(sep)
    .filter((p) => !/node_modules[\\/]\.bin$/.test(p))
    .join(sep);
  return { ...env, ...extra };
}

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command to its end (killed after `timeoutMs`), stdout and stderr together. */
function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; log?: string },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${cmd} ${args.join(' ')} took over ${opts.timeoutMs} ms:\n${out.slice(-4000)}`),
      );
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (opts.log) fs.writeFileSync(opts.log, out);
      resolve({ code, out });
    });
  });
}

/** URLs npm fetched (its `http fetch` log lines) and any script output naming a download. */
function downloadsOutsideRegistry(log: string, registry: string): string[] {
  const origin = new URL(registry).origin;
  const bad: string[] = [];
  let fetches = 0;
  for (const line of log.split('\n')) {
    if (/\bhttp fetch\b/.test(line)) {
      fetches++;
      const url = /(https?:\/\/\S+)/.exec(line)?.[1];
      if (url && new URL(url).origin !== origin) bad.push(line);
    } else if (/\b(downloading|nuget)\b/i.test(line)) {
      bad.push(line);
    }
  }
  // The log must show npm's fetches at all, or this check would see nothing.
  if (fetches === 0) bad.push('(no `http fetch` line in the log: run npm with --loglevel=http)');
  return bad;
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += folderBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  x?: number;
  [key: string]: unknown;
}

interface DebugMessage {
  id: string;
  msg: string;
  format?: string;
}

describe('installing the packed package into a fresh Node-RED user directory', function () {
  this.timeout(20 * 60 * 1000);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-install-'));
  const userDir = path.join(work, 'userdir');
  let tarball = '';
  let red: ChildProcess | undefined;
  let redOut = '';
  let url = '';
  let ws: InstanceType<typeof WebSocket> | undefined;
  const debug: DebugMessage[] = [];
  let failed = false;

  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });

  after(async () => {
    ws?.close();
    if (red && red.exitCode === null) {
      const exited = new Promise((resolve) => red!.once('exit', resolve));
      red.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
      if (red.exitCode === null) red.kill('SIGKILL');
    }
    if (failed) {
      console.log(`Node-RED output:\n${redOut.slice(-6000)}\nlogs kept in ${work}`);
    } else {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it('packs: the tarball holds the built nodes, the examples and the demo models', async () => {
    assert.ok(fs.existsSync(path.join(ROOT, 'nodes', 'triton-detect.js')), 'build first');
    const r = await run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: ROOT,
      env: userEnv(),
      timeoutMs: 120000,
    });
    assert.equal(r.code, 0, r.out);
    const json = r.out.slice(r.out.search(/^\[/m));
    const [pack] = JSON.parse(json) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(work, pack!.filename);
    assert.ok(fs.existsSync(tarball));
    const files = pack!.files.map((f) => f.path);
    assert.ok(!files.includes('.npmrc'), 'no project .npmrc travels with the package');
  });

  /** An npm: this machine's, or one installed from the registry into the work folder. */
  interface Npm {
    label: string;
    cmd: string;
    prefix: string[];
  }
  const machineNpm: Npm = { label: "this machine's npm", cmd: NPM, prefix: [] };
  let npm10: Npm | undefined;

  const npmRun = (npm: Npm, args: string[], opts: Parameters<typeof run>[2]): Promise<Run> =>
    run(npm.cmd, [...npm.prefix, ...args], opts);

  /** A new user directory with the package installed as the palette manager installs it. */
  async function installInto(dir: string, npm: Npm): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    // What Node-RED writes into a new user directory.
    fs.writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify(
        {
          name: 'node-red-project',
          description: 'A Node-RED Project',
          version: '0.0.1',
          private: true,
        },
        null,
        2,
      ),
    );
    const env = userEnv();
    const registry = (
      await npmRun(npm, ['config', 'get', 'registry'], { cwd: dir, env, timeoutMs: 60000 })
    ).out.trim();
    assert.match(registry, /^https?:\/\//, registry);
    // The palette manager's command line, with the scripts' output and npm's fetches logged.
    const log = path.join(dir, '..', `${path.basename(dir)}-npm-install.log`);
    const r = await npmRun(
      npm,
      [
        'install',
        '--no-audit',
        '--no-update-notifier',
        '--no-fund',
        '--save',
        '--save-prefix=~',
        '--omit=dev',
        '--engine-strict',
        '--foreground-scripts',
        '--loglevel=http',
        tarball,
      ],
      { cwd: dir, env, timeoutMs: 10 * 60 * 1000, log },
    );
    assert.equal(r.code, 0, r.out.slice(-4000));
    assert.deepEqual(downloadsOutsideRegistry(r.out, registry), [], `see ${log}`);
    const modules = path.join(dir, 'node_modules');
    assert.ok(fs.existsSync(path.join(modules, PACKAGE, 'nodes', 'triton-detect.js')));
    assert.ok(fs.existsSync(path.join(modules, 'onnxruntime-web', 'package.json')));
    assert.ok(
      !fs.existsSync(path.join(modules, 'onnxruntime-node')),
      'onnxruntime-node is an optional peer: not installed with the package',
    );
    const lock = JSON.parse(fs.readFileSync(path.join(modules, '.package-lock.json'), 'utf8')) as {
      packages: Record<string, { hasInstallScript?: boolean }>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([, p]) => p.hasInstallScript)
      .map(([k]) => k.replace(/^.*node_modules\//, ''));
    const version = (await npmRun(npm, ['-v'], { cwd: dir, env, timeoutMs: 60000 })).out.trim();
    console.log(
      `      npm ${version}: ${(folderBytes(modules) / 1e6).toFixed(0)} MB in node_modules ` +
        `(onnxruntime-web ${(folderBytes(path.join(modules, 'onnxruntime-web')) / 1e6).toFixed(0)} MB); ` +
        `packages with install scripts: ${withScripts.join(', ') || 'none'}`,
    );
    assert.ok(!withScripts.some((p) => /onnxruntime/.test(p)), withScripts.join(', '));
  }

  it("installs with this machine's npm: `npm install --omit=dev`, no flag, registry only", async () => {
    await installInto(path.join(work, 'userdir-machine-npm'), machineNpm);
  });

  it('installs with npm 10 too (what the Node-RED Docker image ships; it runs install scripts)', async () => {
    const dir = path.join(work, 'npm10');
    const r = await run(
      NPM,
      ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error', 'npm@10'],
      { cwd: work, env: userEnv(), timeoutMs: 5 * 60 * 1000 },
    );
    assert.equal(r.code, 0, r.out);
    npm10 = {
      label: 'npm 10',
      cmd: process.execPath,
      prefix: [path.join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js')],
    };
    // Node-RED runs on this one below.
    await installInto(userDir, npm10);
  });

  it('Node-RED starts on the user directory and loads all seven node types', async () => {
    const port = await freePort();
    const settings = path.join(userDir, 'settings.js');
    fs.writeFileSync(
      settings,
      `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${port},
  flowFile: 'flows.json',
  credentialSecret: 'install-test',
  debugMaxLength: 200000,
  editorTheme: { tours: false },
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
`,
    );
    // An empty HOME: nothing may be found through ~/.node-red.
    const home = path.join(work, 'home');
    fs.mkdirSync(home, { recursive: true });
    red = spawn(process.execPath, [RED_JS, '--userDir', userDir, '--settings', settings], {
      cwd: userDir,
      env: userEnv({ HOME: home, USERPROFILE: home }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    red.stdout!.on('data', (d: Buffer) => (redOut += d.toString()));
    red.stderr!.on('data', (d: Buffer) => (redOut += d.toString()));
    url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + 90000;
    while (!/Server now running at/.test(redOut)) {
      if (red.exitCode !== null) assert.fail(`Node-RED exited:\n${redOut}`);
      if (Date.now() > deadline) assert.fail(`Node-RED did not start:\n${redOut}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const res = await fetch(`${url}nodes`, { headers: { accept: 'application/json' } });
    const sets = (await res.json()) as {
      module: string;
      types: string[];
      enabled: boolean;
      err?: string;
    }[];
    const ours = sets.filter((s) => s.module === PACKAGE);
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), [
      'triton-classify',
      'triton-detect',
      'triton-health',
      'triton-model',
      'triton-segment',
      'triton-server',
      'triton-track',
    ]);
    for (const s of ours) assert.equal(s.err, undefined, s.err);
    ws = new WebSocket(`ws://127.0.0.1:${port}/comms`);
    await new Promise<void>((resolve, reject) => {
      ws!.once('open', () => resolve());
      ws!.once('error', reject);
    });
    ws.on('message', (data: Buffer) => {
      const list = JSON.parse(data.toString()) as { topic: string; data: unknown }[];
      for (const m of Array.isArray(list) ? list : [list]) {
        if (m.topic === 'debug') debug.push(m.data as DebugMessage);
      }
    });
    ws.send(JSON.stringify({ subscribe: 'debug' }));
  });

  /** The next debug message from node `id` after index `from`. */
  async function debugFrom(id: string, from: number, timeoutMs = 120000): Promise<DebugMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = debug.slice(from).find((d) => d.id === id);
      if (found) return found;
      const errors = debug.slice(from).filter((d) => /-errors$/.test(d.id));
      if (errors.length)
        assert.fail(`a Catch node reported: ${errors.map((e) => e.msg).join('\n')}`);
      if (Date.now() > deadline) {
        assert.fail(`no debug message from ${id} within ${timeoutMs} ms:\n${redOut.slice(-3000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function inject(id: string): Promise<number> {
    const mark = debug.length;
    const res = await fetch(`${url}inject/${id}`, { method: 'POST' });
    assert.equal(res.status, 200, `inject ${id}: ${res.status}`);
    return mark;
  }

  it('imports every bundled example from the library and deploys them side by side', async () => {
    // Files come as {fn: name}, folders as plain strings.
    const listing = (await (await fetch(`${url}library/examples/flows/${PACKAGE}`)).json()) as (
      string | { fn: string }
    )[];
    const names = listing.map((e) => (typeof e === 'string' ? e : e.fn)).sort();
    assert.deepEqual(names, [
      'classify-top5',
      'detect-and-annotate',
      'health-monitor',
      'segment-mask-png',
      'track-line-counting',
      'track-zone-dashboard',
    ]);
    // The segment example needs a model the user exports (AGPL weights are not shipped):
    // here the fixture YOLOv8n-seg, laid out as the example's comment says.
    const segRepo = path.join(work, 'segment-models');
    const segModel = path.join(segRepo, 'Segment_COCO_YOLOv8sSeg_ONNX');
    fs.mkdirSync(path.join(segModel, '1'), { recursive: true });
    fs.copyFileSync(
      fixtureModel('yolov8n-seg_int8_640_retargeted.onnx'),
      path.join(segModel, '1', 'model.onnx'),
    );
    fs.copyFileSync(
      path.join(
        userDir,
        'node_modules',
        PACKAGE,
        'models',
        'triton',
        'Segment_COCO_YOLOv8sSeg_ONNX',
        'config.pbtxt',
      ),
      path.join(segModel, 'config.pbtxt'),
    );
    const flows: FlowNode[] = [];
    const ids = new Set<string>();
    for (const name of names) {
      const res = await fetch(`${url}library/examples/flows/${PACKAGE}/${name}`);
      assert.equal(res.status, 200, name);
      const nodes = (await res.json()) as FlowNode[];
      const tab = `tab-${name}`;
      flows.push({ id: tab, type: 'tab', label: name });
      for (const n of nodes) {
        assert.ok(!ids.has(n.id), `${name}: node id ${n.id} is also used by another example`);
        ids.add(n.id);
        const node = 'x' in n ? { ...n, z: tab } : { ...n };
        if (name === 'segment-mask-png' && n.type === 'triton-server') {
          node.modelRepository = segRepo;
        }
        // The dashboard example's widgets need @flowfuse/node-red-dashboard, which this
        // install lacks (a missing type would hold back the whole deployment): its widgets
        // become debug nodes of the same ids, its dashboard config nodes are left out.
        if (n.type.startsWith('ui-')) {
          if (!('x' in n)) continue;
          flows.push({ id: n.id, type: 'debug', z: tab, x: n.x, y: n.y, wires: [] });
          continue;
        }
        flows.push(node);
      }
    }
    const servers = flows.filter((n) => n.type === 'triton-server');
    assert.equal(servers.length, 6, 'one config node per example');
    const res = await fetch(`${url}flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flows),
    });
    assert.ok(res.ok, `deploy: ${res.status} ${await res.text()}`);
  });

  it('health-monitor: the local server is ready', async () => {
    const d = await debugFrom('ex-health-up', 0);
    assert.match(d.msg, /"ready":true/);
  });

  it('classify-top5: coffee.png → a cup among the top 5; chelsea.png → a cat class first', async () => {
    let from = await inject('ex-classify-inject-coffee');
    let d = await debugFrom('ex-classify-result', from);
    let classes = JSON.parse(d.msg) as { label: string; score: number }[];
    assert.equal(classes.length, 5);
    assert.ok(
      classes.some((c) => c.label === 'cup'),
      JSON.stringify(classes),
    );
    from = await inject('ex-classify-inject-chelsea');
    d = await debugFrom('ex-classify-result', from);
    classes = JSON.parse(d.msg) as { label: string; score: number }[];
    assert.match(classes[0]!.label, /cat/, JSON.stringify(classes));
  });

  it('detect-and-annotate: a cup, a cat and a person; the annotated JPEG is served', async () => {
    for (const [photo, label] of [
      ['coffee', 'cup'],
      ['chelsea', 'cat'],
      ['astronaut', 'person'],
    ] as const) {
      const from = await inject(`ex-detect-inject-${photo}`);
      const d = await debugFrom('ex-detect-result', from);
      const payload = JSON.parse(d.msg) as { detections: { label: string; score: number }[] };
      assert.ok(
        payload.detections.some((x) => x.label === label && x.score >= 0.25),
        `${photo}: ${JSON.stringify(payload.detections)}`,
      );
    }
    const res = await fetch(`${url}triton-vision/annotated`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    const body = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...body.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  });

  it('segment-mask-png (with an exported model): the person with a PNG mask, served', async () => {
    const from = await inject('ex-segment-inject-astronaut');
    const d = await debugFrom('ex-segment-result', from);
    const payload = JSON.parse(d.msg) as {
      detections: { label: string; mask?: { png?: unknown } }[];
    };
    const person = payload.detections.find((x) => x.label === 'person');
    assert.ok(person?.mask?.png, JSON.stringify(payload).slice(0, 2000));
    const res = await fetch(`${url}triton-vision/mask`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.deepEqual([...body.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  });

  it('the native runtime: RUNTIME_MISSING names a command, and that command works offline of any download', async () => {
    const probe = (runtime: string): Promise<Run> =>
      run(
        process.execPath,
        [
          '-e',
          `const { LocalClient } = require(${JSON.stringify(PACKAGE)});
           const c = new LocalClient({ modelRepository: require('node:path').join(require.resolve(${JSON.stringify(PACKAGE + '/package.json')}), '..', 'models', 'demo'), runtime: ${JSON.stringify(runtime)} });
           c.runtimeInfo().then((i) => console.log(JSON.stringify(i)), (e) => console.log(JSON.stringify({ code: e.code, message: e.message }))).finally(() => c.close());`,
        ],
        { cwd: userDir, env: userEnv(), timeoutMs: 120000 },
      );
    const auto = JSON.parse((await probe('auto')).out.trim().split('\n').pop()!) as {
      name?: string;
      note?: string;
    };
    assert.equal(auto.name, 'onnxruntime-web');
    const missing = JSON.parse((await probe('node')).out.trim().split('\n').pop()!) as {
      code?: string;
      message?: string;
    };
    assert.equal(missing.code, 'RUNTIME_MISSING', JSON.stringify(missing));
    const command = /`([^`]+)`/.exec(missing.message!)?.[1];
    assert.equal(command, 'npm install onnxruntime-node --ignore-scripts');
    const [, ...args] = command!.split(' ');
    const log = path.join(work, 'npm-install-native.log');
    // npm 10 runs install scripts: there the flag is what keeps the download away.
    const npm = npm10 ?? machineNpm;
    const registry = (
      await npmRun(npm, ['config', 'get', 'registry'], {
        cwd: userDir,
        env: userEnv(),
        timeoutMs: 60000,
      })
    ).out.trim();
    const r = await npmRun(npm, [...args, '--foreground-scripts', '--loglevel=http'], {
      cwd: userDir,
      env: userEnv(),
      timeoutMs: 10 * 60 * 1000,
      log,
    });
    assert.equal(r.code, 0, r.out.slice(-4000));
    assert.deepEqual(downloadsOutsideRegistry(r.out, registry), [], `see ${log}`);
    const bin = path.join(userDir, 'node_modules', 'onnxruntime-node', 'bin');
    const cuda = fs
      .readdirSync(bin, { recursive: true })
      .map(String)
      .filter((f) => /providers_(cuda|tensorrt)/.test(f));
    assert.deepEqual(cuda, [], 'no CUDA libraries were fetched');
    const native = JSON.parse((await probe('node')).out.trim().split('\n').pop()!) as {
      name?: string;
      backend?: string;
    };
    assert.equal(native.name, 'onnxruntime-node', JSON.stringify(native));
    assert.equal(native.backend, 'native');
    const autoAfter = JSON.parse((await probe('auto')).out.trim().split('\n').pop()!) as {
      name?: string;
    };
    assert.equal(autoAfter.name, 'onnxruntime-node');
  });
});
