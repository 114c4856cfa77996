/**
 * One error type for everything the package reports. `code` is a stable string
 * a flow can switch on (compare codes, not `instanceof`: bundles may hold two
 * copies of this class).
 */
export type TritonErrorCode =
  // transport / server
  | 'TRITON_UNAVAILABLE' // cannot reach the server, or it said UNAVAILABLE
  | 'TIMEOUT' // deadline exceeded
  | 'CANCELLED' // the caller aborted
  | 'NOT_FOUND' // unknown model / version / endpoint
  | 'MODEL_NOT_READY' // model exists but is not loaded / ready
  | 'INVALID_ARGUMENT' // request rejected: wrong shape, dtype, size
  | 'UNSUPPORTED' // the server does not implement this (UNIMPLEMENTED / 501)
  | 'ALREADY_EXISTS'
  | 'INTERNAL' // the server failed (500 / INTERNAL)
  | 'PROTOCOL_ERROR' // the reply is not KServe v2 (HTML from a proxy, truncated body, ...)
  | 'MESSAGE_TOO_LARGE' // a request or response exceeds the configured size limit
  | 'UNAUTHORIZED' // 401/403, UNAUTHENTICATED / PERMISSION_DENIED: check the credentials
  | 'RUNTIME_MISSING' // local mode without an onnxruntime it can load (the message names the fix)
  | 'INVALID_CONFIG' // client or node configuration is wrong
  // images / models / nodes
  | 'INVALID_IMAGE'
  | 'IMAGE_TOO_LARGE'
  | 'UNSUPPORTED_MODEL'
  | 'INVALID_OPTION'
  | 'INVALID_INPUT'
  | 'QUEUE_FULL'
  | 'UNKNOWN';

export interface TritonErrorDetails {
  model?: string;
  endpoint?: string;
  /** HTTP status or gRPC status code that produced this error, when there was one. */
  status?: number;
  cause?: unknown;
}

/**
 * The longest message an error keeps. Messages often carry text a server sent (an error
 * body, gRPC details), and a server may send megabytes: that text would travel on in
 * every msg.error, log line and debug sidebar. Past this, the message is cut with a note.
 */
export const MAX_ERROR_MESSAGE_CHARS = 2000;

/** `message`, cut to MAX_ERROR_MESSAGE_CHARS with a note of how much was left out. */
export function capErrorMessage(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE_CHARS) return message;
  let head = message.slice(0, MAX_ERROR_MESSAGE_CHARS);
  // Never end on half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(head)) head = head.slice(0, -1);
  return `${head}… (${message.length - head.length} more characters left out)`;
}

export class TritonError extends Error {
  readonly code: TritonErrorCode;
  readonly model?: string;
  readonly endpoint?: string;
  readonly status?: number;

  constructor(code: TritonErrorCode, message: string, details: TritonErrorDetails = {}) {
    super(
      capErrorMessage(message),
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.name = 'TritonError';
    this.code = code;
    if (details.model !== undefined) this.model = details.model;
    if (details.endpoint !== undefined) this.endpoint = details.endpoint;
    if (details.status !== undefined) this.status = details.status;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      model: this.model,
      endpoint: this.endpoint,
      status: this.status,
    };
  }
}

/** True for any error carrying one of our codes (works across bundle copies). */
export function isTritonError(err: unknown): err is TritonError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'TritonError' &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}

/** Wraps anything thrown into a TritonError, keeping ours as they are. */
export function toTritonError(
  err: unknown,
  fallback: TritonErrorCode = 'UNKNOWN',
  details: TritonErrorDetails = {},
): TritonError {
  if (isTritonError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TritonError(fallback, message, { ...details, cause: err });
}

// ---- status mapping: one table for both clients and both server frontends ----

/** gRPC status codes (numeric values from the gRPC spec). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const NOT_READY_TEXT =
  /not ready|no available versions|is not loaded|unavailable model|not loaded/i;
const NOT_FOUND_TEXT = /not found|unknown model/i;

/**
 * Server-side error code → our code. `message` refines the ambiguous cases
 * (Triton reports an unloaded model as UNAVAILABLE or 400 depending on release).
 */
export function codeFromGrpcStatus(status: number, message = ''): TritonErrorCode {
  switch (status) {
    case GrpcStatus.CANCELLED:
      return 'CANCELLED';
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
    case GrpcStatus.FAILED_PRECONDITION:
      if (NOT_READY_TEXT.test(message)) return 'MODEL_NOT_READY';
      if (NOT_FOUND_TEXT.test(message)) return 'NOT_FOUND';
      return 'INVALID_ARGUMENT';
    case GrpcStatus.DEADLINE_EXCEEDED:
      return 'TIMEOUT';
    case GrpcStatus.NOT_FOUND:
      // Triton 2.x: an unloaded model is "unknown model: 'm' has no available versions".
      return NOT_READY_TEXT.test(message) ? 'MODEL_NOT_READY' : 'NOT_FOUND';
    case GrpcStatus.ALREADY_EXISTS:
      return 'ALREADY_EXISTS';
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNAUTHENTICATED:
      return 'UNAUTHORIZED';
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'MESSAGE_TOO_LARGE';
    case GrpcStatus.UNIMPLEMENTED:
      return 'UNSUPPORTED';
    case GrpcStatus.INTERNAL:
    case GrpcStatus.DATA_LOSS:
      return 'INTERNAL';
    case GrpcStatus.UNAVAILABLE:
      return NOT_READY_TEXT.test(message) ? 'MODEL_NOT_READY' : 'TRITON_UNAVAILABLE';
    default:
      if (NOT_READY_TEXT.test(message)) return 'MODEL_NOT_READY';
      if (NOT_FOUND_TEXT.test(message)) return 'NOT_FOUND';
      return 'UNKNOWN';
  }
}

export function codeFromHttpStatus(status: number, message = ''): TritonErrorCode {
  if (status === 400) {
    if (NOT_READY_TEXT.test(message)) return 'MODEL_NOT_READY';
    if (NOT_FOUND_TEXT.test(message)) return 'NOT_FOUND';
    return 'INVALID_ARGUMENT';
  }
  if (status === 401 || status === 403) return 'UNAUTHORIZED';
  if (status === 404) return NOT_READY_TEXT.test(message) ? 'MODEL_NOT_READY' : 'NOT_FOUND';
  if (status === 408 || status === 504) return 'TIMEOUT';
  if (status === 413) return 'MESSAGE_TOO_LARGE';
  if (status === 499) return 'CANCELLED';
  if (status === 501) return 'UNSUPPORTED';
  if (status === 502) return 'TRITON_UNAVAILABLE';
  if (status === 503)
    return NOT_READY_TEXT.test(message) ? 'MODEL_NOT_READY' : 'TRITON_UNAVAILABLE';
  if (status >= 500) return 'INTERNAL';
  return 'UNKNOWN';
}

/** Our code → the HTTP status a KServe v2 server answers with (Triton's table). */
export function httpStatusForCode(code: TritonErrorCode): number {
  switch (code) {
    case 'NOT_FOUND':
      return 404;
    case 'TRITON_UNAVAILABLE':
    case 'MODEL_NOT_READY':
      return 503;
    case 'UNSUPPORTED':
      return 501;
    case 'INTERNAL':
    case 'RUNTIME_MISSING':
    case 'UNKNOWN':
      return 500;
    case 'MESSAGE_TOO_LARGE':
      return 413;
    case 'UNAUTHORIZED':
      return 401;
    default:
      return 400; // INVALID_ARGUMENT, ALREADY_EXISTS, CANCELLED, TIMEOUT, ...
  }
}

/** Our code → the gRPC status a KServe v2 server answers with. */
export function grpcStatusForCode(code: TritonErrorCode): number {
  switch (code) {
    case 'NOT_FOUND':
      return GrpcStatus.NOT_FOUND;
    case 'TRITON_UNAVAILABLE':
    case 'MODEL_NOT_READY':
      return GrpcStatus.UNAVAILABLE;
    case 'UNSUPPORTED':
      return GrpcStatus.UNIMPLEMENTED;
    case 'INTERNAL':
    case 'RUNTIME_MISSING':
      return GrpcStatus.INTERNAL;
    case 'ALREADY_EXISTS':
      return GrpcStatus.ALREADY_EXISTS;
    case 'CANCELLED':
      return GrpcStatus.CANCELLED;
    case 'TIMEOUT':
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 'MESSAGE_TOO_LARGE':
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 'UNAUTHORIZED':
      return GrpcStatus.UNAUTHENTICATED;
    case 'UNKNOWN':
      return GrpcStatus.UNKNOWN;
    default:
      return GrpcStatus.INVALID_ARGUMENT;
  }
}
