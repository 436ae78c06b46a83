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
