#!/usr/bin/env bash
# Exports the three Ultralytics detectors/segmenters of the seed deployment to static
# ONNX (input `images` [1,3,640,640], FP32), the I/O models/triton/*_ONNX configs expect:
#   yolov8s.onnx      output0 [1,84,8400]
#   yolov8s-seg.onnx  output0 [1,116,8400], output1 [1,32,160,160]
#   yolov5s.onnx      output0 [1,25200,85]
#
# Needs Python with `pip install ultralytics onnx onnxslim` and, for YOLOv5 (whose
# anchor-based head the ultralytics package no longer exports), a clone of
# https://github.com/ultralytics/yolov5 with its requirements. Weights download on
# first use. The weights are AGPL-3.0: keep the exported files out of this repository.
#
# Usage: export_yolo.sh [OUT_DIR] [YOLOV5_CLONE]   (defaults: ./build ./yolov5)
set -euo pipefail

out=$(mkdir -p "${1:-build}" && cd "${1:-build}" && pwd)
yolov5=$(cd "${2:-yolov5}" 2>/dev/null && pwd || echo "${2:-yolov5}")

cd "$out"
# dynamic=False (the default) keeps every shape fixed, so max_batch_size stays 0.
yolo export model=yolov8s.pt format=onnx imgsz=640 opset=17 dynamic=False half=False
yolo export model=yolov8s-seg.pt format=onnx imgsz=640 opset=17 dynamic=False half=False

if [ -f "$yolov5/export.py" ]; then
  # Downloads yolov5s.pt here and writes yolov5s.onnx beside it.
  python "$yolov5/export.py" --weights yolov5s.pt --include onnx --imgsz 640 --opset 17
else
  echo "export_yolo.sh: no $yolov5/export.py: clone https://github.com/ultralytics/yolov5 for yolov5s.onnx" >&2
fi

ls -l "$out"/*.onnx
