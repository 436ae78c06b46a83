#!/usr/bin/env bash
# The GPU suite on the GPU machine (no network): install the carried wheels, point the suite at the carried
# ComfyUI copy, run every case, and leave the results in $OUT (the device tool brings that folder back) or, without
# $OUT, in bench/results/gpu/. Prepared here by scripts/gpu_prepare.sh; the .gpu folder must travel (carry: .gpu).
#
#   bash bench/gpu/run_on_device.sh                                  # the whole suite (budget 450 s)
#   bash bench/gpu/run_on_device.sh --only vae_tiled,lora_apply      # a rerun of some cases
#
# Files written (8, the most the device tool brings back): <case>.json ×5, suite.json, summary.md, suite.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
DEST=${OUT:-bench/results/gpu}
mkdir -p "$DEST"
if [ ! -f .gpu/comfyui/comfy/model_management.py ]; then
  echo "no .gpu/comfyui here: run scripts/gpu_prepare.sh on the development machine and carry .gpu" >&2
  exit 2
fi
if compgen -G ".gpu/wheels/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/loadout-gpu-site \
    .gpu/wheels/*.whl || { echo "installing the carried wheels failed" >&2; exit 3; }
  export PYTHONPATH=/tmp/loadout-gpu-site${PYTHONPATH:+:$PYTHONPATH}
fi
export LOADOUT_GPU_COMFYUI="$PWD/.gpu/comfyui" PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } >&2 || true
"$PY" bench/gpu/suite.py --out "$DEST" "$@" 2> >(tee "$DEST/suite.log" >&2)
rc=$?
wait
exit $rc
