"""The enhanced-request compiler: graph shape, field-named errors for bad requests, validation by field."""
import json

import pytest
from loadout.cli.request_compiler import RequestError, compile_request, validate

FULL = {
    "prompt": "a lighthouse", "negative": "blurry", "model": "m.safetensors",
    "lora": {"enabled": True, "global_weight": 1.5, "models": [{"name": "a", "weight": 0.8, "category": "style"}, "b"]},
    "controlnet": [{"type": "canny", "model": "cn.safetensors", "image": "photo.jpg", "strength": 0.8, "end": 0.9}],
    "vae": {"name": "baked", "tiled": True, "tile_size": 512}, "scheduler": "DPM++ 2M Karras",
    "steps": 4, "cfg": 5.0, "seed": 3, "width": 64, "height": 96, "batch": 2,
    "offload": {"strategy": "offload", "budget_gb": 2.0}, "monitor": True,
}


def _by_type(graph):
    out = {}
    for node_id, node in graph.items():
        out.setdefault(node["class_type"], []).append((node_id, node["inputs"]))
    return out


def test_a_full_request_becomes_one_chain_of_loadout_and_core_nodes():
    c = compile_request(FULL)
    types = _by_type(c.graph)
    assert [t for t in types] == ["CheckpointLoaderSimple", "LoadoutLoraStackFromText", "LoadoutApplyLoraStack",
                                  "LoadoutOffloadModel", "CLIPTextEncode", "LoadImage", "LoadoutPreprocessor",
                                  "LoadoutControlNetStack", "LoadoutApplyControlNetStack", "EmptyLatentImage",
                                  "LoadoutSamplerPreset", "SamplerCustom", "LoadoutVAEDecodeTiled",
                                  "LoadoutMemoryMonitor", "SaveImage"]
    stack = types["LoadoutLoraStackFromText"][0][1]
    assert json.loads(stack["text"]) == FULL["lora"]
    sampler = types["SamplerCustom"][0][1]
    assert sampler["noise_seed"] == 3 and sampler["cfg"] == 5.0
    offload_id = types["LoadoutOffloadModel"][0][0]
    assert sampler["model"] == [offload_id, 0], "the offloaded model samples"
    apply_cn = types["LoadoutApplyControlNetStack"][0][0]
    assert sampler["positive"] == [apply_cn, 0] and sampler["negative"] == [apply_cn, 1]
    assert types["EmptyLatentImage"][0][1] == {"width": 64, "height": 96, "batch_size": 2}
    assert types["LoadoutPreprocessor"][0][1]["preprocessor"] == "canny"
    assert c.fields[(types["LoadoutControlNetStack"][0][0], "control_net_name")] == "controlnet[0].model"
    assert c.graph[c.output_node]["class_type"] == "SaveImage"


def test_minimal_request_and_schedule_form():
    c = compile_request({"prompt": "x", "scheduler": {"schedule": "ays_sdxl", "sampler": "dpmpp_2m"}},
                        default_model="only.safetensors")
    types = _by_type(c.graph)
    assert "LoadoutScheduler" in types and types["KSamplerSelect"][0][1] == {"sampler_name": "dpmpp_2m"}
    assert "VAEDecode" in types and "LoadoutVAESelect" not in types
    assert types["CheckpointLoaderSimple"][0][1]["ckpt_name"] == "only.safetensors"


@pytest.mark.parametrize("patch,field", [
    ({"prompt": ""}, "prompt"), ({"prompt": 3}, "prompt"), ({"stpes": 3}, "stpes"), ({"steps": 0}, "steps"),
    ({"steps": 2.5}, "steps"), ({"cfg": "high"}, "cfg"), ({"width": 100}, "width"), ({"batch": 0}, "batch"),
    ({"seed": -1}, "seed"), ({"monitor": "yes"}, "monitor"),
    ({"lora": {"models": [{"weight": 1}]}}, "lora.models[0].name"),
    ({"lora": {"models": [{"name": "a", "wieght": 1}]}}, "lora.models[0].wieght"),
    ({"lora": {"global_weight": "x"}}, "lora.global_weight"), ({"lora": 5}, "lora"),
    ({"controlnet": [{"model": "cn"}]}, "controlnet[0].image"),
    ({"controlnet": [{"model": "cn", "image": "i", "start": 0.8, "end": 0.2}]}, "controlnet[0].start"),
    ({"controlnet": [{"model": "cn", "image": "i", "strength": 11}]}, "controlnet[0].strength"),
    ({"controlnet": "canny"}, "controlnet"), ({"vae": {"tiled": "on"}}, "vae.tiled"), ({"vae": 3}, "vae"),
    ({"scheduler": {"preset": "Euler", "sampler": "euler"}}, "scheduler.sampler"),
    ({"offload": {"budget_gb": -1}}, "offload.budget_gb"), ({"offload": {"strat": "x"}}, "offload.strat"),
])
def test_bad_requests_name_the_field(patch, field):
    request = {**FULL, **patch}
    with pytest.raises(RequestError) as e:
        compile_request(request)
    assert e.value.field == field, str(e.value)
    assert str(e.value).startswith(field + ":")


def test_a_request_without_a_model_needs_one():
    with pytest.raises(RequestError, match="^model: is required"):
        compile_request({"prompt": "x"})


INFO = {
    "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["m.safetensors"]]}}},
    "CLIPTextEncode": {"input": {"required": {"text": ["STRING", {}], "clip": ["CLIP"]}}},
    "EmptyLatentImage": {"input": {"required": {"width": ["INT", {"min": 16, "max": 8192}],
                                                "height": ["INT", {"min": 16, "max": 8192}],
                                                "batch_size": ["INT", {"min": 1, "max": 4096}]}}},
    "LoadoutSamplerPreset": {"input": {"required": {"model": ["MODEL"], "preset": ["STRING", {}],
                                                    "steps": ["INT", {"min": 1, "max": 10000}],
                                                    "denoise": ["FLOAT", {"min": 0, "max": 1}]}}},
    "SamplerCustom": {"input": {"required": {k: ["X"] for k in ("model", "positive", "negative", "sampler",
                                                                 "sigmas", "latent_image")} |
                                {"add_noise": ["BOOLEAN", {}], "noise_seed": ["INT", {"min": 0}],
                                 "cfg": ["FLOAT", {"min": 0.0, "max": 100.0}]}}},
    "VAEDecode": {"input": {"required": {"samples": ["LATENT"], "vae": ["VAE"]}}},
    "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {}]}}},
}


def lora_info(files: list[str]) -> dict:
    """INFO plus the LoRA nodes, with ``files`` in the LoRA folders."""
    return dict(INFO, LoadoutLoraStack={"input": {"required": {"lora_name": [["None", *files]]}}},
                LoadoutLoraStackFromText={"input": {"required": {"text": ["STRING", {}]}}},
                LoadoutApplyLoraStack={"input": {"required": {"model": ["MODEL"], "lora_stack": ["LORA_STACK"],
                                                              "multiplier": ["FLOAT", {}],
                                                              "on_missing": [["error", "skip and report"]]},
                                                 "optional": {"clip": ["CLIP"]}}})


def test_validation_against_object_info_names_the_field():
    validate(compile_request({"prompt": "x", "model": "m.safetensors", "width": 64, "height": 64}), INFO)
    with pytest.raises(RequestError, match=r"^model: 'other.safetensors' is not available on the server; "
                                           r"choose one of: m.safetensors"):
        validate(compile_request({"prompt": "x", "model": "other.safetensors"}), INFO)
    with pytest.raises(RequestError, match=r"^width: 16384 is above the maximum 8192"):
        validate(compile_request({"prompt": "x", "model": "m.safetensors", "width": 16384}), INFO)
    with pytest.raises(RequestError, match=r"^server: node type LoadoutLoraStackFromText is not installed"):
        validate(compile_request({"prompt": "x", "model": "m.safetensors", "lora": ["a"]}), INFO)
    info = lora_info(["styles/a.safetensors"])
    validate(compile_request({"prompt": "x", "model": "m.safetensors", "lora": ["a", "styles/a"]}), info)
    with pytest.raises(RequestError, match=r"^lora.models\[1\].name: LoRA 'zz' is not in the server's LoRA folders"):
        validate(compile_request({"prompt": "x", "model": "m.safetensors",
                                  "lora": {"models": ["a", {"name": "zz"}]}}), info)
