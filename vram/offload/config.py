"""What the offloader is asked to do: strategies, per-module placement and the configuration, checked eagerly.

Plain Python/torch, no ComfyUI import. ``OffloadConfig`` is the one public knob set (``vram/offloader.py`` takes
it); every argument is validated when the config is built, so a wrong value fails before any weight moves.

Example::

    cfg = OffloadConfig(strategy=Strategy.OFFLOAD, budget_gb=4.0, prefetch=2)
"""
from __future__ import annotations

import dataclasses
import enum
import math
import re

import torch

GIB = 1024 ** 3


class Strategy(str, enum.Enum):
    """Ways to place a model's weights, from most VRAM (fastest, exact) to least.

    - ``FP16_FULL``: every weight resident on the compute device in the model's own dtype (core's full load).
    - ``FP8``: Linear/Conv weights resident as FP8 with an absmax scale, dequantised per use; norms, embeddings
      and the first/last layers stay in the model's dtype.
    - ``NF4``: as FP8 but 4-bit NormalFloat blocks (bitsandbytes).
    - ``OFFLOAD``: the planner keeps what fits the budget resident and streams the rest from the CPU master copy
      with prefetch on a side stream.
    - ``SEQUENTIAL``: nothing of the wrapped layers resident; each one is copied in just before it runs.
    """

    FP16_FULL = "fp16_full"
    FP8 = "fp8"
    NF4 = "nf4"
    OFFLOAD = "offload"
    SEQUENTIAL = "sequential"


LADDER: tuple[Strategy, ...] = (Strategy.FP16_FULL, Strategy.FP8, Strategy.NF4, Strategy.OFFLOAD,
                                Strategy.SEQUENTIAL)

FP8_FORMATS = {"e4m3fn": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
FP8_SCALES = ("channel", "tensor")
STREAM_PRECISIONS = ("model", "fp8")
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

# Layers kept in the model's precision under FP8/NF4 (regular expressions searched in the layer's name relative
# to the wrapped root, with a "." appended): embeddings and the first/last layers are few bytes and their errors
# reach every pixel.
DEFAULT_HIGH_PRECISION = (
    r"(^|\.)[^.]*emb[^.]*\.",          # time_embed, label_emb, emb_layers, x_embedder, ...
    r"(^|\.)(time_in|vector_in|guidance_in|img_in|txt_in)\.",
    r"^input_blocks\.0\.", r"^out\.", r"^final_layer\.", r"(^|\.)conv_(in|out)\.",
    r"(^|\.)[^.]*norm[^.]*\.",
)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where one layer's weights live and are computed, as the original design's per-module triple had it.

    ``offload``: where the weights wait between uses (the CPU master or its FP8 copy); ``onload``: their form on
    the compute device while loaded (``resident`` says whether they stay there between uses); ``compute``: the
    dtype the operation runs in (``None``: the input's dtype, as ComfyUI's cast ops do).
    """

    offload_device: torch.device
    offload_dtype: torch.dtype | str  # a torch dtype, or "nf4"
    onload_device: torch.device
    onload_dtype: torch.dtype | str
    compute_dtype: torch.dtype | None
    resident: bool

    @property
    def quantized(self) -> bool:
        return not (isinstance(self.onload_dtype, torch.dtype) and self.onload_dtype in FLOAT_DTYPES)


@dataclasses.dataclass(frozen=True)
class OffloadConfig:
    """Configuration of one offloaded model.

    strategy: one of ``Strategy`` (or its value).
    budget_gb: VRAM for everything the offloader keeps on the device under ``OFFLOAD``: resident layers, the
        prefetch staging buffers and the largest transient (dequantised / LoRA-patched) weight, plus the bytes of
        the layers it leaves to the host program (``other_resident_bytes`` of the plan). ``None``: no limit
        (everything that is not streamed by choice stays resident).
    prefetch: how many streamed layers are copied ahead of the one running (0 = copy each just in time).
    fp8_format: ``e4m3fn`` (more precision) or ``e5m2`` (more range).
    fp8_scale: ``channel`` (one absmax scale per output channel) or ``tensor`` (one per weight).
    stream_precision: ``model`` streams weights in the model's dtype (exact); ``fp8`` streams an FP8 copy (half
        the bytes to transfer, FP8 error).
    compute_dtype: dtype the layers compute in; ``None`` follows the input (ComfyUI's behaviour).
    pin_memory: page-lock the CPU master copy (needed for asynchronous copies); ``None``: when CUDA is used.
    chunk_mb: size of each block of the CPU master copy (a power of two: pinned allocations round up to one).
    high_precision: regular expressions for layer names that FP8/NF4 never touch.
    min_quant_numel: layers with fewer weights than this are never quantised (nothing to gain).
    """

    strategy: Strategy | str = Strategy.OFFLOAD
    budget_gb: float | None = None
    prefetch: int = 2
    fp8_format: str = "e4m3fn"
    fp8_scale: str = "channel"
    stream_precision: str = "model"
    compute_dtype: torch.dtype | None = None
    pin_memory: bool | None = None
    chunk_mb: int = 256
    high_precision: tuple[str, ...] = DEFAULT_HIGH_PRECISION
    min_quant_numel: int = 4096

    def __post_init__(self):
        try:
            object.__setattr__(self, "strategy", Strategy(self.strategy))
        except ValueError:
            raise ValueError(f"strategy must be one of {[s.value for s in Strategy]}, got {self.strategy!r}") from None
        if self.budget_gb is not None:
            if not isinstance(self.budget_gb, (int, float)) or isinstance(self.budget_gb, bool) \
                    or not math.isfinite(self.budget_gb) or self.budget_gb < 0:
                raise ValueError(f"budget_gb must be a finite number >= 0 or None, got {self.budget_gb!r}")
        if not isinstance(self.prefetch, int) or isinstance(self.prefetch, bool) or not 0 <= self.prefetch <= 64:
            raise ValueError(f"prefetch must be an int in 0..64, got {self.prefetch!r}")
        if self.fp8_format not in FP8_FORMATS:
            raise ValueError(f"fp8_format must be one of {sorted(FP8_FORMATS)}, got {self.fp8_format!r}")
        if self.fp8_scale not in FP8_SCALES:
            raise ValueError(f"fp8_scale must be one of {list(FP8_SCALES)}, got {self.fp8_scale!r}")
        if self.stream_precision not in STREAM_PRECISIONS:
            raise ValueError(f"stream_precision must be one of {list(STREAM_PRECISIONS)}, "
                             f"got {self.stream_precision!r}")
        if self.compute_dtype is not None and self.compute_dtype not in FLOAT_DTYPES:
            raise ValueError(f"compute_dtype must be None or one of {FLOAT_DTYPES}, got {self.compute_dtype!r}")
        if self.pin_memory not in (None, True, False):
            raise ValueError(f"pin_memory must be None, True or False, got {self.pin_memory!r}")
        if not isinstance(self.chunk_mb, int) or self.chunk_mb < 1 or self.chunk_mb & (self.chunk_mb - 1):
            raise ValueError(f"chunk_mb must be a power of two >= 1, got {self.chunk_mb!r}")
        if isinstance(self.high_precision, str) or not all(isinstance(p, str) for p in self.high_precision):
            raise ValueError("high_precision must be a tuple of regular expressions")
        for pattern in self.high_precision:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"high_precision pattern {pattern!r} is not a valid regular expression: {e}") from None
        object.__setattr__(self, "high_precision", tuple(self.high_precision))

    @property
    def budget_bytes(self) -> int | None:
        return None if self.budget_gb is None else int(self.budget_gb * GIB)

    @property
    def fp8_dtype(self) -> torch.dtype:
        return FP8_FORMATS[self.fp8_format]

    def keeps_high_precision(self, name: str) -> bool:
        return any(re.search(pattern, name + ".") for pattern in self.high_precision)

    def with_strategy(self, strategy: Strategy | str) -> "OffloadConfig":
        return dataclasses.replace(self, strategy=Strategy(strategy))
