/**
 * Real models and photos from ../shared/fixtures. Tests that need them fail
 * loudly (never skip) when the folder is missing: CI must have it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures');
export const FIXTURE_MODELS = path.join(FIXTURES, 'models');
export const FIXTURE_IMAGES = path.join(FIXTURES, 'images');

export function fixtureModel(file: string): string {
  const p = path.join(FIXTURE_MODELS, file);
  if (!fs.existsSync(p)) {
    throw new Error(
      `Fixture model ${p} is missing: tests need ../shared/fixtures beside the repository`,
    );
  }
  return p;
}

export function fixtureImage(file: string): string {
  const p = path.join(FIXTURE_IMAGES, file);
  if (!fs.existsSync(p)) {
    throw new Error(
      `Fixture image ${p} is missing: tests need ../shared/fixtures beside the repository`,
    );
  }
  return p;
}

export interface FixtureModelSpec {
  /** Model name in the repository. */
  name: string;
  /** ONNX file in ../shared/fixtures/models. */
  file: string;
  config: string;
}

/**
 * The repository the client/server suites run against: one model per tensor
 * situation we must handle (FP32 fixed shape, FP16 with dynamic batch, two
 * outputs, a batched classifier).
 */
export const FIXTURE_REPOSITORY: FixtureModelSpec[] = [
  {
    name: 'yolov8n',
    file: 'yolov8n_int8_640.onnx',
    config: `name: "yolov8n"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 640, 640 ] } ]
output [ { name: "output0" data_type: TYPE_FP32 dims: [ 1, 84, 8400 ] } ]
parameters { key: "task" value: { string_value: "detect" } }
`,
  },
  {
    name: 'yolov5n_fp16',
    file: 'yolov5n_fp16_dynamic.onnx',
    config: `name: "yolov5n_fp16"
backend: "onnxruntime"
max_batch_size: 4
input [ { name: "images" data_type: TYPE_FP16 dims: [ 3, 640, 640 ] } ]
output [ { name: "output" data_type: TYPE_FP16 dims: [ 25200, 85 ] } ]
`,
  },
  {
    name: 'yolov8n_seg',
    file: 'yolov8n-seg_int8_640_retargeted.onnx',
    config: `name: "yolov8n_seg"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "images" data_type: TYPE_FP32 dims: [ 1, 3, 640, 640 ] } ]
output [
  { name: "output0" data_type: TYPE_FP32 dims: [ 1, 116, 8400 ] },
  { name: "output1" data_type: TYPE_FP32 dims: [ 1, 32, 160, 160 ] }
]
`,
  },
  {
    name: 'mobilenetv2',
    file: 'mobilenetv2-12-int8.onnx',
    config: `name: "mobilenetv2"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 format: FORMAT_NCHW dims: [ 3, 224, 224 ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ 1000 ] } ]
`,
  },
];

/** Temp repositories made in this process, removed when it exits (callers may remove one sooner). */
const madeRepositories: string[] = [];

/**
 * Writes a Triton model repository into a fresh temp folder: <name>/config.pbtxt
 * and <name>/1/model.onnx (a symlink to the fixture). Returns its path. The folder is
 * removed when this process exits, so a suite that forgets to leaves nothing in /tmp.
 */
export function buildFixtureRepository(specs: FixtureModelSpec[] = FIXTURE_REPOSITORY): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tv-repo-'));
  // The first one made also sets up the removal of them all.
  if (madeRepositories.push(root) === 1) {
    process.once('exit', () => {
      for (const dir of madeRepositories) fs.rmSync(dir, { recursive: true, force: true });
    });
  }
  for (const spec of specs) {
    const dir = path.join(root, spec.name);
    fs.mkdirSync(path.join(dir, '1'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.pbtxt'), spec.config);
    fs.symlinkSync(fixtureModel(spec.file), path.join(dir, '1', 'model.onnx'));
  }
  return root;
}
