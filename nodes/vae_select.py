"""VAE select: by name, the VAE given on the input ("baked"), or auto by the MODEL's family, with a dtype."""
from __future__ import annotations

import logging

import comfy.sd
import comfy.utils
import folder_paths
import nodes as comfy_nodes
import torch

from ..core.common import config
from .comfy_compat.model_family import model_family

logger = logging.getLogger(__name__)
MODES = ("auto", "by name", "baked")
DTYPES = {"auto": None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
FP16_SAFE_FAMILIES = {"SD1", "SD2"}


def fp16_safe(vae_name: str, family: str | None) -> bool:
    """SD1/SD2 VAEs decode fine in fp16; SDXL's original VAE overflows (black/NaN images) unless it is the
    'fp16-fix' VAE."""
    name = (vae_name or "").lower().replace("_", "-")
    return "fp16-fix" in name or "fp16fix" in name or family in FP16_SAFE_FAMILIES


def load_named_vae(name: str, dtype):
    if name in comfy_nodes.VAELoader.image_taes:
        sd, metadata = comfy_nodes.VAELoader.load_taesd(name), None
    else:
        path = folder_paths.get_full_path_or_raise("vae", name)
        sd, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    vae = comfy.sd.VAE(sd=sd, dtype=dtype, metadata=metadata)
    vae.throw_exception_if_invalid()
    return vae


class LoadoutVAESelect:
    NODE_ID = "LoadoutVAESelect"
    DISPLAY_NAME = "VAE select (Loadout)"
    CATEGORY = "Loadout/VAE"
    DESCRIPTION = ("Chooses the VAE: 'by name' from your vae folder (diffusers VAE folders and TAESD included), "
                   "'baked' = the VAE on the input (e.g. the checkpoint's), or 'auto' = the default configured for the "
                   "MODEL's family in ComfyUI/user/loadout.json ({\"vae\": {\"family_defaults\": {\"SD1\": ..., "
                   "\"SDXL\": ..., \"SDXL_REFINER\": ..., \"other\": ...}}}; a value is a file name or \"baked\"; "
                   "unconfigured families use the baked VAE). dtype fp16 is used only for VAEs known to be fp16-safe.")
    FUNCTION = "select"
    RETURN_TYPES = ("VAE", "STRING")
    RETURN_NAMES = ("vae", "report")
    OUTPUT_TOOLTIPS = ("The chosen VAE.", "What was chosen and why.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "mode": (list(MODES), {"tooltip": "auto: by the model's family (needs 'model'); by name: vae_name; "
                                                  "baked: the 'vae' input."}),
                "vae_name": (["None"] + comfy_nodes.VAELoader.vae_list(comfy_nodes.VAELoader), {
                    "tooltip": "The VAE file for 'by name'."}),
                "dtype": (list(DTYPES), {"tooltip": "Weights/compute dtype. auto: ComfyUI's choice for the device. "
                                                    "fp16 only for fp16-safe VAEs (SD1/SD2, SDXL fp16-fix); "
                                                    "otherwise fp32 is used and the report says so."}),
            },
            "optional": {
                "model": ("MODEL", {"tooltip": "The diffusion model, for 'auto' (its family picks the VAE)."}),
                "vae": ("VAE", {"tooltip": "The baked VAE, e.g. the checkpoint loader's VAE output."}),
            },
        }

    def select(self, mode, vae_name, dtype, model=None, vae=None):
        node = self.DISPLAY_NAME
        family = model_family(model) if model is not None else None
        why = ""
        if mode == "auto":
            if model is None:
                raise ValueError(f"[Loadout] {node}: mode 'auto' needs the 'model' input connected")
            defaults = config.section("vae").get("family_defaults", {})
            choice = defaults.get(family) or defaults.get("other") or "baked"
            why = (f"auto: model family {family} → {choice}"
                   + ("" if family in defaults else " (no family_defaults entry for it in loadout.json)"))
            name = None if choice == "baked" else choice
        elif mode == "by name":
            if not vae_name or vae_name == "None":
                raise ValueError(f"[Loadout] {node}: mode 'by name' needs 'vae_name' set to a file of your vae folder")
            name, why = vae_name, f"by name: {vae_name}"
        else:
            name, why = None, "baked: the VAE on the input"
        if name is None and vae is None:
            raise ValueError(f"[Loadout] {node}: input 'vae' is not connected but the choice is the baked VAE "
                             f"({why}); connect the checkpoint's VAE or pick a name")
        wanted = DTYPES[dtype]
        notes = []
        if wanted == torch.float16 and not fp16_safe(name or "", family):
            notes.append("fp16 requested but this VAE is not known to be fp16-safe (SDXL's VAE overflows in fp16): "
                         "using fp32; use an fp16-fix VAE for fp16")
            wanted = torch.float32
        if name is not None:
            try:
                chosen = load_named_vae(name, wanted)
            except Exception as e:  # noqa: BLE001 - safetensors and torch raise many types for bad files
                raise ValueError(f"[Loadout] {node}: input 'vae_name': {name} could not be loaded "
                                 f"({type(e).__name__}: {str(e)[:200]}); the file may be truncated or not a VAE: "
                                 f"download it again or pick another") from e
        elif wanted is None or wanted == vae.vae_dtype:
            chosen = vae
        else:
            chosen = comfy.sd.VAE(sd=vae.get_sd(), dtype=wanted)
        report = "\n".join([f"VAE select: {why}", f"dtype {str(chosen.vae_dtype).replace('torch.', '')} on "
                            f"{chosen.device}"] + [f"note: {n}" for n in notes])
        for n in notes:
            logger.warning("[Loadout] %s: %s", node, n)
        return {"ui": {"text": [report]}, "result": (chosen, report)}


NODES = [LoadoutVAESelect]
