#!/usr/bin/env bash
# Prepare .gpu/ (ComfyUI copy + wheels) for the GPU suite; see scripts/gpu_prepare.py. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PY:-.venv/bin/python}" scripts/gpu_prepare.py "$@"
