/**
 * The README's pictures, taken from the real thing: the `npm start` demo flow deployed to a
 * live Node-RED and shown in headless Chromium (with its previews), the detect dialog with
 * the model list the runtime sent, and an annotated result from the demo's results page.
 * They are written to docs/images/ (committed, referenced by the README), so they change
 * when the editor does. The same run measures the drawn workspace: no node, label, status
 * or preview overlaps another, and the tab names are not cut.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { ROOT, assertNodesBuilt, startNodeRed, type NodeRedHandle } from './nodered';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PICTURES = path.join(ROOT, 'docs', 'images');

interface Rect {
  what: string;
  owner: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Boxes of everything drawn for the nodes of the visible tab, in page pixels. */
async function drawnRects(page: Page): Promise<Rect[]> {
  return (await page.evaluate(`(function () {
    var out = [];
    function push(what, owner, el) {
      if (!el) return;
      var r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) out.push({ what: what, owner: owner, x: r.x, y: r.y, w: r.width, h: r.height });
    }
    document.querySelectorAll('#red-ui-workspace-chart g.red-ui-flow-node-group').forEach(function (g) {
      push('node', g.id, g.querySelector('.red-ui-flow-node'));
      g.querySelectorAll('.red-ui-flow-node-label text').forEach(function (t) { push('label', g.id, t); });
      push('status', g.id, g.querySelector('.red-ui-flow-node-status-label'));
      push('preview', g.id, g.querySelector('g.triton-vision-preview rect'));
    });
    return out;
  })()`)) as Rect[];
}

/** Pairs of boxes of different nodes that overlap. */
function overlapping(rects: Rect[]): string[] {
  const hits: string[] = [];
  for (let i = 0; i < rects.length; i++) {
    for (let j = i + 1; j < rects.length; j++) {
      const a = rects[i]!;
      const b = rects[j]!;
      if (a.owner === b.owner) continue;
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) {
        hits.push(`${a.what} of ${a.owner} / ${b.what} of ${b.owner}`);
      }
    }
  }
  return hits;
}

describe('README pictures and the drawn demo flow (headless Chromium, live Node-RED)', function () {
  this.timeout(240000);
  let red: NodeRedHandle;
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  const pageErrors: string[] = [];

  before(async function () {
    assertNodesBuilt();
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    fs.mkdirSync(PICTURES, { recursive: true });
    const { demoFlows } = require(path.join(ROOT, 'scripts', 'start.js')) as {
      demoFlows(): object[];
    };
    red = await startNodeRed(demoFlows(), { env: { TRITON_VISION_DEMO: ROOT } });
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1500, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(red.url);
    await page.locator('[id="demo-detect"]').waitFor();
  });

  after(async function () {
    await context?.close();
    await red?.stop();
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
  });

  it('the demo flow: previews drawn, nothing overlaps, tab names whole → docs/images/demo-flow.png', async function () {
    // Previews reach the editors connected when a result is made: run the cat photo now.
    await page.evaluate(`RED.menu.setSelected('menu-item-sidebar', false)`);
    const injected = await fetch(`${red.url}inject/demo-photos`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        __user_inject_props__: [{ p: 'payload', v: '["chelsea.png"]', vt: 'json' }],
      }),
    });
    assert.equal(injected.status, 200);
    for (const id of ['demo-detect', 'demo-classify']) {
      await page.locator(`[id="${id}"] g.triton-vision-preview image`).waitFor({ timeout: 120000 });
    }
    // Status texts settle on the last photo's result.
    await page.waitForFunction(
      `document.querySelectorAll('[id="demo-detect"] .red-ui-flow-node-status-label')[0].textContent.indexOf('ms') > 0`,
    );
    const rects = await drawnRects(page);
    assert.ok(rects.filter((r) => r.what === 'node').length >= 14, JSON.stringify(rects));
    assert.equal(rects.filter((r) => r.what === 'preview').length, 2);
    assert.deepEqual(overlapping(rects), [], 'drawn things overlap');

    // Both tab names are shown whole (the disabled one carries an extra icon).
    for (const tab of ['demo-tab', 'triton-tab']) {
      const label = page.locator(`#red-ui-tab-${tab} .red-ui-tab-label`);
      const [scroll, client] = (await label.evaluate((el) => [
        (el as unknown as { scrollWidth: number }).scrollWidth,
        (el as unknown as { clientWidth: number }).clientWidth,
      ])) as [number, number];
      assert.ok(scroll <= client, `the ${tab} name is cut (${scroll} > ${client} px)`);
    }

    const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
    assert.ok(chart);
    const file = path.join(PICTURES, 'demo-flow.png');
    await page.screenshot({
      path: file,
      clip: { x: chart.x - 1, y: chart.y - 40, width: Math.min(chart.width, 1260), height: 590 },
    });
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual(pageErrors, []);
  });

  it('the detect dialog with the model list from the local runtime → docs/images/detect-dialog.png', async function () {
    await page.locator('[id="demo-detect"] .red-ui-flow-node').first().dblclick();
    const model = page.locator('#node-input-model');
    await model.waitFor();
    await page.waitForFunction(
      `/^1 model$/.test(document.getElementById('triton-vision-models-status').textContent)`,
    );
    assert.equal(await model.inputValue(), 'Detect_COCO_YOLOXnano_ONNX');
    const options = await model.locator('option').allInnerTexts();
    assert.ok(
      options.some((o) => /Classify_ImageNet_MobileNetV2_ONNX — other task: classify/.test(o)),
      options.join('\n'),
    );
    // A closed <select> shows one line: open it as a list for the picture.
    await model.evaluate((el) => {
      const select = el as unknown as {
        size: number;
        style: { height: string };
        querySelectorAll(s: string): { length: number };
      };
      select.size = select.querySelectorAll('option, optgroup').length;
      select.style.height = 'auto';
    });
    const tray = page.locator('.red-ui-tray').last();
    const box = await tray.boundingBox();
    assert.ok(box);
    await page.screenshot({
      path: path.join(PICTURES, 'detect-dialog.png'),
      clip: { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 560) },
    });
    await page.locator('#node-dialog-cancel').click();
    await model.waitFor({ state: 'detached' });
  });

  it('an annotated result from the demo page → docs/images/annotated-result.jpg', async function () {
    const res = await fetch(`${red.url}triton-vision-demo`);
    const html = await res.text();
    const m =
      /<h2>chelsea\.png<\/h2><img alt="[^"]+" src="data:image\/jpeg;base64,([A-Za-z0-9+/]+=*)">/.exec(
        html,
      );
    assert.ok(m, 'the results page shows the annotated chelsea.png');
    const jpeg = Buffer.from(m[1]!, 'base64');
    const meta = await sharp(jpeg).metadata();
    const photo = await sharp(path.join(ROOT, 'models', 'photos', 'chelsea.png')).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.deepEqual([meta.width, meta.height], [photo.width, photo.height]);
    fs.writeFileSync(path.join(PICTURES, 'annotated-result.jpg'), jpeg);
  });

  for (const name of [
    'detect-and-annotate',
    'classify-top5',
    'segment-mask-png',
    'health-monitor',
  ]) {
    it(`example ${name}: deployed and drawn, nothing overlaps → test-artifacts/example-${name}.png`, async function () {
      const flow = JSON.parse(
        fs.readFileSync(path.join(ROOT, 'examples', `${name}.json`), 'utf8'),
      ) as (Record<string, unknown> & { id: string; type: string })[];
      const tab = `tab-${name}`;
      const nodes = [
        { id: tab, type: 'tab', label: name, disabled: false, info: '' },
        ...flow.map((n) => ('x' in n ? { ...n, z: tab } : n)),
      ];
      const res = await fetch(`${red.url}flows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
        body: JSON.stringify(nodes),
      });
      assert.ok(res.ok, await res.text());
      await page.reload();
      const withPreview = flow.find((n) => /^triton-(detect|classify)$/.test(n.type) && n.preview);
      const inject = flow.find((n) => n.type === 'inject' && /chelsea/.test(String(n.name)));
      await page.locator(`[id="${flow.find((n) => 'x' in n)!.id}"]`).waitFor();
      if (inject) {
        const fired = await fetch(`${red.url}inject/${inject.id}`, { method: 'POST' });
        assert.equal(fired.status, 200);
      }
      if (withPreview) {
        await page
          .locator(`[id="${withPreview.id}"] g.triton-vision-preview image`)
          .waitFor({ timeout: 120000 });
      }
      const rects = await drawnRects(page);
      assert.ok(rects.filter((r) => r.what === 'node').length >= 6, JSON.stringify(rects));
      assert.deepEqual(overlapping(rects), [], `${name}: drawn things overlap`);
      const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
      assert.ok(chart);
      fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({
        path: path.join(ROOT, 'test-artifacts', `example-${name}.png`),
        clip: { x: chart.x - 1, y: chart.y - 40, width: Math.min(chart.width, 1300), height: 520 },
      });
      assert.deepEqual(pageErrors, []);
    });
  }
});
