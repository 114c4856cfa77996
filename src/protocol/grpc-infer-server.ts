/**
 * The server's side of ModelInfer without the generic protobuf machinery's big copies,
 * the mirror of the client's encodeInferRequestFrame / InferReplyReader (grpc-codec.ts).
 *
 * - InferRequestSplitter reads one ModelInferRequest message as its bytes arrive from
 *   the socket: every `raw_input_contents` (field 7) lands 8-byte aligned in one buffer
 *   from a memory pool, so typed arrays view the tensors in place, and the other fields
 *   (names, shapes, parameters: a few hundred bytes) are kept apart, verbatim, for
 *   protobufjs. That is the one copy a request's tensors take, socket to tensor.
 * - encodeInferResponseFrame writes a ModelInferResponse as a gRPC frame: a small buffer
 *   with the frame prefix and the header fields, then each `raw_output_contents` as the
 *   output tensor's own memory behind its tag and length. No copy of the tensors.
 *
 * Wire format (protos/kserve_v2.proto). ModelInferRequest: 1 model_name, 2 model_version,
 * 3 id, 4 parameters, 5 inputs, 6 outputs, 7 raw_input_contents. ModelInferResponse: 1
 * model_name, 2 model_version, 3 id, 5 outputs (InferOutputTensor: 1 name, 2 datatype, 3
 * shape as packed int64), 6 raw_output_contents. Protobuf lets fields come in any order
 * and repeated fields be split, so a message put together from the kept fields and the
 * raw contents means the same.
 */
import { TritonError } from './errors';
import { GRPC_FRAME_PREFIX_BYTES, type ReplyMemory, type WireTensor } from './grpc-codec';

const RAW_INPUT_FIELD = 7;
const TAG_RAW_OUTPUT = (6 << 3) | 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 128) {
    buf[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

type State = 'tag' | 'length' | 'varint' | 'meta' | 'blob' | 'done';

/** What a whole request message split into. */
export interface SplitRequest {
  /** The message's fields other than raw_input_contents, as one valid ModelInferRequest. */
  meta: Buffer;
  /** raw_input_contents in order, views of `memory`, each 8-byte aligned. */
  raw: Buffer[];
  /** The pooled buffer the raw contents view (undefined when there were none). */
  memory: ArrayBuffer | undefined;
}

/**
 * Splits one ModelInferRequest message of a known length (the gRPC prefix already read)
 * as its bytes arrive. Throws INVALID_ARGUMENT for a malformed message.
 */
export class InferRequestSplitter {
  private state: State;
  private left: number;
  private unread = 0;
  private varint = 0;
  private varintScale = 1;
  private field = 0;
  private fieldLeft = 0;
  /** Tag and length bytes of the field being read, kept for a non-raw field. */
  private pending: number[] = [];
  private meta = Buffer.allocUnsafe(256);
  private metaAt = 0;
  private memory: ArrayBuffer | undefined;
  private cursor = 0;
  private blobAt = 0;
  private readonly blobs: { offset: number; length: number }[] = [];

  constructor(
    readonly messageBytes: number,
    private readonly pool: ReplyMemory,
  ) {
    this.left = messageBytes;
    this.state = messageBytes === 0 ? 'done' : 'tag';
  }

  /** Feeds bytes of the message; returns how many of chunk[from..] it took. */
  push(chunk: Uint8Array, from = 0): number {
    const end = Math.min(chunk.length, from + this.left);
    let i = from;
    while (i < end) {
      // Bytes of the message not yet taken, this chunk's included.
      this.unread = this.left - (i - from);
      switch (this.state) {
        case 'tag':
        case 'length':
        case 'varint': {
          const b = chunk[i++]!;
          this.pending.push(b);
          this.varint += (b & 127) * this.varintScale;
          this.varintScale *= 128;
          if (b >= 128) {
            if (this.varintScale > 2 ** 63) this.malformed('a varint longer than 10 bytes');
            break;
          }
          const v = this.varint;
          this.varint = 0;
          this.varintScale = 1;
          if (this.state === 'tag') this.onTag(v);
          else if (this.state === 'length') this.onLength(v);
          else this.keep(0, 'tag');
          break;
        }
        case 'meta': {
          const take = Math.min(this.fieldLeft, end - i);
          this.meta.set(chunk.subarray(i, i + take), this.metaAt);
          this.metaAt += take;
          this.fieldLeft -= take;
          i += take;
          if (this.fieldLeft === 0) this.state = 'tag';
          break;
        }
        case 'blob': {
          const take = Math.min(this.fieldLeft, end - i);
          new Uint8Array(this.memory!, this.blobAt, take).set(chunk.subarray(i, i + take));
          this.blobAt += take;
          this.fieldLeft -= take;
          i += take;
          if (this.fieldLeft === 0) this.state = 'tag';
          break;
        }
        default:
          throw new TritonError('INTERNAL', `request splitter in state ${this.state}`);
      }
    }
    this.left -= i - from;
    if (this.left === 0 && this.state !== 'done') {
      if (this.state !== 'tag' || this.pending.length > 0) {
        this.malformed('the message ends inside a field');
      }
      this.state = 'done';
    }
    return i - from;
  }

  get complete(): boolean {
    return this.state === 'done';
  }

  /** The split message; the caller owns `memory` from here (give it back to the pool). */
  finish(): SplitRequest {
    if (this.state !== 'done') this.malformed('the message is incomplete');
    const memory = this.memory;
    this.memory = undefined;
    return {
      meta: this.meta.subarray(0, this.metaAt),
      raw: this.blobs.map(({ offset, length }) => Buffer.from(memory!, offset, length)),
      memory,
    };
  }

  /** Gives the memory back after a failure (nothing refers to it). */
  discard(): void {
    if (this.memory) this.pool.release(this.memory);
    this.memory = undefined;
  }

  private malformed(why: string): never {
    throw new TritonError('INVALID_ARGUMENT', `The request is not a ModelInferRequest: ${why}`);
  }

  private onTag(tag: number): void {
    this.field = Math.floor(tag / 8);
    const type = tag % 8;
    if (this.field === 0) this.malformed('a field numbered 0');
    if (type === 0) this.state = 'varint';
    else if (type === 2) this.state = 'length';
    else if (type === 1 || type === 5) this.keep(type === 1 ? 8 : 4, 'meta');
    else this.malformed(`field ${this.field} has wire type ${type}`);
  }

  private onLength(length: number): void {
    if (length > this.unread - 1) {
      this.malformed(`field ${this.field} declares ${length} bytes, more than the message holds`);
    }
    if (this.field !== RAW_INPUT_FIELD) {
      this.keep(length, length === 0 ? 'tag' : 'meta');
      return;
    }
    // A raw input's tag and length are not kept: the tensor goes to aligned memory.
    this.pending = [];
    const offset = Math.ceil(this.cursor / 8) * 8;
    this.reserve(offset + length);
    this.blobs.push({ offset, length });
    this.blobAt = offset;
    this.cursor = offset + length;
    this.fieldLeft = length;
    this.state = length === 0 ? 'tag' : 'blob';
  }

  /** Keeps the pending tag/length bytes and makes room for `value` more bytes of meta. */
  private keep(value: number, next: State): void {
    const need = this.metaAt + this.pending.length + value;
    if (need > this.meta.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.meta.length * 2));
      this.meta.copy(bigger, 0, 0, this.metaAt);
      this.meta = bigger;
    }
    for (const b of this.pending) this.meta[this.metaAt++] = b;
    this.pending = [];
    this.fieldLeft = value;
    this.state = next;
  }

  private reserve(needed: number): void {
    const have = this.memory?.byteLength ?? 0;
    if (needed <= have) return;
    // The first raw input sizes the buffer for the whole message (plus alignment slack);
    // only a message with many small misaligned inputs grows it again.
    const size = have === 0 ? Math.max(needed, this.messageBytes + 64) : Math.max(needed, have * 2);
    const bigger = this.pool.acquire(size);
    if (this.memory) {
      new Uint8Array(bigger).set(new Uint8Array(this.memory, 0, this.cursor));
      this.pool.release(this.memory);
    }
    this.memory = bigger;
  }
}

/** A ModelInferResponse as encodeInferResponseFrame takes it. */
export interface InferResponseParts {
  model_name: string;
  model_version: string;
  id: string;
  outputs: WireTensor[];
  raw_output_contents: Uint8Array[];
}

/** Whether the frame encoder covers `t`: name, datatype and a non-negative shape only. */
function plainTensor(t: WireTensor): boolean {
  const contents = t.contents as Record<string, unknown[] | undefined> | null | undefined;
  if (contents && Object.values(contents).some((v) => Array.isArray(v) && v.length > 0)) {
    return false;
  }
  if (t.parameters && Object.keys(t.parameters).length > 0) return false;
  return t.shape.every((d) => Number.isSafeInteger(Number(d)) && Number(d) >= 0);
}

function lengthField(field: number, length: number): number {
  return varintSize((field << 3) | 2) + varintSize(length) + length;
}

/**
 * A ModelInferResponse → one gRPC frame (prefix + message) as chunks in order: one small
 * buffer with the prefix and header fields, then the raw outputs' own memory, each
 * behind a few bytes of tag and length. Undefined when the response has something this
 * encoder does not write (typed contents, parameters): use the generic encoder then.
 * The tensors must stay unchanged until the chunks have been written.
 */
export function encodeInferResponseFrame(
  res: InferResponseParts,
): { chunks: Buffer[]; messageBytes: number } | undefined {
  if (!res.outputs.every(plainTensor)) return undefined;
  const strings = [res.model_name, res.model_version, res.id];
  const stringBytes = strings.map((s) => Buffer.byteLength(s, 'utf8'));
  const outputs = res.outputs.map((t) => {
    const name = Buffer.byteLength(t.name, 'utf8');
    const datatype = Buffer.byteLength(t.datatype, 'utf8');
    const shape = t.shape.map(Number);
    const packed = shape.reduce((n, d) => n + varintSize(d), 0);
    const body =
      (name ? lengthField(1, name) : 0) +
      (datatype ? lengthField(2, datatype) : 0) +
      (shape.length ? lengthField(3, packed) : 0);
    return { t, name, datatype, shape, packed, body };
  });
  let head = 0;
  stringBytes.forEach((b, i) => (head += b ? lengthField(i + 1, b) : 0));
  for (const o of outputs) head += lengthField(5, o.body);
  const raw = res.raw_output_contents;
  let messageBytes = head;
  for (const r of raw) messageBytes += lengthField(6, r.byteLength);
  const tagBytes = (r: Uint8Array): number => 1 + varintSize(r.byteLength);
  const first = Buffer.allocUnsafe(
    GRPC_FRAME_PREFIX_BYTES + head + (raw.length > 0 ? tagBytes(raw[0]!) : 0),
  );
  first[0] = 0;
  first.writeUInt32BE(messageBytes, 1);
  let at = GRPC_FRAME_PREFIX_BYTES;
  const tag = (buf: Buffer, field: number, length: number): void => {
    buf[at++] = (field << 3) | 2;
    at = writeVarint(buf, at, length);
  };
  strings.forEach((s, i) => {
    if (!stringBytes[i]) return;
    tag(first, i + 1, stringBytes[i]);
    at += first.write(s, at, 'utf8');
  });
  for (const o of outputs) {
    tag(first, 5, o.body);
    if (o.name) {
      tag(first, 1, o.name);
      at += first.write(o.t.name, at, 'utf8');
    }
    if (o.datatype) {
      tag(first, 2, o.datatype);
      at += first.write(o.t.datatype, at, 'utf8');
    }
    if (o.shape.length) {
      tag(first, 3, o.packed);
      for (const d of o.shape) at = writeVarint(first, at, d);
    }
  }
  const chunks: Buffer[] = [first];
  raw.forEach((r, i) => {
    const bytes = Buffer.isBuffer(r) ? r : Buffer.from(r.buffer, r.byteOffset, r.byteLength);
    if (i === 0) {
      first[at++] = TAG_RAW_OUTPUT;
      writeVarint(first, at, r.byteLength);
    } else {
      const t = Buffer.allocUnsafe(tagBytes(r));
      t[0] = TAG_RAW_OUTPUT;
      writeVarint(t, 1, r.byteLength);
      chunks.push(t);
    }
    if (bytes.byteLength > 0) chunks.push(bytes);
  });
  return { chunks, messageBytes };
}
