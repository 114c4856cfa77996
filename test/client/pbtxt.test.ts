/**
 * config.pbtxt parsing: the repository configs we ship, the fixture configs, the
 * corners of protobuf text format, and errors that point at the line and column.
 * Expected values come from REFERENCE.md (B.1, D, E) and the text-format rules.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  formatModelConfig,
  parseModelConfig,
  parseTextProto,
  treeToJson,
} from '../../src/protocol/pbtxt';
import type { ModelConfig } from '../../src/protocol/types';
import { FIXTURE_REPOSITORY } from '../support/fixtures';

const TRITON_DIR = path.resolve(__dirname, '..', '..', 'models', 'triton');

function readRepoConfig(name: string): ModelConfig {
  const file = path.join(TRITON_DIR, name, 'config.pbtxt');
  return parseModelConfig(fs.readFileSync(file, 'utf8'), { file, name });
}

function rejectsWith(fn: () => unknown, pattern: RegExp, code = 'INVALID_CONFIG'): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('config.pbtxt parser', () => {
  describe('the seed deployment configs in models/triton', () => {
    // REFERENCE.md B.1 / D: static exports, batch inside dims, max_batch_size 0.
    const yolo640 = [1, 3, 640, 640];
    const expected: Record<
      string,
      {
        input: number[];
        outputs: [string, number[]][];
        task: string;
        family?: string;
        labels: string;
      }
    > = {
      Detect_COCO_YOLOv5s: {
        input: yolo640,
        outputs: [['output0', [1, 25200, 85]]],
        task: 'detect',
        family: 'yolov5',
        labels: 'coco80',
      },
      Detect_COCO_YOLOv8s: {
        input: yolo640,
        outputs: [['output0', [1, 84, 8400]]],
        task: 'detect',
        family: 'yolov8',
        labels: 'coco80',
      },
      Segment_COCO_YOLOv8sSeg: {
        input: yolo640,
        outputs: [
          ['output0', [1, 116, 8400]],
          ['output1', [1, 32, 160, 160]],
        ],
        task: 'segment',
        family: 'yolov8',
        labels: 'coco80',
      },
      Classify_ImageNet_EfficientNetB0: {
        input: [1, 3, 224, 224],
        outputs: [['output0', [1, 1000]]],
        task: 'classify',
        labels: 'imagenet1000',
      },
    };

    it('has exactly the eight model folders of the seed', () => {
      const folders = fs
        .readdirSync(TRITON_DIR, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort();
      const want = Object.keys(expected)
        .flatMap((b) => [`${b}_ONNX`, `${b}_TensorRT`])
        .sort();
      assert.deepEqual(folders, want);
    });

    for (const [base, spec] of Object.entries(expected)) {
      for (const backend of ['ONNX', 'TensorRT'] as const) {
        const name = `${base}_${backend}`;
        it(`${name}: names, platform, dims and parameters`, () => {
          const cfg = readRepoConfig(name);
          assert.equal(cfg.name, name);
          const onnx = backend === 'ONNX';
          assert.equal(cfg.platform, onnx ? 'onnxruntime_onnx' : 'tensorrt_plan');
          assert.equal(cfg.backend, onnx ? 'onnxruntime' : 'tensorrt');
          assert.equal(cfg.default_model_filename, onnx ? 'model.onnx' : 'model.plan');
          assert.equal(cfg.max_batch_size, 0);
          assert.deepEqual(cfg.version_policy, { latest: { num_versions: 1 } });
          const dtype = onnx ? 'TYPE_FP32' : 'TYPE_FP16';
          assert.equal(cfg.input.length, 1);
          assert.equal(cfg.input[0]!.name, 'images');
          assert.equal(cfg.input[0]!.data_type, dtype);
          // mbs 0: the full shape is dims exactly, batch of 1 included.
          assert.deepEqual(cfg.input[0]!.dims, spec.input);
          assert.deepEqual(
            cfg.output.map((o) => [o.name, o.dims]),
            spec.outputs,
          );
          for (const o of cfg.output) assert.equal(o.data_type, dtype);
          assert.deepEqual(cfg.parameters?.task, { string_value: spec.task });
          assert.deepEqual(cfg.parameters?.labels, { string_value: spec.labels });
          assert.deepEqual(
            cfg.parameters?.family,
            spec.family === undefined ? undefined : { string_value: spec.family },
          );
        });
      }
    }
  });

  describe('the fixture configs', () => {
    const byName = new Map(FIXTURE_REPOSITORY.map((s) => [s.name, parseModelConfig(s.config)]));

    it('fills platform from backend and keeps the batch rules', () => {
      const v5 = byName.get('yolov5n_fp16')!;
      assert.equal(v5.platform, 'onnxruntime_onnx');
      assert.equal(v5.backend, 'onnxruntime');
      assert.equal(v5.max_batch_size, 4);
      assert.deepEqual(v5.input[0]!.dims, [3, 640, 640]);
      assert.equal(v5.input[0]!.data_type, 'TYPE_FP16');
      assert.deepEqual(v5.output[0], { name: 'output', data_type: 'TYPE_FP16', dims: [25200, 85] });
    });

    it('keeps enum names as strings and defaults the format', () => {
      const mb = byName.get('mobilenetv2')!;
      assert.equal(mb.input[0]!.format, 'FORMAT_NCHW');
      assert.equal(mb.max_batch_size, 8);
      const v8 = byName.get('yolov8n')!;
      assert.equal(v8.input[0]!.format, 'FORMAT_NONE');
      assert.deepEqual(v8.parameters, { task: { string_value: 'detect' } });
      const seg = byName.get('yolov8n_seg')!;
      assert.deepEqual(
        seg.output.map((o) => o.name),
        ['output0', 'output1'],
      );
    });
  });

  describe('text format syntax', () => {
    it('reads comments, optional colons, commas, semicolons and angle brackets', () => {
      const cfg = parseModelConfig(`# leading comment
name: "m" # trailing comment
platform: "onnxruntime_onnx";
max_batch_size: 2,
input: [
  # a comment inside a list
  { name: "a", data_type: TYPE_UINT8; dims: [ -1, 4 ] },
  < name: "b" data_type: TYPE_INT64 dims: 7 optional: true >
]
output { name: "y" data_type: TYPE_FP32 dims: 3 dims: 5 }
output < name: "z" data_type: 12 dims: [] >
`);
      assert.equal(cfg.max_batch_size, 2);
      assert.deepEqual(cfg.input, [
        { name: 'a', data_type: 'TYPE_UINT8', format: 'FORMAT_NONE', dims: [-1, 4] },
        { name: 'b', data_type: 'TYPE_INT64', format: 'FORMAT_NONE', dims: [7], optional: true },
      ]);
      // Repeated scalar fields written several times accumulate in order.
      assert.deepEqual(cfg.output[0], { name: 'y', data_type: 'TYPE_FP32', dims: [3, 5] });
      // An enum given by number (12 = TYPE_FP64 in model_config.proto) becomes its name.
      assert.deepEqual(cfg.output[1], { name: 'z', data_type: 'TYPE_FP64', dims: [] });
    });

    it('decodes string escapes, single quotes and adjacent literals', () => {
      const cfg = parseModelConfig(
        String.raw`name: 'm'
backend: "onnxruntime"
parameters { key: "esc" value: { string_value: "q\"b\\s\nn\tt\x41\101\u00e9" } }
parameters { key: 'joined' value { string_value: "ab" 'cd' } }
parameters [ { key: "utf8" value: { string_value: "caf\303\251 ✓" } } ]
`,
      );
      assert.equal(cfg.name, 'm');
      assert.deepEqual(cfg.parameters, {
        esc: { string_value: 'q"b\\s\nn\ttAAé' },
        joined: { string_value: 'abcd' },
        // Octal escapes are bytes: \303\251 is UTF-8 for é.
        utf8: { string_value: 'café ✓' },
      });
    });

    it('reads version policies, instance groups and dynamic batching', () => {
      const cfg = parseModelConfig(`name: "m" platform: "tensorrt_plan" max_batch_size: 0x8
version_policy: { specific: { versions: [1, 3] } }
instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0, 1 ] }, { name: "cpu" kind: KIND_CPU } ]
dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 preserve_ordering: true }
default_model_filename: "engine.plan"
`);
      assert.equal(cfg.max_batch_size, 8);
      assert.equal(cfg.backend, 'tensorrt');
      assert.deepEqual(cfg.version_policy, { specific: { versions: [1, 3] } });
      assert.deepEqual(cfg.instance_group, [
        { count: 2, kind: 'KIND_GPU', gpus: [0, 1] },
        { name: 'cpu', count: 1, kind: 'KIND_CPU' },
      ]);
      assert.deepEqual(cfg.dynamic_batching, {
        preferred_batch_size: [4, 8],
        max_queue_delay_microseconds: 100,
        preserve_ordering: true,
      });
      assert.equal(cfg.default_model_filename, 'engine.plan');
      assert.deepEqual(parseModelConfig('name: "a" version_policy { all { } }').version_policy, {
        all: {},
      });
    });

    it('takes the name from the caller when the text has none, and defaults the rest', () => {
      const cfg = parseModelConfig('backend: "onnxruntime"', { name: 'folder_name' });
      assert.equal(cfg.name, 'folder_name');
      assert.equal(cfg.max_batch_size, 0);
      assert.deepEqual(cfg.input, []);
      assert.deepEqual(cfg.output, []);
      assert.equal(cfg.platform, 'onnxruntime_onnx');
      assert.equal(cfg.default_model_filename, 'model.onnx');
    });

    it('passes fields it does not model through as JSON', () => {
      const cfg = parseModelConfig(`name: "m"
optimization { execution_accelerators { cpu_execution_accelerator: [ { name: "openvino" } ] } }
model_warmup { name: "w" batch_size: 1 }
`) as ModelConfig & Record<string, unknown>;
      assert.deepEqual(cfg.optimization, {
        execution_accelerators: { cpu_execution_accelerator: [{ name: 'openvino' }] },
      });
      assert.deepEqual(cfg.model_warmup, { name: 'w', batch_size: 1 });
    });

    it('gives a generic tree with positions', () => {
      const tree = parseTextProto('a: 1\n  b { c: "x" c: "y" }\nd: [ 1.5, -2e3, inf ]\n');
      assert.deepEqual(
        tree.fields.map((f) => [f.name, f.line, f.column]),
        [
          ['a', 1, 1],
          ['b', 2, 3],
          ['d', 3, 1],
          ['d', 3, 1],
          ['d', 3, 1],
        ],
      );
      assert.deepEqual(treeToJson(tree), { a: 1, b: { c: ['x', 'y'] }, d: [1.5, -2000, Infinity] });
    });
  });

  describe('errors', () => {
    it('names the file, line and column of a syntax error', () => {
      rejectsWith(
        () =>
          parseModelConfig('name: "m"\ninput [ { name: "a" data_type TYPE_FP32 } ]', {
            file: '/repo/m/config.pbtxt',
          }),
        /^\/repo\/m\/config\.pbtxt line 2, column 31: expected ':' or '\{' after the field name 'data_type', found 'TYPE_FP32'/,
      );
    });

    it('reports an unclosed block at the end of the file', () => {
      rejectsWith(
        () => parseModelConfig('name: "m"\ninput {\n  name: "a"\n'),
        /line 4, column 1: expected '\}'/,
      );
    });

    it('reports an unterminated string and an unknown escape', () => {
      rejectsWith(
        () => parseModelConfig('name: "m\nplatform: "x"'),
        /line 1, column 7: string is not closed/,
      );
      rejectsWith(
        () => parseModelConfig('name: "a\\qb"'),
        /line 1, column 9: unknown escape '\\q'/,
      );
    });

    it('reports stray characters and list punctuation', () => {
      rejectsWith(
        () => parseModelConfig('name = "m"'),
        /line 1, column 6: unexpected character '='/,
      );
      rejectsWith(
        () => parseModelConfig('name: "m"\ninput { dims: [ 1 2 ] }'),
        /line 2, column 19: expected ',' or '\]' in the list for 'dims', found '2'/,
      );
    });

    it('reports values of the wrong kind where they are written', () => {
      rejectsWith(
        () => parseModelConfig('name: "m"\n  max_batch_size: "4"'),
        /line 2, column 3: 'max_batch_size' must be an integer/,
      );
      rejectsWith(
        () => parseModelConfig('name: "m"\ninput { name: "a" data_type: TYPE_FLOAT dims: 1 }'),
        /line 2, column 19: 'data_type' must be one of TYPE_INVALID, TYPE_BOOL/,
      );
      rejectsWith(
        () => parseModelConfig('name: "m"\nname: "n"'),
        /line 2, column 1: 'name' is set more than once/,
      );
      rejectsWith(
        () => parseModelConfig('name: "m" platform: "tensorrt_plan" backend: "onnxruntime"'),
        /platform 'tensorrt_plan' runs on backend 'tensorrt', not 'onnxruntime'/,
      );
      rejectsWith(() => parseModelConfig('max_batch_size: 1'), /the model has no 'name'/);
    });
  });

  describe('formatModelConfig', () => {
    it('writes text that parses back to the same config', () => {
      const configs = [
        ...FIXTURE_REPOSITORY.map((s) => parseModelConfig(s.config)),
        ...fs
          .readdirSync(TRITON_DIR, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => readRepoConfig(d.name)),
        parseModelConfig(String.raw`name: "odd \"name\"\n" backend: "onnxruntime" max_batch_size: 8
input [ { name: "x" data_type: TYPE_BOOL format: FORMAT_NHWC dims: [ -1, 2 ] reshape: { shape: [ 2 ] } optional: true } ]
output [ { name: "y" data_type: TYPE_INT64 dims: [ 1 ] label_filename: "labels.txt" } ]
instance_group [ { name: "g" count: 2 kind: KIND_CPU } ]
dynamic_batching { preferred_batch_size: [ 2, 4 ] max_queue_delay_microseconds: 50 }
version_policy { all { } }
parameters { key: "k" value: { string_value: "tab\there" } }`),
      ];
      assert.ok(configs.length >= 13);
      for (const cfg of configs) {
        const text = formatModelConfig(cfg);
        assert.deepEqual(parseModelConfig(text), cfg, text);
      }
    });
  });
});
