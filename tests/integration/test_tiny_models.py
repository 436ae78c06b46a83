"""The harness's tiny models through ComfyUI's own loaders and sampler: accepted, finite, and each one matters."""
import numpy as np
import pytest
from harness.graphs import TINY_CONTROLNET, TINY_KOHYA, TINY_PEFT, TINY_SDXL, TINY_VAE, txt2img


@pytest.fixture(scope="module")
def baseline(comfy):
    return comfy.image(comfy.run(txt2img(seed=11, prefix="loadout/tiny_base")))


def test_sd15_checkpoint_samples_a_finite_varied_image(comfy, baseline):
    assert baseline.shape == (64, 64, 3)
    assert baseline.std() > 1.0, "a constant image means NaN/Inf were clipped away"


def test_kohya_lora_matches_every_key_and_changes_the_image(comfy, baseline):
    out = comfy.image(comfy.run(txt2img(seed=11, lora=TINY_KOHYA, prefix="loadout/tiny_kohya")))
    assert not np.array_equal(out, baseline)


@pytest.mark.allow_log(r"lora key not loaded: unet\..*\.to_(q|k|v|out)")
def test_peft_lora_core_gap_is_exactly_the_attention_projections(comfy, baseline):
    offset = len(comfy.server.log_text())
    out = comfy.image(comfy.run(txt2img(seed=11, lora=TINY_PEFT, prefix="loadout/tiny_peft")))
    missed = [l for l in comfy.server.log_text()[offset:].splitlines() if "lora key not loaded" in l]
    # ComfyUI 0.3.75 maps diffusers attention names only as ".processor.to_q": 32 modules x (lora_A, lora_B).
    assert len(missed) == 64, missed[:4]
    assert not np.array_equal(out, baseline)  # the text encoder and the other UNet modules did apply


def test_controlnet_loads_and_steers(comfy, baseline):
    out = comfy.image(comfy.run(txt2img(seed=11, controlnet=TINY_CONTROLNET, prefix="loadout/tiny_cn")))
    assert not np.array_equal(out, baseline)


def test_standalone_vae_decodes(comfy, baseline):
    out = comfy.image(comfy.run(txt2img(seed=11, vae=TINY_VAE, prefix="loadout/tiny_vae")))
    assert out.shape == baseline.shape and out.std() > 1.0
    assert not np.array_equal(out, baseline)  # another random VAE decodes the same latent differently


def test_sdxl_family_checkpoint_loads(comfy):
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SDXL}},
        "2": {"class_type": "LoadoutMemoryMonitor", "inputs": {"value": ["1", 0], "label": "sdxl", "reset_peak": True}},
    }
    comfy.run(graph)
    assert "no CLIP/text encoder weights in checkpoint" in comfy.server.log_text()
