"""Seam: applying a LORA_STACK to a ComfyUI MODEL/CLIP, through ComfyUI's own key maps and weight adapters.

Core's key map is extended (never overridden) with the diffusers names of the UNet's modules as diffusers and
PEFT write them (``unet.…attn1.to_q``, ``base_model.model.…``): ComfyUI 0.3.75 only knows the old
``.processor.to_q`` spelling and drops those keys ("lora key not loaded"). Every format core understands
(kohya, LyCORIS, DoRA, ...) goes through ``comfy.lora.load_lora`` unchanged, so results equal core's.

ComfyUI internals used here (pinned by ``tests/integration/test_compat_lora.py``): ``comfy.lora.model_lora_keys_unet``
/ ``model_lora_keys_clip``, ``comfy.lora.load_lora``, ``comfy.lora_convert.convert_lora``,
``comfy.utils.unet_to_diffusers``, a ModelPatcher's ``.model`` (and its ``model_config.unet_config``) and a CLIP's
``cond_stage_model``. The pure parts (key matching, the report) are in ``core/lora/``.
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
from ...core.common.errors import node_error
from ...core.common.cache import FileCache
from ...core.lora.files import LoraFileError, detect_format, read_lora_file
from ...core.lora.keys import relevant_entries, unmatched_keys
from ...core.lora.metadata import base_family, trigger_words
from ...core.lora.report import AppliedLora, CacheStats
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
    derived: dict = dataclasses.field(default_factory=weakref.WeakKeyDictionary)  # KeyMap -> ...: goes with it


def _read(path) -> LoadedLora:
    tensors, metadata = read_lora_file(path)
    return LoadedLora(tensors, metadata)


CACHE = config.configured_cache("lora", _read)  # the one FileCache; budget: loadout.json lora.cache_max_mb


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a cache key for derived patches
class KeyMap:
    mapping: dict
    clip_targets: frozenset


# KeyMap per (diffusion model, text encoder), identity entries of the one FileCache: dropped when either object
# is garbage-collected; at most 16 pairs (a key map is ~1-3 MB of strings, which sizeof does not count).
_KEY_MAPS = FileCache(name="lora key maps", max_entries=16)


def lora_folders() -> list[str]:
    extra = config.section("lora").get("extra_dirs", [])
    return list(folder_paths.get_folder_paths("loras")) + [str(d) for d in extra]


def configure_cache() -> None:
    CACHE.refresh_budget()


def cache_stats() -> CacheStats:
    """The LoRA file cache's size now, for the report."""
    return CacheStats(len(CACHE), CACHE.nbytes, CACHE.max_bytes)


# Relies on: ModelPatcher.model and CLIP.cond_stage_model being the objects the key maps are built from (their
# identity keys the memo).
def lora_key_map(model, clip) -> KeyMap:
    """Core's key map for MODEL (+ CLIP) with the diffusers/PEFT UNet names added, and the CLIP targets;
    computed once per (diffusion model, text encoder) pair."""
    unet = model.model if model is not None else None
    encoder = clip.cond_stage_model if clip is not None else None
    return _KEY_MAPS.get_for((unet, encoder), lambda: _build_key_map(model, clip)).value


# Relies on: comfy.lora.model_lora_keys_unet(model.model, map) / model_lora_keys_clip(clip.cond_stage_model, map)
# returning {lora module name: weight key}, and comfy.utils.unet_to_diffusers(unet_config) giving
# {diffusers weight name: ldm weight name} (KeyError/TypeError/AttributeError for non-UNet models).
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


# Relies on: comfy.lora_convert.convert_lora(state_dict) → the state dict in core's naming, and
# comfy.lora.load_lora(state_dict, {module name: weight key}, log_missing=False) → {weight key: patch}.
def lora_patches(tensors: dict, key_map: KeyMap) -> tuple[dict, list[str]]:
    """(patches for ``add_patches``, the file keys that matched nothing) of a LoRA file for one key map."""
    converted = comfy.lora_convert.convert_lora(tensors)
    mapping = relevant_entries(converted, key_map.mapping)
    patches = comfy.lora.load_lora(converted, mapping, log_missing=False)
    return patches, unmatched_keys(converted, mapping, patches)


def files_signature(names) -> str:
    """Size and mtime of each named LoRA file, for ``fingerprint_inputs``: a replaced file re-runs the graph from
    the node that names it (ComfyUI would otherwise serve its cached output)."""
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
        raise node_error(node, "on_missing", f"{on_missing!r} is not an option", f"choose one of {list(ON_MISSING)}")
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
                raise node_error(node, "lora_stack", f"entry {index}: {e}",
                                 "or set on_missing to 'skip and report'") from None
            result.status = "missing (skipped)"
            result.warnings.append(str(e))
            continue
        except LoraNameError as e:
            raise node_error(node, "lora_stack", f"entry {index}: {e}") from None
        result.path = str(path)
        try:
            looked = CACHE.get(path)
        except LoraFileError as e:
            raise node_error(node, "lora_stack", f"entry {index} ({path}): {e}") from None
        loaded = looked.value
        metadata = loaded.metadata
        result.cache_hit, result.load_ms = looked.hit, looked.seconds * 1000
        derived = loaded.derived.get(key_map)
        if derived is None:
            patches, unmatched = lora_patches(loaded.tensors, key_map)
            derived = (patches, unmatched, detect_format(loaded.tensors))
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

