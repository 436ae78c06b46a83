"""ComfyUI-Loadout: LoRA stacks, ControlNet preprocessing and stacks, tiled VAE, schedules and VRAM offloading.

This file only registers nodes; everything else lives in the sub-packages and is imported lazily.
"""
from .nodes.registry import load_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, _DISABLED = load_nodes(__name__)
WEB_DIRECTORY = "./web/js"  # node_reports.js: shows a node's text report on the node

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
