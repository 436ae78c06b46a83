"""Pins what ``nodes/comfy_compat/lora.py`` and ``model_family.py`` rely on, on the ComfyUI under test (imported in
this process, CPU, the harness's tiny models): core's key maps extended with the diffusers/PEFT names, the
patches ``convert_lora`` + ``load_lora`` build from a file, and the model family read from the model config."""
import pytest
from harness.graphs import TINY_KOHYA, TINY_PEFT, TINY_SD15, TINY_SDXL
from harness.inprocess import import_comfyui
from harness.paths import harness


@pytest.fixture(scope="module")
def tiny():
    h = harness()
    import_comfyui(h.comfyui)
    import comfy.sd

    def load(name):
        model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(h.models / "checkpoints" / name),
                                                                  output_vae=False)
        return model, clip

    return {"sd15": load(TINY_SD15), "sdxl": load(TINY_SDXL), "loras": h.models / "loras"}


def test_key_map_is_cores_plus_diffusers_and_peft_names(tiny):
    import comfy.lora
    from loadout.nodes.comfy_compat.lora import lora_key_map

    model, clip = tiny["sd15"]
    km = lora_key_map(model, clip)
    core_unet = comfy.lora.model_lora_keys_unet(model.model, {})
    core_clip = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, {})
    assert all(km.mapping[k] == v for k, v in {**core_unet, **core_clip}.items()), "core's entries are kept as-is"
    assert km.clip_targets == frozenset(core_clip.values()) and km.clip_targets
    name = "down_blocks.0.resnets.0.conv1"
    target = "diffusion_model.input_blocks.1.0.in_layers.2.weight"  # unet_to_diffusers' name for it
    assert km.mapping["unet." + name] == km.mapping["base_model.model." + name] == km.mapping[name] == target
    assert lora_key_map(model.clone(), clip.clone()) is km, "clones share the diffusion model: one key map"


def test_lora_patches_of_kohya_and_peft_files_are_the_same_keys(tiny):
    from loadout.core.lora.files import read_lora_file
    from loadout.nodes.comfy_compat.lora import lora_key_map, lora_patches

    model, clip = tiny["sd15"]
    km = lora_key_map(model, clip)
    got = {}
    for name in (TINY_KOHYA, TINY_PEFT):
        tensors, _ = read_lora_file(tiny["loras"] / name)
        derived = lora_patches(tensors, km)
        assert derived.unmatched == [] and derived.misfit == [] and len(derived.patches) == 120, name
        assert derived.clip_keys == sum(1 for k in derived.patches if k in km.clip_targets) == 72, name
        got[name] = set(derived.patches)
    assert got[TINY_KOHYA] == got[TINY_PEFT]
    model_only = lora_key_map(model, None)
    tensors, _ = read_lora_file(tiny["loras"] / TINY_KOHYA)
    derived = lora_patches(tensors, model_only)
    # no CLIP connected: the text-encoder keys are counted apart, not as "unmatched"
    assert len(derived.patches) == 48 and derived.unmatched == [] and derived.no_clip > 0 and derived.clip_keys == 0


def test_model_family_from_the_model_config(tiny):
    from loadout.nodes.comfy_compat.model_family import model_family

    assert model_family(tiny["sd15"][0]) == "SD1"
    assert model_family(tiny["sdxl"][0]) == "SDXL"
    assert model_family(object()) == "other"
