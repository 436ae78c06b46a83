"""Seam: applying a LORA_STACK to a ComfyUI MODEL/CLIP, through ComfyUI's own key maps and weight adapters.

Core's key map is extended (never overridden) with the diffusers names of the UNet's modules as diffusers and
PEFT write them (``unet.…attn1.to_q``, ``base_model.model.…``): ComfyUI 0.3.75 only knows the old
``.processor.to_q`` spelling and drops those keys ("lora key not loaded"). Every format core understands
(kohya, LyCORIS, DoRA, ...) goes through ``comfy.lora.load_lora`` unchanged, so results equal core's.

ComfyUI internals used here (pinned by ``tests/integration/test_compat_lora.py``): ``comfy.lora.model_lora_keys_unet``
/ ``model_lora_keys_clip``, ``comfy.lora.load_lora``, ``comfy.lora_convert.convert_lora``,
``comfy.utils.unet_to_diffusers``, the patch objects ``load_lora`` returns (``comfy.weight_adapter`` LoRA/LoHa/LoKr
adapters' ``.weights`` tuples, ``("diff"|"set", (tensor, ...))``), a ModelPatcher's ``.model`` (its
``state_dict()`` — the keys ``add_patches`` accepts — and ``model_config.unet_config``) and a CLIP's
``cond_stage_model``. The pure parts (key matching, shape and strength checks, the report) are in ``core/lora/``.

Before a patch is added its factors' shapes are checked against the weight it targets (``core.lora.shapes``):
ComfyUI would only find out at sampling time ("shapes cannot be multiplied") and leave the key out while the report
said applied. The report counts only patches that fit a weight of the model or text encoder they go to.
"""
from __future__ import annotations

import dataclasses
import logging
import weakref

import math

import comfy.lora
import comfy.lora_convert
import comfy.utils
import comfy.weight_adapter
import folder_paths
import torch

from ...core.common import config
from ...core.common.errors import node_error
from ...core.common.cache import FileCache
from ...core.lora.files import LoraFileError, detect_format, non_finite_keys, read_lora_file
from ...core.lora.keys import relevant_entries, text_encoder_keys, unmatched_keys
from ...core.lora.metadata import base_family, trigger_words
from ...core.lora.report import AppliedLora, CacheStats
from ...core.lora.resolve import LoraNameError, LoraNotFound, resolve_lora
from ...core.lora.shapes import narrowed, shape_problem
from ...core.lora.stack import STRENGTH_LIMIT, normalise_stack, strength_problem
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
    non_finite: list = dataclasses.field(default_factory=list)  # keys of tensors holding NaN/inf: refused
    derived: dict = dataclasses.field(default_factory=weakref.WeakKeyDictionary)  # KeyMap -> Derived: goes with it


@dataclasses.dataclass
class Derived:
    """A file's patches for one key map: those that fit their weights, and what was left out."""

    patches: dict  # weight key -> patch, for add_patches
    unmatched: list  # file keys that matched nothing
    format: str
    misfit: list  # "module: why", patches whose shapes do not fit their weight
    no_clip: int  # text-encoder file keys, with no CLIP connected
    clip_keys: int  # patches that go to the text encoder
    reach: dict  # weight key -> bound on |delta| at strength 1 (for the overflow check)


def _read(path) -> LoadedLora:
    tensors, metadata = read_lora_file(path)
    return LoadedLora(tensors, metadata, non_finite_keys(tensors))


CACHE = config.configured_cache("lora", _read)  # the one FileCache; budget: loadout.json lora.cache_max_mb


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a cache key for derived patches
class KeyMap:
    mapping: dict
    clip_targets: frozenset
    targets: dict = dataclasses.field(default_factory=dict)  # weight key -> (shape, largest value its dtype holds)
    has_clip: bool = False


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
    targets: dict = {}
    if model is not None:
        targets.update(_weight_targets(model.model))
    if clip is not None:
        clip_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, {})
        clip_targets = set(clip_map.values())
        for k, v in clip_map.items():
            key_map.setdefault(k, v)
        targets.update(_weight_targets(clip.cond_stage_model))
    return KeyMap(key_map, frozenset(clip_targets), targets, clip is not None)


# Relies on: ModelPatcher.add_patches accepting exactly the keys of its model's state_dict() (the diffusion
# model for MODEL, cond_stage_model for CLIP).
def _weight_targets(module) -> dict:
    out = {}
    for key, tensor in module.state_dict().items():
        dtype = tensor.dtype if tensor.is_floating_point() else torch.float32
        out[key] = (tuple(tensor.shape), torch.finfo(dtype).max)
    return out


def _amax(tensor) -> float:
    return float(tensor.detach().abs().amax()) if tensor is not None and tensor.numel() else 0.0


# Relies on: load_lora's patch objects — LoRAAdapter.weights (up, down, alpha, mid, dora_scale, reshape),
# LoHaAdapter.weights (w1a, w1b, alpha, w2a, w2b, t1, t2, dora), LoKrAdapter.weights (w1, w2, alpha, w1a, w1b,
# w2a, w2b, t2, dora), and ("diff", (tensor[, {"pad_weight": ...}])) / ("set", (tensor,)) tuples.
def _patch_shapes(patch) -> tuple[str, dict, float]:
    """(kind, tensor shapes, a bound on the patch's |delta| at strength 1 or 0 when not estimated)."""
    def shape(t):
        return tuple(t.shape) if t is not None else None

    adapters = comfy.weight_adapter
    if isinstance(patch, adapters.LoRAAdapter):
        up, down, alpha, mid, _dora, reshape = patch.weights[:6]
        reach = 0.0
        if mid is None and _dora is None:
            rank = down.shape[0] or 1
            scale = abs(float(alpha)) / rank if alpha is not None else 1.0
            reach = scale * _amax(up) * _amax(down) * rank
        return "lora", {"up": shape(up), "down": shape(down), "mid": shape(mid),
                        "reshape": tuple(reshape) if reshape is not None else None}, reach
    if isinstance(patch, adapters.LoHaAdapter):
        w1a, w1b, _alpha, w2a, w2b, t1, t2 = patch.weights[:7]
        return "loha", {"w1a": shape(w1a), "w1b": shape(w1b), "w2a": shape(w2a), "w2b": shape(w2b),
                        "t1": shape(t1), "t2": shape(t2)}, 0.0
    if isinstance(patch, adapters.LoKrAdapter):
        w1, w2, _alpha, w1a, w1b, w2a, w2b, t2 = patch.weights[:8]
        return "lokr", {"w1": shape(w1), "w2": shape(w2), "w1a": shape(w1a), "w1b": shape(w1b),
                        "w2a": shape(w2a), "w2b": shape(w2b), "t2": shape(t2)}, 0.0
    if isinstance(patch, tuple) and len(patch) == 2 and patch[0] in ("diff", "set"):
        values = patch[1]
        padded = len(values) > 1 and isinstance(values[1], dict) and values[1].get("pad_weight")
        if padded or not isinstance(values[0], torch.Tensor):
            return "other", {}, 0.0
        return patch[0], {"tensor": shape(values[0])}, _amax(values[0]) if patch[0] == "diff" else 0.0
    return "other", {}, 0.0


# Relies on: comfy.lora_convert.convert_lora(state_dict) → the state dict in core's naming, and
# comfy.lora.load_lora(state_dict, {module name: weight key}, log_missing=False) → {weight key: patch}, a weight
# key being a state-dict key or (key, (dim, start, length)) for a slice of it.
def lora_patches(tensors: dict, key_map: KeyMap) -> Derived:
    """A LoRA file's patches for one key map, split into those that fit a weight (``patches``) and those that do
    not (``misfit``), with the file keys that matched nothing."""
    converted = comfy.lora_convert.convert_lora(tensors)
    mapping = relevant_entries(converted, key_map.mapping)
    patches = comfy.lora.load_lora(converted, mapping, log_missing=False)
    unmatched = unmatched_keys(converted, mapping, patches)
    no_clip = 0
    if not key_map.has_clip:  # text-encoder keys are not "unmatched" when there is no CLIP to patch
        te = set(text_encoder_keys(unmatched))
        no_clip, unmatched = len(te), [k for k in unmatched if k not in te]
    module_of = {}
    for module, target in mapping.items():
        module_of.setdefault(target, module)
    fitting, misfit, reach = {}, [], {}
    for key, patch in patches.items():
        weight_key, offset = (key, None) if isinstance(key, str) else (key[0], key[1])
        target = key_map.targets.get(weight_key)
        if target is None:
            continue  # no such weight in the model or text encoder: nothing is patched
        kind, shapes, bound = _patch_shapes(patch)
        problem = shape_problem(kind, shapes, narrowed(target[0], offset))
        if problem:
            misfit.append(f"{module_of.get(key, weight_key)}: {problem}")
            continue
        fitting[key] = patch
        reach[key] = bound
    clip_keys = sum(1 for k in fitting if k in key_map.clip_targets)
    return Derived(fitting, unmatched, detect_format(tensors), misfit, no_clip, clip_keys, reach)


def _overflow(derived: Derived, key_map: KeyMap, strength: float, clip_side: bool) -> str | None:
    """The first patch that, at ``strength``, could add more than its weight's dtype holds (an infinite or NaN
    weight, so a NaN image), as text; None when every bound is inside."""
    for key, bound in derived.reach.items():
        if (key in key_map.clip_targets) != clip_side or not bound:
            continue
        weight_key = key if isinstance(key, str) else key[0]
        limit = key_map.targets[weight_key][1]
        if not math.isfinite(bound * abs(strength)) or bound * abs(strength) > limit / 2:
            return f"{weight_key} could change by up to {bound * abs(strength):.3g} (its weights hold {limit:.3g})"
    return None


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


def _check_strengths(node: str, entries, multiplier, clip_connected: bool) -> None:
    """Every effective strength (entry × multiplier) finite and inside ±STRENGTH_LIMIT, before anything runs."""
    problem = strength_problem(multiplier)
    if problem:
        raise node_error(node, "multiplier", problem, f"use a number from {-STRENGTH_LIMIT:g} to {STRENGTH_LIMIT:g}")
    for index, entry in enumerate(entries, start=1):
        sides = [("model", entry.model_strength)] + ([("clip", entry.clip_strength)] if clip_connected else [])
        for side, value in sides:
            own = strength_problem(value)
            if own:
                raise node_error(node, "lora_stack", f"entry {index} ({entry.name}): {side} strength {own}",
                                 f"use strengths from {-STRENGTH_LIMIT:g} to {STRENGTH_LIMIT:g}")
            effective = value * multiplier
            if strength_problem(effective):
                raise node_error(node, "multiplier", f"entry {index} ({entry.name}): {side} strength {value:g} × "
                                 f"multiplier {multiplier:g} = {effective:g}, outside {-STRENGTH_LIMIT:g}.."
                                 f"{STRENGTH_LIMIT:g}", "lower the multiplier or the entry's strength")


def _shown(items, n: int = 3) -> str:
    return "; ".join(items[:n]) + (f"; ... ({len(items)} in all)" if len(items) > n else "")


def apply_lora_stack(model, clip, stack, multiplier: float = 1.0, on_missing: str = "error",
                     node: str = "Apply LoRA stack (Loadout)"):
    """Return (new MODEL, new CLIP or None, [AppliedLora]). The inputs are cloned, never modified."""
    if on_missing not in ON_MISSING:
        raise node_error(node, "on_missing", f"{on_missing!r} is not an option", f"choose one of {list(ON_MISSING)}")
    entries = normalise_stack(stack)
    _check_strengths(node, entries, multiplier, clip is not None)
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
        if loaded.non_finite:
            raise node_error(node, "lora_stack", f"entry {index} ({path}): {path.name} holds NaN or infinite values "
                             f"in {len(loaded.non_finite)} tensors ({_shown(loaded.non_finite)}), which would make "
                             "every image NaN", "the file is damaged: download it again, or remove it from the stack")
        metadata = loaded.metadata
        result.cache_hit, result.load_ms = looked.hit, looked.seconds * 1000
        derived = loaded.derived.get(key_map)
        if derived is None:
            derived = lora_patches(loaded.tensors, key_map)
            loaded.derived[key_map] = derived
        patches = derived.patches
        result.unmatched, result.format, result.no_clip_keys = derived.unmatched, derived.format, derived.no_clip
        if derived.misfit:
            if on_missing == "error":
                raise node_error(node, "lora_stack", f"entry {index} ({path}): {len(derived.misfit)} keys of "
                                 f"{path.name} have shapes that do not fit the model's weights "
                                 f"({_shown(derived.misfit)}): the file is damaged or made for another model",
                                 "use a LoRA made for this model, or set on_missing to 'skip and report' to apply "
                                 "only the keys that fit")
            result.shape_skipped = [m.split(":", 1)[0] for m in derived.misfit]
            if not patches:
                result.status = "skipped (shapes do not fit)"
                continue
        for side, strength, target in (("model", sm, new_model), ("clip", sc, new_clip)):
            if strength != 0 and target is not None:
                overflow = _overflow(derived, key_map, strength, side == "clip")
                if overflow:
                    raise node_error(node, "lora_stack", f"entry {index} ({path}): at {side} strength "
                                     f"{strength:g}, {overflow}: the patched weights would be infinite or NaN",
                                     "the file's values are far too large: use another file or a smaller strength")
        result.clip_keys = derived.clip_keys if sc != 0 and new_clip is not None else 0
        result.unet_keys = (len(patches) - derived.clip_keys) if sm != 0 and new_model is not None else 0
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
