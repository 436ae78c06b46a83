"""ControlNet stack nodes: build a CONTROL_NET_STACK (load by name, cached) and apply it to positive and negative
conditioning with core ControlNetApplyAdvanced semantics per entry. Stack logic: ``core/controlnet/``; loading a
file goes through the seam (``nodes/comfy_compat/controlnet.py``)."""
from __future__ import annotations

import logging

import folder_paths
import nodes as comfy_nodes

from ..core.common import config
from ..core.common.errors import PICKLE_FIX, error_text, node_error, pickle_refusal_text, refused_pickle
from ..core.controlnet import folders
from ..core.controlnet.stack import MAX_STRENGTH, ControlNetEntry, StackError, entries, extend
from .api import io, ui
from .comfy_compat.controlnet import load_controlnet_file
from .comfy_compat.execution import stack_output

logger = logging.getLogger(__name__)
CACHE = config.configured_cache("controlnet")  # the one FileCache; budget: loadout.json controlnet.cache_max_mb


def controlnet_names() -> list[str]:
    roots = folder_paths.get_folder_paths("controlnet")
    return folder_paths.get_filename_list("controlnet") + folders.diffusers_folders(roots)


def _not_found(name: str) -> str:
    return f"'{name}' is not in your controlnet folder(s) {folder_paths.get_folder_paths('controlnet')}"


_NOT_FOUND_FIX = "put the file there (or a diffusers folder with config.json) and refresh"


def load_controlnet_cached(name: str, node: str):
    """Load a ControlNet file or diffusers folder by name; kept (``CACHE``, least recently used out) until the file
    changes, so a re-run with other strengths reads nothing."""
    try:
        path = folders.weights_in_folder(folder_paths.get_folder_paths("controlnet"), name)
    except ValueError as e:
        raise node_error(node, "control_net_name", str(e)) from e
    if path is None:
        path = folder_paths.get_full_path("controlnet", name)
    if path is None:
        raise node_error(node, "control_net_name", _not_found(name), _NOT_FOUND_FIX)

    def load(path):
        try:
            cn = load_controlnet_file(path)
        except Exception as e:  # noqa: BLE001 - safetensors/torch raise many types for corrupt files
            if refused_pickle(e):
                raise node_error(node, "control_net_name", pickle_refusal_text(name), PICKLE_FIX) from None
            raise node_error(node, "control_net_name", f"'{name}' could not be read ({type(e).__name__}: "
                             f"{str(e)[:200]})", "the file may be truncated or corrupt: download it again") from e
        if cn is None:
            raise node_error(node, "control_net_name", f"'{name}' ({path}) is not a ControlNet ComfyUI recognises",
                             "check the file is a ControlNet for your model family")
        return cn

    looked = CACHE.get(path, load=load)
    return looked.value, looked.hit


ControlNetStack = io.Custom("CONTROL_NET_STACK")


def _outside(value: float, lo: float, hi: float) -> bool:
    return not lo <= value <= hi


class LoadoutControlNetStack(io.ComfyNode):
    DISPLAY_NAME = "ControlNet stack (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutControlNetStack",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/ControlNet",
            description=("Adds one ControlNet (by name, cached, or from the control_net input) with its image, "
                         "strength and start/end to a CONTROL_NET_STACK; chain as many as you like. The stack is the "
                         "same type as Comfyroll's and Efficiency's, so stacks mix. An optional VAE travels with the "
                         "entry."),
            inputs=[
                io.Combo.Input("control_net_name", options=["None"] + controlnet_names(), tooltip=(
                    "A ControlNet from your controlnet folder(s) (files or diffusers folders). Ignored when the "
                    "control_net input is connected.")),
                io.Image.Input("image", tooltip="The hint image (a preprocessor's output)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=MAX_STRENGTH, step=0.01,
                               tooltip="How strongly this net steers (0 = off)."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of sampling at which the net starts acting."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of sampling at which the net stops acting."),
                io.Boolean.Input("enabled", default=True, tooltip="Off: the stack passes through unchanged."),
                ControlNetStack.Input("control_net_stack", optional=True,
                                      tooltip="A stack to extend (its entries come first)."),
                io.ControlNet.Input("control_net", optional=True,
                                    tooltip="A loaded ControlNet (overrides control_net_name)."),
                io.Vae.Input("vae", optional=True, tooltip="VAE for ControlNets that need one (e.g. SD3/Flux nets)."),
            ],
            outputs=[ControlNetStack.Output("control_net_stack_out", display_name="control_net_stack",
                                            tooltip="The received stack with this entry appended (when enabled).")],
        )

    @classmethod
    def validate_inputs(cls, control_net_name, strength, start_percent, end_percent, enabled) -> bool | str:
        """The name is in the list, strength and start/end in their ranges (naming them here turns off core's own
        checks for them, so these are those checks), and an enabled entry starts before it ends. Linked values
        (None here) are checked when the stack is applied."""
        node = cls.DISPLAY_NAME
        if control_net_name is not None and control_net_name not in ["None"] + controlnet_names():
            return error_text(node, "control_net_name", _not_found(control_net_name), _NOT_FOUND_FIX)
        if strength is not None and _outside(strength, 0.0, MAX_STRENGTH):
            return error_text(node, "strength", f"{strength} is outside 0–{MAX_STRENGTH:g}",
                              f"use a strength from 0 to {MAX_STRENGTH:g}")
        for name, value in (("start_percent", start_percent), ("end_percent", end_percent)):
            if value is not None and _outside(value, 0.0, 1.0):
                return error_text(node, name, f"{value} is outside 0–1", "use a fraction of sampling from 0 to 1")
        if enabled is True and start_percent is not None and end_percent is not None and start_percent > end_percent:
            return error_text(node, "start_percent", f"{start_percent} is after end_percent {end_percent}; the net "
                              "would never act", "set start_percent at or below end_percent")
        return True

    @classmethod
    def execute(cls, control_net_name, image, strength, start_percent, end_percent, enabled,
                control_net_stack=None, control_net=None, vae=None) -> io.NodeOutput:
        node = cls.DISPLAY_NAME
        if not enabled:
            try:
                entries(control_net_stack)
            except StackError as e:
                raise node_error(node, "control_net_stack", str(e)) from e
            return io.NodeOutput(stack_output(control_net_stack or []))
        name = control_net_name
        if control_net is None:
            if control_net_name in (None, "", "None"):
                raise node_error(node, "control_net_name", "no ControlNet chosen",
                                 "choose a ControlNet, connect the control_net input, or set enabled to false")
            control_net, _ = load_controlnet_cached(control_net_name, node)
        else:
            name = "control_net input"
        try:
            entry = ControlNetEntry(control_net, image, strength, start_percent, end_percent, vae=vae, name=name)
            return io.NodeOutput(stack_output(extend(control_net_stack, entry)))
        except StackError as e:
            raise node_error(node, "control_net_stack", str(e)) from e


class LoadoutApplyControlNetStack(io.ComfyNode):
    DISPLAY_NAME = "Apply ControlNet stack (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutApplyControlNetStack",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/ControlNet",
            description=("Applies every entry of a CONTROL_NET_STACK (ours, Comfyroll's or Efficiency's) to both "
                         "positive and negative conditioning, in order, exactly as chained core 'Apply ControlNet' "
                         "nodes would. The inputs are never modified."),
            inputs=[
                io.Conditioning.Input("positive", tooltip="Positive conditioning."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning (controlled too, as in core)."),
                ControlNetStack.Input("control_net_stack", tooltip="The stack to apply, first entry first."),
                io.Vae.Input("vae", optional=True,
                             tooltip="VAE for nets that need one, unless the entry carries its own."),
            ],
            outputs=[
                io.Conditioning.Output("positive_out", display_name="positive",
                                       tooltip="Positive conditioning with the nets."),
                io.Conditioning.Output("negative_out", display_name="negative",
                                       tooltip="Negative conditioning with the nets."),
                io.String.Output("report", display_name="report",
                                 tooltip="Which nets were applied, with strength and start/end."),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, control_net_stack, vae=None) -> io.NodeOutput:
        try:
            resolved = entries(control_net_stack)
        except StackError as e:
            raise node_error(cls.DISPLAY_NAME, "control_net_stack", str(e)) from e
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
        return io.NodeOutput(positive, negative, report, ui=ui.PreviewText(report))


NODES = [LoadoutControlNetStack, LoadoutApplyControlNetStack]
