"""Seam: loading a ControlNet file with ComfyUI's loader (what core's ControlNetLoader node calls).

Pinned by ``tests/integration/test_compat_controlnet.py`` (the tiny ControlNet and a file that is not one).
"""
from __future__ import annotations

import comfy.controlnet


# Relies on: comfy.controlnet.load_controlnet(path) returning a ControlBase (ControlNet / T2IAdapter / ...) for a
# recognised file, None for a checkpoint that holds no ControlNet, and raising (safetensors/torch errors) for an
# unreadable one.
def load_controlnet_file(path):
    """The ControlNet in ``path`` (a weights file), or None when ComfyUI does not recognise one there."""
    return comfy.controlnet.load_controlnet(str(path))
