#!/usr/bin/env bash
# Builds a TensorRT plan from one of the exported ONNX files, with FP16 kernels AND
# FP16 input/output bindings: the *_TensorRT configs in models/triton declare TYPE_FP16
# I/O, and Triton refuses an engine whose bindings disagree with its config.
#
# A plan only runs on the GPU model and TensorRT version that built it: run this on the
# serving machine, inside the TensorRT container of the same release as the Triton one
# (e.g. nvcr.io/nvidia/tensorrt:23.10-py3 for tritonserver:23.10), which has trtexec.
#
# Usage: build_trt.sh IN.onnx OUT.plan [NUM_OUTPUTS]   (NUM_OUTPUTS: 2 for YOLOv8-seg, else 1)
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 IN.onnx OUT.plan [NUM_OUTPUTS]" >&2
  exit 2
fi
in=$1
out=$2
outputs=${3:-1}
trtexec=${TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}

# One format per output tensor (older trtexec releases do not broadcast a single one).
formats=fp16:chw
for ((i = 1; i < outputs; i++)); do formats+=",fp16:chw"; done

"$trtexec" --onnx="$in" --saveEngine="$out" --fp16 \
  --inputIOFormats=fp16:chw --outputIOFormats="$formats"
