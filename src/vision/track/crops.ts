/**
 * Per-detection crops for a second-stage model, and Node-RED split-style messages so that a
 * join node (automatic mode) puts the per-detection results back together in order.
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { TritonError } from '../../protocol/errors';
import { decodeImage, type DecodeOptions } from '../image';
import type { Box, ImageInput } from '../types';

export interface CropOptions {
  /** Pixels added on every side of the box (default 0). */
  padding?: number;
  /** Smallest crop width and height in pixels, grown around the box centre (default 1). */
  minSize?: number;
  /** JPEG quality 1..100 (default 90). */
  quality?: number;
}

/** A crop window in whole pixels: columns left..left+width-1, rows top..top+height-1. */
export interface CropRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Crop {
  /** Index of the detection in the list given. */
  index: number;
  rect: CropRect;
  jpeg: Buffer;
}

function checkCropOptions(o: CropOptions): Required<CropOptions> {
  const padding = o.padding ?? 0;
  const minSize = o.minSize ?? 1;
  const quality = o.quality ?? 90;
  if (!(Number.isFinite(padding) && padding >= 0)) {
    throw new TritonError(
      'INVALID_OPTION',
      `Crop padding must be a number of pixels >= 0, got ${padding}`,
    );
  }
  if (!(Number.isFinite(minSize) && minSize >= 1)) {
    throw new TritonError(
      'INVALID_OPTION',
      `Crop minimum size must be a number of pixels >= 1, got ${minSize}`,
    );
  }
  if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
    throw new TritonError(
      'INVALID_OPTION',
      `Crop JPEG quality must be a whole number 1..100, got ${quality}`,
    );
  }
  return { padding, minSize, quality };
}

/** One axis: [a, b) grown by padding, to at least `min`, rounded outwards, kept in [0, size). */
function span(a: number, b: number, padding: number, min: number, size: number): [number, number] {
  let lo = a - padding;
  let hi = b + padding;
  const need = Math.min(min, size);
  if (hi - lo < need) {
    const c = (lo + hi) / 2;
    lo = c - need / 2;
    hi = c + need / 2;
  }
  let start = Math.floor(lo);
  let end = Math.ceil(hi);
  // A window sticking out of the image slides back in, keeping its size where it can.
  if (start < 0) {
    end = Math.min(size, end - start);
    start = 0;
  }
  if (end > size) {
    start = Math.max(0, start - (end - size));
    end = size;
  }
  if (end <= start) {
    // The box lies wholly outside the image: the nearest single pixel.
    start = Math.min(Math.max(start, 0), size - 1);
    end = start + 1;
  }
  return [start, end];
}

/**
 * The pixel window a crop takes for `box` in an image of `width × height`: the box grown by
 * `padding` on each side, widened around its centre to at least `minSize` (or the image
 * size, if smaller), rounded outwards to whole pixels and slid inside the image.
 */
export function cropRect(
  box: Box,
  width: number,
  height: number,
  options: CropOptions = {},
): CropRect {
  const o = checkCropOptions(options);
  if (![box?.x1, box?.y1, box?.x2, box?.y2].every(Number.isFinite)) {
    throw new TritonError('INVALID_INPUT', 'A crop needs a box with numeric x1, y1, x2, y2');
  }
  const [left, right] = span(
    Math.min(box.x1, box.x2),
    Math.max(box.x1, box.x2),
    o.padding,
    o.minSize,
    width,
  );
  const [top, bottom] = span(
    Math.min(box.y1, box.y2),
    Math.max(box.y1, box.y2),
    o.padding,
    o.minSize,
    height,
  );
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * JPEG crops of `image` (any input the nodes accept), one per detection, in order.
 * Errors: INVALID_IMAGE / IMAGE_TOO_LARGE from decoding, INVALID_OPTION, INVALID_INPUT.
 */
export async function cropDetections(
  image: ImageInput,
  detections: readonly { box: Box }[],
  options: CropOptions & DecodeOptions = {},
): Promise<Crop[]> {
  const o = checkCropOptions(options);
  if (!Array.isArray(detections)) {
    throw new TritonError('INVALID_INPUT', 'Crops need an array of detections with boxes');
  }
  const rects = detections.map((d) => d?.box);
  const decoded = await decodeImage(image, { maxPixels: options.maxPixels });
  const out: Crop[] = [];
  for (const [index, box] of rects.entries()) {
    const rect = cropRect(box, decoded.width, decoded.height, o);
    const jpeg = await sharp(decoded.data, {
      raw: { width: decoded.width, height: decoded.height, channels: 3 },
    })
      .extract(rect)
      .jpeg({ quality: o.quality })
      .toBuffer();
    out.push({ index, rect, jpeg });
  }
  return out;
}

/** msg.parts as Node-RED's split node sets it for an array split one element at a time. */
export interface SplitParts {
  id: string;
  type: 'array';
  index: number;
  count: number;
  len: 1;
  /** The message property split, when not `payload`. */
  property?: string;
  /** The incoming message's own parts, kept as a stack (as the split node does). */
  parts?: unknown;
}

export type SplitMessage = Record<string, unknown> & { payload: unknown; parts: SplitParts };

/** A split-style id: 16 hex digits, like RED.util.generateId(). */
export function splitId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * One message per value, as a split node in array mode would send them: a shallow copy of
 * `msg` (without `_msgid`) whose `payload` is the value, with `msg.parts` set so that a join
 * node in automatic mode rebuilds the array in order. `extra(i)` adds fields per message
 * (e.g. `detection`, `crop`). No values: no messages (as the split node).
 */
export function splitMessages(
  msg: Record<string, unknown>,
  values: readonly unknown[],
  extra: (index: number) => Record<string, unknown> = () => ({}),
  id: string = splitId(),
): SplitMessage[] {
  const { _msgid: _drop, ...rest } = msg;
  return values.map((payload, index) => {
    const parts: SplitParts = { id, type: 'array', index, count: values.length, len: 1 };
    if (msg.parts !== undefined) parts.parts = msg.parts;
    return { ...rest, ...extra(index), payload, parts };
  });
}
