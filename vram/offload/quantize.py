"""Weight storage formats smaller than the model's dtype: FP8 with an absmax scale, and NF4 through bitsandbytes.

Plain torch, no ComfyUI import. A quantised weight is a ``QuantizedWeight`` (its payload tensors and the metadata
to rebuild the weight); ``dequantize`` runs on whatever device the payload is on, so weights travel in their small
form and are expanded on the compute device after the transfer.

FP8 error bound (asserted by the unit tests): with ``s`` the scale (absmax / the format's largest finite value),
every element satisfies ``|dequantize(q) - w| <= 2**-(m+1) * |w| + s * 2**(e_min - m - 1)``, where ``m`` is the
format's mantissa bits (3 for e4m3fn, 2 for e5m2) and ``2**e_min`` its smallest normal (2**-6, 2**-14): round to
nearest in the normal range, half a subnormal step below it. ``fp8_error_bound`` returns that bound.

Example::

    qw = quantize_fp8(w, torch.float8_e4m3fn, per_channel=True)
    w_back = dequantize(qw.to(device), torch.float16)
"""
from __future__ import annotations

import dataclasses

import torch

# (mantissa bits, exponent of the smallest normal) of each FP8 format
_FP8_BITS = {torch.float8_e4m3fn: (3, -6), torch.float8_e5m2: (2, -14)}


@dataclasses.dataclass
class QuantizedWeight:
    """A weight in a small storage format. ``tensors`` are what must travel to the compute device."""

    kind: str  # "fp8" or "nf4"
    shape: tuple[int, ...]
    dtype: torch.dtype  # the original dtype
    tensors: dict[str, torch.Tensor]
    state: object = None  # bitsandbytes QuantState for nf4 (holds its own absmax tensor)

    @property
    def nbytes(self) -> int:
        n = sum(t.numel() * t.element_size() for t in self.tensors.values())
        if self.state is not None:
            n += sum(t.numel() * t.element_size() for t in _state_tensors(self.state))
        return n

    def to(self, device: torch.device, non_blocking: bool = False) -> "QuantizedWeight":
        tensors = {k: t.to(device, non_blocking=non_blocking) for k, t in self.tensors.items()}
        # bitsandbytes' QuantState.to() moves in place: copy it instead, the original stays where it is
        state = None if self.state is None else _copy_state(self.state, device)
        return QuantizedWeight(self.kind, self.shape, self.dtype, tensors, state)


def fp8_error_bound(w: torch.Tensor, scale: torch.Tensor, fp8_dtype: torch.dtype) -> torch.Tensor:
    """Per-element bound on ``|dequantize(quantize_fp8(w)) - w|`` (see the module docstring)."""
    mantissa, e_min = _FP8_BITS[fp8_dtype]
    w = w.float()
    return 2.0 ** -(mantissa + 1) * w.abs() + scale.float() * 2.0 ** (e_min - mantissa - 1)


def fp8_scale(w: torch.Tensor, fp8_dtype: torch.dtype, per_channel: bool) -> torch.Tensor:
    """absmax / the format's largest value: per output channel (dim 0, broadcastable) or one for the tensor."""
    wf = w.detach().float()
    if per_channel and wf.ndim >= 2:
        absmax = wf.abs().amax(dim=tuple(range(1, wf.ndim)), keepdim=True)
    else:
        absmax = wf.abs().amax().reshape([1] * max(wf.ndim, 1))
    scale = absmax / torch.finfo(fp8_dtype).max
    return torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero channel keeps zeros


def quantize_fp8(w: torch.Tensor, fp8_dtype: torch.dtype = torch.float8_e4m3fn,
                 per_channel: bool = True) -> QuantizedWeight:
    """FP8 payload and float32 scale of ``w`` (not modified). Non-finite weights are refused."""
    if fp8_dtype not in _FP8_BITS:
        raise ValueError(f"fp8_dtype must be torch.float8_e4m3fn or torch.float8_e5m2, got {fp8_dtype}")
    if not torch.isfinite(w).all():
        raise ValueError("cannot quantise a weight holding NaN or Inf values")
    scale = fp8_scale(w, fp8_dtype, per_channel)
    fmax = torch.finfo(fp8_dtype).max
    q = (w.detach().float() / scale).clamp_(-fmax, fmax).to(fp8_dtype)
    return QuantizedWeight("fp8", tuple(w.shape), w.dtype, {"q": q, "scale": scale})


def quantize_nf4(w: torch.Tensor, blocksize: int = 64) -> QuantizedWeight:
    """NF4 blocks of ``w`` through bitsandbytes (ImportError with the fix when it is not installed)."""
    try:
        import bitsandbytes.functional as bnbf  # noqa: PLC0415 - optional, heavy
    except ImportError as e:
        raise ImportError("NF4 needs bitsandbytes: pip install bitsandbytes (or choose fp8 / offload)") from e
    # blocks of the flattened weight: bitsandbytes' CPU path pairs 2-D blocks with the wrong absmax (0.50.2)
    packed, state = bnbf.quantize_4bit(w.detach().contiguous().reshape(-1), blocksize=blocksize, quant_type="nf4")
    return QuantizedWeight("nf4", tuple(w.shape), w.dtype, {"packed": packed}, state)


def dequantize(qw: QuantizedWeight, dtype: torch.dtype) -> torch.Tensor:
    """The weight in ``dtype`` on the payload's device (a new tensor)."""
    if qw.kind == "fp8":
        q, scale = qw.tensors["q"], qw.tensors["scale"]
        if dtype == torch.float32:
            return q.to(torch.float32) * scale
        # FP8 values are exact in fp16/bf16; one rounding for the product
        return (q.to(dtype) * scale.to(dtype)).to(dtype)
    if qw.kind == "nf4":
        import bitsandbytes.functional as bnbf  # noqa: PLC0415

        return bnbf.dequantize_4bit(qw.tensors["packed"], qw.state).reshape(qw.shape).to(dtype)
    raise ValueError(f"unknown quantised kind {qw.kind!r}")


def _state_tensors(state) -> list[torch.Tensor]:
    found = []
    for name in ("absmax", "code"):
        t = getattr(state, name, None)
        if isinstance(t, torch.Tensor):
            found.append(t)
    nested = getattr(state, "state2", None)
    if nested is not None:
        found += _state_tensors(nested)
    return found


def _copy_state(state, device):
    import copy  # noqa: PLC0415

    new = copy.copy(state)
    for name in ("absmax", "code", "offset"):
        t = getattr(state, name, None)
        if isinstance(t, torch.Tensor):
            setattr(new, name, t.to(device))
    if getattr(state, "state2", None) is not None:
        new.state2 = _copy_state(state.state2, device)
    return new
