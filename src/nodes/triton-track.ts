/**
 * triton-track: stable track ids on detect / segment results, counting lines and zones, with
 * events on a second output; optional per-detection JPEG crops, one message per detection for
 * a second stage (joinable), and an annotated frame. One node serves several cameras, keyed by
 * `msg.topic` (or another property); `msg.reset` forgets a stream.
 *
 * Its options (defaults, ranges, sentences) are TRACK_OPTIONS in src/shared/options.ts; the
 * editor is src/editor (forms.ts trackForm, browser/track.ts).
 */
import { TritonError, toTritonError } from '../protocol/errors';
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
import { CONFIG_VERSION, TRACK_OPTIONS, check, toNumber } from '../shared/options';
import { boolField } from './config';
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

type TrackField = keyof typeof TRACK_OPTIONS;

/**
 * One saved value checked against its rule in src/shared/options.ts (the editor's rule, with
 * its sentence); missing values take the schema's default, as a flow saved before the field
 * existed expects.
 */
function field(def: Record<string, unknown>, name: TrackField): unknown {
  const rule = TRACK_OPTIONS[name];
  const value = def[name];
  if (value === undefined || value === null) return rule.default;
  const problem = check(TRACK_OPTIONS, name, value);
  if (problem) {
    throw new TritonError('INVALID_CONFIG', `${problem}: fix it in the node's settings`);
  }
  return rule.kind === 'number' ? toNumber(value) : value;
}

/** Lines / zones from the editor: text with one `x1,y1,x2,y2,...` per row, or an array. */
function geometryList(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return String(value)
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Reads and checks the node's settings (defaults: supervision 0.29.1's ByteTrack). */
export function trackNodeSettings(def: Record<string, unknown>): TrackNodeConfig {
  const version = Number(def.version ?? CONFIG_VERSION);
  if (Number.isFinite(version) && version > CONFIG_VERSION) {
    throw new TritonError(
      'INVALID_CONFIG',
      `This triton-track node was saved by a newer release (config version ${String(def.version)}); ` +
        'update node-red-contrib-triton-vision',
    );
  }
  const text = (name: 'lines' | 'zones'): unknown =>
    Array.isArray(def[name]) ? def[name] : field(def, name);
  let geometry: { lines: LineSpec[]; zones: ZoneSpec[] };
  try {
    geometry = parseGeometry({
      lines: geometryList(text('lines')),
      zones: geometryList(text('zones')),
    });
  } catch (e) {
    const err = toTritonError(e, 'INVALID_CONFIG');
    throw new TritonError('INVALID_CONFIG', `${err.message}: fix it in the node's settings`);
  }
  const streamProperty = String(field(def, 'streamProperty'))
    .trim()
    .replace(/^msg\./, '');
  const config: TrackNodeConfig = {
    trackThreshold: field(def, 'trackThreshold') as number,
    matchThreshold: field(def, 'matchThreshold') as number,
    lostBuffer: field(def, 'lostBuffer') as number,
    frameRate: field(def, 'frameRate') as number,
    ...geometry,
    streamProperty,
    crops: boolField(def.crops),
    cropPadding: field(def, 'cropPadding') as number,
    cropMinSize: field(def, 'cropMinSize') as number,
    split: boolField(def.split),
    annotate: boolField(def.annotate),
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
      const parts = [this.text('status.tracking', { tracks: frame.detections.length })];
      if (frame.lines.length > 0) {
        const counts = frame.lines.map((l) => `${l.in}/${l.out}`).join(' ');
        parts.push(this.text('status.lines', { counts }));
      }
      if (frame.zones.length > 0) {
        const counts = frame.zones.map((z) => z.count).join(' ');
        parts.push(this.text('status.zones', { counts }));
      }
      this.status({ fill: 'green', shape: 'dot', text: parts.join(' · ') });
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
