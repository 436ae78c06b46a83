"""API-format graphs of core nodes around the tiny models, for tests and benchmarks."""
from __future__ import annotations

TINY_SD15 = "loadout-tiny-sd15.safetensors"
TINY_SDXL = "loadout-tiny-sdxl.safetensors"
TINY_VAE = "loadout-tiny-kl-vae.safetensors"
TINY_KOHYA = "loadout-tiny-kohya.safetensors"
TINY_PEFT = "loadout-tiny-peft.safetensors"
TINY_CONTROLNET = "loadout-tiny-controlnet.safetensors"
TINY_CONTROLNET_B = "loadout-tiny-controlnet-b.safetensors"


def txt2img(*, ckpt=TINY_SD15, size=64, steps=4, seed=42, lora=None, lora_strength=1.0, controlnet=None,
            vae=None, prefix="loadout/test", monitor=False) -> dict:
    """CheckpointLoaderSimple → (LoraLoader) → CLIPTextEncode ×2 → (ControlNetApplyAdvanced) → KSampler →
    VAEDecode (checkpoint's VAE or VAELoader) → (LoadoutMemoryMonitor) → SaveImage."""
    g = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": seed,
            "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}},
    }
    if lora:
        g["10"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": lora,
                                                          "strength_model": lora_strength,
                                                          "strength_clip": lora_strength}}
        g["5"]["inputs"]["model"] = ["10", 0]
        g["2"]["inputs"]["clip"] = g["3"]["inputs"]["clip"] = ["10", 1]
    if controlnet:
        g["11"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": controlnet}}
        g["12"] = {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                         "color": 0xFFFFFF}}
        g["13"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net": ["11", 0], "image": ["12", 0],
            "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
        g["5"]["inputs"]["positive"] = ["13", 0]
        g["5"]["inputs"]["negative"] = ["13", 1]
    if vae:
        g["14"] = {"class_type": "VAELoader", "inputs": {"vae_name": vae}}
        g["6"]["inputs"]["vae"] = ["14", 0]
    if monitor:
        g["15"] = {"class_type": "LoadoutMemoryMonitor", "inputs": {"value": ["6", 0], "label": "decode",
                                                                   "reset_peak": True}}
        g["9"]["inputs"]["images"] = ["15", 0]
    return g


def sample_with(model_ref: list, clip_ref: list, extra: dict, *, seed=42, steps=4, size=64,
                prefix="loadout/test") -> dict:
    """A txt2img graph whose MODEL and CLIP come from ``model_ref``/``clip_ref`` (e.g. ``["23", 0]``) of the
    nodes in ``extra``; saves both the sampled latent (node "8", SaveLatent) and the image (node "9")."""
    g = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": clip_ref}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": clip_ref}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": model_ref, "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "seed": seed,
            "steps": steps, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": prefix}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}},
    }
    g.update(extra)
    return g


def core_lora_chain(loras: list[tuple[str, float, float]], first_id: int = 30) -> tuple[dict, list, list]:
    """Chained core LoraLoader nodes from checkpoint node "1": (nodes, model_ref, clip_ref)."""
    nodes, model_ref, clip_ref = {}, ["1", 0], ["1", 1]
    for i, (name, sm, sc) in enumerate(loras):
        node_id = str(first_id + i)
        nodes[node_id] = {"class_type": "LoraLoader", "inputs": {"model": model_ref, "clip": clip_ref,
                                                                 "lora_name": name, "strength_model": sm,
                                                                 "strength_clip": sc}}
        model_ref, clip_ref = [node_id, 0], [node_id, 1]
    return nodes, model_ref, clip_ref


def loadout_stack_graph() -> dict:
    """A small txt2img through most Loadout nodes: LoRA stack, Canny of the photo into a ControlNet stack, a
    Loadout schedule with SamplerCustom, tiled VAE decode (reliability corpus baseline and soak)."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
        "2": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": TINY_KOHYA, "model_strength": 0.7,
                                                           "clip_strength": 0.5, "enabled": True, "category": ""}},
        "3": {"class_type": "LoadoutApplyLoraStack", "inputs": {"model": ["1", 0], "clip": ["1", 1],
                                                                "lora_stack": ["2", 0], "multiplier": 1.0,
                                                                "on_missing": "error"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["3", 1]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["3", 1]}},
        "6": {"class_type": "LoadImage", "inputs": {"image": "loadout_grace_hopper.jpg"}},
        "7": {"class_type": "LoadoutCannyPreprocessor", "inputs": {"image": ["6", 0], "resolution": 128,
                                                                   "output_size": "input size", "low_threshold": 100,
                                                                   "high_threshold": 200, "l2_gradient": False}},
        "8": {"class_type": "LoadoutControlNetStack", "inputs": {"control_net_name": TINY_CONTROLNET, "image": ["7", 0],
                                                                 "strength": 0.8, "start_percent": 0.0,
                                                                 "end_percent": 1.0, "enabled": True}},
        "9": {"class_type": "LoadoutApplyControlNetStack", "inputs": {"positive": ["4", 0], "negative": ["5", 0],
                                                                      "control_net_stack": ["8", 0]}},
        "10": {"class_type": "LoadoutScheduler", "inputs": {"model": ["3", 0], "schedule": "karras", "steps": 3,
                                                            "denoise": 1.0}},
        "11": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
        "12": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "13": {"class_type": "SamplerCustom", "inputs": {
            "model": ["3", 0], "add_noise": True, "noise_seed": 11, "cfg": 5.0, "positive": ["9", 0],
            "negative": ["9", 1], "sampler": ["11", 0], "sigmas": ["10", 0], "latent_image": ["12", 0]}},
        "14": {"class_type": "LoadoutVAEDecodeTiled", "inputs": {"samples": ["13", 0], "vae": ["1", 2], "tile_size": 0,
                                                                 "overlap": -1, "memory_budget_mb": 0,
                                                                 "batch_slice": 1, "memory_mode": "auto"}},
        "15": {"class_type": "SaveImage", "inputs": {"images": ["14", 0], "filename_prefix": "loadout/corpus_good"}},
    }
