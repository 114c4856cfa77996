/**
 * Tracking for several cameras at once: one ByteTrack, set of counting lines and set of
 * zones per stream key (the Node-RED `msg.topic`), with crossing and zone events.
 */
import { TritonError } from '../../protocol/errors';
import type { Box } from '../types';
import { ByteTrack, type ByteTrackOptions } from './bytetrack';
import { LineZone, PolygonZone, type Anchor, type Point, type TrackedBox } from './zones';

export interface LineSpec {
  start: Point;
  end: Point;
  /** Shown in events and counts (default: `line1`, `line2`, ...). */
  name?: string;
  triggeringAnchors?: readonly Anchor[];
  minimumCrossingThreshold?: number;
}

export interface ZoneSpec {
  polygon: Point[];
  /** Shown in events and counts (default: `zone1`, `zone2`, ...). */
  name?: string;
  triggeringAnchors?: readonly Anchor[];
}

export interface TrackerConfig extends ByteTrackOptions {
  lines?: LineSpec[];
  zones?: ZoneSpec[];
}

/** What the tracker reads from a detection; other fields pass through unchanged. */
export interface TrackableDetection {
  label?: string;
  classId: number;
  score: number;
  box: Box;
}

export type Tracked<D> = D & {
  trackId: number;
  /** Frames since the track started, counting this one. */
  trackAge: number;
  /** Box-centre velocity from the Kalman filter, pixels per frame. */
  velocity: { x: number; y: number };
};

export interface LineCount {
  name: string;
  in: number;
  out: number;
  /** Keyed by label (class id when a detection has no label). */
  inPerClass: Record<string, number>;
  outPerClass: Record<string, number>;
}

export interface ZoneCount {
  name: string;
  count: number;
  perClass: Record<string, number>;
}

export interface TrackEvent {
  type: 'crossed' | 'entered' | 'left';
  /** Line name for `crossed`, zone name otherwise. */
  name: string;
  /** Index of the line or zone in the configuration. */
  index: number;
  /** For `crossed`: `in` is left of start→end (image y down), `out` the other way. */
  direction?: 'in' | 'out';
  trackId: number;
  classId: number;
  label?: string;
  /** Stream frame number (1 = first frame after a reset). */
  frame: number;
  /** Milliseconds since the epoch, when given to update(). */
  time?: number;
  stream: string;
}

export interface TrackFrame<D> {
  stream: string;
  frame: number;
  detections: Tracked<D>[];
  lines: LineCount[];
  zones: ZoneCount[];
  events: TrackEvent[];
}

/** Lines and zones of one stream (replaceable without touching its tracks). */
class Geometry {
  readonly lines: LineZone[];
  readonly zones: PolygonZone[];
  readonly lineNames: string[];
  readonly zoneNames: string[];
  /** Tracks inside each zone after the last frame, with their class. */
  readonly inside: Map<number, { classId: number; label?: string }>[];

  constructor(lines: readonly LineSpec[] = [], zones: readonly ZoneSpec[] = []) {
    if (!Array.isArray(lines) || !Array.isArray(zones)) {
      throw new TritonError('INVALID_OPTION', 'lines and zones must be arrays');
    }
    this.lines = lines.map(
      (l) =>
        new LineZone(l?.start, l?.end, {
          triggeringAnchors: l?.triggeringAnchors,
          minimumCrossingThreshold: l?.minimumCrossingThreshold,
        }),
    );
    this.zones = zones.map(
      (z) => new PolygonZone(z?.polygon, { triggeringAnchors: z?.triggeringAnchors }),
    );
    this.lineNames = lines.map((l, i) => l?.name ?? `line${i + 1}`);
    this.zoneNames = zones.map((z, i) => z?.name ?? `zone${i + 1}`);
    this.inside = this.zones.map(() => new Map());
  }
}

class Stream {
  readonly tracker: ByteTrack;
  geometry: Geometry;
  /** Labels seen per class id, for per-class counts. */
  readonly names = new Map<number, string>();

  constructor(config: TrackerConfig, geometry: Geometry) {
    this.tracker = new ByteTrack(config);
    this.geometry = geometry;
  }
}

function perClass(counts: Map<number, number>, names: Map<number, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [c, n] of counts) out[names.get(c) ?? String(c)] = n;
  return out;
}

export class MultiStreamTracker {
  private readonly streams = new Map<string, Stream>();

  constructor(readonly config: TrackerConfig = {}) {
    // Built once here so that a bad configuration fails at start, not on the first frame.
    new Stream(config, new Geometry(config.lines, config.zones));
  }

  /** Stream keys with state. */
  keys(): string[] {
    return [...this.streams.keys()];
  }

  /**
   * Replaces the lines and zones of one stream (counts start again from zero; its tracks and
   * ids are kept). Throws INVALID_OPTION on bad geometry, leaving the old one in place.
   */
  setGeometry(key: string, lines: readonly LineSpec[] = [], zones: readonly ZoneSpec[] = []): void {
    const g = new Geometry(lines, zones);
    const s = this.streams.get(key);
    if (s) s.geometry = g;
    else this.streams.set(key, new Stream(this.config, g));
  }

  /** Forgets one stream (its tracks, ids and counts), or all of them. */
  reset(key?: string): void {
    if (key === undefined) this.streams.clear();
    else this.streams.delete(key);
  }

  update<D extends TrackableDetection>(
    key: string,
    detections: readonly D[],
    time?: number,
  ): TrackFrame<D> {
    if (!Array.isArray(detections)) {
      throw new TritonError('INVALID_INPUT', 'Tracking needs an array of detections');
    }
    for (const [i, d] of detections.entries()) {
      if (!d || typeof d.classId !== 'number' || !Number.isFinite(d.classId)) {
        throw new TritonError('INVALID_INPUT', `Detection ${i} needs a numeric classId`);
      }
    }
    let s = this.streams.get(key);
    if (!s) {
      s = new Stream(this.config, new Geometry(this.config.lines, this.config.zones));
      this.streams.set(key, s);
    }
    const g = s.geometry;
    const kept = s.tracker.update(detections);
    const frame = s.tracker.frame;
    const out: Tracked<D>[] = kept.map((k) => ({
      ...detections[k.index],
      trackId: k.trackId,
      trackAge: k.age,
      velocity: k.velocity,
    }));
    for (const d of out) if (d.label !== undefined) s.names.set(d.classId, d.label);
    const boxes: TrackedBox[] = out.map((d) => ({
      box: d.box,
      classId: d.classId,
      trackId: d.trackId,
    }));
    const events: TrackEvent[] = [];
    const base = (
      d: Tracked<D>,
    ): Pick<TrackEvent, 'trackId' | 'classId' | 'label' | 'frame' | 'stream' | 'time'> => ({
      trackId: d.trackId,
      classId: d.classId,
      ...(d.label !== undefined ? { label: d.label } : {}),
      frame,
      stream: key,
      ...(time !== undefined ? { time } : {}),
    });
    const lines: LineCount[] = g.lines.map((line, li) => {
      // The reference returns early on an empty frame; so do we.
      if (boxes.length > 0) {
        const { crossedIn, crossedOut } = line.trigger(boxes);
        for (const [i, d] of out.entries()) {
          if (crossedIn[i] || crossedOut[i]) {
            events.push({
              type: 'crossed',
              name: g.lineNames[li],
              index: li,
              direction: crossedIn[i] ? 'in' : 'out',
              ...base(d),
            });
          }
        }
      }
      return {
        name: g.lineNames[li],
        in: line.inCount,
        out: line.outCount,
        inPerClass: perClass(line.inPerClass, s.names),
        outPerClass: perClass(line.outPerClass, s.names),
      };
    });
    const zones: ZoneCount[] = g.zones.map((zone, zi) => {
      const inside = zone.trigger(boxes);
      const before = g.inside[zi];
      const now = new Map<number, { classId: number; label?: string }>();
      for (const [i, d] of out.entries()) {
        if (!inside[i]) continue;
        now.set(d.trackId, { classId: d.classId, label: d.label });
        if (!before.has(d.trackId)) {
          events.push({ type: 'entered', name: g.zoneNames[zi], index: zi, ...base(d) });
        }
      }
      for (const [trackId, c] of before) {
        if (now.has(trackId)) continue;
        events.push({
          type: 'left',
          name: g.zoneNames[zi],
          index: zi,
          trackId,
          classId: c.classId,
          ...(c.label !== undefined ? { label: c.label } : {}),
          frame,
          stream: key,
          ...(time !== undefined ? { time } : {}),
        });
      }
      g.inside[zi] = now;
      return {
        name: g.zoneNames[zi],
        count: zone.currentCount,
        perClass: perClass(zone.countPerClass, s.names),
      };
    });
    return { stream: key, frame, detections: out, lines, zones, events };
  }
}
