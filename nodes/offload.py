"""VRAM nodes over ``vram/offload/``: offload a MODEL or a CLIP, and place CLIP/VAE on a device.

The maths lives in ``vram/``; ``comfy_compat/offload.py`` ties it to ComfyUI's patcher and ``comfy_compat/devices.py``
places clones on a device. These classes only check inputs, build the config and report. Strategy names, ranges
and devices are combo/range widgets that ComfyUI itself checks before a run; what is left (a second offload of the
same model, a budget the offloader cannot use, 'gpu' on a CPU-only ComfyUI) is checked when the node runs.
"""
from __future__ import annotations

import logging

from ..core.common.errors import node_error
from ..vram.offload.config import FP8_SCALES, STREAM_PRECISIONS, OffloadConfig, Strategy
from .api import io, ui

# The offloader itself (vram/offload/offloader.py and its binding) is imported when a node runs: cheap pack import.

logger = logging.getLogger(__name__)
MIB = 1024 * 1024
CATEGORY = "Loadout/VRAM"
STRATEGY_CHOICES = ("auto", "fp16_full", "fp8", "offload", "sequential")
CONFIG_INPUTS = ("strategy", "budget_gb", "prefetch", "fp8_format", "fp8_scale", "stream_precision")


def _mb(n: float) -> str:
    return f"{n / MIB:,.1f} MB"


def _config(node: str, strategy: str, budget_gb: float, prefetch: int, **kw) -> tuple[OffloadConfig, bool]:
    if strategy not in STRATEGY_CHOICES:
        raise node_error(node, "strategy", f"{strategy!r} is not one of {list(STRATEGY_CHOICES)}",
                         "choose one of them")
    start, auto = (Strategy.FP16_FULL, True) if strategy == "auto" else (Strategy(strategy), False)
    try:
        return OffloadConfig(strategy=start, budget_gb=budget_gb or None, prefetch=prefetch, **kw), auto
    except ValueError as e:  # the message starts with the offending field's name
        field = str(e).split(" ", 1)[0]
        raise node_error(node, field if field in CONFIG_INPUTS else None, str(e)) from None


def plan_report(binding, choice: str, budget_gb: float) -> str:
    from ..vram.offload.ladder import MEMORY, rungs_from  # noqa: PLC0415

    off = binding.offloader
    kinds: dict[str, int] = {}
    for layer in off.layers:
        kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
    weights = sum(sum(t.numel() * t.element_size() for t in layer.master.values()) for layer in off.layers)
    lines = [
        f"Offload: {len(off.layers)} layers of {binding.label} wrapped "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), {_mb(weights)}; "
        f"{_mb(off.other_resident_bytes)} left to ComfyUI (norms, embeddings, buffers)",
        f"strategy: {choice}" + (f", budget {budget_gb:g} GB" if budget_gb else ", budget auto (free VRAM less "
                                 "what sampling needs)") + f", prefetch {off.config.prefetch}",
    ]
    start = off.config.strategy
    if binding.ladder:
        lines.append("on out of memory: " + " → ".join(s.value for s in rungs_from(start, off.rungs)))
    else:
        lines.append("ladder off: an out-of-memory error stops the run")
    estimates = []
    for s in (Strategy.FP16_FULL, Strategy.FP8, Strategy.OFFLOAD, Strategy.SEQUENTIAL):
        estimates.append(f"{s.value} {_mb(off.device_estimate(s))}")
    lines.append("device estimate: " + ", ".join(estimates))
    for rung, why in off.skipped.items():
        lines.append(f"{rung} skipped: {why}")
    for shape, s in MEMORY.entries(off.model_key)[-4:]:
        lines.append(f"remembered for input {list(shape)}: {s.value}")
    lines.append("The strategy taken while sampling is shown on this node and in Memory monitor (Loadout).")
    return "\n".join(lines)


def _node_id(cls) -> str | None:
    unique_id = cls.hidden.unique_id if cls.hidden is not None else None
    return str(unique_id) if unique_id is not None else None


def _result(binding, output, strategy: str, budget_gb: float) -> io.NodeOutput:
    report = plan_report(binding, strategy, budget_gb)
    logger.info("[Loadout] %s", report.replace("\n", " | "))
    return io.NodeOutput(output, report, ui=ui.PreviewText(report))


# --- inputs shared by both offload nodes ---------------------------------------------------------------------------

def strategy_input():
    return io.Combo.Input("strategy", options=list(STRATEGY_CHOICES), default="auto", tooltip=(
        "auto: the first of fp16_full / fp8 whose estimate fits the free VRAM, else offload. fp16_full: everything "
        "resident (exact). fp8: Linear/Conv weights as FP8 (about half the VRAM; small error). offload: the "
        "budget's worth resident, the rest streamed (exact). sequential: the least VRAM, the slowest (exact)."))


def budget_input():
    return io.Float.Input("budget_gb", default=0.0, min=0.0, max=1024.0, step=0.25, tooltip=(
        "VRAM in GB for this model under offload: resident layers, staging buffers, the largest transient weight "
        "and the layers ComfyUI keeps. 0 = auto: the free VRAM less what this sampling step needs."))


def prefetch_input():
    return io.Int.Input("prefetch", default=2, min=0, max=16, tooltip=(
        "Streamed layers copied ahead of the one running (0 = just in time). Each adds a staging buffer the size "
        "of the largest streamed layer."))


def fp8_format_input():
    return io.Combo.Input("fp8_format", options=["e4m3fn", "e5m2"], default="e4m3fn", optional=True, tooltip=(
        "FP8 format: e4m3fn (more precision, the usual choice) or e5m2 (more range)."))


def fp8_scale_input():
    return io.Combo.Input("fp8_scale", options=list(FP8_SCALES), default="channel", optional=True, tooltip=(
        "FP8 absmax scale per output channel (smaller error) or one per weight tensor."))


def ladder_input():
    return io.Boolean.Input("ladder", default=True, optional=True, tooltip=(
        "On out of memory, step down fp16_full → fp8 → nf4 → offload → sequential and retry the step. Off: the "
        "error stops the run."))


# Offload model / Offload CLIP under ComfyUI's dynamic VRAM (see the README's VRAM section): refused. Its patcher
# (ModelPatcherDynamic) loads by having comfy.ops cast every layer's weights to the GPU per call from pinned host
# memory, within a VRAM budget it manages itself: the job of Loadout's offloader. Both on one model would place the
# same weights twice, with neither's budget true; on a CPU-only machine this cannot be measured (comfy-aimdo needs an
# NVIDIA driver), so the combination is refused rather than reported as working.
DYNAMIC_WHAT = ("is loaded by ComfyUI's dynamic VRAM (comfy-aimdo), which already streams its weights to the GPU "
                "layer by layer as memory allows; Loadout's offloader would manage the same weights a second time")
DYNAMIC_FIX = ("remove this node and let dynamic VRAM manage the model, or start ComfyUI with --disable-dynamic-vram "
               "to use Loadout's offloader (its budget, strategies, fp8/NF4 rungs and report)")


def refuse_dynamic(node: str, input_name: str, patcher) -> None:
    from .comfy_compat.offload import is_dynamic  # noqa: PLC0415

    if is_dynamic(patcher):
        raise node_error(node, input_name, DYNAMIC_WHAT, DYNAMIC_FIX)


class LoadoutOffloadModel(io.ComfyNode):
    DISPLAY_NAME = "Offload model (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutOffloadModel",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description=(
                "Runs the diffusion model with its Linear/Conv weights placed by a strategy: fp16_full (all on the "
                "GPU), fp8 (FP8 with absmax scales, dequantised per use), offload (what fits the budget stays, the "
                "rest streams from a pinned CPU copy with prefetch on a side CUDA stream), sequential (each layer "
                "copied in just before it runs). On out of memory it steps down that ladder and retries the step, "
                "and remembers what worked per model and resolution. LoRA patches (before or after this node) "
                "still apply. The input MODEL is not changed."),
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to offload."),
                strategy_input(),
                budget_input(),
                prefetch_input(),
                fp8_format_input(),
                fp8_scale_input(),
                io.Combo.Input("stream_precision", options=list(STREAM_PRECISIONS), default="model", optional=True,
                               tooltip="Streamed weights travel in the model's dtype (exact) or as FP8 (half the "
                                       "bytes over PCIe, FP8 error)."),
                ladder_input(),
            ],
            outputs=[
                io.Model.Output("model_out", display_name="model",
                                tooltip="The same model, offloaded (a clone: the input is unchanged)."),
                io.String.Output("report", display_name="report",
                                 tooltip="What was wrapped, the device estimate per strategy and the ladder."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, strategy, budget_gb, prefetch, fp8_format="e4m3fn", fp8_scale="channel",
                stream_precision="model", ladder=True) -> io.NodeOutput:
        from .comfy_compat.offload import model_binding, offload_model  # noqa: PLC0415

        node = cls.DISPLAY_NAME
        if model_binding(model) is not None:
            raise node_error(node, "model", "is already offloaded by another Offload model node",
                             "remove one of them (chain LoRA loaders before or after a single offload node)")
        refuse_dynamic(node, "model", model)
        config, auto = _config(node, strategy, budget_gb, prefetch, fp8_format=fp8_format, fp8_scale=fp8_scale,
                               stream_precision=stream_precision)
        try:
            clone, binding = offload_model(model, config, auto=auto, ladder=ladder, node_id=_node_id(cls),
                                           node=node)
        except ValueError as e:
            raise node_error(node, "model", str(e)) from None
        return _result(binding, clone, strategy, budget_gb)


class LoadoutOffloadCLIP(io.ComfyNode):
    DISPLAY_NAME = "Offload CLIP (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutOffloadCLIP",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description=(
                "Runs the text encoder(s) with their Linear layers placed by a strategy, like Offload model: a "
                "T5-XXL can stream through a small VRAM budget instead of running on the CPU. LoRA clip strengths "
                "still apply. The input CLIP is not changed."),
            inputs=[
                io.Clip.Input("clip", tooltip="The text encoder(s) to offload."),
                strategy_input(),
                budget_input(),
                prefetch_input(),
                fp8_format_input(),
                fp8_scale_input(),
                ladder_input(),
            ],
            outputs=[
                io.Clip.Output("clip_out", display_name="clip", tooltip="The same CLIP, offloaded (a clone)."),
                io.String.Output("report", display_name="report",
                                 tooltip="What was wrapped and the device estimates."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, clip, strategy, budget_gb, prefetch, fp8_format="e4m3fn", fp8_scale="channel",
                ladder=True) -> io.NodeOutput:
        from .comfy_compat.offload import clip_binding, offload_clip  # noqa: PLC0415

        node = cls.DISPLAY_NAME
        if clip_binding(clip) is not None:
            raise node_error(node, "clip", "is already offloaded", "remove one of the offload nodes")
        refuse_dynamic(node, "clip", getattr(clip, "patcher", None))
        config, auto = _config(node, strategy, budget_gb, prefetch, fp8_format=fp8_format, fp8_scale=fp8_scale)
        try:
            clone, binding = offload_clip(clip, config, auto=auto, ladder=ladder, node_id=_node_id(cls),
                                          node=node)
        except ValueError as e:
            raise node_error(node, "clip", str(e)) from None
        return _result(binding, clone, strategy, budget_gb)


DEVICE_CHOICES = ("default", "cpu", "gpu")
DEVICE_TIP = "default: where ComfyUI would put it. cpu: load and run there (slower, frees VRAM). gpu: the GPU."


def _device(choice: str, node: str, name: str):
    import comfy.model_management as mm  # noqa: PLC0415
    import torch  # noqa: PLC0415

    if choice not in DEVICE_CHOICES:
        raise node_error(node, name, f"must be one of {list(DEVICE_CHOICES)}, got {choice!r}", "choose one of them")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "gpu":
        device = mm.get_torch_device()
        if device.type == "cpu":
            raise node_error(node, name, "is 'gpu' but ComfyUI runs on the CPU here (started with --cpu or no GPU "
                             "found)", "choose default or cpu")
        return device
    return None


class LoadoutDevicePlacement(io.ComfyNode):
    DISPLAY_NAME = "Device placement (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutDevicePlacement",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description=(
                "Chooses where the text encoder and the VAE load and run (the original design's device_map), "
                "through the load device of ComfyUI's own patchers: e.g. CLIP on the CPU to keep the GPU for the "
                "diffusion model. ControlNets always run on the diffusion model's device in ComfyUI; offload the "
                "model to make room. Inputs are not changed (clones)."),
            inputs=[
                io.Combo.Input("clip_device", options=list(DEVICE_CHOICES), default="cpu",
                               tooltip="Text encoder device. " + DEVICE_TIP),
                io.Combo.Input("vae_device", options=list(DEVICE_CHOICES), default="default",
                               tooltip="VAE device. " + DEVICE_TIP),
                io.Clip.Input("clip", optional=True, tooltip="Text encoder(s) to place (optional)."),
                io.Vae.Input("vae", optional=True, tooltip="VAE to place (optional)."),
            ],
            outputs=[
                io.Clip.Output("clip_out", display_name="clip",
                               tooltip="The CLIP on its chosen device (None when no CLIP was connected)."),
                io.Vae.Output("vae_out", display_name="vae",
                              tooltip="The VAE on its chosen device (None when no VAE was connected)."),
                io.String.Output("report", display_name="report", tooltip="What went where."),
            ],
        )

    @classmethod
    def execute(cls, clip_device, vae_device, clip=None, vae=None) -> io.NodeOutput:
        from .comfy_compat.devices import place_clip, place_vae  # noqa: PLC0415
        from .comfy_compat.vae import parts  # noqa: PLC0415

        node = cls.DISPLAY_NAME
        lines = []
        out_clip = out_vae = None
        if clip is not None:
            placed = place_clip(clip, _device(clip_device, node, "clip_device"))
            out_clip = placed.obj
            lines.append(f"CLIP {placed.kind}: loads on {placed.after} (was {placed.before}), offload device "
                         f"{placed.offload}")
        if vae is not None:
            placed = place_vae(vae, _device(vae_device, node, "vae_device"))
            out_vae = placed.obj
            lines.append(f"VAE {placed.kind}: runs on {placed.after} (was {placed.before}), "
                         f"dtype {parts(out_vae).dtype}")
        if not lines:
            lines.append("nothing connected: connect a CLIP and/or a VAE")
        report = "\n".join(lines)
        logger.info("[Loadout] device placement: %s", report.replace("\n", " | "))
        return io.NodeOutput(out_clip, out_vae, report, ui=ui.PreviewText(report))


NODES = [LoadoutOffloadModel, LoadoutOffloadCLIP, LoadoutDevicePlacement]
