"""Seam: a ComfyUI VAE's fields, loading one, core's tiled fallbacks, and a model's latent format.

The tiled VAE nodes work on plain values (``VaeParts``: the first-stage autoencoder as a torch module, its dtype,
devices, scales and pixel mappings); VAE select loads a VAE as core's VAELoader does, with a dtype. Pinned by
``tests/integration/test_compat_vae.py`` (the tiny KL VAE, the tiny SD1.5 checkpoint).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from .devices import load_models


@dataclasses.dataclass(frozen=True)
class VaeParts:
    """A ComfyUI VAE as plain values."""

    model: torch.nn.Module | None  # the first-stage autoencoder (KL VAEs: .encoder, .decoder, quant convs, ...)
    kind: str  # its class name (AutoencoderKL, ...)
    dtype: torch.dtype  # weights and compute dtype
    device: torch.device  # where it computes
    result_device: torch.device  # where results are handed over (core's intermediate device)
    latent_channels: int
    decode_scale: int  # image pixels per latent pixel when decoding
    encode_scale: int  # ... and when encoding
    process_input: Callable[[torch.Tensor], torch.Tensor]  # [0, 1] pixels -> the autoencoder's input range
    process_output: Callable[[torch.Tensor], torch.Tensor]  # its output -> [0, 1] pixels
    dynamic: bool = False  # loaded by ComfyUI 0.3x's dynamic-VRAM patcher: weights stay in host memory, cast per call


# Relies on: VAE.first_stage_model (the autoencoder; ldm layout for SD1/SD2/SDXL KL VAEs: encoder, decoder,
# quant_conv/post_quant_conv (may be None), regularization), .vae_dtype, .device, .output_device,
# .latent_channels, .process_input/.process_output and spacial_compression_decode()/_encode() (0.3.75 and 0.33);
# VAE.is_dynamic() (0.3x: its patcher is ModelPatcherDynamic, whose loader leaves the parameters in pinned host
# memory and has comfy.ops cast each weight to the input's device per call; absent before: never dynamic).
def parts(vae) -> VaeParts:
    fsm = getattr(vae, "first_stage_model", None)
    is_dynamic = getattr(vae, "is_dynamic", None)
    return VaeParts(fsm, type(fsm).__name__, vae.vae_dtype, vae.device, vae.output_device, vae.latent_channels,
                    vae.spacial_compression_decode(), vae.spacial_compression_encode(), vae.process_input,
                    vae.process_output, bool(is_dynamic()) if callable(is_dynamic) else False)


# Relies on: VAE.patcher (its ModelPatcher) and VAE.disable_offload (audio VAEs load whole), as VAE.decode does.
def load_for_run(vae, memory_required: int = 0) -> None:
    """Load the VAE on its device the way core's decode does, leaving ``memory_required`` bytes for the run."""
    load_models([vae.patcher], memory_required=memory_required, force_full_load=getattr(vae, "disable_offload", False))


# Relies on: VAE.vae_encode_crop_pixels(pixels) (crop to the VAE's size multiple, as core VAEEncode does; absent on
# very old releases).
def crop_for_encode(vae, pixels: torch.Tensor) -> torch.Tensor:
    crop = getattr(vae, "vae_encode_crop_pixels", None)
    return crop(pixels) if crop is not None else pixels


# Relies on: VAE.decode_tiled(samples, tile_x=, tile_y=, overlap=) in latent pixels -> images (B, H, W, C) or, for
# video VAEs, (B, T, H, W, C): what core's VAEDecodeTiled calls.
def core_decode_tiled(vae, samples: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    return vae.decode_tiled(samples, tile_x=tile, tile_y=tile, overlap=overlap)


# Relies on: VAE.encode_tiled(pixels, tile_x=, tile_y=, overlap=) in image pixels -> latents: core's VAEEncodeTiled.
def core_encode_tiled(vae, pixels: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    return vae.encode_tiled(pixels, tile_x=tile, tile_y=tile, overlap=overlap)


# Relies on: core's VAELoader.vae_list (the vae folder, TAESD pairs in vae_approx, "pixel_space"), as its
# INPUT_TYPES lists them.
def vae_names() -> list[str]:
    import nodes as core  # noqa: PLC0415

    return list(core.VAELoader.vae_list(core.VAELoader))


# Relies on: VAELoader.image_taes / load_taesd(name) for TAESD, comfy.utils.load_torch_file(path, safe_load=True,
# return_metadata=True) and comfy.sd.VAE(sd=, dtype=, metadata=) + throw_exception_if_invalid(), as VAELoader does.
def load_named(name: str, dtype: torch.dtype | None):
    """The VAE ``name`` of the vae folder (or a TAESD), in ``dtype`` (None: ComfyUI's choice for the device)."""
    import comfy.sd  # noqa: PLC0415
    import comfy.utils  # noqa: PLC0415
    import folder_paths  # noqa: PLC0415
    import nodes as core  # noqa: PLC0415

    if name in core.VAELoader.image_taes:
        sd, metadata = core.VAELoader.load_taesd(name), None
    else:
        path = folder_paths.get_full_path_or_raise("vae", name)
        sd, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    vae = comfy.sd.VAE(sd=sd, dtype=dtype, metadata=metadata)
    vae.throw_exception_if_invalid()
    return vae


# Relies on: VAE.get_sd() (its weights) and comfy.sd.VAE(sd=, dtype=) building an equal VAE in another dtype.
def with_dtype(vae, dtype: torch.dtype):
    """A new VAE with ``vae``'s weights in ``dtype`` (the input is not changed)."""
    import comfy.sd  # noqa: PLC0415

    return comfy.sd.VAE(sd=vae.get_sd(), dtype=dtype)


# Relies on: ModelPatcher.model.model_config (a comfy.supported_models config) and its latent_format.scale_factor.
def model_latent_format(model) -> tuple[str, float]:
    """(the model's config class name, its latent scale factor)."""
    cfg = model.model.model_config
    return type(cfg).__name__, cfg.latent_format.scale_factor
