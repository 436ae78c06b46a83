"""Where the provisioned pieces live (written by scripts/provision.sh into $LOADOUT_CACHE/env.json).

``LOADOUT_COMFY`` selects which provisioned ComfyUI the tests run against: unset (or ``0.3.75``) the pinned 0.3.75
(``env.json``), ``0.33`` the second harness (``env-0.33.json``: its own ComfyUI copy, base directory and venv).
``make test COMFY=0.33`` sets it. ``COMFYUI_PATH`` still overrides the ComfyUI code of either."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACK_DIR_NAME = "ComfyUI-Loadout"
VERSIONS = {"": "", "0.3.75": "", "0.33": "-0.33", "0.33.0": "-0.33"}  # LOADOUT_COMFY -> file suffix


def cache_dir() -> Path:
    return Path(os.environ.get("LOADOUT_CACHE", Path.home() / ".cache" / "loadout"))


def comfy_suffix() -> str:
    """``""`` for the pinned 0.3.75, ``"-0.33"`` for the 0.33 harness (from ``LOADOUT_COMFY``)."""
    version = os.environ.get("LOADOUT_COMFY", "").strip()
    if version not in VERSIONS:
        raise RuntimeError(f"LOADOUT_COMFY={version!r}: known versions are 0.3.75 (the default) and 0.33")
    return VERSIONS[version]


def env_file() -> Path:
    return cache_dir() / f"env{comfy_suffix()}.json"


@dataclasses.dataclass(frozen=True)
class Harness:
    comfyui: Path  # ComfyUI code (COMFYUI_PATH, else the provisioned one: pinned 0.3.75 or the 0.33 copy)
    base: Path  # --base-directory: custom_nodes, models, input, output, user, temp
    python: Path  # the venv's interpreter
    comfy_cli_config: Path

    @property
    def models(self) -> Path:
        return self.base / "models"

    @property
    def comfy_cli(self) -> Path:
        return self.python.parent / "comfy"


def harness() -> Harness:
    path = env_file()
    if not path.is_file():
        hint = f" COMFY={os.environ['LOADOUT_COMFY']}" if comfy_suffix() else ""
        raise RuntimeError(f"{path} not found: run `make provision{hint}` (scripts/provision.sh) first")
    env = json.loads(path.read_text())
    comfy = Path(os.environ["COMFYUI_PATH"]) if os.environ.get("COMFYUI_PATH") else Path(env["comfyui"])
    return Harness(
        comfyui=comfy,
        base=Path(env["harness"]),
        python=Path(env["venv"]) / "bin" / "python",
        comfy_cli_config=Path(env["comfy_cli_config"]),
    )
