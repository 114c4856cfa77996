/**
 * Large JSON infer requests parsed off the event loop. Parsing a JSON tensor of
 * millions of numbers takes seconds, during which a server on one thread answers
 * nothing, not even /v2/health/live. Here a worker thread parses the JSON part of a
 * request and turns every input's `data` array into the binary tensor extension's
 * bytes; the main thread then decodes the small header it gets back with the shared
 * codec (http-codec.ts), and the tensors are views of the transferred bytes.
 *
 * The worker's code is a plain-JavaScript string run with `eval: true`, like
 * client/local-worker.ts, so it works the same from src/ (tsx) and from the bundles.
 * Its only job is `data` → bytes; every other check stays in decodeInferRequest.
 */
import { Worker } from 'node:worker_threads';
import { TritonError } from '../protocol/errors';

/**
 * Main → worker: {id, json: Uint8Array (transferred)}.
 * Worker → main: {id, ok: true, header: Uint8Array, parts: Part[]} | {id, ok: false, message}
 * where Part is {kind: 'converted', bytes: Uint8Array} for an input whose `data` became
 * bytes, {kind: 'binary', size} for one that was binary already, {kind: 'none'} otherwise.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const SIZES = { BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, UINT32: 4, INT32: 4,
  UINT64: 8, INT64: 8, FP32: 4, FP64: 8 };
const ARRAYS = { BOOL: Uint8Array, UINT8: Uint8Array, INT8: Int8Array, UINT16: Uint16Array,
  INT16: Int16Array, UINT32: Uint32Array, INT32: Int32Array, UINT64: BigUint64Array,
  INT64: BigInt64Array, FP32: Float32Array, FP64: Float64Array };
const MAX_DEPTH = 32;
class Refusal extends Error {}
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
function store(out, i, v, datatype, what) {
  if (datatype === 'BOOL') {
    if (typeof v !== 'boolean' && typeof v !== 'number')
      throw new Refusal(what + ' element ' + i + ' is ' + JSON.stringify(v) + ', not true or false');
    out[i] = v ? 1 : 0;
  } else if (datatype === 'INT64' || datatype === 'UINT64') {
    const ok = (typeof v === 'number' && Number.isInteger(v)) ||
      (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v));
    if (!ok)
      throw new Refusal(what + ' element ' + i + ' is ' + JSON.stringify(v).slice(0, 40) + ', not a whole number (' + datatype + ')');
    out[i] = BigInt(v);
  } else {
    if (typeof v !== 'number')
      throw new Refusal(what + ' element ' + i + ' is ' + JSON.stringify(v).slice(0, 40) + ', not a number');
    if (datatype[0] !== 'F' && !Number.isInteger(v))
      throw new Refusal(what + ' element ' + i + ' is ' + v + ', not a whole number (' + datatype + ')');
    out[i] = v;
  }
}
// Flattens nested arrays without recursion, so no nesting depth overflows the stack.
function convert(data, datatype, shape, what) {
  let n = 1;
  for (const d of shape) n *= d;
  const out = new ARRAYS[datatype](n);
  let count = 0;
  const stack = [[data, 0]];
  if (!Array.isArray(data)) { store(out, 0, data, datatype, what); count = 1; stack.length = 0; }
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top[1] >= top[0].length) { stack.pop(); continue; }
    const v = top[0][top[1]++];
    if (Array.isArray(v)) {
      if (stack.length >= MAX_DEPTH)
        throw new Refusal(what + "'s data is nested deeper than " + MAX_DEPTH + ' levels: nest it as its shape says, or send it flat');
      stack.push([v, 0]);
      continue;
    }
    if (count >= n)
      throw new Refusal(what + ' has shape [' + shape.join(',') + '] (' + n + ' elements) but more values than that');
    store(out, count++, v, datatype, what);
  }
  if (count !== n)
    throw new Refusal(what + ' has shape [' + shape.join(',') + '] (' + n + ' elements) but ' + count + ' values');
  return new Uint8Array(out.buffer);
}
function handle(m) {
  let json;
  try {
    json = JSON.parse(Buffer.from(m.json.buffer, m.json.byteOffset, m.json.byteLength).toString('utf8'));
  } catch (err) {
    throw new Refusal('The infer request JSON is not valid (' + err.message + ')');
  }
  const parts = [];
  const transfer = [];
  if (isObject(json) && Array.isArray(json.inputs)) {
    for (const t of json.inputs) {
      const params = isObject(t) && isObject(t.parameters) ? t.parameters : undefined;
      if (params && params.binary_data_size !== undefined) {
        parts.push({ kind: 'binary', size: params.binary_data_size });
        continue;
      }
      if (!isObject(t) || t.data === undefined || !SIZES[t.datatype] || !Array.isArray(t.shape) ||
          !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || typeof t.name !== 'string') {
        // Not ours to judge: decodeInferRequest says what is wrong, and the data goes.
        if (isObject(t) && t.data !== undefined) t.data = [];
        parts.push({ kind: 'none' });
        continue;
      }
      const bytes = convert(t.data, t.datatype, t.shape, "Input '" + t.name + "'");
      delete t.data;
      t.parameters = Object.assign({}, params || {}, { binary_data_size: bytes.byteLength });
      parts.push({ kind: 'converted', bytes });
      transfer.push(bytes.buffer);
    }
  }
  const header = Buffer.from(JSON.stringify(json), 'utf8');
  const headerCopy = new Uint8Array(header);
  transfer.push(headerCopy.buffer);
  return { msg: { header: headerCopy, parts }, transfer };
}
// Response: outputs asked for as JSON arrive as bytes (binary_data_size in the header,
// names in m.json); their values are written into the header as 'data'.
function respond(m) {
  const json = JSON.parse(Buffer.from(m.header.buffer, m.header.byteOffset, m.header.byteLength).toString('utf8'));
  const keep = [];
  let offset = 0;
  json.outputs.forEach((o, i) => {
    const size = o.parameters.binary_data_size;
    const blob = m.blobs[i];
    offset += size;
    if (!m.asJson[i]) { keep.push(i); return; }
    const C = ARRAYS[o.datatype];
    const view = new C(blob.buffer, blob.byteOffset, blob.byteLength / SIZES[o.datatype]);
    const data = new Array(view.length);
    for (let k = 0; k < view.length; k++) {
      const v = view[k];
      data[k] = o.datatype === 'BOOL' ? v !== 0 : typeof v === 'bigint' ? Number(v) : v;
    }
    delete o.parameters;
    o.data = data;
  });
  const header = Buffer.from(JSON.stringify(json), 'utf8');
  const headerCopy = new Uint8Array(header);
  return { msg: { header: headerCopy, keep }, transfer: [headerCopy.buffer] };
}
parentPort.on('message', (m) => {
  try {
    const r = m.op === 'response' ? respond(m) : handle(m);
    r.msg.id = m.id;
    r.msg.ok = true;
    parentPort.postMessage(r.msg, r.transfer);
  } catch (err) {
    const message = err instanceof Refusal ? err.message
      : 'The infer request could not be read (' + (err && err.message ? err.message : String(err)) + ')';
    parentPort.postMessage({ id: m.id, ok: false, message });
  }
});
`;

export type JsonPart =
  { kind: 'converted'; bytes: Uint8Array } | { kind: 'binary'; size: unknown } | { kind: 'none' };

export interface ConvertedJson {
  /** The request's JSON with every converted input's `data` replaced by binary_data_size. */
  header: Uint8Array;
  /** Per input, in order. */
  parts: JsonPart[];
}

interface Pending {
  resolve: (v: never) => void;
  reject: (e: Error) => void;
}

/**
 * One worker thread for the JSON of large requests. Requests queue in it one after
 * the other; the frontend's in-flight limit bounds the queue.
 */
export class JsonWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    w.unref();
    w.on('message', (m: { id: number; ok: boolean; message?: string } & ConvertedJson) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.ok) p.resolve(m as never);
      else p.reject(new TritonError('INVALID_ARGUMENT', m.message ?? 'invalid request'));
    });
    const lost = (why: string): void => {
      if (this.worker === w) this.worker = undefined;
      const err = new TritonError('INTERNAL', `The JSON decoding thread stopped (${why})`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', (err) => lost(err.message));
    w.on('exit', (code) => lost(`exit code ${code}`));
    this.worker = w;
    return w;
  }

  /**
   * Parses `json` (the JSON part of an infer request) on the worker and converts its
   * `data` arrays to bytes. Rejects with INVALID_ARGUMENT and a sentence for JSON
   * that is not valid or values that do not fit their datatype.
   */
  convert(json: Uint8Array): Promise<ConvertedJson> {
    // A fresh copy the worker can own: the body's buffer may hold other requests' bytes.
    const own = new Uint8Array(json);
    return this.post({ op: 'request', json: own }, [own.buffer]) as Promise<ConvertedJson>;
  }

  private post(msg: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(new TritonError('TRITON_UNAVAILABLE', 'The server is shutting down'));
    }
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref();
      w.postMessage({ ...msg, id }, transfer);
    });
  }

  /**
   * Writes the values of the outputs flagged in `asJson` into an infer response header
   * as JSON `data` (off the event loop: stringifying a million numbers takes a second).
   *
   * @param header the response's JSON, every output with parameters.binary_data_size.
   * @param blobs each output's bytes, in output order (copied to the worker).
   * @returns the new header and the indexes of the outputs still sent as binary.
   */
  encode(
    header: Uint8Array,
    blobs: Uint8Array[],
    asJson: boolean[],
  ): Promise<{ header: Uint8Array; keep: number[] }> {
    return this.post({ op: 'response', header, blobs, asJson }, []) as Promise<never>;
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
