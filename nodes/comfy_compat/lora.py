"""Applying a LORA_STACK to a ComfyUI MODEL/CLIP, through ComfyUI's own key maps and weight adapters.

Core's key map is extended (never overridden) with the diffusers names of the UNet's modules as diffusers and
PEFT write them (``unet.…attn1.to_q``, ``base_model.model.…``): ComfyUI 0.3.75 only knows the old
``.processor.to_q`` spelling and drops those keys ("lora key not loaded"). Every format core understands
(kohya, LyCORIS, DoRA, ...) goes through ``comfy.lora.load_lora`` unchanged, so results equal core's.
"""
from __future__ import annotations

import dataclasses
import logging
import weakref

import comfy.lora
import comfy.lora_convert
import comfy.utils
import folder_paths

from ...core.common import config
from ...core.common.cache import DEFAULT_MAX_BYTES, LoraCache, tensor_bytes
from ...core.lora.files import LoraFileError, detect_format, read_lora_file
from ...core.lora.metadata import base_family, trigger_words
from ...core.lora.resolve import LoraNameError, LoraNotFound, resolve_lora
from ...core.lora.stack import normalise_stack
from .model_family import model_family

logger = logging.getLogger(__name__)
ON_MISSING = ("error", "skip and report")
DIFFUSERS_PREFIXES = ("unet.", "base_model.model.", "")


@dataclasses.dataclass
class LoadedLora:
    """A file's tensors and metadata, plus what was derived from them per key map (patches, unmatched keys):
    cached together, so evicting the file frees both."""

    tensors: dict
    metadata: dict
    derived: dict = dataclasses.field(default_factory=dict)


def _read(path) -> LoadedLora:
    tensors, metadata = read_lora_file(path)
    return LoadedLora(tensors, metadata)


CACHE = LoraCache(_read, DEFAULT_MAX_BYTES, sizeof=lambda loaded: tensor_bytes(loaded.tensors))


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a cache key for derived patches
class KeyMap:
    mapping: dict
    clip_targets: frozenset


# (id of diffusion model, id of text encoder) -> (weakrefs that prove they are still the same objects, KeyMap)
_KEY_MAPS: dict = {}


@dataclasses.dataclass
class AppliedLora:
    index: int
    name: str
    status: str  # applied | skipped (strength 0) | missing (skipped)
    path: str = ""
    format: str = ""
    model_strength: float = 0.0
    clip_strength: float = 0.0
    unet_keys: int = 0
    clip_keys: int = 0
    unmatched: list = dataclasses.field(default_factory=list)
    load_ms: float = 0.0
    cache_hit: bool = False
    triggers: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)


def lora_folders() -> list[str]:
    extra = config.section("lora").get("extra_dirs", [])
    return list(folder_paths.get_folder_paths("loras")) + [str(d) for d in extra]


def configure_cache() -> None:
    mb = config.section("lora").get("cache_max_mb")
    wanted = DEFAULT_MAX_BYTES if mb is None else int(float(mb) * 1024 * 1024)
    if wanted != CACHE.max_bytes:
        CACHE.resize(wanted)


def lora_key_map(model, clip) -> KeyMap:
    """Core's key map for MODEL (+ CLIP) with the diffusers/PEFT UNet names added, and the CLIP targets;
    computed once per (diffusion model, text encoder) pair."""
    unet = model.model if model is not None else None
    encoder = clip.cond_stage_model if clip is not None else None
    key = (id(unet), id(encoder))
    hit = _KEY_MAPS.get(key)
    if hit and all((ref() if ref else None) is obj for ref, obj in zip(hit[0], (unet, encoder))):
        return hit[1]
    key_map = _build_key_map(model, clip)
    refs = tuple(weakref.ref(obj) if obj is not None else None for obj in (unet, encoder))
    if len(_KEY_MAPS) >= 16:
        _KEY_MAPS.pop(next(iter(_KEY_MAPS)))
    _KEY_MAPS[key] = (refs, key_map)
    return key_map


def _build_key_map(model, clip) -> KeyMap:
    key_map: dict = {}
    if model is not None:
        key_map = comfy.lora.model_lora_keys_unet(model.model, key_map)
        try:
            diffusers = comfy.utils.unet_to_diffusers(model.model.model_config.unet_config)
        except (KeyError, TypeError, AttributeError):
            diffusers = {}
        for dkey, ldm_key in diffusers.items():
            if dkey.endswith(".weight"):
                for prefix in DIFFUSERS_PREFIXES:
                    key_map.setdefault(prefix + dkey[: -len(".weight")], "diffusion_model." + ldm_key)
    clip_targets: set = set()
    if clip is not None:
        clip_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, {})
        clip_targets = set(clip_map.values())
        for k, v in clip_map.items():
            key_map.setdefault(k, v)
    return KeyMap(key_map, frozenset(clip_targets))


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


def files_signature(names) -> str:
    """Size and mtime of each named LoRA file, for IS_CHANGED: a replaced file re-runs the graph from the node
    that names it (ComfyUI would otherwise serve its cached output)."""
    folders = lora_folders()
    parts = []
    for name in names:
        try:
            st = resolve_lora(name, folders).stat()
            parts.append(f"{name}={st.st_size}:{st.st_mtime_ns}")
        except (LoraNameError, OSError):
            parts.append(f"{name}=?")
    return "|".join(parts)


def apply_lora_stack(model, clip, stack, multiplier: float = 1.0, on_missing: str = "error",
                     node: str = "Apply LoRA stack (Loadout)"):
    """Return (new MODEL, new CLIP or None, [AppliedLora]). The inputs are cloned, never modified."""
    if on_missing not in ON_MISSING:
        raise ValueError(f"[Loadout] {node}: input 'on_missing' must be one of {ON_MISSING}, got {on_missing!r}")
    entries = normalise_stack(stack)
    configure_cache()
    new_model = model.clone() if model is not None else None
    new_clip = clip.clone() if clip is not None else None
    key_map = lora_key_map(model, clip) if entries else None
    family = model_family(model) if model is not None else None
    family = {"SDXL_REFINER": "SDXL", "other": None}.get(family, family)  # metadata names no refiner
    folders = lora_folders()
    results = []
    for index, entry in enumerate(entries, start=1):
        sm = entry.model_strength * multiplier
        sc = entry.clip_strength * multiplier if clip is not None else 0.0
        result = AppliedLora(index, entry.name, "applied", model_strength=sm, clip_strength=sc)
        results.append(result)
        if sm == 0 and sc == 0:
            result.status = "skipped (strength 0)"
            continue
        try:
            path = resolve_lora(entry.name, folders)
        except LoraNotFound as e:
            if on_missing == "error":
                raise ValueError(f"[Loadout] {node}: input 'lora_stack', entry {index}: {e} "
                                 "(or set on_missing to 'skip and report')") from None
            result.status = "missing (skipped)"
            result.warnings.append(str(e))
            continue
        except LoraNameError as e:
            raise ValueError(f"[Loadout] {node}: input 'lora_stack', entry {index}: {e}") from None
        result.path = str(path)
        try:
            looked = CACHE.get(path)
        except LoraFileError as e:
            raise ValueError(f"[Loadout] {node}: input 'lora_stack', entry {index} ({path}): {e}") from None
        loaded = looked.value
        metadata = loaded.metadata
        result.cache_hit, result.load_ms = looked.hit, looked.seconds * 1000
        derived = loaded.derived.get(key_map)
        if derived is None:
            converted = comfy.lora_convert.convert_lora(loaded.tensors)
            mapping = relevant_entries(converted, key_map.mapping)
            patches = comfy.lora.load_lora(converted, mapping, log_missing=False)
            derived = (patches, unmatched_keys(converted, mapping, patches), detect_format(loaded.tensors))
            loaded.derived[key_map] = derived
        patches, result.unmatched, result.format = derived
        result.clip_keys = sum(1 for k in patches if k in key_map.clip_targets)
        result.unet_keys = len(patches) - result.clip_keys
        if sm != 0 and new_model is not None:
            new_model.add_patches(patches, sm)
        if sc != 0 and new_clip is not None:
            new_clip.add_patches(patches, sc)
        result.triggers = trigger_words(metadata)
        trained_for = base_family(metadata)
        if trained_for and family and trained_for != family:
            result.warnings.append(f"metadata says it was trained for {trained_for}, the model is {family}")
        if not patches:
            result.warnings.append("no key matched this model: is it a LoRA for another architecture?")
        if result.unmatched:
            logger.warning("[Loadout] %s: %d keys of %s matched nothing, e.g. %s", node, len(result.unmatched),
                           path, result.unmatched[:3])
    return new_model, new_clip, results


def format_report(results, multiplier: float) -> str:
    if not results:
        return "LoRA stack: empty"
    applied = sum(1 for r in results if r.status == "applied")
    lines = [f"LoRA stack: {applied} of {len(results)} applied, multiplier {multiplier:g}; "
             f"cache {len(CACHE)} files, {CACHE.nbytes / 2**20:.1f} of {CACHE.max_bytes / 2**20:.0f} MiB"]
    for r in results:
        lines.append(f"[{r.index}] {r.name}: {r.status}, model {r.model_strength:g}, clip {r.clip_strength:g}")
        if r.path:
            lines.append(f"    file: {r.path} ({r.format})")
            shown = ", ".join(r.unmatched[:3]) + (" ..." if len(r.unmatched) > 3 else "")
            lines.append(f"    keys applied: UNet {r.unet_keys}, CLIP {r.clip_keys}; unmatched {len(r.unmatched)}"
                         + (f" ({shown})" if r.unmatched else ""))
            lines.append(f"    load {r.load_ms:.1f} ms ({'cache hit' if r.cache_hit else 'read from disk'})")
        if r.triggers:
            lines.append(f"    trigger words: {', '.join(r.triggers)}")
        for w in r.warnings:
            lines.append(f"    warning: {w}")
    return "\n".join(lines)


def collect_trigger_words(results) -> str:
    seen, words = set(), []
    for r in results:
        if r.status != "applied":
            continue
        for w in r.triggers:
            if w.lower() not in seen:
                seen.add(w.lower())
                words.append(w)
    return ", ".join(words)
