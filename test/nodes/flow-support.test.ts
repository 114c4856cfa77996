/**
 * The shared test helpers that wait for messages take their 'input' callbacks off again:
 * a run of 1000 messages leaves a helper node with as many callbacks as it started with
 * (Node-RED keeps them in its own list, which EventEmitter's `off` never touched), and
 * two waits on one node both see a message that ends one of them.
 */
import { strict as assert } from 'node:assert';
import { helper, inputListenerCount, messages, nextMessage } from '../support/flows';

describe('test support: waiting for messages does not leak input callbacks', function () {
  this.timeout(30000);

  beforeEach(() =>
    helper.load(
      [],
      [
        { id: 'flow', type: 'tab', label: 'support' },
        { id: 'out', type: 'helper', z: 'flow' },
      ],
    ),
  );
  afterEach(() => helper.unload());

  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

  it('1000 nextMessage() and 100 messages() calls leave the count where it started', async () => {
    const out = helper.getNode('out');
    const start = inputListenerCount('out');
    for (let i = 0; i < 1000; i++) {
      const got = nextMessage('out');
      out.receive({ payload: i });
      assert.equal((await got).payload, i);
    }
    for (let i = 0; i < 100; i++) {
      const got = messages('out', 3);
      for (let k = 0; k < 3; k++) out.receive({ payload: k });
      assert.deepEqual(
        (await got).map((m) => m.payload),
        [0, 1, 2],
      );
    }
    await settle();
    assert.equal(inputListenerCount('out'), start);
  });

  it('a wait that times out takes its callback off too', async () => {
    const start = inputListenerCount('out');
    await assert.rejects(nextMessage('out', 5), /timed out after 5 ms/);
    await settle();
    assert.equal(inputListenerCount('out'), start);
  });

  it('two waits on one node both get the message that completes the first', async () => {
    const out = helper.getNode('out');
    const one = nextMessage('out');
    const two = messages('out', 2);
    out.receive({ payload: 'a' });
    out.receive({ payload: 'b' });
    assert.equal((await one).payload, 'a');
    assert.deepEqual(
      (await two).map((m) => m.payload),
      ['a', 'b'],
    );
  });
});
