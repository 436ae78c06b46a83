"""Moving weights to the compute device: reusable device slots, fenced by events, copied on a side stream.

Plain torch. ``CudaStreamTransport`` issues every host-to-device copy on its own CUDA stream: the copy into a slot
first waits (on the GPU, ``stream.wait_event``) for the event the compute stream recorded after the slot's last
reader, then records a "ready" event that the compute stream waits for before the layer runs. The host never
waits. ``SyncTransport`` does the same work synchronously, for the CPU and for devices without streams; both
have the same interface, so the scheduling in ``prefetch.py`` is tested on the CPU.
"""
from __future__ import annotations

import dataclasses
import time

import torch


@dataclasses.dataclass
class Slot:
    """One reusable device buffer holding the weights of one streamed layer at a time."""

    index: int
    buffer: torch.Tensor  # uint8, on the device
    ready: object = None  # fence: the copy into the buffer has finished
    free: object = None  # fence: the last compute that read the buffer has finished
    owner: int | None = None  # index of the layer whose weights are (being) copied in
    last_use: int = -1


class SyncTransport:
    """Copies happen when issued; fences are no-ops. Used on the CPU (and as the reference in tests)."""

    asynchronous = False

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.copies = 0
        self.bytes_copied = 0

    def new_slot(self, index: int, nbytes: int) -> Slot:
        return Slot(index, torch.empty(max(nbytes, 1), dtype=torch.uint8, device=self.device))

    def copy_into(self, slot: Slot, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        for dst, src in pairs:
            dst.copy_(src)
            self.bytes_copied += src.numel() * src.element_size()
        self.copies += 1

    def wait_ready(self, slot: Slot) -> None:
        return None

    def mark_free(self, slot: Slot) -> None:
        return None

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        """A device copy of ``t`` (a new tensor even when ``t`` is already on the device)."""
        return t.to(self.device, copy=True)

    def adopt(self, t: torch.Tensor) -> torch.Tensor:
        """Note a tensor made on the device by computation (a quantised payload); returns it."""
        return t

    def drain(self) -> None:
        return None

    def free_bytes(self) -> int | None:
        return None

    def empty_cache(self) -> None:
        return None


class CudaStreamTransport(SyncTransport):
    """Copies on a side stream, fenced with events; requires pinned sources for real overlap."""

    asynchronous = True

    def __init__(self, device: torch.device):
        super().__init__(device)
        self.stream = torch.cuda.Stream(device=self.device)

    def new_slot(self, index: int, nbytes: int) -> Slot:
        slot = super().new_slot(index, nbytes)
        slot.ready = torch.cuda.Event()
        slot.free = torch.cuda.Event()
        # the buffer came from the compute stream's pool: memory it reuses may still be read by queued kernels
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        return slot

    def copy_into(self, slot: Slot, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        with torch.cuda.stream(self.stream):
            self.stream.wait_event(slot.free)  # an event never recorded is already complete
            for dst, src in pairs:
                dst.copy_(src, non_blocking=True)
                self.bytes_copied += src.numel() * src.element_size()
            slot.ready.record(self.stream)
        self.copies += 1

    def wait_ready(self, slot: Slot) -> None:
        torch.cuda.current_stream(self.device).wait_event(slot.ready)

    def mark_free(self, slot: Slot) -> None:
        slot.free.record(torch.cuda.current_stream(self.device))

    def to_device(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device, copy=True, non_blocking=t.is_pinned())

    def drain(self) -> None:
        """Make the compute stream wait for every copy issued (GPU-side), before buffers are dropped."""
        torch.cuda.current_stream(self.device).wait_stream(self.stream)

    def free_bytes(self) -> int | None:
        free, _total = torch.cuda.mem_get_info(self.device)
        return int(free)

    def empty_cache(self) -> None:
        torch.cuda.empty_cache()


def transport_for(device: torch.device, offload_device: torch.device) -> SyncTransport:
    device = torch.device(device)
    if device.type == "cuda" and torch.device(offload_device).type == "cpu":
        return CudaStreamTransport(device)
    return SyncTransport(device)


@dataclasses.dataclass(frozen=True)
class MeasuredSpeed:
    """Host-to-device bandwidth and matmul throughput, measured once on the real device."""

    h2d_bytes_per_s: float
    flops_per_s: float


def measure_speed(device: torch.device, pinned: bool, dtype: torch.dtype = torch.float16,
                  copy_mb: int = 64) -> MeasuredSpeed:
    """Time one pinned (or pageable) copy of ``copy_mb`` MiB and one 2048³ matmul (CUDA: with events, two
    host synchronisations in all; CPU: a memcpy and a smaller matmul)."""
    device = torch.device(device)
    if device.type == "cuda":
        src = torch.empty(copy_mb << 20, dtype=torch.uint8, pin_memory=pinned)
        dst = torch.empty_like(src, device=device)
        a = torch.randn(2048, 2048, device=device, dtype=dtype)
        dst.copy_(src, non_blocking=pinned)
        _ = a @ a  # warm up
        start, mid, end = (torch.cuda.Event(enable_timing=True) for _ in range(3))
        start.record()
        dst.copy_(src, non_blocking=pinned)
        mid.record()
        for _ in range(4):
            _ = a @ a
        end.record()
        end.synchronize()
        copy_s = max(start.elapsed_time(mid) / 1e3, 1e-6)
        mm_s = max(mid.elapsed_time(end) / 1e3, 1e-6)
        return MeasuredSpeed(src.numel() / copy_s, 4 * 2 * 2048 ** 3 / mm_s)
    src = torch.empty(copy_mb << 20, dtype=torch.uint8)
    dst = torch.empty_like(src)
    a = torch.randn(512, 512)
    t0 = time.perf_counter()
    dst.copy_(src)
    t1 = time.perf_counter()
    for _ in range(4):
        _ = a @ a
    t2 = time.perf_counter()
    return MeasuredSpeed(src.numel() / max(t1 - t0, 1e-6), 4 * 2 * 512 ** 3 / max(t2 - t1, 1e-6))
