#!/usr/bin/env bash
# Creates .venv-track (repo root) with supervision 0.29.1 and the versions the fixtures in
# test/track/fixtures were generated with; then: .venv-track/bin/python test/track/generate.py
# Idempotent: a venv whose requirements stamp matches test/track/requirements.txt is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${TRACK_VENV:-$PWD/.venv-track}"
REQ="$PWD/test/track/requirements.txt"
stamp() { sha256sum "$REQ" | cut -d' ' -f1; }
if [[ -x "$VENV/bin/python" && -f "$VENV/.requirements.sha256" &&
  "$(cat "$VENV/.requirements.sha256")" == "$(stamp)" ]]; then
  echo "track venv up to date: $VENV"
  exit 0
fi
PY="${TRACK_PYTHON:-python3}"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r "$REQ"
stamp >"$VENV/.requirements.sha256"
echo "track venv ready: $VENV"
