/**
 * Draws a tracked frame: the detection boxes (labelled with their track id), the counting
 * lines with their in/out counts and the zones with their current counts, in one composite
 * over the original image.
 */
import { TritonError } from '../../protocol/errors';
import { buildOverlay, colourFor, escapeSvg, type AnnotateOptions } from '../annotate';
import { imageErrorFromSharp, openImage } from '../image';
import type { Detection, ImageInput } from '../types';
import type { LineCount, LineSpec, ZoneCount, ZoneSpec } from './streams';

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif";
const CHAR_WIDTH = 0.66;

export interface TrackDrawing {
  detections: (Pick<Detection, 'classId' | 'score' | 'box'> & {
    label?: string;
    trackId: number;
  })[];
  lines?: LineCount[];
  zones?: ZoneCount[];
}

const n = (v: number): string => (Math.round(v * 100) / 100).toString();

function hex([r, g, b]: readonly [number, number, number]): string {
  return `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

/** A dark tab with white text whose top-left corner is near (x, y), kept in the image. */
function tag(text: string, x: number, y: number, w: number, h: number, fontSize: number): string {
  const pad = Math.round(fontSize * 0.35);
  const tw = Math.ceil(text.length * fontSize * CHAR_WIDTH) + 2 * pad;
  const th = Math.round(fontSize * 1.35);
  const tx = Math.max(0, Math.min(x, w - tw));
  const ty = Math.max(0, Math.min(y, h - th));
  return (
    `<rect x="${n(tx)}" y="${n(ty)}" width="${tw}" height="${th}" rx="${pad}" fill="#000000" fill-opacity="0.6"/>` +
    `<text x="${n(tx + pad)}" y="${n(ty + th * 0.75)}" font-family="${FONT}" font-size="${fontSize}" ` +
    `fill="#ffffff">${escapeSvg(text)}</text>`
  );
}

/**
 * The SVG layer for lines and zones over a `width × height` image. `lines`/`zones` are the
 * configured geometry; `frame` carries their counts (same order).
 */
export function trackOverlay(
  width: number,
  height: number,
  lines: readonly LineSpec[],
  zones: readonly ZoneSpec[],
  frame: Pick<TrackDrawing, 'lines' | 'zones'>,
  opts: AnnotateOptions = {},
): string {
  const short = Math.min(width, height);
  const lw = opts.lineWidth ?? Math.max(2, Math.round(short / 250));
  const fontSize = opts.fontSize ?? Math.min(48, Math.max(11, Math.round(short / 40)));
  let body = '';
  for (const [i, z] of zones.entries()) {
    const colour = hex(colourFor(i + 5));
    const pts = z.polygon.map((p) => `${n(p.x)},${n(p.y)}`).join(' ');
    body += `<polygon points="${pts}" fill="${colour}" fill-opacity="0.18" stroke="${colour}" stroke-width="${lw}"/>`;
  }
  for (const l of lines) {
    body +=
      `<line x1="${n(l.start.x)}" y1="${n(l.start.y)}" x2="${n(l.end.x)}" y2="${n(l.end.y)}" ` +
      `stroke="#000000" stroke-width="${lw + 2}"/>` +
      `<line x1="${n(l.start.x)}" y1="${n(l.start.y)}" x2="${n(l.end.x)}" y2="${n(l.end.y)}" ` +
      `stroke="#ffffff" stroke-width="${lw}"/>` +
      `<circle cx="${n(l.start.x)}" cy="${n(l.start.y)}" r="${lw * 2}" fill="#ffffff"/>`;
  }
  for (const [i, z] of zones.entries()) {
    const c = frame.zones?.[i];
    if (!c) continue;
    const cx = z.polygon.reduce((a, p) => a + p.x, 0) / z.polygon.length;
    const cy = z.polygon.reduce((a, p) => a + p.y, 0) / z.polygon.length;
    body += tag(`${c.name}: ${c.count}`, cx, cy, width, height, fontSize);
  }
  for (const [i, l] of lines.entries()) {
    const c = frame.lines?.[i];
    if (!c) continue;
    const mx = (l.start.x + l.end.x) / 2;
    const my = (l.start.y + l.end.y) / 2;
    body += tag(`${c.name}: in ${c.in} · out ${c.out}`, mx + lw * 2, my, width, height, fontSize);
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}">${body}</svg>`
  );
}

/**
 * The annotated frame as JPEG (or PNG): boxes labelled `label #trackId`, lines with in/out
 * counts, zones with their counts.
 */
export async function annotateTracking(
  image: ImageInput,
  frame: TrackDrawing,
  geometry: { lines?: readonly LineSpec[]; zones?: readonly ZoneSpec[] },
  opts: AnnotateOptions = {},
): Promise<Buffer> {
  const format = opts.format ?? 'jpeg';
  const quality = opts.quality ?? 85;
  if (
    (format !== 'jpeg' && format !== 'png') ||
    !(Number.isInteger(quality) && quality >= 1 && quality <= 100)
  ) {
    throw new TritonError(
      'INVALID_OPTION',
      `Annotation needs format jpeg or png and quality 1..100`,
    );
  }
  const opened = await openImage(
    image,
    opts.maxPixels === undefined ? {} : { maxPixels: opts.maxPixels },
  );
  const detections = frame.detections.map((d) => ({
    ...d,
    label: `${d.label ?? d.classId} #${d.trackId}`,
    boxNormalized: { x1: 0, y1: 0, x2: 0, y2: 0 },
  }));
  const boxes = buildOverlay(opened.width, opened.height, { detections }, opts);
  const layer = trackOverlay(
    opened.width,
    opened.height,
    geometry.lines ?? [],
    geometry.zones ?? [],
    frame,
    opts,
  );
  let pipeline = opened.pipeline.composite([
    { input: Buffer.from(layer), top: 0, left: 0 },
    { input: Buffer.from(boxes), top: 0, left: 0 },
  ]);
  pipeline = format === 'png' ? pipeline.png() : pipeline.jpeg({ quality });
  try {
    return await pipeline.toBuffer();
  } catch (err) {
    throw imageErrorFromSharp(err, opened.format);
  }
}
