"""ControlNet stack through the real server: a two-net stack equals chained core ControlNetApplyAdvanced nodes
bit for bit, on both positive and negative; disabled / zero-strength entries; errors; diffusers-style folders."""
import json
import shutil
from pathlib import Path

import matplotlib
import pytest
import torch
from harness.graphs import TINY_CONTROLNET, TINY_CONTROLNET_B, TINY_SD15
from harness.paths import harness

PHOTO = "loadout_grace_hopper.jpg"


@pytest.fixture(scope="module")
def photo(comfy):
    src = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    shutil.copyfile(src, harness().base / "input" / PHOTO)
    return PHOTO


def base_graph():
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a portrait", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "LoadImage", "inputs": {"image": PHOTO}},
        "6": {"class_type": "ImageScale", "inputs": {"image": ["5", 0], "upscale_method": "bilinear", "width": 64,
                                                     "height": 64, "crop": "center"}},
        "7": {"class_type": "Canny", "inputs": {"image": ["6", 0], "low_threshold": 0.3, "high_threshold": 0.6}},
    }


def sampler(pos, neg, node_id, prefix):
    return {
        node_id: {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": pos, "negative": neg, "latent_image": ["4", 0], "seed": 3, "steps": 4,
            "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        node_id + "9": {"class_type": "SaveLatent", "inputs": {"samples": [node_id, 0],
                                                                "filename_prefix": f"loadout/{prefix}"}},
    }


def stack_node(name, image, strength, start, end, prev=None, enabled=True, **extra):
    inputs = {"control_net_name": name, "image": image, "strength": strength, "start_percent": start,
              "end_percent": end, "enabled": enabled, **extra}
    if prev:
        inputs["control_net_stack"] = prev
    return {"class_type": "LoadoutControlNetStack", "inputs": inputs}


def combo_options(spec) -> list:
    """A combo input's options from /object_info: V1 served [[...], {...}], V3 serves ["COMBO", {"options": [...]}]."""
    return spec[1]["options"] if spec[0] == "COMBO" else spec[0]


def latents(comfy, result):
    from safetensors.torch import load

    return {f["node"][:-1]: load(comfy.client.fetch(f))["latent_tensor"]
            for f in result.files() if f["kind"] == "latents"}


def test_two_net_stack_equals_chained_core_apply_nodes(comfy, photo):
    g = base_graph()
    # ours: two entries with their own images, strengths and windows
    g["20"] = stack_node(TINY_CONTROLNET, ["6", 0], 0.8, 0.0, 0.6)
    g["21"] = stack_node(TINY_CONTROLNET_B, ["7", 0], 0.5, 0.3, 1.0, prev=["20", 0])
    g["22"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["21", 0]}}
    g.update(sampler(["22", 0], ["22", 1], "30", "cn_ours"))
    # core: the same two nets chained
    g["40"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": TINY_CONTROLNET}}
    g["41"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": TINY_CONTROLNET_B}}
    g["42"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net": ["40", 0], "image": ["6", 0], "strength": 0.8,
        "start_percent": 0.0, "end_percent": 0.6}}
    g["43"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["42", 0], "negative": ["42", 1], "control_net": ["41", 0], "image": ["7", 0], "strength": 0.5,
        "start_percent": 0.3, "end_percent": 1.0}}
    g.update(sampler(["43", 0], ["43", 1], "50", "cn_core"))
    # no control at all, and control on the positive only (proves the negative is controlled too)
    g.update(sampler(["2", 0], ["3", 0], "60", "cn_none"))
    g.update(sampler(["22", 0], ["3", 0], "70", "cn_pos_only"))
    result = comfy.run(g)
    lat = latents(comfy, result)
    assert torch.equal(lat["30"], lat["50"]), "stack must equal the core chain bit for bit"
    assert not torch.equal(lat["30"], lat["60"]), "the nets must change the result"
    assert not torch.equal(lat["30"], lat["70"]), "the negative conditioning must carry the nets too"
    report = result.outputs["22"]["text"][0]
    assert f"1. {TINY_CONTROLNET}: strength 0.8, steps 0–0.6" in report
    assert f"2. {TINY_CONTROLNET_B}: strength 0.5, steps 0.3–1" in report


def test_disabled_and_zero_strength_entries_change_nothing(comfy, photo):
    g = base_graph()
    g["20"] = stack_node(TINY_CONTROLNET, ["6", 0], 0.0, 0.0, 1.0)
    g["21"] = stack_node(TINY_CONTROLNET_B, ["6", 0], 1.0, 0.0, 1.0, prev=["20", 0], enabled=False)
    g["22"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["21", 0]}}
    g.update(sampler(["22", 0], ["22", 1], "30", "cn_off"))
    g.update(sampler(["2", 0], ["3", 0], "60", "cn_plain"))
    result = comfy.run(g)
    lat = latents(comfy, result)
    assert torch.equal(lat["30"], lat["60"])
    assert "strength 0, skipped" in result.outputs["22"]["text"][0]


def test_control_net_input_and_loader_node_mix(comfy, photo):
    g = base_graph()
    g["40"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": TINY_CONTROLNET}}
    g["20"] = stack_node("None", ["6", 0], 0.7, 0.0, 1.0, control_net=["40", 0])
    g["22"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["20", 0]}}
    g["42"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net": ["40", 0], "image": ["6", 0], "strength": 0.7,
        "start_percent": 0.0, "end_percent": 1.0}}
    g.update(sampler(["22", 0], ["22", 1], "30", "cn_in"))
    g.update(sampler(["42", 0], ["42", 1], "50", "cn_in_core"))
    lat = latents(comfy, comfy.run(g))
    assert torch.equal(lat["30"], lat["50"])


@pytest.mark.parametrize("change,needle", [
    ({"control_net_name": "None"}, "choose a ControlNet"),
    ({"start_percent": 0.8, "end_percent": 0.2}, "is after end_percent"),
    ({"control_net_name": "../../etc/passwd"}, "control_net_name"),
])
def test_bad_entries_are_node_errors_naming_the_input(comfy, photo, change, needle):
    g = base_graph()
    g["20"] = stack_node(TINY_CONTROLNET, ["6", 0], 1.0, 0.0, 1.0)
    g["20"]["inputs"].update(change)
    g["22"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["20", 0]}}
    g.update(sampler(["22", 0], ["22", 1], "30", "cn_bad"))
    message = str(comfy.run_expecting_error(g))
    assert needle in message


def test_diffusers_style_folder_is_listed_and_loads(comfy, photo):
    folder = harness().models / "controlnet" / "loadout-tiny-cn-folder"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    shutil.copyfile(harness().models / "controlnet" / TINY_CONTROLNET, folder / "diffusion_pytorch_model.safetensors")
    try:
        names = combo_options(comfy.client.object_info()["LoadoutControlNetStack"]["input"]["required"][
            "control_net_name"])
        assert "loadout-tiny-cn-folder" in names
        g = base_graph()
        g["20"] = stack_node("loadout-tiny-cn-folder", ["6", 0], 0.8, 0.0, 0.6)
        g["22"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["20", 0]}}
        g["23"] = stack_node(TINY_CONTROLNET, ["6", 0], 0.8, 0.0, 0.6)
        g["24"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["23", 0]}}
        g.update(sampler(["22", 0], ["22", 1], "30", "cn_folder"))
        g.update(sampler(["24", 0], ["24", 1], "50", "cn_file"))
        lat = latents(comfy, comfy.run(g))
        assert torch.equal(lat["30"], lat["50"])
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("change,needle", [
    ({"start_percent": 0.8, "end_percent": 0.2}, "input 'start_percent': 0.8 is after end_percent 0.2"),
    ({"strength": 10.5}, "input 'strength': 10.5 is outside 0–10"),
    ({"control_net_name": "nope.safetensors"},
     "input 'control_net_name': 'nope.safetensors' is not in your controlnet"),
])
def test_entry_values_are_refused_at_validation_by_the_stack_node(comfy, photo, change, needle):
    from loadout.cli.client import PromptRejected

    g = base_graph()
    g["20"] = stack_node(TINY_CONTROLNET, ["6", 0], 1.0, 0.0, 1.0)
    g["20"]["inputs"].update(change)
    g["22"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["20", 0]}}
    g.update(sampler(["22", 0], ["22", 1], "30", "cn_refused"))
    err = comfy.run_expecting_error(g)
    assert isinstance(err, PromptRejected) and f"ControlNet stack (Loadout): {needle}" in str(err)


def test_disabled_entry_with_start_after_end_is_left_out(comfy, photo):
    g = base_graph()
    g["20"] = stack_node(TINY_CONTROLNET, ["6", 0], 1.0, 0.9, 0.1, enabled=False)
    g["22"] = {"class_type": "LoadoutApplyControlNetStack", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net_stack": ["20", 0]}}
    g.update(sampler(["22", 0], ["22", 1], "30", "cn_disabled"))
    assert comfy.run(g).outputs["22"]["text"][0] == "empty stack: conditioning passed through"
