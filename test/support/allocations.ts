/**
 * Counts large memory allocations made from JavaScript while a function runs: every way
 * our code, grpc-js and Node's JS layers get fresh bytes (Buffer.alloc / allocUnsafe /
 * allocUnsafeSlow / concat / copying Buffer.from, new ArrayBuffer, typed array
 * constructors and .from, ArrayBuffer and typed array slice). Nested calls count once
 * (Buffer.concat allocating through allocUnsafe is one allocation). Allocations inside
 * native code (socket reads) are not seen; they are the socket's own chunks, not copies.
 */

export interface Allocation {
  via: string;
  bytes: number;
}

type AnyFn = (...args: unknown[]) => unknown;

const TYPED_ARRAYS = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

/**
 * Runs `fn` with allocation counting switched on and returns the allocations of at least
 * `threshold` bytes it made (awaiting it if it returns a promise). Not reentrant.
 */
export async function largeAllocations(
  threshold: number,
  fn: () => Promise<void>,
): Promise<Allocation[]> {
  const seen: Allocation[] = [];
  let depth = 0;
  const record = (via: string, bytes: number): void => {
    if (depth === 0 && bytes >= threshold) seen.push({ via, bytes });
  };
  const restore: (() => void)[] = [];
  const wrapStatic = (owner: Record<string, unknown>, name: string, label: string): void => {
    const original = owner[name] as AnyFn;
    owner[name] = function (this: unknown, ...args: unknown[]) {
      depth++;
      let out: unknown;
      try {
        out = original.apply(this, args);
      } finally {
        depth--;
      }
      const bytes = (out as { byteLength?: number } | undefined)?.byteLength ?? 0;
      // Buffer.from(arrayBuffer, ...) is a view, not an allocation.
      if (!(name === 'from' && args[0] instanceof ArrayBuffer)) record(label, bytes);
      return out;
    };
    restore.push(() => (owner[name] = original));
  };
  const B = Buffer as unknown as Record<string, unknown>;
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'concat', 'from']) {
    wrapStatic(B, name, `Buffer.${name}`);
  }
  const wrapSlice = (proto: Record<string, unknown>, label: string): void => {
    const original = proto.slice as AnyFn;
    // Buffer.prototype.slice is a view (Buffer overrides it); only the typed array one copies.
    proto.slice = function (this: unknown, ...args: unknown[]) {
      depth++;
      let out: unknown;
      try {
        out = original.apply(this, args);
      } finally {
        depth--;
      }
      if (!Buffer.isBuffer(this)) record(label, (out as ArrayBufferLike).byteLength);
      return out;
    };
    restore.push(() => (proto.slice = original));
  };
  wrapSlice(ArrayBuffer.prototype as unknown as Record<string, unknown>, 'ArrayBuffer#slice');
  wrapSlice(
    Object.getPrototypeOf(Uint8Array.prototype) as Record<string, unknown>,
    'TypedArray#slice',
  );
  const g = globalThis as unknown as Record<string, unknown>;
  const wrapCtor = (name: string, bytesOf: (args: unknown[]) => number): void => {
    const original = g[name] as new (...a: unknown[]) => object;
    g[name] = new Proxy(original, {
      construct(target, args, newTarget) {
        const made = Reflect.construct(target, args, newTarget === g[name] ? target : newTarget);
        record(`new ${name}`, bytesOf(args) || (made as { byteLength?: number }).byteLength || 0);
        return made;
      },
    });
    restore.push(() => (g[name] = original));
  };
  wrapCtor('ArrayBuffer', (a) => (typeof a[0] === 'number' ? a[0] : 0));
  for (const name of TYPED_ARRAYS) {
    const size = (g[name] as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    // Only the forms that allocate: a length, or an array / iterable to copy.
    wrapCtor(name, (a) =>
      typeof a[0] === 'number'
        ? a[0] * size
        : a[0] instanceof ArrayBuffer || a[0] instanceof SharedArrayBuffer
          ? -1
          : 0,
    );
  }
  try {
    await fn();
  } finally {
    for (const undo of restore.reverse()) undo();
  }
  // -1 marks a view over an existing ArrayBuffer: not an allocation.
  return seen.filter((a) => a.bytes > 0);
}
