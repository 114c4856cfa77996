/**
 * `triton-vision track`: ByteTrack with counting lines and zones over a JSON-lines stream of
 * detect payloads (what `triton-vision detect --json` prints), one frame per line, for offline
 * analysis and for comparing with supervision.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import { isTritonError, TritonError } from './protocol/errors';
import { BYTETRACK_DEFAULTS } from './vision/track/bytetrack';
import {
  MultiStreamTracker,
  type TrackableDetection,
  type TrackerConfig,
} from './vision/track/streams';
import { parseLine, parseZone } from './vision/track/geometry';

const D = BYTETRACK_DEFAULTS;

export const TRACK_USAGE = `Usage: triton-vision track [--line x1,y1,x2,y2]... [--zone x1,y1,x2,y2,x3,y3,...]...
         [options] [FILE.jsonl]

Reads one detect payload per line (stdin when no FILE):
  {"detections":[{"label","classId","score","box":{"x1","y1","x2","y2"}}],"image":{"width","height"}}
and writes one line per frame: the payload with "detections" replaced by the tracked ones (each
with an integer "trackId"), plus "lines":[{"in","out"}] (cumulative, one per --line) and
"zones":[{"count"}] (current, one per --zone). Defaults are supervision 0.29.1's ByteTrack.

  --line x1,y1,x2,y2        a counting line (repeatable); "in" is the left of start→end
  --zone x1,y1,x2,y2,...    a polygon zone, 3 points or more (repeatable)
  --track-threshold X       detections above this start and continue tracks (default ${D.trackActivationThreshold})
  --match-threshold X       largest 1 - IoU*score accepted when matching (default ${D.minimumMatchingThreshold})
  --lost-buffer N           frames a lost track is kept, at 30 fps (default ${D.lostTrackBuffer})
  --frame-rate FPS          stream frame rate (default ${D.frameRate})
  -h, --help                this help`;

class UsageError extends Error {}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${flag} needs a number, got '${v}'`);
  return n;
}

/** Builds the tracker configuration from the command line (exported for tests). */
export function trackConfigFromArgs(argv: string[]): {
  config: TrackerConfig;
  file?: string;
  help: boolean;
} {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      line: { type: 'string', multiple: true },
      zone: { type: 'string', multiple: true },
      'track-threshold': { type: 'string' },
      'match-threshold': { type: 'string' },
      'lost-buffer': { type: 'string' },
      'frame-rate': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 1) throw new UsageError('give at most one FILE');
  const config: TrackerConfig = {
    lines: (values.line ?? []).map(parseLine),
    zones: (values.zone ?? []).map(parseZone),
  };
  const set = (k: keyof TrackerConfig, v: number | undefined): void => {
    if (v !== undefined) (config as Record<string, unknown>)[k] = v;
  };
  set('trackActivationThreshold', num('track-threshold', values['track-threshold']));
  set('minimumMatchingThreshold', num('match-threshold', values['match-threshold']));
  set('lostTrackBuffer', num('lost-buffer', values['lost-buffer']));
  set('frameRate', num('frame-rate', values['frame-rate']));
  return { config, file: positionals[0], help: !!values.help };
}

interface Payload {
  detections: TrackableDetection[];
  [k: string]: unknown;
}

function readPayload(line: string, n: number): Payload {
  let p: unknown;
  try {
    p = JSON.parse(line);
  } catch (err) {
    throw new TritonError('INVALID_INPUT', `line ${n} is not JSON: ${(err as Error).message}`);
  }
  if (!p || typeof p !== 'object' || !Array.isArray((p as Payload).detections)) {
    throw new TritonError('INVALID_INPUT', `line ${n} needs a "detections" array`);
  }
  return p as Payload;
}

export async function trackMain(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  input: NodeJS.ReadableStream = process.stdin,
  errors: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let parsed: ReturnType<typeof trackConfigFromArgs>;
  let tracker: MultiStreamTracker;
  try {
    parsed = trackConfigFromArgs(argv);
    if (parsed.help) {
      out.write(`${TRACK_USAGE}\n`);
      return 0;
    }
    tracker = new MultiStreamTracker(parsed.config);
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS') || isTritonError(err)) {
      const code = isTritonError(err) ? `${err.code}: ` : '';
      errors.write(`triton-vision track: ${code}${e.message}\n\n${TRACK_USAGE}\n`);
      return 2;
    }
    throw err;
  }
  let source = input;
  if (parsed.file) {
    const fileStream = fs.createReadStream(parsed.file);
    // Surface a missing file as one clear error rather than an unhandled 'error' event.
    const opened = await new Promise<Error | undefined>((resolve) => {
      fileStream.once('open', () => resolve(undefined));
      fileStream.once('error', resolve);
    });
    if (opened) {
      errors.write(
        `triton-vision track: INVALID_INPUT: cannot read '${parsed.file}': ${opened.message}\n`,
      );
      return 1;
    }
    source = fileStream;
  }
  const rl = readline.createInterface({ input: source, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of rl) {
      n++;
      if (line.trim() === '') continue;
      const payload = readPayload(line, n);
      const r = tracker.update('cli', payload.detections);
      const detections = r.detections.map((d) => {
        const { trackAge: _age, velocity: _velocity, ...rest } = d;
        return rest;
      });
      out.write(
        `${JSON.stringify({
          ...payload,
          detections,
          lines: r.lines.map((l) => ({ in: l.in, out: l.out })),
          zones: r.zones.map((z) => ({ count: z.count })),
        })}\n`,
      );
    }
  } catch (err) {
    const e = isTritonError(err)
      ? err
      : new TritonError('UNKNOWN', String((err as Error)?.message ?? err));
    const where = e.message.startsWith('line ') ? '' : `line ${n}: `;
    errors.write(`triton-vision track: ${e.code}: ${where}${e.message}\n`);
    return 1;
  } finally {
    rl.close();
  }
  return 0;
}
