#!/usr/bin/env python3
"""Serve the fixture ONNX models from NVIDIA's real tritonserver on CPU.

The tritonserver binary, Triton's Python backend and its stub come from the nvidia-pytriton
wheel (the only place PyPI ships them). pytriton's wheel has no onnxruntime backend, so each
model is a Python-backend model (onnx_model.py) that runs the ONNX file with onnxruntime. We
drive tritonserver ourselves with a model repository on disk instead of pytriton's bind():
that keeps config.pbtxt exactly as in test/support/fixtures.ts FIXTURE_REPOSITORY (read from
that file, so the two never drift), makes the repository index list the models, and lets a
model be unloaded and loaded again (pytriton's proxy breaks on reload; see NOTES.md).

The only config change: `platform: "onnxruntime_onnx"` / `backend: "onnxruntime"` becomes
`backend: "python"` (so metadata reports platform "python").

Usage:
  .venv/bin/python test/triton/serve_fixtures.py [--http-port 8000] [--grpc-port 8001]
      [--metrics-port 8002] [--models ../shared/fixtures/models] [--control-mode explicit]

A port of 0 picks a free one. When /v2/health/ready answers 200 (every model loaded), one JSON
line goes to stdout:
  {"ready": true, "http": 8000, "grpc": 8001, "metrics": 8002, "models": [...],
   "repository": "/tmp/...", "version": "2.51.0"}
tritonserver's log goes to stderr. SIGTERM/SIGINT stop it and exit 0; so does the death of the
process that started us (a killed test run must not leave a server behind).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import List, Sequence, Tuple

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_MODELS = REPO_ROOT.parent / "shared" / "fixtures" / "models"
FIXTURES_TS = REPO_ROOT / "test" / "support" / "fixtures.ts"

# One FIXTURE_REPOSITORY entry: { name: '...', file: '...', config: `...` }
ENTRY = re.compile(r"name:\s*'([^']+)',\s*file:\s*'([^']+)',\s*config:\s*`([^`]*)`", re.S)
ONNX_PLATFORM = re.compile(r'^\s*(platform:\s*"onnxruntime_onnx"|backend:\s*"onnxruntime")\s*$',
                           re.M)


def fixture_repository() -> List[Tuple[str, str, str]]:
    """(name, onnx file, config.pbtxt for the Python backend) for each fixture model."""
    text = FIXTURES_TS.read_text()
    start = text.find("FIXTURE_REPOSITORY")
    entries = ENTRY.findall(text[start:]) if start >= 0 else []
    if not entries:
        raise SystemExit(f"could not read FIXTURE_REPOSITORY from {FIXTURES_TS}")
    out = []
    for name, file, config in entries:
        if not ONNX_PLATFORM.search(config):
            raise SystemExit(f"fixture {name}: config names no onnxruntime platform/backend")
        out.append((name, file, ONNX_PLATFORM.sub('backend: "python"', config, count=1)))
    return out


def triton_dist() -> pathlib.Path:
    import pytriton  # only for its location: the wheel carries tritonserver

    return pathlib.Path(pytriton.__file__).resolve().parent / "tritonserver"


def libs_dir() -> pathlib.Path:
    return triton_dist().parents[1] / "nvidia_pytriton.libs"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_workdir(work: pathlib.Path, models: pathlib.Path, only: set) -> List[str]:
    """Lays out backends/python (backend + stub for this interpreter) and repo/<model>/."""
    dist = triton_dist()
    backend = work / "backends" / "python"
    backend.mkdir(parents=True)
    for f in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy(dist / "backends" / "python" / f, backend / f)
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = dist / "python_backend_stubs" / ver / "triton_python_backend_stub"
    if not stub.is_file():
        raise SystemExit(f"nvidia-pytriton ships no Python backend stub for Python {ver}")
    shutil.copy(stub, backend / "triton_python_backend_stub")

    names = []
    for name, file, config in fixture_repository():
        if only and name not in only:
            continue
        onnx = models / file
        if not onnx.is_file():
            raise SystemExit(f"fixture model {onnx} is missing "
                             "(tests need ../shared/fixtures beside the repository)")
        version = work / "repo" / name / "1"
        version.mkdir(parents=True)
        (work / "repo" / name / "config.pbtxt").write_text(config)
        shutil.copy(HERE / "onnx_model.py", version / "model.py")
        # Read in place: the fixture weights are never copied.
        (version / "model.onnx").symlink_to(onnx.resolve())
        names.append(name)
    unknown = only - set(names)
    if unknown:
        raise SystemExit(f"unknown model(s) in --only: {', '.join(sorted(unknown))}")
    return names


def http_get(url: str) -> Tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--http-port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--grpc-port", type=int, default=8001, help="0 picks a free port")
    p.add_argument("--metrics-port", type=int, default=8002, help="0 picks a free port")
    p.add_argument("--address", default="127.0.0.1", help="address the three services bind to")
    p.add_argument("--models", type=pathlib.Path, default=DEFAULT_MODELS,
                   help=f"folder with the fixture .onnx files (default {DEFAULT_MODELS})")
    p.add_argument("--only", default="", help="comma-separated model names (default all)")
    p.add_argument("--control-mode", choices=["explicit", "none"], default="explicit",
                   help="--model-control-mode; explicit loads all at start and allows "
                        "load/unload, none (Triton's default) refuses them")
    p.add_argument("--log-verbose", type=int, default=0)
    p.add_argument("--ready-timeout", type=float, default=120.0)
    p.add_argument("--workdir", type=pathlib.Path, default=None,
                   help="where to lay out the repository (default: a temp dir, removed on exit)")
    return p.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    only = {n for n in args.only.split(",") if n}
    work = args.workdir or pathlib.Path(tempfile.mkdtemp(prefix="tv-triton-"))
    own_work = args.workdir is None
    server = None
    try:
        names = build_workdir(work, args.models, only)
        ports = {k: getattr(args, f"{k}_port") or free_port() for k in ("http", "grpc", "metrics")}
        cmd = [
            str(triton_dist() / "bin" / "tritonserver"),
            f"--model-repository={work / 'repo'}",
            f"--backend-directory={work / 'backends'}",
            f"--model-control-mode={args.control_mode}",
            f"--http-address={args.address}", f"--http-port={ports['http']}",
            f"--grpc-address={args.address}", f"--grpc-port={ports['grpc']}",
            f"--metrics-address={args.address}", f"--metrics-port={ports['metrics']}",
            "--allow-gpu-metrics=false",
            "--exit-timeout-secs=5",
            f"--log-verbose={args.log_verbose}",
        ]
        if args.control_mode == "explicit":
            cmd.append("--load-model=*")
        env = dict(os.environ)
        # The stub embeds libpython and finds its site-packages from the first python3 on PATH:
        # put this venv's first so numpy and onnxruntime import inside the models.
        env["PATH"] = f"{pathlib.Path(sys.executable).parent}:{env.get('PATH', '')}"
        env["LD_LIBRARY_PATH"] = ":".join(
            p for p in (str(libs_dir()), env.get("LD_LIBRARY_PATH", "")) if p)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server = subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr, env=env,
                                  stdin=subprocess.DEVNULL)

        base = f"http://127.0.0.1:{ports['http']}"
        deadline = time.monotonic() + args.ready_timeout
        while True:
            if server.poll() is not None:
                print(f"tritonserver exited with code {server.returncode} before it was ready "
                      "(its log is above)", file=sys.stderr)
                return 1
            if stop.is_set():
                return 0
            try:
                if http_get(base + "/v2/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print(f"tritonserver not ready after {args.ready_timeout:.0f}s", file=sys.stderr)
                return 1
            time.sleep(0.2)

        version = json.loads(http_get(base + "/v2")[1]).get("version")
        print(json.dumps({"ready": True, **ports, "models": names,
                          "repository": str(work / "repo"), "version": version}), flush=True)

        parent = os.getppid()
        while not stop.wait(0.5):
            if server.poll() is not None:
                print(f"tritonserver exited with code {server.returncode}", file=sys.stderr)
                return 1
            if os.getppid() != parent:
                print("the process that started serve_fixtures exited: stopping",
                      file=sys.stderr)
                break
        return 0
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
