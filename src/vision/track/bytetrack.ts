/**
 * ByteTrack (Zhang et al., 2022) with the exact behaviour of supervision 0.29.1's
 * `sv.ByteTrack`, which our users' expectations come from:
 *
 * - detections scoring above `trackActivationThreshold` are matched first to tracked and lost
 *   tracks (IoU × score cost, gate `minimumMatchingThreshold`); detections scoring in
 *   (0.1, threshold) then rescue the still-unmatched tracked tracks (IoU gate 0.5);
 * - a new track starts from a high detection scoring at least threshold + 0.1, and gets its
 *   public id on its second matched frame (on the very first frame, at once);
 * - a track unmatched for more than `lostTrackBuffer × frameRate / 30` frames is removed, but
 *   stays matchable for one more frame, as in the reference;
 * - the output is the *input* detections re-matched to the confirmed tracks at IoU >= 0.5
 *   (input boxes, not Kalman boxes); the others are dropped.
 *
 * Numbers the reference holds in float32 (detection boxes, IoU matrices, a new track's first
 * state) are rounded to float32 here too, so thresholds cut the same way.
 */
import { TritonError } from '../../protocol/errors';
import type { Box } from '../types';
import { linearAssignment, type Assignment, type CostMatrix } from './assignment';
import { initiate, multiPredict, update, type KalmanState } from './kalman';

export interface ByteTrackOptions {
  /** Detections scoring above this start and continue tracks (default 0.25). */
  trackActivationThreshold?: number;
  /** Frames (at 30 fps) a lost track is kept for re-identification (default 30). */
  lostTrackBuffer?: number;
  /** Largest 1 − IoU·score cost accepted in the first association (default 0.8). */
  minimumMatchingThreshold?: number;
  /** Stream frame rate; scales the lost-track buffer (default 30). */
  frameRate?: number;
  /** Matched frames before a new track gets its id (default 1). */
  minimumConsecutiveFrames?: number;
}

/** supervision 0.29.1's defaults. */
export const BYTETRACK_DEFAULTS: Required<ByteTrackOptions> = Object.freeze({
  trackActivationThreshold: 0.25,
  lostTrackBuffer: 30,
  minimumMatchingThreshold: 0.8,
  frameRate: 30,
  minimumConsecutiveFrames: 1,
});

export interface TrackInput {
  box: Box;
  score: number;
}

/** One output detection: the input at `index` belongs to track `trackId`. */
export interface TrackedIndex {
  index: number;
  trackId: number;
  /** Frames since the track started, counting this one. */
  age: number;
  /** Kalman velocity of the box centre, pixels per frame. */
  velocity: { x: number; y: number };
}

const enum State {
  New,
  Tracked,
  Lost,
  Removed,
}

const f = Math.fround;

/** A box as the reference's float32 `tlwh` and `tlbr` of an unfiltered detection. */
class STrack {
  state = State.New;
  isActivated = false;
  startFrame = 0;
  frameId = 0;
  kf: KalmanState | null = null;
  trackletLen = 0;
  internalId = -1;
  externalId = -1;
  /** float32 [x, y, w, h] */
  readonly tlwh0: [number, number, number, number];

  constructor(
    box: Box,
    public score: number,
  ) {
    this.tlwh0 = [f(box.x1), f(box.y1), f(box.x2 - box.x1), f(box.y2 - box.y1)];
  }

  /** [x1, y1, x2, y2] and whether it is float32. */
  tlbr(): { b: [number, number, number, number]; f32: boolean } {
    if (!this.kf) {
      const [x, y, w, h] = this.tlwh0;
      return { b: [x, y, f(w + x), f(h + y)], f32: true };
    }
    const m = this.kf.mean;
    if (this.kf.f32) {
      const w = f(m[2] * m[3]);
      const h = m[3];
      const x = f(m[0] - f(w / 2));
      const y = f(m[1] - f(h / 2));
      return { b: [x, y, f(w + x), f(h + y)], f32: true };
    }
    const w = m[2] * m[3];
    const h = m[3];
    const x = m[0] - w / 2;
    const y = m[1] - h / 2;
    return { b: [x, y, w + x, h + y], f32: false };
  }

  /** float32 [cx, cy, a, h] of the detection box. */
  xyah(): [number, number, number, number] {
    const [x, y, w, h] = this.tlwh0;
    return [f(x + f(w / 2)), f(y + f(h / 2)), f(w / h), h];
  }
}

type Boxes = { list: [number, number, number, number][]; f32: boolean };

function boxesOf(tracks: STrack[]): Boxes {
  const tl = tracks.map((t) => t.tlbr());
  // A batch is float32 only when every box is (numpy upcasts a mixed stack).
  return { list: tl.map((t) => t.b), f32: tl.length > 0 && tl.every((t) => t.f32) };
}

/**
 * IoU matrix exactly as supervision's box_iou_batch computes it: intersections in float32,
 * areas in the boxes' own precision, the quotient stored as float32.
 */
export function iouMatrix(a: Boxes, b: Boxes): CostMatrix {
  const rows = a.list.length;
  const cols = b.list.length;
  const data = new Float64Array(rows * cols);
  const area = (bx: number[], f32: boolean): number =>
    f32 ? f(f(bx[2] - bx[0]) * f(bx[3] - bx[1])) : (bx[2] - bx[0]) * (bx[3] - bx[1]);
  const areasB = b.list.map((bx) => area(bx, b.f32));
  const normF32 = a.f32 && b.f32;
  for (let i = 0; i < rows; i++) {
    const p = a.list[i];
    const areaA = area(p, a.f32);
    for (let j = 0; j < cols; j++) {
      const q = b.list[j];
      const w = Math.max(f(f(Math.min(p[2], q[2])) - f(Math.max(p[0], q[0]))), 0);
      const h = Math.max(f(f(Math.min(p[3], q[3])) - f(Math.max(p[1], q[1]))), 0);
      const inter = f(w * h);
      const norm = normF32 ? f(f(areaA + areasB[j]) - inter) : areaA + areasB[j] - inter;
      data[i * cols + j] = norm > 0 ? f(inter / norm) : 0;
    }
  }
  return { rows, cols, data };
}

/** 1 − IoU as float32, the reference's `iou_distance`. */
function iouDistance(a: STrack[], b: STrack[]): CostMatrix {
  const m = iouMatrix(boxesOf(a), boxesOf(b));
  for (let k = 0; k < m.data.length; k++) m.data[k] = f(1 - m.data[k]);
  return m;
}

/** 1 − IoU·score, in float64 (the reference's `fuse_score`). */
function fuseScore(m: CostMatrix, dets: STrack[]): CostMatrix {
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) {
      const k = i * m.cols + j;
      m.data[k] = 1 - f(1 - m.data[k]) * dets[j].score;
    }
  }
  return m;
}

function assign(m: CostMatrix, thresh: number, f32: boolean): Assignment {
  // A float32 matrix compares with the threshold rounded to float32 (NumPy 2 rules).
  return linearAssignment(m, f32 ? f(thresh) : thresh, f32 ? f(thresh + 1e-4) : thresh + 1e-4);
}

function joint(a: STrack[], b: STrack[]): STrack[] {
  const seen = new Set<number>();
  const out: STrack[] = [];
  for (const t of [...a, ...b]) {
    if (!seen.has(t.internalId)) {
      seen.add(t.internalId);
      out.push(t);
    }
  }
  return out;
}

function sub(a: STrack[], b: STrack[]): STrack[] {
  const drop = new Set(b.map((t) => t.internalId));
  // The reference keys a dict by id: a later duplicate overwrites the value in place.
  const byId = new Map<number, STrack>();
  for (const t of a) byId.set(t.internalId, t);
  return [...byId.values()].filter((t) => !drop.has(t.internalId));
}

function checkOptions(o: Required<ByteTrackOptions>): void {
  const bad = (what: string): never => {
    throw new TritonError('INVALID_OPTION', `Tracker option ${what}`);
  };
  const { trackActivationThreshold: t, minimumMatchingThreshold: m } = o;
  if (!(Number.isFinite(t) && t >= 0 && t <= 1))
    bad(`trackActivationThreshold must be a number from 0 to 1, got ${t}`);
  if (!(Number.isFinite(m) && m >= 0 && m <= 1))
    bad(`minimumMatchingThreshold must be a number from 0 to 1, got ${m}`);
  if (!(Number.isInteger(o.lostTrackBuffer) && o.lostTrackBuffer >= 0))
    bad(`lostTrackBuffer must be a whole number of frames >= 0, got ${o.lostTrackBuffer}`);
  if (!(Number.isFinite(o.frameRate) && o.frameRate > 0))
    bad(`frameRate must be a number above 0, got ${o.frameRate}`);
  if (!(Number.isInteger(o.minimumConsecutiveFrames) && o.minimumConsecutiveFrames >= 1))
    bad(`minimumConsecutiveFrames must be a whole number >= 1, got ${o.minimumConsecutiveFrames}`);
}

export class ByteTrack {
  readonly options: Required<ByteTrackOptions>;
  private frameId = 0;
  private readonly detThresh: number;
  private readonly maxTimeLost: number;
  private tracked: STrack[] = [];
  private lost: STrack[] = [];
  private removed: STrack[] = [];
  private nextInternal = 0;
  private nextExternal = 1;

  constructor(options: ByteTrackOptions = {}) {
    const o = { ...BYTETRACK_DEFAULTS };
    for (const [k, v] of Object.entries(options)) {
      if (v !== undefined) (o as Record<string, number>)[k] = v as number;
    }
    checkOptions(o);
    this.options = Object.freeze(o);
    this.detThresh = o.trackActivationThreshold + 0.1;
    this.maxTimeLost = Math.trunc((o.frameRate / 30.0) * o.lostTrackBuffer);
  }

  /** Frames seen since construction or the last reset. */
  get frame(): number {
    return this.frameId;
  }

  reset(): void {
    this.frameId = 0;
    this.nextInternal = 0;
    this.nextExternal = 1;
    this.tracked = [];
    this.lost = [];
    this.removed = [];
  }

  /**
   * Feeds one frame. Returns the input detections kept by the tracker, in input order, each
   * with its track id.
   */
  update(detections: readonly TrackInput[]): TrackedIndex[] {
    for (const [i, d] of detections.entries()) {
      const b = d?.box;
      if (
        !b ||
        ![b.x1, b.y1, b.x2, b.y2, d.score].every((x) => typeof x === 'number' && Number.isFinite(x))
      ) {
        throw new TritonError(
          'INVALID_INPUT',
          `Detection ${i} needs a numeric score and box {x1, y1, x2, y2}`,
        );
      }
    }
    const tracks = this.step(detections);
    if (tracks.length === 0) return [];
    const dets: Boxes = {
      list: detections.map((d) => [d.box.x1, d.box.y1, d.box.x2, d.box.y2]),
      f32: false,
    };
    const m = iouMatrix(dets, boxesOf(tracks));
    for (let k = 0; k < m.data.length; k++) m.data[k] = f(1 - m.data[k]);
    const { matches } = assign(m, 0.5, true);
    const byDet = new Map<number, STrack>();
    for (const [d, t] of matches) byDet.set(d, tracks[t]);
    const out: TrackedIndex[] = [];
    for (let i = 0; i < detections.length; i++) {
      const t = byDet.get(i);
      // A confirmed track may still lack its public id (minimumConsecutiveFrames > 1 on the
      // first frame): the reference drops its detection.
      if (!t || t.externalId === -1) continue;
      const mean = t.kf!.mean;
      out.push({
        index: i,
        trackId: t.externalId,
        age: this.frameId - t.startFrame + 1,
        velocity: { x: mean[4], y: mean[5] },
      });
    }
    return out;
  }

  /** The reference's update_with_tensors: returns the activated tracked tracks. */
  private step(input: readonly TrackInput[]): STrack[] {
    this.frameId += 1;
    const frameId = this.frameId;
    const thr = this.options.trackActivationThreshold;
    const activated: STrack[] = [];
    const refound: STrack[] = [];
    const lostNow: STrack[] = [];
    const removedNow: STrack[] = [];

    let high: STrack[] = [];
    const low: STrack[] = [];
    for (const d of input) {
      if (d.score > thr) high.push(new STrack(d.box, d.score));
      else if (d.score > 0.1 && d.score < thr) low.push(new STrack(d.box, d.score));
    }

    const unconfirmed: STrack[] = [];
    const confirmed: STrack[] = [];
    for (const t of this.tracked) (t.isActivated ? confirmed : unconfirmed).push(t);

    // First association: high-score detections against tracked + lost tracks.
    const pool = joint(confirmed, this.lost);
    for (const t of pool) if (t.state !== State.Tracked) t.kf!.mean[7] = 0;
    multiPredict(pool.map((t) => t.kf!));
    let a = assign(
      fuseScore(iouDistance(pool, high), high),
      this.options.minimumMatchingThreshold,
      false,
    );
    for (const [ti, di] of a.matches) {
      const t = pool[ti];
      if (t.state === State.Tracked) {
        this.updateTrack(t, high[di], frameId);
        activated.push(t);
      } else {
        this.reActivate(t, high[di], frameId);
        refound.push(t);
      }
    }
    const uHigh = a.unmatchedCols;

    // Second association: low-score detections against the still-unmatched tracked tracks.
    const rTracked = a.unmatchedRows.map((i) => pool[i]).filter((t) => t.state === State.Tracked);
    a = assign(iouDistance(rTracked, low), 0.5, true);
    for (const [ti, di] of a.matches) {
      const t = rTracked[ti];
      this.updateTrack(t, low[di], frameId);
      activated.push(t);
    }
    for (const ti of a.unmatchedRows) {
      const t = rTracked[ti];
      if (t.state !== State.Lost) {
        t.state = State.Lost;
        lostNow.push(t);
      }
    }

    // Tracks seen once so far: only high detections left over may continue them.
    high = uHigh.map((i) => high[i]);
    a = assign(fuseScore(iouDistance(unconfirmed, high), high), 0.7, false);
    for (const [ti, di] of a.matches) {
      this.updateTrack(unconfirmed[ti], high[di], frameId);
      activated.push(unconfirmed[ti]);
    }
    for (const ti of a.unmatchedRows) {
      unconfirmed[ti].state = State.Removed;
      removedNow.push(unconfirmed[ti]);
    }

    // New tracks.
    for (const di of a.unmatchedCols) {
      const t = high[di];
      if (t.score < this.detThresh) continue;
      this.activate(t, frameId);
      activated.push(t);
    }

    for (const t of this.lost) {
      if (frameId - t.frameId > this.maxTimeLost) {
        t.state = State.Removed;
        removedNow.push(t);
      }
    }

    this.tracked = this.tracked.filter((t) => t.state === State.Tracked);
    this.tracked = joint(this.tracked, activated);
    this.tracked = joint(this.tracked, refound);
    this.lost = sub(this.lost, this.tracked);
    this.lost.push(...lostNow);
    // The previous frame's removals: a track removed this frame is still matchable next frame.
    this.lost = sub(this.lost, this.removed);
    this.removed = removedNow;
    this.removeDuplicates();
    return this.tracked.filter((t) => t.isActivated);
  }

  private activate(t: STrack, frameId: number): void {
    t.internalId = this.nextInternal++;
    t.kf = initiate(t.xyah());
    t.trackletLen = 0;
    t.state = State.Tracked;
    if (frameId === 1) {
      t.isActivated = true;
      if (this.options.minimumConsecutiveFrames === 1) t.externalId = this.nextExternal++;
    }
    t.frameId = frameId;
    t.startFrame = frameId;
  }

  private reActivate(t: STrack, det: STrack, frameId: number): void {
    update(t.kf!, det.xyah());
    t.trackletLen = 0;
    t.state = State.Tracked;
    t.frameId = frameId;
    t.score = det.score;
  }

  private updateTrack(t: STrack, det: STrack, frameId: number): void {
    t.frameId = frameId;
    t.trackletLen += 1;
    update(t.kf!, det.xyah());
    t.state = State.Tracked;
    if (t.trackletLen === this.options.minimumConsecutiveFrames) {
      t.isActivated = true;
      if (t.externalId === -1) t.externalId = this.nextExternal++;
    }
    t.score = det.score;
  }

  /** A tracked and a lost track on the same spot (IoU > 0.95): keep the older one. */
  private removeDuplicates(): void {
    const a = this.tracked;
    const b = this.lost;
    if (a.length === 0 || b.length === 0) return;
    const d = iouDistance(a, b);
    const limit = f(0.05);
    const dropA = new Set<number>();
    const dropB = new Set<number>();
    for (let i = 0; i < a.length; i++) {
      for (let j = 0; j < b.length; j++) {
        if (!(d.data[i * b.length + j] < limit)) continue;
        const timeA = a[i].frameId - a[i].startFrame;
        const timeB = b[j].frameId - b[j].startFrame;
        if (timeA > timeB) dropB.add(j);
        else dropA.add(i);
      }
    }
    this.tracked = a.filter((_, i) => !dropA.has(i));
    this.lost = b.filter((_, j) => !dropB.has(j));
  }
}
