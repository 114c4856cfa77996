/**
 * BodyCollector: how HTTP bodies are gathered on both ends. With a declared length it
 * copies chunks straight into one buffer placed so the first tensor (at `alignAt`) starts
 * on an 8-byte boundary; a body that turns out longer or shorter is still returned exactly.
 */
import { strict as assert } from 'node:assert';
import { BodyCollector } from '../../src/protocol/http-codec';

const bytes = (n: number, from = 0): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (from + i) % 251));

describe('BodyCollector', () => {
  it('with the declared length, returns exactly the bytes in order', () => {
    const c = new BodyCollector(10);
    c.push(bytes(4));
    c.push(bytes(6, 4));
    assert.equal(c.length, 10);
    assert.deepEqual([...c.finish()], [...bytes(10)]);
  });

  it('places byte `alignAt` of the body on an 8-byte boundary, so tensors after a JSON header are aligned', () => {
    for (const alignAt of [0, 1, 5, 7, 8, 13]) {
      const c = new BodyCollector(40, alignAt);
      c.push(bytes(40));
      const body = c.finish();
      assert.equal((body.byteOffset + alignAt) % 8, 0, `alignAt ${alignAt}`);
      // An FP32 view at that offset needs no copy.
      const view = new Float32Array(body.buffer, body.byteOffset + alignAt, 4);
      assert.equal(view.length, 4);
      assert.deepEqual([...body], [...bytes(40)]);
    }
  });

  it('a body longer than declared is kept whole', () => {
    const c = new BodyCollector(6);
    c.push(bytes(4));
    c.push(bytes(5, 4));
    c.push(bytes(3, 9));
    assert.equal(c.length, 12);
    assert.deepEqual([...c.finish()], [...bytes(12)]);
  });

  it('a body shorter than declared returns only what arrived (the codec then reports it)', () => {
    const c = new BodyCollector(100);
    c.push(bytes(30));
    const body = c.finish();
    assert.equal(body.length, 30);
    assert.deepEqual([...body], [...bytes(30)]);
  });

  it('without a usable declared length, collects chunks', () => {
    for (const declared of [undefined, 0, -1, Number.NaN, 2 ** 60]) {
      const c = new BodyCollector(declared);
      c.push(bytes(3));
      c.push(bytes(2, 3));
      assert.deepEqual([...c.finish()], [...bytes(5)], String(declared));
    }
  });
});
