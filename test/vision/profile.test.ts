import { strict as assert } from 'node:assert';
import type { ModelConfig, TensorMetadata } from '../../src/protocol/types';
import { anchorCount, deriveProfile, parseLabels } from '../../src/vision/profile';
import { config, images, metadata } from './build';

const out = (name: string, shape: number[], datatype = 'FP32'): TensorMetadata => ({
  name,
  datatype,
  shape,
});

function params(values: Record<string, string>): ModelConfig['parameters'] {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { string_value: v }]));
}

function assertCode(fn: () => unknown, code: string, text?: RegExp): void {
  assert.throws(fn, (err: { code?: string; message?: string }) => {
    assert.equal(err.code, code);
    if (text) assert.match(err.message ?? '', text);
    return true;
  });
}

describe('deriveProfile', () => {
  it('counts anchors as Σ (size/stride)² over strides 8, 16, 32', () => {
    assert.equal(anchorCount(640, 640), 6400 + 1600 + 400);
    assert.equal(anchorCount(320, 320), 1600 + 400 + 100);
    assert.equal(anchorCount(416, 416), 52 * 52 + 26 * 26 + 13 * 13);
  });

  describe('reads the task and family from the output layout', () => {
    it('one output [1, 84, 8400] at 640 → YOLOv8 detect, 80 COCO classes', () => {
      const p = deriveProfile(
        metadata('Detect_COCO_YOLOv8s_ONNX', [images(640)], [out('output0', [1, 84, 8400])]),
        config('Detect_COCO_YOLOv8s_ONNX', 0),
      );
      assert.equal(p.task, 'detect');
      assert.equal(p.family, 'yolov8');
      assert.equal(p.numClasses, 80);
      assert.equal(p.numMasks, 0);
      assert.equal(p.labels[0], 'person');
      assert.equal(p.labels.length, 80);
      assert.deepEqual(p.outputs, { detections: 'output0' });
      assert.deepEqual(p.input, {
        name: 'images',
        datatype: 'FP32',
        layout: 'NCHW',
        width: 640,
        height: 640,
        shape: [1, 3, 640, 640],
      });
      assert.equal(p.backend, 'onnx');
      assert.equal(p.version, '1');
      assert.deepEqual(p.preprocess, {
        kind: 'letterbox',
        centred: true,
        padValue: 114,
        colour: 'RGB',
        scale: 1 / 255,
      });
    });

    it('[1, 25200, 85] at 640 (3 anchors per cell) → YOLOv5', () => {
      const p = deriveProfile(
        metadata('m', [images(640)], [out('output0', [1, 25200, 85])]),
        undefined,
      );
      assert.equal(p.family, 'yolov5');
      assert.equal(p.numClasses, 80);
      assert.equal(p.task, 'detect');
    });

    it('[1, 3549, 85] at 416 (one row per cell) → YOLOX, BGR, unscaled, padded bottom-right', () => {
      const p = deriveProfile(
        metadata('m', [images(416)], [out('output', [1, 3549, 85])]),
        undefined,
      );
      assert.equal(p.family, 'yolox');
      assert.equal(p.numClasses, 80);
      assert.deepEqual(p.preprocess, {
        kind: 'letterbox',
        centred: false,
        padValue: 114,
        colour: 'BGR',
        scale: 1,
      });
    });

    it('two outputs [1, 116, 8400] + [1, 32, 160, 160] → YOLOv8 segment, 32 masks', () => {
      const p = deriveProfile(
        metadata(
          'seg',
          [images(640)],
          [out('output0', [1, 116, 8400]), out('output1', [1, 32, 160, 160])],
        ),
        undefined,
      );
      assert.equal(p.task, 'segment');
      assert.equal(p.family, 'yolov8');
      assert.equal(p.numClasses, 80);
      assert.equal(p.numMasks, 32);
      assert.deepEqual(p.outputs, { detections: 'output0', prototypes: 'output1' });
    });

    it('a segment model asked to detect decodes boxes only (coefficients skipped)', () => {
      const p = deriveProfile(
        metadata(
          'seg',
          [images(640)],
          [out('output0', [1, 116, 8400]), out('output1', [1, 32, 160, 160])],
        ),
        undefined,
        { expectTask: 'detect' },
      );
      assert.equal(p.task, 'detect');
      assert.equal(p.numClasses, 80);
      assert.equal(p.numMasks, 32);
      assert.deepEqual(p.outputs, { detections: 'output0' });
    });

    it('[1, 1000] and [1, 1000, 1, 1] → classify with ImageNet labels and preprocessing', () => {
      for (const shape of [
        [1, 1000],
        [1, 1000, 1, 1],
      ]) {
        const p = deriveProfile(
          metadata(
            'cls',
            [{ name: 'input', datatype: 'FP32', shape: [1, 3, 224, 224] }],
            [out('output', shape)],
          ),
          undefined,
        );
        assert.equal(p.task, 'classify');
        assert.equal(p.family, 'classifier');
        assert.equal(p.numClasses, 1000);
        assert.equal(p.labels[0], 'tench');
        assert.deepEqual(p.outputs, { logits: 'output' });
        assert.deepEqual(p.preprocess, {
          kind: 'imagenet',
          preset: 'torchvision',
          resize: 256,
          crop: 224,
          mean: [0.485, 0.456, 0.406],
          std: [0.229, 0.224, 0.225],
          interpolation: 'bicubic',
          colour: 'RGB',
        });
      }
    });

    it('a classifier whose output is named like probabilities skips the softmax', () => {
      const p = deriveProfile(metadata('cls', [images(224)], [out('probs', [1, 10])]), undefined);
      assert.equal(p.outputsAreProbabilities, true);
      assert.deepEqual(p.labels.slice(0, 2), ['class_0', 'class_1']);
    });
  });

  describe('batch dimension and input shape', () => {
    it('max_batch_size > 0: metadata starts with -1, we send batch 1', () => {
      const p = deriveProfile(
        metadata(
          'm',
          [{ name: 'images', datatype: 'FP32', shape: [-1, 3, 640, 640] }],
          [out('output0', [-1, 84, 8400])],
        ),
        config('m', 8, {
          input: [{ name: 'images', data_type: 'TYPE_FP32', dims: [3, 640, 640] }],
        }),
      );
      assert.deepEqual(p.input.shape, [1, 3, 640, 640]);
      assert.equal(p.family, 'yolov8');
    });

    it('max_batch_size 0 with dims [1, 3, 640, 640] sends exactly those dims', () => {
      const p = deriveProfile(
        metadata('m', [images(640)], [out('output0', [1, 84, 8400])]),
        config('m', 0),
      );
      assert.deepEqual(p.input.shape, [1, 3, 640, 640]);
    });

    it('max_batch_size 0 with dims [3, 640, 640] (no batch) sends rank 3', () => {
      const p = deriveProfile(
        metadata(
          'm',
          [{ name: 'image', datatype: 'FP32', shape: [3, 640, 640] }],
          [out('output0', [84, 8400])],
        ),
        config('m', 0),
      );
      assert.deepEqual(p.input.shape, [3, 640, 640]);
      assert.equal(p.family, 'yolov8');
      assert.equal(p.numClasses, 80);
    });

    it('FP16 input and outputs (a TensorRT engine) keep FP16 and read the backend', () => {
      const p = deriveProfile(
        metadata(
          'Segment_COCO_YOLOv8sSeg_TRT',
          [images(640, 'FP16')],
          [out('output0', [1, 116, 8400], 'FP16'), out('output1', [1, 32, 160, 160], 'FP16')],
          'tensorrt_plan',
        ),
        config('Segment_COCO_YOLOv8sSeg_TRT', 0, { platform: 'tensorrt_plan', backend: '' }),
      );
      assert.equal(p.input.datatype, 'FP16');
      assert.equal(p.backend, 'tensorrt');
      assert.equal(p.task, 'segment');
    });

    it('the backend falls back to the model-name suffix', () => {
      const m = (name: string) =>
        deriveProfile(metadata(name, [images(640)], [out('o', [1, 84, 8400])], ''), undefined)
          .backend;
      assert.equal(m('Detect_COCO_YOLOv8s_TensorRT'), 'tensorrt');
      assert.equal(m('Detect_COCO_YOLOv8s_TRT'), 'tensorrt');
      assert.equal(m('Detect_COCO_YOLOv8s_ONNX'), 'onnx');
    });

    it('NHWC from the config format or from where the 3 is', () => {
      const p = deriveProfile(
        metadata(
          'm',
          [{ name: 'x', datatype: 'UINT8', shape: [1, 320, 320, 3] }],
          [out('output0', [1, 84, 2100])],
        ),
        undefined,
      );
      assert.equal(p.input.layout, 'NHWC');
      assert.equal(p.input.datatype, 'UINT8');
      assert.deepEqual(p.input.shape, [1, 320, 320, 3]);
      const q = deriveProfile(
        metadata(
          'm',
          [{ name: 'x', datatype: 'FP32', shape: [1, -1, -1, -1] }],
          [out('output0', [1, 84, -1])],
        ),
        config('m', 0, {
          input: [
            { name: 'x', data_type: 'TYPE_FP32', format: 'FORMAT_NHWC', dims: [1, -1, -1, -1] },
          ],
        }),
      );
      assert.equal(q.input.layout, 'NHWC');
      assert.deepEqual(q.input.shape, [1, 640, 640, 3]);
    });

    it('dynamic height/width: 640 for detect, 224 for classify, or the input_size parameter', () => {
      const dyn = [{ name: 'images', datatype: 'FP16', shape: [-1, 3, -1, -1] }];
      const v5 = deriveProfile(
        metadata('yolov5n', dyn, [out('output', [-1, -1, 85], 'FP16')]),
        undefined,
      );
      assert.deepEqual(v5.input.shape, [1, 3, 640, 640]);
      assert.equal(v5.family, 'yolov5');
      const cls = deriveProfile(metadata('c', dyn, [out('output', [-1, 1000])]), undefined);
      assert.deepEqual(cls.input.shape, [1, 3, 224, 224]);
      const sized = deriveProfile(
        metadata('yolov5n', dyn, [out('output', [-1, -1, 85], 'FP16')]),
        config('yolov5n', 4, { parameters: params({ input_size: '320x256' }) }),
      );
      assert.deepEqual(sized.input.shape, [1, 3, 256, 320]);
      assert.deepEqual([sized.input.width, sized.input.height], [320, 256]);
    });

    it('a dynamic anchor count is YOLOX when the name says so', () => {
      const dyn = [{ name: 'images', datatype: 'FP32', shape: [1, 3, -1, -1] }];
      const p = deriveProfile(metadata('yolox_nano', dyn, [out('output', [1, -1, 85])]), undefined);
      assert.equal(p.family, 'yolox');
    });
  });

  describe('config parameters win', () => {
    it('family, labels (list) and task override the layout', () => {
      const p = deriveProfile(
        metadata('m', [images(416)], [out('output', [1, 3549, 7])]),
        config('m', 0, {
          parameters: params({ family: 'yolov5', labels: 'cat, dog\n' }),
        }),
      );
      assert.equal(p.family, 'yolov5');
      assert.deepEqual(p.labels, ['cat', 'dog']);
      const q = deriveProfile(
        metadata('m', [images(640)], [out('o0', [1, 116, 8400]), out('o1', [1, 32, 160, 160])]),
        config('m', 0, { parameters: params({ task: 'detect' }) }),
      );
      assert.equal(q.task, 'detect');
      assert.equal(q.numClasses, 80);
    });

    it("labels 'imagenet1000' / 'coco80' name the built-in lists; overrides beat both", () => {
      assert.equal(parseLabels('imagenet1000').length, 1000);
      assert.equal(parseLabels('coco80')[79], 'toothbrush');
      const p = deriveProfile(
        metadata('m', [images(640)], [out('o', [1, 6, 8400])]),
        config('m', 0, { parameters: params({ labels: 'a,b' }) }),
        { labels: ['hat', 'vest'] },
      );
      assert.deepEqual(p.labels, ['hat', 'vest']);
    });

    it('a label list of the wrong length is refused with a sentence', () => {
      assertCode(
        () =>
          deriveProfile(
            metadata('m', [images(640)], [out('o', [1, 6, 8400])]),
            config('m', 0, { parameters: params({ labels: 'a,b,c' }) }),
          ),
        'INVALID_CONFIG',
        /has 2 classes but its labels parameter has 3 names/,
      );
    });

    it('an unknown family or task value is INVALID_CONFIG', () => {
      assertCode(
        () =>
          deriveProfile(
            metadata('m', [images(640)], [out('o', [1, 84, 8400])]),
            config('m', 0, { parameters: params({ family: 'yolov9000' }) }),
          ),
        'INVALID_CONFIG',
        /family 'yolov9000' is not one of/,
      );
    });
  });

  describe('refuses what it cannot run, saying what was expected', () => {
    it('a classifier forced to detect names its outputs and the detect layouts', () => {
      assertCode(
        () =>
          deriveProfile(
            metadata('X', [images(224)], [out('output0', [1, 1000])]),
            config('X', 0, { parameters: params({ task: 'detect' }) }),
          ),
        'UNSUPPORTED_MODEL',
        /^Model 'X' has outputs output0 \[1,1000\]; a detect model needs one output shaped \[1, 4\+classes, anchors\] \(YOLOv8\) or \[1, anchors, 5\+classes\] \(YOLOv5\/YOLOX\)/,
      );
    });

    it('the wrong task for the node', () => {
      assertCode(
        () =>
          deriveProfile(
            metadata('mobilenet', [images(224)], [out('output', [1, 1000])]),
            undefined,
            { expectTask: 'detect' },
          ),
        'UNSUPPORTED_MODEL',
        /^'mobilenet' is a classify model; pick a detect model in this node$/,
      );
    });

    it('three outputs, two inputs, a one-channel input, an end-to-end export', () => {
      assertCode(
        () =>
          deriveProfile(
            metadata(
              'm',
              [images(640)],
              [out('a', [1, 84, 8400]), out('b', [1, 2]), out('c', [1, 3])],
            ),
            undefined,
          ),
        'UNSUPPORTED_MODEL',
        /has outputs a \[1,84,8400\], b \[1,2\], c \[1,3\]/,
      );
      assertCode(
        () =>
          deriveProfile(
            metadata('m', [images(640), images(640)], [out('a', [1, 84, 8400])]),
            undefined,
          ),
        'UNSUPPORTED_MODEL',
        /has 2 inputs/,
      );
      assertCode(
        () =>
          deriveProfile(
            metadata(
              'm',
              [{ name: 'g', datatype: 'FP32', shape: [1, 1, 640, 640] }],
              [out('a', [1, 84, 8400])],
            ),
            undefined,
          ),
        'UNSUPPORTED_MODEL',
        /needs 3 colour channels/,
      );
      // An end-to-end export ([1, 300, 6], NMS on the server) is read as such (nms-outputs.ts).
      assert.deepEqual(
        deriveProfile(metadata('m', [images(640)], [out('a', [1, 300, 6])]), undefined).outputs,
        { nms: { kind: 'end2end', detections: 'a' } },
      );
    });

    it('a string input is not an image', () => {
      assertCode(
        () =>
          deriveProfile(
            metadata(
              'm',
              [{ name: 't', datatype: 'BYTES', shape: [1] }],
              [out('a', [1, 84, 8400])],
            ),
            undefined,
          ),
        'UNSUPPORTED_MODEL',
        /is BYTES; an image input must be FP32, FP16 or UINT8/,
      );
    });
  });
});
