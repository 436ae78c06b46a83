"""Where the provisioned pieces live (written by scripts/provision.sh into $LOADOUT_CACHE/env.json)."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACK_DIR_NAME = "ComfyUI-Loadout"


def cache_dir() -> Path:
    return Path(os.environ.get("LOADOUT_CACHE", Path.home() / ".cache" / "loadout"))


@dataclasses.dataclass(frozen=True)
class Harness:
    comfyui: Path  # ComfyUI code (COMFYUI_PATH or the pinned 0.3.75)
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
    env_file = cache_dir() / "env.json"
    if not env_file.is_file():
        raise RuntimeError(f"{env_file} not found: run `make provision` (scripts/provision.sh) first")
    env = json.loads(env_file.read_text())
    comfy = Path(os.environ["COMFYUI_PATH"]) if os.environ.get("COMFYUI_PATH") else Path(env["comfyui"])
    return Harness(
        comfyui=comfy,
        base=Path(env["harness"]),
        python=Path(env["venv"]) / "bin" / "python",
        comfy_cli_config=Path(env["comfy_cli_config"]),
    )
