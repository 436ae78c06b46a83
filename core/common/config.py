"""Loadout's user config: a small JSON file, re-read when it changes.

Location: ``$LOADOUT_CONFIG`` if set, else ``loadout.json`` in ComfyUI's user directory
(``ComfyUI/user/loadout.json`` by default). Every key is optional::

    {
      "lora": {"extra_dirs": ["/data/more-loras"], "cache_max_mb": 1024},
      "vae": {"family_defaults": {"SD1": "vae-ft-mse.safetensors", "SDXL": "baked"}}
    }
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)
_cached: tuple[str, int, dict] | None = None


def config_path() -> Path:
    if os.environ.get("LOADOUT_CONFIG"):
        return Path(os.environ["LOADOUT_CONFIG"])
    import folder_paths  # noqa: PLC0415 - ComfyUI module, present whenever nodes run

    return Path(folder_paths.get_user_directory()) / "loadout.json"


def load_config() -> dict:
    global _cached
    path = config_path()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return {}
    if _cached and _cached[0] == str(path) and _cached[1] == mtime:
        return _cached[2]
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("top level must be an object")
    except (ValueError, OSError) as e:
        raise ValueError(f"[Loadout] config {path} is not valid JSON ({e}); fix or delete it") from None
    _cached = (str(path), mtime, data)
    return data


def section(name: str) -> dict:
    value = load_config().get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"[Loadout] config {config_path()}: '{name}' must be an object")
    return value
