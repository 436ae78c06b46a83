"""Model *folders* (diffusers / PEFT / transformers layout) found among model files: the one finder the LoRA
resolver, the ControlNet names and the annotator folders share.

A model folder holds one of a known list of weight files (``adapter_model.safetensors``,
``diffusion_pytorch_model.safetensors``, ...) and, for diffusers and transformers models, a ``config.json``.
``walk`` is the one directory walk: links are followed (a linked-in model folder is the user's choice, as in
ComfyUI), a folder reached twice through links is walked once, and hidden folders (``.cache``, ``.git``) are
skipped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

CONFIG = "config.json"


def has_config(folder) -> bool:
    """A diffusers/transformers model folder: ``config.json`` is there."""
    return (Path(folder) / CONFIG).is_file()


def folder_weights(folder, weight_files, need_config: bool = False) -> Path | None:
    """The first of ``weight_files`` present in ``folder`` (with ``need_config``, only when ``config.json`` is
    there too); None when ``folder`` is no such model folder."""
    folder = Path(folder)
    if need_config and not has_config(folder):
        return None
    for name in weight_files:
        if (folder / name).is_file():
            return folder / name
    return None


def walk(root) -> Iterator[tuple[Path, list[str]]]:
    """``(folder, file names)`` for ``root`` and every folder below it, top-down, folders and files sorted by name;
    hidden folders skipped, links followed, each real folder once."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield Path(dirpath), sorted(filenames)


def model_folders(root, weight_files, need_config: bool = False) -> Iterator[tuple[Path, Path]]:
    """``(folder, weights file)`` for each model folder below ``root`` (``root`` itself excluded), in walk order."""
    root = Path(root)
    for folder, _files in walk(root):
        if folder != root:
            weights = folder_weights(folder, weight_files, need_config)
            if weights is not None:
                yield folder, weights
