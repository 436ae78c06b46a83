"""Tiled VAE decode/encode and VAE info nodes over ``vram/vae_tiling.py`` and ``vram/vae_budget.py``."""
from __future__ import annotations

import copy
import logging
import math

import comfy.model_management as mm
import comfy.utils
import torch



def _tiling():
    """vram/vae_tiling.py, imported when a node first runs (keeps the pack's import cheap)."""
    from ..vram.vae import tiling as vae_tiling  # noqa: PLC0415

    return vae_tiling


def _budgeting():
    from ..vram.vae import budget as vae_budget  # noqa: PLC0415

    return vae_budget

logger = logging.getLogger(__name__)
MIB = 1024 * 1024

TILE_TOOLTIP = ("Tile size in image pixels (a multiple of 64). 0 = auto: the largest tile whose estimated peak "
                "fits memory_budget_mb.")
OVERLAP_TOOLTIP = ("Halo around each tile, in image pixels. -1 = exact: as wide as the decoder's receptive field, "
                   "so tiles match an untiled decode up to float rounding. Smaller is faster and approximate "
                   "near tile borders.")
BUDGET_TOOLTIP = ("Memory budget in MB for auto tiles. 0 = 80% of the device's free memory as ComfyUI sees it.")
SLICE_TOOLTIP = "Images of the batch processed at once (1 = one by one, the least memory)."
MEMORY_MODES = ("auto", "fast", "low memory")
MODE_TOOLTIP = ("fast: all tiles advance together and keep their activations (one pass of compute). low memory: "
                "one tile in flight with a checkpoint per block, recomputing to gather each GroupNorm's statistics "
                "(about 1.5x the compute, a fraction of the memory). Both give the same pixels. auto: fast when "
                "its estimate fits the budget, else low memory.")


def tiling_unsupported(vae, tensor: torch.Tensor, part: str) -> str | None:
    """Why our tiled path cannot handle this VAE (the node then uses core's tiled path), or None."""
    fsm = getattr(vae, "first_stage_model", None)
    module = getattr(fsm, part, None)
    if module is None:
        return f"{type(fsm).__name__} has no {part} in the ldm layout"
    if tensor.ndim != 4:
        return f"{tensor.ndim - 2}-D latents (video/audio VAEs)"
    return _tiling().supports_tiling(module)


def _devices(vae) -> list[str]:
    device = str(vae.device)
    return [device] if device == "cpu" else [device, "cpu"]


def _module_on(module, device: str, dtype):
    """The module itself on its own device; a float32 CPU copy for the CPU rung of the ladder (never a .to()
    on the model ComfyUI manages)."""
    param = next(module.parameters())
    if str(param.device) == device:
        return module, dtype
    return copy.deepcopy(module).to(device=device, dtype=torch.float32), torch.float32


def _budget(vae, budget_mb: int) -> int:
    return int(budget_mb * MIB) if budget_mb > 0 else int(mm.get_free_memory(vae.device) * 0.8)


class LoadoutVAEDecodeTiled:
    NODE_ID = "LoadoutVAEDecodeTiled"
    DISPLAY_NAME = "VAE decode (tiled) (Loadout)"
    CATEGORY = "Loadout/VAE"
    DESCRIPTION = ("Decodes latents tile by tile without seams: the mid-block attention runs over the whole latent, "
                   "every GroupNorm uses whole-image statistics shared across tiles, and each tile reads a halo as "
                   "wide as the convolutions' reach, so the result equals an untiled decode up to float rounding. "
                   "Out of memory: retries with smaller tiles, then on the CPU; the report shows the path. "
                   "Non-KL VAEs use ComfyUI's own tiled decode (logged).")
    FUNCTION = "decode"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "report")
    OUTPUT_TOOLTIPS = ("The decoded images.", "Tiles, halo, estimated peak memory and the OOM path.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "samples": ("LATENT", {"tooltip": "Latents to decode."}),
            "vae": ("VAE", {"tooltip": "The VAE (SD1.x/SD2/SDXL KL VAEs tile seam-free)."}),
            "tile_size": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 64, "tooltip": TILE_TOOLTIP}),
            "overlap": ("INT", {"default": -1, "min": -1, "max": 512, "step": 8, "tooltip": OVERLAP_TOOLTIP}),
            "memory_budget_mb": ("INT", {"default": 0, "min": 0, "max": 1 << 20, "tooltip": BUDGET_TOOLTIP}),
            "batch_slice": ("INT", {"default": 1, "min": 1, "max": 4096, "tooltip": SLICE_TOOLTIP}),
            "memory_mode": (list(MEMORY_MODES), {"tooltip": MODE_TOOLTIP}),
        }}

    def decode(self, samples, vae, tile_size, overlap, memory_budget_mb, batch_slice, memory_mode="auto"):
        z_all = samples["samples"]
        if not bool(torch.isfinite(z_all).all()):
            bad = "NaN" if bool(torch.isnan(z_all).any()) else "Inf"
            raise ValueError(f"[Loadout] {self.DISPLAY_NAME}: input 'samples' contains {bad} values, so every pixel "
                             f"would be garbage; the node that made the latent diverged (lower cfg or the LoRA "
                             f"strengths, try another sampler, or an fp32/bf16 model)")
        reason = tiling_unsupported(vae, z_all, "decoder")
        if reason:
            return self._core_fallback(vae, z_all, tile_size, overlap, reason)
        fsm = vae.first_stage_model
        scale = vae.spacial_compression_decode()
        halo = _tiling().exact_halo(fsm.decoder) if overlap < 0 else math.ceil(overlap / scale)
        latent_hw = tuple(z_all.shape[-2:])
        slice_n = min(batch_slice, z_all.shape[0])
        dtype_bytes = mm.dtype_size(vae.vae_dtype)
        budget = _budget(vae, memory_budget_mb)
        if tile_size > 0:
            tile = max(1, tile_size // scale)
            low = memory_mode == "low memory" or (memory_mode == "auto" and _budgeting().estimate_decode(
                latent_hw, tile, halo, dtype_bytes=dtype_bytes, batch=slice_n).peak_bytes > budget)
            est = _budgeting().estimate_decode(latent_hw, tile, halo, dtype_bytes=dtype_bytes, batch=slice_n, low_memory=low)
            chosen = "fixed"
        else:
            tile, low, est = _budgeting().tile_for_budget(latent_hw, budget, halo, memory_mode, dtype_bytes=dtype_bytes,
                                             batch=slice_n)
            chosen = f"auto for {budget / MIB:,.0f} MB" + (" (over budget at the smallest tile)"
                                                           if est.peak_bytes > budget else "")
        mm.load_models_gpu([vae.patcher], memory_required=est.peak_bytes,
                           force_full_load=getattr(vae, "disable_offload", False))
        steps = _tiling().count_sync_steps(fsm.decoder)
        n_slices = math.ceil(z_all.shape[0] / slice_n)
        pbar = comfy.utils.ProgressBar(n_slices * steps)
        outs, paths = [], []
        for start in range(0, z_all.shape[0], slice_n):
            chunk = z_all[start:start + slice_n]

            def run(t, device, chunk=chunk):
                parts, dtype = _module_on(fsm, device, vae.vae_dtype)
                z = chunk.to(device=device, dtype=dtype)
                if getattr(parts, "post_quant_conv", None) is not None:  # per image: slicing never changes a bit
                    z = torch.cat([parts.post_quant_conv(z[i:i + 1]) for i in range(z.shape[0])])
                out = _tiling().decode_tiled(parts.decoder, z, t, halo, on_step=lambda: pbar.update(1), low_memory=low)
                return vae.process_output(out.to(vae.output_device).float())

            out, path = _budgeting().run_with_oom_ladder(run, tile, _devices(vae), lambda e: isinstance(e, mm.OOM_EXCEPTION),
                                            mm.soft_empty_cache, lambda t: f"tile {t * scale} px")
            outs.append(out)
            paths.append(path)
        images = torch.cat(outs).movedim(1, -1)
        n_tiles = len(_tiling().plan_tiles(*latent_hw, tile, halo))
        report = "\n".join([
            f"VAE decode (tiled): {z_all.shape[0]} image(s) of {latent_hw[1] * scale}x{latent_hw[0] * scale}, "
            f"batch slice {slice_n}",
            f"tile {tile * scale} px ({chosen}), {n_tiles} tile(s), halo {halo * scale} px"
            + (" (exact)" if overlap < 0 else "") + (", low-memory mode" if low and n_tiles > 1 else ", fast mode"),
            f"estimated peak {est.peak_bytes / MIB:,.0f} MiB beyond weights "
            f"(stored {est.stored_bytes / MIB:,.0f} + tile {est.tile_bytes / MIB:,.0f})",
            "path: " + " | ".join(paths[-1]) + (f" (last of {len(paths)} slices)" if len(paths) > 1 else ""),
        ])
        logger.info("[Loadout] %s", report.replace("\n", " | "))
        return {"ui": {"text": [report]}, "result": (images, report)}

    def _core_fallback(self, vae, z_all, tile_size, overlap, reason):
        scale = vae.spacial_compression_decode()
        tile = max(64, tile_size or 512) // scale
        ov = max(0, overlap if overlap >= 0 else 64) // scale
        logger.warning("[Loadout] VAE decode (tiled): using ComfyUI's tiled decode: %s", reason)
        images = vae.decode_tiled(z_all, tile_x=tile, tile_y=tile, overlap=min(ov, tile // 4))
        if images.ndim == 5:
            images = images.reshape(-1, *images.shape[-3:])
        report = f"VAE decode (tiled): ComfyUI's tiled decode was used: {reason}"
        return {"ui": {"text": [report]}, "result": (images, report)}


class LoadoutVAEEncodeTiled:
    NODE_ID = "LoadoutVAEEncodeTiled"
    DISPLAY_NAME = "VAE encode (tiled) (Loadout)"
    CATEGORY = "Loadout/VAE"
    DESCRIPTION = ("Encodes images tile by tile with whole-image GroupNorm statistics, halos as wide as the "
                   "encoder's reach and the mid-block attention over the whole latent: equal to an untiled encode up "
                   "to float rounding. Sizes are cropped to a multiple of 8 as core VAE Encode does.")
    FUNCTION = "encode"
    RETURN_TYPES = ("LATENT", "STRING")
    RETURN_NAMES = ("latent", "report")
    OUTPUT_TOOLTIPS = ("The encoded latents.", "Tiles, halo and the OOM path.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "pixels": ("IMAGE", {"tooltip": "Images to encode (RGB; an alpha channel is ignored)."}),
            "vae": ("VAE", {"tooltip": "The VAE (SD1.x/SD2/SDXL KL VAEs tile seam-free)."}),
            "tile_size": ("INT", {"default": 512, "min": 64, "max": 8192, "step": 64,
                                  "tooltip": "Tile size in image pixels."}),
            "batch_slice": ("INT", {"default": 1, "min": 1, "max": 4096, "tooltip": SLICE_TOOLTIP}),
        }}

    def encode(self, pixels, vae, tile_size, batch_slice):
        pixels = pixels[:, :, :, :3]
        if hasattr(vae, "vae_encode_crop_pixels"):
            pixels = vae.vae_encode_crop_pixels(pixels)
        x_all = pixels.movedim(-1, 1)
        reason = tiling_unsupported(vae, x_all, "encoder")
        scale = vae.spacial_compression_encode()
        if reason:
            logger.warning("[Loadout] VAE encode (tiled): using ComfyUI's tiled encode: %s", reason)
            latent = vae.encode_tiled(pixels, tile_x=tile_size, tile_y=tile_size, overlap=tile_size // 8)
            report = f"VAE encode (tiled): ComfyUI's tiled encode was used: {reason}"
            return {"ui": {"text": [report]}, "result": ({"samples": latent}, report)}
        fsm = vae.first_stage_model
        halo = _tiling().exact_halo(fsm.encoder)
        tile = max(1, tile_size // scale)
        mm.load_models_gpu([vae.patcher], force_full_load=getattr(vae, "disable_offload", False))
        pbar = comfy.utils.ProgressBar(math.ceil(x_all.shape[0] / batch_slice) * _tiling().count_sync_steps(fsm.encoder))
        outs, path = [], []
        for start in range(0, x_all.shape[0], batch_slice):
            chunk = x_all[start:start + batch_slice]

            def run(t, device, chunk=chunk):
                parts, dtype = _module_on(fsm, device, vae.vae_dtype)
                x = vae.process_input(chunk).to(device=device, dtype=dtype)
                h = _tiling().encode_tiled(parts.encoder, x, t, halo, on_step=lambda: pbar.update(1))
                if getattr(parts, "quant_conv", None) is not None:  # per image, as above
                    h = torch.cat([parts.quant_conv(h[i:i + 1]) for i in range(h.shape[0])])
                z, _ = parts.regularization(h)
                return z.to(vae.output_device).float()

            out, path = _budgeting().run_with_oom_ladder(run, tile, _devices(vae), lambda e: isinstance(e, mm.OOM_EXCEPTION),
                                            mm.soft_empty_cache, lambda t: f"tile {t * scale} px")
            outs.append(out)
        latent = torch.cat(outs)
        n_tiles = len(_tiling().plan_tiles(x_all.shape[-2] // scale, x_all.shape[-1] // scale, tile, halo))
        report = (f"VAE encode (tiled): {x_all.shape[0]} image(s) of {x_all.shape[-1]}x{x_all.shape[-2]}, "
                  f"tile {tile * scale} px, {n_tiles} tile(s), halo {halo * scale} px (exact); path: "
                  + " | ".join(path))
        logger.info("[Loadout] %s", report)
        return {"ui": {"text": [report]}, "result": ({"samples": latent}, report)}


class LoadoutVAEInfo:
    NODE_ID = "LoadoutVAEInfo"
    DISPLAY_NAME = "VAE info (Loadout)"
    CATEGORY = "Loadout/VAE"
    DESCRIPTION = ("Describes a VAE: kind, latent channels, scale, dtype and device, whether Loadout tiles it "
                   "seam-free, and the estimated peak memory of a decode at the given size untiled and tiled. "
                   "With a MODEL, also the model family's latent scaling factor.")
    FUNCTION = "info"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("info",)
    OUTPUT_TOOLTIPS = ("The description.",)
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "vae": ("VAE", {"tooltip": "The VAE to describe."}),
            "width": ("INT", {"default": 1024, "min": 64, "max": 16384, "step": 8,
                              "tooltip": "Image width for the memory estimate."}),
            "height": ("INT", {"default": 1024, "min": 64, "max": 16384, "step": 8,
                               "tooltip": "Image height for the memory estimate."}),
            "tile_size": ("INT", {"default": 512, "min": 64, "max": 8192, "step": 64,
                                  "tooltip": "Tile size in image pixels for the tiled estimate."}),
        }, "optional": {"model": ("MODEL", {"tooltip": "A model, to report its family and latent scaling factor."})}}

    def info(self, vae, width, height, tile_size, model=None):
        fsm = vae.first_stage_model
        scale = vae.spacial_compression_decode()
        lines = [f"VAE: {type(fsm).__name__}, latent channels {vae.latent_channels}, downscale {scale}, "
                 f"dtype {str(vae.vae_dtype).replace('torch.', '')}, device {vae.device}"]
        latent_hw = (height // scale, width // scale)
        reason = _tiling().supports_tiling(getattr(fsm, "decoder", None)) if hasattr(fsm, "decoder") else "no ldm decoder"
        dtype_bytes = mm.dtype_size(vae.vae_dtype)
        if reason is None:
            halo = _tiling().exact_halo(fsm.decoder)
            whole = _budgeting().estimate_decode(latent_hw, max(latent_hw), halo, dtype_bytes=dtype_bytes)
            tiled = _budgeting().estimate_decode(latent_hw, tile_size // scale, halo, dtype_bytes=dtype_bytes)
            n_tiles = len(_tiling().plan_tiles(*latent_hw, tile_size // scale, halo))
            lines += [f"tiling: seam-free (exact halo {halo * scale} px)",
                      f"decode {width}x{height}: untiled ~{whole.peak_bytes / MIB:,.0f} MiB, tiled at {tile_size} px "
                      f"({n_tiles} tiles) ~{tiled.peak_bytes / MIB:,.0f} MiB (estimates beyond the weights)"]
        else:
            lines.append(f"tiling: ComfyUI's own tiled path ({reason})")
        if model is not None:
            cfg = model.model.model_config
            lines.append(f"model: {type(cfg).__name__}, latent scale factor {cfg.latent_format.scale_factor}")
        text = "\n".join(lines)
        return {"ui": {"text": [text]}, "result": (text,)}


NODES = [LoadoutVAEDecodeTiled, LoadoutVAEEncodeTiled, LoadoutVAEInfo]
