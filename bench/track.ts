/**
 * Tracker speed (run: npx tsx bench/track.ts): frames per second of ByteTrack alone and of the
 * multi-stream tracker with one counting line and one zone, on a synthetic 1080p stream of
 * 50 objects walking in straight lines (position noise, 5% of detections missing, a few low
 * scores and 5 false positives per frame). A steady state after 30 warm-up frames.
 */
import { ByteTrack } from '../src/vision/track/bytetrack';
import { MultiStreamTracker } from '../src/vision/track/streams';
import type { Box } from '../src/vision/types';

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Det {
  label: string;
  classId: number;
  score: number;
  box: Box;
}

function stream(objects: number, frames: number): Det[][] {
  const r = rng(42);
  const things = Array.from({ length: objects }, () => ({
    x: 100 + r() * 1720,
    y: 100 + r() * 880,
    vx: (r() - 0.5) * 8,
    vy: (r() - 0.5) * 8,
    w: 30 + r() * 60,
    h: 60 + r() * 120,
  }));
  const out: Det[][] = [];
  for (let f = 0; f < frames; f++) {
    const dets: Det[] = [];
    for (const t of things) {
      t.x += t.vx;
      t.y += t.vy;
      if (t.x < 50 || t.x > 1870) t.vx = -t.vx;
      if (t.y < 50 || t.y > 1030) t.vy = -t.vy;
      if (r() < 0.05) continue;
      const cx = t.x + (r() - 0.5) * 3;
      const cy = t.y + (r() - 0.5) * 3;
      const score = r() < 0.05 ? 0.12 + r() * 0.1 : 0.4 + r() * 0.55;
      dets.push({
        label: 'person',
        classId: 0,
        score,
        box: { x1: cx - t.w / 2, y1: cy - t.h / 2, x2: cx + t.w / 2, y2: cy + t.h / 2 },
      });
    }
    for (let k = 0; k < 5; k++) {
      const x = r() * 1800;
      const y = r() * 1000;
      dets.push({
        label: 'person',
        classId: 0,
        score: 0.3 + r() * 0.3,
        box: { x1: x, y1: y, x2: x + 60, y2: y + 100 },
      });
    }
    out.push(dets);
  }
  return out;
}

/**
 * Frames per second by wall clock and by this process's CPU time (user + system): on a shared
 * machine the second is the fairer measure of what the tracker costs.
 */
function fps(frames: Det[][], step: (d: Det[]) => unknown): { wall: number; cpu: number } {
  for (let i = 0; i < 30; i++) step(frames[i]);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 30; i < frames.length; i++) step(frames[i]);
  const c = process.cpuUsage(c0);
  const n = frames.length - 30;
  return { wall: (n * 1000) / (performance.now() - t0), cpu: (n * 1e6) / (c.user + c.system) };
}

const FRAMES = 1030;
console.log('objects  ByteTrack fps (wall / cpu)  tracker+line+zone fps (wall / cpu)');
for (const n of [10, 50, 100]) {
  const frames = stream(n, FRAMES);
  const bt = new ByteTrack();
  const a = fps(frames, (d) => bt.update(d));
  const mt = new MultiStreamTracker({
    lines: [{ start: { x: 960, y: 0 }, end: { x: 960, y: 1080 } }],
    zones: [
      {
        polygon: [
          { x: 200, y: 200 },
          { x: 900, y: 300 },
          { x: 800, y: 900 },
          { x: 150, y: 700 },
        ],
      },
    ],
  });
  const b = fps(frames, (d) => mt.update('cam', d));
  const col = (r: { wall: number; cpu: number }, w: number): string =>
    `${r.wall.toFixed(0)} / ${r.cpu.toFixed(0)}`.padStart(w);
  console.log(`${String(n).padStart(7)}  ${col(a, 26)}  ${col(b, 34)}`);
}
