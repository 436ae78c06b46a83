"""Diffusers-format ControlNet folders (``config.json`` + ``diffusion_pytorch_model.safetensors``) as names."""
from __future__ import annotations

import os
from pathlib import Path

from ...preprocessors.weights import check_name

WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")


def diffusers_folders(roots) -> list[str]:
    """Names (relative, '/'-separated) of diffusers ControlNet folders under the given model roots."""
    found = set()
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            if "config.json" in filenames and any(w in filenames for w in WEIGHT_FILES):
                found.add(Path(dirpath).relative_to(root).as_posix())
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return sorted(n for n in found if n != ".")


def weights_in_folder(roots, name: str) -> Path | None:
    """The weights file of the diffusers folder ``name`` under one of ``roots``; None if it is not one.
    Names with '..' or absolute paths are refused."""
    try:
        check_name(name)
    except ValueError:
        raise ValueError(f"'{name}' escapes the controlnet folder; use a name from the list") from None
    for root in roots:
        folder = Path(root) / name
        if folder.is_dir() and (folder / "config.json").is_file():
            for w in WEIGHT_FILES:
                if (folder / w).is_file():
                    return folder / w
    return None
