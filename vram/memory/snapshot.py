"""Point-in-time memory readings of this process, the machine and every CUDA device.

Pure: psutil and torch only. The ComfyUI node in ``nodes/memory_monitor.py`` adds ComfyUI's own view
(loaded models) and formats the whole as the node's report.

Example::

    snap = take_snapshot()
    print(format_snapshot(snap, label="after decode"))
"""
from __future__ import annotations

import dataclasses
import resource
import sys
import time

from ...core.common.units import MIB  # the monitor and tests read MIB from here too


@dataclasses.dataclass(frozen=True)
class CudaDeviceMemory:
    index: int
    name: str
    allocated: int  # bytes held by live tensors (torch.cuda.memory_allocated)
    reserved: int  # bytes held by torch's caching allocator (torch.cuda.memory_reserved)
    peak_allocated: int  # high-water mark of `allocated` since the last reset
    free: int  # free bytes on the device, as the driver reports (torch.cuda.mem_get_info)
    total: int


@dataclasses.dataclass(frozen=True)
class MemorySnapshot:
    timestamp: float
    process_rss: int
    process_peak_rss: int
    system_total: int
    system_available: int
    cuda: tuple[CudaDeviceMemory, ...]


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def cuda_devices(torch_module=None, reset_peak: bool = False) -> tuple[CudaDeviceMemory, ...]:
    """Read every visible CUDA device. Returns () when torch has no CUDA; never initialises CUDA otherwise."""
    torch = torch_module
    if torch is None:
        import torch  # noqa: PLC0415 - torch is already imported wherever this runs inside ComfyUI
    if not torch.cuda.is_available():
        return ()
    devices = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        devices.append(
            CudaDeviceMemory(
                index=index,
                name=torch.cuda.get_device_name(index),
                allocated=torch.cuda.memory_allocated(index),
                reserved=torch.cuda.memory_reserved(index),
                peak_allocated=torch.cuda.max_memory_allocated(index),
                free=free,
                total=total,
            )
        )
        if reset_peak:
            torch.cuda.reset_peak_memory_stats(index)
    return tuple(devices)


def take_snapshot(reset_cuda_peak: bool = False, torch_module=None) -> MemorySnapshot:
    """Read process, system and CUDA memory now. ``reset_cuda_peak`` restarts the CUDA high-water marks
    after reading them, so the next snapshot's peak covers only what ran in between."""
    import psutil  # noqa: PLC0415

    vm = psutil.virtual_memory()
    return MemorySnapshot(
        timestamp=time.time(),
        process_rss=psutil.Process().memory_info().rss,
        process_peak_rss=_peak_rss_bytes(),
        system_total=vm.total,
        system_available=vm.available,
        cuda=cuda_devices(torch_module, reset_peak=reset_cuda_peak),
    )


def _mib(n: int) -> str:
    return f"{n / MIB:,.0f} MiB"


def format_snapshot(snap: MemorySnapshot, label: str = "", previous: MemorySnapshot | None = None) -> list[str]:
    """Human-readable lines; with ``previous``, each process/device figure also shows its change."""

    def delta(now: int, before: int | None) -> str:
        if before is None:
            return ""
        d = now - before
        return f" ({'+' if d >= 0 else '-'}{_mib(abs(d))})"

    lines = [f"Memory{(' — ' + label) if label else ''}"]
    lines.append(
        f"process RSS {_mib(snap.process_rss)}{delta(snap.process_rss, previous and previous.process_rss)}, "
        f"peak {_mib(snap.process_peak_rss)}"
    )
    used = snap.system_total - snap.system_available
    lines.append(
        f"system RAM {_mib(used)} used of {_mib(snap.system_total)} ({_mib(snap.system_available)} available)"
    )
    if not snap.cuda:
        lines.append("CUDA: not available (CPU run)")
    before = {d.index: d for d in previous.cuda} if previous else {}
    for dev in snap.cuda:
        prev = before.get(dev.index)
        lines.append(
            f"cuda:{dev.index} {dev.name}: allocated {_mib(dev.allocated)}"
            f"{delta(dev.allocated, prev and prev.allocated)}, reserved {_mib(dev.reserved)}, "
            f"peak {_mib(dev.peak_allocated)}, free {_mib(dev.free)} of {_mib(dev.total)}"
        )
    return lines
