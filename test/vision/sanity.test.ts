/**
 * Decoded values are sane and the work is bounded (issue #14 items 5 and 6): maxDetections
 * has a ceiling, heads must be float, scores that are not probabilities are dropped, and a
 * box with no area left after clipping is not reported.
 */
import { strict as assert } from 'node:assert';
import { isTritonError } from '../../src/protocol/errors';
import type { TensorMetadata } from '../../src/protocol/types';
import { MAX_DETECTIONS_LIMIT, decodeDetections } from '../../src/vision/detect';
import { computeLetterbox } from '../../src/vision/geometry';
import { anchorCount, deriveProfile } from '../../src/vision/profile';
import { RowHead, V8Head, identity, images, metadata, v5Profile, v8Profile } from './build';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isTritonError(err) ? err.code : 'not a TritonError';
  }
  return undefined;
}

const N = anchorCount(640, 640);
const square = { width: 640, height: 640 };

describe('bounded and sane detections', () => {
  it(`maxDetections is 1..${MAX_DETECTIONS_LIMIT}: 1001 is INVALID_OPTION, 1000 is fine`, () => {
    const head = new V8Head(N, 80).set(0, [10, 10, 50, 50], 0, 0.9);
    const p = v8Profile();
    assert.equal(
      code(() => decodeDetections(head, p, identity(640), square, { maxDetections: 1001 })),
      'INVALID_OPTION',
    );
    assert.equal(
      decodeDetections(head, p, identity(640), square, { maxDetections: 1000 }).length,
      1,
    );
  });

  it('an INT8, INT64 or FP64 head is UNSUPPORTED_MODEL when the profile is made; FP16 is fine', () => {
    for (const dt of ['INT8', 'INT64', 'FP64']) {
      const head: TensorMetadata = { name: 'output0', datatype: dt, shape: [1, 84, N] };
      assert.equal(
        code(() => deriveProfile(metadata('m', [images(640)], [head]), undefined)),
        'UNSUPPORTED_MODEL',
        dt,
      );
    }
    const half: TensorMetadata = { name: 'output0', datatype: 'FP16', shape: [1, 84, N] };
    assert.equal(deriveProfile(metadata('m', [images(640)], [half]), undefined).family, 'yolov8');
  });

  it('scores above 1, infinite or NaN are dropped (YOLOv8); valid ones kept', () => {
    const head = new V8Head(N, 80)
      .set(0, [10, 10, 50, 50], 0, Infinity)
      .set(1, [100, 100, 150, 150], 1, 1.5)
      .set(2, [200, 200, 250, 250], 2, NaN)
      .set(3, [300, 300, 350, 350], 3, 0.6)
      .set(4, [400, 400, 450, 450], 4, 1);
    const d = decodeDetections(head, v8Profile(), identity(640), square);
    assert.deepEqual(
      d.map((x) => [x.classId, x.score]),
      [
        [4, 1],
        [3, Math.fround(0.6)],
      ],
    );
  });

  it('YOLOv5: objectness or class score outside [0, 1] drops the row', () => {
    const head = new RowHead(25200, 80)
      .set(0, [10, 10, 50, 50], 2, 0, 0.9) // obj 2: not a probability
      .set(1, [100, 100, 150, 150], 0.9, 1, Infinity)
      .set(2, [200, 200, 250, 250], 0.9, 2, 0.8);
    const d = decodeDetections(head, v5Profile(), identity(640), square);
    assert.deepEqual(
      d.map((x) => x.classId),
      [2],
    );
  });

  it('a box wholly in the letterbox pad clips to no area and is not reported', () => {
    // 1280×720 in 640: image rows 140..499; a box at input y 10..100 is all pad.
    const g = computeLetterbox(1280, 720, 640, 640);
    const head = new V8Head(N, 80)
      .set(0, [100, 10, 200, 100], 0, 0.9)
      .set(1, [100, 200, 200, 300], 1, 0.8);
    const d = decodeDetections(head, v8Profile(), g, { width: 1280, height: 720 });
    assert.deepEqual(
      d.map((x) => x.classId),
      [1],
    );
  });
});
