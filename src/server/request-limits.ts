/**
 * Bounds on the work one request can buy from triton-vision-serve: how large a body a
 * model's inputs could need, how far a compressed body may expand, and how many
 * requests may be in progress at once. One place for these facts; both frontends and
 * the serve command read them from here.
 */
import { TritonError } from '../protocol/errors';
import { DATATYPE_BYTES, configToDataType } from '../protocol/tensor';
import type { ModelConfig } from '../protocol/types';

/**
 * The longest JSON text one tensor value may take, separator and some spacing
 * included: `-1.2345678901234567e-308, ` is 26 characters. A request that spends more
 * per value is refused as larger than the model's inputs could need.
 */
export const JSON_BYTES_PER_VALUE = 32;

/** Room for the JSON header of a request (names, shapes, parameters, id) beyond the tensors. */
export const REQUEST_HEADER_SLACK_BYTES = 64 * 1024;

/**
 * How far a compressed request body may expand (decompressed ÷ compressed). Tensor data
 * and JSON numbers compress 2-10×; a body that expands 1000× is a decompression bomb.
 */
export const DEFAULT_MAX_INFLATE_RATIO = 100;

/** Requests (infer, load, unload, index) in progress at once before new ones get 503 / UNAVAILABLE. */
export const DEFAULT_MAX_INFLIGHT = 64;

/** JSON parts at least this long are parsed off the event loop (a worker thread). */
export const WORKER_JSON_BYTES = 256 * 1024;

/**
 * The largest infer request body the model's inputs could need, in bytes: every
 * input at its largest shape (the batch dimension at max_batch_size), written as
 * JSON values or as binary data, whichever is longer, plus room for the JSON
 * header. Infinity when an input has a variable dimension other than the batch, or
 * a datatype without a fixed size (BYTES): then only the server's message limit
 * applies.
 *
 * @param config the model's configuration (dims without the batch dimension when
 *   max_batch_size > 0).
 */
export function inferBodyBound(config: ModelConfig): number {
  let total = REQUEST_HEADER_SLACK_BYTES;
  for (const input of config.input) {
    const dims = config.max_batch_size > 0 ? [config.max_batch_size, ...input.dims] : input.dims;
    let elements = 1;
    for (const d of dims) {
      if (!(Number.isSafeInteger(d) && d >= 0)) return Infinity;
      elements *= d;
    }
    let datatype;
    try {
      datatype = configToDataType(input.data_type);
    } catch {
      return Infinity;
    }
    if (datatype === 'BYTES' || datatype === 'BF16') return Infinity;
    total += elements * Math.max(DATATYPE_BYTES[datatype], JSON_BYTES_PER_VALUE);
  }
  return total;
}

/** The refusal for a request body over `limit` bytes, saying which limit it met. */
export function bodyTooLarge(
  bytes: number | undefined,
  limit: number,
  why: 'message' | 'model' | 'inflate',
  model?: string,
): TritonError {
  const size =
    bytes === undefined
      ? 'The request body expands to more than'
      : `The request body is ${bytes} bytes,`;
  const text =
    why === 'model'
      ? `${size} more than the inputs of model '${model ?? ''}' can need (${limit} bytes at their largest shape): check the shapes, or send the tensors as binary data`
      : why === 'inflate'
        ? `The compressed request body expands more than ${limit}× (a ratio no tensor data reaches): send it uncompressed or less repetitive`
        : `${size} over this server's limit of ${limit} bytes: send a smaller request or raise the server's --max-message-mb`;
  return new TritonError('MESSAGE_TOO_LARGE', text, model !== undefined ? { model } : {});
}

/** The refusal for a request that finds `limit` requests already in progress. */
export function serverBusy(limit: number): TritonError {
  return new TritonError(
    'TRITON_UNAVAILABLE',
    `The server is busy: ${limit} requests are already in progress (its --max-inflight limit); retry shortly`,
  );
}

/**
 * Counts requests in progress and refuses those past `limit`. `enter()` returns a
 * release function (call it once, when the answer is sent) or undefined when full.
 */
export class InflightGate {
  private count = 0;

  constructor(readonly limit: number) {}

  get inflight(): number {
    return this.count;
  }

  enter(): (() => void) | undefined {
    if (this.count >= this.limit) return undefined;
    this.count++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.count--;
    };
  }
}
