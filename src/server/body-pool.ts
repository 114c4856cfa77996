/**
 * Reused request-body memory for the HTTP frontend. A fresh multi-megabyte buffer per
 * request (a 640×640 FP32 image is 4.9 MB) costs little to fill but a lot to collect:
 * V8 runs a full garbage collection every few such buffers, which was most of the
 * frontend's CPU per request. Bodies of the same size (the same model, again and
 * again) take the same buffers back instead.
 */

/** Buffers kept for reuse at most, and the bytes they may hold in all. */
const MAX_POOLED = 8;
const MAX_POOLED_BYTES = 256 * 1024 * 1024;
/** Bodies smaller than this come from ordinary allocations (Node's own pool is cheap there). */
export const MIN_POOLED_BYTES = 256 * 1024;

export class BodyPool {
  private readonly free: ArrayBuffer[] = [];
  private bytes = 0;

  /**
   * An ArrayBuffer of at least `size` bytes (at most twice that, so a small body does
   * not pin a large buffer), reused when one is free.
   */
  take(size: number): ArrayBuffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const len = this.free[i]!.byteLength;
      if (len >= size && len <= 2 * size && (best < 0 || len < this.free[best]!.byteLength)) {
        best = i;
      }
    }
    if (best < 0) return new ArrayBuffer(size);
    const [ab] = this.free.splice(best, 1);
    this.bytes -= ab!.byteLength;
    return ab!;
  }

  /** Hands a buffer back once nothing refers to its contents any more. */
  give(ab: ArrayBuffer): void {
    if (ab.byteLength < MIN_POOLED_BYTES || ab.byteLength === 0) return;
    if (this.free.includes(ab)) return;
    this.free.push(ab);
    this.bytes += ab.byteLength;
    // Oldest first out: sizes no longer asked for leave the pool.
    while (this.free.length > MAX_POOLED || this.bytes > MAX_POOLED_BYTES) {
      this.bytes -= this.free.shift()!.byteLength;
    }
  }
}

/**
 * Gathers one body of a declared length into a pooled buffer, placing byte `alignAt`
 * (where the first binary tensor starts) on an 8-byte boundary so tensors can be viewed
 * in place. `push` returns false when more arrives than was declared: the caller then
 * carries on with what `taken()` holds so far.
 */
export class PooledBody {
  private readonly ab: ArrayBuffer;
  private readonly view: Buffer;
  private total = 0;

  constructor(
    private readonly pool: BodyPool,
    readonly declared: number,
    alignAt: number | undefined,
  ) {
    const pad =
      alignAt !== undefined && Number.isSafeInteger(alignAt) && alignAt >= 0
        ? (8 - (alignAt % 8)) % 8
        : 0;
    this.ab = pool.take(declared + pad);
    this.view = Buffer.from(this.ab, pad, declared);
  }

  push(chunk: Buffer): boolean {
    if (this.total + chunk.length > this.declared) return false;
    chunk.copy(this.view, this.total);
    this.total += chunk.length;
    return true;
  }

  /** What arrived so far, as a view of the pooled memory. */
  taken(): Buffer {
    return this.view.subarray(0, this.total);
  }

  /** Gives the memory back; the views handed out must no longer be used. */
  release(): void {
    this.pool.give(this.ab);
  }
}
