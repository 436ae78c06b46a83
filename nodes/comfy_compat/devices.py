"""Seam: where ComfyUI puts models and how much room it sees (patcher device fields, model-management internals).

Glue asks here instead of reading a ModelPatcher's ``load_device`` / ``offload_device``, a CLIP's or VAE's device
fields, or ``comfy.model_management``'s ``get_free_memory`` / ``dtype_size`` / ``load_models_gpu`` /
``minimum_inference_memory`` / ``current_loaded_models``. Out-of-memory errors are recognised by
``core.common.oom.is_oom`` (which covers ``model_management.OOM_EXCEPTION``, torch's ``OutOfMemoryError``), not here.

Pinned by ``tests/integration/test_compat_devices.py``.
"""
from __future__ import annotations

import copy
import dataclasses

from ...vram.memory.snapshot import MIB


# Relies on: ModelPatcher.load_device (where core loads the model to run it) and .offload_device (where it parks it).
def patcher_devices(patcher) -> tuple:
    """(load device, offload device) of a ModelPatcher."""
    return patcher.load_device, patcher.offload_device


# Relies on: comfy.model_management.get_free_memory(device) -> bytes free on it as core's loader counts them.
def free_memory(device) -> int:
    import comfy.model_management as mm  # noqa: PLC0415

    return int(mm.get_free_memory(device))


# Relies on: comfy.model_management.dtype_size(dtype) -> bytes per element, as core's memory estimates use it.
def bytes_per_element(dtype) -> int:
    import comfy.model_management as mm  # noqa: PLC0415

    return int(mm.dtype_size(dtype))


# Relies on: comfy.model_management.minimum_inference_memory() -> bytes core keeps free for a model call.
def minimum_inference_memory() -> int:
    import comfy.model_management as mm  # noqa: PLC0415

    return int(mm.minimum_inference_memory())


# Relies on: comfy.model_management.load_models_gpu(patchers, memory_required=, force_full_load=): frees other
# models as needed and loads these on their load device.
def load_models(patchers: list, memory_required: int = 0, force_full_load: bool = False) -> None:
    import comfy.model_management as mm  # noqa: PLC0415

    mm.load_models_gpu(list(patchers), memory_required=int(memory_required), force_full_load=bool(force_full_load))


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """One model ComfyUI holds: the class of what its patcher wraps, and its bytes on the device."""

    kind: str
    loaded_bytes: int
    device: str
    total_bytes: int


# Relies on: comfy.model_management.current_loaded_models, a list of LoadedModel whose .model is the patcher (a
# weak reference: None once freed), with .device, model_loaded_memory() and model_memory().
def loaded_models() -> list[LoadedModel]:
    import comfy.model_management as mm  # noqa: PLC0415

    out = []
    for loaded in list(mm.current_loaded_models):
        patcher = loaded.model
        if patcher is None:
            continue
        out.append(LoadedModel(type(patcher.model).__name__, int(loaded.model_loaded_memory()), str(loaded.device),
                               int(loaded.model_memory())))
    return out


def loaded_models_lines() -> list[str]:
    """ComfyUI's own view for the memory monitor: its device, the free memory model management sees there, and
    each loaded model."""
    import comfy.model_management as mm  # noqa: PLC0415

    device = mm.get_torch_device()
    lines = [f"ComfyUI device {device}: {free_memory(device) / MIB:,.0f} MiB free"]
    for m in loaded_models():
        lines.append(f"  loaded {m.kind}: {m.loaded_bytes / MIB:,.0f} MiB on {m.device} of "
                     f"{m.total_bytes / MIB:,.0f} MiB")
    if len(lines) == 1:
        lines.append("  no models loaded")
    return lines


# --- Device placement of a CLIP and a VAE (clones: the inputs keep their devices) ----------------------------------

# Relies on: ModelPatcher.load_device being where core's loader loads the patcher; on ComfyUI 0.3x's dynamic-VRAM
# patcher (ModelPatcherDynamic) also register_load_device(device), which adds the per-device pin state its loader
# and RAM unloading read (without it, partially_unload_ram raises KeyError; core's own device selectors call it).
def set_load_device(patcher, device) -> None:
    patcher.load_device = device
    register = getattr(patcher, "register_load_device", None)
    if register is not None:
        register(device)


@dataclasses.dataclass(frozen=True)
class Placed:
    """Where a clone was placed: its model's class, the load/compute device before and after, the offload device."""

    obj: object
    kind: str
    before: object
    after: object
    offload: object


# Relies on: CLIP.clone() sharing the text encoder under a cloned ModelPatcher (CLIP.patcher), whose load_device
# core's loader honours; CLIP.cond_stage_model is the encoder.
def place_clip(clip, device) -> Placed:
    """A clone of ``clip`` that loads and runs on ``device`` (None: where it already would)."""
    out = clip.clone()
    if device is not None:
        set_load_device(out.patcher, device)
    return Placed(out, type(clip.cond_stage_model).__name__, clip.patcher.load_device, out.patcher.load_device,
                  out.patcher.offload_device)


# Relies on: a VAE running on VAE.device with VAE.patcher (load_device) loading it there; a shallow copy with its
# own patcher clone leaves the input's fields alone. VAE.first_stage_model is the autoencoder.
def place_vae(vae, device) -> Placed:
    """A copy of ``vae`` that loads and runs on ``device`` (None: where it already would)."""
    out = copy.copy(vae)
    out.patcher = vae.patcher.clone()
    if device is not None:
        set_load_device(out.patcher, device)
        out.device = device
    return Placed(out, type(vae.first_stage_model).__name__, vae.device, out.device, out.patcher.offload_device)
