"""Pins what ``nodes/comfy_compat/devices.py`` relies on, on the ComfyUI under test (in-process, CPU, the tiny SD1.5
checkpoint): patcher device fields, model management's memory figures and loaded-model list, OOM_EXCEPTION being
what the pack's recogniser knows, and device placement on clones only."""
import pytest
import torch
from harness.graphs import TINY_SD15
from harness.inprocess import import_comfyui
from harness.paths import harness


@pytest.fixture(scope="module")
def loaded():
    h = harness()
    import_comfyui(h.comfyui)
    import comfy.sd

    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(
        str(h.models / "checkpoints" / TINY_SD15), output_vae=True, output_clip=True)
    return model, clip, vae


def test_a_patcher_loads_on_the_torch_device_and_parks_on_the_offload_device(loaded):
    import comfy.model_management as mm
    from loadout.nodes.comfy_compat import devices

    model, clip, _ = loaded
    assert devices.patcher_devices(model) == (mm.get_torch_device(), mm.unet_offload_device())
    assert devices.patcher_devices(clip.patcher)[0] == torch.device("cpu")  # --cpu: everything on the CPU


def test_memory_figures_are_numbers_in_bytes():
    from loadout.nodes.comfy_compat import devices

    assert devices.free_memory(torch.device("cpu")) > 64 << 20
    assert devices.bytes_per_element(torch.float16) == devices.bytes_per_element(torch.bfloat16) == 2
    assert devices.bytes_per_element(torch.float32) == 4
    assert devices.bytes_per_element(torch.float8_e4m3fn) == 1
    assert devices.minimum_inference_memory() > 0


def test_loaded_models_lists_what_load_models_loaded(loaded):
    from loadout.nodes.comfy_compat import devices

    model, _, _ = loaded
    devices.load_models([model])
    mine = [m for m in devices.loaded_models() if m.kind == type(model.model).__name__]
    assert mine, devices.loaded_models()
    assert mine[0].device == "cpu" and 0 < mine[0].loaded_bytes <= mine[0].total_bytes
    lines = devices.loaded_models_lines()
    assert lines[0].startswith("ComfyUI device cpu: ") and lines[0].endswith(" MiB free")
    assert any(line.startswith(f"  loaded {mine[0].kind}: ") and " MiB on cpu of " in line for line in lines)


def test_model_managements_oom_exception_is_recognised():
    import comfy.model_management as mm
    from loadout.core.common.oom import is_oom

    assert mm.OOM_EXCEPTION is torch.OutOfMemoryError  # torch.cuda's alias, present in CPU builds too
    assert is_oom(mm.OOM_EXCEPTION("CUDA out of memory. Tried to allocate 2.00 GiB"))


def test_placement_changes_the_clones_and_core_loads_them_there(loaded):
    import comfy.model_management as mm
    from loadout.nodes.comfy_compat import devices

    _, clip, vae = loaded
    target = torch.device("meta")  # never run here: only where core would load it
    before = (clip.patcher.load_device, vae.device, vae.patcher.load_device)
    placed_clip = devices.place_clip(clip, target)
    placed_vae = devices.place_vae(vae, target)
    assert (clip.patcher.load_device, vae.device, vae.patcher.load_device) == before, "the inputs keep their devices"
    assert placed_clip.kind == "SD1ClipModel" and placed_vae.kind == "AutoencoderKL"
    assert placed_clip.before == before[0] and placed_clip.after == target
    assert placed_vae.before == before[1] and placed_vae.after == target
    assert mm.LoadedModel(placed_clip.obj.patcher).device == target  # core's loader honours load_device
    assert mm.LoadedModel(placed_vae.obj.patcher).device == target
    assert placed_vae.obj.first_stage_model is vae.first_stage_model  # a copy, not new weights
    assert devices.place_clip(clip, None).after == before[0]
