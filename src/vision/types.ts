/**
 * Shared types of the vision library (layer 2). Pure data: no Node-RED, no network.
 * Coordinates are pixels of the ORIGINAL image unless a name says otherwise.
 */
import type { DataType } from '../protocol/types';
import type { NmsOutputs } from './nms-outputs';

export type Task = 'detect' | 'segment' | 'classify';
/** YOLO11 shares yolov8's output layout. */
export type Family = 'yolov5' | 'yolov8' | 'yolox' | 'classifier';

/** Raw pixels handed in by a flow (a camera frame, a canvas...). */
export interface RawFrame {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 = gray, 3 = RGB, 4 = RGBA (interleaved, row-major). */
  channels: 1 | 3 | 4;
}

/** Anything a node or the CLI accepts as an image. */
export type ImageInput = Buffer | Uint8Array | string | RawFrame;

/** A decoded image: tightly packed RGB, HWC, uint8, EXIF orientation applied. */
export interface DecodedImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
  /** Detected container format ('jpeg', 'png', 'webp', 'raw', ...). */
  format: string;
}

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/**
 * Where the original image sits inside the model input after letterboxing:
 * input = resize(original, newWidth × newHeight) placed at (padLeft, padTop).
 */
export interface LetterboxGeometry {
  inputWidth: number;
  inputHeight: number;
  /** r = min(inputH / H0, inputW / W0). */
  scale: number;
  newWidth: number;
  newHeight: number;
  padLeft: number;
  padTop: number;
  padRight: number;
  padBottom: number;
}

/** Where the centre crop was taken in the resized image (ImageNet preprocessing). */
export interface CropGeometry {
  resizedWidth: number;
  resizedHeight: number;
  left: number;
  top: number;
  width: number;
  height: number;
}

export type Preprocess =
  | {
      kind: 'letterbox';
      /** Ultralytics centres the image; YOLOX pads only at the bottom/right. */
      centred: boolean;
      padValue: number;
      colour: 'RGB' | 'BGR';
      /** Multiplier applied to 0..255 pixel values: 1/255 for Ultralytics, 1 for YOLOX. */
      scale: number;
    }
  | {
      kind: 'imagenet';
      /**
       * Whose geometry: 'torchvision' (Resize(short side) with the long side truncated, centre
       * crop at round((dim − crop)/2)) or 'onnx-zoo' (long side rounded, crop at
       * ⌊dim/2⌋ − ⌊crop/2⌋). Default 'torchvision'.
       */
      preset?: ClassifyPreset;
      resize: number;
      crop: number;
      mean: [number, number, number];
      std: [number, number, number];
      interpolation: 'bicubic' | 'bilinear';
      colour: 'RGB' | 'BGR';
    };

/** Classification pre-processing named after its reference. */
export type ClassifyPreset = 'torchvision' | 'onnx-zoo';

/** Everything the pipeline needs to know about a model, derived from metadata + config. */
export interface ModelProfile {
  model: string;
  version: string;
  task: Task;
  family: Family;
  /** 'onnx' | 'tensorrt' | other backend names, from platform/backend or the model name. */
  backend: string;
  platform: string;
  input: {
    name: string;
    datatype: DataType;
    layout: 'NCHW' | 'NHWC';
    width: number;
    height: number;
    /** The exact shape to send for one image, e.g. [1,3,640,640]. */
    shape: number[];
  };
  outputs: {
    /** Detection head: v8 [1, 4+nc(+nm), N], v5/yolox [1, N, 5+nc]. */
    detections?: string;
    /** Segmentation prototypes [1, nm, H/4, W/4]. */
    prototypes?: string;
    /** Classifier output [1, nc] (logits or probabilities). */
    logits?: string;
    /** Boxes already through NMS on the server, instead of a raw head (nms-outputs.ts). */
    nms?: NmsOutputs;
  };
  numClasses: number;
  /** Mask coefficients per detection (32 for YOLOv8-seg, 0 otherwise). */
  numMasks: number;
  labels: string[];
  preprocess: Preprocess;
  /** Classifier output already sums to 1 (skip softmax). */
  outputsAreProbabilities?: boolean;
}

export interface DetectOptions {
  /** Keep candidates with score > confidence (default 0.25). */
  confidence?: number;
  /** NMS IoU threshold: a box is discarded when IoU with a kept box > iou (default 0.45). */
  iou?: number;
  /** Default 300. */
  maxDetections?: number;
  /** Only these class ids (or labels). */
  classes?: (number | string)[];
  /** Class-agnostic NMS (default false: class-aware). */
  agnostic?: boolean;
}

export interface SegmentOptions extends DetectOptions {
  /** Mask formats to produce per instance (polygon always). */
  rle?: boolean;
  png?: boolean;
  /** Mask binarisation threshold on sigmoid (default 0.5). */
  maskThreshold?: number;
}

export interface ClassifyOptions {
  /** Default 5. */
  topK?: number;
}

export interface Mask {
  /** Largest outer contour in original-image pixels. */
  polygon: [number, number][];
  /** Every outer contour (polygon is one of them). */
  polygons: [number, number][][];
  /** Pixels set in the original-resolution mask. */
  area: number;
  /** COCO-style uncompressed RLE, column-major, starting with a run of zeros. */
  rle?: { size: [number, number]; counts: number[] };
  /** Single-channel PNG of the full-size mask (255 = object). */
  png?: Buffer;
}

export interface Detection {
  label: string;
  classId: number;
  score: number;
  box: Box;
  boxNormalized: Box;
  mask?: Mask;
}

export interface Classification {
  label: string;
  classId: number;
  score: number;
}
