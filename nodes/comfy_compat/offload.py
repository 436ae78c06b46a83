"""Bind an ``Offloader`` to a ComfyUI ModelPatcher through the patcher's own mechanisms.

On a clone of the input patcher (the input is never changed):
- one **object patch** per wrapped layer swaps the layer for its ``AutoWrappedModule`` while this patcher is
  the one loaded (ComfyUI restores the originals when it unpatches), so core's loader never sees those weights
  and moves only the rest (norms, embeddings);
- an **APPLY_MODEL wrapper** runs each model call under the offloader's strategy ladder;
- **callbacks**: ON_PRE_RUN binds the patcher whose patches (LoRA) apply, ON_DETACH drops our device copies when
  ComfyUI unloads the model;
- the clone's **size** is what the plan puts on the device, so core's memory accounting frees and reserves for
  the real footprint.

LoRA patches added before or after this node are applied to each offloaded weight on the compute device after its
transfer, with core's own ``comfy.lora.calculate_weight`` and rounding (the CPU master copy never changes).
"""
from __future__ import annotations

import logging
import weakref

import torch

from ...vram.offload.config import OffloadConfig
from ...vram.offload.offloader import Offloader, fingerprint
from ...vram.offload.ladder import describe_path
from ...vram.offload.layers import find_layers, unwrapped_bytes, wrapper_class

logger = logging.getLogger(__name__)
KEY = "loadout_offload"
LIVE: "weakref.WeakSet[OffloadBinding]" = weakref.WeakSet()  # for the memory monitor


def _string_to_seed(key: str) -> int:
    from comfy.model_patcher import string_to_seed  # noqa: PLC0415

    return string_to_seed(key)


class OffloadBinding:
    """One offloaded component: the root module's wrapped layers and their offloader."""

    def __init__(self, owner: torch.nn.Module, root_attr: str, config: OffloadConfig, load_device, offload_device,
                 label: str, node_id: str | None = None, auto: bool = False, ladder: bool = True):
        root = getattr(owner, root_attr) if root_attr else owner
        self.prefix = f"{root_attr}." if root_attr else ""
        found = find_layers(root)
        if not found:
            raise ValueError(f"{label} has no Linear/Conv layer with plain float weights to offload "
                             "(quantised checkpoints such as GGUF manage their own weights)")
        other = unwrapped_bytes(owner, found)
        self.label = label
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
    def _install_layers(self, patcher) -> None:
        import comfy.patcher_extension as pe  # noqa: PLC0415

        for name, wrapper in self.wrappers.items():
            patcher.add_object_patch(self.prefix + name, wrapper)
        patcher.set_attachments(KEY, self)
        patcher.add_callback_with_key(pe.CallbacksMP.ON_DETACH, KEY, self._on_detach)
        patcher.size = self.offloader.device_estimate(self.offloader.config.strategy)

    def install_model(self, patcher) -> None:
        """On a MODEL's fresh clone: object patches, the APPLY_MODEL wrapper and callbacks."""
        import comfy.patcher_extension as pe  # noqa: PLC0415

        self._install_layers(patcher)
        patcher.add_wrapper_with_key(pe.WrappersMP.APPLY_MODEL, KEY, ApplyModelWrapper(self))
        patcher.add_callback_with_key(pe.CallbacksMP.ON_PRE_RUN, KEY, self._on_pre_run)

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
    def _unpatched(self, name: str, layer: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The layer's original weights: another clone of this model may have baked its LoRA into the live
        parameters (ComfyUI keeps the originals in the patchers' shared ``backup``)."""
        backup = getattr(self.patcher, "backup", None) or {}
        out = {}
        for key, param in layer.named_parameters(recurse=False):
            saved = backup.get(f"{self.prefix}{name}.{key}")
            out[key] = saved.weight if saved is not None else param
        return out

    def _is_patched(self, name: str) -> bool:
        p = self.patcher
        if p is None:
            return False
        full = f"{self.prefix}{name}."
        return any(full + key in p.patches or full + key in p.weight_wrapper_patches for key in ("weight", "bias"))

    def _token(self):
        p = self.patcher
        return None if p is None else (id(p), p.patches_uuid)

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

            work = tensor.to(torch.float32, copy=True)  # calculate_weight adds into its input
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
            from comfy_execution.utils import get_executing_context  # noqa: PLC0415
            from server import PromptServer  # noqa: PLC0415

            ctx = get_executing_context()
            server = PromptServer.instance
            server.send_sync("executed", {"node": self.node_id, "display_node": self.node_id,
                                          "output": {"text": [text]},
                                          "prompt_id": ctx.prompt_id if ctx else None}, server.client_id)
        except Exception as e:  # noqa: BLE001 - the UI update is a courtesy; sampling must go on
            logger.debug("[Loadout] offload %s: could not update the node: %s", self.label, e)


def _refuse_hooks(binding: OffloadBinding, patcher) -> None:
    if patcher is not None and getattr(patcher, "hook_patches", None):
        raise ValueError(f"[Loadout] offload {binding.label}: hook LoRAs (Create Hook LoRA / scheduled weight "
                         "hooks) cannot patch offloaded layers; apply the LoRA with LoRA stack or LoraLoader, or "
                         "remove the Offload node")


class EncodeWrapper:
    """Object patch for ``encode_token_weights``: a text encode runs under the offloader's ladder."""

    def __init__(self, binding: OffloadBinding, patcher, original):
        self.binding, self.patcher, self.original = binding, patcher, original

    def __call__(self, token_weight_pairs):
        b = self.binding
        b.bind(self.patcher)
        _refuse_hooks(b, self.patcher)
        return b.offloader.run_step(lambda: self.original(token_weight_pairs), shape_key=("encode",), auto=b.auto)


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
            import comfy.model_management as mm  # noqa: PLC0415

            b.offloader.reserve_bytes = int(base.memory_required(x.shape) + mm.minimum_inference_memory())
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


def existing_binding(patcher) -> OffloadBinding | None:
    return patcher.get_attachment(KEY) if hasattr(patcher, "get_attachment") else None

