#!/usr/bin/env node
'use strict';
/*
 * `npm start`: the out-of-the-box demo. Makes sure the package is installed and built,
 * prepares a Node-RED user directory in .demo/ whose flow detects and classifies the three
 * bundled photos in local mode (no Triton server needed), starts Node-RED on a free port and
 * prints the editor URL. Node built-ins only, so it runs on a fresh clone.
 *
 *   npm start                 start (keeps .demo/flows.json if you changed it)
 *   npm start -- --reset      rewrite .demo/flows.json with the demo flow first
 *   npm start -- --port 1999  use this port instead of 1880 / the first free one
 *   npm start -- --host 0.0.0.0  listen on every interface (default 127.0.0.1 only)
 */
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DEMO_DIR = path.join(ROOT, '.demo');
/** The photos and model repository of the demo, relative to the package folder. */
const DEMO_PHOTOS = ['astronaut.png', 'chelsea.png', 'coffee.png'];
const DEMO_DETECT_MODEL = 'Detect_COCO_YOLOXnano_ONNX';
const DEMO_CLASSIFY_MODEL = 'Classify_ImageNet_MobileNetV2_ONNX';
/** Model names of the seed's Triton repository (models/triton) for the disabled twin tab. */
const TRITON_DETECT_MODEL = 'Detect_COCO_YOLOv8s_ONNX';
const TRITON_CLASSIFY_MODEL = 'Classify_ImageNet_EfficientNetB0_ONNX';

/**
 * JSONata for the absolute path of a bundled photo. TRITON_VISION_DEMO is the package folder:
 * the triton-server node sets it when Node-RED loads the package (the example flows use it
 * the same way); this script's settings file sets it too.
 */
function photoPathExpression(nameExpression) {
  return `$env('TRITON_VISION_DEMO') & '/models/photos/' & ${nameExpression}`;
}

const STORE_RESULT = `// Keeps the latest result per photo for the page at the http-in path.
const shown = flow.get('shown') || {};
const entry = shown[msg.topic] || {};
const result = msg.payload || {};
entry.image = result.image;
if (result.task === 'classify') {
  entry.classes = result.classes;
  entry.classifyModel = result.model && result.model.name;
} else {
  entry.detections = result.detections;
  entry.detectModel = result.model && result.model.name;
  if (Buffer.isBuffer(msg.annotated)) entry.annotated = msg.annotated.toString('base64');
}
shown[msg.topic] = entry;
flow.set('shown', shown);
return msg;`;

const RENDER_PAGE = `// Node-RED's debug sidebar cannot show pictures, so this page shows the annotated photos.
const shown = flow.get('shown') || {};
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const pct = (x) => (100 * x).toFixed(1) + ' %';
let body = '';
for (const name of Object.keys(shown).sort()) {
  const e = shown[name];
  const dets = (e.detections || []).map((d) => '<li>' + esc(d.label) + ' ' + pct(d.score) + '</li>').join('');
  const top = (e.classes || []).map((c) => '<li>' + esc(c.label) + ' ' + pct(c.score) + '</li>').join('');
  body += '<section><h2>' + esc(name) + '</h2>' +
    (e.annotated ? '<img alt="' + esc(name) + '" src="data:image/jpeg;base64,' + e.annotated + '">' : '') +
    '<div><h3>detect (' + esc(e.detectModel || '-') + ')</h3><ul>' + (dets || '<li>none</li>') + '</ul>' +
    '<h3>classify (' + esc(e.classifyModel || '-') + ')</h3><ol>' + (top || '<li>none</li>') + '</ol></div></section>';
}
msg.payload = '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">' +
  '<title>Triton Vision demo</title><style>body{font-family:sans-serif;margin:2em}' +
  'section{display:flex;gap:2em;margin-bottom:2em}img{max-width:520px;border:1px solid #ccc}</style></head>' +
  '<body><h1>Triton Vision demo</h1>' + (body || '<p>No results yet: click the inject node in the editor.</p>') +
  '</body></html>';
msg.headers = { 'content-type': 'text/html; charset=utf-8' };
return msg;`;

/**
 * The demo flows: a local-mode tab that runs, and a disabled twin aimed at a Triton server on
 * localhost:8001 (enable it once models/triton is deployed there).
 */
function demoFlows() {
  const flows = [];
  const tab = (id, label, disabled, info) => flows.push({ id, type: 'tab', label, disabled, info });
  const build = (p, server, detectModel, classifyModel, pagePath, runAtStart) => {
    const id = (s) => `${p}-${s}`;
    flows.push(
      {
        id: id('about'),
        type: 'comment',
        z: id('tab'),
        name: `Results with pictures: open ${pagePath} on this Node-RED`,
        info:
          'The debug sidebar shows the JSON results; the page shows the annotated photos, and ' +
          'the detect and classify nodes show their latest result under them (Preview).',
        x: 330,
        y: 40,
        wires: [],
      },
      {
        id: id('photos'),
        type: 'inject',
        z: id('tab'),
        name: 'three photos',
        props: [{ p: 'payload' }],
        repeat: '',
        crontab: '',
        once: runAtStart,
        onceDelay: 2,
        topic: '',
        payload: JSON.stringify(DEMO_PHOTOS),
        payloadType: 'json',
        x: 130,
        y: 120,
        wires: [[id('split')]],
      },
      {
        id: id('split'),
        type: 'split',
        z: id('tab'),
        name: 'one per photo',
        splt: '\\n',
        spltType: 'str',
        arraySplt: 1,
        arraySpltType: 'len',
        stream: false,
        addname: '',
        property: 'payload',
        x: 310,
        y: 120,
        wires: [[id('path')]],
      },
      {
        id: id('path'),
        type: 'change',
        z: id('tab'),
        name: 'photo file',
        rules: [
          { t: 'set', p: 'topic', pt: 'msg', to: 'payload', tot: 'msg' },
          {
            t: 'set',
            p: 'filename',
            pt: 'msg',
            to: photoPathExpression('payload'),
            tot: 'jsonata',
          },
        ],
        x: 480,
        y: 120,
        wires: [[id('read')]],
      },
      {
        id: id('read'),
        type: 'file in',
        z: id('tab'),
        name: 'read photo',
        filename: 'filename',
        filenameType: 'msg',
        format: '',
        chunk: false,
        sendError: false,
        encoding: 'none',
        allProps: false,
        x: 650,
        y: 120,
        wires: [[id('detect'), id('classify')]],
      },
      {
        id: id('detect'),
        type: 'triton-detect',
        z: id('tab'),
        name: '',
        server,
        model: detectModel,
        modelVersion: '',
        backendFilter: 'any',
        confidence: 0.25,
        iou: 0.45,
        maxDetections: 300,
        classes: [],
        agnostic: false,
        annotate: true,
        // Draws the annotated photo under the node in the editor.
        preview: true,
        input: 'payload',
        keepImage: false,
        concurrency: 1,
        queueLimit: 10,
        dropPolicy: 'oldest',
        version: 1,
        x: 860,
        y: 120,
        wires: [[id('store'), id('detections')]],
      },
      {
        id: id('classify'),
        type: 'triton-classify',
        z: id('tab'),
        name: '',
        server,
        model: classifyModel,
        modelVersion: '',
        backendFilter: 'any',
        classes: [],
        topK: 5,
        annotate: false,
        preview: true,
        input: 'payload',
        keepImage: false,
        concurrency: 1,
        queueLimit: 10,
        dropPolicy: 'oldest',
        version: 1,
        x: 860,
        y: 330,
        wires: [[id('store'), id('classes')]],
      },
      {
        id: id('detections'),
        type: 'debug',
        z: id('tab'),
        name: 'detections',
        active: true,
        tosidebar: true,
        console: false,
        tostatus: true,
        complete: 'payload.detections',
        targetType: 'msg',
        statusVal:
          '$count(payload.detections) & ($count(payload.detections) = 1 ? " object" : " objects")',
        statusType: 'jsonata',
        x: 1110,
        y: 120,
        wires: [],
      },
      {
        id: id('classes'),
        type: 'debug',
        z: id('tab'),
        name: 'top-5 classes',
        active: true,
        tosidebar: true,
        console: false,
        tostatus: true,
        complete: 'payload.classes',
        targetType: 'msg',
        statusVal: 'payload.classes[0].label',
        statusType: 'jsonata',
        x: 1120,
        y: 330,
        wires: [],
      },
      {
        id: id('store'),
        type: 'function',
        z: id('tab'),
        name: 'keep for the page',
        func: STORE_RESULT,
        outputs: 0,
        timeout: 0,
        noerr: 0,
        initialize: '',
        finalize: '',
        libs: [],
        x: 1130,
        y: 230,
        wires: [],
      },
      {
        id: id('page-in'),
        type: 'http in',
        z: id('tab'),
        name: '',
        url: pagePath,
        method: 'get',
        upload: false,
        swaggerDoc: '',
        x: 160,
        y: 260,
        wires: [[id('page')]],
      },
      {
        id: id('page'),
        type: 'function',
        z: id('tab'),
        name: 'results page',
        func: RENDER_PAGE,
        outputs: 1,
        timeout: 0,
        noerr: 0,
        initialize: '',
        finalize: '',
        libs: [],
        x: 390,
        y: 260,
        wires: [[id('page-out')]],
      },
      {
        id: id('page-out'),
        type: 'http response',
        z: id('tab'),
        name: '',
        statusCode: '',
        headers: {},
        x: 570,
        y: 260,
        wires: [],
      },
      {
        id: id('catch'),
        type: 'catch',
        z: id('tab'),
        name: 'errors',
        scope: null,
        uncaught: false,
        x: 140,
        y: 340,
        wires: [[id('errors')]],
      },
      {
        id: id('errors'),
        type: 'debug',
        z: id('tab'),
        name: 'error code and sentence',
        active: true,
        tosidebar: true,
        console: false,
        tostatus: false,
        complete: 'error',
        targetType: 'msg',
        x: 370,
        y: 340,
        wires: [],
      },
    );
  };

  tab(
    'demo-tab',
    'Demo (local)',
    false,
    'Runs the bundled YOLOX-nano and MobileNetV2 inside Node-RED (local mode): no server needed.',
  );
  flows.push({
    id: 'demo-server',
    type: 'triton-server',
    name: 'local demo models',
    mode: 'local',
    host: '127.0.0.1',
    httpPort: 8000,
    grpcPort: 8001,
    modelRepository: 'demo',
    tls: false,
    tlsConfig: '',
    authType: 'none',
    authHeader: '',
    timeout: 30,
    version: 1,
  });
  build('demo', 'demo-server', DEMO_DETECT_MODEL, DEMO_CLASSIFY_MODEL, '/triton-vision-demo', true);

  tab(
    'triton-tab',
    'Demo on Triton :8001',
    true,
    'The same flow against a Triton server on localhost:8001 (gRPC) serving models/triton. ' +
      'Enable this flow once the server runs.',
  );
  flows.push({
    id: 'triton-server-8001',
    type: 'triton-server',
    z: 'triton-tab',
    name: 'Triton localhost:8001',
    mode: 'grpc',
    host: '127.0.0.1',
    httpPort: 8000,
    grpcPort: 8001,
    modelRepository: '',
    tls: false,
    tlsConfig: '',
    authType: 'none',
    authHeader: '',
    timeout: 30,
    version: 1,
  });
  build(
    'triton',
    'triton-server-8001',
    TRITON_DETECT_MODEL,
    TRITON_CLASSIFY_MODEL,
    '/triton-vision-demo-triton',
    false,
  );
  return flows;
}

/** settings.js for the demo user dir: loads this package straight from its folder. */
function settingsSource(root) {
  return `// Written by scripts/start.js for the Triton Vision demo. Safe to edit.
process.env.TRITON_VISION_DEMO = process.env.TRITON_VISION_DEMO || ${JSON.stringify(root)};
module.exports = {
  flowFile: 'flows.json',
  flowFilePretty: true,
  // The demo holds no secrets; a fixed key keeps Node-RED from warning at every start.
  credentialSecret: 'triton-vision-demo',
  // A folder with a Node-RED package.json is loaded as a module: the nodes, icons,
  // locales and examples of this package.
  nodesDir: [${JSON.stringify(root)}],
  uiHost: process.env.TRITON_VISION_DEMO_HOST || '127.0.0.1',
  httpAdminRoot: '/',
  httpNodeRoot: '/',
  functionExternalModules: false,
  diagnostics: { enabled: true, ui: false },
  telemetry: { enabled: false, updateNotification: false },
  editorTheme: { tours: false, projects: { enabled: false } },
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
`;
}

/** Creates (or refreshes) the demo user dir. Returns the paths it wrote. */
function prepareUserDir(dir, { reset = false, root = ROOT } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const settings = path.join(dir, 'settings.js');
  fs.writeFileSync(settings, settingsSource(root));
  const flows = path.join(dir, 'flows.json');
  if (reset || !fs.existsSync(flows)) {
    fs.writeFileSync(flows, `${JSON.stringify(demoFlows(), null, 2)}\n`);
  }
  return { settings, flows };
}

function canListen(port, host) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

function ephemeralPort(host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The preferred port when it is free, otherwise one the OS hands out. */
async function freePort(preferred, host) {
  if (await canListen(preferred, host)) return preferred;
  return ephemeralPort(host);
}

function parseArgs(argv) {
  const opts = { reset: false, port: undefined, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--reset') opts.reset = true;
    else if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--host') opts.host = String(argv[++i]);
    else if (a === '-h' || a === '--help') opts.help = true;
    else throw new Error(`unknown option '${a}': use --reset, --port N, --host ADDR`);
  }
  if (
    opts.port !== undefined &&
    !(Number.isInteger(opts.port) && opts.port > 0 && opts.port < 65536)
  )
    throw new Error('--port needs a port number 1-65535');
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`[start] ${err.message}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log('Usage: npm start [-- --reset] [-- --port N] [-- --host ADDR]');
    return;
  }
  execFileSync(process.execPath, [path.join(__dirname, 'ensure.js')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const red = path.join(ROOT, 'node_modules', 'node-red', 'red.js');
  if (!fs.existsSync(red)) {
    console.error('[start] node_modules/node-red is missing: run `npm install` and try again.');
    process.exit(1);
  }
  const { settings } = prepareUserDir(DEMO_DIR, { reset: opts.reset });
  const port = opts.port ?? (await freePort(1880, opts.host));
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? 'localhost' : opts.host;
  const base = `http://${shownHost}:${port}`;

  const child = spawn(
    process.execPath,
    [red, '--userDir', DEMO_DIR, '--settings', settings, '--port', String(port)],
    {
      cwd: ROOT,
      stdio: ['inherit', 'pipe', 'inherit'],
      env: { ...process.env, TRITON_VISION_DEMO: ROOT, TRITON_VISION_DEMO_HOST: opts.host },
    },
  );
  let announced = false;
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    if (!announced && /Started flows|Server now running/.test(chunk.toString())) {
      announced = true;
      console.log(`\n  Node-RED editor:   ${base}/`);
      console.log(`  Demo results page: ${base}/triton-vision-demo\n`);
    }
  });
  const forward = (signal) => () => child.kill(signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

module.exports = { demoFlows, settingsSource, prepareUserDir, freePort, photoPathExpression };

if (require.main === module) {
  main().catch((err) => {
    console.error(`[start] ${err && err.message ? err.message : err}`);
    process.exit(1);
  });
}
