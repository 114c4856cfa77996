/**
 * Short default node labels: the task and the model's architecture (`detect · YOLOX-nano`)
 * instead of the full repository name (`Detect_COCO_YOLOXnano_ONNX`, ~300 px in the
 * workspace). Shared by the editor and by the test that lays out the example flows.
 */

/** Longest architecture text kept before it is cut with an ellipsis. */
const MAX_MODEL_CHARS = 18;

/**
 * The architecture part of a model name: `Detect_COCO_YOLOXnano_ONNX` → `YOLOX-nano`,
 * `Classify_ImageNet_MobileNetV2_ONNX` → `MobileNetV2`, `yolov5n_fp16` → `yolov5n`.
 */
export function shortModelName(model: string): string {
  let name = model.trim();
  // Task_Dataset_Architecture_Backend, the naming of the bundled and seed repositories.
  const parts = name.split('_');
  if (parts.length >= 3 && /^(detect|segment|classify)$/i.test(parts[0]!)) {
    name = parts.slice(2, -1).join('_') || parts[2]!;
  } else {
    name = name.replace(/_(fp16|fp32|int8|onnx|trt|plan)$/i, '');
  }
  name = name.replace(/^(YOLOX)(nano|tiny)$/i, '$1-$2');
  return name.length > MAX_MODEL_CHARS ? `${name.slice(0, MAX_MODEL_CHARS - 1)}…` : name;
}

/** A task node's label: its name when set, else `task · model`, else the task. */
export function taskLabel(task: string, name: unknown, model: unknown): string {
  if (typeof name === 'string' && name.trim() !== '') return name;
  if (typeof model === 'string' && model.trim() !== '') return `${task} · ${shortModelName(model)}`;
  return task;
}
