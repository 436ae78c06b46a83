"""Matching a LoRA file's keys against a key map (module name → model weight), without ComfyUI.

The key map itself comes from ComfyUI (``nodes/comfy_compat/lora.py``); these helpers only compare names.
"""
from __future__ import annotations


def key_prefixes(key: str):
    """Every prefix of ``key`` that ends just before a '.' or '_': the module names it could belong to."""
    return (key[:i] for i, ch in enumerate(key) if ch in "._")


def relevant_entries(tensors: dict, key_map: dict) -> dict:
    """The part of the key map this file can match, in the key map's order: load_lora then checks ~one entry
    per module instead of thousands, with the same patches."""
    prefixes = {p for k in tensors for p in key_prefixes(k)}
    return {x: target for x, target in key_map.items() if x in prefixes}


def unmatched_keys(tensors: dict, key_map: dict, patches: dict) -> list[str]:
    """File keys not consumed by any patch: a key counts as used when it starts with a matched module name
    followed by '.' or '_' (``x.lora_up.weight``, ``x.alpha``, ``x_lora.up.weight``)."""
    matched = {x for x, target in key_map.items() if target in patches}
    return sorted(k for k in tensors if not any(p in matched for p in key_prefixes(k)))


TEXT_ENCODER_PREFIXES = ("lora_te_", "lora_te1_", "lora_te2_", "lora_te3_", "text_encoder.", "text_encoder_2.",
                         "text_encoders.", "lora_clip_")


def text_encoder_keys(keys) -> list[str]:
    """The keys that name a text-encoder module (kohya ``lora_te*_``, diffusers ``text_encoder*.``): with no CLIP
    connected they have nothing to patch, which is not the same as matching nothing."""
    return [k for k in keys if k.startswith(TEXT_ENCODER_PREFIXES)]
