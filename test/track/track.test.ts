/**
 * Tracking, counting and zones from first principles: hand-built scenes whose answers follow
 * from the rules (which side of a line a box is on, which pixels a triangle covers, when a
 * track is confirmed or forgotten), plus the multi-stream tracker's events and resets.
 */
import { strict as assert } from 'node:assert';
import { linearSumAssignment, costMatrix } from '../../src/vision/track/assignment';
import { ByteTrack } from '../../src/vision/track/bytetrack';
import { fillPoly } from '../../src/vision/track/fillpoly';
import { parseGeometry, parseLine, parseZone } from '../../src/vision/track/geometry';
import { MultiStreamTracker } from '../../src/vision/track/streams';
import { LineZone, PolygonZone, type TrackedBox } from '../../src/vision/track/zones';
import type { Box } from '../../src/vision/types';

const box = (cx: number, cy: number, w = 20, h = 40): Box => ({
  x1: cx - w / 2,
  y1: cy - h / 2,
  x2: cx + w / 2,
  y2: cy + h / 2,
});
const at = (cx: number, cy: number, trackId = 1, classId = 0): TrackedBox => ({
  box: box(cx, cy),
  classId,
  trackId,
});

describe('LineZone (first principles)', () => {
  // Start (100, 0) → end (100, 200) points down the image; with y down, its left is +x.
  const vertical = (): LineZone => new LineZone({ x: 100, y: 0 }, { x: 100, y: 200 });

  it('counts in when a box goes from the right of start→end to its left, out the other way', () => {
    const line = vertical();
    assert.deepEqual(line.trigger([at(50, 100)]).crossedIn, [false]);
    const r = line.trigger([at(150, 100)]);
    assert.deepEqual([r.crossedIn, r.crossedOut], [[true], [false]]);
    assert.deepEqual([line.inCount, line.outCount], [1, 0]);
    const back = line.trigger([at(50, 100)]);
    assert.deepEqual([back.crossedIn, back.crossedOut], [[false], [true]]);
    assert.deepEqual([line.inCount, line.outCount], [1, 1]);
  });

  it('ignores a box straddling the line: all four corners must be on one side', () => {
    const line = vertical();
    line.trigger([at(50, 100)]);
    line.trigger([at(100, 100)]); // corners at x = 90 and 110
    assert.deepEqual([line.inCount, line.outCount], [0, 0]);
    line.trigger([at(150, 100)]);
    assert.equal(line.inCount, 1);
  });

  it('ignores boxes beyond the ends of the segment', () => {
    const line = vertical();
    line.trigger([at(50, 300)]);
    line.trigger([at(150, 300)]);
    assert.deepEqual([line.inCount, line.outCount], [0, 0]);
    // A corner past the end (y2 = 210 > 200) also leaves the box out.
    line.trigger([at(50, 190)]);
    line.trigger([at(150, 190)]);
    assert.deepEqual([line.inCount, line.outCount], [0, 0]);
  });

  it('remembers the side across any gap, per track and class', () => {
    const line = vertical();
    line.trigger([at(50, 100, 7)]);
    for (let i = 0; i < 50; i++) line.trigger([at(300, 300, 8)]); // track 7 unseen
    line.trigger([at(150, 100, 7)]);
    assert.equal(line.inCount, 1);
    // Same track id under another class has its own history: no crossing yet.
    line.trigger([at(50, 100, 9, 0)]);
    line.trigger([at(150, 100, 9, 2)]);
    assert.equal(line.inCount, 1);
    assert.deepEqual([...line.inPerClass], [[0, 1]]);
  });

  it('needs minimumCrossingThreshold frames on the new side when asked', () => {
    const line = new LineZone(
      { x: 100, y: 0 },
      { x: 100, y: 200 },
      { minimumCrossingThreshold: 2 },
    );
    line.trigger([at(50, 100)]);
    line.trigger([at(150, 100)]);
    assert.equal(line.inCount, 0);
    line.trigger([at(160, 100)]);
    assert.equal(line.inCount, 1);
  });

  it('refuses a zero-length line and bad anchors with INVALID_OPTION', () => {
    assert.throws(() => new LineZone({ x: 1, y: 1 }, { x: 1, y: 1 }), { code: 'INVALID_OPTION' });
    assert.throws(() => new LineZone({ x: 1, y: 1 }, { x: 2, y: 1 }, { triggeringAnchors: [] }), {
      code: 'INVALID_OPTION',
    });
  });
});

describe('PolygonZone and the filled-polygon rule (first principles)', () => {
  it('a right triangle covers exactly the pixels with x + y <= n (its hypotenuse is exact)', () => {
    const n = 10;
    const mask = fillPoly(
      [
        [0, 0],
        [n, 0],
        [0, n],
      ],
      n + 2,
      n + 2,
    );
    for (let y = 0; y < n + 2; y++) {
      for (let x = 0; x < n + 2; x++) {
        assert.equal(mask[y * (n + 2) + x], x + y <= n ? 1 : 0, `pixel ${x},${y}`);
      }
    }
  });

  it('a rectangle includes both its edges', () => {
    const mask = fillPoly(
      [
        [2, 1],
        [5, 1],
        [5, 3],
        [2, 3],
      ],
      8,
      5,
    );
    const rows = [0, 1, 2, 3, 4].map((y) => Array.from(mask.subarray(y * 8, y * 8 + 8)).join(''));
    assert.deepEqual(rows, ['00000000', '00111100', '00111100', '00111100', '00000000']);
  });

  it('decides by the bottom-centre anchor rounded up to whole pixels', () => {
    const zone = new PolygonZone([
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 0, y: 10 },
    ]);
    const det = (x1: number, x2: number, y2: number): TrackedBox => ({
      box: { x1, y1: 0, x2, y2 },
      classId: 0,
      trackId: 1,
    });
    // Anchor (4, 6): 4 + 6 = 10, on the hypotenuse: inside.
    // Anchor (4.2, 5.1) → pixel (5, 6): 11 > 10: outside, though the point itself is inside.
    // Anchor (-0.5, 3) → pixel (0, 3): inside (ceil of -0.5 is 0).
    assert.deepEqual(zone.trigger([det(3, 5, 6), det(3.4, 5, 5.1), det(-1, 0, 3)]), [
      true,
      false,
      true,
    ]);
    assert.equal(zone.currentCount, 2);
    assert.deepEqual(zone.trigger([]), []);
    assert.equal(zone.currentCount, 0);
  });

  it('refuses polygons of fewer than 3 points', () => {
    assert.throws(
      () =>
        new PolygonZone([
          { x: 0, y: 0 },
          { x: 1, y: 1 },
        ]),
      { code: 'INVALID_OPTION' },
    );
  });
});

describe('linear sum assignment (first principles)', () => {
  it('finds the optimum a greedy choice misses, on rectangular matrices both ways', () => {
    // Greedy would take (0,0)=1 then (1,1)=10: 11; the optimum is (0,1)+(1,0) = 2 + 3 = 5.
    const m = costMatrix(2, 2);
    m.data.set([1, 2, 3, 10]);
    assert.deepEqual(linearSumAssignment(m), [
      [0, 1],
      [1, 0],
    ]);
    const tall = costMatrix(3, 2);
    tall.data.set([5, 9, 1, 8, 7, 2]);
    assert.deepEqual(linearSumAssignment(tall), [
      [1, 0],
      [2, 1],
    ]);
  });
});

describe('ByteTrack (first principles)', () => {
  const frame = (...items: [number, number, number?][]): { box: Box; score: number }[] =>
    items.map(([cx, cy, score = 0.9]) => ({ box: box(cx, cy, 40, 80), score }));

  it('keeps one id on a steadily moving object and reports its age and velocity', () => {
    const t = new ByteTrack();
    let last;
    for (let i = 0; i < 20; i++) last = t.update(frame([100 + 5 * i, 200]));
    assert.equal(last!.length, 1);
    assert.equal(last![0].trackId, 1);
    assert.equal(last![0].age, 20);
    assert.ok(Math.abs(last![0].velocity.x - 5) < 0.5, `vx ${last![0].velocity.x}`);
    assert.ok(Math.abs(last![0].velocity.y) < 0.5);
  });

  it('outputs a new object from its second frame, except on the very first frame', () => {
    const t = new ByteTrack();
    assert.deepEqual(
      t.update(frame([100, 100])).map((d) => d.trackId),
      [1],
    );
    assert.deepEqual(
      t.update(frame([100, 100], [400, 100])).map((d) => d.index),
      [0],
    );
    assert.deepEqual(
      t.update(frame([100, 100], [400, 100])).map((d) => [d.index, d.trackId]),
      [
        [0, 1],
        [1, 2],
      ],
    );
  });

  it('starts tracks only above threshold + 0.1; low scores only continue tracks', () => {
    const t = new ByteTrack();
    t.update(frame([100, 100, 0.3], [400, 100, 0.9])); // 0.3 < 0.35: no track
    const r = t.update(frame([100, 100, 0.3], [400, 100, 0.9]));
    assert.deepEqual(
      r.map((d) => d.index),
      [1],
    );
    // A 0.2 detection (between 0.1 and 0.25) keeps track 1 alive on the second stage.
    const low = t.update(frame([400, 100, 0.2]));
    assert.deepEqual(
      low.map((d) => d.trackId),
      [1],
    );
  });

  it('re-finds a hidden object up to the lost buffer + 1 frames, then gives a new id', () => {
    const hide = (frames: number): number => {
      const t = new ByteTrack({ lostTrackBuffer: 10 });
      for (let i = 0; i < 5; i++) t.update(frame([100, 100]));
      for (let i = 0; i < frames; i++) t.update([]);
      t.update(frame([100, 100]));
      const r = t.update(frame([100, 100]));
      return r[0].trackId;
    };
    assert.equal(hide(10), 1);
    assert.equal(hide(11), 1); // removed at 11 frames lost, still matchable once more
    assert.equal(hide(12), 2);
  });

  it('refuses bad options and malformed detections with coded errors', () => {
    assert.throws(() => new ByteTrack({ trackActivationThreshold: 2 }), { code: 'INVALID_OPTION' });
    assert.throws(() => new ByteTrack({ lostTrackBuffer: -1 }), { code: 'INVALID_OPTION' });
    assert.throws(() => new ByteTrack({ frameRate: 0 }), { code: 'INVALID_OPTION' });
    assert.throws(() => new ByteTrack().update([{ box: { x1: 0 } as Box, score: 0.9 }]), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('MultiStreamTracker: streams, events, reset', () => {
  const det = (cx: number, cy: number, classId = 0, label = 'person') => ({
    label,
    classId,
    score: 0.9,
    box: box(cx, cy, 20, 40),
  });

  it('emits crossed (with direction), entered and left events with track, class and time', () => {
    const mt = new MultiStreamTracker({
      lines: [{ start: { x: 100, y: 0 }, end: { x: 100, y: 400 }, name: 'door' }],
      zones: [
        {
          polygon: [
            { x: 200, y: 0 },
            { x: 400, y: 0 },
            { x: 400, y: 400 },
            { x: 200, y: 400 },
          ],
        },
      ],
    });
    const events = [];
    for (let i = 0; i < 60; i++) {
      const r = mt.update('cam1', [det(40 + 8 * i, 200)], 1000 + i);
      events.push(...r.events);
    }
    assert.deepEqual(
      events.map((e) => [e.type, e.name, e.direction, e.trackId, e.label, e.stream]),
      [
        ['crossed', 'door', 'in', 1, 'person', 'cam1'],
        ['entered', 'zone1', undefined, 1, 'person', 'cam1'],
        ['left', 'zone1', undefined, 1, 'person', 'cam1'],
      ],
    );
    // Box centre x = 40 + 8i (frame i + 1), corners ±10: all four right of x = 100 first at
    // i = 9. Bottom-centre anchor inside the pixels 200..400 from i = 20 to 45.
    assert.deepEqual(
      events.map((e) => e.frame),
      [10, 21, 47],
    );
    assert.equal(events[1].time, 1020);
    const last = mt.update('cam1', [det(600, 200)]);
    assert.deepEqual(last.lines, [
      { name: 'door', in: 1, out: 0, inPerClass: { person: 1 }, outPerClass: {} },
    ]);
  });

  it('keeps streams apart and reset forgets one stream only', () => {
    const mt = new MultiStreamTracker();
    mt.update('a', [det(100, 100)]);
    mt.update('a', [det(100, 100), det(300, 100)]);
    const a = mt.update('a', [det(100, 100), det(300, 100)]);
    const b = mt.update('b', [det(300, 100)]);
    assert.deepEqual(
      a.detections.map((d) => d.trackId),
      [1, 2],
    );
    assert.deepEqual(
      b.detections.map((d) => d.trackId),
      [1],
    );
    assert.deepEqual(mt.keys(), ['a', 'b']);
    mt.reset('a');
    assert.deepEqual(mt.keys(), ['b']);
    const again = mt.update('a', [det(300, 100)]);
    assert.equal(again.frame, 1);
    assert.deepEqual(
      again.detections.map((d) => d.trackId),
      [1],
    );
    assert.equal(mt.update('b', [det(300, 100)]).frame, 2);
  });

  it('passes other detection fields through and refuses a missing classId', () => {
    const mt = new MultiStreamTracker();
    const r = mt.update('x', [{ ...det(10, 10), boxNormalized: { x1: 0, y1: 0, x2: 1, y2: 1 } }]);
    assert.deepEqual(r.detections[0].boxNormalized, { x1: 0, y1: 0, x2: 1, y2: 1 });
    assert.throws(() => mt.update('x', [{ score: 1, box: box(1, 1) } as never]), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('reading lines and zones', () => {
  it('takes the command-line, array and object forms alike', () => {
    const line = { start: { x: 1, y: 2 }, end: { x: 3, y: 4 } };
    assert.deepEqual(parseLine('1,2,3,4'), line);
    assert.deepEqual(parseLine([1, 2, 3, 4]), line);
    assert.deepEqual(parseLine({ ...line, name: 'door' }), { ...line, name: 'door' });
    const polygon = [
      { x: 0, y: 0 },
      { x: 5, y: 0 },
      { x: 5, y: 5 },
    ];
    assert.deepEqual(parseZone('0,0,5,0,5,5'), { polygon });
    assert.deepEqual(parseZone([0, 0, 5, 0, 5, 5]), { polygon });
    assert.deepEqual(
      parseZone([
        [0, 0],
        [5, 0],
        [5, 5],
      ]),
      { polygon },
    );
    assert.deepEqual(parseZone({ polygon, name: 'dock' }), { polygon, name: 'dock' });
  });

  it('says which line or zone is wrong and what it needs', () => {
    assert.throws(() => parseLine('1,2,3', 1), {
      code: 'INVALID_OPTION',
      message: /^Line 2 needs x1,y1,x2,y2 \(4 numbers\)/,
    });
    assert.throws(() => parseZone('0,0,1,1'), { code: 'INVALID_OPTION', message: /^Zone 1 needs/ });
    assert.throws(() => parseZone({ polygon: [{ x: 0 }, { x: 1, y: 1 }, { x: 2, y: 2 }] }), {
      code: 'INVALID_OPTION',
    });
    assert.throws(() => parseGeometry({ lines: 'x' }), { code: 'INVALID_OPTION' });
  });

  it('replaces one stream’s lines and zones, keeping its tracks and restarting its counts', () => {
    const mt = new MultiStreamTracker({ lines: [parseLine('100,0,100,400')] });
    const d = (cx: number) => [{ classId: 0, score: 0.9, box: box(cx, 200) }];
    for (let i = 0; i < 12; i++) mt.update('cam', d(40 + 10 * i));
    assert.equal(mt.update('cam', d(160)).lines[0].in, 1);
    mt.setGeometry('cam', [parseLine('300,0,300,400')], []);
    const r = mt.update('cam', d(170));
    assert.deepEqual([r.lines[0].in, r.detections[0].trackId, r.zones], [0, 1, []]);
    assert.throws(() => mt.setGeometry('cam', [{} as never]), { code: 'INVALID_OPTION' });
    assert.equal(mt.update('cam', d(180)).lines.length, 1);
  });
});
