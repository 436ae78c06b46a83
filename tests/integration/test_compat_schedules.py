"""Pins what ``nodes/comfy_compat/schedules.py`` relies on, on the ComfyUI under test (in this process, CPU, the
tiny SD1.5): the prediction type and model_sampling fields the schedules read, core's GITS table, and outputs typed
by core KSampler's live lists passing ComfyUI's link check into KSampler's combo inputs."""
import pytest
import torch
from harness.graphs import TINY_SD15
from harness.inprocess import import_comfyui
from harness.paths import harness


@pytest.fixture(scope="module")
def model():
    h = harness()
    import_comfyui(h.comfyui)
    import comfy.sd

    return comfy.sd.load_checkpoint_guess_config(str(h.models / "checkpoints" / TINY_SD15), output_vae=False,
                                                 output_clip=False)[0]


def test_sampling_info_of_an_sd15_model(model):
    import comfy.samplers
    from loadout.nodes.comfy_compat.schedules import prediction_type, sampling_class_name, sampling_info

    assert prediction_type(model) == "eps"
    assert sampling_class_name(model) == type(model.get_model_object("model_sampling")).__name__
    info = sampling_info(model)
    assert (info.family, info.prediction) == ("SD1", "eps")
    assert abs(info.sigma_min - 0.0291675) < 1e-6 and abs(info.sigma_max - 14.614642) < 1e-5
    assert info.table.shape == (1000,) and (info.table[1:] > info.table[:-1]).all()
    assert info.core_names == tuple(comfy.samplers.KSampler.SCHEDULERS)
    ms = model.get_model_object("model_sampling")
    assert torch.equal(info.core("karras", 6), comfy.samplers.calculate_sigmas(ms, "karras", 6).cpu().float())
    t = torch.tensor([999.0, 0.0])
    assert torch.allclose(info.sigma_at(t).float(), torch.tensor([info.table[-1], info.table[0]]).float())
    assert isinstance(info.gits_table, dict) and 1.2 in {round(k, 2) for k in info.gits_table}


def test_ksampler_typed_outputs_link_to_ksampler():
    import comfy.samplers
    import nodes as core
    from comfy_execution.validation import validate_node_input
    from loadout.nodes.comfy_compat.schedules import ksampler_list_output
    from loadout.nodes.schedules import LoadoutAutoSampler, LoadoutSamplerPreset

    out = ksampler_list_output("sampler_name", comfy.samplers.KSampler.SAMPLERS, "sampler_name", "t")
    assert out.io_type is comfy.samplers.KSampler.SAMPLERS
    ksampler = core.KSampler.INPUT_TYPES()["required"]
    for cls in (LoadoutSamplerPreset, LoadoutAutoSampler):
        types = cls.RETURN_TYPES
        assert types[2] is comfy.samplers.KSampler.SAMPLERS and types[3] is comfy.samplers.KSampler.SCHEDULERS
        assert validate_node_input(types[2], ksampler["sampler_name"][0])
        assert validate_node_input(types[3], ksampler["scheduler"][0])
        assert not validate_node_input(types[2], "STRING")
