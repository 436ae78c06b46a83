"""The one out-of-memory recogniser: the offload ladder, the tiled VAE's tile ladder and the nodes all ask it.

An error counts as out of memory when it is torch's ``OutOfMemoryError`` (``torch.cuda.OutOfMemoryError`` is the
same class; ComfyUI's ``model_management.OOM_EXCEPTION`` is it too), Python's ``MemoryError``, or a
``RuntimeError`` whose message is an allocator's out-of-memory report: CUDA/HIP/XPU/MPS "out of memory", the CPU
allocator's "can't allocate memory", cuBLAS's "CUBLAS_STATUS_ALLOC_FAILED". torch is not imported here: an
exception can only be torch's when torch is already loaded.
"""
from __future__ import annotations

import sys

MESSAGES = ("out of memory", "can't allocate memory", "cublas_status_alloc_failed")


def is_oom(exc: BaseException) -> bool:
    """True when ``exc`` reports that an allocation failed (see the module doc)."""
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(m in text for m in MESSAGES)
    return False
