import { strict as assert } from 'node:assert';
import {
  bytesToTensorData,
  floatToHalfBits,
  halfBitsToFloat,
  tensorToBytes,
  validateTensor,
} from '../../src/protocol/tensor';

describe('tensor codecs', () => {
  describe('IEEE half precision', () => {
    // Bit patterns from the IEEE 754 binary16 definition: sign(1) exp(5, bias 15) mantissa(10).
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) {
      it(`${Object.is(value, -0) ? '-0' : value} ⇄ 0x${bits.toString(16).padStart(4, '0')}`, () => {
        assert.equal(floatToHalfBits(value), bits);
        assert.ok(Object.is(halfBitsToFloat(bits), value));
      });
    }

    it('rounds to nearest even at the halfway point', () => {
      // 1 + 2^-11 lies exactly between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01): ties to even.
      assert.equal(floatToHalfBits(1 + 2 ** -11), 0x3c00);
      // 1 + 3·2^-11 lies between 0x3c01 (odd) and 0x3c02 (even): ties to even goes up.
      assert.equal(floatToHalfBits(1 + 3 * 2 ** -11), 0x3c02);
      // Above half an ulp rounds up, below rounds down.
      assert.equal(floatToHalfBits(1 + 2 ** -11 + 2 ** -20), 0x3c01);
    });

    it('overflows to infinity past the largest half and keeps NaN a NaN', () => {
      assert.equal(floatToHalfBits(70000), 0x7c00);
      assert.ok(Number.isNaN(halfBitsToFloat(floatToHalfBits(NaN))));
    });

    it('every half value survives a round trip through float32', () => {
      for (let h = 0; h < 0x10000; h++) {
        const exp = (h >>> 10) & 0x1f;
        if (exp === 0x1f && h & 0x3ff) continue; // NaN payloads
        assert.equal(floatToHalfBits(halfBitsToFloat(h)), h);
      }
    });
  });

  describe('raw bytes', () => {
    it('FP32 bytes are little-endian IEEE single', () => {
      const bytes = tensorToBytes({
        name: 'x',
        datatype: 'FP32',
        shape: [2],
        data: new Float32Array([1, -2]),
      });
      assert.deepEqual([...bytes], [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    });

    it('FP16 values travel as half bits and come back as float32', () => {
      const bytes = tensorToBytes({
        name: 'x',
        datatype: 'FP16',
        shape: [1, 2],
        data: new Float32Array([1, -2]),
      });
      assert.deepEqual([...bytes], [0x00, 0x3c, 0x00, 0xc0]);
      const back = bytesToTensorData(bytes, 'FP16', [1, 2]);
      assert.ok(back instanceof Float32Array);
      assert.deepEqual([...back], [1, -2]);
    });

    it('INT64 decodes from an unaligned slice', () => {
      const raw = Buffer.alloc(17);
      raw.writeBigInt64LE(-5n, 1);
      raw.writeBigInt64LE(7n, 9);
      const data = bytesToTensorData(raw.subarray(1), 'INT64', [2]);
      assert.deepEqual([...(data as BigInt64Array)], [-5n, 7n]);
    });

    it('BOOL is one byte of 0 or 1', () => {
      const bytes = tensorToBytes({
        name: 'b',
        datatype: 'BOOL',
        shape: [3],
        data: new Uint8Array([0, 5, 1]),
      });
      assert.deepEqual([...bytes], [0, 1, 1]);
    });

    it('a byte count that does not match the shape is a PROTOCOL_ERROR', () => {
      assert.throws(() => bytesToTensorData(new Uint8Array(7), 'FP32', [2]), {
        code: 'PROTOCOL_ERROR',
      });
    });

    it('data that does not match the shape or datatype is INVALID_ARGUMENT', () => {
      assert.throws(
        () =>
          validateTensor({ name: 'x', datatype: 'FP32', shape: [3], data: new Float32Array(2) }),
        { code: 'INVALID_ARGUMENT', message: /shape \[3\] \(3 elements\) but 2 values/ },
      );
      assert.throws(
        () =>
          validateTensor({ name: 'x', datatype: 'INT32', shape: [2], data: new Float32Array(2) }),
        { code: 'INVALID_ARGUMENT' },
      );
    });
  });
});
