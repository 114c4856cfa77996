#!/usr/bin/env bash
# Creates /work/main/.venv-style virtualenv (repo-root/.venv) for the real-Triton test tier:
# nvidia-pytriton (ships the tritonserver binary), onnxruntime, numpy, tritonclient.
# Idempotent: a venv whose requirements stamp matches test/triton/requirements.txt is reused.
#
# Why a specific interpreter: pytriton's Python-backend stub links against libpython3.x.so,
# so the interpreter must be built with --enable-shared (Debian's /usr/bin/python3 is).
# Override with TRITON_PYTHON=/path/to/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${TRITON_VENV:-$ROOT/.venv}"
REQ="$ROOT/test/triton/requirements.txt"

pick_python() {
  if [[ -n "${TRITON_PYTHON:-}" ]]; then
    echo "$TRITON_PYTHON"
    return
  fi
  for cand in /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
      [[ "$("$cand" -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED"))' 2>/dev/null)" == "1" ]]; then
      echo "$cand"
      return
    fi
  done
  echo "no python3 with a shared libpython found; set TRITON_PYTHON" >&2
  exit 1
}

stamp() { sha256sum "$REQ" | cut -d' ' -f1; }

if [[ -x "$VENV/bin/python" && -f "$VENV/.requirements.sha256" &&
  "$(cat "$VENV/.requirements.sha256")" == "$(stamp)" ]]; then
  echo "triton venv up to date: $VENV"
  exit 0
fi

PY="$(pick_python)"
# Debian's interpreter ships venv/ensurepip and headers in separate packages.
if [[ "$PY" == /usr/bin/python3* ]] && ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev
  else
    echo "$PY lacks ensurepip: install python3-venv (Debian) and retry" >&2
    exit 1
  fi
fi

echo "creating $VENV with $PY ($("$PY" --version))"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r "$REQ"
stamp >"$VENV/.requirements.sha256"
echo "triton venv ready: $VENV ($(du -sh "$VENV" | cut -f1))"
