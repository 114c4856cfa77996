/**
 * Tracking for several cameras at once: one ByteTrack, set of counting lines and set of
 * zones per stream key (the Node-RED `msg.topic`), with crossing and zone events.
 */
import { TritonError } from '../../client/errors';
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

class Stream {
  readonly tracker: ByteTrack;
  readonly lines: LineZone[];
  readonly zones: PolygonZone[];
  /** Tracks inside each zone after the last frame, with their class. */
  readonly inside: Map<number, { classId: number; label?: string }>[];
  /** Labels seen per class id, for per-class counts. */
  readonly names = new Map<number, string>();

  constructor(config: TrackerConfig) {
    this.tracker = new ByteTrack(config);
    this.lines = (config.lines ?? []).map(
      (l) =>
        new LineZone(l.start, l.end, {
          triggeringAnchors: l.triggeringAnchors,
          minimumCrossingThreshold: l.minimumCrossingThreshold,
        }),
    );
    this.zones = (config.zones ?? []).map(
      (z) => new PolygonZone(z.polygon, { triggeringAnchors: z.triggeringAnchors }),
    );
    this.inside = this.zones.map(() => new Map());
  }
}

function perClass(counts: Map<number, number>, names: Map<number, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [c, n] of counts) out[names.get(c) ?? String(c)] = n;
  return out;
}

export class MultiStreamTracker {
  private readonly streams = new Map<string, Stream>();
  private readonly lineNames: string[];
  private readonly zoneNames: string[];

  constructor(readonly config: TrackerConfig = {}) {
    // Built once here so that a bad configuration fails at start, not on the first frame.
    new Stream(config);
    this.lineNames = (config.lines ?? []).map((l, i) => l.name ?? `line${i + 1}`);
    this.zoneNames = (config.zones ?? []).map((z, i) => z.name ?? `zone${i + 1}`);
  }

  /** Stream keys with state. */
  keys(): string[] {
    return [...this.streams.keys()];
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
    if (!s) this.streams.set(key, (s = new Stream(this.config)));
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
    const lines: LineCount[] = s.lines.map((line, li) => {
      // The reference returns early on an empty frame; so do we.
      if (boxes.length > 0) {
        const { crossedIn, crossedOut } = line.trigger(boxes);
        for (const [i, d] of out.entries()) {
          if (crossedIn[i] || crossedOut[i]) {
            events.push({
              type: 'crossed',
              name: this.lineNames[li],
              index: li,
              direction: crossedIn[i] ? 'in' : 'out',
              ...base(d),
            });
          }
        }
      }
      return {
        name: this.lineNames[li],
        in: line.inCount,
        out: line.outCount,
        inPerClass: perClass(line.inPerClass, s.names),
        outPerClass: perClass(line.outPerClass, s.names),
      };
    });
    const zones: ZoneCount[] = s.zones.map((zone, zi) => {
      const inside = zone.trigger(boxes);
      const before = s.inside[zi];
      const now = new Map<number, { classId: number; label?: string }>();
      for (const [i, d] of out.entries()) {
        if (!inside[i]) continue;
        now.set(d.trackId, { classId: d.classId, label: d.label });
        if (!before.has(d.trackId)) {
          events.push({ type: 'entered', name: this.zoneNames[zi], index: zi, ...base(d) });
        }
      }
      for (const [trackId, c] of before) {
        if (now.has(trackId)) continue;
        events.push({
          type: 'left',
          name: this.zoneNames[zi],
          index: zi,
          trackId,
          classId: c.classId,
          ...(c.label !== undefined ? { label: c.label } : {}),
          frame,
          stream: key,
          ...(time !== undefined ? { time } : {}),
        });
      }
      s.inside[zi] = now;
      return {
        name: this.zoneNames[zi],
        count: zone.currentCount,
        perClass: perClass(zone.countPerClass, s.names),
      };
    });
    return { stream: key, frame, detections: out, lines, zones, events };
  }
}
