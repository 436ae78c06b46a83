"""In-process ComfyUI (CPU) with the harness's tiny models, for the reliability tests that call nodes directly."""
import numpy as np
import pytest
import torch
from harness.graphs import TINY_SD15
from harness.inprocess import import_comfyui
from harness.paths import harness
from PIL import Image


@pytest.fixture(scope="module")
def comfy_inprocess():
    h = harness()
    import_comfyui(h.comfyui)
    import folder_paths

    for key in ("checkpoints", "loras", "controlnet", "vae", "annotators"):
        folder_paths.add_model_folder_path(key, str(h.models / key), is_default=True)
    import comfy.sd
    import nodes as core

    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(
        str(h.models / "checkpoints" / TINY_SD15), output_vae=True, output_clip=True)
    pos = core.CLIPTextEncode().encode(clip, "a lighthouse")[0]
    neg = core.CLIPTextEncode().encode(clip, "blurry")[0]
    photo = np.asarray(Image.open(h.base / "input" / "loadout_grace_hopper.jpg").convert("RGB").resize((96, 80)))
    image = torch.from_numpy(photo.astype(np.float32) / 255.0)[None]
    return {"model": model, "clip": clip, "vae": vae, "pos": pos, "neg": neg, "image": image,
            "latent": {"samples": torch.randn(1, 4, 8, 12, generator=torch.Generator().manual_seed(0))}}
