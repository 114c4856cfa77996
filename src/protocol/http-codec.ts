/**
 * The KServe v2 HTTP wire codec: pure functions that turn inference requests and
 * responses into bodies + headers and back, with the binary tensor extension.
 * No I/O here, so the client (src/client/http.ts) and the server frontend
 * (src/server/http-frontend.ts) share one implementation of the format and it can
 * be tested without sockets.
 *
 * Body layout with binary data: `<JSON header><blob 0><blob 1>...`, where the
 * header `Inference-Header-Content-Length` gives the JSON length in bytes and the
 * blobs follow in the order their tensors appear in the JSON (REFERENCE.md A.3).
 */
import { TritonError, type TritonErrorCode } from './errors';
import {
  DATATYPE_BYTES,
  bytesToTensorData,
  elementCount,
  isDataType,
  jsonToTensorData,
  tensorDataToJson,
  tensorToBytes,
  validateTensor,
} from './tensor';
import type {
  DataType,
  InferRequest,
  InferResponse,
  RequestedOutput,
  Tensor,
  TensorMetadata,
} from './types';

/** Lower-case, as Node reports incoming header names. */
export const INFERENCE_HEADER = 'inference-header-content-length';

/** Header names as they arrive from node:http (lower-case keys). */
export type HeaderBag = Record<string, string | string[] | number | undefined>;

export interface EncodedBody {
  headers: Record<string, string>;
  /**
   * The whole body as one Buffer. Joined from `chunks` on first read only: senders write
   * `chunks` instead, so megabytes of tensor bytes are not copied once more per call.
   */
  body: Buffer;
  /**
   * The body in order: the JSON header, then each binary tensor's bytes. The tensor parts
   * share memory with the tensors they came from (no copy), so those must not change until
   * the body is sent.
   */
  chunks: Buffer[];
  /** Total length of the body in bytes. */
  length: number;
}

/** An EncodedBody whose `body` is joined lazily from its chunks. */
function encodedBody(headers: Record<string, string>, chunks: Buffer[]): EncodedBody {
  let length = 0;
  for (const c of chunks) length += c.length;
  let joined: Buffer | undefined = chunks.length === 1 ? chunks[0] : undefined;
  return {
    headers,
    chunks,
    length,
    get body(): Buffer {
      joined ??= Buffer.concat(chunks, length);
      return joined;
    },
  };
}

/** Largest declared body allocated up front; bigger ones are gathered as they arrive. */
const PREALLOCATE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Collects a body arriving in chunks into one Buffer. When the length is declared up front
 * the chunks are copied straight into one allocation (no chunk list, no second copy at the
 * end), placed so that byte `alignAt` (where the first binary tensor starts, i.e. the
 * Inference-Header-Content-Length) sits on an 8-byte boundary: that tensor can then be
 * viewed as a Float32Array / Float64Array in place instead of being copied to align it.
 * A body that turns out longer or shorter than declared is still collected exactly.
 */
export class BodyCollector {
  private buf: Buffer | undefined;
  private chunks: Buffer[] | undefined;
  private total = 0;

  /**
   * @param declared the Content-Length, when known: the body is gathered in place
   * @param alignAt where the first binary tensor starts (Inference-Header-Content-Length)
   * @param memory where that in-place buffer comes from (default: a fresh ArrayBuffer);
   *   the body's `.buffer` is then the buffer `memory` handed out
   */
  constructor(
    declared?: number,
    alignAt?: number,
    memory?: { acquire(byteLength: number): ArrayBuffer },
  ) {
    // Past the cap, a peer that declares a huge body and sends little costs us no more
    // memory than what actually arrives.
    if (
      declared !== undefined &&
      Number.isSafeInteger(declared) &&
      declared > 0 &&
      declared <= PREALLOCATE_MAX_BYTES
    ) {
      const pad =
        alignAt !== undefined && Number.isSafeInteger(alignAt) && alignAt >= 0
          ? (8 - (alignAt % 8)) % 8
          : 0;
      // A fresh ArrayBuffer (never Node's shared pool), so offset 0 is 8-byte aligned.
      const backing = memory ? memory.acquire(declared + pad) : new ArrayBuffer(declared + pad);
      this.buf = Buffer.from(backing, pad, declared);
    } else {
      this.chunks = [];
    }
  }

  /** Bytes received so far. */
  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (this.buf && this.total + chunk.length <= this.buf.length) {
      chunk.copy(this.buf, this.total);
    } else {
      if (this.buf) {
        // More than declared: carry on with a chunk list from what arrived so far.
        this.chunks = [this.buf.subarray(0, this.total)];
        this.buf = undefined;
      }
      this.chunks!.push(chunk);
    }
    this.total += chunk.length;
  }

  /** The body received; call once, after the last chunk. */
  finish(): Buffer {
    if (this.buf) return this.buf.subarray(0, this.total);
    return Buffer.concat(this.chunks!, this.total);
  }
}

export interface EncodeRequestOptions {
  /** Ask for every output as binary (default true); false asks for JSON `data` arrays. */
  binaryOutputs?: boolean;
  /**
   * Send inputs as binary blobs (default true); false sends JSON `data` arrays, for
   * servers without the binary tensor extension (FP16 then cannot be sent).
   */
  binaryInputs?: boolean;
}

/**
 * Which outputs the server should send as binary: `byName` (per-output
 * `parameters.binary_data`) overrides `all` (request-level `binary_data_output`).
 */
export interface BinaryOutputChoice {
  all: boolean;
  byName: Record<string, boolean>;
}

/** A request as decoded by a server frontend: the tensors plus how to send outputs back. */
export interface DecodedInferRequest extends InferRequest {
  binaryOutputs: BinaryOutputChoice;
}

export interface DecodeRequestTarget {
  /** Model and version from the URL path. */
  model: string;
  version?: string;
  /**
   * For a raw binary request (`Inference-Header-Content-Length: 0`): the metadata
   * of the model's single input, so the bare bytes can be given a name, datatype
   * and shape. The frontend looks it up only when `isRawBinaryRequest` says so.
   */
  rawInput?: TensorMetadata;
}

// ---- small helpers --------------------------------------------------------------

function headerValue(headers: HeaderBag, name: string): string | undefined {
  // node:http gives lower-case keys; our own encoders use canonical case.
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== name) continue;
    const v = headers[key];
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v[0] : String(v);
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses `Inference-Header-Content-Length`. Undefined when absent (pure JSON body).
 * A value that is not a non-negative integer is a malformed message.
 */
function jsonHeaderLength(
  headers: HeaderBag,
  bodyLength: number,
  code: TritonErrorCode,
  side: string,
): number | undefined {
  const raw = headerValue(headers, INFERENCE_HEADER);
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!/^\d+$/.test(text)) {
    throw new TritonError(
      code,
      `The ${side} header Inference-Header-Content-Length is '${raw}', not a byte count`,
    );
  }
  const n = Number(text);
  if (n > bodyLength) {
    throw new TritonError(
      code,
      `The ${side} says its JSON part is ${n} bytes (Inference-Header-Content-Length) but the whole body is only ${bodyLength} bytes: the body was truncated or the header is wrong`,
    );
  }
  return n;
}

function parseJson(text: Buffer, code: TritonErrorCode, side: string): unknown {
  try {
    return JSON.parse(text.toString('utf8'));
  } catch (err) {
    const head = text.subarray(0, 60).toString('utf8').replace(/\s+/g, ' ');
    throw new TritonError(
      code,
      `The ${side} JSON is not valid (${(err as Error).message}); it starts with '${head}'`,
      { cause: err },
    );
  }
}

function parseShape(v: unknown, code: TritonErrorCode, what: string): number[] {
  if (!Array.isArray(v)) {
    throw new TritonError(code, `${what} has no 'shape' array`);
  }
  const shape = v.map((d) => (typeof d === 'string' && /^\d+$/.test(d) ? Number(d) : d));
  if (!shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw new TritonError(
      code,
      `${what} has shape ${JSON.stringify(v)}; every dimension must be a non-negative integer`,
    );
  }
  return shape as number[];
}

function parseDataType(v: unknown, code: TritonErrorCode, what: string): DataType {
  if (isDataType(v)) return v;
  if (typeof v === 'string' && v.startsWith('TYPE_') && isDataType(v.slice(5))) {
    throw new TritonError(
      code,
      `${what} has datatype '${v}': inference uses the bare name '${v.slice(5)}', not the config name`,
    );
  }
  throw new TritonError(
    code,
    `${what} has datatype ${JSON.stringify(v)}, which is not supported (use BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32 or FP64)`,
  );
}

function binaryDataSize(params: unknown, code: TritonErrorCode, what: string): number | undefined {
  if (!isObject(params) || params.binary_data_size === undefined) return undefined;
  const n = params.binary_data_size;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new TritonError(
      code,
      `${what} has parameters.binary_data_size ${JSON.stringify(n)}, not a byte count`,
    );
  }
  return n;
}

/**
 * Slices the next blob and decodes it, checking its size against shape × datatype
 * first so the error says which tensor is wrong.
 */
function takeBlob(
  blobs: Buffer,
  offset: number,
  size: number,
  tensor: { name: string; datatype: DataType; shape: number[] },
  code: TritonErrorCode,
  side: string,
): Tensor['data'] {
  if (offset + size > blobs.length) {
    throw new TritonError(
      code,
      `The ${side} is truncated: tensor '${tensor.name}' needs ${size} bytes at offset ${offset} of the binary part, which holds only ${blobs.length} bytes`,
    );
  }
  const expected = elementCount(tensor.shape) * DATATYPE_BYTES[tensor.datatype];
  if (size !== expected) {
    throw new TritonError(
      code,
      `Tensor '${tensor.name}' is ${tensor.datatype} [${tensor.shape.join(',')}], which is ${expected} bytes, but its binary_data_size is ${size}`,
    );
  }
  return bytesToTensorData(
    blobs.subarray(offset, offset + size),
    tensor.datatype,
    tensor.shape,
    tensor.name,
  );
}

function assembleBody(json: unknown, blobs: Buffer[]): { chunks: Buffer[]; jsonLength: number } {
  const head = Buffer.from(JSON.stringify(json), 'utf8');
  return { chunks: [head, ...blobs], jsonLength: head.length };
}

function jsonValues(t: Tensor, code: TritonErrorCode, side: string): unknown[] {
  // Triton refuses FP16 in JSON both ways; half values have no JSON form in the protocol.
  if (t.datatype === 'FP16') {
    throw new TritonError(
      code,
      `FP16 tensor '${t.name}' cannot travel as JSON in the ${side}: request it as binary (parameters.binary_data: true or binary_data_output: true)`,
    );
  }
  return tensorDataToJson(t.data, t.datatype);
}

// ---- client side: request out, response in ----------------------------------------

/**
 * Builds an infer request body. Every input travels as binary
 * (`parameters.binary_data_size`, blobs in input order; FP16 as IEEE half bits).
 * Outputs are asked for as binary unless `binaryOutputs` is false.
 */
export function encodeInferRequest(
  req: InferRequest,
  opts: EncodeRequestOptions = {},
): EncodedBody {
  const binaryOutputs = opts.binaryOutputs ?? true;
  const binaryInputs = opts.binaryInputs ?? true;
  const blobs: Buffer[] = [];
  const inputs = req.inputs.map((t) => {
    validateTensor(t);
    if (!binaryInputs) {
      return {
        name: t.name,
        shape: t.shape,
        datatype: t.datatype,
        data: jsonValues(t, 'INVALID_ARGUMENT', 'infer request'),
      };
    }
    const bytes = tensorToBytes(t);
    blobs.push(bytes);
    return {
      name: t.name,
      shape: t.shape,
      datatype: t.datatype,
      parameters: { binary_data_size: bytes.length },
    };
  });
  const json: Record<string, unknown> = {};
  if (req.id !== undefined && req.id !== '') json.id = req.id;
  json.inputs = inputs;
  if (req.outputs !== undefined && req.outputs.length > 0) {
    json.outputs = req.outputs.map((o: RequestedOutput) => ({
      name: o.name,
      parameters: { binary_data: binaryOutputs },
    }));
  } else if (binaryOutputs) {
    json.parameters = { binary_data_output: true };
  }
  const { chunks, jsonLength } = assembleBody(json, blobs);
  const length = chunks.reduce((n, c) => n + c.length, 0);
  if (blobs.length === 0) {
    return encodedBody(
      { 'Content-Type': 'application/json', 'Content-Length': String(length) },
      chunks,
    );
  }
  return encodedBody(
    {
      'Content-Type': 'application/octet-stream',
      'Inference-Header-Content-Length': String(jsonLength),
      'Content-Length': String(length),
    },
    chunks,
  );
}

/**
 * Parses an infer response body. With `Inference-Header-Content-Length` the JSON is
 * `body[0:len]` and binary outputs follow in output order; without it the body is
 * pure JSON with `data` arrays (flat or nested). Anything that does not add up is a
 * PROTOCOL_ERROR naming what was wrong.
 */
export function decodeInferResponse(body: Buffer, headers: HeaderBag): InferResponse {
  const code: TritonErrorCode = 'PROTOCOL_ERROR';
  const side = 'infer response';
  const jsonLength = jsonHeaderLength(headers, body.length, code, side);
  const jsonPart = jsonLength === undefined ? body : body.subarray(0, jsonLength);
  const blobs = jsonLength === undefined ? Buffer.alloc(0) : body.subarray(jsonLength);
  const json = parseJson(jsonPart, code, side);
  if (!isObject(json)) {
    throw new TritonError(code, `The ${side} JSON is not an object`);
  }
  if (!Array.isArray(json.outputs)) {
    throw new TritonError(code, `The ${side} has no 'outputs' array`);
  }
  let offset = 0;
  const outputs: Tensor[] = json.outputs.map((o: unknown, i: number) => {
    if (!isObject(o) || typeof o.name !== 'string') {
      throw new TritonError(code, `Output ${i} of the ${side} has no name`);
    }
    const what = `Output '${o.name}'`;
    const datatype = parseDataType(o.datatype, code, what);
    const shape = parseShape(o.shape, code, what);
    const size = binaryDataSize(o.parameters, code, what);
    if (size !== undefined) {
      if (jsonLength === undefined) {
        throw new TritonError(
          code,
          `${what} says it is ${size} bytes of binary data but the response has no Inference-Header-Content-Length header`,
        );
      }
      const data = takeBlob(blobs, offset, size, { name: o.name, datatype, shape }, code, side);
      offset += size;
      return { name: o.name, datatype, shape, data };
    }
    if (o.data === undefined) {
      throw new TritonError(code, `${what} has neither 'data' nor parameters.binary_data_size`);
    }
    try {
      return { name: o.name, datatype, shape, data: jsonToTensorData(o.data, datatype, shape) };
    } catch (err) {
      throw new TritonError(code, `${what}: ${(err as Error).message}`, { cause: err });
    }
  });
  if (offset !== blobs.length) {
    throw new TritonError(
      code,
      `The ${side} carries ${blobs.length} bytes of binary data but its outputs account for ${offset}: the body is longer than its header says`,
    );
  }
  const res: InferResponse = {
    model: typeof json.model_name === 'string' ? json.model_name : '',
    version:
      typeof json.model_version === 'string' || typeof json.model_version === 'number'
        ? String(json.model_version)
        : '',
    outputs,
  };
  if (typeof json.id === 'string' && json.id !== '') res.id = json.id;
  return res;
}

// ---- server side: request in, response out ----------------------------------------

/** True for Triton's raw binary request: the body is only the bytes of the single input. */
export function isRawBinaryRequest(headers: HeaderBag): boolean {
  const raw = headerValue(headers, INFERENCE_HEADER);
  return raw !== undefined && raw.trim() === '0';
}

/**
 * Gives the bare bytes of a raw binary request a shape: a variable first dimension
 * is the batch (taken as 1, as Triton does); at most one other may be variable and
 * is worked out from the byte count.
 */
function rawInputTensor(body: Buffer, meta: TensorMetadata): Tensor {
  const code: TritonErrorCode = 'INVALID_ARGUMENT';
  const datatype = parseDataType(meta.datatype, code, `Input '${meta.name}'`);
  const size = DATATYPE_BYTES[datatype];
  const shape = meta.shape.map((d, i) => (i === 0 && d < 0 ? 1 : d));
  const unknown = shape.filter((d) => d < 0).length;
  if (unknown > 1) {
    throw new TritonError(
      code,
      `A raw binary request cannot be used for input '${meta.name}' with shape [${meta.shape.join(',')}]: more than one dimension is variable; send a JSON header with the shape`,
    );
  }
  const known = shape.reduce((a, d) => (d < 0 ? a : a * d), 1) * size;
  if (unknown === 1) {
    if (known === 0 || body.length % known !== 0) {
      throw new TritonError(
        code,
        `The raw binary body is ${body.length} bytes, which is not a whole number of ${datatype} [${shape.join(',')}] rows for input '${meta.name}'`,
      );
    }
    const i = shape.findIndex((d) => d < 0);
    shape[i] = body.length / known;
  } else if (known !== body.length) {
    throw new TritonError(
      code,
      `The raw binary body is ${body.length} bytes but input '${meta.name}' (${datatype} [${shape.join(',')}]) needs ${known}`,
    );
  }
  return {
    name: meta.name,
    datatype,
    shape,
    data: bytesToTensorData(body, datatype, shape, meta.name),
  };
}

/**
 * Decodes an infer request as a KServe v2 server receives it: JSON `data` inputs,
 * binary inputs (`binary_data_size`), request-level `binary_data_output` with
 * per-output `binary_data` overriding it, and the raw binary request (header 0;
 * needs `target.rawInput`). Bad requests throw INVALID_ARGUMENT with a sentence.
 */
export function decodeInferRequest(
  body: Buffer,
  headers: HeaderBag,
  target: DecodeRequestTarget,
): DecodedInferRequest {
  const code: TritonErrorCode = 'INVALID_ARGUMENT';
  const side = 'infer request';
  const base = { model: target.model, ...(target.version ? { version: target.version } : {}) };
  if (isRawBinaryRequest(headers)) {
    if (!target.rawInput) {
      throw new TritonError(
        code,
        `A raw binary request (Inference-Header-Content-Length: 0) needs the model's input metadata`,
      );
    }
    return {
      ...base,
      inputs: [rawInputTensor(body, target.rawInput)],
      binaryOutputs: { all: true, byName: {} },
    };
  }
  const jsonLength = jsonHeaderLength(headers, body.length, code, side);
  const jsonPart = jsonLength === undefined ? body : body.subarray(0, jsonLength);
  const blobs = jsonLength === undefined ? Buffer.alloc(0) : body.subarray(jsonLength);
  if (jsonPart.length === 0) {
    throw new TritonError(code, `The ${side} body is empty: send a JSON object with 'inputs'`);
  }
  const json = parseJson(jsonPart, code, side);
  if (!isObject(json)) throw new TritonError(code, `The ${side} JSON is not an object`);
  if (!Array.isArray(json.inputs) || json.inputs.length === 0) {
    throw new TritonError(code, `The ${side} has no 'inputs': give at least one input tensor`);
  }
  let offset = 0;
  const inputs: Tensor[] = json.inputs.map((t: unknown, i: number) => {
    if (!isObject(t) || typeof t.name !== 'string' || t.name === '') {
      throw new TritonError(code, `Input ${i} of the ${side} has no name`);
    }
    const what = `Input '${t.name}'`;
    const params = isObject(t.parameters) ? t.parameters : {};
    if (params.shared_memory_region !== undefined) {
      throw new TritonError(
        'UNSUPPORTED',
        `${what} uses shared memory, which this server does not offer: send the tensor in the request body`,
      );
    }
    const datatype = parseDataType(t.datatype, code, what);
    const shape = parseShape(t.shape, code, what);
    const size = binaryDataSize(params, code, what);
    if (size !== undefined && t.data !== undefined) {
      throw new TritonError(
        code,
        `${what} sets both 'data' and parameters.binary_data_size: use one of them`,
      );
    }
    if (size !== undefined) {
      if (jsonLength === undefined) {
        throw new TritonError(
          code,
          `${what} says it is ${size} bytes of binary data but the request has no Inference-Header-Content-Length header`,
        );
      }
      const data = takeBlob(blobs, offset, size, { name: t.name, datatype, shape }, code, side);
      offset += size;
      return { name: t.name, datatype, shape, data };
    }
    if (t.data === undefined) {
      throw new TritonError(
        code,
        `${what} has neither 'data' nor parameters.binary_data_size: give its values`,
      );
    }
    if (datatype === 'FP16') {
      throw new TritonError(
        code,
        `${what} is FP16, which cannot be sent as JSON 'data': send it as binary data`,
      );
    }
    return {
      name: t.name,
      datatype,
      shape,
      data: jsonToTensorData(t.data, datatype, shape, t.name),
    };
  });
  if (offset !== blobs.length) {
    throw new TritonError(
      code,
      `The ${side} carries ${blobs.length} bytes after its JSON but its inputs account for ${offset}: check Inference-Header-Content-Length and each binary_data_size`,
    );
  }
  const reqParams = isObject(json.parameters) ? json.parameters : {};
  const choice: BinaryOutputChoice = {
    all: reqParams.binary_data_output === true,
    byName: {},
  };
  let outputs: RequestedOutput[] | undefined;
  if (json.outputs !== undefined) {
    if (!Array.isArray(json.outputs)) {
      throw new TritonError(code, `The ${side} 'outputs' is not an array`);
    }
    outputs = json.outputs.map((o: unknown, i: number) => {
      if (!isObject(o) || typeof o.name !== 'string' || o.name === '') {
        throw new TritonError(code, `Requested output ${i} has no name`);
      }
      const p = isObject(o.parameters) ? o.parameters : {};
      if (p.shared_memory_region !== undefined) {
        throw new TritonError(
          'UNSUPPORTED',
          `Output '${o.name}' asks for shared memory, which this server does not offer`,
        );
      }
      if (p.classification !== undefined) {
        throw new TritonError(
          'UNSUPPORTED',
          `Output '${o.name}' asks for the classification extension, which this server does not offer: request the raw output and take the top-k on the client`,
        );
      }
      if (p.binary_data !== undefined) choice.byName[o.name] = p.binary_data === true;
      return { name: o.name };
    });
    if (outputs.length === 0) outputs = undefined;
  }
  const req: DecodedInferRequest = { ...base, inputs, binaryOutputs: choice };
  if (outputs) req.outputs = outputs;
  if (typeof json.id === 'string' && json.id !== '') req.id = json.id;
  return req;
}

/** Whether output `name` goes back as binary under `choice`. */
export function wantsBinary(choice: BinaryOutputChoice | boolean, name: string): boolean {
  if (typeof choice === 'boolean') return choice;
  return choice.byName[name] ?? choice.all;
}

/**
 * Builds an infer response body. Outputs chosen as binary carry
 * `parameters.binary_data_size` and their bytes follow the JSON in output order;
 * the rest carry flat `data` arrays. With no binary output the body is pure JSON
 * and has no Inference-Header-Content-Length.
 */
export function encodeInferResponse(
  resp: InferResponse,
  choice: BinaryOutputChoice | boolean,
): EncodedBody {
  const blobs: Buffer[] = [];
  const outputs = resp.outputs.map((t) => {
    const head = { name: t.name, datatype: t.datatype, shape: t.shape };
    if (wantsBinary(choice, t.name)) {
      const bytes = tensorToBytes(t);
      blobs.push(bytes);
      return { ...head, parameters: { binary_data_size: bytes.length } };
    }
    validateTensor(t);
    return { ...head, data: jsonValues(t, 'INVALID_ARGUMENT', 'infer response') };
  });
  const json: Record<string, unknown> = {
    model_name: resp.model,
    model_version: resp.version,
  };
  if (resp.id !== undefined && resp.id !== '') json.id = resp.id;
  json.outputs = outputs;
  const { chunks, jsonLength } = assembleBody(json, blobs);
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const headers: Record<string, string> = { 'Content-Length': String(length) };
  if (blobs.length > 0) {
    headers['Content-Type'] = 'application/octet-stream';
    headers['Inference-Header-Content-Length'] = String(jsonLength);
  } else {
    headers['Content-Type'] = 'application/json';
  }
  return encodedBody(headers, chunks);
}

// ---- JSON error bodies ------------------------------------------------------------

/** The KServe v2 error body `{"error": "<message>"}`. */
export function encodeErrorBody(message: string): Buffer {
  return Buffer.from(JSON.stringify({ error: message }), 'utf8');
}

/**
 * The message of a KServe v2 error body, or undefined when the body is not one
 * (empty, HTML from a proxy, other JSON).
 */
export function parseErrorBody(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  const first = body.subarray(0, 16).toString('utf8').trimStart()[0];
  if (first !== '{') return undefined;
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    if (isObject(json) && typeof json.error === 'string') return json.error;
  } catch {
    return undefined;
  }
  return undefined;
}
