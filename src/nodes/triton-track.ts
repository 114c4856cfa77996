/**
 * triton-track: stable track ids on detect / segment results, counting lines and zones, with
 * events on a second output; optional per-detection JPEG crops, one message per detection for
 * a second stage (joinable), and an annotated frame. One node serves several cameras, keyed by
 * `msg.topic` (or another property); `msg.reset` forgets a stream.
 *
 * Runtime only: not yet registered in package.json (its editor comes with the node editor
 * rebuild). Stream modes ("latest frame only", "every Nth frame") belong to that step too.
 */
import { TritonError, toTritonError } from '../client/errors';
import { BYTETRACK_DEFAULTS } from '../vision/track/bytetrack';
import { annotateTracking } from '../vision/track/annotate';
import { cropDetections, splitMessages } from '../vision/track/crops';
import { parseGeometry } from '../vision/track/geometry';
import {
  MultiStreamTracker,
  type LineSpec,
  type TrackableDetection,
  type TrackerConfig,
  type ZoneSpec,
} from '../vision/track/streams';
import type { ImageInput } from '../vision/types';
import type {
  DoneFunction,
  Node,
  NodeAPI,
  NodeDef,
  NodeMessage,
  NodeStatus,
  SendFunction,
} from './types';

export interface TrackNodeConfig {
  trackThreshold: number;
  matchThreshold: number;
  lostBuffer: number;
  frameRate: number;
  lines: LineSpec[];
  zones: ZoneSpec[];
  /** Message property naming the stream (default `topic`). */
  streamProperty: string;
  crops: boolean;
  cropPadding: number;
  cropMinSize: number;
  /** One message per detection on output 1 (msg.parts set for a join node). */
  split: boolean;
  annotate: boolean;
}

function numberOr(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === '' || value === null) return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) {
    throw new TritonError('INVALID_CONFIG', `${name} must be a number, got '${String(value)}'`);
  }
  return n;
}

/** Lines / zones from the editor: an array, or text with one `x1,y1,x2,y2,...` per line. */
function geometryList(value: unknown): unknown[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') {
    return value
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  throw new TritonError('INVALID_CONFIG', 'lines and zones must be lists');
}

/** Reads and checks the node's settings (defaults: supervision 0.29.1's ByteTrack). */
export function trackNodeSettings(def: Record<string, unknown>): TrackNodeConfig {
  const { lines, zones } = parseGeometry({
    lines: geometryList(def.lines),
    zones: geometryList(def.zones),
  });
  const config: TrackNodeConfig = {
    trackThreshold: numberOr(
      def.trackThreshold,
      BYTETRACK_DEFAULTS.trackActivationThreshold,
      'Track threshold',
    ),
    matchThreshold: numberOr(
      def.matchThreshold,
      BYTETRACK_DEFAULTS.minimumMatchingThreshold,
      'Match threshold',
    ),
    lostBuffer: numberOr(def.lostBuffer, BYTETRACK_DEFAULTS.lostTrackBuffer, 'Lost-track buffer'),
    frameRate: numberOr(def.frameRate, BYTETRACK_DEFAULTS.frameRate, 'Frame rate'),
    lines,
    zones,
    streamProperty:
      typeof def.streamProperty === 'string' && def.streamProperty.trim() !== ''
        ? def.streamProperty.trim()
        : 'topic',
    crops: def.crops === true,
    cropPadding: numberOr(def.cropPadding, 0, 'Crop padding'),
    cropMinSize: numberOr(def.cropMinSize, 1, 'Crop minimum size'),
    split: def.split === true,
    annotate: def.annotate === true,
  };
  // Validates thresholds and geometry now, at deploy.
  new MultiStreamTracker(trackerConfig(config));
  return config;
}

function trackerConfig(c: TrackNodeConfig): TrackerConfig {
  return {
    trackActivationThreshold: c.trackThreshold,
    minimumMatchingThreshold: c.matchThreshold,
    lostTrackBuffer: c.lostBuffer,
    frameRate: c.frameRate,
    lines: c.lines,
    zones: c.zones,
  };
}

interface Payload {
  detections: TrackableDetection[];
  [k: string]: unknown;
}

/** The node's behaviour, testable without the runtime's constructor glue. */
export class TrackController {
  readonly tracker: MultiStreamTracker;
  /** The per-message geometry applied to each stream (and its JSON: repeats keep the counts). */
  private readonly applied = new Map<
    string,
    { json: string; lines: LineSpec[]; zones: ZoneSpec[] }
  >();
  private frames = 0;

  constructor(
    private readonly RED: NodeAPI,
    private readonly node: Node,
    readonly config: TrackNodeConfig,
  ) {
    this.tracker = new MultiStreamTracker(trackerConfig(config));
  }

  private status(s: NodeStatus): void {
    this.node.status(s);
  }

  private text(key: string, subs?: Record<string, unknown>): string {
    return this.RED._(`triton-track.${key}`, subs);
  }

  async input(msg: NodeMessage, send: SendFunction, done: DoneFunction): Promise<void> {
    try {
      const raw = this.RED.util.getMessageProperty(msg, this.config.streamProperty);
      const key = raw === undefined || raw === null ? '' : String(raw);
      if (msg.reset !== undefined && msg.reset !== false) {
        this.tracker.reset(key);
        this.applied.delete(key);
        if (!hasDetections(msg.payload)) {
          this.status({
            fill: 'grey',
            shape: 'ring',
            text: this.text('status.reset', { stream: key }),
          });
          done();
          return;
        }
      }
      if (!hasDetections(msg.payload)) {
        throw new TritonError(
          'INVALID_INPUT',
          'msg.payload needs a detections array: wire a triton-detect or triton-segment node in front',
        );
      }
      const payload = msg.payload as Payload;
      const triton = (msg.triton ?? {}) as { lines?: unknown; zones?: unknown };
      const geometry = this.messageGeometry(key, triton) ?? this.applied.get(key);
      const lines = geometry?.lines ?? this.config.lines;
      const zones = geometry?.zones ?? this.config.zones;
      const frame = this.tracker.update(key, payload.detections, Date.now());
      this.frames++;

      const image = msg.image as ImageInput | undefined;
      let crops: Buffer[] | undefined;
      if (this.config.crops || this.config.annotate) {
        if (image === undefined) {
          throw new TritonError(
            'INVALID_INPUT',
            'Crops and annotation need the original image in msg.image: turn on "keep image" in the detect node',
          );
        }
      }
      if (this.config.crops && frame.detections.length > 0) {
        crops = (
          await cropDetections(image!, frame.detections, {
            padding: this.config.cropPadding,
            minSize: this.config.cropMinSize,
          })
        ).map((c) => c.jpeg);
      }
      const detections = frame.detections.map((d, i) => (crops ? { ...d, crop: crops[i] } : d));
      msg.payload = {
        ...payload,
        detections,
        lines: frame.lines,
        zones: frame.zones,
        tracking: { stream: frame.stream, frame: frame.frame },
      };
      if (this.config.annotate) {
        msg.annotated = await annotateTracking(image!, frame, { lines, zones });
      }
      const events: NodeMessage[] = frame.events.map((e) => ({
        topic: key,
        payload: e,
      }));
      const first: NodeMessage | NodeMessage[] = this.config.split
        ? (splitMessages(msg, crops ?? detections, (i) => ({
            detection: detections[i],
          })) as NodeMessage[])
        : msg;
      send([first, events] as never);
      const counts = frame.lines.map((l) => `${l.in}/${l.out}`).join(' ');
      const inside = frame.zones.map((z) => z.count).join(' ');
      this.status({
        fill: 'green',
        shape: 'dot',
        text: this.text('status.tracking', {
          tracks: frame.detections.length,
          lines: counts,
          zones: inside,
        }),
      });
      done();
    } catch (err) {
      const e = toTritonError(err, 'INVALID_INPUT');
      this.status({ fill: 'red', shape: 'ring', text: this.text(`errors.${e.code}`) });
      done(e);
    }
  }

  /** msg.triton.lines / zones: applied to the stream when they differ from the last ones. */
  private messageGeometry(
    key: string,
    triton: { lines?: unknown; zones?: unknown },
  ): { lines: LineSpec[]; zones: ZoneSpec[] } | undefined {
    if (triton.lines === undefined && triton.zones === undefined) return undefined;
    const g = parseGeometry({
      lines: triton.lines ?? this.config.lines,
      zones: triton.zones ?? this.config.zones,
    });
    const json = JSON.stringify(g);
    if (this.applied.get(key)?.json !== json) {
      this.tracker.setGeometry(key, g.lines, g.zones);
      this.applied.set(key, { json, ...g });
    }
    return g;
  }
}

function hasDetections(p: unknown): boolean {
  return !!p && typeof p === 'object' && Array.isArray((p as Payload).detections);
}

export default function tritonTrack(RED: NodeAPI): void {
  RED.nodes.registerType('triton-track', function (this: Node, def: NodeDef) {
    RED.nodes.createNode(this, def);
    let config: TrackNodeConfig;
    try {
      config = trackNodeSettings(def);
    } catch (e) {
      const err = toTritonError(e, 'INVALID_CONFIG');
      this.error(err);
      this.status({ fill: 'red', shape: 'ring', text: RED._(`triton-track.errors.${err.code}`) });
      this.on('input', (_msg, _send, done) => done(err));
      return;
    }
    const controller = new TrackController(RED, this, config);
    this.on('input', (msg, send, done) => {
      void controller.input(msg, send, done);
    });
  });
}
