/**
 * Long post-processing in slices: the work is written once as a generator that yields at
 * points where it may pause (between class rows, every few hundred NMS candidates,
 * between masks), and run either straight through (the synchronous API) or with a turn of
 * the event loop whenever SLICE_MS of work has gone by (the pipeline's path), so a worst
 * case head never stalls Node-RED's other flows, timers and sockets for long.
 */

/** Main-thread work between two turns of the event loop. */
export const SLICE_MS = 10;

/** Resumable work: yields where it may pause, returns its result. */
export type Steps<T> = Generator<void, T, void>;

/** Runs the steps to the end without pausing. */
export function runToEnd<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Tells when a slice is used up; pause() then gives the event loop a turn. */
export class Pacer {
  private start = performance.now();

  /** A promise to await when the slice is used up, undefined while there is time left. */
  pause(): Promise<void> | undefined {
    if (performance.now() - this.start < SLICE_MS) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        this.start = performance.now();
        resolve();
      }),
    );
  }
}

/** Runs the steps, giving the event loop a turn after each SLICE_MS of work. */
export async function runInSlices<T>(steps: Steps<T>, pacer = new Pacer()): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    const p = pacer.pause();
    if (p) await p;
  }
}
