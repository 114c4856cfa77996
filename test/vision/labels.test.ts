import { strict as assert } from 'node:assert';
import { COCO80, IMAGENET1000, labelsFor } from '../../src/vision/labels';

describe('vision/labels', () => {
  it('COCO80: 80 unique names in Ultralytics spelling and training order', () => {
    assert.equal(COCO80.length, 80);
    assert.equal(new Set(COCO80).size, 80);
    const known: [number, string][] = [
      [0, 'person'],
      [1, 'bicycle'],
      [2, 'car'],
      [3, 'motorcycle'],
      [4, 'airplane'],
      [5, 'bus'],
      [7, 'truck'],
      [15, 'cat'],
      [41, 'cup'],
      [57, 'couch'],
      [58, 'potted plant'],
      [60, 'dining table'],
      [62, 'tv'],
      [78, 'hair drier'],
      [79, 'toothbrush'],
    ];
    for (const [i, name] of known) assert.equal(COCO80[i], name, `COCO80[${i}]`);
  });

  it('IMAGENET1000: 1000 unique names in the standard ImageNet-1k order', () => {
    assert.equal(IMAGENET1000.length, 1000);
    assert.equal(new Set(IMAGENET1000).size, 1000);
    const known: [number, string][] = [
      [0, 'tench'],
      [1, 'goldfish'],
      [2, 'great white shark'],
      [281, 'tabby'],
      [285, 'Egyptian cat'],
      [654, 'minibus'],
      [734, 'police van'],
      [967, 'espresso'],
      [968, 'cup'],
      [999, 'toilet tissue'],
    ];
    for (const [i, name] of known) assert.equal(IMAGENET1000[i], name, `IMAGENET1000[${i}]`);
    // The two WordNet names shared by two classes each are told apart.
    assert.deepEqual(
      [IMAGENET1000[134], IMAGENET1000[517], IMAGENET1000[638], IMAGENET1000[639]],
      ['crane (bird)', 'crane (machine)', 'maillot', 'tank suit'],
    );
  });

  it('the lists are frozen, and labelsFor names them', () => {
    assert.ok(Object.isFrozen(COCO80) && Object.isFrozen(IMAGENET1000));
    assert.equal(labelsFor('coco80'), COCO80);
    assert.equal(labelsFor('imagenet1000'), IMAGENET1000);
    assert.throws(() => labelsFor('voc20' as 'coco80'), { code: 'INVALID_OPTION' });
  });
});
