/**
 * Reusable memory for inference replies. A 640×640 YOLO head is 2.8 MB: allocating it
 * fresh for every image costs page faults and, with a few of them per image, a V8 full GC
 * about once per image. Both transports gather a reply into a buffer from here and hand
 * out its output tensors as views of it; `InferResponse.release()` gives it back.
 *
 * Lifetime rule: the output tensors of a response are valid until its `release()` is
 * called. A caller that never calls it keeps valid views for ever; the buffer is simply
 * left to the garbage collector (correct, only slower). runTask releases a response once
 * post-processing has finished reading it; nothing it returns refers to that memory.
 */

/** Replies below this size are not worth pooling: V8 handles them in the young generation. */
export const POOL_MIN_BYTES = 64 * 1024;
/** Capacities are rounded up to this, so replies of one model (sizes vary by a few bytes) share buffers. */
const GRANULE = 64 * 1024;

/** A fresh ArrayBuffer: never a slice of Node's shared pool, so offset 0 is 8-byte aligned. */
function fresh(byteLength: number): ArrayBuffer {
  return new ArrayBuffer(byteLength);
}

export class ReplyBufferPool {
  private readonly idle = new Map<number, ArrayBuffer[]>();
  private idleBytes = 0;
  /** Buffers handed out and not yet released (diagnostics and tests). */
  outstanding = 0;

  /**
   * @param perSize idle buffers kept per capacity (covers the concurrency of one client)
   * @param maxIdleBytes idle memory kept in all (past it, released buffers go to the GC)
   */
  constructor(
    readonly perSize = 4,
    readonly maxIdleBytes = 128 * 1024 * 1024,
  ) {}

  /** The capacity acquire(byteLength) hands out. */
  static capacityFor(byteLength: number): number {
    return Math.ceil(Math.max(byteLength, 1) / GRANULE) * GRANULE;
  }

  /**
   * A buffer of at least `byteLength` bytes that nobody else holds; contents undefined.
   * Small requests get a fresh buffer (not pooled).
   */
  acquire(byteLength: number): ArrayBuffer {
    if (byteLength < POOL_MIN_BYTES) return fresh(byteLength);
    const capacity = ReplyBufferPool.capacityFor(byteLength);
    const list = this.idle.get(capacity);
    const reused = list?.pop();
    this.outstanding++;
    if (reused) {
      this.idleBytes -= capacity;
      return reused;
    }
    return fresh(capacity);
  }

  /** Takes `buffer` back; nobody may read it (or views of it) afterwards. */
  release(buffer: ArrayBuffer): void {
    const capacity = buffer.byteLength;
    if (capacity < POOL_MIN_BYTES || capacity % GRANULE !== 0) return;
    this.outstanding = Math.max(0, this.outstanding - 1);
    let list = this.idle.get(capacity);
    if (!list) {
      list = [];
      this.idle.set(capacity, list);
    }
    if (list.length >= this.perSize || this.idleBytes + capacity > this.maxIdleBytes) return;
    if (list.includes(buffer)) return;
    list.push(buffer);
    this.idleBytes += capacity;
  }

  /** Idle buffers held. */
  get size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }
}

/**
 * Attaches `release()` to a response, not enumerable (deep equality and JSON ignore it).
 * Calling it twice is harmless: only the first call gives the buffer back.
 */
export function attachRelease<T extends object>(
  response: T,
  pool: ReplyBufferPool,
  buffer: ArrayBuffer | undefined,
): T {
  let held = buffer;
  Object.defineProperty(response, 'release', {
    value: () => {
      if (held) pool.release(held);
      held = undefined;
    },
    enumerable: false,
    configurable: true,
    writable: true,
  });
  return response;
}
