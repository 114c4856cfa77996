/**
 * When a failed call may be sent again, and how long to wait first. Pure functions: the
 * replica client (replicas.ts) applies them; tests drive them with their own random().
 *
 * Retried: the server could not be reached or said UNAVAILABLE (TRITON_UNAVAILABLE: a
 * refused or dropped connection, gRPC UNAVAILABLE, HTTP 502/503), gRPC RESOURCE_EXHAUSTED
 * that is not a message-size limit, and HTTP 504 from a gateway. Nothing else: a wrong
 * input, an unknown or unloaded model, a refused credential or certificate, or our own
 * deadline give the same answer the next time. Inference is idempotent on a KServe v2
 * server, so sending a request again after a dropped connection cannot do harm.
 *
 * Retries are counted where they happen (the replica client) and read where the work is
 * known: a node counts them per message by running the message's calls inside
 * countRetries(), without any call signature carrying a counter.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { GrpcStatus, isTritonError, TritonError } from '../protocol/errors';

export interface RetryOptions {
  /** First backoff step in ms (default 50); step n is min(maxDelayMs, baseDelayMs·2ⁿ). */
  baseDelayMs?: number;
  /** Largest backoff step in ms (default 1000). */
  maxDelayMs?: number;
  /** Most retries of one call, failovers to another endpoint included (default 5). */
  maxRetries?: number;
}

export const RETRY_DEFAULTS: Required<RetryOptions> = {
  baseDelayMs: 50,
  maxDelayMs: 1000,
  maxRetries: 5,
};

/** grpc-js's text when a message is over a size limit (sent or received). */
const SIZE_LIMIT_TEXT = /larger than max/i;

function detailsOf(err: TritonError): string {
  const cause = (err as { cause?: unknown }).cause;
  const d = (cause as { details?: unknown } | undefined)?.details;
  return typeof d === 'string' ? d : err.message;
}

/** HTTP statuses carry 100-599; gRPC statuses 0-16. */
function isHttpStatus(status: number | undefined): status is number {
  return status !== undefined && status >= 100;
}

/**
 * A TLS refusal (an untrusted CA, a certificate for another name, an expired one): the
 * server is there, and refuses the same way every time, as a refused credential does.
 */
const TLS_REFUSAL_TEXT = /certificate|self[- ]signed|UNABLE_TO_VERIFY|CERT_|TLS handshake/i;

function isTlsRefusal(err: TritonError): boolean {
  const cause = (err as { cause?: unknown }).cause as
    { code?: unknown; message?: unknown } | undefined;
  const text = [err.message, cause?.code, cause?.message, detailsOf(err)]
    .filter((t): t is string => typeof t === 'string')
    .join(' ');
  return TLS_REFUSAL_TEXT.test(text);
}

/** True when `err` is worth sending again (see the file comment). */
export function isRetryable(err: unknown): boolean {
  if (!isTritonError(err)) return false;
  if (err.code === 'TRITON_UNAVAILABLE') return !isTlsRefusal(err);
  if (isHttpStatus(err.status)) return err.status === 502 || err.status === 504;
  if (err.status === GrpcStatus.RESOURCE_EXHAUSTED) return !SIZE_LIMIT_TEXT.test(detailsOf(err));
  return false;
}

/**
 * True when `err` says the endpoint itself is gone (not merely busy): it leaves the
 * rotation until a health probe brings it back.
 */
export function isEndpointDown(err: unknown): boolean {
  return isTritonError(err) && err.code === 'TRITON_UNAVAILABLE';
}

/**
 * Exponential backoff with full jitter: a uniform draw in [0, min(max, base·2^retry)).
 * Spreading retries over the whole window keeps clients that failed together from
 * coming back together.
 * @param retry 0 for the first retry
 */
export function backoffDelay(
  retry: number,
  options: Required<RetryOptions> = RETRY_DEFAULTS,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * ceiling);
}

/** Validates and completes retry options; messages say what to change. */
export function resolveRetryOptions(options: RetryOptions = {}): Required<RetryOptions> {
  const out = { ...RETRY_DEFAULTS };
  for (const key of ['baseDelayMs', 'maxDelayMs', 'maxRetries'] as const) {
    const v = options[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new TritonError(
        'INVALID_CONFIG',
        `Retry option ${key} is ${String(v)}: it must be a number ≥ 0 (default ${RETRY_DEFAULTS[key]})`,
      );
    }
    out[key] = key === 'maxRetries' ? Math.floor(v) : v;
  }
  return out;
}

/** Waits `ms`, or rejects with CANCELLED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cancelled = (): TritonError =>
      new TritonError('CANCELLED', 'The caller cancelled the call while it waited to retry');
    if (signal?.aborted) {
      reject(cancelled());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelled());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retries made for one piece of work (a message of a node), counted by countRetries(). */
export interface RetryTally {
  retries: number;
}

const tallies = new AsyncLocalStorage<RetryTally>();

/**
 * Runs `work` with `tally` counting every retry its calls make (and calls started by
 * them: the context follows awaits and timers). Nested tallies count their own work only.
 */
export function countRetries<T>(tally: RetryTally, work: () => Promise<T>): Promise<T> {
  return tallies.run(tally, work);
}

/** Counts one retry on the tally of the work in progress, if it has one. */
export function noteRetry(): void {
  const tally = tallies.getStore();
  if (tally) tally.retries++;
}
