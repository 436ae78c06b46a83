"""VAE nodes: tiled decode/encode over ``vram/vae/tiling.py`` and ``vram/vae/budget.py``, VAE info, and VAE select
(by name, the VAE on the input, or auto by the MODEL's family, with a dtype).

ComfyUI's VAE fields (the first-stage autoencoder, dtype, devices), its loader and model management are reached
through ``comfy_compat/vae.py`` and ``comfy_compat/devices.py``. Tile sizes and the VAE select choice are checked
in ``validate_inputs`` (ComfyUI then skips its own range and combo checks for those inputs, so they are re-checked
there); what needs the latent or the file is checked when the node runs.
"""
from __future__ import annotations

import copy
import logging
import math

import comfy.model_management as mm
import comfy.utils
import torch

from ..core.common import config
from ..core.common.errors import PICKLE_FIX, error_text, node_error, pickle_refusal_text, refused_pickle
from ..core.common.oom import is_oom
from .api import io, ui
from .comfy_compat import devices, vae as vae_compat
from .comfy_compat.model_family import model_family


def _tiling():
    """vram/vae/tiling.py, imported when a node first runs (keeps the pack's import cheap)."""
    from ..vram.vae import tiling as vae_tiling  # noqa: PLC0415

    return vae_tiling


def _budgeting():
    from ..vram.vae import budget as vae_budget  # noqa: PLC0415

    return vae_budget


logger = logging.getLogger(__name__)
MIB = 1024 * 1024
CATEGORY = "Loadout/VAE"
TILE_STEP, TILE_MAX = 64, 8192

TILE_TOOLTIP = ("Tile size in image pixels (a multiple of 64). 0 = auto: the largest tile whose estimated peak "
                "fits memory_budget_mb.")
OVERLAP_TOOLTIP = ("Halo around each tile, in image pixels. -1 = exact: as wide as the decoder's receptive field, "
                   "so tiles match an untiled decode up to float rounding. Smaller is faster and approximate "
                   "near tile borders.")
BUDGET_TOOLTIP = ("Memory budget in MB for auto tiles. 0 = 80% of the device's free memory as ComfyUI sees it.")
SLICE_TOOLTIP = "Images of the batch processed at once (1 = one by one, the least memory)."
VAE_TOOLTIP = "The VAE (SD1.x/SD2/SDXL KL VAEs tile seam-free)."
MEMORY_MODES = ("auto", "fast", "low memory")
MODE_TOOLTIP = ("fast: all tiles advance together and keep their activations (one pass of compute). low memory: "
                "one tile in flight with a checkpoint per block, recomputing to gather each GroupNorm's statistics "
                "(about 1.5x the compute, a fraction of the memory). Both give the same pixels. auto: fast when "
                "its estimate fits the budget, else low memory.")


def check_tile_size(node: str, value, lo: int, input_name: str = "tile_size") -> str | None:
    """None when ``value`` is a tile size the node takes (``lo`` (0 = auto, or 64) to 8192, a multiple of 64, or a
    linked value not known yet), else the error text."""
    if value is None:
        return None
    if not lo <= value <= TILE_MAX:
        return error_text(node, input_name, f"{value} is outside {lo}–{TILE_MAX}",
                          f"use a value from {lo} to {TILE_MAX}" + (" (0 = auto)" if lo == 0 else ""))
    if value % TILE_STEP:
        below = value // TILE_STEP * TILE_STEP
        return error_text(node, input_name, f"{value} is not a multiple of {TILE_STEP}",
                          f"use {max(below, TILE_STEP)} or {below + TILE_STEP}")
    return None


def tiling_unsupported(p: vae_compat.VaeParts, tensor: torch.Tensor, part: str) -> str | None:
    """Why our tiled path cannot handle this VAE (the node then uses core's tiled path), or None."""
    module = getattr(p.model, part, None)
    if module is None:
        return f"{p.kind} has no {part} in the ldm layout"
    if tensor.ndim != 4:
        return f"{tensor.ndim - 2}-D latents (video/audio VAEs)"
    return _tiling().supports_tiling(module)


def _devices(p: vae_compat.VaeParts) -> list[str]:
    device = str(p.device)
    return [device] if device == "cpu" else [device, "cpu"]


def _module_on(module, device: str, dtype, p: vae_compat.VaeParts | None = None):
    """The module itself on its own device; a float32 CPU copy for the CPU rung of the ladder (never a .to()
    on the model ComfyUI manages). Under dynamic VRAM the parameters stay in host memory while the VAE computes on
    its device (comfy.ops casts each weight per call, as in core's decode): on the VAE's own device the module
    itself runs, never a float32 copy of it."""
    if p is not None and p.dynamic and device == str(p.device):
        return module, dtype
    param = next(module.parameters())
    if str(param.device) == device:
        return module, dtype
    return copy.deepcopy(module).to(device=device, dtype=torch.float32), torch.float32


def _budget(p: vae_compat.VaeParts, budget_mb: int) -> int:
    return int(budget_mb * MIB) if budget_mb > 0 else int(devices.free_memory(p.device) * 0.8)


class LoadoutVAEDecodeTiled(io.ComfyNode):
    DISPLAY_NAME = "VAE decode (tiled) (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutVAEDecodeTiled",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description=(
                "Decodes latents tile by tile without seams: the mid-block attention runs over the whole latent, "
                "every GroupNorm uses whole-image statistics shared across tiles, and each tile reads a halo as "
                "wide as the convolutions' reach, so the result equals an untiled decode up to float rounding. "
                "Out of memory: retries with smaller tiles, then on the CPU; the report shows the path. "
                "Non-KL VAEs use ComfyUI's own tiled decode (logged)."),
            inputs=[
                io.Latent.Input("samples", tooltip="Latents to decode."),
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP),
                io.Int.Input("tile_size", default=0, min=0, max=TILE_MAX, step=TILE_STEP, tooltip=TILE_TOOLTIP),
                io.Int.Input("overlap", default=-1, min=-1, max=512, step=8, tooltip=OVERLAP_TOOLTIP),
                io.Int.Input("memory_budget_mb", default=0, min=0, max=1 << 20, tooltip=BUDGET_TOOLTIP),
                io.Int.Input("batch_slice", default=1, min=1, max=4096, tooltip=SLICE_TOOLTIP),
                io.Combo.Input("memory_mode", options=list(MEMORY_MODES), tooltip=MODE_TOOLTIP),
            ],
            outputs=[
                io.Image.Output("image", display_name="image", tooltip="The decoded images."),
                io.String.Output("report", display_name="report",
                                 tooltip="Tiles, halo, estimated peak memory and the OOM path."),
            ],
        )

    @classmethod
    def validate_inputs(cls, tile_size=None):
        return check_tile_size(cls.DISPLAY_NAME, tile_size, 0) or True

    @classmethod
    def execute(cls, samples, vae, tile_size, overlap, memory_budget_mb, batch_slice,
                memory_mode="auto") -> io.NodeOutput:
        z_all = samples["samples"]
        if not bool(torch.isfinite(z_all).all()):
            bad = "NaN" if bool(torch.isnan(z_all).any()) else "Inf"
            raise node_error(cls.DISPLAY_NAME, "samples", f"contains {bad} values, so every pixel would be garbage",
                             "the node that made the latent diverged (lower cfg or the LoRA strengths, try another "
                             "sampler, or an fp32/bf16 model)")
        p = vae_compat.parts(vae)
        reason = tiling_unsupported(p, z_all, "decoder")
        if reason:
            return cls._core_fallback(vae, p, z_all, tile_size, overlap, reason)
        fsm = p.model
        scale = p.decode_scale
        halo = _tiling().exact_halo(fsm.decoder) if overlap < 0 else math.ceil(overlap / scale)
        latent_hw = tuple(z_all.shape[-2:])
        slice_n = min(batch_slice, z_all.shape[0])
        dtype_bytes = devices.bytes_per_element(p.dtype)
        budget = _budget(p, memory_budget_mb)
        budgeting = _budgeting()
        if tile_size > 0:
            tile = max(1, tile_size // scale)
            low = memory_mode == "low memory" or (memory_mode == "auto" and budgeting.estimate_decode(
                latent_hw, tile, halo, dtype_bytes=dtype_bytes, batch=slice_n).peak_bytes > budget)
            est = budgeting.estimate_decode(latent_hw, tile, halo, dtype_bytes=dtype_bytes, batch=slice_n,
                                            low_memory=low)
            chosen = "fixed"
        else:
            tile, low, est = budgeting.tile_for_budget(latent_hw, budget, halo, memory_mode, dtype_bytes=dtype_bytes,
                                                       batch=slice_n)
            chosen = f"auto for {budget / MIB:,.0f} MB" + (" (over budget at the smallest tile)"
                                                           if est.peak_bytes > budget else "")
        vae_compat.load_for_run(vae, est.peak_bytes)
        steps = _tiling().count_sync_steps(fsm.decoder)
        n_slices = math.ceil(z_all.shape[0] / slice_n)
        pbar = comfy.utils.ProgressBar(n_slices * steps)
        outs, paths = [], []
        for start in range(0, z_all.shape[0], slice_n):
            chunk = z_all[start:start + slice_n]

            def run(t, device, chunk=chunk):
                model, dtype = _module_on(fsm, device, p.dtype, p)
                z = chunk.to(device=device, dtype=dtype)
                if getattr(model, "post_quant_conv", None) is not None:  # per image: slicing never changes a bit
                    z = torch.cat([model.post_quant_conv(z[i:i + 1]) for i in range(z.shape[0])])
                out = _tiling().decode_tiled(model.decoder, z, t, halo, on_step=lambda: pbar.update(1),
                                             low_memory=low)
                return p.process_output(out.to(p.result_device).float())

            out, path = budgeting.run_with_oom_ladder(run, tile, _devices(p), is_oom, mm.soft_empty_cache,
                                                      lambda t: f"tile {t * scale} px")
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
        return io.NodeOutput(images, report, ui=ui.PreviewText(report))

    @classmethod
    def _core_fallback(cls, vae, p, z_all, tile_size, overlap, reason) -> io.NodeOutput:
        scale = p.decode_scale
        tile = max(64, tile_size or 512) // scale
        ov = max(0, overlap if overlap >= 0 else 64) // scale
        logger.warning("[Loadout] VAE decode (tiled): using ComfyUI's tiled decode: %s", reason)
        images = vae_compat.core_decode_tiled(vae, z_all, tile, min(ov, tile // 4))
        if images.ndim == 5:
            images = images.reshape(-1, *images.shape[-3:])
        report = f"VAE decode (tiled): ComfyUI's tiled decode was used: {reason}"
        return io.NodeOutput(images, report, ui=ui.PreviewText(report))


class LoadoutVAEEncodeTiled(io.ComfyNode):
    DISPLAY_NAME = "VAE encode (tiled) (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutVAEEncodeTiled",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description=(
                "Encodes images tile by tile with whole-image GroupNorm statistics, halos as wide as the "
                "encoder's reach and the mid-block attention over the whole latent: equal to an untiled encode up "
                "to float rounding. Sizes are cropped to a multiple of 8 as core VAE Encode does."),
            inputs=[
                io.Image.Input("pixels", tooltip="Images to encode (RGB; an alpha channel is ignored)."),
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP),
                io.Int.Input("tile_size", default=512, min=64, max=TILE_MAX, step=TILE_STEP,
                             tooltip="Tile size in image pixels."),
                io.Int.Input("batch_slice", default=1, min=1, max=4096, tooltip=SLICE_TOOLTIP),
            ],
            outputs=[
                io.Latent.Output("latent", display_name="latent", tooltip="The encoded latents."),
                io.String.Output("report", display_name="report", tooltip="Tiles, halo and the OOM path."),
            ],
        )

    @classmethod
    def validate_inputs(cls, tile_size=None):
        return check_tile_size(cls.DISPLAY_NAME, tile_size, TILE_STEP) or True

    @classmethod
    def execute(cls, pixels, vae, tile_size, batch_slice) -> io.NodeOutput:
        pixels = vae_compat.crop_for_encode(vae, pixels[:, :, :, :3])
        x_all = pixels.movedim(-1, 1)
        p = vae_compat.parts(vae)
        reason = tiling_unsupported(p, x_all, "encoder")
        scale = p.encode_scale
        if reason:
            logger.warning("[Loadout] VAE encode (tiled): using ComfyUI's tiled encode: %s", reason)
            latent = vae_compat.core_encode_tiled(vae, pixels, tile_size, tile_size // 8)
            report = f"VAE encode (tiled): ComfyUI's tiled encode was used: {reason}"
            return io.NodeOutput({"samples": latent}, report, ui=ui.PreviewText(report))
        fsm = p.model
        halo = _tiling().exact_halo(fsm.encoder)
        tile = max(1, tile_size // scale)
        vae_compat.load_for_run(vae)
        pbar = comfy.utils.ProgressBar(math.ceil(x_all.shape[0] / batch_slice)
                                       * _tiling().count_sync_steps(fsm.encoder))
        outs, path = [], []
        for start in range(0, x_all.shape[0], batch_slice):
            chunk = x_all[start:start + batch_slice]

            def run(t, device, chunk=chunk):
                model, dtype = _module_on(fsm, device, p.dtype, p)
                x = p.process_input(chunk).to(device=device, dtype=dtype)
                h = _tiling().encode_tiled(model.encoder, x, t, halo, on_step=lambda: pbar.update(1))
                if getattr(model, "quant_conv", None) is not None:  # per image, as above
                    h = torch.cat([model.quant_conv(h[i:i + 1]) for i in range(h.shape[0])])
                z, _ = model.regularization(h)
                return z.to(p.result_device).float()

            out, path = _budgeting().run_with_oom_ladder(run, tile, _devices(p), is_oom, mm.soft_empty_cache,
                                                         lambda t: f"tile {t * scale} px")
            outs.append(out)
        latent = torch.cat(outs)
        n_tiles = len(_tiling().plan_tiles(x_all.shape[-2] // scale, x_all.shape[-1] // scale, tile, halo))
        report = (f"VAE encode (tiled): {x_all.shape[0]} image(s) of {x_all.shape[-1]}x{x_all.shape[-2]}, "
                  f"tile {tile * scale} px, {n_tiles} tile(s), halo {halo * scale} px (exact); path: "
                  + " | ".join(path))
        logger.info("[Loadout] %s", report)
        return io.NodeOutput({"samples": latent}, report, ui=ui.PreviewText(report))


class LoadoutVAEInfo(io.ComfyNode):
    DISPLAY_NAME = "VAE info (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutVAEInfo",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description=(
                "Describes a VAE: kind, latent channels, scale, dtype and device, whether Loadout tiles it "
                "seam-free, and the estimated peak memory of a decode at the given size untiled and tiled. "
                "With a MODEL, also the model family's latent scaling factor."),
            inputs=[
                io.Vae.Input("vae", tooltip="The VAE to describe."),
                io.Int.Input("width", default=1024, min=64, max=16384, step=8,
                             tooltip="Image width for the memory estimate."),
                io.Int.Input("height", default=1024, min=64, max=16384, step=8,
                             tooltip="Image height for the memory estimate."),
                io.Int.Input("tile_size", default=512, min=64, max=TILE_MAX, step=TILE_STEP,
                             tooltip="Tile size in image pixels for the tiled estimate."),
                io.Model.Input("model", optional=True,
                               tooltip="A model, to report its family and latent scaling factor."),
            ],
            outputs=[io.String.Output("info", display_name="info", tooltip="The description.")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, tile_size=None):
        return check_tile_size(cls.DISPLAY_NAME, tile_size, TILE_STEP) or True

    @classmethod
    def execute(cls, vae, width, height, tile_size, model=None) -> io.NodeOutput:
        p = vae_compat.parts(vae)
        scale = p.decode_scale
        lines = [f"VAE: {p.kind}, latent channels {p.latent_channels}, downscale {scale}, "
                 f"dtype {str(p.dtype).replace('torch.', '')}, device {p.device}"]
        latent_hw = (height // scale, width // scale)
        decoder = getattr(p.model, "decoder", None)
        reason = _tiling().supports_tiling(decoder) if decoder is not None else "no ldm decoder"
        dtype_bytes = devices.bytes_per_element(p.dtype)
        if reason is None:
            budgeting = _budgeting()
            halo = _tiling().exact_halo(decoder)
            whole = budgeting.estimate_decode(latent_hw, max(latent_hw), halo, dtype_bytes=dtype_bytes)
            tiled = budgeting.estimate_decode(latent_hw, tile_size // scale, halo, dtype_bytes=dtype_bytes)
            n_tiles = len(_tiling().plan_tiles(*latent_hw, tile_size // scale, halo))
            lines += [f"tiling: seam-free (exact halo {halo * scale} px)",
                      f"decode {width}x{height}: untiled ~{whole.peak_bytes / MIB:,.0f} MiB, tiled at {tile_size} px "
                      f"({n_tiles} tiles) ~{tiled.peak_bytes / MIB:,.0f} MiB (estimates beyond the weights)"]
        else:
            lines.append(f"tiling: ComfyUI's own tiled path ({reason})")
        if model is not None:
            config_name, scale_factor = vae_compat.model_latent_format(model)
            lines.append(f"model: {config_name}, latent scale factor {scale_factor}")
        text = "\n".join(lines)
        return io.NodeOutput(text, ui=ui.PreviewText(text))


# --- VAE select ----------------------------------------------------------------------------------------------------
SELECT_MODES = ("auto", "by name", "baked")
DTYPES = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
FP16_SAFE_FAMILIES = {"SD1", "SD2"}


def fp16_safe(vae_name: str, family: str | None) -> bool:
    """SD1/SD2 VAEs decode fine in fp16; SDXL's original VAE overflows (black/NaN images) unless it is the
    'fp16-fix' VAE."""
    name = (vae_name or "").lower().replace("_", "-")
    return "fp16-fix" in name or "fp16fix" in name or family in FP16_SAFE_FAMILIES


def vae_name_options() -> list[str]:
    return ["None"] + vae_compat.vae_names()


def _check_choice(node: str, name: str, value, options) -> str | None:
    options = list(options)
    if value is None or value in options:
        return None
    shown = ", ".join(map(str, options[:20])) + (f" (and {len(options) - 20} more)" if len(options) > 20 else "")
    return error_text(node, name, f"'{value}' is not one of the choices", f"choose one of {shown}")


class LoadoutVAESelect(io.ComfyNode):
    DISPLAY_NAME = "VAE select (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutVAESelect",
            display_name=cls.DISPLAY_NAME,
            category=CATEGORY,
            description=(
                "Chooses the VAE: 'by name' from your vae folder (diffusers VAE folders and TAESD included), "
                "'baked' = the VAE on the input (e.g. the checkpoint's), or 'auto' = the default configured for the "
                "MODEL's family in ComfyUI/user/loadout.json ({\"vae\": {\"family_defaults\": {\"SD1\": ..., "
                "\"SDXL\": ..., \"SDXL_REFINER\": ..., \"other\": ...}}}; a value is a file name or \"baked\"; "
                "unconfigured families use the baked VAE). dtype fp16 is used only for VAEs known to be fp16-safe."),
            inputs=[
                io.Combo.Input("mode", options=list(SELECT_MODES), tooltip=(
                    "auto: by the model's family (needs 'model'); by name: vae_name; baked: the 'vae' input.")),
                io.Combo.Input("vae_name", options=vae_name_options(), tooltip="The VAE file for 'by name'."),
                io.Combo.Input("dtype", options=list(DTYPES), tooltip=(
                    "Weights/compute dtype. auto: ComfyUI's choice for the device. fp16 only for fp16-safe VAEs "
                    "(SD1/SD2, SDXL fp16-fix); otherwise fp32 is used and the report says so.")),
                io.Model.Input("model", optional=True,
                               tooltip="The diffusion model, for 'auto' (its family picks the VAE)."),
                io.Vae.Input("vae", optional=True, tooltip="The baked VAE, e.g. the checkpoint loader's VAE output."),
            ],
            outputs=[
                io.Vae.Output("vae_out", display_name="vae", tooltip="The chosen VAE."),
                io.String.Output("report", display_name="report", tooltip="What was chosen and why."),
            ],
        )

    @classmethod
    def validate_inputs(cls, mode=None, vae_name=None):
        node = cls.DISPLAY_NAME
        error = _check_choice(node, "mode", mode, SELECT_MODES) or _check_choice(node, "vae_name", vae_name,
                                                                                 vae_name_options())
        if error:
            return error
        if mode == "by name" and vae_name == "None":
            return error_text(node, "vae_name", "mode 'by name' needs 'vae_name' set to a file of your vae folder",
                              "pick one, or choose mode 'auto' or 'baked'")
        return True

    @classmethod
    def execute(cls, mode, vae_name, dtype, model=None, vae=None) -> io.NodeOutput:
        node = cls.DISPLAY_NAME
        family = model_family(model) if model is not None else None
        if mode == "auto":
            if model is None:
                raise node_error(node, "model", "mode 'auto' needs the 'model' input connected",
                                 "connect the diffusion model, or choose mode 'by name' or 'baked'")
            defaults = config.section("vae").get("family_defaults", {})
            choice = defaults.get(family) or defaults.get("other") or "baked"
            why = (f"auto: model family {family} → {choice}"
                   + ("" if family in defaults else " (no family_defaults entry for it in loadout.json)"))
            name = None if choice == "baked" else choice
        elif mode == "by name":
            if not vae_name or vae_name == "None":
                raise node_error(node, "vae_name", "mode 'by name' needs 'vae_name' set to a file of your vae folder",
                                 "pick one, or choose mode 'auto' or 'baked'")
            name, why = vae_name, f"by name: {vae_name}"
        else:
            name, why = None, "baked: the VAE on the input"
        if name is None and vae is None:
            raise node_error(node, None, f"input 'vae' is not connected but the choice is the baked VAE ({why})",
                             "connect the checkpoint's VAE or pick a name")
        wanted = DTYPES[dtype]
        notes = []
        if wanted == torch.float16 and not fp16_safe(name or "", family):
            notes.append("fp16 requested but this VAE is not known to be fp16-safe (SDXL's VAE overflows in fp16): "
                         "using fp32; use an fp16-fix VAE for fp16")
            wanted = torch.float32
        if name is not None:
            try:
                chosen = vae_compat.load_named(name, wanted)
            except Exception as e:  # noqa: BLE001 - safetensors and torch raise many types for bad files
                if refused_pickle(e):
                    raise node_error(node, "vae_name", pickle_refusal_text(name), PICKLE_FIX) from None
                raise node_error(node, "vae_name", f"{name} could not be loaded ({type(e).__name__}: {str(e)[:200]})",
                                 "the file may be truncated or not a VAE: download it again or pick another") from e
        elif wanted is None or wanted == vae_compat.parts(vae).dtype:
            chosen = vae
        else:
            chosen = vae_compat.with_dtype(vae, wanted)
        p = vae_compat.parts(chosen)
        report = "\n".join([f"VAE select: {why}", f"dtype {str(p.dtype).replace('torch.', '')} on {p.device}"]
                           + [f"note: {n}" for n in notes])
        for n in notes:
            logger.warning("[Loadout] %s: %s", node, n)
        return io.NodeOutput(chosen, report, ui=ui.PreviewText(report))


NODES = [LoadoutVAEDecodeTiled, LoadoutVAEEncodeTiled, LoadoutVAEInfo, LoadoutVAESelect]
