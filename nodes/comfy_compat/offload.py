"""Seam: bind an ``Offloader`` (``vram/offload/``) to a ComfyUI ModelPatcher through the patcher's own mechanisms.

On a clone of the input patcher (the input is never changed):
- one **object patch** per wrapped layer swaps the layer for its ``AutoWrappedModule`` while this patcher is
  the one loaded (ComfyUI restores the originals when it unpatches), so core's loader never sees those weights
  and moves only the rest (norms, embeddings);
- an **APPLY_MODEL wrapper** runs each model call under the offloader's strategy ladder;
- **callbacks**: ON_PRE_RUN binds the patcher whose patches (LoRA) apply, ON_DETACH drops our device copies when
  ComfyUI unloads the model;
- the clone's **size** is what the plan puts on the device, so core's memory accounting frees and reserves for
  the real footprint;
- the strategy path, once sampling has taken one, goes to the node as **progress text** (``show_progress_text``).

LoRA patches added before or after this node are applied to each offloaded weight on the compute device after its
transfer, with core's own ``comfy.lora.calculate_weight`` and rounding (the CPU master copy never changes).

Why a layer swap and not core's cast-ops hook (``comfy.ops``: ``comfy_cast_weights``, ``weight_function`` /
``bias_function``, the seam ComfyUI-GGUF uses): the hook transforms a weight core has already placed; it cannot
decide where the weight lives. ``cast_bias_weight`` first copies the layer's registered ``weight`` to the compute
device and only then runs the functions, so the parameter must stay a real tensor that core moves (all of it at a
full load, or layer by layer, synchronously, when core itself picks low-VRAM mode from its own free-memory
estimate): no budget, no resident FP8 copy, no prefetch on a side stream, no pinned master. The lists are also
core's: every ``ModelPatcher.load`` resets them (``wipe_lowvram_weight`` or ``[LowVramPatch]``) and they live on
the module objects all clones share, so the only per-clone way in is ``add_weight_wrapper`` (which we honour in
``_hook``). GGUF avoids this by building the model from its own ops classes (``custom_operations`` at load time,
``comfy_cast_weights = True``, its own ``cast_bias_weight``), which an existing MODEL input cannot get without
swapping every layer: what the object patches here already do. Both are exact (the wrapper computes with the
layer's own op on the same weights, in the input's dtype as the cast path does), so the layer swap stays.

Pinned by ``tests/integration/test_compat_offload.py``.
"""
from __future__ import annotations

import logging
import weakref

import torch

from ...core.common.errors import node_error
from ...vram.offload.config import OffloadConfig
from ...vram.offload.offloader import Offloader, fingerprint
from ...vram.offload.ladder import describe_path
from ...vram.offload.layers import find_layers, unwrapped_bytes, wrapper_class
from .devices import minimum_inference_memory, patcher_devices

logger = logging.getLogger(__name__)
KEY = "loadout_offload"
LIVE: "weakref.WeakSet[OffloadBinding]" = weakref.WeakSet()  # for the memory monitor


# Relies on: string_to_seed(key), the seed core's own stochastic rounding of a patched weight uses: in comfy.utils
# from ComfyUI 0.3x (whose comfy.model_patcher.string_to_seed still answers, but logs a "moved" warning on every
# call), only in comfy.model_patcher on 0.3.75 and older.
def _string_to_seed(key: str) -> int:
    import comfy.utils  # noqa: PLC0415

    fn = getattr(comfy.utils, "string_to_seed", None)
    if fn is None:
        from comfy.model_patcher import string_to_seed as fn  # noqa: PLC0415
    return fn(key)


# Relies on: comfy.model_management.lora_compute_dtype(device), the dtype core's patch_weight_to_device computes a
# patched weight in (ComfyUI 0.3x: fp16 where the device runs fp16, else fp32; cached per device); 0.3.75 and older
# always compute in fp32.
def lora_compute_dtype(device) -> torch.dtype:
    import comfy.model_management as mm  # noqa: PLC0415

    fn = getattr(mm, "lora_compute_dtype", None)
    return torch.float32 if fn is None else fn(device)


class OffloadBinding:
    """One offloaded component: the root module's wrapped layers and their offloader."""

    def __init__(self, owner: torch.nn.Module, root_attr: str, config: OffloadConfig, load_device, offload_device,
                 label: str, node_id: str | None = None, auto: bool = False, ladder: bool = True,
                 source: tuple[str, str] = ("Offload model (Loadout)", "model")):
        root = getattr(owner, root_attr) if root_attr else owner
        self.prefix = f"{root_attr}." if root_attr else ""
        found = find_layers(root)
        if not found:
            raise ValueError(f"{label} has no Linear/Conv layer with plain float weights to offload "
                             "(quantised checkpoints such as GGUF manage their own weights)")
        other = unwrapped_bytes(owner, found)
        self.label = label
        self.source = source  # (node display name, input name): where an error found while sampling points
        self.node_id = node_id
        self.auto = auto
        self.ladder = ladder
        self.patcher = None
        self.offloader = Offloader(
            found, config, load_device, offload_device, weight_hook=self._hook, hook_token=self._token,
            other_resident_bytes=other, model_key=fingerprint(found, repr(config) + f"auto={auto}"), label=label,
            master_source=self._unpatched, is_patched=self._is_patched)
        if not ladder:
            self.offloader.rungs = []
            self.offloader.remember = False
        self.offloader.on_path = self._on_path
        self.wrappers = {name: wrapper_class(kind)(module, i, op, self.offloader)
                         for i, (name, module, op, kind) in enumerate(found)}
        LIVE.add(self)

    # --- ComfyUI patcher wiring -------------------------------------------------------------------------------
    # Relies on: add_object_patch(dotted path, module) applied while the patcher is loaded and undone at unpatch;
    # set_attachments/get_attachment carried by clones; ON_DETACH called as (patcher, unpatch_all); .size read by
    # core's memory accounting.
    def _install_layers(self, patcher) -> None:
        import comfy.patcher_extension as pe  # noqa: PLC0415

        for name, wrapper in self.wrappers.items():
            patcher.add_object_patch(self.prefix + name, wrapper)
        patcher.set_attachments(KEY, self)
        patcher.add_callback_with_key(pe.CallbacksMP.ON_DETACH, KEY, self._on_detach)
        patcher.size = self.offloader.device_estimate(self.offloader.config.strategy)

    # Relies on: WrappersMP.APPLY_MODEL wrappers called as (executor, x, *args) around BaseModel.apply_model, and
    # ON_PRE_RUN called with the patcher about to sample.
    def install_model(self, patcher) -> None:
        """On a MODEL's fresh clone: object patches, the APPLY_MODEL wrapper and callbacks."""
        import comfy.patcher_extension as pe  # noqa: PLC0415

        self._install_layers(patcher)
        patcher.add_wrapper_with_key(pe.WrappersMP.APPLY_MODEL, KEY, ApplyModelWrapper(self))
        patcher.add_callback_with_key(pe.CallbacksMP.ON_PRE_RUN, KEY, self._on_pre_run)

    # Relies on: the text encoder's encode_token_weights being what CLIP.encode_from_tokens calls (an object patch
    # can stand in for it), object_patches copied by clone() and ON_CLONE called as (old, new).
    def install_clip(self, patcher) -> None:
        """On a CLIP's fresh patcher clone: the layers, and ``encode_token_weights`` run under the ladder. Each
        later clone (a LoRA on the CLIP) gets its own encode patch bound to itself, so its patches apply."""
        import comfy.patcher_extension as pe  # noqa: PLC0415

        self._install_layers(patcher)
        original = type(patcher.model).encode_token_weights.__get__(patcher.model)
        patcher.add_object_patch("encode_token_weights", EncodeWrapper(self, patcher, original))

        def on_clone(_old, new):
            new.object_patches["encode_token_weights"] = EncodeWrapper(self, new, original)

        patcher.add_callback_with_key(pe.CallbacksMP.ON_CLONE, KEY, on_clone)

    def bind(self, patcher) -> None:
        if patcher is not None and patcher is not self.patcher:
            self.patcher = patcher
            self.offloader.refresh_hooks()

    def _on_pre_run(self, patcher) -> None:
        self.bind(patcher)

    # Relies on: comfy_patched_weights, the per-module flag core's loader sets once a module's weights are patched.
    def _on_detach(self, patcher, unpatch_all) -> None:
        if self.offloader.strategy is not None:
            logger.info("[Loadout] offload %s: ComfyUI unloaded the model; device copies dropped", self.label)
        self.offloader.release_device()
        # While our wrappers stood in for the original layers, ComfyUI's unpatching could not reach those layers
        # to clear its "weights already patched" flag; left set, the next clone to load (say, with a LoRA) would
        # skip patching them. The originals' weights were never patched under this binding: clear the flag.
        for layer in self.offloader.layers:
            if "comfy_patched_weights" in layer.inner.__dict__:
                del layer.inner.comfy_patched_weights

    # --- LoRA and other weight patches, after transfer --------------------------------------------------------
    # Relies on: ModelPatcher.backup, {key: (weight, inplace_update)} of the original weights while patched.
    def _unpatched(self, name: str, layer: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The layer's original weights: another clone of this model may have baked its LoRA into the live
        parameters (ComfyUI keeps the originals in the patchers' shared ``backup``)."""
        backup = getattr(self.patcher, "backup", None) or {}
        out = {}
        for key, param in layer.named_parameters(recurse=False):
            saved = backup.get(f"{self.prefix}{name}.{key}")
            out[key] = saved.weight if saved is not None else param
        return out

    # Relies on: ModelPatcher.patches / weight_wrapper_patches keyed by "<module path>.weight|bias".
    def _is_patched(self, name: str) -> bool:
        p = self.patcher
        if p is None:
            return False
        full = f"{self.prefix}{name}."
        return any(full + key in p.patches or full + key in p.weight_wrapper_patches for key in ("weight", "bias"))

    # Relies on: ModelPatcher.patches_uuid changing whenever its patches change.
    def _token(self):
        p = self.patcher
        return None if p is None else (id(p), p.patches_uuid)

    # Relies on: comfy.lora.calculate_weight(patches, weight, key) (adds into its input) on a copy in core's LoRA
    # compute dtype for the device the weight is on (lora_compute_dtype above), then
    # comfy.float.stochastic_rounding(value, dtype, seed=), as core's patch_weight_to_device applies patches.
    def _hook(self, name: str, key: str, tensor: torch.Tensor) -> torch.Tensor:
        p = self.patcher
        if p is None:
            return tensor
        full = f"{self.prefix}{name}.{key}"
        patches = p.patches.get(full)
        wrappers = p.weight_wrapper_patches.get(full)
        if not patches and not wrappers:
            return tensor
        out = tensor
        if patches:
            import comfy.float  # noqa: PLC0415
            import comfy.lora  # noqa: PLC0415

            work = tensor.to(lora_compute_dtype(tensor.device), copy=True)  # calculate_weight adds into its input
            out = comfy.lora.calculate_weight(patches, work, full)
            out = comfy.float.stochastic_rounding(out, tensor.dtype, seed=_string_to_seed(full))
        for fn in wrappers or ():
            out = fn(out)
        return out

    # --- reporting --------------------------------------------------------------------------------------------
    def status_lines(self) -> list[str]:
        r = self.offloader.report()
        lines = [f"Loadout offload — {self.label}: {r['summary']}", f"  path: {r['path']}"]
        if r["prefetch"] and r["prefetch"].get("acquires"):
            s = r["prefetch"]
            lines.append(f"  streamed layer uses {s['acquires']:,}: prefetched {s['hits']:,}, on demand "
                         f"{s['misses']:,}; {r['bytes_copied'] / 2**20:,.1f} MB copied in all")
        lines.append(f"  CPU master copy {r['master_bytes'] / 2**20:,.1f} MB in {r['master_blocks']} blocks"
                     f"{' (pinned)' if r['master_pinned'] else ''}")
        for rung, why in r["skipped"].items():
            lines.append(f"  {rung} skipped: {why}")
        return lines

    def _on_path(self, path) -> None:
        text = "\n".join(self.status_lines())
        logger.info("[Loadout] offload %s: strategy path %s", self.label, describe_path(path))
        if self.node_id is None:
            return
        try:
            show_progress_text(self.node_id, text)
        except Exception as e:  # noqa: BLE001 - the UI update is a courtesy; sampling must go on
            logger.debug("[Loadout] offload %s: could not update the node: %s", self.label, e)


# Relies on: PromptServer.instance.send_progress_text(text, node_id) (0.3.75 and 0.33): a binary TEXT frame to every
# client (4-byte event 3, 4-byte node id length, node id, UTF-8 text) that the frontend shows on that node.
def show_progress_text(node_id: str, text: str) -> None:
    from server import PromptServer  # noqa: PLC0415

    server = PromptServer.instance
    server.send_progress_text(text, str(node_id))


# Relies on: ModelPatcher.hook_patches, non-empty when hook LoRAs (weight hooks) are attached.
def _refuse_hooks(binding: OffloadBinding, patcher) -> None:
    if patcher is not None and getattr(patcher, "hook_patches", None):
        raise node_error(*binding.source, f"{binding.label} carries hook LoRAs (Create Hook LoRA / scheduled weight "
                         "hooks), which cannot patch offloaded layers",
                         "apply the LoRA with LoRA stack or LoraLoader, or remove the Offload node")


class EncodeWrapper:
    """Object patch for ``encode_token_weights``: a text encode runs under the offloader's ladder."""

    def __init__(self, binding: OffloadBinding, patcher, original):
        self.binding, self.patcher, self.original = binding, patcher, original

    def __call__(self, token_weight_pairs):
        b = self.binding
        b.bind(self.patcher)
        _refuse_hooks(b, self.patcher)
        return b.offloader.run_step(lambda: self.original(token_weight_pairs), shape_key=("encode",), auto=b.auto)


# Relies on: the APPLY_MODEL executor's class_obj being the BaseModel, whose current_patcher is the patcher sampling
# and whose memory_required(shape) is core's estimate for one call.
class ApplyModelWrapper:
    """WrappersMP.APPLY_MODEL: each model call runs under the offloader's ladder, keyed by the input's shape."""

    def __init__(self, binding: OffloadBinding):
        self.binding = binding

    def __call__(self, executor, x, *args, **kwargs):
        b = self.binding
        base = executor.class_obj
        b.bind(getattr(base, "current_patcher", None))
        _refuse_hooks(b, b.patcher)
        try:
            b.offloader.reserve_bytes = int(base.memory_required(x.shape) + minimum_inference_memory())
        except Exception:  # noqa: BLE001 - a model without a memory estimate keeps the last reserve
            pass
        return b.offloader.run_step(lambda: executor(x, *args, **kwargs), shape_key=tuple(x.shape), auto=b.auto)


def offload_status_lines() -> list[str]:
    """Every offloaded model that has run in this process (for the memory monitor)."""
    lines = []
    for b in sorted(LIVE, key=lambda b: (b.label, b.node_id or "")):
        if b.offloader.path or b.offloader.strategy is not None:
            lines += b.status_lines()
    return lines


# Relies on: ModelPatcher.get_attachment (absent on very old releases).
def existing_binding(patcher) -> OffloadBinding | None:
    return patcher.get_attachment(KEY) if hasattr(patcher, "get_attachment") else None


# Relies on: ModelPatcher.is_dynamic() (ComfyUI 0.3x: True for ModelPatcherDynamic, the dynamic-VRAM patcher of
# comfy-aimdo, whose load() casts each comfy.ops layer's weights to the GPU per call from pinned host memory); a
# ComfyUI without it (0.3.75) has no dynamic VRAM.
def is_dynamic(patcher) -> bool:
    """Whether ``patcher`` (a MODEL, or a CLIP's .patcher) is loaded by ComfyUI's dynamic VRAM."""
    check = getattr(patcher, "is_dynamic", None)
    return bool(check()) if callable(check) else False


def model_binding(model) -> OffloadBinding | None:
    """The binding of a MODEL that an Offload model node already offloaded, else None."""
    return existing_binding(model)


# Relies on: CLIP.patcher, the ModelPatcher of its text encoder.
def clip_binding(clip) -> OffloadBinding | None:
    """The binding of a CLIP that an Offload CLIP node already offloaded, else None."""
    return existing_binding(clip.patcher)


# Relies on: ModelPatcher.clone() sharing the model, ModelPatcher.model (the BaseModel) holding the UNet/DiT at
# .diffusion_model.
def offload_model(model, config: OffloadConfig, auto: bool, ladder: bool, node_id: str | None,
                  node: str = "Offload model (Loadout)"):
    """(a clone of MODEL ``model`` whose diffusion model runs under a new offloader, its binding). ValueError when
    it has nothing to offload."""
    clone = model.clone()
    load_device, offload_device = patcher_devices(clone)
    binding = OffloadBinding(clone.model, "diffusion_model", config, load_device, offload_device,
                             label=f"{type(clone.model).__name__} diffusion model", node_id=node_id, auto=auto,
                             ladder=ladder, source=(node, "model"))
    binding.install_model(clone)
    if auto:
        clone.size = binding.offloader.device_estimate(binding.offloader.auto_strategy())
    return clone, binding


# Relies on: CLIP.clone() cloning CLIP.patcher, whose .model is the text encoder module (SD1ClipModel, ...).
def offload_clip(clip, config: OffloadConfig, auto: bool, ladder: bool, node_id: str | None,
                 node: str = "Offload CLIP (Loadout)"):
    """(a clone of ``clip`` whose text encoder runs under a new offloader, its binding). ValueError when it has
    nothing to offload."""
    clone = clip.clone()
    patcher = clone.patcher
    load_device, offload_device = patcher_devices(patcher)
    binding = OffloadBinding(patcher.model, "", config, load_device, offload_device,
                             label=f"{type(patcher.model).__name__} text encoder", node_id=node_id, auto=auto,
                             ladder=ladder, source=(node, "clip"))
    binding.install_clip(patcher)
    return clone, binding
