"""The layer wrappers: a stand-in module whose weights the offloader places, and the ops it knows how to run.

Plain torch. ``AutoWrappedLinear`` and ``AutoWrappedConv`` replace ``torch.nn.Linear`` / ``Conv1d/2d/3d`` (and
their subclasses, such as ComfyUI's ops); other layer types run through ``AutoWrappedModule`` once declared
with ``declare_layer``. A wrapper holds the original layer unregistered (so nothing that moves the model's
modules moves its weights) and computes with the weights the offloader hands it; ``weight``/``bias`` reads,
writes and ``state_dict()`` pass through to the original layer, so code that handles weights by name (LoRA key
matching, a host restoring patched weights) sees the same model.

Example::

    declare_layer(MyLayer, lambda layer, x, weight, bias: my_op(x, weight, bias))
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F

LayerOp = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def _linear(layer, x, weight, bias):
    return F.linear(x, weight, bias)


def _conv(layer, x, weight, bias):
    return layer._conv_forward(x, weight, bias)


_DECLARED: dict[type, LayerOp] = {}
_BUILTIN: tuple[tuple[type, LayerOp, str], ...] = (
    (torch.nn.Linear, _linear, "linear"),
    (torch.nn.Conv1d, _conv, "conv"),
    (torch.nn.Conv2d, _conv, "conv"),
    (torch.nn.Conv3d, _conv, "conv"),
)
WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
LAYER_ATTRS = frozenset({"in_features", "out_features", "in_channels", "out_channels", "kernel_size", "stride",
                         "padding", "dilation", "groups", "padding_mode", "transposed", "output_padding"})


def declare_layer(cls: type, op: LayerOp) -> None:
    """Let the offloader wrap layers of type ``cls`` (weight + optional bias) computed by ``op``."""
    if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
        raise TypeError(f"cls must be a torch.nn.Module subclass, got {cls!r}")
    if not callable(op):
        raise TypeError("op must be callable as op(layer, x, weight, bias)")
    _DECLARED[cls] = op


def layer_op(module: torch.nn.Module) -> tuple[LayerOp, str] | None:
    """(op, kind) for a module the offloader can wrap, else None. Only plain floating-point ``weight`` /
    ``bias`` parameters qualify (quantised or custom tensor types are left to their owner)."""
    found = None
    for cls in type(module).__mro__:
        if cls in _DECLARED:
            found = (_DECLARED[cls], "declared")
            break
    if found is None:
        for cls, op, kind in _BUILTIN:
            if isinstance(module, cls):
                found = (op, kind)
                break
    if found is None:
        return None
    params = dict(module.named_parameters(recurse=False))
    if set(params) - {"weight", "bias"} or "weight" not in params or list(module.children()):
        return None
    for p in params.values():
        if type(p.data) is not torch.Tensor or p.dtype not in WEIGHT_DTYPES or p.is_meta:
            return None
    return found


def find_layers(root: torch.nn.Module) -> list[tuple[str, torch.nn.Module, LayerOp, str]]:
    """Every wrappable layer under ``root`` as (name, layer, op, kind), in registration order. A layer already
    wrapped is reported as its original."""
    out = []
    for name, module in root.named_modules():
        if isinstance(module, AutoWrappedModule):
            module = module.inner
        found = layer_op(module)
        if found is not None and name:
            out.append((name, module, found[0], found[1]))
    return out


def unwrapped_bytes(owner: torch.nn.Module, found) -> int:
    """Bytes of every parameter and buffer under ``owner`` outside the ``found`` layers (and outside any wrapper
    standing in for them): what stays with the host when those layers are offloaded."""
    wrapped = {id(module) for _name, module, _op, _kind in found}
    total = 0
    for module in owner.modules():
        if isinstance(module, AutoWrappedModule) or id(module) in wrapped:
            continue
        for t in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False)):
            total += t.numel() * t.element_size()
    return total


class AutoWrappedModule(torch.nn.Module):
    """Runs ``inner``'s op with weights from ``runtime.layer_weights(index, x)``."""

    def __init__(self, inner: torch.nn.Module, index: int, op: LayerOp, runtime):
        super().__init__()
        # plain attributes, not submodules: nothing that walks or moves the model's modules reaches them
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "runtime", runtime)

    def forward(self, x, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"[Loadout] {type(self.inner).__name__} wrapped for offloading takes one input")
        return self.runtime.run_layer(self.index, x)

    # Transparent to whoever handles the model's weights by path (ComfyUI's patcher gets, sets and restores
    # "...layer.weight" through whatever module stands at that path): reads, writes and state_dict() reach the
    # original layer's own parameters. The offloader's CPU master copy is separate and never written.
    @property
    def weight(self):
        return self.inner.weight

    @property
    def bias(self):
        return self.inner.bias

    def __setattr__(self, name, value):
        if name in ("weight", "bias"):
            setattr(self.inner, name, value)
        else:
            super().__setattr__(name, value)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for key, t in self.inner.named_parameters(recurse=False):
            destination[prefix + key] = t if keep_vars else t.detach()

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            # the layer's shape and configuration only: flags a host sets on the original (ComfyUI's
            # comfy_patched_weights, weight_function, ...) must not appear to be set on the wrapper
            if name in LAYER_ATTRS:
                return getattr(object.__getattribute__(self, "inner"), name)
            raise

    def extra_repr(self) -> str:
        return f"{self.inner!r}, layer {self.index}"


class AutoWrappedLinear(AutoWrappedModule):
    pass


class AutoWrappedConv(AutoWrappedModule):
    pass


def wrapper_class(kind: str) -> type:
    return {"linear": AutoWrappedLinear, "conv": AutoWrappedConv}.get(kind, AutoWrappedModule)


def structural_copy(root: torch.nn.Module, replace: dict[str, torch.nn.Module]) -> torch.nn.Module:
    """A copy of ``root`` whose modules at the names in ``replace`` are swapped, sharing every parameter and
    every untouched submodule with ``root`` (which is not modified). Containers on the way are shallow copies
    with their own child tables."""
    if "" in replace:
        return replace[""]
    new = copy.copy(root)
    new._modules = dict(root._modules)
    new._parameters = dict(root._parameters)
    new._buffers = dict(root._buffers)
    children: dict[str, dict[str, torch.nn.Module]] = {}
    for name, module in replace.items():
        head, _, rest = name.partition(".")
        children.setdefault(head, {})[rest] = module
    for head, sub in children.items():
        if head not in root._modules:
            raise KeyError(f"no submodule {head!r} in {type(root).__name__}")
        new._modules[head] = structural_copy(root._modules[head], sub)
    return new
