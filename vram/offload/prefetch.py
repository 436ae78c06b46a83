"""Prefetch of streamed layers into a fixed ring of device slots, in the order the model runs them.

Plain torch. The scheduler learns the execution order from the first forward (until then it assumes the order
the layers were registered in) and, when a layer is acquired, issues the copies of the next ``depth`` layers of
that order, wrapping into the next forward. Slots are ``depth + 1`` reused buffers of the largest streamed layer:
no allocation happens while the model runs, and the bytes on the device are exactly what the plan counted.
A layer that is not where the order said (a different code path) is copied on demand and counted as a miss.

Example::

    sched = PrefetchScheduler(transport, depth=2, slot_bytes=plan.slot_bytes, sources=sources)
    views = sched.acquire(i); ...compute with views...; sched.release(i)
"""
from __future__ import annotations

import dataclasses
import logging

import torch

from .arena import ALIGN
from .transport import Slot, SyncTransport

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SourcePart:
    """One tensor of a streamed layer: where it comes from and where it sits in a slot."""

    key: str
    src: torch.Tensor  # on the offload device (pinned when copies are asynchronous)
    offset: int  # bytes into the slot


def layout_parts(tensors: dict[str, torch.Tensor]) -> tuple[list[SourcePart], int]:
    """Place a layer's tensors one after the other, 256-byte aligned; returns (parts, bytes needed)."""
    parts, offset = [], 0
    for key, t in tensors.items():
        parts.append(SourcePart(key, t, offset))
        offset += (t.numel() * t.element_size() + ALIGN - 1) // ALIGN * ALIGN
    return parts, offset


@dataclasses.dataclass
class PrefetchStats:
    acquires: int = 0
    hits: int = 0  # the layer was already in a slot (prefetched) when it was needed
    misses: int = 0  # copied on demand: the model waited for this copy
    reorders: int = 0  # times the learned order changed
    extra_slots: int = 0  # slots added because every slot was in use at once


class PrefetchScheduler:
    def __init__(self, transport: SyncTransport, depth: int, slot_bytes: int,
                 sources: dict[int, list[SourcePart]], order: list[int] | None = None):
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.transport = transport
        self.depth = depth
        self.slot_bytes = slot_bytes
        self.sources = sources
        self.slots: list[Slot] = [transport.new_slot(i, slot_bytes) for i in range(depth + 1)] if sources else []
        self.holding: dict[int, Slot] = {}
        self.in_use: dict[int, Slot] = {}
        known = [i for i in (order or []) if i in sources]
        self.order: list[int] = known + [i for i in sorted(sources) if i not in set(known)]
        self.pos = {idx: i for i, idx in enumerate(self.order)}
        self._recording: list[int] = []
        self._seen: set[int] = set()
        self._tick = 0
        self.stats = PrefetchStats()

    @property
    def device_bytes(self) -> int:
        return sum(s.buffer.numel() for s in self.slots)

    def ahead(self, idx: int) -> list[int]:
        """The ``depth`` layers that follow ``idx`` in the learned order (wrapping around)."""
        p = self.pos.get(idx)
        if p is None or not self.depth:
            return []
        n = len(self.order)
        out = []
        for k in range(1, min(self.depth, n - 1) + 1):
            nxt = self.order[(p + k) % n]
            if nxt != idx and nxt not in out:
                out.append(nxt)
        return out

    def _victim(self, protect: set[int]) -> Slot:
        free = [s for s in self.slots if s.owner is None]
        if free:
            return free[0]
        candidates = [s for s in self.slots if s.owner not in self.in_use and s.owner not in protect]
        if not candidates:
            candidates = [s for s in self.slots if s.owner not in self.in_use]
        if not candidates:  # every slot is being read (nested layers): grow once, say so
            slot = self.transport.new_slot(len(self.slots), self.slot_bytes)
            self.slots.append(slot)
            self.stats.extra_slots += 1
            logger.warning("[Loadout] offload: %d layers in use at once; added a staging slot (%d in all)",
                           len(self.in_use), len(self.slots))
            return slot
        return min(candidates, key=lambda s: s.last_use)

    def _issue(self, idx: int, protect: set[int]) -> Slot:
        slot = self._victim(protect)
        if slot.owner is not None:
            self.holding.pop(slot.owner, None)
        slot.owner = idx
        self.holding[idx] = slot
        pairs = [(self._view(slot, part), part.src) for part in self.sources[idx]]
        self.transport.copy_into(slot, pairs)
        return slot

    @staticmethod
    def _view(slot: Slot, part: SourcePart) -> torch.Tensor:
        n = part.src.numel() * part.src.element_size()
        raw = slot.buffer[part.offset:part.offset + n]
        return raw.view(part.src.dtype).view(part.src.shape)

    def acquire(self, idx: int) -> dict[str, torch.Tensor]:
        """The layer's tensors on the device (views into its slot); the compute stream waits for their copy."""
        self._tick += 1
        self.stats.acquires += 1
        if idx not in self._seen:
            self._seen.add(idx)
            self._recording.append(idx)
        ahead = self.ahead(idx)
        protect = {idx, *ahead}
        slot = self.holding.get(idx)
        if slot is None:
            self.stats.misses += 1
            slot = self._issue(idx, protect)
        else:
            self.stats.hits += 1
        self.transport.wait_ready(slot)
        slot.last_use = self._tick
        self.in_use[idx] = slot
        for nxt in ahead:
            if nxt not in self.holding:
                self._issue(nxt, protect)
        return {part.key: self._view(slot, part) for part in self.sources[idx]}

    def release(self, idx: int) -> None:
        """The compute that reads the layer's slot has been queued: the slot may be refilled after it."""
        slot = self.in_use.pop(idx, None)
        if slot is not None:
            self.transport.mark_free(slot)

    def end_forward(self) -> None:
        """Adopt the order this forward ran in (layers it skipped keep their place after those it ran)."""
        if self._recording and self._recording != self.order[:len(self._recording)]:
            rest = [i for i in self.order if i not in self._seen]
            self.order = self._recording + rest
            self.pos = {idx: i for i, idx in enumerate(self.order)}
            self.stats.reorders += 1
        self._recording, self._seen = [], set()

    def abort_forward(self) -> None:
        """A forward stopped part-way (an error): free what it held, forget its partial order."""
        for idx in list(self.in_use):
            self.release(idx)
        self._recording, self._seen = [], set()

    def close(self) -> None:
        """Drop the device buffers (after the compute stream has caught up with every copy)."""
        self.abort_forward()
        self.transport.drain()
        self.slots, self.holding = [], {}
