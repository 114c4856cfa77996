/**
 * Tensor codecs shared by every transport: datatype tables, IEEE half
 * conversion, and little-endian byte (de)serialisation of typed arrays.
 */
import { TritonError } from './errors';
import type { ConfigDataType, DataType, Tensor, TensorData } from './types';

export const DATATYPE_BYTES: Record<DataType, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

export function isDataType(s: unknown): s is DataType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DATATYPE_BYTES, s);
}

/** `TYPE_FP32` → `FP32` (TYPE_STRING → BYTES, which we do not carry as tensors). */
export function configToDataType(t: ConfigDataType | string): DataType | 'BYTES' | 'BF16' {
  const bare = t.startsWith('TYPE_') ? t.slice(5) : t;
  if (bare === 'STRING') return 'BYTES';
  if (bare === 'BF16') return 'BF16';
  if (isDataType(bare)) return bare;
  throw new TritonError('UNSUPPORTED', `Unknown config datatype '${t}'`);
}

export function dataTypeToConfig(t: DataType): ConfigDataType {
  return `TYPE_${t}`;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new TritonError(
        'INVALID_ARGUMENT',
        `Tensor shape [${shape.join(',')}] has a dimension that is not a non-negative integer`,
      );
    }
    n *= d;
  }
  return n;
}

// ---- IEEE 754 half precision ------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Float32 value → half bits, round to nearest even (as numpy/ORT do). */
export function floatToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Inf / NaN (keep NaN quiet and non-zero)
    return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    // subnormal half (or zero)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // may carry into exponent: correct
  return sign | half;
}

/** Half bits → float value (exact). */
export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function float32ToHalf(
  src: ArrayLike<number>,
  out = new Uint16Array(src.length),
): Uint16Array {
  for (let i = 0; i < src.length; i++) out[i] = floatToHalfBits(src[i]!);
  return out;
}

export function halfToFloat32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) out[i] = halfBitsToFloat(src[i]!);
  return out;
}

// ---- typed array ↔ little-endian bytes ---------------------------------------

type Ctor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
  new (length: number): TensorData;
  BYTES_PER_ELEMENT: number;
};

const STORAGE: Record<DataType, Ctor> = {
  BOOL: Uint8Array as unknown as Ctor,
  UINT8: Uint8Array as unknown as Ctor,
  INT8: Int8Array as unknown as Ctor,
  UINT16: Uint16Array as unknown as Ctor,
  INT16: Int16Array as unknown as Ctor,
  FP16: Float32Array as unknown as Ctor,
  UINT32: Uint32Array as unknown as Ctor,
  INT32: Int32Array as unknown as Ctor,
  FP32: Float32Array as unknown as Ctor,
  UINT64: BigUint64Array as unknown as Ctor,
  INT64: BigInt64Array as unknown as Ctor,
  FP64: Float64Array as unknown as Ctor,
};

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!isLittleEndian) {
  // Every platform Node-RED runs on today is little-endian; refuse loudly rather than corrupt.
  throw new Error('node-red-contrib-triton-vision requires a little-endian CPU');
}

/** The typed array class that holds elements of `datatype` in our API. */
export function storageFor(datatype: DataType): Ctor {
  return STORAGE[datatype];
}

/** Checks that `data` fits `datatype` and `shape`; throws INVALID_ARGUMENT otherwise. */
export function validateTensor(t: Tensor): void {
  if (!isDataType(t.datatype)) {
    throw new TritonError(
      'INVALID_ARGUMENT',
      `Tensor '${t.name}' has unsupported datatype '${String(t.datatype)}'`,
    );
  }
  const n = elementCount(t.shape);
  const ok =
    t.data instanceof STORAGE[t.datatype] ||
    (t.datatype === 'FP16' && t.data instanceof Uint16Array);
  if (!ok) {
    throw new TritonError(
      'INVALID_ARGUMENT',
      `Tensor '${t.name}' is ${t.datatype} but its data is a ${t.data?.constructor?.name ?? typeof t.data}`,
    );
  }
  if (t.data.length !== n) {
    throw new TritonError(
      'INVALID_ARGUMENT',
      `Tensor '${t.name}' has shape [${t.shape.join(',')}] (${n} elements) but ${t.data.length} values`,
    );
  }
}

/**
 * Serialises a tensor's data as raw little-endian bytes (the binary tensor
 * extension / raw_input_contents layout). Shares memory when it can.
 */
export function tensorToBytes(t: Tensor): Buffer {
  validateTensor(t);
  let data: TensorData = t.data;
  if (t.datatype === 'FP16' && !(data instanceof Uint16Array)) {
    data = float32ToHalf(data as Float32Array);
  } else if (t.datatype === 'BOOL') {
    const b = data as Uint8Array;
    let normal = true;
    for (let i = 0; i < b.length; i++) if (b[i]! > 1) normal = false;
    if (!normal) data = Uint8Array.from(b, (v) => (v ? 1 : 0));
  }
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Parses raw little-endian bytes into our storage for `datatype`. Copies into an
 * aligned buffer when needed (typed arrays need offset % element size == 0).
 */
export function bytesToTensorData(
  bytes: Uint8Array,
  datatype: DataType,
  shape: readonly number[],
  name = 'tensor',
): TensorData {
  if (!isDataType(datatype)) {
    throw new TritonError(
      'UNSUPPORTED',
      `Tensor '${name}' has datatype '${String(datatype)}', which this client does not decode`,
    );
  }
  const n = elementCount(shape);
  const size = DATATYPE_BYTES[datatype];
  if (bytes.byteLength !== n * size) {
    throw new TritonError(
      'PROTOCOL_ERROR',
      `Tensor '${name}' should hold ${n * size} bytes for ${datatype} [${shape.join(',')}] but ${bytes.byteLength} arrived`,
    );
  }
  let buf = bytes;
  if (bytes.byteOffset % size !== 0) {
    // Every byte is overwritten at once: skip the zero-fill of a fresh allocation.
    buf = Buffer.allocUnsafeSlow(bytes.byteLength);
    buf.set(bytes);
  }
  if (datatype === 'FP16') {
    return halfToFloat32(new Uint16Array(buf.buffer, buf.byteOffset, n));
  }
  const C = STORAGE[datatype];
  return new C(buf.buffer, buf.byteOffset, n);
}

/** Builds typed storage from JSON numbers/booleans (HTTP JSON `data`, possibly nested). */
export function jsonToTensorData(
  values: unknown,
  datatype: DataType,
  shape: readonly number[],
  name = 'tensor',
): TensorData {
  const flat: unknown[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else flat.push(v);
  };
  walk(values);
  const n = elementCount(shape);
  if (flat.length !== n) {
    throw new TritonError(
      'INVALID_ARGUMENT',
      `Tensor '${name}' has shape [${shape.join(',')}] (${n} elements) but ${flat.length} values`,
    );
  }
  const C = STORAGE[datatype];
  const out = new C(n);
  for (let i = 0; i < n; i++) {
    const v = flat[i];
    if (datatype === 'BOOL') {
      (out as Uint8Array)[i] = v ? 1 : 0;
    } else if (datatype === 'INT64' || datatype === 'UINT64') {
      if (typeof v !== 'number' && typeof v !== 'string' && typeof v !== 'bigint') {
        throw new TritonError('INVALID_ARGUMENT', `Tensor '${name}' element ${i} is not a number`);
      }
      (out as BigInt64Array)[i] = BigInt(v);
    } else {
      if (typeof v !== 'number') {
        throw new TritonError('INVALID_ARGUMENT', `Tensor '${name}' element ${i} is not a number`);
      }
      (out as Float32Array)[i] = v;
    }
  }
  return out;
}

/** Typed storage → plain JSON values (HTTP JSON responses). */
export function tensorDataToJson(
  data: TensorData,
  datatype: DataType,
): (number | boolean | string)[] {
  const out: (number | boolean | string)[] = new Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (datatype === 'BOOL') out[i] = v !== 0;
    else if (typeof v === 'bigint') out[i] = Number(v);
    else out[i] = v;
  }
  return out;
}
