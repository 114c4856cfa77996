#!/usr/bin/env python3
"""Checks triton-vision-serve with NVIDIA's official Python tritonclient (HTTP and gRPC).

A client we did not write, talking to our server: health, server and model metadata,
model config, repository index, statistics, inference (binary and JSON tensors for
mobilenetv2, FP16 for yolov5n_fp16, two outputs for yolov8n_seg) and error statuses.
Inference outputs are compared with running the same ONNX file in onnxruntime here.

Usage:
  .venv/bin/python test/triton/official_client.py --http 127.0.0.1:8000 --grpc 127.0.0.1:8001
      [--models ../shared/fixtures/models]

Prints one line per check, then a JSON line {"passed": [...], "failed": [...], "equality": ...}
and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import traceback
from typing import Callable, Dict, List

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_MODELS = HERE.parents[1].parent / "shared" / "fixtures" / "models"
FILES = {
    "yolov8n": "yolov8n_int8_640.onnx",
    "yolov5n_fp16": "yolov5n_fp16_dynamic.onnx",
    "yolov8n_seg": "yolov8n-seg_int8_640_retargeted.onnx",
    "mobilenetv2": "mobilenetv2-12-int8.onnx",
}
# gRPC responses for the YOLO models exceed gRPC's default 4 MiB receive limit.
GRPC_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]


def check(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


class Checker:
    def __init__(self, http_url: str, grpc_url: str, models: pathlib.Path) -> None:
        self.http = httpclient.InferenceServerClient(http_url, network_timeout=120.0)
        self.grpc = grpcclient.InferenceServerClient(grpc_url, channel_args=GRPC_OPTIONS)
        self.models = models
        self.sessions: Dict[str, ort.InferenceSession] = {}
        self.rng = np.random.default_rng(2024)
        # "bit-identical" unless some output only matched within tolerance.
        self.equality = "bit-identical"

    # ---- references -------------------------------------------------------------------

    def reference(self, model: str, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if model not in self.sessions:
            self.sessions[model] = ort.InferenceSession(
                str(self.models / FILES[model]), providers=["CPUExecutionProvider"])
        sess = self.sessions[model]
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feeds)))

    def same(self, got: np.ndarray, want: np.ndarray, what: str) -> None:
        check(got.dtype == want.dtype, f"{what}: dtype {got.dtype}, expected {want.dtype}")
        check(got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}")
        if np.array_equal(got.view(np.uint8), want.view(np.uint8)):
            return
        # Our server runs onnxruntime-node, possibly another ORT release than this one.
        g = got.astype(np.float64)
        w = want.astype(np.float64)
        rel = float(np.max(np.abs(g - w) / np.maximum(np.maximum(np.abs(g), np.abs(w)), 1e-30)))
        check(rel <= 1e-5, f"{what}: differs from onnxruntime by {rel:.3g} relative")
        self.equality = f"within {rel:.3g} relative"

    # ---- checks ----------------------------------------------------------------------

    def health(self) -> None:
        for c in (self.http, self.grpc):
            check(c.is_server_live() is True, "server live")
            check(c.is_server_ready() is True, "server ready")
            check(c.is_model_ready("yolov8n") is True, "yolov8n ready")
            check(c.is_model_ready("mobilenetv2", "1") is True, "mobilenetv2 v1 ready")
            check(c.is_model_ready("no_such_model") is False, "unknown model not ready")

    def server_metadata(self) -> None:
        h = self.http.get_server_metadata()
        g = self.grpc.get_server_metadata(as_json=True)
        for md in (h, g):
            check(md["name"] == "triton-vision-serve", f"server name {md['name']}")
            for ext in ("binary_tensor_data", "model_repository", "statistics"):
                check(ext in md["extensions"], f"extension {ext} in {md['extensions']}")
        check(h["version"] == g["version"], "same version over both protocols")

    def model_metadata(self) -> None:
        h = self.http.get_model_metadata("mobilenetv2")
        g = self.grpc.get_model_metadata("mobilenetv2", as_json=True)
        check(h["name"] == "mobilenetv2" and h["versions"] == ["1"], f"http metadata {h}")
        check(h["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}],
              f"http inputs {h['inputs']}")
        check(h["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 1000]}],
              f"http outputs {h['outputs']}")
        # gRPC JSON prints int64 as strings.
        check([int(d) for d in g["inputs"][0]["shape"]] == [-1, 3, 224, 224],
              f"grpc inputs {g['inputs']}")
        check(g["platform"] == h["platform"] == "onnxruntime_onnx", f"platform {h['platform']}")
        v5 = self.http.get_model_metadata("yolov5n_fp16")
        check(v5["inputs"][0]["datatype"] == "FP16", f"yolov5n_fp16 inputs {v5['inputs']}")
        seg = self.grpc.get_model_metadata("yolov8n_seg")
        check([o.name for o in seg.outputs] == ["output0", "output1"], "seg outputs over grpc")

    def model_config(self) -> None:
        h = self.http.get_model_config("mobilenetv2")
        g = self.grpc.get_model_config("mobilenetv2").config
        check(h["name"] == "mobilenetv2" and h["max_batch_size"] == 8, f"http config {h}")
        check(h["input"][0]["dims"] == [3, 224, 224], f"http dims {h['input'][0]}")
        check(h["input"][0]["data_type"] == "TYPE_FP32", "http data_type")
        check(g.max_batch_size == 8 and list(g.input[0].dims) == [3, 224, 224], f"grpc {g}")
        check(grpcclient.model_config_pb2.DataType.Name(g.input[0].data_type) == "TYPE_FP32",
              "grpc data_type")
        v8 = self.http.get_model_config("yolov8n")
        check(v8["parameters"]["task"]["string_value"] == "detect", f"parameters {v8}")

    def repository_and_stats(self) -> None:
        h = self.http.get_model_repository_index()
        names = {m["name"]: m["state"] for m in h}
        for m in FILES:
            check(names.get(m) == "READY", f"{m} in http index: {h}")
        g = self.grpc.get_model_repository_index(as_json=True)
        check({m["name"] for m in g["models"]} == set(names), f"grpc index {g}")
        s = self.http.get_inference_statistics("mobilenetv2")["model_stats"]
        check(len(s) == 1 and s[0]["name"] == "mobilenetv2", f"http stats {s}")
        gs = self.grpc.get_inference_statistics("mobilenetv2", as_json=True)["model_stats"]
        check(gs[0]["name"] == "mobilenetv2", f"grpc stats {gs}")

    def _mobilenet_input(self, batch: int) -> np.ndarray:
        return self.rng.random((batch, 3, 224, 224), dtype=np.float32)

    def infer_http_binary(self) -> None:
        x = self._mobilenet_input(2)
        want = self.reference("mobilenetv2", {"input": x})["output"]
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
        out = httpclient.InferRequestedOutput("output", binary_data=True)
        res = self.http.infer("mobilenetv2", [inp], outputs=[out], request_id="req-7")
        check(res.get_response()["id"] == "req-7", f"id echoed: {res.get_response()}")
        self.same(res.as_numpy("output"), want, "mobilenetv2 http binary")

    def infer_http_json(self) -> None:
        x = self._mobilenet_input(1)
        want = self.reference("mobilenetv2", {"input": x})["output"]
        inp = httpclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
        out = httpclient.InferRequestedOutput("output", binary_data=False)
        res = self.http.infer("mobilenetv2", [inp], outputs=[out])
        body = res.get_response()
        check("data" in body["outputs"][0], "JSON output carries data")
        self.same(res.as_numpy("output"), want, "mobilenetv2 http JSON")

    def infer_grpc(self) -> None:
        x = self._mobilenet_input(3)
        want = self.reference("mobilenetv2", {"input": x})["output"]
        inp = grpcclient.InferInput("input", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        res = self.grpc.infer("mobilenetv2", [inp], request_id="req-9")
        check(res.get_response().id == "req-9", "grpc id echoed")
        self.same(res.as_numpy("output"), want, "mobilenetv2 grpc")

    def infer_fp16(self) -> None:
        x = self.rng.random((1, 3, 640, 640), dtype=np.float32).astype(np.float16)
        want = self.reference("yolov5n_fp16", {"images": x})["output"]
        hi = httpclient.InferInput("images", list(x.shape), "FP16")
        hi.set_data_from_numpy(x, binary_data=True)
        res = self.http.infer("yolov5n_fp16", [hi],
                              outputs=[httpclient.InferRequestedOutput("output", binary_data=True)])
        self.same(res.as_numpy("output"), want, "yolov5n_fp16 http")
        gi = grpcclient.InferInput("images", list(x.shape), "FP16")
        gi.set_data_from_numpy(x)
        self.same(self.grpc.infer("yolov5n_fp16", [gi]).as_numpy("output"), want,
                  "yolov5n_fp16 grpc")

    def infer_two_outputs(self) -> None:
        x = self.rng.random((1, 3, 640, 640), dtype=np.float32)
        want = self.reference("yolov8n_seg", {"images": x})
        gi = grpcclient.InferInput("images", list(x.shape), "FP32")
        gi.set_data_from_numpy(x)
        res = self.grpc.infer("yolov8n_seg", [gi])
        for name in ("output0", "output1"):
            self.same(res.as_numpy(name), want[name], f"yolov8n_seg {name} grpc")

    def errors(self) -> None:
        def status(fn: Callable[[], object]) -> str:
            try:
                fn()
            except InferenceServerException as err:
                return str(err.status())
            raise AssertionError("the call succeeded but should have failed")

        x = np.zeros((1, 3, 112, 112), dtype=np.float32)
        hi = httpclient.InferInput("input", list(x.shape), "FP32")
        hi.set_data_from_numpy(x)
        gi = grpcclient.InferInput("input", list(x.shape), "FP32")
        gi.set_data_from_numpy(x)
        check(status(lambda: self.http.get_model_metadata("no_such_model")) == "404",
              "http unknown model metadata → 404")
        check(status(lambda: self.grpc.get_model_metadata("no_such_model")) ==
              "StatusCode.NOT_FOUND", "grpc unknown model metadata → NOT_FOUND")
        check(status(lambda: self.http.infer("mobilenetv2", [hi])) == "400",
              "http wrong shape → 400")
        check(status(lambda: self.grpc.infer("mobilenetv2", [gi])) ==
              "StatusCode.INVALID_ARGUMENT", "grpc wrong shape → INVALID_ARGUMENT")
        # FP16 cannot travel as JSON: Triton answers 400 and so must we.
        h16 = httpclient.InferInput("images", [1, 3, 640, 640], "FP16")
        h16.set_data_from_numpy(np.zeros((1, 3, 640, 640), dtype=np.float16), binary_data=True)
        check(status(lambda: self.http.infer(
            "yolov5n_fp16", [h16],
            outputs=[httpclient.InferRequestedOutput("output", binary_data=False)])) == "400",
            "http FP16 output as JSON → 400")

    def close(self) -> None:
        self.http.close()
        self.grpc.close()


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--http", required=True, help="host:port of the HTTP endpoint")
    p.add_argument("--grpc", required=True, help="host:port of the gRPC endpoint")
    p.add_argument("--models", type=pathlib.Path, default=DEFAULT_MODELS)
    args = p.parse_args(argv)
    c = Checker(args.http, args.grpc, args.models)
    checks = [c.health, c.server_metadata, c.model_metadata, c.model_config,
              c.repository_and_stats, c.infer_http_binary, c.infer_http_json, c.infer_grpc,
              c.infer_fp16, c.infer_two_outputs, c.errors]
    passed, failed = [], []
    for fn in checks:
        try:
            fn()
            passed.append(fn.__name__)
            print(f"ok   {fn.__name__}", flush=True)
        except Exception as err:  # one failing check must not hide the others
            failed.append(fn.__name__)
            print(f"FAIL {fn.__name__}: {err}", flush=True)
            traceback.print_exc(file=sys.stderr)
    c.close()
    print(json.dumps({"passed": passed, "failed": failed, "equality": c.equality}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
