/**
 * Draws results onto the original image: boxes, label tabs, translucent masks and a
 * classification panel, all in ONE SVG overlay that sharp composites in a single pass
 * (no per-shape raster work in JS, and text rendering comes from librsvg + fontconfig).
 */
import { TritonError } from '../protocol/errors';
import { imageErrorFromSharp, openImage } from './image';
import type { Classification, DecodedImage, Detection, ImageInput } from './types';

export interface AnnotateOptions {
  /** Output encoding (default 'jpeg'). */
  format?: 'jpeg' | 'png';
  /** JPEG quality 1..100 (default 85). */
  quality?: number;
  /** Box outline width in pixels (default: 1/250 of the shorter side, at least 2). */
  lineWidth?: number;
  /** Mask fill opacity 0..1 (default 0.4). */
  maskOpacity?: number;
  /** Label text height in pixels (default: 1/40 of the shorter side, 11..48). */
  fontSize?: number;
  /** Largest accepted image, in pixels (default 50e6). */
  maxPixels?: number;
}

export interface AnnotateResult {
  detections?: Detection[];
  classes?: Classification[];
}

type Rgb = readonly [number, number, number];

/**
 * Twenty well-separated colours (class id modulo 20). Chosen so neighbouring ids differ
 * in hue and both light and dark photos keep contrast.
 */
export const PALETTE: readonly Rgb[] = Object.freeze([
  [230, 25, 75],
  [60, 180, 75],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 212],
  [0, 128, 128],
  [220, 190, 255],
  [170, 110, 40],
  [255, 225, 25],
  [128, 0, 0],
  [170, 255, 195],
  [128, 128, 0],
  [255, 215, 180],
  [0, 0, 128],
  [128, 128, 128],
  [255, 99, 71],
] as const);

/** The colour drawn for `classId` (negative or fractional ids are folded into the palette). */
export function colourFor(classId: number): Rgb {
  const n = PALETTE.length;
  const i = Number.isFinite(classId) ? ((Math.trunc(classId) % n) + n) % n : 0;
  return PALETTE[i]!;
}

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif";
/** Average advance of DejaVu Sans per font-size unit: SVG cannot measure text for us. */
const CHAR_WIDTH = 0.62;

function hex([r, g, b]: Rgb): string {
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`;
}

/** Black text on light colours, white on dark (ITU-R BT.601 luma). */
function textOn([r, g, b]: Rgb): string {
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#000000' : '#ffffff';
}

/** Text for an SVG text node or attribute: the five XML specials escaped, controls dropped. */
export function escapeSvg(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

function num(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function finite(...vs: number[]): boolean {
  return vs.every((v) => Number.isFinite(v));
}

interface Style {
  lineWidth: number;
  fontSize: number;
  maskOpacity: number;
}

function styleFor(width: number, height: number, opts: AnnotateOptions): Style {
  const short = Math.min(width, height);
  const lineWidth = opts.lineWidth ?? Math.max(2, Math.round(short / 250));
  const fontSize = opts.fontSize ?? Math.min(48, Math.max(11, Math.round(short / 40)));
  const maskOpacity = opts.maskOpacity ?? 0.4;
  if (!(lineWidth > 0) || !(fontSize > 0) || !(maskOpacity >= 0 && maskOpacity <= 1)) {
    throw new TritonError(
      'INVALID_OPTION',
      `Annotation options out of range: lineWidth ${lineWidth} and fontSize ${fontSize} must ` +
        `be > 0, maskOpacity ${maskOpacity} between 0 and 1`,
    );
  }
  return { lineWidth, fontSize, maskOpacity };
}

function maskShapes(d: Detection, fill: string, opacity: number): string {
  const mask = d.mask;
  if (!mask) return '';
  const polys = mask.polygons?.length ? mask.polygons : mask.polygon ? [mask.polygon] : [];
  let out = '';
  for (const poly of polys) {
    const pts = poly.filter(([x, y]) => finite(x, y));
    if (pts.length < 3) continue;
    const points = pts.map(([x, y]) => `${num(x)},${num(y)}`).join(' ');
    out += `<polygon points="${points}" fill="${fill}" fill-opacity="${opacity}" stroke="none"/>`;
  }
  return out;
}

function boxShapes(d: Detection, width: number, height: number, s: Style): string {
  const { x1, y1, x2, y2 } = d.box;
  if (!finite(x1, y1, x2, y2) || x2 <= x1 || y2 <= y1) return '';
  const colour = colourFor(d.classId);
  const fill = hex(colour);
  const lw = Math.min(s.lineWidth, (x2 - x1) / 2, (y2 - y1) / 2);
  // The outline is drawn inside the box, so its outer edge is the box edge itself.
  let out =
    `<rect x="${num(x1 + lw / 2)}" y="${num(y1 + lw / 2)}" width="${num(x2 - x1 - lw)}" ` +
    `height="${num(y2 - y1 - lw)}" fill="none" stroke="${fill}" stroke-width="${num(lw)}"/>`;

  const score = Number.isFinite(d.score) ? ` ${d.score.toFixed(2)}` : '';
  const text = `${d.label ?? String(d.classId)}${score}`;
  const padX = Math.round(s.fontSize * 0.3);
  const tabH = Math.round(s.fontSize * 1.3);
  const tabW = Math.ceil(text.length * s.fontSize * CHAR_WIDTH) + 2 * padX;
  // Above the box when there is room, otherwise just inside its top edge.
  const tabY = y1 - tabH >= 0 ? y1 - tabH : Math.min(y1, height - tabH);
  const tabX = Math.max(0, Math.min(x1, width - tabW));
  out +=
    `<rect x="${num(tabX)}" y="${num(tabY)}" width="${tabW}" height="${tabH}" fill="${fill}"/>` +
    `<text x="${num(tabX + padX)}" y="${num(tabY + tabH * 0.77)}" font-family="${FONT}" ` +
    `font-size="${s.fontSize}" fill="${textOn(colour)}">${escapeSvg(text)}</text>`;
  return out;
}

function classPanel(classes: Classification[], s: Style): string {
  const rows = classes
    .filter((c) => c && typeof c === 'object')
    .map((c) => {
      const pct = Number.isFinite(c.score) ? ` ${(c.score * 100).toFixed(1)}%` : '';
      return `${c.label ?? String(c.classId)}${pct}`;
    });
  if (rows.length === 0) return '';
  const line = Math.round(s.fontSize * 1.35);
  const pad = Math.round(s.fontSize * 0.5);
  const w = Math.ceil(Math.max(...rows.map((r) => r.length)) * s.fontSize * CHAR_WIDTH) + 2 * pad;
  const h = rows.length * line + pad;
  let out = `<rect x="0" y="0" width="${w}" height="${h}" fill="#000000" fill-opacity="0.6"/>`;
  rows.forEach((r, i) => {
    out +=
      `<text x="${pad}" y="${pad + i * line + Math.round(s.fontSize * 0.95)}" ` +
      `font-family="${FONT}" font-size="${s.fontSize}" fill="#ffffff">${escapeSvg(r)}</text>`;
  });
  return out;
}

/**
 * The SVG overlay for a width×height image: masks first (under everything), then boxes
 * and their label tabs, then the classification panel in the top-left corner.
 */
export function buildOverlay(
  width: number,
  height: number,
  result: AnnotateResult,
  opts: AnnotateOptions = {},
): string {
  const s = styleFor(width, height, opts);
  const dets = Array.isArray(result.detections) ? result.detections : [];
  let body = '';
  for (const d of dets) body += maskShapes(d, hex(colourFor(d.classId)), s.maskOpacity);
  for (const d of dets) body += boxShapes(d, width, height, s);
  if (Array.isArray(result.classes)) body += classPanel(result.classes, s);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}">${body}</svg>`
  );
}

/**
 * Draws `result` over the original image (EXIF orientation applied, so result coordinates
 * in original-image pixels line up) and encodes it as JPEG or PNG.
 *
 * @param image - the image the results came from: the same input the pipeline got, or the
 *   DecodedImage (packed RGB [height, width, 3]) when it is already decoded
 */
export async function annotate(
  image: ImageInput | DecodedImage,
  result: AnnotateResult,
  opts: AnnotateOptions = {},
): Promise<Buffer> {
  const format = opts.format ?? 'jpeg';
  const quality = opts.quality ?? 85;
  if (format !== 'jpeg' && format !== 'png') {
    throw new TritonError(
      'INVALID_OPTION',
      `Annotation format '${String(format)}' is not supported: use 'jpeg' or 'png'`,
    );
  }
  if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
    throw new TritonError(
      'INVALID_OPTION',
      `JPEG quality must be a whole number from 1 to 100; got ${String(quality)}`,
    );
  }
  const opened = await openImage(
    image,
    opts.maxPixels === undefined ? {} : { maxPixels: opts.maxPixels },
  );
  const svg = buildOverlay(opened.width, opened.height, result, opts);
  let pipeline = opened.pipeline.composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  pipeline = format === 'png' ? pipeline.png() : pipeline.jpeg({ quality });
  try {
    return await pipeline.toBuffer();
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    // The overlay is ours; a failure inside it is a bug, anything else is the image.
    if (/svg|rsvg|xml/i.test(text)) {
      throw new TritonError(
        'INTERNAL',
        `Drawing the annotation overlay failed (${text}); this is a bug: please report it`,
        { cause: err },
      );
    }
    throw imageErrorFromSharp(err, opened.format);
  }
}
