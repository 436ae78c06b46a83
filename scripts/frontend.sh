#!/usr/bin/env bash
# Fetch a ComfyUI frontend release from PyPI (comfyui-frontend-package) into the cache and print the folder to pass
# to ComfyUI's --front-end-root. Used by `make test FRONTEND=1.58` (the browser layer on another frontend than the
# one the ComfyUI under test bundles); idempotent, offline after the first fetch.
#
#   scripts/frontend.sh 1.58      newest 1.58.x      scripts/frontend.sh 1.58.1   exactly that release
#
# Output (stdout, one line): $LOADOUT_CACHE/frontends/<version>/comfyui_frontend_package/static
set -euo pipefail
want="${1:?usage: scripts/frontend.sh VERSION (e.g. 1.58 or 1.58.1)}"
CACHE="${LOADOUT_CACHE:-$HOME/.cache/loadout}"
PY="${LOADOUT_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}/bin/python"
[ -x "$PY" ] || PY=python3
case "$want" in
  *.*.*) spec="comfyui-frontend-package==$want" ;;
  *.*) major="${want%%.*}"; minor="${want#*.}"; spec="comfyui-frontend-package>=$want,<$major.$((minor + 1))" ;;
  *) echo "[frontend] $want: give a version such as 1.58 or 1.58.1" >&2; exit 2 ;;
esac
dl="$CACHE/frontends/wheels"
mkdir -p "$dl"
# the newest release matching $spec (a wheel already downloaded is reused: pip download keeps it)
"$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$dl" "$spec" >&2 \
  || echo "[frontend] could not download $spec; using a wheel already in $dl if there is one" >&2
wheel="$(ls -1 "$dl"/comfyui_frontend_package-"$want"*.whl 2>/dev/null | sort -V | tail -1)"
[ -n "$wheel" ] || { echo "[frontend] no wheel for $spec in $dl" >&2; exit 1; }
version="$(basename "$wheel" | sed -E 's/^comfyui_frontend_package-([^-]+)-.*/\1/')"
dest="$CACHE/frontends/$version"
if [ ! -f "$dest/comfyui_frontend_package/static/index.html" ]; then
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  "$PY" -m zipfile -e "$wheel" "$dest.tmp" >&2
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "[frontend] comfyui-frontend-package $version -> $dest" >&2
fi
echo "$dest/comfyui_frontend_package/static"
