"""VRAM nodes over ``vram/offloader.py``: offload a MODEL or a CLIP, and place CLIP/VAE on a device.

The maths lives in ``vram/``; ``offload/binding.py`` ties it to ComfyUI's patcher. These classes only check
inputs, build the config and report.
"""
from __future__ import annotations

import copy
import logging

import torch

from ..vram.offload.config import FP8_SCALES, STREAM_PRECISIONS, OffloadConfig, Strategy

# The offloader itself (vram/offloader.py and its binding) is imported when a node runs: cheap pack import.

logger = logging.getLogger(__name__)
MIB = 1024 * 1024
STRATEGY_CHOICES = ("auto", "fp16_full", "fp8", "offload", "sequential")


def _mb(n: float) -> str:
    return f"{n / MIB:,.1f} MB"


def _config(node: str, strategy: str, budget_gb: float, prefetch: int, **kw) -> tuple[OffloadConfig, bool]:
    if strategy not in STRATEGY_CHOICES:
        raise ValueError(f"{node}: strategy {strategy!r} is not one of {list(STRATEGY_CHOICES)}")
    start, auto = (Strategy.FP16_FULL, True) if strategy == "auto" else (Strategy(strategy), False)
    try:
        return OffloadConfig(strategy=start, budget_gb=budget_gb or None, prefetch=prefetch, **kw), auto
    except ValueError as e:
        raise ValueError(f"{node}: {e}") from None


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


def _bind(node: str, input_name: str, patcher, root_attr: str, label: str, config, auto, ladder, unique_id):
    """An OffloadBinding for the component under ``patcher.model`` (errors name the node and input)."""
    from .comfy_compat.offload import OffloadBinding  # noqa: PLC0415

    owner = patcher.model
    try:
        return OffloadBinding(owner, root_attr, config, patcher.load_device, patcher.offload_device, label=label,
                              node_id=str(unique_id) if unique_id is not None else None, auto=auto, ladder=ladder)
    except ValueError as e:
        raise ValueError(f"{node}: input '{input_name}': {e}") from None


def _result(binding, output, strategy: str, budget_gb: float) -> dict:
    report = plan_report(binding, strategy, budget_gb)
    logger.info("[Loadout] %s", report.replace("\n", " | "))
    return {"ui": {"text": [report]}, "result": (output, report)}


class LoadoutOffloadModel:
    NODE_ID = "LoadoutOffloadModel"
    DISPLAY_NAME = "Offload model (Loadout)"
    CATEGORY = "Loadout/VRAM"
    DESCRIPTION = (
        "Runs the diffusion model with its Linear/Conv weights placed by a strategy: fp16_full (all on the GPU), "
        "fp8 (FP8 with absmax scales, dequantised per use), offload (what fits the budget stays, the rest streams "
        "from a pinned CPU copy with prefetch on a side CUDA stream), sequential (each layer copied in just before "
        "it runs). On out of memory it steps down that ladder and retries the step, and remembers what worked per "
        "model and resolution. LoRA patches (before or after this node) still apply. The input MODEL is not "
        "changed.")
    FUNCTION = "offload"
    RETURN_TYPES = ("MODEL", "STRING")
    RETURN_NAMES = ("model", "report")
    OUTPUT_TOOLTIPS = ("The same model, offloaded (a clone: the input is unchanged).",
                       "What was wrapped, the device estimate per strategy and the ladder.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model to offload."}),
                "strategy": (list(STRATEGY_CHOICES), {
                    "default": "auto",
                    "tooltip": "auto: the first of fp16_full / fp8 whose estimate fits the free VRAM, else "
                               "offload. fp16_full: everything resident (exact). fp8: Linear/Conv weights as FP8 "
                               "(about half the VRAM; small error). offload: the budget's worth resident, the rest "
                               "streamed (exact). sequential: the least VRAM, the slowest (exact)."}),
                "budget_gb": ("FLOAT", {
                    "default": 0.0, "min": 0.0, "max": 1024.0, "step": 0.25,
                    "tooltip": "VRAM in GB for this model under offload: resident layers, staging buffers, the "
                               "largest transient weight and the layers ComfyUI keeps. 0 = auto: the free VRAM less "
                               "what this sampling step needs."}),
                "prefetch": ("INT", {
                    "default": 2, "min": 0, "max": 16,
                    "tooltip": "Streamed layers copied ahead of the one running (0 = just in time). Each adds a "
                               "staging buffer the size of the largest streamed layer."}),
            },
            "optional": {
                "fp8_format": (["e4m3fn", "e5m2"], {
                    "default": "e4m3fn", "tooltip": "FP8 format: e4m3fn (more precision, the usual choice) or e5m2 "
                                                    "(more range)."}),
                "fp8_scale": (list(FP8_SCALES), {
                    "default": "channel", "tooltip": "FP8 absmax scale per output channel (smaller error) or one "
                                                     "per weight tensor."}),
                "stream_precision": (list(STREAM_PRECISIONS), {
                    "default": "model", "tooltip": "Streamed weights travel in the model's dtype (exact) or as "
                                                   "FP8 (half the bytes over PCIe, FP8 error)."}),
                "ladder": ("BOOLEAN", {
                    "default": True, "tooltip": "On out of memory, step down fp16_full → fp8 → nf4 → offload → "
                                                "sequential and retry the step. Off: the error stops the run."}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    def offload(self, model, strategy, budget_gb, prefetch, fp8_format="e4m3fn", fp8_scale="channel",
                stream_precision="model", ladder=True, unique_id=None):
        from .comfy_compat.offload import existing_binding  # noqa: PLC0415

        node = "Offload model (Loadout)"
        if existing_binding(model) is not None:
            raise ValueError(f"{node}: input 'model' is already offloaded by another Offload model node; remove one "
                             "of them (chain LoRA loaders before or after a single offload node)")
        config, auto = _config(node, strategy, budget_gb, prefetch, fp8_format=fp8_format, fp8_scale=fp8_scale,
                               stream_precision=stream_precision)
        clone = model.clone()
        binding = _bind(node, "model", clone, "diffusion_model", f"{type(clone.model).__name__} diffusion model",
                        config, auto, ladder, unique_id)
        binding.install_model(clone)
        if auto:
            clone.size = binding.offloader.device_estimate(binding.offloader.auto_strategy())
        return _result(binding, clone, strategy, budget_gb)


class LoadoutOffloadCLIP:
    NODE_ID = "LoadoutOffloadCLIP"
    DISPLAY_NAME = "Offload CLIP (Loadout)"
    CATEGORY = "Loadout/VRAM"
    DESCRIPTION = (
        "Runs the text encoder(s) with their Linear layers placed by a strategy, like Offload model: a T5-XXL can "
        "stream through a small VRAM budget instead of running on the CPU. LoRA clip strengths still apply. The "
        "input CLIP is not changed.")
    FUNCTION = "offload"
    RETURN_TYPES = ("CLIP", "STRING")
    RETURN_NAMES = ("clip", "report")
    OUTPUT_TOOLTIPS = ("The same CLIP, offloaded (a clone).", "What was wrapped and the device estimates.")

    @classmethod
    def INPUT_TYPES(cls):
        spec = LoadoutOffloadModel.INPUT_TYPES()
        required = {"clip": ("CLIP", {"tooltip": "The text encoder(s) to offload."})}
        for key in ("strategy", "budget_gb", "prefetch"):
            required[key] = spec["required"][key]
        return {"required": required,
                "optional": {k: spec["optional"][k] for k in ("fp8_format", "fp8_scale", "ladder")},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    def offload(self, clip, strategy, budget_gb, prefetch, fp8_format="e4m3fn", fp8_scale="channel", ladder=True,
                unique_id=None):
        from .comfy_compat.offload import existing_binding  # noqa: PLC0415

        node = "Offload CLIP (Loadout)"
        if existing_binding(clip.patcher) is not None:
            raise ValueError(f"{node}: input 'clip' is already offloaded; remove one of the offload nodes")
        config, auto = _config(node, strategy, budget_gb, prefetch, fp8_format=fp8_format, fp8_scale=fp8_scale)
        clone = clip.clone()
        binding = _bind(node, "clip", clone.patcher, "", f"{type(clone.patcher.model).__name__} text encoder", config,
                        auto, ladder, unique_id)
        binding.install_clip(clone.patcher)
        return _result(binding, clone, strategy, budget_gb)


DEVICE_CHOICES = ("default", "cpu", "gpu")


def _device(choice: str, node: str, name: str):
    import comfy.model_management as mm  # noqa: PLC0415

    if choice not in DEVICE_CHOICES:
        raise ValueError(f"{node}: {name} must be one of {list(DEVICE_CHOICES)}, got {choice!r}")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "gpu":
        device = mm.get_torch_device()
        if device.type == "cpu":
            raise ValueError(f"{node}: {name} is 'gpu' but ComfyUI runs on the CPU here (started with --cpu or no "
                             "GPU found); choose default or cpu")
        return device
    return None


class LoadoutDevicePlacement:
    NODE_ID = "LoadoutDevicePlacement"
    DISPLAY_NAME = "Device placement (Loadout)"
    CATEGORY = "Loadout/VRAM"
    DESCRIPTION = (
        "Chooses where the text encoder and the VAE load and run (the original design's device_map), through the "
        "load device of ComfyUI's own patchers: e.g. CLIP on the CPU to keep the GPU for the diffusion model. "
        "ControlNets always run on the diffusion model's device in ComfyUI; offload the model to make room. "
        "Inputs are not changed (clones).")
    FUNCTION = "place"
    RETURN_TYPES = ("CLIP", "VAE", "STRING")
    RETURN_NAMES = ("clip", "vae", "report")
    OUTPUT_TOOLTIPS = ("The CLIP on its chosen device (None when no CLIP was connected).",
                       "The VAE on its chosen device (None when no VAE was connected).", "What went where.")

    @classmethod
    def INPUT_TYPES(cls):
        tip = "default: where ComfyUI would put it. cpu: load and run there (slower, frees VRAM). gpu: the GPU."
        return {
            "required": {
                "clip_device": (list(DEVICE_CHOICES), {"default": "cpu", "tooltip": "Text encoder device. " + tip}),
                "vae_device": (list(DEVICE_CHOICES), {"default": "default", "tooltip": "VAE device. " + tip}),
            },
            "optional": {
                "clip": ("CLIP", {"tooltip": "Text encoder(s) to place (optional)."}),
                "vae": ("VAE", {"tooltip": "VAE to place (optional)."}),
            },
        }

    def place(self, clip_device, vae_device, clip=None, vae=None):
        node = "Device placement (Loadout)"
        lines = []
        out_clip = out_vae = None
        if clip is not None:
            out_clip = clip.clone()
            device = _device(clip_device, node, "clip_device")
            if device is not None:
                out_clip.patcher.load_device = device
            lines.append(f"CLIP {type(clip.cond_stage_model).__name__}: loads on {out_clip.patcher.load_device} "
                         f"(was {clip.patcher.load_device}), offload device {out_clip.patcher.offload_device}")
        if vae is not None:
            out_vae = copy.copy(vae)
            out_vae.patcher = vae.patcher.clone()
            device = _device(vae_device, node, "vae_device")
            if device is not None:
                out_vae.patcher.load_device = device
                out_vae.device = device
            lines.append(f"VAE {type(vae.first_stage_model).__name__}: runs on {out_vae.device} (was {vae.device}), "
                         f"dtype {out_vae.vae_dtype}")
        if not lines:
            lines.append("nothing connected: connect a CLIP and/or a VAE")
        report = "\n".join(lines)
        logger.info("[Loadout] device placement: %s", report.replace("\n", " | "))
        return {"ui": {"text": [report]}, "result": (out_clip, out_vae, report)}


NODES = [LoadoutOffloadModel, LoadoutOffloadCLIP, LoadoutDevicePlacement]
