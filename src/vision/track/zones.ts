/**
 * Counting lines and polygon zones with supervision 0.29.1's rules (LineZone, PolygonZone),
 * which set what users of counting expect.
 *
 * LineZone: an object's side is decided from its four box corners; only objects whose corners
 * all lie between the two perpendiculars through the line's ends, and all on one side, count.
 * Each (track, class) keeps its last two sides; a change of side is a crossing: to the left of
 * start→end (negative cross product, y pointing down) is `in`, to the right is `out`. History
 * is never forgotten, so a crossing across an occlusion still counts.
 *
 * PolygonZone: an object is inside when its bottom-centre anchor, rounded up to whole pixels,
 * falls on a pixel of the polygon as OpenCV fills it (integer vertices, truncated).
 */
import { TritonError } from '../../protocol/errors';
import type { Box } from '../types';
import { fillPoly } from './fillpoly';

export interface Point {
  x: number;
  y: number;
}

export type Anchor =
  | 'center'
  | 'center_left'
  | 'center_right'
  | 'top_center'
  | 'top_left'
  | 'top_right'
  | 'bottom_left'
  | 'bottom_center'
  | 'bottom_right';

export const LINE_ANCHORS: readonly Anchor[] = Object.freeze([
  'top_left',
  'top_right',
  'bottom_left',
  'bottom_right',
]);
export const ZONE_ANCHORS: readonly Anchor[] = Object.freeze(['bottom_center']);

export function anchorPoint(b: Box, anchor: Anchor): Point {
  switch (anchor) {
    case 'center':
      return { x: (b.x1 + b.x2) / 2, y: (b.y1 + b.y2) / 2 };
    case 'center_left':
      return { x: b.x1, y: (b.y1 + b.y2) / 2 };
    case 'center_right':
      return { x: b.x2, y: (b.y1 + b.y2) / 2 };
    case 'top_center':
      return { x: (b.x1 + b.x2) / 2, y: b.y1 };
    case 'top_left':
      return { x: b.x1, y: b.y1 };
    case 'top_right':
      return { x: b.x2, y: b.y1 };
    case 'bottom_left':
      return { x: b.x1, y: b.y2 };
    case 'bottom_center':
      return { x: (b.x1 + b.x2) / 2, y: b.y2 };
    case 'bottom_right':
      return { x: b.x2, y: b.y2 };
  }
}

/** What lines and zones need of a tracked detection. */
export interface TrackedBox {
  box: Box;
  classId: number;
  trackId: number;
}

interface Segment {
  start: Point;
  end: Point;
}

/** (end − start) × (p − start), as the reference computes it. */
function cross(v: Segment, p: Point): number {
  const vx = v.end.x - v.start.x;
  const vy = v.end.y - v.start.y;
  return vx * (p.y - v.start.y) - vy * (p.x - v.start.x);
}

const ANCHOR_NAMES: Record<Anchor, true> = {
  center: true,
  center_left: true,
  center_right: true,
  top_center: true,
  top_left: true,
  top_right: true,
  bottom_left: true,
  bottom_center: true,
  bottom_right: true,
};

function checkAnchors(anchors: readonly Anchor[], what: string): void {
  if (anchors.length === 0) {
    throw new TritonError('INVALID_OPTION', `${what} needs at least one triggering anchor`);
  }
  for (const a of anchors) {
    if (!Object.prototype.hasOwnProperty.call(ANCHOR_NAMES, a)) {
      throw new TritonError('INVALID_OPTION', `${what}: unknown anchor '${String(a)}'`);
    }
  }
}

function finitePoint(p: Point | undefined, what: string): Point {
  if (!p || !Number.isFinite(p.x) || !Number.isFinite(p.y)) {
    throw new TritonError('INVALID_OPTION', `${what} needs finite x and y numbers`);
  }
  return { x: p.x, y: p.y };
}

export interface LineZoneOptions {
  /** Box anchors that must all change side (default: the four corners). */
  triggeringAnchors?: readonly Anchor[];
  /** Frames an object must be seen on the new side before it counts (default 1). */
  minimumCrossingThreshold?: number;
}

export interface LineCrossings {
  /** Per input detection: it crossed in / out on this frame. */
  crossedIn: boolean[];
  crossedOut: boolean[];
}

export class LineZone {
  readonly start: Point;
  readonly end: Point;
  readonly anchors: readonly Anchor[];
  private readonly limits: [Segment, Segment];
  private readonly historyLength: number;
  private readonly history = new Map<string, boolean[]>();
  readonly inPerClass = new Map<number, number>();
  readonly outPerClass = new Map<number, number>();

  constructor(start: Point, end: Point, options: LineZoneOptions = {}) {
    this.start = finitePoint(start, 'A line start');
    this.end = finitePoint(end, 'A line end');
    this.anchors = [...(options.triggeringAnchors ?? LINE_ANCHORS)];
    checkAnchors(this.anchors, 'A line');
    const min = options.minimumCrossingThreshold ?? 1;
    if (!Number.isInteger(min) || min < 1) {
      throw new TritonError(
        'INVALID_OPTION',
        `minimumCrossingThreshold must be a whole number >= 1, got ${min}`,
      );
    }
    this.historyLength = Math.max(2, min + 1);
    const dx = this.end.x - this.start.x;
    const dy = this.end.y - this.start.y;
    const magnitude = Math.sqrt(dx ** 2 + dy ** 2);
    if (magnitude === 0) {
      throw new TritonError('INVALID_OPTION', 'A line needs two different end points');
    }
    const px = -(dy / magnitude);
    const py = dx / magnitude;
    this.limits = [
      { start: this.start, end: { x: this.start.x + px, y: this.start.y + py } },
      { start: this.end, end: { x: this.end.x - px, y: this.end.y - py } },
    ];
  }

  get inCount(): number {
    let n = 0;
    for (const v of this.inPerClass.values()) n += v;
    return n;
  }

  get outCount(): number {
    let n = 0;
    for (const v of this.outPerClass.values()) n += v;
    return n;
  }

  reset(): void {
    this.history.clear();
    this.inPerClass.clear();
    this.outPerClass.clear();
  }

  trigger(detections: readonly TrackedBox[]): LineCrossings {
    const crossedIn = detections.map(() => false);
    const crossedOut = detections.map(() => false);
    const line: Segment = { start: this.start, end: this.end };
    for (const [i, d] of detections.entries()) {
      let inLimits = true;
      let anyLeft = false;
      let anyRight = false;
      for (const a of this.anchors) {
        const p = anchorPoint(d.box, a);
        if (cross(this.limits[0], p) > 0 !== cross(this.limits[1], p) > 0) inLimits = false;
        if (cross(line, p) < 0) anyLeft = true;
        else anyRight = true;
      }
      if (!inLimits || (anyLeft && anyRight)) continue;
      const key = `${d.trackId}:${d.classId}`;
      let h = this.history.get(key);
      if (!h) this.history.set(key, (h = []));
      h.push(anyLeft);
      if (h.length > this.historyLength) h.shift();
      if (h.length < this.historyLength) continue;
      const oldest = h[0];
      if (h.filter((s) => s === oldest).length > 1) continue;
      const counts = anyLeft ? this.inPerClass : this.outPerClass;
      counts.set(d.classId, (counts.get(d.classId) ?? 0) + 1);
      (anyLeft ? crossedIn : crossedOut)[i] = true;
    }
    return { crossedIn, crossedOut };
  }
}

export interface PolygonZoneOptions {
  /** Box anchors that must all be inside (default: bottom centre). */
  triggeringAnchors?: readonly Anchor[];
}

export class PolygonZone {
  readonly polygon: readonly Point[];
  readonly anchors: readonly Anchor[];
  private readonly mask: Uint8Array;
  private readonly maskWidth: number;
  private readonly maskHeight: number;
  /** Objects inside after the last trigger. */
  currentCount = 0;
  /** Per class, after the last trigger. */
  readonly countPerClass = new Map<number, number>();

  constructor(polygon: readonly Point[], options: PolygonZoneOptions = {}) {
    if (!Array.isArray(polygon) || polygon.length < 3) {
      throw new TritonError('INVALID_OPTION', 'A zone needs a polygon of at least 3 points');
    }
    this.polygon = polygon.map((p, i) => finitePoint(p, `Zone point ${i}`));
    this.anchors = [...(options.triggeringAnchors ?? ZONE_ANCHORS)];
    checkAnchors(this.anchors, 'A zone');
    // The reference's mask spans (0, 0) to the largest coordinates + 2; vertices truncate.
    this.maskWidth = Math.trunc(Math.max(...this.polygon.map((p) => p.x)) + 2);
    this.maskHeight = Math.trunc(Math.max(...this.polygon.map((p) => p.y)) + 2);
    if (this.maskWidth <= 0 || this.maskHeight <= 0) {
      throw new TritonError('INVALID_OPTION', 'A zone must reach into the image (x >= 0, y >= 0)');
    }
    if (this.maskWidth * this.maskHeight > 100e6) {
      throw new TritonError('INVALID_OPTION', 'A zone reaches too far (over 100 megapixels)');
    }
    this.mask = fillPoly(
      this.polygon.map((p) => [Math.trunc(p.x), Math.trunc(p.y)] as const),
      this.maskWidth,
      this.maskHeight,
    );
  }

  /** Whether a pixel of the zone's mask is set (false outside the mask). */
  contains(x: number, y: number): boolean {
    return (
      Number.isInteger(x) &&
      Number.isInteger(y) &&
      x >= 0 &&
      y >= 0 &&
      x < this.maskWidth &&
      y < this.maskHeight &&
      this.mask[y * this.maskWidth + x] === 1
    );
  }

  /** Per input detection: inside the zone. Updates the current counts. */
  trigger(detections: readonly TrackedBox[]): boolean[] {
    const inside = detections.map((d) =>
      this.anchors.every((a) => {
        const p = anchorPoint(d.box, a);
        return this.contains(Math.ceil(p.x), Math.ceil(p.y));
      }),
    );
    this.currentCount = 0;
    this.countPerClass.clear();
    for (const [i, d] of detections.entries()) {
      if (!inside[i]) continue;
      this.currentCount++;
      this.countPerClass.set(d.classId, (this.countPerClass.get(d.classId) ?? 0) + 1);
    }
    return inside;
  }
}
