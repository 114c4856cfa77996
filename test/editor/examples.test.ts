/**
 * The shipped flows, proven: every examples/*.json and the `npm start` demo flow is deployed
 * to a live Node-RED through the admin API (`POST /flows`, full deployment), its inject nodes
 * are fired (`POST /inject/<id>`), and what the flow documents is checked from outside: debug
 * messages, node status and previews over the editor's comms WebSocket, and its HTTP endpoints.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { ROOT, assertNodesBuilt, startNodeRed, type NodeRedHandle } from './nodered';

/** `ws` ships with Node-RED's editor API (Node 20 has no WebSocket client of its own). */
const NODE_RED_DIR = path.dirname(require.resolve('node-red/package.json'));
const EDITOR_API_DIR = path.dirname(
  require.resolve('@node-red/editor-api/package.json', { paths: [NODE_RED_DIR] }),
);
interface Socket {
  on(event: 'open' | 'close', fn: () => void): void;
  on(event: 'message', fn: (data: Buffer | string) => void): void;
  on(event: 'error', fn: (err: Error) => void): void;
  send(data: string): void;
  close(): void;
}
const WebSocketClient: new (url: string) => Socket = require(
  require.resolve('ws', { paths: [EDITOR_API_DIR] }),
);

interface CommsMessage {
  topic: string;
  data: Record<string, unknown> & { id?: string; msg?: string; level?: number };
}

/** The editor's comms channel, as a browser tab would see it: debug, status, previews. */
class Comms {
  readonly received: CommsMessage[] = [];
  private listeners: (() => void)[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('message', (raw) => {
      for (const m of JSON.parse(raw.toString()) as CommsMessage[]) this.received.push(m);
      for (const l of this.listeners) l();
    });
  }

  static connect(red: NodeRedHandle, topics: string[]): Promise<Comms> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocketClient(`ws://127.0.0.1:${red.port}/comms`);
      socket.on('error', reject);
      socket.on('open', () => {
        for (const t of topics) socket.send(JSON.stringify({ subscribe: t }));
        resolve(new Comms(socket));
      });
    });
  }

  /** Index to pass as `since` so only later messages count. */
  mark(): number {
    return this.received.length;
  }

  /** Messages from `since` on that match. */
  since(since: number, match: (m: CommsMessage) => boolean): CommsMessage[] {
    return this.received.slice(since).filter(match);
  }

  /** Resolves once `count` messages from `since` on match (or rejects with what came). */
  waitFor(
    since: number,
    match: (m: CommsMessage) => boolean,
    what: string,
    count = 1,
    ms = 60000,
  ): Promise<CommsMessage[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const got = this.since(since, match);
        if (got.length < count) return false;
        this.listeners = this.listeners.filter((l) => l !== listener);
        clearTimeout(timer);
        resolve(got.slice(0, count));
        return true;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== listener);
        const seen = this.since(since, () => true)
          .map((m) => `${m.topic} ${JSON.stringify(m.data).slice(0, 160)}`)
          .join('\n  ');
        reject(new Error(`timed out waiting for ${what}; comms since deploy:\n  ${seen}`));
      }, ms);
      if (!check()) this.listeners.push(listener);
    });
  }

  close(): void {
    this.socket.close();
  }
}

const debugFrom =
  (id: string) =>
  (m: CommsMessage): boolean =>
    m.topic === 'debug' && m.data.id === id && m.data.level === undefined;
const statusOf =
  (id: string, match: (s: { fill?: string; text?: string }) => boolean) =>
  (m: CommsMessage): boolean =>
    m.topic === `status/${id}` && match(m.data as { fill?: string; text?: string });
const previewOf =
  (id: string) =>
  (m: CommsMessage): boolean =>
    m.topic === `triton-vision/preview/${id}` &&
    typeof m.data === 'string' &&
    /^data:image\/jpeg;base64,/.test(m.data as unknown as string);
/** Node errors and warnings reach the editor as debug messages with a log level. */
const logged = (m: CommsMessage): boolean =>
  m.topic === 'debug' && (m.data.level === 20 || m.data.level === 30);

/** The value a debug node showed (it sends the message part JSON-encoded). */
function shown<T>(m: CommsMessage): T {
  return JSON.parse(String(m.data.msg)) as T;
}

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** An example as Import puts it into the workspace: flow nodes on a tab, config nodes global. */
function onTab(nodes: FlowNode[], tab: string): FlowNode[] {
  return [
    { id: tab, type: 'tab', label: tab, disabled: false, info: '' },
    ...nodes.map((n) => ('x' in n ? { ...n, z: tab } : n)),
  ];
}

function example(name: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', name), 'utf8')) as FlowNode[];
}

describe('example flows and the npm start demo, deployed to a live Node-RED', function () {
  this.timeout(240000);
  let red: NodeRedHandle;
  let comms: Comms;

  before(async function () {
    assertNodesBuilt();
    // The flows find the bundled photos through TRITON_VISION_DEMO, as `npm start` sets it.
    red = await startNodeRed([], { env: { TRITON_VISION_DEMO: ROOT } });
    comms = await Comms.connect(red, ['debug', 'status/#', 'triton-vision/preview/#']);
  });

  after(async function () {
    comms?.close();
    await red?.stop();
  });

  /** Full deployment through the admin API; returns the comms mark taken just before. */
  async function deploy(flows: FlowNode[]): Promise<number> {
    const since = comms.mark();
    const res = await fetch(`${red.url}flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flows),
    });
    assert.ok(res.ok, `deploy answered ${res.status}: ${await res.text()}`);
    return since;
  }

  async function inject(id: string): Promise<void> {
    const res = await fetch(`${red.url}inject/${id}`, { method: 'POST' });
    assert.equal(res.status, 200, `inject ${id} answered ${res.status}`);
  }

  function assertNoNodeErrors(since: number, logFrom: number): void {
    const problems = comms.since(since, logged).map((m) => JSON.stringify(m.data));
    assert.deepEqual(problems, [], 'no node errors or warnings');
    assert.doesNotMatch(red.output().slice(logFrom), /\[error\]|missing types/i);
  }

  it('ships six examples, each deployable JSON', function () {
    const names = fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.json'));
    assert.deepEqual(names.sort(), [
      'classify-top5.json',
      'detect-and-annotate.json',
      'health-monitor.json',
      'segment-mask-png.json',
      'track-line-counting.json',
      'track-zone-dashboard.json',
    ]);
  });

  it('track-line-counting: the cup on the generated belt gets one track id and crosses the line once, in', async function () {
    const logFrom = red.output().length;
    const since = await deploy(onTab(example('track-line-counting.json'), 'ex-track-tab'));
    await comms.waitFor(
      since,
      statusOf('ex-track-detect', (s) => s.fill === 'green'),
      'the detect node to be ready',
    );
    await inject('ex-track-start');
    // The belt sends 31 frames; the track node sends its counts for every one of them.
    const frames = await comms.waitFor(since, debugFrom('ex-track-counts'), 'line counts', 31);
    const counts = frames.map(
      (m) =>
        shown<{ name: string; in: number; out: number; inPerClass: object; outPerClass: object }[]>(
          m,
        )[0]!,
    );
    // The cup (x from 51 to 178 px right of the photo's left edge, as YOLOX-nano finds it) is
    // wholly left of x = 320 in the first frames and wholly right of it in the last: one
    // crossing, left to right, which is `in` for a line drawn top to bottom.
    assert.deepEqual(counts[0], {
      in: 0,
      out: 0,
      name: counts[0]!.name,
      inPerClass: {},
      outPerClass: {},
    });
    assert.equal(counts[30]!.in, 1, JSON.stringify(counts.map((c) => c.in)));
    assert.equal(counts[30]!.out, 0);
    assert.deepEqual(counts[30]!.inPerClass, { cup: 1 });
    // Counts never go back.
    for (let i = 1; i < counts.length; i++) assert.ok(counts[i]!.in >= counts[i - 1]!.in);
    const [event] = await comms.waitFor(since, debugFrom('ex-track-crossings'), 'the crossing');
    const crossing = shown<{ type: string; direction: string; label: string; trackId: number }>(
      event!,
    );
    assert.deepEqual(
      [crossing.type, crossing.direction, crossing.label, crossing.trackId],
      ['crossed', 'in', 'cup', 1],
    );
    assert.equal(comms.since(since, debugFrom('ex-track-crossings')).length, 1, 'one crossing');
    assertNoNodeErrors(since, logFrom);
  });

  it('track-zone-dashboard: its comment names @flowfuse/node-red-dashboard; deployed (its widgets as debug nodes when the package is absent) it counts the person in the zone', async function () {
    const flow = example('track-zone-dashboard.json');
    const about = flow.find((n) => n.type === 'comment');
    assert.match(String(about?.info), /@flowfuse\/node-red-dashboard/);
    let installed = true;
    try {
      require.resolve('@flowfuse/node-red-dashboard/package.json');
    } catch {
      installed = false;
    }
    // Without the dashboard package (as in CI), its widgets become debug nodes of the same ids
    // and its config nodes go: the rest of the flow is deployed and checked as shipped.
    const ui = (n: FlowNode): boolean => n.type.startsWith('ui-');
    const deployed = installed
      ? flow
      : flow
          .filter((n) => !ui(n) || 'x' in n)
          .map((n) =>
            ui(n)
              ? {
                  id: n.id,
                  type: 'debug',
                  name: n.name,
                  active: true,
                  tosidebar: true,
                  complete: 'payload',
                  targetType: 'msg',
                  x: n.x,
                  y: n.y,
                  wires: [],
                }
              : n,
          );
    const logFrom = red.output().length;
    const since = await deploy(onTab(deployed, 'ex-zone-tab'));
    await comms.waitFor(
      since,
      statusOf('ex-zone-detect', (s) => s.fill === 'green'),
      'the detect node to be ready',
    );
    if (!installed) {
      await inject('ex-zone-start');
      // The astronaut walks through the doorway: one entry, and one person inside meanwhile.
      const [entered] = await comms.waitFor(since, debugFrom('ex-zone-entered'), 'an entry');
      assert.equal(shown<number>(entered!), 1);
      const inside = await comms.waitFor(
        since,
        (m) => debugFrom('ex-zone-now')(m) && shown<number>(m) === 1,
        'one person in the zone',
      );
      assert.equal(inside.length, 1);
      const [picture] = await comms.waitFor(since, debugFrom('ex-zone-picture'), 'a frame');
      // A debug node shows a string as it is (not JSON-encoded).
      assert.match(String(picture!.data.msg), /^data:image\/jpeg;base64,/);
      // Never more than one person inside: there is one.
      const counts = comms.since(since, debugFrom('ex-zone-now')).map((m) => shown<number>(m));
      assert.ok(
        counts.every((c) => c === 0 || c === 1),
        counts.join(),
      );
    }
    assertNoNodeErrors(since, logFrom);
  });

  it('detect-and-annotate: finds the cat and serves the annotated JPEG at /triton-vision/annotated', async function () {
    const logFrom = red.output().length;
    const since = await deploy(onTab(example('detect-and-annotate.json'), 'ex-detect-tab'));
    await comms.waitFor(
      since,
      statusOf('ex-detect-detect', (s) => s.fill === 'green'),
      'the detect node to be ready',
    );
    await inject('ex-detect-inject-chelsea');
    const [result] = await comms.waitFor(since, debugFrom('ex-detect-result'), 'detections');
    const payload = shown<{ task: string; detections: { label: string }[] }>(result!);
    assert.equal(payload.task, 'detect');
    assert.ok(
      payload.detections.some((d) => d.label === 'cat'),
      `chelsea.png shows a cat; got ${payload.detections.map((d) => d.label).join(', ')}`,
    );
    // Preview is on in the example: the editor got the thumbnail too.
    await comms.waitFor(since, previewOf('ex-detect-detect'), 'the preview');

    const res = await fetch(`${red.url}triton-vision/annotated`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^image\/jpeg/);
    const jpeg = Buffer.from(await res.arrayBuffer());
    const meta = await sharp(jpeg).metadata();
    const photo = await sharp(path.join(ROOT, 'models', 'photos', 'chelsea.png')).metadata();
    assert.equal(meta.format, 'jpeg');
    // The annotation is drawn over the photo at its own size.
    assert.deepEqual([meta.width, meta.height], [photo.width, photo.height]);
    assertNoNodeErrors(since, logFrom);
  });

  it('classify-top5: five ImageNet classes for the cat, best first, a cat class on top', async function () {
    const logFrom = red.output().length;
    const since = await deploy(onTab(example('classify-top5.json'), 'ex-classify-tab'));
    await comms.waitFor(
      since,
      statusOf('ex-classify-classify', (s) => s.fill === 'green'),
      'the classify node to be ready',
    );
    await inject('ex-classify-inject-chelsea');
    const [result] = await comms.waitFor(since, debugFrom('ex-classify-result'), 'top-5');
    const value = shown<unknown>(result!);
    const classes = (Array.isArray(value) ? value : (value as { classes: unknown[] }).classes) as {
      label: string;
      classId: number;
      score: number;
    }[];
    assert.equal(classes.length, 5);
    for (let i = 1; i < classes.length; i++) {
      assert.ok(classes[i - 1]!.score >= classes[i]!.score, 'sorted by score');
    }
    // ImageNet ids 281..285 are the domestic cats (tabby, tiger cat, Persian, Siamese, Egyptian).
    assert.ok(
      classes[0]!.classId >= 281 && classes[0]!.classId <= 285,
      `top class ${classes[0]!.label} (${classes[0]!.classId}) is not a cat`,
    );
    await comms.waitFor(since, previewOf('ex-classify-classify'), 'the preview');
    assertNoNodeErrors(since, logFrom);
  });

  it('health-monitor: reports the local server ready, on deploy and on inject', async function () {
    const logFrom = red.output().length;
    const since = await deploy(onTab(example('health-monitor.json'), 'ex-health-tab'));
    const [first] = await comms.waitFor(since, debugFrom('ex-health-up'), '"server ready"');
    assert.equal(shown<{ ready: boolean }>(first!).ready, true);
    const afterFirst = comms.mark();
    await inject('ex-health-now');
    const [again] = await comms.waitFor(afterFirst, debugFrom('ex-health-up'), 'the checked state');
    assert.equal(shown<{ ready: boolean }>(again!).ready, true);
    assert.deepEqual(comms.since(since, debugFrom('ex-health-down')), [], 'never "NOT ready"');
    assertNoNodeErrors(since, logFrom);
  });

  it('segment-mask-png: without a segmentation model the status says how to export one', async function () {
    const since = await deploy(onTab(example('segment-mask-png.json'), 'ex-segment-tab'));
    const exportHint = (s: { fill?: string; text?: string }): boolean =>
      s.fill === 'red' &&
      /export a YOLOv8-seg model: see models\/triton\/README\.md/.test(s.text ?? '');
    await comms.waitFor(since, statusOf('ex-segment-segment', exportHint), 'the export hint');
    const afterDeploy = comms.mark();
    await inject('ex-segment-inject-astronaut');
    const [caught] = await comms.waitFor(
      afterDeploy,
      debugFrom('ex-segment-errors'),
      'the caught error',
    );
    const error = shown<{ code: string; message: string }>(caught!);
    assert.equal(error.code, 'NOT_FOUND');
    assert.match(error.message, /Segment_COCO_YOLOv8sSeg_ONNX/);
    // The failed message leaves the same hint, not a bare "Model not found".
    await comms.waitFor(afterDeploy, statusOf('ex-segment-segment', exportHint), 'the hint again');
    // The missing model is logged as a node error (which also proves the other examples'
    // "no node errors" check can see one), and nothing else is.
    const reported = comms.since(since, logged);
    assert.ok(
      reported.some((m) => m.data.id === 'ex-segment-segment' && m.data.level === 20),
      'the segment node reports the missing model',
    );
    assert.match(red.output(), /\[error\] \[triton-segment/);
    const problems = comms
      .since(since, logged)
      .filter((m) => !/Segment_COCO_YOLOv8sSeg_ONNX/.test(JSON.stringify(m.data)));
    assert.deepEqual(problems, []);
  });

  it('npm start demo: the results page shows the three photos with a person, a cat and a cup', async function () {
    const { demoFlows } = require(path.join(ROOT, 'scripts', 'start.js')) as {
      demoFlows(): FlowNode[];
    };
    const flows = demoFlows();
    const local = flows.filter((n) => n.z === 'demo-tab' && n.type.startsWith('triton-'));
    assert.deepEqual(
      local.map((n) => [n.type, n.preview]),
      [
        ['triton-detect', true],
        ['triton-classify', true],
      ],
      'the demo shows its previews in the editor',
    );
    const logFrom = red.output().length;
    const since = await deploy(flows);
    // The inject fires once, 2 s after the deploy: three photos through both models.
    await comms.waitFor(since, debugFrom('demo-detections'), 'three detect results', 3);
    await comms.waitFor(since, debugFrom('demo-classes'), 'three classify results', 3);
    await comms.waitFor(since, previewOf('demo-detect'), 'three detect previews', 3);
    await comms.waitFor(since, previewOf('demo-classify'), 'three classify previews', 3);

    const res = await fetch(`${red.url}triton-vision-demo`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    const sections = [...html.matchAll(/<section><h2>([^<]+)<\/h2>(.*?)<\/section>/g)];
    assert.deepEqual(
      sections.map((s) => s[1]),
      ['astronaut.png', 'chelsea.png', 'coffee.png'],
    );
    const expected: Record<string, string> = {
      'astronaut.png': 'person',
      'chelsea.png': 'cat',
      'coffee.png': 'cup',
    };
    for (const [, name, body] of sections) {
      assert.match(body!, /<img alt="[^"]+" src="data:image\/jpeg;base64,[A-Za-z0-9+/]+=*">/);
      const detected = /<h3>detect[^<]*<\/h3><ul>(.*?)<\/ul>/.exec(body!);
      assert.ok(detected, `${name} has a detect list`);
      const labels = [...detected[1]!.matchAll(/<li>(.+?) [\d.]+ %<\/li>/g)].map((m) => m[1]);
      assert.ok(
        labels.includes(expected[name!]!),
        `${name} should show a ${expected[name!]}; detected ${labels.join(', ')}`,
      );
    }
    assertNoNodeErrors(since, logFrom);
  });
});
