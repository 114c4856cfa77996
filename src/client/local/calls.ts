/**
 * One API call of the local client: its deadline and AbortSignal, and the shape of the
 * errors it ends with (always a TritonError carrying a code).
 */
import { TritonError, isTritonError } from '../../protocol/errors';

export type ErrorDetails = { model?: string; endpoint: string };

export class Deadline {
  private readonly end: number;

  constructor(
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    private readonly what: string,
    private readonly details: ErrorDetails,
  ) {
    this.end = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
  }

  timeoutError(): TritonError {
    return new TritonError(
      'TIMEOUT',
      `${this.what} did not finish within ${this.timeoutMs} ms (the call's deadline): allow more time (timeoutMs) or use a smaller model or input`,
      this.details,
    );
  }

  cancelError(): TritonError {
    return new TritonError('CANCELLED', `${this.what} was cancelled by the caller`, this.details);
  }

  /** Throws once the deadline has passed or the caller has aborted. */
  check(): void {
    if (this.signal?.aborted) throw this.cancelError();
    if (performance.now() >= this.end) throw this.timeoutError();
  }
}

/** Lets due timers and abort events run (a synchronous ORT run keeps them waiting). */
export const yieldToTimers = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Any failure as a TritonError (unexpected ones as INTERNAL, with the cause kept). */
export function asTritonError(err: unknown, details: ErrorDetails): TritonError {
  if (isTritonError(err)) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new TritonError('INTERNAL', `Local backend failed: ${text}`, { ...details, cause: err });
}

/**
 * Runs one API call under its deadline and AbortSignal. Work that cannot be
 * interrupted (an ORT run) carries on in the background; its result is dropped.
 */
export function runCall<T>(
  what: string,
  details: ErrorDetails,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  work: (deadline: Deadline) => Promise<T>,
): Promise<T> {
  const deadline = new Deadline(timeoutMs, signal, what, details);
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (finish()) reject(deadline.cancelError());
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => {
        if (finish()) reject(deadline.timeoutError());
      }, timeoutMs);
    }
    let pending: Promise<T>;
    try {
      pending = work(deadline);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (value) => {
        if (finish()) resolve(value);
      },
      (err: unknown) => {
        if (finish()) reject(asTritonError(err, details));
      },
    );
  });
}
