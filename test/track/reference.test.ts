/**
 * The tracker, lines and zones against supervision 0.29.1 on generated sequences
 * (test/track/fixtures, made by test/track/generate.py with the reference tools): the same
 * detections kept on every frame, the same partition into tracks (ids equal up to renaming),
 * the same line and zone counts on every frame. The building blocks are checked against the
 * tools the reference calls: SciPy's linear_sum_assignment, cv2.fillPoly, CPython set order.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { trackConfigFromArgs, trackMain } from '../../src/cli-track';
import {
  costMatrix,
  linearSumAssignment,
  setDifferenceOrder,
} from '../../src/vision/track/assignment';
import { BYTETRACK_DEFAULTS } from '../../src/vision/track/bytetrack';
import { fillPoly } from '../../src/vision/track/fillpoly';
import { MultiStreamTracker, type TrackableDetection } from '../../src/vision/track/streams';
import { LINE_ANCHORS, ZONE_ANCHORS } from '../../src/vision/track/zones';

/** TRACK_FIXTURES points the comparison at freshly generated sequences (generate.py --out DIR). */
const FIXTURES = process.env.TRACK_FIXTURES ?? path.join(__dirname, 'fixtures');

interface Scenario {
  name: string;
  about: string;
  args: string[];
  /** Library options beyond the CLI's (then the library is run instead of the CLI). */
  options?: Record<string, number>;
  frames: { detections: Record<string, unknown>[] }[];
  expected: { kept: [number, number][]; lines: unknown[]; zones: unknown[] }[];
}

async function runCli(args: string[], frames: unknown[]): Promise<Record<string, unknown>[]> {
  const input = Readable.from(frames.map((f) => `${JSON.stringify(f)}\n`));
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const code = await trackMain(args, out, input);
  assert.equal(code, 0);
  return Buffer.concat(chunks)
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The CLI's output shape from the library, for options the CLI does not take. */
function runLibrary(sc: Scenario): Record<string, unknown>[] {
  const { config } = trackConfigFromArgs(sc.args);
  const mt = new MultiStreamTracker({ ...config, ...sc.options });
  return sc.frames.map((f) => {
    const r = mt.update('s', f.detections as unknown as TrackableDetection[]);
    return {
      detections: r.detections.map(({ trackAge: _a, velocity: _v, ...d }) => d),
      lines: r.lines.map((l) => ({ in: l.in, out: l.out })),
      zones: r.zones.map((z) => ({ count: z.count })),
    };
  });
}

const scenarios = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json') && f !== 'blocks.json')
  .map((f) => JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8')) as Scenario);

describe('tracking equals supervision 0.29.1 (generated sequences)', function () {
  this.timeout(60000);

  it('has the generated scenarios', () => {
    assert.ok(scenarios.length >= 6, 'run test/track/generate.py');
  });

  for (const sc of scenarios) {
    it(`${sc.name}: ${sc.about}`, async () => {
      const got = sc.options ? runLibrary(sc) : await runCli(sc.args, sc.frames);
      assert.equal(got.length, sc.frames.length);
      const ours = new Map<number, number>(); // our id -> theirs
      const theirs = new Map<number, number>();
      let tracked = 0;
      for (const [f, exp] of sc.expected.entries()) {
        const g = got[f] as {
          detections: Record<string, unknown>[];
          lines: unknown;
          zones: unknown;
        };
        const where = `${sc.name} frame ${f + 1}`;
        assert.deepEqual(
          g.detections.map((d) => {
            const { trackId: _t, ...rest } = d;
            return rest;
          }),
          exp.kept.map(([i]) => sc.frames[f].detections[i]),
          `${where}: kept detections`,
        );
        for (const [k, [, theirId]] of exp.kept.entries()) {
          const ourId = g.detections[k].trackId as number;
          assert.ok(Number.isInteger(ourId), `${where}: integer trackId`);
          if (!ours.has(ourId)) ours.set(ourId, theirId);
          if (!theirs.has(theirId)) theirs.set(theirId, ourId);
          assert.equal(ours.get(ourId), theirId, `${where}: track ${ourId} is their ${theirId}`);
          assert.equal(theirs.get(theirId), ourId, `${where}: their ${theirId} is our ${ourId}`);
          tracked++;
        }
        assert.deepEqual(g.lines, exp.lines, `${where}: line counts`);
        assert.deepEqual(g.zones, exp.zones, `${where}: zone counts`);
      }
      assert.ok(tracked > 0);
    });
  }
});

describe('tracker building blocks equal the reference tools', () => {
  const blocks = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'blocks.json'), 'utf8')) as {
    linear_sum_assignment: { cost: number[][]; rows: number[]; cols: number[] }[];
    fill_poly: { points: [number, number][]; width: number; height: number; mask: string }[];
    set_difference: { n: number; used: number[]; order: number[] }[];
    defaults: {
      ByteTrack: Record<string, number>;
      LineZone: { triggering_anchors: string[]; minimum_crossing_threshold: number };
      PolygonZone: { triggering_anchors: string[] };
    };
  };

  it('has the reference defaults: ByteTrack options, line and zone anchors', () => {
    const d = blocks.defaults;
    assert.deepEqual(
      {
        track_activation_threshold: BYTETRACK_DEFAULTS.trackActivationThreshold,
        lost_track_buffer: BYTETRACK_DEFAULTS.lostTrackBuffer,
        minimum_matching_threshold: BYTETRACK_DEFAULTS.minimumMatchingThreshold,
        frame_rate: BYTETRACK_DEFAULTS.frameRate,
        minimum_consecutive_frames: BYTETRACK_DEFAULTS.minimumConsecutiveFrames,
      },
      d.ByteTrack,
    );
    assert.deepEqual([...LINE_ANCHORS], d.LineZone.triggering_anchors);
    assert.equal(d.LineZone.minimum_crossing_threshold, 1);
    assert.deepEqual([...ZONE_ANCHORS], d.PolygonZone.triggering_anchors);
  });

  it('linear_sum_assignment: the same pairs as SciPy, ties included', () => {
    for (const [k, c] of blocks.linear_sum_assignment.entries()) {
      const m = costMatrix(c.cost.length, c.cost[0].length);
      m.data.set(c.cost.flat());
      const pairs = linearSumAssignment(m);
      assert.deepEqual(
        pairs.map((p) => p[0]),
        c.rows,
        `case ${k} rows`,
      );
      assert.deepEqual(
        pairs.map((p) => p[1]),
        c.cols,
        `case ${k} cols`,
      );
    }
  });

  it('fillPoly: the same pixels as cv2.fillPoly, clipped polygons included', () => {
    for (const [k, c] of blocks.fill_poly.entries()) {
      const mask = fillPoly(c.points, c.width, c.height);
      assert.equal(Array.from(mask).join(''), c.mask, `case ${k}: ${JSON.stringify(c.points)}`);
    }
  });

  it('unmatched lists come in the order of set(range(n)) - set(used) in CPython', () => {
    for (const [k, c] of blocks.set_difference.entries()) {
      const used = new Uint8Array(c.n);
      for (const u of c.used) used[u] = 1;
      assert.deepEqual(setDifferenceOrder(c.n, c.used.length, used), c.order, `case ${k}`);
    }
  });
});
