#!/usr/bin/env python3
"""Checks Triton config.pbtxt files with the official ModelConfig proto that tritonclient ships.

Usage: .venv/bin/python test/triton/validate_configs.py [config.pbtxt ...]
Without arguments it checks models/triton/*/config.pbtxt and models/demo/*/config.pbtxt.
Exits 0 when every file passes, 1 with one line per problem otherwise, 2 when nothing was found.

Rules (Triton's model_configuration.md, REFERENCE.md section E):
- the text parses as inference.ModelConfig (an unknown field or enum name is an error);
- `name`, when given, equals the model's folder name (Triton refuses a mismatch);
- a platform or backend is named, and a known platform agrees with its backend;
- max_batch_size >= 0; preferred_batch_size values within 1..max_batch_size;
- at least one input and output; names unique; data_type set; every dim > 0 or -1;
- an input with format FORMAT_NCHW/FORMAT_NHWC has exactly 3 dims (Triton's own rule, seen on
  2.51 with max_batch_size 0 and 4 dims: "model input NHWC/NCHW require 3 dims");
- a declared label_filename exists beside the config.
"""

from __future__ import annotations

import pathlib
import sys
from typing import List

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_GLOBS = ["models/triton/*/config.pbtxt", "models/demo/*/config.pbtxt"]

PLATFORM_BACKEND = {
    "onnxruntime_onnx": "onnxruntime",
    "tensorrt_plan": "tensorrt",
    "pytorch_libtorch": "pytorch",
    "tensorflow_savedmodel": "tensorflow",
    "tensorflow_graphdef": "tensorflow",
}
KNOWN_BACKENDS = set(PLATFORM_BACKEND.values()) | {"python", "openvino", "fil", "dali"}


def check(path: pathlib.Path) -> List[str]:
    problems: List[str] = []
    where = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path

    def bad(msg: str) -> None:
        problems.append(f"{where}: {msg}")

    config = mc.ModelConfig()
    try:
        text_format.Parse(path.read_text(), config)
    except text_format.ParseError as err:
        bad(f"does not parse as a Triton ModelConfig: {err}")
        return problems

    folder = path.parent.name
    if config.name and config.name != folder:
        bad(f"name {config.name!r} differs from its folder {folder!r}; Triton refuses to load it")

    platform, backend = config.platform, config.backend
    if not platform and not backend:
        bad("names neither platform nor backend")
    if platform and platform != "ensemble" and platform not in PLATFORM_BACKEND:
        bad(f"unknown platform {platform!r} (expected one of {sorted(PLATFORM_BACKEND)})")
    if backend and backend not in KNOWN_BACKENDS:
        bad(f"unknown backend {backend!r} (expected one of {sorted(KNOWN_BACKENDS)})")
    if platform in PLATFORM_BACKEND and backend and PLATFORM_BACKEND[platform] != backend:
        bad(f"platform {platform!r} runs on backend {PLATFORM_BACKEND[platform]!r}, "
            f"not {backend!r}")

    mbs = config.max_batch_size
    if mbs < 0:
        bad(f"max_batch_size {mbs} is negative")
    if config.HasField("dynamic_batching"):
        # Triton 2.51 loads dynamic_batching with max_batch_size 0 (checked), so only sizes.
        for size in config.dynamic_batching.preferred_batch_size:
            if size < 1 or (mbs > 0 and size > mbs):
                bad(f"preferred_batch_size {size} is outside 1..max_batch_size ({mbs})")

    if config.platform != "ensemble":
        if not config.input:
            bad("declares no input")
        if not config.output:
            bad("declares no output")

    seen = set()
    for kind, tensors in (("input", config.input), ("output", config.output)):
        for t in tensors:
            label = f"{kind} {t.name!r}"
            if not t.name:
                bad(f"an {kind} has no name")
            if t.name in seen:
                bad(f"{label} is declared twice")
            seen.add(t.name)
            if t.data_type == mc.TYPE_INVALID:
                bad(f"{label} has no data_type")
            if not t.dims:
                bad(f"{label} has no dims")
            for d in t.dims:
                if d == 0 or d < -1:
                    bad(f"{label} has dim {d}; dims are positive or -1 (variable)")
            if kind == "input":
                # Triton counts the config dims as written, whatever max_batch_size is: with
                # max_batch_size 0 a [1,3,640,640] input must leave format unset (checked on 2.51:
                # "model input NHWC/NCHW require 3 dims").
                image = t.format in (mc.ModelInput.FORMAT_NCHW, mc.ModelInput.FORMAT_NHWC)
                if image and len(t.dims) != 3:
                    bad(f"{label} is {mc.ModelInput.Format.Name(t.format)}, which Triton only "
                        f"accepts with exactly 3 dims, got {list(t.dims)}")
            if kind == "output" and t.label_filename:
                if not (path.parent / t.label_filename).is_file():
                    bad(f"{label} names label file {t.label_filename!r}, which is not beside "
                        "the config")
    return problems


def main(argv: List[str]) -> int:
    paths = [pathlib.Path(a).resolve() for a in argv]
    if not paths:
        paths = sorted(p for g in DEFAULT_GLOBS for p in REPO_ROOT.glob(g))
    if not paths:
        print(f"no config.pbtxt found under {', '.join(DEFAULT_GLOBS)}", file=sys.stderr)
        return 2
    problems = [msg for p in paths for msg in check(p)]
    for msg in problems:
        print(msg, file=sys.stderr)
    print(f"{len(paths)} config(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
