/**
 * Image I/O for the vision pipeline: turn whatever a flow sends into pixels (with size
 * limits checked from the header before anything is decoded), and turn pixels into the
 * tensor a model expects (letterbox or resize + centre crop, colour order, scaling,
 * CHW/HWC, FP32/FP16/UINT8).
 *
 * Pixel conventions: RGB, HWC, uint8, EXIF orientation applied. An alpha channel is
 * dropped, not composited, because that is what the Python references do (cv2.imread with
 * IMREAD_COLOR and PIL's convert('RGB')), so a model sees the same pixels here as there.
 * Grey images are replicated to three channels. Animated / multi-page files give their
 * first frame.
 */
import sharp from 'sharp';
import type { Metadata, Sharp } from 'sharp';
import { TritonError } from '../protocol/errors';
import { floatToHalfBits } from '../protocol/tensor';
import type { DataType } from '../protocol/types';
import { computeCenterCrop, computeLetterbox, computeZooCrop } from './geometry';
import { linearPick, resizeLinearCv, resizePil, type PilFilter } from './resample';
import type {
  CropGeometry,
  DecodedImage,
  ImageInput,
  LetterboxGeometry,
  ModelProfile,
  RawFrame,
} from './types';

/** Default pixel limit (width × height): 50 MP, above any camera a flow is likely to see. */
export const DEFAULT_MAX_PIXELS = 50e6;

/**
 * libvips' strictness for damaged files. 'error' rejects truncated files and real decode
 * errors (a cut-off JPEG fails instead of coming back grey at the bottom) but tolerates
 * libjpeg warnings such as "extraneous bytes before marker" that cheap cameras produce.
 */
const FAIL_ON = 'error' as const;

const ACCEPTED =
  'Send a Buffer holding a JPEG, PNG, WebP, GIF, TIFF or AVIF image, a data URL or base64 ' +
  'string of one, or raw pixels as {data, width, height, channels: 1|3|4}';

/**
 * How the image is brought to the model's size.
 * - 'exact' (default): full decode, then the reference's own resize, bit for bit: OpenCV's
 *   cv2.resize INTER_LINEAR for letterbox models (Ultralytics, yolov5 detect.py, the YOLOX
 *   demo) and Pillow's antialiased convolution resize for classifiers (torchvision, ONNX
 *   Model Zoo).
 * - 'fast': libvips resizes while it decodes (JPEG shrink-on-load, libvips' own bilinear /
 *   bicubic reduce): less work on large photos, results a little off the references.
 */
export type ResizeMode = 'exact' | 'fast';
export const RESIZE_MODES: readonly ResizeMode[] = ['exact', 'fast'];

/**
 * What happens to an embedded ICC colour profile: 'ignore' (default) keeps the stored
 * values, as cv2.imread and PIL's Image.open do; 'apply' converts to sRGB through it.
 */
export type IccMode = 'ignore' | 'apply';
export const ICC_MODES: readonly IccMode[] = ['ignore', 'apply'];

export interface DecodeOptions {
  /** Largest accepted width × height, in pixels (default 50e6). Checked from the header. */
  maxPixels?: number;
  /** Default 'exact'. */
  resize?: ResizeMode;
  /** Default 'ignore'. */
  icc?: IccMode;
  /**
   * Where prepareInput's tensor memory comes from (default: a fresh allocation). A pool
   * saves the page faults of mapping ~5 MB of new memory per image; the caller must give
   * the buffer back only once nothing (an inference request in flight) reads it.
   */
  tensorPool?: TensorPool;
}

/**
 * Reusable tensor memory, by byte length. acquire() hands out a buffer nobody else holds
 * (contents undefined: every tensor element is written anyway); release() takes it back
 * for the next image. At most `perSize` idle buffers are kept per length.
 */
export class TensorPool {
  private readonly idle = new Map<number, ArrayBuffer[]>();

  constructor(readonly perSize = 4) {}

  acquire(byteLength: number): ArrayBuffer {
    return this.idle.get(byteLength)?.pop() ?? uninitialised(byteLength);
  }

  /** Gives `buffer` back; the caller must not touch it (or views of it) afterwards. */
  release(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer)) return;
    let list = this.idle.get(buffer.byteLength);
    if (!list) {
      list = [];
      this.idle.set(buffer.byteLength, list);
    }
    if (list.length < this.perSize && !list.includes(buffer)) list.push(buffer);
  }

  /** Idle buffers held (for tests and diagnostics). */
  get size(): number {
    let n = 0;
    for (const l of this.idle.values()) n += l.length;
    return n;
  }
}

/** An input after validation: encoded bytes for sharp, or a raw frame with checked sizes. */
type Source = { kind: 'encoded'; bytes: Buffer } | { kind: 'raw'; frame: RawFrame };

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    const shown = keys.slice(0, 6).join(', ');
    return keys.length === 0
      ? 'an empty object'
      : `an object with keys ${shown}${keys.length > 6 ? ', ...' : ''}`;
  }
  return `a ${typeof value}`;
}

function invalid(message: string, cause?: unknown): TritonError {
  return new TritonError('INVALID_IMAGE', message, cause === undefined ? {} : { cause });
}

function tooLarge(width: number, height: number, maxPixels: number): TritonError {
  return new TritonError(
    'IMAGE_TOO_LARGE',
    `The image is ${width}×${height} (${(width * height).toLocaleString('en-US')} pixels), ` +
      `over the limit of ${maxPixels.toLocaleString('en-US')} pixels: send a smaller image ` +
      `or raise the node's maximum image size`,
  );
}

function checkChoice<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
    return value as T;
  throw new TritonError(
    'INVALID_OPTION',
    `Option ${name} must be ${allowed.map((a) => `'${a}'`).join(' or ')} (got ${JSON.stringify(value) ?? String(value)}); fix it in the node or in msg.triton`,
  );
}

/** Validated resize mode (INVALID_OPTION otherwise). */
export function checkResizeMode(value: unknown): ResizeMode {
  return checkChoice('resize', value, RESIZE_MODES, 'exact');
}

/** Validated ICC mode (INVALID_OPTION otherwise). */
export function checkIccMode(value: unknown): IccMode {
  return checkChoice('icc', value, ICC_MODES, 'ignore');
}

function checkMaxPixels(maxPixels: number | undefined): number {
  const m = maxPixels ?? DEFAULT_MAX_PIXELS;
  if (typeof m !== 'number' || !(m >= 1)) {
    throw new TritonError(
      'INVALID_OPTION',
      `maxPixels must be a number ≥ 1 (pixels); got ${String(maxPixels)}`,
    );
  }
  return m;
}

function asBuffer(u8: Uint8Array | Uint8ClampedArray): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

const BASE64 = /^[A-Za-z0-9+/\-_\s]+={0,2}\s*$/;

function fromBase64(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw invalid(`Received ${what} with no data in it. ${ACCEPTED}`);
  if (!BASE64.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
    const looksLikePath = /^(\.{0,2}[\\/]|[A-Za-z]:[\\/])|\.[A-Za-z0-9]{2,5}$/.test(text.trim());
    throw invalid(
      looksLikePath
        ? `Received a string that looks like a file path ('${text.trim().slice(0, 80)}'); ` +
            'images are never read from disk by name: read the file first (e.g. a file-in ' +
            'node set to a single Buffer) and send its contents'
        : `Received ${what} that is neither a data URL nor base64. ${ACCEPTED}`,
    );
  }
  return Buffer.from(compact, 'base64');
}

function isRawFrameLike(v: object): v is Record<'data' | 'width' | 'height' | 'channels', unknown> {
  return 'data' in v && 'width' in v && 'height' in v && 'channels' in v;
}

function validateRawFrame(v: Record<'data' | 'width' | 'height' | 'channels', unknown>): RawFrame {
  const { data, width, height, channels } = v;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw invalid(
      `Raw frame data is ${describe(data)}; it must be a Buffer, Uint8Array or ` +
        'Uint8ClampedArray of interleaved 8-bit pixels',
    );
  }
  const dims = [width, height];
  if (!dims.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)) {
    throw invalid(
      `Raw frame size ${String(width)}×${String(height)} is not valid: width and height must ` +
        'be positive whole numbers of pixels',
    );
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw invalid(
      `Raw frame has channels = ${String(channels)}; use 1 (grey), 3 (RGB) or 4 (RGBA)`,
    );
  }
  const w = width as number;
  const h = height as number;
  const need = w * h * channels;
  if (data.length !== need) {
    throw invalid(
      `Raw frame ${w}×${h}×${channels} needs exactly ${need} bytes but data holds ` +
        `${data.length}: check width, height and channels`,
    );
  }
  return {
    data: data instanceof Uint8Array ? data : asBuffer(data),
    width: w,
    height: h,
    channels,
  };
}

/**
 * Checks what a flow sent and turns it into bytes for sharp or a validated raw frame,
 * without decoding anything. Strings are data URLs or base64, never file names.
 */
function toSource(input: unknown): Source {
  if (input instanceof Uint8Array) {
    if (input.length === 0) {
      throw invalid(`Received an empty Buffer (0 bytes). ${ACCEPTED}`);
    }
    return { kind: 'encoded', bytes: asBuffer(input) };
  }
  if (typeof input === 'string') {
    const text = input.trim();
    if (text.length === 0) throw invalid(`Received an empty string. ${ACCEPTED}`);
    if (/^data:/i.test(text)) {
      const comma = text.indexOf(',');
      const header = comma < 0 ? '' : text.slice(5, comma);
      if (comma < 0 || !/;base64$/i.test(header)) {
        throw invalid(
          `Received a data URL that is not base64-encoded ('${text.slice(0, 40)}...'): ` +
            'use data:image/<type>;base64,<data>',
        );
      }
      return { kind: 'encoded', bytes: fromBase64(text.slice(comma + 1), 'a data URL') };
    }
    return { kind: 'encoded', bytes: fromBase64(text, describe(input)) };
  }
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    if (isRawFrameLike(input)) return { kind: 'raw', frame: validateRawFrame(input) };
    // A Buffer that went through JSON (msg copied across a link, an HTTP body...).
    const j = input as { type?: unknown; data?: unknown };
    if (j.type === 'Buffer' && Array.isArray(j.data)) return toSource(Buffer.from(j.data));
  }
  throw invalid(`Received ${describe(input)}, which is not an image. ${ACCEPTED}`);
}

/** A sharp pipeline positioned on the oriented RGB image, plus its oriented size. */
export interface OpenedImage {
  pipeline: Sharp;
  width: number;
  height: number;
  format: string;
}

/**
 * A sharp/libvips failure → IMAGE_TOO_LARGE (pixel limit) or INVALID_IMAGE (anything the
 * decoder rejects), with sharp's own words kept in the sentence.
 */
export function imageErrorFromSharp(err: unknown, format: string): TritonError {
  const text = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(text)) {
    return new TritonError(
      'IMAGE_TOO_LARGE',
      `The image is larger than the pixel limit (${text}): send a smaller image or raise ` +
        "the node's maximum image size",
      { cause: err },
    );
  }
  const what = format === 'unknown' ? 'the data' : `the ${format.toUpperCase()} image`;
  return invalid(
    `Could not decode ${what}: ${text}. The file is damaged, truncated or not an image. ` +
      ACCEPTED,
    err,
  );
}

/** sharp's pixel limit for maxPixels: the second guard, the header check is the first. */
function sharpLimit(maxPixels: number): number | false {
  // sharp wants an integral limit.
  return Number.isFinite(maxPixels) ? Math.max(1, Math.floor(maxPixels)) : false;
}

/** What the header says: the oriented size and the format, after the size checks. */
interface Header {
  width: number;
  height: number;
  format: string;
}

/**
 * Reads only the header of an encoded image and enforces maxPixels: IMAGE_TOO_LARGE with
 * the image's size, or INVALID_IMAGE for what is not an image.
 */
async function readHeader(bytes: Buffer, maxPixels: number): Promise<Header> {
  let meta: Metadata;
  try {
    // Header only: no limit here, so an oversized image gets our message with its size.
    meta = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (err) {
    throw imageErrorFromSharp(err, 'unknown');
  }
  const format = String(meta.format ?? 'unknown');
  // Multi-page files report one page's height unless every page is asked for.
  const storedW = meta.width ?? 0;
  const storedH = meta.pageHeight ?? meta.height ?? 0;
  if (!(storedW > 0 && storedH > 0)) {
    throw invalid(`The ${format.toUpperCase()} image has no pixels (${storedW}×${storedH})`);
  }
  if (storedW * storedH > maxPixels) throw tooLarge(storedW, storedH, maxPixels);
  const swap = (meta.orientation ?? 1) >= 5;
  return { width: swap ? storedH : storedW, height: swap ? storedW : storedH, format };
}

/**
 * The pipeline that decodes, auto-orients, drops alpha and brings the pixels to 8-bit RGB.
 * An embedded ICC profile is ignored (the stored values are kept, as cv2.imread and PIL do)
 * unless icc is 'apply', which converts through it to sRGB.
 */
function decoder(bytes: Buffer, maxPixels: number, icc: IccMode): Sharp {
  return normalise(
    sharp(bytes, {
      failOn: FAIL_ON,
      limitInputPixels: sharpLimit(maxPixels),
      autoOrient: true,
      ignoreIcc: icc === 'ignore',
    }),
  );
}

/**
 * Validates the input, reads only the header, enforces maxPixels and returns a pipeline
 * that will decode the image (see decoder) when it runs.
 */
async function open(
  source: Source,
  maxPixels: number,
  icc: IccMode = 'ignore',
): Promise<OpenedImage> {
  if (source.kind === 'raw') {
    const { data, width, height, channels } = source.frame;
    if (width * height > maxPixels) throw tooLarge(width, height, maxPixels);
    const pipeline = sharp(data, {
      raw: { width, height, channels },
      limitInputPixels: sharpLimit(maxPixels),
    });
    return { pipeline: normalise(pipeline), width, height, format: 'raw' };
  }
  const header = await readHeader(source.bytes, maxPixels);
  return { pipeline: decoder(source.bytes, maxPixels, icc), ...header };
}

/** Decoded pixels: packed RGB, [height, width, 3]. */
interface RawPixels {
  data: Buffer;
  width: number;
  height: number;
}

/** Full decodes of openDecoded under way. */
let decodesInFlight = 0;

/**
 * open() + runRaw() for the full decode of an encoded image. When no other decode is under
 * way (one image at a time, a node at concurrency 1), the decode starts at once, beside the
 * header read instead of after it: it needs nothing the header says, and the header's trip
 * through the thread pool leaves the critical path. The header's checks still decide
 * first: an image they refuse fails with their error, and its decode (refused by sharp's
 * own pixel limit, or failing on the same damage) is ignored. With other decodes running,
 * the header comes first as in open(), so that decodes do not queue ahead of the headers
 * of the images behind them.
 */
async function openDecoded(
  bytes: Buffer,
  maxPixels: number,
  icc: IccMode,
): Promise<Header & { decoded: Promise<RawPixels> }> {
  const counted = <T>(p: Promise<T>): Promise<T> => {
    decodesInFlight++;
    return p.finally(() => decodesInFlight--);
  };
  if (decodesInFlight > 0) {
    const header = await readHeader(bytes, maxPixels);
    return { ...header, decoded: counted(runRaw(decoder(bytes, maxPixels, icc), header.format)) };
  }
  // Settled into a value at once, so that a decode failing before the header is read is
  // never an unhandled rejection.
  const started = counted(rawPixels(decoder(bytes, maxPixels, icc))).then(
    (pixels) => ({ pixels }),
    (err: unknown) => ({ err }),
  );
  const header = await readHeader(bytes, maxPixels);
  const decoded = started.then((r) => {
    if ('pixels' in r) return r.pixels;
    throw imageErrorFromSharp(r.err, header.format);
  });
  return { ...header, decoded };
}

/** Alpha dropped (a no-op without one), grey / CMYK / 16-bit brought to 8-bit sRGB. */
function normalise(pipeline: Sharp): Sharp {
  return pipeline.removeAlpha().toColourspace('srgb');
}

/** Runs the pipeline to packed RGB; sharp's errors come out as they are. */
async function rawPixels(pipeline: Sharp): Promise<RawPixels> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) {
    throw new Error(`decoder produced ${info.channels} channels instead of 3`);
  }
  return { data, width: info.width, height: info.height };
}

/** rawPixels with its errors as IMAGE_TOO_LARGE or INVALID_IMAGE. */
async function runRaw(pipeline: Sharp, format: string): Promise<RawPixels> {
  try {
    return await rawPixels(pipeline);
  } catch (err) {
    throw imageErrorFromSharp(err, format);
  }
}

/** Grey / RGBA raw frame → packed RGB (pure copy loops: cheaper than a sharp round trip). */
function rawToRgb(frame: RawFrame): Buffer {
  const { data, width, height, channels } = frame;
  if (channels === 3) return asBuffer(data);
  const n = width * height;
  const out = Buffer.allocUnsafe(n * 3);
  if (channels === 1) {
    for (let i = 0, o = 0; i < n; i++, o += 3) {
      const v = data[i]!;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
  } else {
    for (let i = 0, o = 0; i < n * 4; i += 4, o += 3) {
      out[o] = data[i]!;
      out[o + 1] = data[i + 1]!;
      out[o + 2] = data[i + 2]!;
    }
  }
  return out;
}

/**
 * Decodes any accepted input to tightly packed RGB (HWC uint8, [height, width, 3]) with EXIF
 * orientation applied. A 3-channel raw frame is returned without copying (shares memory).
 * Errors: INVALID_IMAGE (not an image, empty, damaged, wrong type), IMAGE_TOO_LARGE (the
 * header declares more than maxPixels; nothing is decoded).
 */
export async function decodeImage(
  input: ImageInput,
  opts: DecodeOptions = {},
): Promise<DecodedImage> {
  const maxPixels = checkMaxPixels(opts.maxPixels);
  const icc = checkIccMode(opts.icc);
  return decodeSource(toSource(input), maxPixels, icc);
}

async function decodeSource(
  source: Source,
  maxPixels: number,
  icc: IccMode,
): Promise<DecodedImage> {
  if (source.kind === 'raw') {
    const { width, height } = source.frame;
    if (width * height > maxPixels) throw tooLarge(width, height, maxPixels);
    return { data: rawToRgb(source.frame), width, height, channels: 3, format: 'raw' };
  }
  const opened = await openDecoded(source.bytes, maxPixels, icc);
  const { data, width, height } = await opened.decoded;
  return { data, width, height, channels: 3, format: opened.format };
}

/** Encodes decoded pixels as JPEG (quality 1..100, default 85) or PNG. */
export async function encodeImage(
  image: DecodedImage,
  format: 'jpeg' | 'png' = 'jpeg',
  quality = 85,
): Promise<Buffer> {
  const s = sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality }).toBuffer();
}

/**
 * Renders the letterboxed model input as an image (resized to newWidth×newHeight as
 * cv2.resize INTER_LINEAR, placed at padLeft/padTop on a padValue background): what the model
 * sees, for debugging and for drawing in input space.
 */
export async function letterboxImage(
  image: DecodedImage,
  g: LetterboxGeometry,
  padValue = 114,
): Promise<DecodedImage> {
  const pixels = asBuffer(
    resizeLinearCv(image.data, image.width, image.height, g.newWidth, g.newHeight),
  );
  const out = Buffer.alloc(g.inputWidth * g.inputHeight * 3, padValue);
  const rowBytes = g.newWidth * 3;
  for (let y = 0; y < g.newHeight; y++) {
    pixels.copy(
      out,
      ((g.padTop + y) * g.inputWidth + g.padLeft) * 3,
      y * rowBytes,
      (y + 1) * rowBytes,
    );
  }
  return { data: out, width: g.inputWidth, height: g.inputHeight, channels: 3, format: 'raw' };
}

// ---- pixels → tensor --------------------------------------------------------------------

export type PixelDataType = Extract<DataType, 'FP32' | 'FP16' | 'UINT8'>;

export interface TensorOptions {
  /** Tensor memory (default: a fresh allocation). */
  pool?: TensorPool;
  /** Output plane width (default: the source width). */
  width?: number;
  /** Output plane height (default: the source height). */
  height?: number;
  /** Where the source's top-left pixel lands in the output (default 0, 0). */
  left?: number;
  top?: number;
  /** Pixel value (0..255 scale) of every output position the source does not cover. */
  padValue?: number;
  /** Channel order of the output (the source is always RGB). Default 'RGB'. */
  colour?: 'RGB' | 'BGR';
  /** Multiplier for 0..255 values before mean/std (default 1). */
  scale?: number;
  /** Per OUTPUT channel, i.e. in `colour` order (default 0). */
  mean?: readonly [number, number, number];
  /** Per OUTPUT channel, i.e. in `colour` order (default 1). */
  std?: readonly [number, number, number];
  /** 'NCHW' → [3, height, width]; 'NHWC' → [height, width, 3]. Default 'NCHW'. */
  layout?: 'NCHW' | 'NHWC';
  /**
   * FP32 → Float32Array, FP16 → Uint16Array of IEEE half bits (the FP32 value rounded to
   * nearest even), UINT8 → the pixel values untouched (scale, mean and std do not apply).
   */
  datatype?: PixelDataType;
}

type PixelTensor = Float32Array | Uint16Array | Uint8Array;

/**
 * Source pixels for a tensor: RGB uint8 at byte `first + y·rowBytes + x·step` for pixel
 * (x, y). Packed pixels have first 0, rowBytes width·3 and step 3; a resize that only picks
 * pixels (linearPick) reads the decoded image through larger strides, without a copy.
 */
export interface PixelView {
  data: Uint8Array;
  first: number;
  rowBytes: number;
  step: number;
}

/** Where and how the source pixels are written: shared by the five pixel kernels. */
interface Placement {
  /** Source pixels, addressed as in PixelView. */
  src: Uint8Array;
  first: number;
  rowBytes: number;
  step: number;
  w: number;
  h: number;
  /** Output plane width and the source's top-left position in it. */
  W: number;
  left: number;
  top: number;
  /** Source channel read for output channel 0 and 2 (RGB: 0, 2; BGR: 2, 0). */
  s0: number;
  s2: number;
}

// The pixel loops come in one copy per output element type: V8 compiles a loop that
// sees Float32Array and Uint16Array stores polymorphically and it ran 2-3× slower.
// FP32 computes (v·scale − mean) / std directly (double maths, stored to float32, which
// measured faster than a table lookup); FP16 and UINT8 read per-channel 256-entry tables.

/** @param out - [3, H, W] float32 planes; only the source rectangle is written. */
function planarF32(p: Placement, out: Float32Array, scale: number, m: Num3, d: Num3): void {
  const { src, first, rowBytes, step, w, h, W, left, top, s0, s2 } = p;
  const p1 = out.length / 3;
  const p2 = 2 * p1;
  const [m0, m1, m2] = m;
  const [d0, d1, d2] = d;
  for (let y = 0; y < h; y++) {
    let o = (top + y) * W + left;
    let i = first + y * rowBytes;
    for (const end = o + w; o < end; o++, i += step) {
      out[o] = (src[i + s0]! * scale - m0) / d0;
      out[o + p1] = (src[i + 1]! * scale - m1) / d1;
      out[o + p2] = (src[i + s2]! * scale - m2) / d2;
    }
  }
}

/**
 * Packed source pixels as 32-bit words when every row starts on a word boundary (width a
 * multiple of 4, aligned buffer): four RGB pixels are then three word loads instead of
 * twelve byte loads, which measured ~35 % faster. Little-endian is guaranteed
 * (protocol/tensor refuses anything else).
 */
function wordsOf(p: Placement): Uint32Array | undefined {
  const { src, first, rowBytes, step, w } = p;
  if (step !== 3 || rowBytes !== w * 3 || w % 4 !== 0) return undefined;
  if ((src.byteOffset + first) % 4 !== 0) return undefined;
  return new Uint32Array(src.buffer, src.byteOffset + first, (p.h * rowBytes) >> 2);
}

/** planarF32 with mean 0 and std 1. @param out - [3, H, W] float32 planes */
function planarScaledF32(p: Placement, out: Float32Array, s: number): void {
  const { src, first, rowBytes, step, w, h, W, left, top, s0 } = p;
  const p1 = out.length / 3;
  // Plane offsets receiving the source's R and B bytes (swapped for BGR).
  const qr = s0 === 0 ? 0 : 2 * p1;
  const qb = 2 * p1 - qr;
  const words = wordsOf(p);
  for (let y = 0; y < h; y++) {
    let o = (top + y) * W + left;
    const end = o + w;
    if (words) {
      // a = R0 G0 B0 R1, b = G1 B1 R2 G2, c = B2 R3 G3 B3 (lowest byte first)
      for (let j = (y * w * 3) >> 2; o < end; o += 4, j += 3) {
        const a = words[j]!;
        const b = words[j + 1]!;
        const c = words[j + 2]!;
        out[o + qr] = (a & 255) * s;
        out[o + p1] = ((a >>> 8) & 255) * s;
        out[o + qb] = ((a >>> 16) & 255) * s;
        out[o + 1 + qr] = (a >>> 24) * s;
        out[o + 1 + p1] = (b & 255) * s;
        out[o + 1 + qb] = ((b >>> 8) & 255) * s;
        out[o + 2 + qr] = ((b >>> 16) & 255) * s;
        out[o + 2 + p1] = (b >>> 24) * s;
        out[o + 2 + qb] = (c & 255) * s;
        out[o + 3 + qr] = ((c >>> 8) & 255) * s;
        out[o + 3 + p1] = ((c >>> 16) & 255) * s;
        out[o + 3 + qb] = (c >>> 24) * s;
      }
    } else {
      for (let i = first + y * rowBytes; o < end; o++, i += step) {
        out[o + qr] = src[i]! * s;
        out[o + p1] = src[i + 1]! * s;
        out[o + qb] = src[i + 2]! * s;
      }
    }
  }
}

/** @param out - [H, W, 3] float32; only the source rectangle is written. */
function interleavedF32(p: Placement, out: Float32Array, scale: number, m: Num3, d: Num3): void {
  const { src, first, rowBytes, step, w, h, W, left, top, s0, s2 } = p;
  const [m0, m1, m2] = m;
  const [d0, d1, d2] = d;
  for (let y = 0; y < h; y++) {
    let o = ((top + y) * W + left) * 3;
    let i = first + y * rowBytes;
    for (const end = o + w * 3; o < end; o += 3, i += step) {
      out[o] = (src[i + s0]! * scale - m0) / d0;
      out[o + 1] = (src[i + 1]! * scale - m1) / d1;
      out[o + 2] = (src[i + s2]! * scale - m2) / d2;
    }
  }
}

/** @param out - [3, H, W] (half bits or uint8); `luts[k][v]` is output channel k's value. */
function planarLut(
  p: Placement,
  out: Uint16Array | Uint8Array,
  luts: Uint16Array[] | Uint8Array[],
): void {
  const { src, first, rowBytes, step, w, h, W, left, top, s0 } = p;
  const p1 = out.length / 3;
  const bgr = s0 !== 0;
  const qr = bgr ? 2 * p1 : 0;
  const qb = 2 * p1 - qr;
  // Tables for the planes that receive the source's R, G and B bytes.
  const [t0, lg, t2] = luts as [Uint16Array, Uint16Array, Uint16Array];
  const lr = bgr ? t2 : t0;
  const lb = bgr ? t0 : t2;
  const words = wordsOf(p);
  for (let y = 0; y < h; y++) {
    let o = (top + y) * W + left;
    const end = o + w;
    if (words) {
      for (let j = (y * w * 3) >> 2; o < end; o += 4, j += 3) {
        const a = words[j]!;
        const b = words[j + 1]!;
        const c = words[j + 2]!;
        out[o + qr] = lr[a & 255]!;
        out[o + p1] = lg[(a >>> 8) & 255]!;
        out[o + qb] = lb[(a >>> 16) & 255]!;
        out[o + 1 + qr] = lr[a >>> 24]!;
        out[o + 1 + p1] = lg[b & 255]!;
        out[o + 1 + qb] = lb[(b >>> 8) & 255]!;
        out[o + 2 + qr] = lr[(b >>> 16) & 255]!;
        out[o + 2 + p1] = lg[b >>> 24]!;
        out[o + 2 + qb] = lb[c & 255]!;
        out[o + 3 + qr] = lr[(c >>> 8) & 255]!;
        out[o + 3 + p1] = lg[(c >>> 16) & 255]!;
        out[o + 3 + qb] = lb[c >>> 24]!;
      }
    } else {
      for (let i = first + y * rowBytes; o < end; o++, i += step) {
        out[o + qr] = lr[src[i]!]!;
        out[o + p1] = lg[src[i + 1]!]!;
        out[o + qb] = lb[src[i + 2]!]!;
      }
    }
  }
}

/** @param out - [H, W, 3] (half bits or uint8); `luts[k][v]` is output channel k's value. */
function interleavedLut(
  p: Placement,
  out: Uint16Array | Uint8Array,
  luts: Uint16Array[] | Uint8Array[],
): void {
  const { src, first, rowBytes, step, w, h, W, left, top, s0, s2 } = p;
  const [l0, l1, l2] = luts as [Uint16Array, Uint16Array, Uint16Array];
  for (let y = 0; y < h; y++) {
    let o = ((top + y) * W + left) * 3;
    let i = first + y * rowBytes;
    for (const end = o + w * 3; o < end; o += 3, i += step) {
      out[o] = l0[src[i + s0]!]!;
      out[o + 1] = l1[src[i + 1]!]!;
      out[o + 2] = l2[src[i + s2]!]!;
    }
  }
}

type Num3 = readonly [number, number, number];

/** The value (in the output type's representation) of 0..255 pixel value `v`, channel k. */
function mapValue(
  datatype: PixelDataType,
  v: number,
  scale: number,
  mean: number,
  std: number,
): number {
  if (datatype === 'UINT8') return Math.min(255, Math.max(0, Math.round(v)));
  const f = Math.fround((v * scale - mean) / std);
  return datatype === 'FP32' ? f : floatToHalfBits(f);
}

/**
 * Fills everything outside the source rectangle with each channel's pad value, and touches
 * one element per 4 KiB page inside it: the kernel maps a fresh allocation's pages on first
 * touch, and doing that here (while libvips decodes) takes it off the critical path. The
 * rectangle itself is written in full by the pixel kernels.
 *
 * @param out - [3, H, W] (NCHW) or [H, W, 3] (NHWC)
 */
function fillPadding(
  out: PixelTensor,
  nhwc: boolean,
  W: number,
  H: number,
  rect: { left: number; top: number; right: number; bottom: number },
  pad: number[],
): void {
  const { left, top, right, bottom } = rect;
  const plane = W * H;
  const page = 4096 / out.BYTES_PER_ELEMENT;
  // Touch first: the pad fills below overwrite any touched pad position.
  if (nhwc) {
    for (let q = top * W * 3; q < bottom * W * 3; q += page) out[q] = 0;
    const span = (from: number, to: number): void => {
      for (let q = from * 3; q < to * 3; q += 3) {
        out[q] = pad[0]!;
        out[q + 1] = pad[1]!;
        out[q + 2] = pad[2]!;
      }
    };
    span(0, top * W);
    for (let y = top; y < bottom; y++) {
      span(y * W, y * W + left);
      span(y * W + right, (y + 1) * W);
    }
    span(bottom * W, plane);
    return;
  }
  for (let k = 0; k < 3; k++) {
    const base = k * plane;
    const v = pad[k]!;
    for (let q = base + top * W; q < base + bottom * W; q += page) out[q] = 0;
    out.fill(v, base, base + top * W);
    out.fill(v, base + bottom * W, base + plane);
    if (left > 0 || right < W) {
      for (let y = top; y < bottom; y++) {
        out.fill(v, base + y * W, base + y * W + left);
        out.fill(v, base + y * W + right, base + (y + 1) * W);
      }
    }
  }
}

/**
 * A plain Uint8Array view of the same bytes: Buffers (a subclass, as sharp and raw frames
 * give them) and Uint8Arrays reaching the same pixel loops would make their element access
 * polymorphic.
 */
function plain(u8: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(u8) === Uint8Array.prototype
    ? u8
    : new Uint8Array(u8.buffer, u8.byteOffset, u8.length);
}

/**
 * Memory for a tensor every element of which is about to be written (pad + image cover the
 * whole plane): skipping the zero fill of `new Float32Array(n)` saves a full extra pass.
 */
function uninitialised(byteLength: number): ArrayBuffer {
  const b = Buffer.allocUnsafeSlow(byteLength);
  // allocUnsafeSlow never hands out a slice of the shared pool: offset 0, whole buffer.
  return b.buffer.byteLength === byteLength && b.byteOffset === 0
    ? (b.buffer as ArrayBuffer)
    : new ArrayBuffer(byteLength);
}

/**
 * RGB pixels → model tensor in one pass: channel reorder, value mapping
 * ((v·scale − mean[c]) / std[c], rounded once to float32; FP16 is that float32 rounded to
 * the nearest half), layout change and placement inside a larger padded plane.
 *
 * @param src - source pixels: packed [srcHeight, srcWidth, 3] RGB uint8 (row-major, no
 *   stride), or a PixelView of srcWidth×srcHeight pixels
 * @returns [3, height, width] (NCHW) or [height, width, 3] (NHWC) values, without the batch
 *   dimension; Float32Array (FP32), Uint16Array half bits (FP16) or Uint8Array (UINT8)
 */
export function hwcToTensor(
  src: Uint8Array | PixelView,
  srcWidth: number,
  srcHeight: number,
  opts: TensorOptions = {},
): PixelTensor {
  return planTensor(srcWidth, srcHeight, opts).write(src);
}

/** A tensor with its padding already written, waiting for the source pixels. */
interface TensorPlan {
  /**
   * Writes the srcWidth×srcHeight RGB pixels (packed [srcHeight, srcWidth, 3], or a view)
   * and returns the finished tensor.
   */
  write(src: Uint8Array | PixelView): PixelTensor;
}

/**
 * The pixel-independent half of hwcToTensor: validation, allocation and padding. Split out
 * so prepareInput can do it on the main thread while libvips is still decoding.
 */
function planTensor(srcWidth: number, srcHeight: number, opts: TensorOptions): TensorPlan {
  const W = opts.width ?? srcWidth;
  const H = opts.height ?? srcHeight;
  const left = opts.left ?? 0;
  const top = opts.top ?? 0;
  const datatype = opts.datatype ?? 'FP32';
  const scale = opts.scale ?? 1;
  const mean: Num3 = opts.mean ?? [0, 0, 0];
  const std: Num3 = opts.std ?? [1, 1, 1];
  if (left < 0 || top < 0 || left + srcWidth > W || top + srcHeight > H) {
    throw new TritonError(
      'INVALID_ARGUMENT',
      `hwcToTensor: a ${srcWidth}×${srcHeight} image at (${left}, ${top}) does not fit in ${W}×${H}`,
    );
  }
  const bgr = opts.colour === 'BGR';
  const nhwc = opts.layout === 'NHWC';
  const n = W * H * 3;
  const pad = [0, 1, 2].map((k) =>
    mapValue(datatype, opts.padValue ?? 0, scale, mean[k]!, std[k]!),
  );
  const rect = { left, top, right: left + srcWidth, bottom: top + srcHeight };
  const at = (src: Uint8Array | PixelView): Placement => {
    const place = { w: srcWidth, h: srcHeight, W, left, top, s0: bgr ? 2 : 0, s2: bgr ? 0 : 2 };
    if (src instanceof Uint8Array) {
      if (src.length !== srcWidth * srcHeight * 3) {
        throw new TritonError(
          'INVALID_ARGUMENT',
          `hwcToTensor: ${srcWidth}×${srcHeight} RGB needs ${srcWidth * srcHeight * 3} bytes, got ${src.length}`,
        );
      }
      return { src: plain(src), first: 0, rowBytes: srcWidth * 3, step: 3, ...place };
    }
    const { data, first, rowBytes, step } = src;
    const last = first + (srcHeight - 1) * rowBytes + (srcWidth - 1) * step + 2;
    if (!(first >= 0 && step >= 3 && rowBytes >= 0 && last < data.length)) {
      throw new TritonError(
        'INTERNAL',
        `hwcToTensor: a ${srcWidth}×${srcHeight} view (first ${first}, row ${rowBytes}, step ${step}) does not fit in ${data.length} bytes`,
      );
    }
    return { src: plain(data), first, rowBytes, step, ...place };
  };

  if (datatype === 'FP32') {
    const alloc = (bytes: number): ArrayBuffer =>
      opts.pool ? opts.pool.acquire(bytes) : uninitialised(bytes);
    const out = new Float32Array(alloc(n * 4));
    fillPadding(out, nhwc, W, H, rect, pad);
    const plain = mean.every((m) => m === 0) && std.every((d) => d === 1);
    return {
      write(src) {
        const p = at(src);
        // (v·s − 0) / 1 is exactly v·s, so the Ultralytics case skips the subtract and divide.
        if (plain && !nhwc) planarScaledF32(p, out, scale);
        else (nhwc ? interleavedF32 : planarF32)(p, out, scale, mean, std);
        return out;
      },
    };
  }
  const byteLength = n * (datatype === 'FP16' ? 2 : 1);
  const bytes = opts.pool ? opts.pool.acquire(byteLength) : uninitialised(byteLength);
  const out = datatype === 'FP16' ? new Uint16Array(bytes) : new Uint8Array(bytes);
  const luts = [0, 1, 2].map((k) => {
    const t = datatype === 'FP16' ? new Uint16Array(256) : new Uint8Array(256);
    for (let v = 0; v < 256; v++) t[v] = mapValue(datatype, v, scale, mean[k]!, std[k]!);
    return t;
  }) as Uint16Array[] | Uint8Array[];
  fillPadding(out, nhwc, W, H, rect, pad);
  return {
    write(src) {
      (nhwc ? interleavedLut : planarLut)(at(src), out, luts);
      return out;
    },
  };
}

// ---- the pre-processing entry point ------------------------------------------------------

export interface PreparedInput {
  /**
   * The model input for one image, laid out as `shape` (e.g. [1, 3, 640, 640] NCHW):
   * Float32Array (FP32), Uint16Array of half bits (FP16) or Uint8Array (UINT8).
   */
  tensor: PixelTensor;
  /** profile.input.shape. */
  shape: number[];
  /** ORIGINAL image width after EXIF orientation. */
  width: number;
  /** ORIGINAL image height after EXIF orientation. */
  height: number;
  /** Set for letterbox models: where the image sits in the input. */
  letterbox?: LetterboxGeometry;
  /** Set for ImageNet-style models: where the crop was taken. */
  crop?: CropGeometry;
  /**
   * Until the pixels are there: the header read and the decode (started together; 'fast'
   * resizes in the same libvips pass), then the exact resize where it makes new pixels; the
   * tensor's allocation and padding run on the main thread meanwhile.
   */
  decodeMs: number;
  /**
   * Writing the pixels into the tensor (the part of hwcToTensor that needs them), which
   * includes the resize when it only picks pixels (linearPick) and the crop.
   */
  preprocessMs: number;
}

function tensorDataType(profile: Pick<ModelProfile, 'input'>): PixelDataType {
  const dt = profile.input.datatype;
  if (dt === 'FP32' || dt === 'FP16' || dt === 'UINT8') return dt;
  throw new TritonError(
    'UNSUPPORTED_MODEL',
    `The model's image input '${profile.input.name}' is ${dt}; image inputs must be FP32, ` +
      'FP16 or UINT8',
  );
}

function checkShape(profile: Pick<ModelProfile, 'input'>): void {
  const { shape, width, height, name } = profile.input;
  const n = shape.reduce((a, d) => a * d, 1);
  if (!(width > 0 && height > 0) || n !== width * height * 3) {
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `The model's input '${name}' has shape [${shape.join(', ')}], which does not hold one ` +
        `3-channel ${width}×${height} image`,
    );
  }
}

/**
 * Decodes `input` and builds the model input tensor in one go. Original pixels are not
 * kept: call decodeImage (or annotate with the original input) when they are needed.
 *
 * resize 'exact' (default): the full image is decoded (no shrink-on-load; an embedded ICC
 * profile ignored unless icc = 'apply'), then resized as the reference does it:
 *   letterbox: computeLetterbox(W0, H0, inW, inH, centred), cv2.resize INTER_LINEAR
 *     (resizeLinearCv), pad with padValue, colour order, × scale;
 *   imagenet: the preset's geometry (torchvision: computeCenterCrop; onnx-zoo:
 *     computeZooCrop), Pillow's resize with the preset's filter, crop, v/255, (x − mean) / std.
 * resize 'fast': libvips resizes while it decodes (JPEG shrink-on-load, its own linear /
 *   cubic reduce), then the same geometry and tensor.
 * The tensor's allocation and padding run on the main thread while libvips decodes.
 */
export async function prepareInput(
  input: ImageInput,
  profile: Pick<ModelProfile, 'input' | 'preprocess'>,
  opts: DecodeOptions = {},
): Promise<PreparedInput> {
  const t0 = performance.now();
  const maxPixels = checkMaxPixels(opts.maxPixels);
  const mode = checkResizeMode(opts.resize);
  const icc = checkIccMode(opts.icc);
  const datatype = tensorDataType(profile);
  checkShape(profile);
  const { width: inW, height: inH, layout } = profile.input;
  const pre = profile.preprocess;
  const source = toSource(input);
  const pool = opts.tensorPool ? { pool: opts.tensorPool } : {};

  if (pre.kind === 'letterbox') {
    let W0: number;
    let H0: number;
    let pixels: Promise<Uint8Array | PixelView> | Uint8Array | PixelView;
    let g: LetterboxGeometry;
    if (source.kind === 'raw') {
      ({ width: W0, height: H0 } = source.frame);
      if (W0 * H0 > maxPixels) throw tooLarge(W0, H0, maxPixels);
      g = computeLetterbox(W0, H0, inW, inH, pre.centred);
      const rgb = rawToRgb(source.frame);
      // A frame already at the target size (a camera set to the model size) is used as is.
      pixels =
        g.newWidth === W0 && g.newHeight === H0
          ? rgb
          : mode === 'exact'
            ? linearResized(rgb, W0, H0, g.newWidth, g.newHeight)
            : pixelsOf(
                resizeTo(await open(source, maxPixels), g.newWidth, g.newHeight, 'linear'),
                'raw',
              );
    } else if (mode === 'exact') {
      const opened = await openDecoded(source.bytes, maxPixels, icc);
      W0 = opened.width;
      H0 = opened.height;
      g = computeLetterbox(W0, H0, inW, inH, pre.centred);
      const { newWidth: nw, newHeight: nh } = g;
      pixels = opened.decoded.then((d) => linearResized(d.data, d.width, d.height, nw, nh));
    } else {
      const opened = await open(source, maxPixels, icc);
      W0 = opened.width;
      H0 = opened.height;
      g = computeLetterbox(W0, H0, inW, inH, pre.centred);
      pixels = pixelsOf(resizeTo(opened, g.newWidth, g.newHeight, 'linear'), opened.format);
    }
    const { tensor, decodedAt } = await render(pixels, g.newWidth, g.newHeight, {
      width: inW,
      height: inH,
      left: g.padLeft,
      top: g.padTop,
      padValue: pre.padValue,
      colour: pre.colour,
      scale: pre.scale,
      layout,
      datatype,
      ...pool,
    });
    return {
      tensor,
      shape: [...profile.input.shape],
      width: W0,
      height: H0,
      letterbox: g,
      decodeMs: decodedAt - t0,
      preprocessMs: performance.now() - decodedAt,
    };
  }

  let W0: number;
  let H0: number;
  let opened: OpenedImage | undefined;
  let decoding: Promise<RawPixels> | undefined;
  if (source.kind === 'raw') {
    ({ width: W0, height: H0 } = source.frame);
    if (W0 * H0 > maxPixels) throw tooLarge(W0, H0, maxPixels);
  } else if (mode === 'exact') {
    ({
      width: W0,
      height: H0,
      decoded: decoding,
    } = await openDecoded(source.bytes, maxPixels, icc));
  } else {
    opened = await open(source, maxPixels, icc);
    ({ width: W0, height: H0 } = opened);
  }
  const c =
    pre.preset === 'onnx-zoo'
      ? computeZooCrop(W0, H0, pre.resize, pre.crop)
      : computeCenterCrop(W0, H0, pre.resize, pre.crop);
  if (c.width !== inW || c.height !== inH) {
    // Nobody will await the decode now; keep its failure from going unhandled.
    decoding?.catch(() => undefined);
    throw new TritonError(
      'UNSUPPORTED_MODEL',
      `Pre-processing resizes to ${pre.resize} and crops ${c.width}×${c.height}, but the ` +
        `model's input is ${inW}×${inH}: set resize ≥ crop and crop = the input size`,
    );
  }
  let pixels: Promise<Uint8Array | PixelView>;
  if (mode === 'exact') {
    const decoded =
      decoding ??
      Promise.resolve({
        data: rawToRgb((source as { frame: RawFrame }).frame),
        width: W0,
        height: H0,
      });
    pixels = decoded.then((d) => pilCropped(d.data, d.width, d.height, c, pre.interpolation));
  } else {
    const o = opened ?? (await open(source, maxPixels));
    const kernel = pre.interpolation === 'bicubic' ? 'cubic' : 'linear';
    const pipeline = resizeTo(o, c.resizedWidth, c.resizedHeight, kernel).extract({
      left: c.left,
      top: c.top,
      width: c.width,
      height: c.height,
    });
    pixels = pixelsOf(pipeline, o.format);
  }
  const { tensor, decodedAt } = await render(pixels, c.width, c.height, {
    colour: pre.colour,
    scale: 1 / 255,
    mean: pre.mean,
    std: pre.std,
    layout,
    datatype,
    ...pool,
  });
  return {
    tensor,
    shape: [...profile.input.shape],
    width: W0,
    height: H0,
    crop: c,
    decodeMs: decodedAt - t0,
    preprocessMs: performance.now() - decodedAt,
  };
}

/** Starts the libvips work now (toBuffer queues it on the thread pool at once). */
function pixelsOf(pipeline: Sharp, format: string): Promise<Uint8Array> {
  return runRaw(pipeline, format).then((r) => r.data);
}

/**
 * Memory for resized pixels on their way into a tensor: taken by linearResized, given back
 * by render once the tensor is written (nothing else ever sees it). A handful of buffers,
 * whatever the sizes: images of one camera come back at one size.
 */
const resizeScratch = {
  idle: [] as ArrayBuffer[],
  acquire(byteLength: number): ArrayBuffer {
    const i = this.idle.findIndex((b) => b.byteLength === byteLength);
    return i >= 0 ? this.idle.splice(i, 1)[0]! : new ArrayBuffer(byteLength);
  },
  release(buffer: ArrayBuffer): void {
    if (this.idle.includes(buffer)) return;
    this.idle.push(buffer);
    if (this.idle.length > 6) this.idle.shift();
  },
};

/** Resized pixels held in resizeScratch. */
interface ScratchView extends PixelView {
  scratch: ArrayBuffer;
}

/**
 * cv2.resize INTER_LINEAR of packed RGB to nw×nh, for the tensor: when the resize only picks
 * pixels (linearPick: 1920×1080 → 640×360, or no resize) a view of the source that the
 * tensor writer reads through, without a copy; otherwise resizeLinearCv into scratch memory.
 */
function linearResized(
  data: Uint8Array,
  width: number,
  height: number,
  nw: number,
  nh: number,
): PixelView | ScratchView {
  const pick = linearPick(width, height, nw, nh);
  if (pick) {
    const { x0, y0, kx, ky } = pick;
    return { data, first: (y0 * width + x0) * 3, rowBytes: ky * width * 3, step: kx * 3 };
  }
  const scratch = resizeScratch.acquire(nw * nh * 3);
  const out = resizeLinearCv(data, width, height, nw, nh, new Uint8Array(scratch));
  return { data: out, first: 0, rowBytes: nw * 3, step: 3, scratch };
}

/**
 * Pillow's resize of packed RGB to the crop geometry's resized size, in scratch memory, and
 * the crop rectangle of it as a view (the tensor writer reads the rectangle in place).
 */
function pilCropped(
  data: Uint8Array,
  width: number,
  height: number,
  c: CropGeometry,
  filter: PilFilter,
): PixelView | ScratchView {
  const taken: ArrayBuffer[] = [];
  const resized = resizePil(data, width, height, c.resizedWidth, c.resizedHeight, filter, (n) => {
    const b = resizeScratch.acquire(n);
    taken.push(b);
    return new Uint8Array(b);
  });
  const view: PixelView = {
    data: resized,
    first: (c.top * c.resizedWidth + c.left) * 3,
    rowBytes: c.resizedWidth * 3,
    step: 3,
  };
  // The horizontal pass's memory is free at once; the result's once the tensor is written.
  let kept: ArrayBuffer | undefined;
  for (const b of taken) {
    if (b === resized.buffer) kept = b;
    else resizeScratch.release(b);
  }
  return kept ? { ...view, scratch: kept } : view;
}

/**
 * Allocates and pads the tensor while libvips decodes on its own thread, then writes the
 * pixels once they arrive. `decodedAt` is when they arrived.
 */
async function render(
  pixels: Promise<Uint8Array | PixelView> | Uint8Array | PixelView,
  srcWidth: number,
  srcHeight: number,
  opts: TensorOptions,
): Promise<{ tensor: PixelTensor; decodedAt: number }> {
  let plan: TensorPlan;
  try {
    plan = planTensor(srcWidth, srcHeight, opts);
  } catch (err) {
    // Nobody will await the decode now; keep its failure from going unhandled.
    if (pixels instanceof Promise) pixels.catch(() => undefined);
    throw err;
  }
  const src = await pixels;
  const decodedAt = performance.now();
  const tensor = plan.write(src);
  if (!(src instanceof Uint8Array) && 'scratch' in src) {
    resizeScratch.release((src as ScratchView).scratch);
  }
  return { tensor, decodedAt };
}

function resizeTo(
  opened: OpenedImage,
  width: number,
  height: number,
  kernel: 'linear' | 'cubic',
): Sharp {
  if (width === opened.width && height === opened.height) return opened.pipeline;
  return opened.pipeline.resize(width, height, { kernel, fit: 'fill' });
}

/**
 * For callers that draw on the original (annotate, preview): validates `input`, checks
 * maxPixels from the header, and returns a sharp pipeline that yields the oriented RGB
 * image. Unlike the model input, an embedded ICC profile is applied by default (icc
 * 'apply'), so that drawings look as the photo does.
 */
export async function openImage(input: ImageInput, opts: DecodeOptions = {}): Promise<OpenedImage> {
  // Pictures made for people to look at: an embedded profile is applied unless told not to.
  return open(toSource(input), checkMaxPixels(opts.maxPixels), checkIccMode(opts.icc ?? 'apply'));
}
