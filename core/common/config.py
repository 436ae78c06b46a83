"""Loadout's user config: a small JSON file, re-read when it changes.

Location: ``$LOADOUT_CONFIG`` if set, else ``loadout.json`` in the user directory the glue registers with
``set_user_directory`` (``nodes/registry.py`` passes ComfyUI's, so ``ComfyUI/user/loadout.json`` by default). With
neither, there is no config file and every setting has its default. Every key is optional::

    {
      "lora": {"extra_dirs": ["/data/more-loras"], "cache_max_mb": 1024},
      "annotators": {"cache_max_mb": 2048, "extra_roots": ["~/stable-diffusion-webui", "/data/annotators"]},
      "controlnet": {"cache_max_mb": 4096},
      "vae": {"family_defaults": {"SD1": "vae-ft-mse.safetensors", "SDXL": "baked"}}
    }

- ``lora.extra_dirs``: more LoRA folders, searched after ComfyUI's ``loras`` folders.
- ``lora.cache_max_mb``: memory (MiB, CPU) for the LRU cache of read LoRA files (default 1024).
- ``annotators.cache_max_mb``: memory (MiB) for loaded preprocessor models — HED, lineart, M-LSD, depth,
  segmentation, MediaPipe solutions (default 2048).
- ``annotators.extra_roots``: more folders to look for annotator weights in, searched after ComfyUI's
  ``annotators`` folders, each in every layout ``preprocessors/weights.py`` knows (Loadout's own,
  comfyui_controlnet_aux's ``ckpts``, A1111 sd-webui-controlnet's ``annotator/downloads``), so an A1111 install
  folder or another ComfyUI's controlnet_aux folder can be named as it is. ``~`` is expanded; a relative path is
  relative to the folder of ``loadout.json``; a folder that does not exist is left out with one logged line (not
  an error).
- ``controlnet.cache_max_mb``: memory (MiB) for ControlNets loaded by name (default 4096).
- ``vae.family_defaults``: the VAE file (or ``"baked"``) that VAE select's ``auto`` picks per model family.

A ``cache_max_mb`` of 0 turns that cache off; a budget change applies at the cache's next use (evicting what no
longer fits). The file itself is read through the one cache (``FileCache``), so an edit is seen at the next use.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable

from .cache import FileCache
from .units import MIB, mb_to_bytes

logger = logging.getLogger(__name__)
CACHE_DEFAULT_MB = {"lora": 1024, "annotators": 2048, "controlnet": 4096}
_user_directory: "str | os.PathLike | Callable[[], str] | None" = None
_warned: set = set()


def set_user_directory(where: "str | os.PathLike | Callable[[], str] | None") -> None:
    """Where ``loadout.json`` lives: a folder, or a callable returning it (asked at each read, so a folder the host
    changes later is followed). ``None`` forgets it."""
    global _user_directory
    _user_directory = where


def config_path() -> Path | None:
    if os.environ.get("LOADOUT_CONFIG"):
        return Path(os.environ["LOADOUT_CONFIG"])
    where = _user_directory() if callable(_user_directory) else _user_directory
    return Path(where) / "loadout.json" if where else None


def _read(path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError("top level must be an object")
    except (ValueError, OSError) as e:
        raise ValueError(f"[Loadout] config {path} is not valid JSON ({e}); fix or delete it") from None
    return data


_FILES = FileCache(_read, 16 * MIB, name="config files", max_entries=4)


def load_config() -> dict:
    path = config_path()
    if path is None:
        return {}
    try:
        return _FILES.get(path).value
    except FileNotFoundError:
        return {}


def section(name: str) -> dict:
    value = load_config().get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"[Loadout] config {config_path()}: '{name}' must be an object")
    return value


def _warn_once(problem: str) -> None:
    if problem not in _warned:
        _warned.add(problem)
        logger.warning("[Loadout] config: %s", problem)


def folder_list(name: str, key: str) -> list[Path]:
    """The folders listed at ``<name>.<key>`` (a list of strings; one string is taken as a list of one): ``~``
    expanded, relative paths taken from the config file's folder, folders that do not exist left out. Every problem
    (a bad file, a value of another type, a missing folder) is logged once and skipped: a folder list never fails a
    run."""
    where = f"{name}.{key}"
    try:
        value = section(name).get(key, [])
    except ValueError as e:
        _warn_once(f"{where} ignored: {e}")
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        _warn_once(f"{where} must be a list of folders, not {type(value).__name__}; ignored")
        return []
    path = config_path()
    base = path.parent if path is not None else Path.cwd()
    folders = []
    for entry in value:
        if not isinstance(entry, str) or not entry.strip():
            _warn_once(f"{where}: {entry!r} is not a folder name; ignored")
            continue
        folder = Path(entry).expanduser()
        folder = folder if folder.is_absolute() else base / folder
        if not folder.is_dir():
            _warn_once(f"{where}: folder {folder} does not exist; ignored")
            continue
        if folder not in folders:
            folders.append(folder)
    return folders


def cache_budget(name: str) -> Callable[[], int]:
    """A ``FileCache`` budget: ``<name>.cache_max_mb`` of the config in bytes, else ``CACHE_DEFAULT_MB[name]``. A
    bad file or value is logged (once per distinct problem) and the default used: a cache never fails a run."""
    default = CACHE_DEFAULT_MB[name] * MIB

    def budget() -> int:
        try:
            mb = section(name).get("cache_max_mb")
            return default if mb is None else mb_to_bytes(mb)
        except (ValueError, TypeError) as e:
            problem = f"{name}.cache_max_mb: {e}"
            if problem not in _warned:
                _warned.add(problem)
                logger.warning("[Loadout] config: %s; using the default %d MB", problem, CACHE_DEFAULT_MB[name])
            return default

    return budget


def configured_cache(name: str, reader: Callable | None = None, **kw) -> FileCache:
    """The ``FileCache`` for config section ``name``, its budget following ``<name>.cache_max_mb``."""
    return FileCache(reader, CACHE_DEFAULT_MB[name] * MIB, name=name, budget=cache_budget(name), **kw)
