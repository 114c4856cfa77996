/**
 * Runs a fixture ONNX file directly with onnxruntime-node: the independent
 * reference that the client/server paths must reproduce bit for bit.
 */
import type { Tensor } from '../../src/protocol/types';
import { float32ToHalf, halfToFloat32 } from '../../src/protocol/tensor';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Ort = any;
const ort: Ort = require('onnxruntime-node');
const sessions = new Map<string, Promise<Ort>>();

function session(file: string): Promise<Ort> {
  const known = sessions.get(file);
  if (known) return known;
  const created: Promise<Ort> = ort.InferenceSession.create(file);
  sessions.set(file, created);
  return created;
}

/** Runs `file` on `inputs` and returns every output as our Tensor (FP16 as float values). */
export async function runOnnx(file: string, inputs: Tensor[]): Promise<Record<string, Tensor>> {
  const s = await session(file);
  const feeds: Record<string, unknown> = {};
  for (const t of inputs) {
    if (t.datatype === 'FP16') {
      const bits = t.data instanceof Uint16Array ? t.data : float32ToHalf(t.data as Float32Array);
      feeds[t.name] = new ort.Tensor('float16', bits, t.shape);
    } else if (t.datatype === 'FP32') {
      feeds[t.name] = new ort.Tensor('float32', t.data, t.shape);
    } else {
      throw new Error(`runOnnx: add ${t.datatype} when a test needs it`);
    }
  }
  const out = await s.run(feeds);
  const result: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(out as Record<string, Ort>)) {
    const dims = (value.dims as readonly number[]).map(Number);
    if (value.type === 'float16') {
      result[name] = { name, datatype: 'FP16', shape: dims, data: halfToFloat32(value.data) };
    } else {
      result[name] = { name, datatype: 'FP32', shape: dims, data: value.data as Float32Array };
    }
  }
  return result;
}

export async function releaseOnnxSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const s of all) await (await s).release();
}

/** Deterministic pseudo-random values in [0, 1) (a fixed LCG, so runs are repeatable). */
export function seededValues(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x / 4294967296;
  }
  return out;
}

/** Same values as they look after a trip through IEEE half precision. */
export function asHalfValues(values: Float32Array): Float32Array {
  return halfToFloat32(float32ToHalf(values));
}

/** True when both arrays hold the same bits (NaN-safe, -0 ≠ +0). */
export function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  const fa = Float32Array.from(a as ArrayLike<number>);
  const fb = Float32Array.from(b as ArrayLike<number>);
  const ua = new Uint32Array(fa.buffer);
  const ub = new Uint32Array(fb.buffer);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}
