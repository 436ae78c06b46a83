"""A "device" with a fixed capacity for the offloader's tests: allocations past it raise torch's OutOfMemoryError
exactly where a full GPU would, on the CPU (import after the pack alias exists: tests/conftest.py makes it)."""
import weakref

import torch
from loadout.vram.offload.transport import SyncTransport


class CapacityTransport(SyncTransport):
    def __init__(self, capacity: int):
        super().__init__("cpu")
        self.capacity = capacity
        self.live = {}

    def _alloc(self, t):
        n = t.numel() * t.element_size()
        used = sum(size for ref, size in self.live.values() if ref() is not None)
        if used + n > self.capacity:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {n / 2**20:.2f} MiB")
        self.live[id(t)] = (weakref.ref(t), n)
        return t

    def new_slot(self, index, nbytes):
        slot = super().new_slot(index, nbytes)
        self._alloc(slot.buffer)
        return slot

    def to_device(self, t):
        return self._alloc(super().to_device(t))

    def adopt(self, t):
        return self._alloc(t)

    def free_bytes(self):
        return self.capacity - sum(size for ref, size in self.live.values() if ref() is not None)
