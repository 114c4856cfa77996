/**
 * Hand-built model descriptions and output tensors for the post-processing specs.
 * Every tensor here is laid out as REFERENCE B.1 describes the exports.
 */
import type { ModelConfig, ModelMetadata, TensorMetadata } from '../../src/protocol/types';
import { computeLetterbox } from '../../src/vision/geometry';
import { anchorCount, deriveProfile } from '../../src/vision/profile';
import type { LetterboxGeometry, ModelProfile } from '../../src/vision/types';

export function metadata(
  name: string,
  inputs: TensorMetadata[],
  outputs: TensorMetadata[],
  platform = 'onnxruntime_onnx',
): ModelMetadata {
  return { name, versions: ['1'], platform, inputs, outputs };
}

export function config(
  name: string,
  maxBatchSize: number,
  extra: Partial<ModelConfig> = {},
): ModelConfig {
  return {
    name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: maxBatchSize,
    input: [],
    output: [],
    ...extra,
  };
}

export const images = (size: number, datatype = 'FP32'): TensorMetadata => ({
  name: 'images',
  datatype,
  shape: [1, 3, size, size],
});

/** A YOLOv8 detect profile at `size` with `nc` classes (COCO labels when nc = 80). */
export function v8Profile(size = 640, nc = 80, nm = 0): ModelProfile {
  const n = anchorCount(size, size);
  const outputs: TensorMetadata[] = [
    { name: 'output0', datatype: 'FP32', shape: [1, 4 + nc + nm, n] },
  ];
  if (nm > 0) {
    outputs.push({ name: 'output1', datatype: 'FP32', shape: [1, nm, size / 4, size / 4] });
  }
  return deriveProfile(metadata('v8', [images(size)], outputs), undefined);
}

export function v5Profile(size = 640, nc = 80): ModelProfile {
  const n = 3 * anchorCount(size, size);
  return deriveProfile(
    metadata('v5', [images(size)], [{ name: 'output0', datatype: 'FP32', shape: [1, n, 5 + nc] }]),
    undefined,
  );
}

export function yoloxProfile(size = 416, nc = 80): ModelProfile {
  const n = anchorCount(size, size);
  return deriveProfile(
    metadata(
      'yolox',
      [images(size)],
      [{ name: 'output', datatype: 'FP32', shape: [1, n, 5 + nc] }],
    ),
    undefined,
  );
}

/** The letterbox of an image the same size as the input: scale 1, no padding. */
export function identity(size: number): LetterboxGeometry {
  return computeLetterbox(size, size, size, size, true);
}

/** A zeroed v8 head [1, 4+nc+nm, N] with helpers to place anchors. */
export class V8Head {
  readonly data: Float32Array;
  readonly shape: number[];
  constructor(
    readonly n: number,
    readonly nc: number,
    readonly nm = 0,
  ) {
    this.data = new Float32Array((4 + nc + nm) * n);
    this.shape = [1, 4 + nc + nm, n];
  }

  /** Anchor `a`: box as corners (turned into cx, cy, w, h), one class score, mask coeffs. */
  set(
    a: number,
    box: [number, number, number, number],
    cls: number,
    score: number,
    coeffs: number[] = [],
  ): this {
    const [x1, y1, x2, y2] = box;
    const n = this.n;
    this.data[a] = (x1 + x2) / 2;
    this.data[n + a] = (y1 + y2) / 2;
    this.data[2 * n + a] = x2 - x1;
    this.data[3 * n + a] = y2 - y1;
    this.data[(4 + cls) * n + a] = score;
    coeffs.forEach((c, k) => (this.data[(4 + this.nc + k) * n + a] = c));
    return this;
  }
}

/** A zeroed row-per-anchor head [1, N, 5+nc] (YOLOv5 decoded or YOLOX raw). */
export class RowHead {
  readonly data: Float32Array;
  readonly shape: number[];
  constructor(
    readonly n: number,
    readonly nc: number,
  ) {
    this.data = new Float32Array((5 + nc) * n);
    this.shape = [1, n, 5 + nc];
  }

  setRaw(a: number, values: number[], cls: number, score: number): this {
    const row = a * (5 + this.nc);
    values.forEach((v, i) => (this.data[row + i] = v));
    this.data[row + 5 + cls] = score;
    return this;
  }

  /** YOLOv5 row: corners → cx, cy, w, h; objectness; one class score. */
  set(
    a: number,
    box: [number, number, number, number],
    obj: number,
    cls: number,
    score: number,
  ): this {
    const [x1, y1, x2, y2] = box;
    return this.setRaw(a, [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, obj], cls, score);
  }
}
