"""The public model files the bundled workflows name, and the tiny test model that stands in for each.

One table, read by everything that needs a model name:

- the bundled workflows (workflows/*.json, workflows/api/*.json) name these files, and each loader node of a UI
  workflow carries them in ``properties.models`` (name, url, directory, as ComfyUI's own templates do), so the
  frontend offers the download of a missing file;
- ``scripts/make_tiny_models.py`` links (or copies) each tiny model under its public name in the harness's model
  folders (``link_aliases``), so the tests, ``make demo`` and the workflow layer run the shipped files unmodified;
- ``scripts/make_ui_workflow.py`` writes ``properties.models`` from it (``models_entries``);
- ``tests/unit/test_bundled_workflow_models.py`` checks every name a shipped workflow uses against it.

``name`` is the file's path inside its ComfyUI model folder (``directory``); ``tiny`` is the stand-in's path inside
the harness's ``models/`` folder (one of ``make_tiny_models.FILES``); ``url`` is where the real file is published
(strings only: nothing here downloads anything). A LoRA published as a diffusers folder (``lcm-lora-sdv1-5``) is
named by its folder (``<lora:lcm-lora-sdv1-5:...>``), which Loadout's LoRA name resolution maps to the weights
file inside it. Stdlib only: ``scripts/provision.sh`` imports the generator (and so this) before any venv exists.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class PublicModel:
    name: str  # path inside its ComfyUI model folder, "/" separators
    directory: str  # ComfyUI model folder: checkpoints, loras, controlnet, vae
    tiny: str  # the tiny stand-in, relative to the harness's models/ folder
    url: str  # where the real file is published
    what: str  # one line for the README and the workflow notes

    @property
    def tag(self) -> str:
        """The name a LoRA text form uses (``<lora:TAG:...>``): a diffusers folder's name, else the file's stem."""
        if "/" in self.name:
            return self.name.rsplit("/", 1)[0]
        return self.name.rsplit(".", 1)[0]

    def entry(self) -> dict:
        """The ``properties.models`` entry of a loader node, as ComfyUI's templates write it."""
        return {"name": self.name, "url": self.url, "directory": self.directory}


HF = "https://huggingface.co"
CN11 = f"{HF}/comfyanonymous/ControlNet-v1-1_fp16_safetensors/resolve/main"
SDXL_BASE = f"{HF}/stabilityai/stable-diffusion-xl-base-1.0/resolve/main"

MODELS: tuple[PublicModel, ...] = (
    PublicModel("v1-5-pruned-emaonly-fp16.safetensors", "checkpoints", "checkpoints/loadout-tiny-sd15.safetensors",
                f"{HF}/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/v1-5-pruned-emaonly-fp16.safetensors"
                "?download=true",
                "Stable Diffusion 1.5 (the fp16 checkpoint ComfyUI's own templates use)"),
    PublicModel("sd_xl_base_1.0.safetensors", "checkpoints", "checkpoints/loadout-tiny-sdxl-full.safetensors",
                f"{SDXL_BASE}/sd_xl_base_1.0.safetensors?download=true", "Stable Diffusion XL 1.0 base"),
    PublicModel("vae-ft-mse-840000-ema-pruned.safetensors", "vae", "vae/loadout-tiny-kl-vae.safetensors",
                f"{HF}/stabilityai/sd-vae-ft-mse-original/resolve/main/vae-ft-mse-840000-ema-pruned.safetensors"
                "?download=true",
                "SD1.5's fine-tuned VAE (for VAE select 'by name'; the bundled workflows use the checkpoint's)"),
    PublicModel("control_v11p_sd15_canny_fp16.safetensors", "controlnet",
                "controlnet/loadout-tiny-controlnet.safetensors", f"{CN11}/control_v11p_sd15_canny_fp16.safetensors",
                "ControlNet 1.1 Canny for SD1.5 (fp16)"),
    PublicModel("control_v11p_sd15_lineart_fp16.safetensors", "controlnet",
                "controlnet/loadout-tiny-controlnet-b.safetensors",
                f"{CN11}/control_v11p_sd15_lineart_fp16.safetensors", "ControlNet 1.1 lineart for SD1.5 (fp16)"),
    PublicModel("diffusers_xl_canny_full.safetensors", "controlnet",
                "controlnet/loadout-tiny-sdxl-controlnet.safetensors",
                f"{HF}/lllyasviel/sd_control_collection/resolve/main/diffusers_xl_canny_full.safetensors",
                "Canny ControlNet for SDXL (diffusers' controlnet-canny-sdxl-1.0 as one file)"),
    PublicModel("PixelArtRedmond15V-PixelArt-PIXARFK.safetensors", "loras", "loras/loadout-tiny-kohya.safetensors",
                f"{HF}/artificialguybr/pixelartredmond-1-5v-pixel-art-loras-for-sd-1-5/resolve/main/"
                "PixelArtRedmond15V-PixelArt-PIXARFK.safetensors",
                "an SD1.5 style LoRA (pixel art; trigger words 'Pixel Art, PixArFK')"),
    PublicModel("add_detail.safetensors", "loras", "loras/loadout-tiny-kohya-b.safetensors",
                f"{HF}/OedoSoldier/detail-tweaker-lora/resolve/main/add_detail.safetensors",
                "an SD1.5 detail LoRA (Detail Tweaker)"),
    PublicModel("lcm-lora-sdv1-5/pytorch_lora_weights.safetensors", "loras",
                "loras/loadout-tiny-diffusers/pytorch_lora_weights.safetensors",
                f"{HF}/latent-consistency/lcm-lora-sdv1-5/resolve/main/pytorch_lora_weights.safetensors",
                "LCM-LoRA for SD1.5, a diffusers-format LoRA kept in its folder as published"),
    PublicModel("sd_xl_offset_example-lora_1.0.safetensors", "loras", "loras/loadout-tiny-sdxl-kohya.safetensors",
                f"{SDXL_BASE}/sd_xl_offset_example-lora_1.0.safetensors",
                "Stability's offset-noise example LoRA for SDXL"),
)

BY_NAME = {m.name: m for m in MODELS}
BY_TAG = {m.tag: m for m in MODELS if m.directory == "loras"}
assert len(BY_NAME) == len(MODELS) and len(BY_TAG) == sum(m.directory == "loras" for m in MODELS)


def lookup(name: str) -> PublicModel | None:
    """The table's entry for a widget value (a file name) or a LoRA text form's name (a tag), else None."""
    return BY_NAME.get(name) or BY_TAG.get(name)


def _same(src: Path, dst: Path) -> bool:
    """``dst`` is ``src`` (a hard link), or a copy of it made by ``link_aliases`` (same size and mtime)."""
    if not dst.is_file():
        return False
    if os.path.samefile(src, dst):
        return True
    a, b = src.stat(), dst.stat()
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def link_aliases(models: Path) -> list[Path]:
    """Make every public name in ``models`` (the harness's models folder) the same file as its tiny stand-in: a
    hard link (same folder tree, so the same file system), else a copy. An alias that is already that very file is
    left alone; one that is not (the stand-in was regenerated, which replaces it atomically) is made again. Only
    inside ``models``: never in the repository. Returns the aliases written."""
    written = []
    for m in MODELS:
        src, dst = models / m.tiny, models / m.directory / m.name
        if not src.is_file():
            raise FileNotFoundError(f"{src}: the tiny stand-in for {m.name} is missing (run make_tiny_models.py)")
        if _same(src, dst):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
        written.append(dst)
    return written


def aliases_current(models: Path) -> bool:
    return all((models / m.tiny).is_file() and _same(models / m.tiny, models / m.directory / m.name) for m in MODELS)
