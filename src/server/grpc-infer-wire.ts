/**
 * The gRPC frontend's ModelInfer without the generic protobuf machinery's big
 * allocations. protobufjs encodes a response into a fresh buffer the size of the
 * output tensors (2.8 MB for a YOLO head), which grpc-js then copies into its own
 * frame: two multi-megabyte allocations per call, and a full garbage collection every
 * few calls. Here the response is written into one reused scratch buffer (grpc-js
 * copies it into its frame synchronously before the next call can serialize), and
 * request tensors that are not aligned for a typed-array view are copied into pooled
 * memory instead of a fresh allocation.
 *
 * Wire format (protos/kserve_v2.proto, ModelInferResponse): 1 model_name, 2
 * model_version, 3 id (strings), 5 outputs (InferOutputTensor: 1 name, 2 datatype,
 * 3 shape as packed int64), 6 raw_output_contents (bytes). A response with anything
 * else set (parameters, typed contents) goes to the generic encoder.
 */
import type { WireInferResponse, WireTensor } from '../protocol/grpc-codec';
import { DATATYPE_BYTES, isDataType } from '../protocol/tensor';
import type { BodyPool } from './body-pool';

const LEN = 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function fieldSize(field: number, length: number): number {
  return varintSize((field << 3) | LEN) + varintSize(length) + length;
}

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  tag(field: number, length: number): void {
    this.varint((field << 3) | LEN);
    this.varint(length);
  }

  string(field: number, s: string, bytes: number): void {
    if (bytes === 0) return;
    this.tag(field, bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
}

/** Whether the fast encoder covers `t`: name, datatype and a non-negative shape only. */
function plainTensor(t: WireTensor): boolean {
  const contents = t.contents as Record<string, unknown[] | undefined> | null | undefined;
  if (contents && Object.values(contents).some((v) => Array.isArray(v) && v.length > 0)) {
    return false;
  }
  if (t.parameters && Object.keys(t.parameters).length > 0) return false;
  return t.shape.every((d) => Number.isSafeInteger(Number(d)) && Number(d) >= 0);
}

/**
 * A serializer for ModelInferResponse that writes into one reused buffer, falling back
 * to `generic` for what it does not cover.
 */
export function inferResponseSerializer(
  generic: (value: unknown) => Buffer,
): (value: unknown) => Buffer {
  let scratch = Buffer.alloc(0);
  return (value: unknown): Buffer => {
    const res = value as WireInferResponse;
    const raw = res.raw_output_contents ?? [];
    if (
      (res.parameters && Object.keys(res.parameters).length > 0) ||
      !res.outputs.every(plainTensor)
    ) {
      return generic(value);
    }
    const strings = [res.model_name ?? '', res.model_version ?? '', res.id ?? ''];
    const stringBytes = strings.map((s) => Buffer.byteLength(s, 'utf8'));
    const outputs = res.outputs.map((t) => {
      const name = Buffer.byteLength(t.name, 'utf8');
      const datatype = Buffer.byteLength(t.datatype, 'utf8');
      const shape = t.shape.map(Number);
      const packed = shape.reduce((n, d) => n + varintSize(d), 0);
      const body =
        (name ? fieldSize(1, name) : 0) +
        (datatype ? fieldSize(2, datatype) : 0) +
        (shape.length ? fieldSize(3, packed) : 0);
      return { t, name, datatype, shape, packed, body };
    });
    let size = 0;
    stringBytes.forEach((b, i) => (size += b ? fieldSize(i + 1, b) : 0));
    for (const o of outputs) size += fieldSize(5, o.body);
    for (const r of raw) size += fieldSize(6, r.byteLength);
    if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.ceil(size * 1.25));
    const w = new Writer(scratch);
    strings.forEach((s, i) => w.string(i + 1, s, stringBytes[i]!));
    for (const o of outputs) {
      w.tag(5, o.body);
      w.string(1, o.t.name, o.name);
      w.string(2, o.t.datatype, o.datatype);
      if (o.shape.length) {
        w.tag(3, o.packed);
        for (const d of o.shape) w.varint(d);
      }
    }
    for (const r of raw) w.bytes(6, r);
    return scratch.subarray(0, w.pos);
  };
}

/**
 * Copies each raw input whose bytes are not aligned for its datatype into pooled memory
 * (in place in `contents`), so decoding views it instead of allocating an aligned copy.
 * Returns the function that gives that memory back once the call has ended.
 */
export function alignRawInputs(
  inputs: readonly { datatype: string }[],
  contents: Uint8Array[] | undefined,
  pool: BodyPool,
): () => void {
  const taken: ArrayBuffer[] = [];
  if (!contents) return () => undefined;
  contents.forEach((bytes, i) => {
    // A typed-array view needs the element size's alignment (1 for bytes and unknown types).
    const dt = inputs[i]?.datatype ?? '';
    const size = isDataType(dt) ? DATATYPE_BYTES[dt] : 1;
    if (bytes.byteOffset % size === 0 || bytes.byteLength < 64 * 1024) return;
    const ab = pool.take(bytes.byteLength);
    const copy = Buffer.from(ab, 0, bytes.byteLength);
    copy.set(bytes);
    contents[i] = copy;
    taken.push(ab);
  });
  return () => {
    for (const ab of taken.splice(0)) pool.give(ab);
  };
}

/**
 * Typed `contents` (fp32_contents and the like) bytes a ModelInferRequest may carry in
 * all. Decoding them makes one JS number per value on the event loop (a 32 MB field is
 * 8 M numbers, about a second); raw_input_contents has no such cost and no such limit.
 */
export const MAX_TYPED_CONTENTS_BYTES = 16 * 1024 * 1024;

/** Reads a varint at `pos`; returns [value, next position] or undefined past the end. */
function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return undefined;
    const b = buf[pos++]!;
    value += (b & 127) * scale;
    if (b < 128) return [value, pos];
    scale *= 128;
  }
  return undefined;
}

/**
 * Walks the fields of one message in buf[start, end), calling `onLen` for each
 * length-delimited field. Returns false when the bytes are not a well-formed message
 * (then the generic decoder says what is wrong).
 */
function walkFields(
  buf: Uint8Array,
  start: number,
  end: number,
  onLen: (field: number, from: number, to: number) => void,
): boolean {
  let pos = start;
  while (pos < end) {
    const tag = readVarint(buf, pos, end);
    if (!tag) return false;
    pos = tag[1];
    const field = Math.floor(tag[0] / 8);
    const type = tag[0] % 8;
    if (type === 0) {
      const v = readVarint(buf, pos, end);
      if (!v) return false;
      pos = v[1];
    } else if (type === 1) pos += 8;
    else if (type === 5) pos += 4;
    else if (type === 2) {
      const len = readVarint(buf, pos, end);
      if (!len || len[1] + len[0] > end) return false;
      onLen(field, len[1], len[1] + len[0]);
      pos = len[1] + len[0];
    } else return false;
  }
  return pos === end;
}

/**
 * The bytes of typed `contents` in a serialized ModelInferRequest (field 5 `inputs`,
 * each an InferInputTensor whose field 5 is `contents`), read without decoding them.
 */
export function typedContentsBytes(buf: Uint8Array): number {
  let total = 0;
  walkFields(buf, 0, buf.length, (field, from, to) => {
    if (field !== 5) return;
    walkFields(buf, from, to, (inner, a, b) => {
      if (inner === 5) total += b - a;
    });
  });
  return total;
}
