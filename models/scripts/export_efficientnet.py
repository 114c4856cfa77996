#!/usr/bin/env python3
"""Exports torchvision EfficientNet-B0 (IMAGENET1K_V1) to ONNX for
Classify_ImageNet_EfficientNetB0_ONNX: input `images` FP32 [1,3,224,224] (RGB, ImageNet
mean/std normalised, resize 256 + centre crop 224, done by the client), output `output0`
FP32 [1,1000] logits (the client applies softmax).

Needs `pip install torch torchvision onnx` (onnxruntime, if installed, checks the file).
Usage: export_efficientnet.py [OUT_FILE]   (default build/efficientnet_b0.onnx)
"""
import inspect
import os
import sys

import torch
import torchvision

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "efficientnet_b0.onnx")
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)

weights = torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1
model = torchvision.models.efficientnet_b0(weights=weights).eval()
example = torch.zeros(1, 3, 224, 224)

kwargs = dict(
    input_names=["images"],
    output_names=["output0"],
    opset_version=17,
    do_constant_folding=True,
)
# Newer torch defaults to the dynamo exporter; the classic one gives the fixed
# names and shapes above on every torch release that has it.
if "dynamo" in inspect.signature(torch.onnx.export).parameters:
    kwargs["dynamo"] = False
with torch.no_grad():
    torch.onnx.export(model, example, out, **kwargs)

try:
    import onnxruntime as ort
except ImportError:
    ort = None
if ort is not None:
    s = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    got = [(i.name, i.shape) for i in s.get_inputs()] + [(o.name, o.shape) for o in s.get_outputs()]
    want = [("images", [1, 3, 224, 224]), ("output0", [1, 1000])]
    if got != want:
        sys.exit(f"export_efficientnet.py: {out} has I/O {got}, expected {want}")
print(f"wrote {out}")
