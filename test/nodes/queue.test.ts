import * as assert from 'node:assert/strict';
import type { TritonError } from '../../src/protocol/errors';
import { EveryNth, InputQueue, type DropPolicy } from '../../src/nodes/queue';

/** A job that finishes when the test says so. */
interface Gate {
  id: number;
  release: () => void;
  started: boolean;
}

function harness(concurrency: number, limit: number, dropPolicy: DropPolicy) {
  const ran: number[] = [];
  const dropped: { id: number; code: string }[] = [];
  const gates = new Map<number, Gate>();
  const queue = new InputQueue<number>(
    { concurrency, limit, dropPolicy },
    (id) =>
      new Promise<void>((resolve) => {
        ran.push(id);
        gates.set(id, { id, release: resolve, started: true });
      }),
    (id, err: TritonError) => dropped.push({ id, code: err.code }),
  );
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  const release = async (id: number): Promise<void> => {
    gates.get(id)!.release();
    // Let the queue's finally() run and start the next job.
    await new Promise((r) => setImmediate(r));
  };
  return { queue, ran, dropped, release, tick };
}

describe('InputQueue', () => {
  it('runs up to `concurrency` jobs at once and queues the rest in order', async () => {
    const h = harness(2, 10, 'oldest');
    for (let i = 1; i <= 5; i++) h.queue.push(i);
    // Workers start on the next microtask, after the queue has announced them.
    assert.deepEqual(h.ran, []);
    await h.tick();
    assert.deepEqual(h.ran, [1, 2]);
    assert.deepEqual(h.queue.state, { running: 2, waiting: 3 });
    await h.release(1);
    assert.deepEqual(h.ran, [1, 2, 3]);
    await h.release(2);
    await h.release(3);
    await h.release(4);
    await h.release(5);
    assert.deepEqual(h.ran, [1, 2, 3, 4, 5]);
    await h.queue.idle();
    assert.deepEqual(h.queue.counters, { received: 5, answered: 5, dropped: 0 });
  });

  // 1 runs, 2 and 3 wait; 4, 5, 6 each find the queue full.
  const cases: { policy: DropPolicy; ran: number[]; dropped: number[] }[] = [
    { policy: 'oldest', ran: [1, 5, 6], dropped: [2, 3, 4] },
    { policy: 'newest', ran: [1, 2, 6], dropped: [3, 4, 5] },
    { policy: 'error', ran: [1, 2, 3], dropped: [4, 5, 6] },
  ];
  for (const c of cases) {
    it(`drop policy '${c.policy}' ends every job once: answered or dropped with QUEUE_FULL`, async () => {
      const h = harness(1, 2, c.policy);
      for (let i = 1; i <= 6; i++) h.queue.push(i);
      await h.tick();
      assert.deepEqual(
        h.dropped.map((d) => d.id),
        c.dropped,
      );
      assert.ok(h.dropped.every((d) => d.code === 'QUEUE_FULL'));
      for (const id of c.ran) await h.release(id);
      await h.queue.idle();
      assert.deepEqual(h.ran, c.ran);
      assert.deepEqual(h.queue.counters, { received: 6, answered: 3, dropped: 3 });
    });
  }

  it('with a queue limit of 0 rejects whatever arrives while all slots are busy', async () => {
    const h = harness(1, 0, 'oldest');
    h.queue.push(1);
    h.queue.push(2);
    assert.deepEqual(h.dropped, [{ id: 2, code: 'QUEUE_FULL' }]);
    await h.tick();
    await h.release(1);
    assert.deepEqual(h.queue.counters, { received: 2, answered: 1, dropped: 1 });
  });

  it('close() cancels waiting jobs, aborts running ones and waits for them', async () => {
    let signal: AbortSignal | undefined;
    const dropped: string[] = [];
    const queue = new InputQueue<number>(
      { concurrency: 1, limit: 5, dropPolicy: 'oldest' },
      (_id, s) =>
        new Promise<void>((resolve) => {
          signal = s;
          if (s.aborted) resolve();
          s.addEventListener('abort', () => resolve());
        }),
      (_id, err) => dropped.push(err.code),
    );
    queue.push(1);
    queue.push(2);
    queue.push(3);
    await new Promise((r) => setImmediate(r));
    await queue.close();
    assert.equal(signal?.aborted, true);
    assert.deepEqual(dropped, ['CANCELLED', 'CANCELLED']);
    queue.push(4);
    assert.deepEqual(dropped, ['CANCELLED', 'CANCELLED', 'CANCELLED']);
    assert.deepEqual(queue.counters, { received: 4, answered: 1, dropped: 3 });
  });

  it('a worker that rejects still frees its slot', async () => {
    const ran: number[] = [];
    const queue = new InputQueue<number>(
      { concurrency: 1, limit: 5, dropPolicy: 'oldest' },
      async (id) => {
        ran.push(id);
        throw new Error('boom');
      },
      () => undefined,
    );
    queue.push(1);
    queue.push(2);
    await queue.idle();
    assert.deepEqual(ran, [1, 2]);
    assert.equal(queue.counters.answered, 2);
  });

  describe('early work of waiting jobs (onAhead)', () => {
    /** A queue whose jobs and early work both finish when the test says so. */
    function aheadHarness(concurrency: number, limit: number, latestPerKey = false) {
      const runs = new Map<number, () => void>();
      const work = new Map<number, () => void>();
      const events: string[] = [];
      const queue = new InputQueue<number>(
        { concurrency, limit, dropPolicy: 'oldest', latestPerKey },
        (id) =>
          new Promise<void>((resolve) => {
            events.push(`run ${id}`);
            runs.set(id, resolve);
          }),
        (id, err) => events.push(`drop ${id} ${err.code}`),
        () => undefined,
        (id) => events.push(`replace ${id}`),
        (id) =>
          new Promise<void>((resolve) => {
            events.push(`ahead ${id}`);
            work.set(id, resolve);
          }),
      );
      const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
      return { queue, events, runs, work, tick };
    }

    it('starts the first `concurrency` waiting jobs early, the next as each one starts', async () => {
      const h = aheadHarness(2, 5);
      for (let i = 1; i <= 5; i++) h.queue.push(i);
      await h.tick();
      // 1 and 2 run; of the three waiting only two may be worked on ahead.
      assert.deepEqual(h.events, ['ahead 3', 'ahead 4', 'run 1', 'run 2']);
      assert.equal(h.queue.aheadInFlight, 2);
      h.runs.get(1)!();
      await h.tick();
      // 3 runs (taking its early work along), so 5 gets the slot.
      assert.deepEqual(h.events.slice(4), ['ahead 5', 'run 3']);
      assert.equal(h.queue.aheadInFlight, 2);
      for (const id of [2, 3, 4, 5]) {
        h.runs.get(id)?.();
        await h.tick();
      }
      for (const release of h.work.values()) release();
      await h.queue.idle();
      assert.equal(h.queue.aheadInFlight, 0);
      assert.deepEqual(h.queue.counters, { received: 5, answered: 5, dropped: 0 });
    });

    it('a job dropped while worked on ahead holds its slot until that work settles', async () => {
      const h = aheadHarness(1, 1);
      h.queue.push(1);
      h.queue.push(2);
      await h.tick();
      assert.deepEqual(h.events, ['ahead 2', 'run 1']);
      // 3 arrives at a full queue: 2 (the oldest waiting) is dropped, its work still runs.
      h.queue.push(3);
      await h.tick();
      assert.deepEqual(h.events.slice(2), ['drop 2 QUEUE_FULL']);
      assert.equal(h.queue.aheadInFlight, 1);
      h.work.get(2)!();
      await h.tick();
      // The slot is free: 3 is worked on ahead now.
      assert.deepEqual(h.events.slice(3), ['ahead 3']);
      assert.equal(h.queue.aheadInFlight, 1);
      h.work.get(3)!();
      h.runs.get(1)!();
      await h.tick();
      h.runs.get(3)!();
      await h.queue.idle();
      assert.deepEqual(h.queue.counters, { received: 3, answered: 2, dropped: 1 });
      assert.equal(h.queue.aheadInFlight, 0);
    });

    it('a replaced frame frees its slot once its work settles; the newer frame is worked on', async () => {
      const h = aheadHarness(1, 5, true);
      h.queue.push(1, 'cam');
      h.queue.push(2, 'cam');
      await h.tick();
      h.queue.push(3, 'cam');
      assert.deepEqual(h.events, ['ahead 2', 'run 1', 'replace 2']);
      h.work.get(2)!();
      await h.tick();
      assert.deepEqual(h.events.slice(3), ['ahead 3']);
      h.work.get(3)!();
      h.runs.get(1)!();
      await h.tick();
      h.runs.get(3)!();
      await h.queue.idle();
      assert.equal(h.queue.replaced, 1);
      assert.equal(h.queue.aheadInFlight, 0);
    });

    it('close() cancels jobs worked on ahead and waits for their work to settle', async () => {
      const h = aheadHarness(1, 5);
      h.queue.push(1);
      h.queue.push(2);
      h.queue.push(3);
      await h.tick();
      h.runs.get(1)!();
      let closed = false;
      const closing = h.queue.close().then(() => (closed = true));
      await h.tick();
      assert.deepEqual(h.events, ['ahead 2', 'run 1', 'drop 2 CANCELLED', 'drop 3 CANCELLED']);
      assert.equal(closed, false, 'close() waits for the early work still running');
      h.work.get(2)!();
      await closing;
      assert.equal(h.queue.aheadInFlight, 0);
      assert.deepEqual(h.queue.counters, { received: 3, answered: 1, dropped: 2 });
    });
  });

  it('rejects settings it cannot honour with INVALID_CONFIG', () => {
    const make = (concurrency: number, limit: number, dropPolicy: string) => () =>
      new InputQueue<number>(
        { concurrency, limit, dropPolicy: dropPolicy as DropPolicy },
        async () => undefined,
        () => undefined,
      );
    for (const bad of [
      make(0, 1, 'oldest'),
      make(1.5, 1, 'oldest'),
      make(1, -1, 'oldest'),
      make(1, 1, 'x'),
    ]) {
      assert.throws(bad, (err: TritonError) => err.code === 'INVALID_CONFIG');
    }
  });

  describe('stream mode', () => {
    it('latest frame only: a newer job of a stream takes the waiting one’s place, which ends without an error', async () => {
      const ran: string[] = [];
      const replaced: string[] = [];
      const dropped: string[] = [];
      const gates: (() => void)[] = [];
      const queue = new InputQueue<string>(
        { concurrency: 1, limit: 5, dropPolicy: 'oldest', latestPerKey: true },
        (job) =>
          new Promise<void>((resolve) => {
            ran.push(job);
            gates.push(resolve);
          }),
        (job) => dropped.push(job),
        () => undefined,
        (job) => replaced.push(job),
      );
      // a1 runs; b2, a3 wait; b4 replaces b2 (in its place), a5 replaces a3, b6 replaces b4.
      for (const job of ['a1', 'b2', 'a3', 'b4', 'a5', 'b6']) queue.push(job, job[0]);
      assert.deepEqual(replaced, ['b2', 'a3', 'b4']);
      assert.deepEqual(queue.state, { running: 1, waiting: 2 });
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setImmediate(r));
        gates.shift()!();
      }
      await queue.idle();
      assert.deepEqual(ran, ['a1', 'b6', 'a5']);
      assert.deepEqual(dropped, []);
      assert.equal(queue.replaced, 3);
      // received = answered + dropped + replaced
      assert.deepEqual(queue.counters, { received: 6, answered: 3, dropped: 0 });
    });

    it('latest frame only still drops by policy when a new stream finds the queue full', async () => {
      const dropped: string[] = [];
      let release: () => void = () => undefined;
      const queue = new InputQueue<string>(
        { concurrency: 1, limit: 1, dropPolicy: 'oldest', latestPerKey: true },
        () => new Promise<void>((r) => (release = r)),
        (job, err) => dropped.push(`${job} ${err.code}`),
      );
      queue.push('a1', 'a');
      queue.push('b2', 'b');
      queue.push('c3', 'c');
      queue.push('c4', 'c');
      assert.deepEqual(dropped, ['b2 QUEUE_FULL']);
      assert.equal(queue.replaced, 1);
      await new Promise((r) => setImmediate(r));
      release();
      await new Promise((r) => setImmediate(r));
      release();
      await queue.idle();
    });

    it('without latestPerKey, keys change nothing', () => {
      const queue = new InputQueue<string>(
        { concurrency: 1, limit: 5, dropPolicy: 'oldest' },
        () => new Promise<void>(() => undefined),
        () => undefined,
      );
      for (const job of ['a1', 'a2', 'a3']) queue.push(job, 'a');
      assert.deepEqual(queue.state, { running: 1, waiting: 2 });
      assert.equal(queue.replaced, 0);
    });

    it('every Nth frame lets frames 1, N+1, 2N+1… of each stream through and counts the rest', () => {
      const nth = new EveryNth(3);
      const a = [1, 2, 3, 4, 5, 6, 7].map(() => nth.admit('a'));
      const b = [1, 2, 3, 4].map(() => nth.admit('b'));
      assert.deepEqual(a, [true, false, false, true, false, false, true]);
      assert.deepEqual(b, [true, false, false, true]);
      assert.equal(nth.skipped, 6);
      assert.ok([1, 2, 3].every(() => new EveryNth(1).admit('x')));
      for (const bad of [0, 1.5, -2, NaN]) {
        assert.throws(
          () => new EveryNth(bad),
          (e: { code?: string }) => e.code === 'INVALID_CONFIG',
        );
      }
    });
  });
});
