/**
 * The editor, verified in a real browser: headless Chromium drives a live Node-RED that loads
 * this package, talking to a real `triton-vision-serve` over the fixture repository.
 * Screenshots land in test-artifacts/ for a human to look at.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { buildFixtureRepository, fixtureImage } from '../support/fixtures';
import { startServe, type ServeHandle } from '../support/serve';
import { ROOT, assertNodesBuilt, startNodeRed, type NodeRedHandle } from './nodered';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

/** The debug node prints one line per result: model|label@score,label@score. */
const SUMMARY =
  'payload.model.name & "|" & $join(payload.detections.(label & "@" & $formatNumber(score, "0.00")), ",")';

function fixtureFlow(serve: ServeHandle): object[] {
  return [
    { id: 'flow', type: 'tab', label: 'Editor test' },
    {
      id: 'server',
      type: 'triton-server',
      name: 'fixture server',
      mode: 'grpc',
      host: '127.0.0.1',
      httpPort: serve.httpPort,
      grpcPort: serve.grpcPort,
      modelRepository: '',
      tls: false,
      tlsConfig: '',
      authType: 'none',
      authHeader: '',
      timeout: 30,
      version: 1,
    },
    {
      id: 'image',
      type: 'inject',
      z: 'flow',
      name: 'bus.jpg',
      props: [{ p: 'payload' }],
      repeat: '',
      once: false,
      payload: '',
      payloadType: 'date',
      x: 120,
      y: 100,
      wires: [['read']],
    },
    {
      id: 'read',
      type: 'file in',
      z: 'flow',
      name: 'read bus.jpg',
      filename: fixtureImage('bus.jpg'),
      filenameType: 'str',
      format: '',
      chunk: false,
      sendError: false,
      encoding: 'none',
      allProps: false,
      x: 300,
      y: 100,
      wires: [[]],
    },
    {
      id: 'out',
      type: 'debug',
      z: 'flow',
      name: 'summary',
      active: true,
      tosidebar: true,
      console: false,
      tostatus: false,
      complete: SUMMARY,
      targetType: 'jsonata',
      x: 760,
      y: 100,
      wires: [],
    },
    {
      id: 'health',
      type: 'triton-health',
      z: 'flow',
      name: '',
      server: 'server',
      models: '',
      interval: 0,
      emit: 'change',
      version: 1,
      x: 140,
      y: 240,
      wires: [[]],
    },
  ];
}

/** Centre of an element in page coordinates. */
async function centre(locator: Locator): Promise<{ x: number; y: number }> {
  const box = await locator.boundingBox();
  assert.ok(box, 'element has no box: is it visible?');
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

async function drag(page: Page, from: { x: number; y: number }, to: { x: number; y: number }) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  // jQuery UI starts a drag only after the pointer has moved a little while pressed.
  await page.mouse.move(from.x + 8, from.y + 8, { steps: 4 });
  await page.mouse.move(to.x, to.y, { steps: 16 });
  await page.mouse.up();
}

/** A page expression: the element's text matches the pattern. */
function textMatches(id: string, pattern: string): string {
  return `new RegExp(${JSON.stringify(pattern)}).test(document.getElementById(${JSON.stringify(id)}).textContent)`;
}

/** Values of the enabled, non-empty options of a select. */
async function enabledOptions(select: Locator): Promise<string[]> {
  return select.evaluate((el) =>
    Array.from((el as unknown as { options: { value: string; disabled: boolean }[] }).options)
      .filter((o) => !o.disabled && o.value !== '')
      .map((o) => o.value),
  );
}

describe('editor (headless Chromium against a live Node-RED)', function () {
  this.timeout(180000);
  let serve: ServeHandle;
  let red: NodeRedHandle;
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  const pageErrors: string[] = [];

  before(async function () {
    assertNodesBuilt();
    assert.ok(
      fs.existsSync(CHROMIUM),
      `${CHROMIUM} is missing: install it with \`apt-get install -y chromium\``,
    );
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    serve = await startServe({ repository: buildFixtureRepository() });
    red = await startNodeRed(fixtureFlow(serve));
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1500 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(red.url);
    await page.locator('.red-ui-palette-node[data-palette-type="triton-detect"]').waitFor();
    await page.locator('[id="read"]').waitFor();
  });

  after(async function () {
    await context?.close();
    await red?.stop();
    await serve?.stop();
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
  });

  // Each test starts from the bare workspace: a tray a failed or slow step left open would
  // otherwise fail every later test at its first click.
  beforeEach(async function () {
    if (!page) return;
    // Each open tray is cancelled with its own Cancel button, the top one first (Escape
    // reaches the tray only when it has the focus).
    for (let i = 0; i < 4; i++) {
      const open = await page.locator('.red-ui-tray').count();
      if (open === 0) break;
      await page.evaluate(
        `$('.red-ui-tray').last().find('#node-config-dialog-cancel, #node-dialog-cancel').first().trigger('click')`,
      );
      await page
        .waitForFunction(`document.querySelectorAll('.red-ui-tray').length < ${open}`, undefined, {
          timeout: 3000,
        })
        .catch(() => undefined);
    }
    await page
      .waitForFunction(
        `!document.querySelector('.red-ui-tray') && (function () {
          var shade = document.getElementById('red-ui-editor-shade');
          return !shade || getComputedStyle(shade).display === 'none';
        })()`,
        undefined,
        { timeout: 5000 },
      )
      .catch(() => undefined);
  });

  it('shows the five flow nodes in the Triton Vision palette category with their icons', async function () {
    const category = page.locator('.red-ui-palette-category', { hasText: 'Triton Vision' });
    await category.waitFor();
    for (const type of [
      'triton-health',
      'triton-detect',
      'triton-segment',
      'triton-classify',
      'triton-track',
    ]) {
      const node = category.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
      assert.equal(await node.count(), 1, `${type} is in the Triton Vision category`);
      const icon = await node
        .locator('.red-ui-palette-icon')
        .evaluate(
          (el) => (el as unknown as { style: { backgroundImage: string } }).style.backgroundImage,
        );
      assert.match(icon, new RegExp(`${type}\\.svg`));
    }
    await category.screenshot({ path: path.join(ARTIFACTS, 'editor-palette.png') });
  });

  it('server dialog: fields follow mode and auth, Test connection uses the unsaved form', async function () {
    await page.locator('[id="health"]').dblclick();
    await page.locator('#node-input-server').waitFor();
    await page.locator('#node-input-btn-server-edit').click();
    const mode = page.locator('#node-config-input-mode');
    await mode.waitFor();

    await mode.selectOption('local');
    assert.equal(await page.locator('#node-config-input-host').isVisible(), false);
    assert.equal(await page.locator('#node-config-input-modelRepository').isVisible(), true);
    // Local mode on the bundled demo: Test connection names the onnxruntime in use.
    await page.locator('#node-config-input-modelRepository').fill('demo');
    await page.locator('#triton-server-test').click();
    await page.waitForFunction(textMatches('triton-server-test-result', 'live|[A-Z_]+: '));
    assert.match(
      await page.locator('#triton-server-test-result').innerText(),
      /\(local · onnxruntime-(node|web) \S+ \((native CPU|WebAssembly), .*\): live true, ready true/,
    );

    await mode.selectOption('http');
    assert.equal(await page.locator('#node-config-input-httpPort').isVisible(), true);
    assert.equal(await page.locator('#node-config-input-grpcPort').isVisible(), false);
    await page.locator('#node-config-input-authType').selectOption('basic');
    assert.equal(await page.locator('#node-config-input-username').isVisible(), true);
    assert.equal(await page.locator('#node-config-input-token').isVisible(), false);
    await page.locator('#node-config-input-authType').selectOption('none');
    await page.locator('#node-config-input-httpPort').fill(String(serve.httpPort));

    // The deployed node speaks gRPC; the test must use the HTTP values still in the form.
    const result = page.locator('#triton-server-test-result');
    await page.locator('#triton-server-test').click();
    await page.waitForFunction(textMatches('triton-server-test-result', 'live|[A-Z_]+: '));
    assert.match(await result.innerText(), /live true, ready true/);
    assert.match((await result.getAttribute('class')) ?? '', /triton-ok/);
    await page
      .locator('.red-ui-tray')
      .last()
      .screenshot({ path: path.join(ARTIFACTS, 'editor-server-dialog.png') });

    // A port nobody listens on: the answer is the stable code, not a hang.
    const closed = serve.grpcPort === 1 ? 2 : 1;
    await page.locator('#node-config-input-httpPort').fill(String(closed));
    await page.locator('#triton-server-test').click();
    await page.waitForFunction(textMatches('triton-server-test-result', '[A-Z_]+: '));
    assert.match(await result.innerText(), /^TRITON_UNAVAILABLE: /);

    await page.locator('#node-config-dialog-cancel').click();
    await page.locator('#node-dialog-cancel').click();
    await page.locator('#node-input-server').waitFor({ state: 'detached' });
  });

  it('adds a detect node, lists and filters the server models, deploys and shows the result', async function () {
    const chart = page.locator('#red-ui-workspace-chart');
    const chartBox = await chart.boundingBox();
    assert.ok(chartBox);
    const palette = page.locator('.red-ui-palette-node[data-palette-type="triton-detect"]');
    await drag(page, await centre(palette), { x: chartBox.x + 560, y: chartBox.y + 100 });
    const detectId = (await page.evaluate(
      "RED.nodes.filterNodes({ type: 'triton-detect' }).map(function (n) { return n.id; })",
    )) as string[];
    assert.equal(detectId.length, 1, 'one detect node was dropped on the workspace');
    const detect = page.locator(`[id="${detectId[0]}"]`);

    // Wire read → detect → summary by dragging between the ports.
    await drag(
      page,
      await centre(page.locator('[id="read"] .red-ui-flow-port-output')),
      await centre(detect.locator('.red-ui-flow-port-input')),
    );
    await drag(
      page,
      await centre(detect.locator('.red-ui-flow-port-output')),
      await centre(page.locator('[id="out"] .red-ui-flow-port-input')),
    );
    assert.deepEqual(
      await page.evaluate(
        `RED.nodes.filterLinks({ target: RED.nodes.node('${detectId[0]}') }).map(function (l) { return l.source.id; })`,
      ),
      ['read'],
    );

    await detect.dblclick();
    const model = page.locator('#node-input-model');
    const status = page.locator('#triton-vision-models-status');
    await model.waitFor();
    // Choosing the server lists its models.
    await page.locator('#node-input-server').selectOption('server');
    await page.waitForFunction(textMatches('triton-vision-models-status', '^2 models$'));
    // Detect models of the fixture repository; the seg and classify models are other tasks.
    assert.deepEqual((await enabledOptions(model)).sort(), ['yolov5n_fp16', 'yolov8n']);
    const disabled = await model.evaluate((el) =>
      Array.from((el as unknown as { options: { value: string; disabled: boolean }[] }).options)
        .filter((o) => o.disabled)
        .map((o) => o.value)
        .sort(),
    );
    assert.deepEqual(disabled, ['mobilenetv2', 'yolov8n_seg']);

    await page.locator('#node-input-backendFilter').selectOption('tensorrt');
    assert.deepEqual(await enabledOptions(model), []);
    assert.match(
      await status.innerText(),
      /^2 detect models filtered out by Backend \(tensorrt\)$/,
    );
    await page.locator('#node-input-backendFilter').selectOption('onnx');
    assert.deepEqual((await enabledOptions(model)).sort(), ['yolov5n_fp16', 'yolov8n']);

    await model.selectOption('yolov8n');
    const classes = page.locator('#triton-vision-classes');
    // yolov8n carries the 80 COCO labels, in COCO order.
    assert.equal(await classes.locator('option').count(), 80);
    assert.equal(await classes.locator('option').first().getAttribute('value'), 'person');
    await page.locator('#triton-vision-classes-filter').fill('bu');
    await classes.selectOption(['bus']);
    await page.locator('#node-input-annotate').check();
    await page.locator('#node-input-preview').check();
    await page
      .locator('.red-ui-tray')
      .last()
      .screenshot({ path: path.join(ARTIFACTS, 'editor-detect-dialog.png') });
    await page.locator('#node-dialog-ok').click();
    await model.waitFor({ state: 'detached' });

    const saved = (await page.evaluate(
      `(function (n) { return { model: n.model, classes: n.classes, backendFilter: n.backendFilter, annotate: n.annotate, preview: n.preview, server: n.server }; })(RED.nodes.node('${detectId[0]}'))`,
    )) as Record<string, unknown>;
    assert.deepEqual(saved, {
      model: 'yolov8n',
      classes: ['bus'],
      backendFilter: 'onnx',
      annotate: true,
      preview: true,
      server: 'server',
    });

    await page.locator('#red-ui-header-button-deploy').click();
    await page.locator('.red-ui-notification', { hasText: /deployed/i }).waitFor();

    await page.locator('#red-ui-tab-debug-link-button').click();
    await page.locator('[id="image"] .red-ui-flow-node-button-button').click();
    const line = page.locator('.red-ui-debug-msg', { hasText: 'yolov8n|' }).first();
    await line.waitFor({ timeout: 120000 });
    const text = await line.locator('.red-ui-debug-msg-payload').innerText();
    await page.screenshot({ path: path.join(ARTIFACTS, 'editor-debug-result.png') });

    // MANIFEST.md: yolov8n_int8_640 on bus.jpg finds bus 0.81 (conf 0.25, NMS 0.45);
    // with the class filter set to 'bus' that is the only detection.
    const m = /yolov8n\|(.*)$/.exec(text.replace(/^"|"$/g, '').trim());
    assert.ok(m, `unexpected debug line: ${text}`);
    const found = m[1]!.split(',');
    assert.equal(found.length, 1, `one detection expected, got ${m[1]}`);
    const [label, score] = found[0]!.split('@');
    assert.equal(label, 'bus');
    assert.ok(Math.abs(Number(score) - 0.81) <= 0.03, `bus score ${score} is not about 0.81`);
    assert.deepEqual(pageErrors, [], 'no script errors in the editor');
  });

  it('draws the annotated preview under the detect node, again after a tab switch, and removes it when Preview is off', async function () {
    const [id] = (await page.evaluate(
      "RED.nodes.filterNodes({ type: 'triton-detect' }).map(function (n) { return n.id; })",
    )) as string[];
    const node = page.locator(`[id="${id}"]`);
    const image = node.locator('g.triton-vision-preview image');
    // The previous test's inject produced a result with Preview on.
    await image.waitFor({ timeout: 60000 });
    assert.match((await image.getAttribute('href')) ?? '', /^data:image\/jpeg;base64,/);
    const body = await node.locator('.red-ui-flow-node').first().boundingBox();
    const picture = await image.boundingBox();
    assert.ok(body && picture);
    // Under the node, left-aligned with it; bus.jpg is portrait (810×1080): its 180×240 thumbnail
    // is shown in at most 200×150, so 113×150.
    assert.ok(picture.y > body.y + body.height, 'the picture is below the node');
    assert.ok(Math.abs(picture.x - body.x) <= 2, 'the picture starts at the node’s left edge');
    assert.ok(Math.abs(picture.width - 113) <= 2, `width ${picture.width}`);
    assert.ok(Math.abs(picture.height - 150) <= 2, `height ${picture.height}`);
    const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
    assert.ok(chart);
    await page.screenshot({
      path: path.join(ARTIFACTS, 'editor-preview.png'),
      clip: { x: chart.x, y: chart.y, width: Math.min(chart.width, 900), height: 420 },
    });

    // Another tab replaces the node's SVG group; coming back must draw the picture again.
    const other = (await page.evaluate('RED.workspaces.add().id')) as string;
    await node.waitFor({ state: 'detached' });
    await page.evaluate(`RED.workspaces.show('flow')`);
    await image.waitFor();
    await page.evaluate(`RED.workspaces.delete(RED.nodes.workspace('${other}'))`);

    // The node's own shape: the group's centre may now lie on the picture, which takes no clicks.
    await node.locator('.red-ui-flow-node').first().dblclick();
    await page.locator('#node-input-preview').uncheck();
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-preview').waitFor({ state: 'detached' });
    await image.waitFor({ state: 'detached' });
    assert.equal(await node.locator('g.triton-vision-preview').count(), 0);
    assert.deepEqual(pageErrors, [], 'no script errors in the editor');
  });

  it('refuses bad values in the dialogs (red border, the message, the Deploy warning) and accepts them fixed', async function () {
    // Every validator has Node-RED's (value, opt) form: a one-argument one returning a
    // message would count as valid.
    const arity = (await page.evaluate(`(function () {
      var out = {};
      ['triton-server', 'triton-health', 'triton-detect', 'triton-segment', 'triton-classify', 'triton-track'].forEach(function (t) {
        var d = RED.nodes.getType(t).defaults;
        Object.keys(d).forEach(function (k) { if (d[k].validate) out[t + '.' + k] = d[k].validate.length; });
      });
      return out;
    })()`)) as Record<string, number>;
    assert.ok(Object.keys(arity).length >= 20, JSON.stringify(arity));
    assert.deepEqual(
      Object.entries(arity).filter(([, n]) => n !== 2),
      [],
      'validators with another arity',
    );

    /** Types a value, then checks the red border and the message the input's tooltip shows. */
    async function refuses(input: Locator, value: string | null, text: RegExp): Promise<void> {
      if (value !== null) await input.fill(value);
      await input.dispatchEvent('change');
      await page.waitForFunction(
        (el) =>
          (el as unknown as { classList: { contains(c: string): boolean } }).classList.contains(
            'input-error',
          ),
        await input.elementHandle(),
      );
      // The tooltip opens on mouseenter: start from outside the input, so that the pointer
      // always enters it (a tray that slid in under a still pointer gives no mouseenter).
      const popover = page.locator('.red-ui-popover', { hasText: text }).first();
      for (let attempt = 0; ; attempt++) {
        await page.mouse.move(1, 1);
        await input.hover();
        const shown = await popover.waitFor({ timeout: attempt < 2 ? 5000 : 30000 }).then(
          () => true,
          (e: unknown) => {
            if (attempt >= 2) throw e;
            return false;
          },
        );
        if (shown) return;
        console.warn(`      refuses(): no tooltip after hovering (attempt ${attempt + 1})`);
      }
    }
    /**
     * The task dialog asks the server for its models when it opens; the answer re-lays the
     * form out (model list, classes). A hover made before it can end with the pointer off
     * the input, and its tooltip never opens.
     */
    async function modelListSettled(): Promise<void> {
      await page.waitForFunction(
        `(function (t) { return t !== '' && !/^loading/.test(t); })(document.getElementById('triton-vision-models-status').textContent)`,
      );
    }
    async function accepts(input: Locator, value: string): Promise<void> {
      // The red border goes once the editor validates the new value. In about one full run
      // in three (never alone) it stayed although the value passes; the cause is not found
      // yet. The value is given again a few times; one that stays refused still fails here.
      const handle = await input.elementHandle();
      for (let attempt = 0; ; attempt++) {
        await input.fill(value);
        await input.dispatchEvent('change');
        const cleared = await page
          .waitForFunction(
            (el) =>
              !(
                el as unknown as { classList: { contains(c: string): boolean } }
              ).classList.contains('input-error'),
            handle,
            { timeout: attempt < 5 ? 3000 : 15000 },
          )
          .then(
            () => true,
            (e: unknown) => {
              if (attempt >= 5) throw e;
              return false;
            },
          );
        if (cleared) return;
        // Say what the page looked like, so that a run that needed this can be read later.
        const seen = await page.evaluate((el) => {
          type El = {
            id: string;
            value: string;
            isConnected: boolean;
            getAttribute(a: string): string | null;
          };
          const e = el as unknown as El;
          const g = globalThis as unknown as {
            document: { querySelectorAll(s: string): { length: number } };
            $: { _data(el: unknown, what: string): Record<string, unknown[]> | undefined };
          };
          const events = g.$._data(e, 'events') ?? {};
          return JSON.stringify({
            id: e.id,
            value: e.value,
            sameId: g.document.querySelectorAll(`[id="${e.id}"]`).length,
            handlers: Object.keys(events).map((k) => `${k}:${events[k]!.length}`),
            trays: g.document.querySelectorAll('.red-ui-tray').length,
            connected: e.isConnected,
            skipValidation: e.getAttribute('skipValidation'),
          });
        }, handle);
        console.warn(`      accepts(): the red border stayed (attempt ${attempt + 1}): ${seen}`);
      }
    }

    // The server: an empty host, then a port out of range.
    await page.locator('[id="health"]').dblclick();
    await page.locator('#node-input-server').waitFor();
    await page.locator('#node-input-btn-server-edit').click();
    await page.locator('#node-config-input-mode').selectOption('grpc');
    const host = page.locator('#node-config-input-host');
    const grpcPort = page.locator('#node-config-input-grpcPort');
    await refuses(host, '', /Host must be a host name or address/);
    await refuses(grpcPort, '99999', /gRPC port must be a port number from 1 to 65535/);
    const replicas = page.locator('#node-config-input-replicas');
    await refuses(replicas, 'triton-2:8001\ntriton-3', /Replicas must be one host:port per line/);
    await page
      .locator('.red-ui-tray')
      .last()
      .screenshot({ path: path.join(ARTIFACTS, 'editor-invalid-server.png') });
    await page.locator('#node-config-dialog-ok').click();
    await page.locator('#node-input-server').waitFor();
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-server').waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(`RED.nodes.node('server').valid`), false);

    // The detect node: confidence 5, max detections -3, concurrency abc, no model.
    const [id] = (await page.evaluate(
      "RED.nodes.filterNodes({ type: 'triton-detect' }).map(function (n) { return n.id; })",
    )) as string[];
    const node = page.locator(`[id="${id}"]`);
    await node.locator('.red-ui-flow-node').first().dblclick();
    const model = page.locator('#node-input-model');
    await model.waitFor();
    await modelListSettled();
    await refuses(
      page.locator('#node-input-confidence'),
      '5',
      /Confidence must be a number from 0 to 1/,
    );
    await refuses(
      page.locator('#node-input-maxDetections'),
      '-3',
      /Max detections must be a whole number of at least 1/,
    );
    await refuses(
      page.locator('#node-input-concurrency'),
      'abc',
      /Concurrency must be a whole number of at least 1/,
    );
    const labelsFile = page.locator('#node-input-labelsFile');
    await refuses(
      labelsFile,
      '../secret.txt',
      /Label file must be a file name inside the Node-RED user directory/,
    );
    assert.equal(await page.locator('#node-input-icc').inputValue(), 'ignore');
    await model.selectOption('');
    await refuses(model, null, /Model must be chosen from the list/);
    await page
      .locator('.red-ui-tray')
      .last()
      .screenshot({ path: path.join(ARTIFACTS, 'editor-invalid-detect.png') });
    await page.locator('#node-dialog-ok').click();
    await model.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(`RED.nodes.node('${id}').valid`), false);

    // Deploy warns and names both nodes.
    await page.locator('#red-ui-header-button-deploy').click();
    const warning = page.locator('.red-ui-notification', { hasText: 'not properly configured' });
    await warning.waitFor();
    const listed = await warning.locator('.red-ui-deploy-dialog-confirm-list').innerText();
    assert.match(listed, /fixture server \(triton-server\)/);
    assert.match(listed, /detect \(triton-detect\)/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'editor-invalid-deploy-warning.png') });
    await warning.getByRole('button', { name: 'Cancel' }).click();
    await warning.waitFor({ state: 'detached' });

    // Fixed, both are valid and Deploy goes through without a warning.
    await page.locator('[id="health"]').dblclick();
    await page.locator('#node-input-btn-server-edit').click();
    await accepts(page.locator('#node-config-input-host'), '127.0.0.1');
    await accepts(page.locator('#node-config-input-replicas'), '');
    // First a port nobody listens on: the model list says the server cannot be reached.
    const closed = serve.grpcPort === 1 ? 2 : 1;
    await accepts(page.locator('#node-config-input-grpcPort'), String(closed));
    await page.locator('#node-config-dialog-ok').click();
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-server').waitFor({ state: 'detached' });

    await node.locator('.red-ui-flow-node').first().dblclick();
    await model.waitFor();
    await modelListSettled();
    await page.waitForFunction(
      textMatches('triton-vision-models-status', '^cannot reach the server: .*127\\.0\\.0\\.1'),
    );
    await page.locator('#node-input-btn-server-edit').click();
    await accepts(page.locator('#node-config-input-grpcPort'), String(serve.grpcPort));
    await page.locator('#node-config-dialog-ok').click();
    await page.locator('#node-config-input-grpcPort').waitFor({ state: 'detached' });
    await accepts(page.locator('#node-input-confidence'), '0.25');
    await accepts(page.locator('#node-input-maxDetections'), '300');
    await accepts(page.locator('#node-input-concurrency'), '1');
    await accepts(labelsFile, '');
    await page.waitForFunction(textMatches('triton-vision-models-status', 'models$|filtered'));
    await page.locator('#node-input-backendFilter').selectOption('any');
    await model.selectOption('yolov8n');
    await model.dispatchEvent('change');
    await page.waitForFunction(
      `!document.getElementById("node-input-model").classList.contains("input-error")`,
    );
    await page.locator('#node-dialog-ok').click();
    await model.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(`RED.nodes.node('${id}').valid`), true);
    assert.equal(await page.evaluate(`RED.nodes.node('server').valid`), true);
    const since = await page.locator('.red-ui-notification').count();
    await page.locator('#red-ui-header-button-deploy').click();
    await page
      .locator('.red-ui-notification', { hasText: /deployed/i })
      .last()
      .waitFor();
    assert.equal(
      await page.locator('.red-ui-notification', { hasText: 'not properly configured' }).count(),
      0,
    );
    assert.ok(since >= 0);
    assert.deepEqual(pageErrors, [], 'no script errors in the editor');
  });

  it('Test connection: a result goes away when a setting changes', async function () {
    await page.locator('[id="health"]').dblclick();
    await page.locator('#node-input-btn-server-edit').click();
    const result = page.locator('#triton-server-test-result');
    await page.locator('#triton-server-test').click();
    await page.waitForFunction(textMatches('triton-server-test-result', 'live|[A-Z_]+: '));
    assert.match(await result.innerText(), /live true, ready true/);
    await page.locator('#node-config-input-timeout').fill('31');
    await page.waitForFunction(textMatches('triton-server-test-result', '^$'));
    assert.equal(await result.innerText(), '');
    await page.locator('#node-config-dialog-cancel').click();
    await page.locator('#node-dialog-cancel').click();
    await page.locator('#node-input-server').waitFor({ state: 'detached' });
  });

  it('track dialog: coordinates written wrong get a red border and the reason; stream mode rows follow the mode', async function () {
    await page.evaluate(`(function () {
      // As the palette adds it: every field at its default.
      var d = RED.nodes.getType('triton-track').defaults;
      var n = { id: 'track', type: 'triton-track', x: 420, y: 460, z: RED.workspaces.active(), wires: [[], []] };
      Object.keys(d).forEach(function (k) { n[k] = d[k].value; });
      RED.nodes.import([n]);
      RED.view.redraw(true);
    })()`);
    await page.locator('[id="track"] .red-ui-flow-node').first().dblclick();
    const lines = page.locator('#node-input-lines');
    await lines.waitFor();
    const zones = page.locator('#node-input-zones');
    const marked = async (el: Locator, red: boolean): Promise<void> => {
      const handle = await el.elementHandle();
      await page.waitForFunction(
        ([e, want]) =>
          (e as unknown as { classList: { contains(c: string): boolean } }).classList.contains(
            'input-error',
          ) === want,
        [handle, red] as const,
      );
    };
    await lines.fill('320,0,320');
    await lines.dispatchEvent('change');
    await marked(lines, true);
    await lines.hover();
    await page
      .locator('.red-ui-popover', {
        hasText: /Lines must be one line x1,y1,x2,y2 \(4 numbers\) per row/,
      })
      .first()
      .waitFor();
    await zones.fill('0,0,10,0');
    await zones.dispatchEvent('change');
    await marked(zones, true);
    await page
      .locator('.red-ui-tray')
      .last()
      .screenshot({ path: path.join(ARTIFACTS, 'editor-invalid-track.png') });
    await lines.fill('320,0,320,360\n0,200,640,200');
    await lines.dispatchEvent('change');
    await marked(lines, false);
    await zones.fill('100,100,300,100,300,300,100,300');
    await zones.dispatchEvent('change');
    await marked(zones, false);
    // Crop rows show only with crops on.
    assert.equal(await page.locator('#node-input-cropPadding').isVisible(), false);
    await page.locator('#node-input-crops').check();
    assert.equal(await page.locator('#node-input-cropPadding').isVisible(), true);
    await page.locator('#node-dialog-ok').click();
    await lines.waitFor({ state: 'detached' });
    assert.deepEqual(
      await page.evaluate(
        `[RED.nodes.node('track').valid, RED.nodes.node('track').validationErrors]`,
      ),
      [true, []],
    );
    assert.equal(
      await page.evaluate(`RED.nodes.node('track').lines`),
      '320,0,320,360\n0,200,640,200',
    );

    // The detect dialog: N only for every Nth frame, the stream key for both stream modes.
    const [id] = (await page.evaluate(
      "RED.nodes.filterNodes({ type: 'triton-detect' }).map(function (n) { return n.id; })",
    )) as string[];
    await page.locator(`[id="${id}"] .red-ui-flow-node`).first().dblclick();
    const mode = page.locator('#node-input-streamMode');
    await mode.waitFor();
    const nth = page.locator('#node-input-everyNth');
    assert.equal(await nth.isVisible(), false);
    await mode.selectOption('nth');
    assert.equal(await nth.isVisible(), true);
    await nth.fill('0');
    await nth.dispatchEvent('change');
    await marked(nth, true);
    await nth.fill('3');
    await nth.dispatchEvent('change');
    await marked(nth, false);
    await mode.selectOption('latest');
    assert.equal(await nth.isVisible(), false);
    await page.locator('#node-dialog-cancel').click();
    await mode.waitFor({ state: 'detached' });
    assert.deepEqual(pageErrors, [], 'no script errors in the editor');
  });
});
