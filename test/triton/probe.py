#!/usr/bin/env python3
"""Asks a running Triton (e.g. serve_fixtures.py) the questions NOTES.md answers, and prints
every answer verbatim: HTTP status, the headers that matter, bodies; gRPC status codes and
messages from the raw service stub (no client-side rewriting).

Usage: .venv/bin/python test/triton/probe.py [--http 127.0.0.1:8000] [--grpc 127.0.0.1:8001]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from typing import Dict, Optional, Tuple

import grpc
import numpy as np
from google.protobuf import json_format
from tritonclient.grpc import service_pb2, service_pb2_grpc

MODELS = ["yolov8n", "yolov5n_fp16", "yolov8n_seg", "mobilenetv2"]
HEADERS_OF_INTEREST = ("content-type", "content-length", "inference-header-content-length",
                       "content-encoding", "transfer-encoding")


def section(title: str) -> None:
    print(f"\n## {title}")


def http_call(addr: str, method: str, path: str, body: Optional[bytes] = None,
              headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    host, port = addr.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders() if k.lower() in HEADERS_OF_INTEREST}
    conn.close()
    return resp.status, hdrs, data


def show_http(addr: str, method: str, path: str, body: Optional[bytes] = None,
              headers: Optional[Dict[str, str]] = None, max_body: int = 4000) -> bytes:
    status, hdrs, data = http_call(addr, method, path, body, headers)
    if "content-encoding" in hdrs:
        shown = "(compressed)"
    elif "inference-header-content-length" in hdrs:
        js_len = int(hdrs["inference-header-content-length"])
        shown = data[:js_len].decode() + f" + {len(data) - js_len} binary bytes"
    else:
        shown = data[:max_body].decode("utf-8", "replace")
    print(f"{method} {path} -> {status} {json.dumps(hdrs)}\n  body[{len(data)}]: {shown}")
    return data


def binary_infer_body(name: str, dtype: str, shape, raw: bytes, outputs=None,
                      binary_output: bool = True) -> Tuple[bytes, Dict[str, str]]:
    header = {"inputs": [{"name": name, "datatype": dtype, "shape": list(shape),
                          "parameters": {"binary_data_size": len(raw)}}]}
    if outputs is not None:
        header["outputs"] = [{"name": o, "parameters": {"binary_data": binary_output}}
                             for o in outputs]
    js = json.dumps(header).encode()
    return js + raw, {"Inference-Header-Content-Length": str(len(js)),
                      "Content-Type": "application/octet-stream"}


def show_grpc(stub, method: str, request) -> None:
    try:
        resp = getattr(stub, method)(request, timeout=60)
        text = json_format.MessageToJson(resp, preserving_proto_field_name=True, indent=None)
        if len(text) > 3000:
            text = text[:3000] + "...(cut)"
        print(f"gRPC {method}({json_format.MessageToJson(request, indent=None)}) -> OK {text}")
        return resp
    except grpc.RpcError as err:
        print(f"gRPC {method}({json_format.MessageToJson(request, indent=None)}) -> "
              f"{err.code().name} ({err.code().value[0]}): {err.details()!r}")
        return None


def main(argv) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", default="127.0.0.1:8000")
    ap.add_argument("--grpc", default="127.0.0.1:8001")
    ap.add_argument("--load-unload", action="store_true",
                    help="also unload and reload mobilenetv2 (changes server state)")
    a = ap.parse_args(argv)
    h = a.http

    section("HTTP health / metadata")
    for p in ["/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/nope/ready",
              "/v2/models/nope", "/v2/models/nope/config", "/v2/models/yolov8n/versions/2/ready",
              "/v2/models/yolov8n/versions/1/ready", "/v2/models/yolov8n/versions/abc/ready"]:
        show_http(h, "GET", p)
    for m in MODELS:
        show_http(h, "GET", f"/v2/models/{m}")
        show_http(h, "GET", f"/v2/models/{m}/ready")
        show_http(h, "GET", f"/v2/models/{m}/config", max_body=10000)

    section("HTTP repository index / stats")
    show_http(h, "POST", "/v2/repository/index")
    show_http(h, "POST", "/v2/repository/index", json.dumps({"ready": True}).encode())
    show_http(h, "GET", "/v2/models/stats", max_body=1500)
    show_http(h, "GET", "/v2/models/yolov8n/stats")
    show_http(h, "GET", "/v2/models/nope/stats")

    section("HTTP infer: good and bad")
    img = np.zeros((1, 3, 640, 640), np.float32)
    body, hdr = binary_infer_body("images", "FP32", img.shape, img.tobytes(), ["output0"])
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr, max_body=300)
    body, hdr = binary_infer_body("images", "FP32", img.shape, img.tobytes())
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr, max_body=300)
    # Binary request, outputs requested as JSON (binary_data false).
    cls = np.zeros((1, 3, 224, 224), np.float32)
    body, hdr = binary_infer_body("input", "FP32", cls.shape, cls.tobytes(), ["output"], False)
    show_http(h, "POST", "/v2/models/mobilenetv2/infer", body, hdr, max_body=200)
    # Pure JSON request with no outputs list.
    js = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 224, 224],
                                 "data": [0.0] * (3 * 224 * 224)}]}).encode()
    show_http(h, "POST", "/v2/models/mobilenetv2/infer", js,
              {"Content-Type": "application/json"}, max_body=200)
    # Batch 2 on a batching model, batch 9 over max_batch_size 8.
    for n in (2, 9):
        x = np.zeros((n, 3, 224, 224), np.float32)
        body, hdr = binary_infer_body("input", "FP32", x.shape, x.tobytes(), ["output"])
        show_http(h, "POST", "/v2/models/mobilenetv2/infer", body, hdr, max_body=300)
    # Unknown model.
    body, hdr = binary_infer_body("images", "FP32", img.shape, img.tobytes())
    show_http(h, "POST", "/v2/models/nope/infer", body, hdr)
    # Wrong shape.
    small = np.zeros((1, 3, 320, 320), np.float32)
    body, hdr = binary_infer_body("images", "FP32", small.shape, small.tobytes())
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr)
    # Wrong dtype: FP16 bytes to an FP32 input, and FP32 to the FP16 model.
    half = np.zeros((1, 3, 640, 640), np.float16)
    body, hdr = binary_infer_body("images", "FP16", half.shape, half.tobytes())
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr)
    body, hdr = binary_infer_body("images", "FP32", img.shape, img.tobytes())
    show_http(h, "POST", "/v2/models/yolov5n_fp16/infer", body, hdr)
    # FP16 good.
    body, hdr = binary_infer_body("images", "FP16", half.shape, half.tobytes(), ["output"])
    show_http(h, "POST", "/v2/models/yolov5n_fp16/infer", body, hdr, max_body=300)
    # Wrong input name, byte size mismatch, missing input, unknown output.
    body, hdr = binary_infer_body("pixels", "FP32", img.shape, img.tobytes())
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr)
    body, hdr = binary_infer_body("images", "FP32", img.shape, img.tobytes()[:-4])
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr)
    show_http(h, "POST", "/v2/models/yolov8n/infer", json.dumps({"inputs": []}).encode())
    body, hdr = binary_infer_body("images", "FP32", img.shape, img.tobytes(), ["nope"])
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr)
    # Datatype the protocol does not know, malformed JSON.
    body, hdr = binary_infer_body("images", "TYPE_FP32", img.shape, img.tobytes())
    show_http(h, "POST", "/v2/models/yolov8n/infer", body, hdr)
    show_http(h, "POST", "/v2/models/yolov8n/infer", b"{not json")
    show_http(h, "GET", "/v2/nothing-here")
    metrics_port = int(h.split(":")[1]) + 2
    status, _, data = http_call(f"{h.split(':')[0]}:{metrics_port}", "GET", "/metrics")
    lines = [ln for ln in data.decode().splitlines() if ln.startswith("nv_inference_count")]
    print(f"GET :{metrics_port}/metrics -> {status}; nv_inference_count lines: {lines}")
    # FP16 output asked for as JSON (FP16 has no JSON form).
    body, hdr = binary_infer_body("images", "FP16", half.shape, half.tobytes(), ["output"], False)
    show_http(h, "POST", "/v2/models/yolov5n_fp16/infer", body, hdr, max_body=300)
    # Raw binary request: Inference-Header-Content-Length 0 and only the input bytes.
    show_http(h, "POST", "/v2/models/mobilenetv2/infer", np.zeros((3, 224, 224), np.float32)
              .tobytes(), {"Inference-Header-Content-Length": "0"}, max_body=300)
    # Compressed response on request.
    body, hdr = binary_infer_body("input", "FP32", cls.shape, cls.tobytes(), ["output"])
    show_http(h, "POST", "/v2/models/mobilenetv2/infer", body, {**hdr, "Accept-Encoding": "gzip"},
              max_body=0)
    # Request id echo and a version in the path.
    js = json.dumps({"id": "req-42", "inputs": [{"name": "input", "datatype": "FP32",
                     "shape": [1, 3, 224, 224], "parameters": {"binary_data_size": cls.nbytes}}],
                     "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
    show_http(h, "POST", "/v2/models/mobilenetv2/versions/1/infer", js + cls.tobytes(),
              {"Inference-Header-Content-Length": str(len(js))}, max_body=200)
    show_http(h, "POST", "/v2/models/mobilenetv2/versions/3/infer", js + cls.tobytes(),
              {"Inference-Header-Content-Length": str(len(js))}, max_body=200)

    section("HTTP load / unload (model control mode)")
    show_http(h, "POST", "/v2/repository/models/nope/load")
    show_http(h, "POST", "/v2/repository/models/nope/unload")
    if a.load_unload:
        show_http(h, "POST", "/v2/repository/models/mobilenetv2/unload")
        show_http(h, "GET", "/v2/models/mobilenetv2/ready")
        show_http(h, "GET", "/v2/models/mobilenetv2")
        show_http(h, "POST", "/v2/repository/index")
        body, hdr = binary_infer_body("input", "FP32", cls.shape, cls.tobytes(), ["output"])
        show_http(h, "POST", "/v2/models/mobilenetv2/infer", body, hdr)
        # Triton answers unload at once and unloads in the background; a load issued while the
        # old instance is still UNLOADING can race it, so wait for UNAVAILABLE first.
        for _ in range(100):
            idx = json.loads(http_call(h, "POST", "/v2/repository/index")[2])
            if all(m.get("state") != "UNLOADING" for m in idx):
                break
            time.sleep(0.1)
        show_http(h, "POST", "/v2/repository/index")
        show_http(h, "GET", "/v2/health/ready")
        show_http(h, "POST", "/v2/repository/models/mobilenetv2/load")
        show_http(h, "GET", "/v2/models/mobilenetv2/ready")
        body, hdr = binary_infer_body("input", "FP32", cls.shape, cls.tobytes(), ["output"])
        show_http(h, "POST", "/v2/models/mobilenetv2/infer", body, hdr, max_body=150)
        show_http(h, "GET", "/v2/models/mobilenetv2/stats")

    section("gRPC (raw stub)")
    opts = [("grpc.max_receive_message_length", 2**31 - 1),
            ("grpc.max_send_message_length", 2**31 - 1)]
    chan = grpc.insecure_channel(a.grpc, options=opts)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(chan)
    show_grpc(stub, "ServerLive", service_pb2.ServerLiveRequest())
    show_grpc(stub, "ServerReady", service_pb2.ServerReadyRequest())
    show_grpc(stub, "ServerMetadata", service_pb2.ServerMetadataRequest())
    show_grpc(stub, "ModelReady", service_pb2.ModelReadyRequest(name="yolov8n"))
    show_grpc(stub, "ModelReady", service_pb2.ModelReadyRequest(name="nope"))
    show_grpc(stub, "ModelReady", service_pb2.ModelReadyRequest(name="yolov8n", version="2"))
    show_grpc(stub, "ModelMetadata", service_pb2.ModelMetadataRequest(name="yolov5n_fp16"))
    show_grpc(stub, "ModelMetadata", service_pb2.ModelMetadataRequest(name="nope"))
    show_grpc(stub, "ModelConfig", service_pb2.ModelConfigRequest(name="mobilenetv2"))
    show_grpc(stub, "ModelConfig", service_pb2.ModelConfigRequest(name="nope"))
    show_grpc(stub, "ModelStatistics", service_pb2.ModelStatisticsRequest(name="yolov8n"))
    show_grpc(stub, "ModelStatistics", service_pb2.ModelStatisticsRequest(name="nope"))
    show_grpc(stub, "RepositoryIndex", service_pb2.RepositoryIndexRequest())
    show_grpc(stub, "RepositoryModelLoad", service_pb2.RepositoryModelLoadRequest(model_name="nope"))
    show_grpc(stub, "RepositoryModelUnload",
              service_pb2.RepositoryModelUnloadRequest(model_name="nope"))

    def infer_req(model, name, dtype, arr, outputs=()):
        req = service_pb2.ModelInferRequest(model_name=model)
        t = req.inputs.add()
        t.name, t.datatype = name, dtype
        t.shape.extend(arr.shape)
        req.raw_input_contents.append(arr.tobytes())
        for o in outputs:
            req.outputs.add().name = o
        return req

    def show_infer(req):
        try:
            resp = stub.ModelInfer(req, timeout=60)
            outs = [(o.name, o.datatype, list(o.shape), dict(o.parameters),
                     o.HasField("contents")) for o in resp.outputs]
            sizes = [len(r) for r in resp.raw_output_contents]
            print(f"gRPC ModelInfer({req.model_name}) -> OK model_version={resp.model_version!r} "
                  f"id={resp.id!r} outputs={outs} raw_sizes={sizes} params={dict(resp.parameters)}")
        except grpc.RpcError as err:
            print(f"gRPC ModelInfer({req.model_name}) -> {err.code().name}: {err.details()!r}")

    show_infer(infer_req("yolov8n", "images", "FP32", img))
    show_infer(infer_req("yolov8n_seg", "images", "FP32", img))
    show_infer(infer_req("yolov5n_fp16", "images", "FP16", half))
    show_infer(infer_req("mobilenetv2", "input", "FP32", np.zeros((3, 3, 224, 224), np.float32)))
    show_infer(infer_req("nope", "images", "FP32", img))
    show_infer(infer_req("yolov8n", "images", "FP32", small))
    show_infer(infer_req("yolov8n", "images", "FP16", half))
    show_infer(infer_req("yolov8n", "pixels", "FP32", img))
    show_infer(infer_req("yolov8n", "images", "FP32", img, ["nope"]))
    show_infer(infer_req("mobilenetv2", "input", "FP32", np.zeros((9, 3, 224, 224), np.float32)))
    bad = infer_req("yolov8n", "images", "FP32", img)
    bad.raw_input_contents[0] = bad.raw_input_contents[0][:-4]
    show_infer(bad)
    # Typed contents instead of raw bytes.
    typed = service_pb2.ModelInferRequest(model_name="mobilenetv2")
    t = typed.inputs.add()
    t.name, t.datatype = "input", "FP32"
    t.shape.extend([1, 3, 224, 224])
    t.contents.fp32_contents.extend([0.0] * (3 * 224 * 224))
    show_infer(typed)

    # grpc.health.v1.Health/Check by hand: an empty HealthCheckRequest is zero bytes, and the
    # response is field 1 (status) as a varint: 08 01 = SERVING.
    check = chan.unary_unary("/grpc.health.v1.Health/Check")
    try:
        print("grpc.health.v1 Check -> raw response bytes", check(b"", timeout=10).hex())
    except grpc.RpcError as err:
        print(f"grpc.health.v1 Check -> {err.code().name}: {err.details()!r}")
    rv = service_pb2.ModelInferRequest(model_name="mobilenetv2", model_version="3", id="req-7")
    rv.MergeFrom(infer_req("mobilenetv2", "input", "FP32", cls))
    show_infer(rv)
    idreq = infer_req("mobilenetv2", "input", "FP32", cls)
    idreq.id = "req-7"
    show_infer(idreq)

    section("tritonclient view")
    import tritonclient.grpc as tg
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    for name, mod, url in (("http", th, a.http), ("grpc", tg, a.grpc)):
        c = mod.InferenceServerClient(url)
        print(f"{name}: is_model_ready('nope') ->", c.is_model_ready("nope"))
        try:
            c.get_model_metadata("nope")
        except InferenceServerException as err:
            print(f"{name}: get_model_metadata('nope') -> status={err.status()!r} "
                  f"message={err.message()!r}")
        cfg = c.get_model_config("yolov8n", **({"as_json": True} if name == "grpc" else {}))
        print(f"{name}: get_model_config('yolov8n') keys ->", sorted(cfg.keys()),
              "max_batch_size" in (cfg.get("config", cfg)))
        inp = mod.InferInput("images", [1, 3, 640, 640], "FP32")
        inp.set_data_from_numpy(img)
        r = c.infer("yolov8n", [inp])
        print(f"{name}: infer yolov8n output0 ->", r.as_numpy("output0").shape,
              r.as_numpy("output0").dtype)
        c.close()
    chan.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
