"""ControlNet stack nodes: build a CONTROL_NET_STACK (load by name, cached) and apply it to positive and negative
conditioning with core ControlNetApplyAdvanced semantics per entry. Stack logic: ``nodes/controlnet/``."""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict

import comfy.controlnet
import folder_paths
import nodes as comfy_nodes

from ..core.controlnet import folders
from ..core.controlnet.stack import MAX_STRENGTH, ControlNetEntry, StackError, entries, extend

logger = logging.getLogger(__name__)
CACHE_ENTRIES = 4
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def controlnet_names() -> list[str]:
    roots = folder_paths.get_folder_paths("controlnet")
    return folder_paths.get_filename_list("controlnet") + folders.diffusers_folders(roots)


def load_controlnet_cached(name: str, node: str):
    """Load a ControlNet file or diffusers folder by name; kept (up to 4, least recently used out) until the file
    changes, so a re-run with other strengths reads nothing."""
    try:
        path = folders.weights_in_folder(folder_paths.get_folder_paths("controlnet"), name)
    except ValueError as e:
        raise ValueError(f"[Loadout] {node}: input 'control_net_name': {e}") from e
    if path is None:
        path = folder_paths.get_full_path("controlnet", name)
    if path is None:
        raise FileNotFoundError(f"[Loadout] {node}: input 'control_net_name': '{name}' is not in your controlnet "
                                f"folder(s) {folder_paths.get_folder_paths('controlnet')}; put the file there "
                                f"(or a diffusers folder with config.json) and refresh")
    st = os.stat(path)
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key], True
    try:
        cn = comfy.controlnet.load_controlnet(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors/torch raise many types for corrupt files
        raise ValueError(f"[Loadout] {node}: input 'control_net_name': '{name}' could not be read "
                         f"({type(e).__name__}: {str(e)[:200]}); the file may be truncated or corrupt: download "
                         f"it again") from e
    if cn is None:
        raise ValueError(f"[Loadout] {node}: input 'control_net_name': '{name}' ({path}) is not a ControlNet "
                         f"ComfyUI recognises; check the file is a ControlNet for your model family")
    with _lock:
        for old in [k for k in _cache if k[0] == key[0]]:
            del _cache[old]
        _cache[key] = cn
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return cn, False


class LoadoutControlNetStack:
    NODE_ID = "LoadoutControlNetStack"
    DISPLAY_NAME = "ControlNet stack (Loadout)"
    CATEGORY = "Loadout/ControlNet"
    DESCRIPTION = ("Adds one ControlNet (by name, cached, or from the control_net input) with its image, strength and "
                   "start/end to a CONTROL_NET_STACK; chain as many as you like. The stack is the same type as "
                   "Comfyroll's and Efficiency's, so stacks mix. An optional VAE travels with the entry.")
    FUNCTION = "stack"
    RETURN_TYPES = ("CONTROL_NET_STACK",)
    RETURN_NAMES = ("control_net_stack",)
    OUTPUT_TOOLTIPS = ("The received stack with this entry appended (when enabled).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "control_net_name": (["None"] + controlnet_names(), {
                    "tooltip": "A ControlNet from your controlnet folder(s) (files or diffusers folders). Ignored "
                               "when the control_net input is connected."}),
                "image": ("IMAGE", {"tooltip": "The hint image (a preprocessor's output)."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": MAX_STRENGTH, "step": 0.01,
                                       "tooltip": "How strongly this net steers (0 = off)."}),
                "start_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001,
                                            "tooltip": "Fraction of sampling at which the net starts acting."}),
                "end_percent": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001,
                                          "tooltip": "Fraction of sampling at which the net stops acting."}),
                "enabled": ("BOOLEAN", {"default": True, "tooltip": "Off: the stack passes through unchanged."}),
            },
            "optional": {
                "control_net_stack": ("CONTROL_NET_STACK", {"tooltip": "A stack to extend (its entries come first)."}),
                "control_net": ("CONTROL_NET", {"tooltip": "A loaded ControlNet (overrides control_net_name)."}),
                "vae": ("VAE", {"tooltip": "VAE for ControlNets that need one (e.g. SD3/Flux nets)."}),
            },
        }

    def stack(self, control_net_name, image, strength, start_percent, end_percent, enabled,
              control_net_stack=None, control_net=None, vae=None):
        node = self.DISPLAY_NAME
        if not enabled:
            try:
                entries(control_net_stack)
            except StackError as e:
                raise ValueError(f"[Loadout] {node}: input 'control_net_stack': {e}") from e
            return (list(control_net_stack or []),)
        name = control_net_name
        if control_net is None:
            if control_net_name in (None, "", "None"):
                raise ValueError(f"[Loadout] {node}: input 'control_net_name': choose a ControlNet, connect the "
                                 f"control_net input, or set enabled to false")
            control_net, _ = load_controlnet_cached(control_net_name, node)
        else:
            name = "control_net input"
        try:
            entry = ControlNetEntry(control_net, image, strength, start_percent, end_percent, vae=vae, name=name)
            return (extend(control_net_stack, entry),)
        except StackError as e:
            raise ValueError(f"[Loadout] {node}: {e}") from e


class LoadoutApplyControlNetStack:
    NODE_ID = "LoadoutApplyControlNetStack"
    DISPLAY_NAME = "Apply ControlNet stack (Loadout)"
    CATEGORY = "Loadout/ControlNet"
    DESCRIPTION = ("Applies every entry of a CONTROL_NET_STACK (ours, Comfyroll's or Efficiency's) to both positive "
                   "and negative conditioning, in order, exactly as chained core 'Apply ControlNet' nodes would. "
                   "The inputs are never modified.")
    FUNCTION = "apply"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "STRING")
    RETURN_NAMES = ("positive", "negative", "report")
    OUTPUT_TOOLTIPS = ("Positive conditioning with the nets.", "Negative conditioning with the nets.",
                       "Which nets were applied, with strength and start/end.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "positive": ("CONDITIONING", {"tooltip": "Positive conditioning."}),
                "negative": ("CONDITIONING", {"tooltip": "Negative conditioning (controlled too, as in core)."}),
                "control_net_stack": ("CONTROL_NET_STACK", {"tooltip": "The stack to apply, first entry first."}),
            },
            "optional": {"vae": ("VAE", {"tooltip": "VAE for nets that need one, unless the entry carries its own."})},
        }

    def apply(self, positive, negative, control_net_stack, vae=None):
        node = self.DISPLAY_NAME
        try:
            resolved = entries(control_net_stack)
        except StackError as e:
            raise ValueError(f"[Loadout] {node}: input 'control_net_stack': {e}") from e
        core = comfy_nodes.ControlNetApplyAdvanced()
        lines = []
        for e in resolved:
            label = e.name or type(e.control_net).__name__
            if e.strength == 0:
                lines.append(f"{e.index}. {label}: strength 0, skipped")
                continue
            positive, negative = core.apply_controlnet(positive, negative, e.control_net, e.image, e.strength,
                                                       e.start, e.end, vae=e.vae if e.vae is not None else vae)
            h, w = e.image.shape[1:3]
            lines.append(f"{e.index}. {label}: strength {e.strength:g}, steps {e.start:g}–{e.end:g}, hint {w}x{h}")
        report = "\n".join(lines) if lines else "empty stack: conditioning passed through"
        return {"ui": {"text": [report]}, "result": (positive, negative, report)}


NODES = [LoadoutControlNetStack, LoadoutApplyControlNetStack]
