#!/usr/bin/env bash
# Assembles a Triton model repository from models/triton (configs) and the files the
# export scripts made:
#   BUILD/yolov5s.onnx yolov8s.onnx yolov8s-seg.onnx efficientnet_b0.onnx   (*_ONNX)
#   BUILD/yolov5s.plan yolov8s.plan yolov8s-seg.plan efficientnet_b0.plan   (*_TensorRT)
# Each model becomes REPO/<name>/config.pbtxt + REPO/<name>/1/model.onnx|model.plan.
# Models whose file is missing are skipped with a note, so an ONNX-only repository
# (for triton-vision-serve or local mode) is simply one built without plans.
#
# Usage: deploy.sh BUILD_DIR REPO_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR REPO_DIR" >&2
  exit 2
fi
build=$1
repo=$2
configs=$(cd "$(dirname "$0")/../triton" && pwd)

deploy() { # <model name> <file in BUILD> <file name in the version folder>
  local name=$1 src="$build/$2" dest=$3
  if [ ! -f "$src" ]; then
    echo "skip $name: $src not found"
    return
  fi
  mkdir -p "$repo/$name/1"
  cp "$configs/$name/config.pbtxt" "$repo/$name/config.pbtxt"
  cp "$src" "$repo/$name/1/$dest"
  echo "deployed $name"
}

for ext in onnx plan; do
  if [ $ext = onnx ]; then backend=ONNX file=model.onnx; else backend=TensorRT file=model.plan; fi
  deploy "Detect_COCO_YOLOv5s_$backend" "yolov5s.$ext" "$file"
  deploy "Detect_COCO_YOLOv8s_$backend" "yolov8s.$ext" "$file"
  deploy "Segment_COCO_YOLOv8sSeg_$backend" "yolov8s-seg.$ext" "$file"
  deploy "Classify_ImageNet_EfficientNetB0_$backend" "efficientnet_b0.$ext" "$file"
done
