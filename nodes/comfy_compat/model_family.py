"""Seam: which family a ComfyUI MODEL belongs to, by its model config class (read live from comfy.supported_models).

Pinned by ``tests/integration/test_compat_lora.py`` (the tiny SD1.5 and SDXL checkpoints).
"""
from __future__ import annotations

FAMILIES = ("SD1", "SD2", "SDXL", "SDXL_REFINER", "SD3", "FLUX", "other")


# Relies on: ModelPatcher.model.model_config being an instance of the comfy.supported_models class the checkpoint
# was detected as (SDXLRefiner, SDXL, SD15, SD20), and on the class names of the Flux*/SD3* configs.
def model_family(model) -> str:
    import comfy.supported_models as sm  # noqa: PLC0415

    cfg = getattr(getattr(model, "model", None), "model_config", None)
    for cls, family in ((sm.SDXLRefiner, "SDXL_REFINER"), (sm.SDXL, "SDXL"), (sm.SD15, "SD1"),
                        (sm.SD20, "SD2")):
        if isinstance(cfg, cls):
            return family
    name = type(cfg).__name__ if cfg is not None else ""
    if name.startswith("Flux"):
        return "FLUX"
    if name.startswith("SD3"):
        return "SD3"
    return "other"
