"""ComfyUI-Loadout: LoRA stacks, ControlNet preprocessing and stacks, tiled VAE, schedules and VRAM offloading.

This file only registers nodes, through ComfyUI's V3 entry point; everything else lives in the sub-packages and is
imported lazily (ARCHITECTURE.md describes the tree).
"""
from .nodes import registry as _registry

WEB_DIRECTORY = "./web/js"  # node_reports.js: shows a node's text report on the node


def comfy_entrypoint():
    """Called by ComfyUI when it loads the pack: the extension whose node list holds every Loadout node."""
    return _registry.comfy_entrypoint(__name__)


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
