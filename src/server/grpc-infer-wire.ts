/**
 * Bounds on what a ModelInferRequest may carry that the gRPC frontend checks before
 * decoding it: typed `contents` are counted from the message's bytes, without decoding.
 */

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
