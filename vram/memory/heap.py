"""Returning freed CPU memory to the OS during a low-memory computation (glibc on Linux).

glibc serves allocations below its *mmap threshold* from the heap, and raises that threshold dynamically (up to
32 MiB on 64-bit) after large blocks are freed. A tiled decode frees and reallocates tile-sized activations
(tens of MB) many times; once the threshold has grown they come from the heap, whose freed pages the process
keeps, so peak RSS approaches the untiled decode's even though little is live at any moment (measured: 0.81x).
Pinning the threshold at 128 KiB for the duration makes those buffers mmap'd, so each free returns its pages at
once (measured: 0.20x, `bench/results/vae_tiled.json`), at the cost of page faults on reallocation.

mallopt settings are process-wide and glibc cannot report the current threshold, so afterwards it is set to
32 MiB: the ceiling glibc's dynamic threshold climbs to anyway once large tensors have been freed, so later code
sees the allocator it would have had. Elsewhere (no glibc, or another OS) this does nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import sys
import threading

from ...core.common.units import KIB, MIB

logger = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3
LOW_THRESHOLD = 128 * KIB
SETTLED_THRESHOLD = 32 * MIB
_lock = threading.Lock()
_depth = 0


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextlib.contextmanager
def return_freed_memory(enabled: bool = True):
    """Within the block, large freed CPU buffers go back to the OS immediately (see the module doc)."""
    global _depth
    libc = _libc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_THRESHOLD, LOW_THRESHOLD)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_THRESHOLD, SETTLED_THRESHOLD)
                libc.malloc_trim(0)
