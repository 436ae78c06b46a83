"""Diffusers-format ControlNet folders (``config.json`` + ``diffusion_pytorch_model.safetensors``) as names, found by
the one model-folder finder (``core.common.folders``) and checked by the one name guard (``core.common.names``)."""
from __future__ import annotations

from pathlib import Path

from ..common.folders import folder_weights, model_folders
from ..common.names import UnsafeName, safe_name

WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")


def diffusers_folders(roots) -> list[str]:
    """Names (relative, '/'-separated) of diffusers ControlNet folders under the given model roots."""
    found = set()
    for root in roots:
        root = Path(root)
        if root.is_dir():
            found.update(folder.relative_to(root).as_posix()
                         for folder, _ in model_folders(root, WEIGHT_FILES, need_config=True))
    return sorted(found)


def weights_in_folder(roots, name: str) -> Path | None:
    """The weights file of the diffusers folder ``name`` under one of ``roots``; None if it is not one.
    Names with '..' or absolute paths (and other unsafe names) are refused."""
    try:
        clean = safe_name(name, "the controlnet folder")
    except UnsafeName as e:
        raise ValueError(f"{e}; use a name from the list") from None
    for root in roots:
        weights = folder_weights(Path(root) / clean, WEIGHT_FILES, need_config=True)
        if weights is not None:
            return weights
    return None
