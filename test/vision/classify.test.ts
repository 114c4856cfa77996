import { strict as assert } from 'node:assert';
import { classify, isProbabilityRow, softmax, topK } from '../../src/vision/classify';
import { deriveProfile } from '../../src/vision/profile';
import { images, metadata } from './build';

function classifier(nc: number, outputName = 'logits') {
  return deriveProfile(
    metadata('cls', [images(224)], [{ name: outputName, datatype: 'FP32', shape: [1, nc] }]),
    undefined,
  );
}

describe('classify', () => {
  it('softmax of ln 1, ln 2, ln 3 is 1/6, 2/6, 3/6', () => {
    const p = softmax([Math.log(1), Math.log(2), Math.log(3)]);
    [1 / 6, 2 / 6, 3 / 6].forEach((v, i) => assert.ok(Math.abs(p[i]! - v) < 1e-12));
  });

  it('softmax does not overflow on large logits (shift by the maximum)', () => {
    const p = softmax([1000, 1000 + Math.log(3)]);
    assert.ok(Math.abs(p[0]! - 0.25) < 1e-12 && Math.abs(p[1]! - 0.75) < 1e-12);
    const q = softmax([-1e6, 0]);
    assert.equal(q[1], 1);
  });

  it('top-k by descending score, ties by lower index', () => {
    assert.deepEqual(topK([0.1, 0.5, 0.2, 0.5, 0.9], 3), [4, 1, 3]);
    assert.deepEqual(topK([3, 1, 2], 5), [0, 2, 1]);
  });

  it('returns top-5 softmax probabilities with ImageNet labels by default', () => {
    const profile = classifier(1000);
    const logits = new Float32Array(1000);
    logits[654] = 5; // minibus
    logits[734] = 4; // police van
    logits[0] = 3; // tench
    const out = classify(logits, profile);
    assert.equal(out.length, 5);
    assert.deepEqual(
      out.slice(0, 3).map((c) => [c.classId, c.label]),
      [
        [654, 'minibus'],
        [734, 'police van'],
        [0, 'tench'],
      ],
    );
    // Σ = e⁵ + e⁴ + e³ + 997·e⁰.
    const z = Math.exp(5) + Math.exp(4) + Math.exp(3) + 997;
    assert.ok(Math.abs(out[0]!.score - Math.exp(5) / z) < 1e-6);
    assert.ok(Math.abs(out[3]!.score - 1 / z) < 1e-6);
    // The rest tie at logit 0: lowest ids first.
    assert.deepEqual(
      out.slice(3).map((c) => c.classId),
      [1, 2],
    );
  });

  it('passes probabilities through unchanged (already a distribution, or the profile says so)', () => {
    const profile = classifier(4);
    const probs = Float32Array.from([0.1, 0.6, 0.2, 0.1]);
    assert.ok(isProbabilityRow(probs));
    const out = classify(probs, profile, { topK: 2 });
    assert.deepEqual(
      out.map((c) => [c.label, c.score]),
      [
        ['class_1', probs[1]],
        ['class_2', probs[2]],
      ],
    );
    const flagged = classifier(3, 'prob');
    assert.equal(flagged.outputsAreProbabilities, true);
    const raw = Float32Array.from([0.2, 0.3, 0.1]); // does not sum to 1, still passed through
    assert.deepEqual(
      classify(raw, flagged, { topK: 1 }).map((c) => c.score),
      [raw[1]],
    );
  });

  it('logits that happen to lie in [0, 1] but do not sum to 1 still get the softmax', () => {
    const out = classify(Float32Array.from([0.5, 0.5, 0.2]), classifier(3), { topK: 3 });
    const z = 2 * Math.exp(0.5) + Math.exp(0.2);
    assert.ok(Math.abs(out[0]!.score - Math.exp(0.5) / z) < 1e-9);
  });

  it('topK larger than the class count returns every class', () => {
    assert.equal(classify(new Float32Array(3), classifier(3), { topK: 10 }).length, 3);
  });

  it('rejects a bad topK and an output of the wrong length', () => {
    for (const topK of [0, -1, 1.5, NaN]) {
      assert.throws(
        () => classify(new Float32Array(3), classifier(3), { topK }),
        (e: { code?: string; message?: string }) =>
          e.code === 'INVALID_OPTION' && /topK must be a whole number/.test(e.message ?? ''),
      );
    }
    assert.throws(
      () => classify(new Float32Array(5), classifier(3)),
      (e: { code?: string; message?: string }) =>
        e.code === 'UNSUPPORTED_MODEL' && /returned 5 scores.*3 classes/.test(e.message ?? ''),
    );
  });
});
