"""Which layers stay resident under a VRAM budget, and what the rest will cost to stream.

Plain Python. Every byte the offloader puts on the device is counted against the budget: resident layers, the
``prefetch + 1`` staging slots (each the size of the largest streamed layer), the largest transient weight a
layer builds while it runs (a dequantised or LoRA-patched copy), and the bytes of the layers the offloader does
not manage (``other_resident_bytes``: norms, embeddings, whatever the host keeps on the device).

A streamed layer's copy is issued when the layer ``prefetch`` places before it starts, so it is hidden by their
compute; what is not hidden is exposed time. Layers are made resident in order of exposed time saved per byte —
the ones whose transfer would cost most — until the budget is full. Before the model has run once, compute
times are unknown (zero): the rule then keeps the small layers resident (the same bytes to stream in fewer,
larger copies, which is what a latency-bound link rewards). After the first forward the offloader knows each
layer's FLOPs and re-plans.

Example::

    plan = plan_offload(layers, budget_bytes=4 << 30, prefetch=2, other_resident_bytes=120 << 20)
    plan.resident, plan.device_bytes <= 4 << 30
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class LayerCost:
    index: int
    name: str
    resident_bytes: int  # on the device when kept resident
    stream_bytes: int  # copied per use when streamed
    transient_bytes: int = 0  # extra bytes while it runs (dequantised / patched weight)
    flops: float = 0.0  # per forward, 0 when unknown
    position: int = 0  # place in the execution order


@dataclasses.dataclass(frozen=True)
class DeviceSpeed:
    h2d_bytes_per_s: float = 20e9  # pinned PCIe 4.0 x16, typical
    flops_per_s: float = 100e12  # sustained fp16 tensor-core throughput, order of magnitude
    transfer_latency_s: float = 10e-6  # per copy: launch + DMA setup

    def copy_s(self, nbytes: int) -> float:
        return self.transfer_latency_s + nbytes / self.h2d_bytes_per_s

    def compute_s(self, flops: float) -> float:
        return flops / self.flops_per_s


class BudgetTooSmall(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class OffloadPlan:
    resident: frozenset[int]
    streamed: tuple[int, ...]  # in execution order
    slots: int
    slot_bytes: int
    transient_bytes: int
    resident_bytes: int
    other_resident_bytes: int
    budget_bytes: int | None
    compute_s: float  # predicted per forward
    exposed_s: float  # predicted transfer time the compute could not hide, per forward
    streamed_bytes: int  # copied per forward

    @property
    def staging_bytes(self) -> int:
        return self.slots * self.slot_bytes

    @property
    def device_bytes(self) -> int:
        """Everything counted against the budget."""
        return self.resident_bytes + self.staging_bytes + self.transient_bytes + self.other_resident_bytes


def _hide_times(layers: list[LayerCost], prefetch: int, speed: DeviceSpeed) -> dict[int, float]:
    """Compute time of the ``prefetch`` layers before each one (wrapping: the copy of the first layers overlaps
    the end of the previous forward)."""
    ordered = sorted(layers, key=lambda c: c.position)
    n = len(ordered)
    compute = [speed.compute_s(c.flops) for c in ordered]
    out = {}
    for i, c in enumerate(ordered):
        out[c.index] = sum(compute[(i - k) % n] for k in range(1, min(prefetch, n - 1) + 1)) if n > 1 else 0.0
    return out


def simulate(layers: list[LayerCost], resident: set[int], prefetch: int, speed: DeviceSpeed) -> tuple[float, float]:
    """(compute seconds, exposed seconds) of one steady-state forward: one copy stream, one compute stream,
    ``prefetch + 1`` slots; streamed layer k's copy is issued when streamed layer k - prefetch starts and may
    not overwrite the slot of streamed layer k - prefetch - 1 before that layer's compute has finished."""
    ordered = sorted(layers, key=lambda c: c.position)
    streamed = [c for c in ordered if c.index not in resident]
    rank = {c.index: k for k, c in enumerate(streamed)}
    start: dict[int, float] = {}
    finish: dict[int, float] = {}
    copy_done: dict[int, float] = {}
    t_compute = 0.0
    t_copy = 0.0
    total_compute = 0.0

    def issue(k: int) -> None:
        nonlocal t_copy
        if k >= len(streamed) or k in copy_done:
            return
        issued = start.get(k - prefetch, 0.0) if k - prefetch >= 0 else 0.0
        slot_free = finish.get(k - prefetch - 1, 0.0) if k - prefetch - 1 >= 0 else 0.0
        begin = max(t_copy, issued, slot_free)
        t_copy = begin + speed.copy_s(streamed[k].stream_bytes)
        copy_done[k] = t_copy

    for k in range(min(prefetch, len(streamed))):
        issue(k)
    for c in ordered:
        duration = speed.compute_s(c.flops)
        total_compute += duration
        if c.index in rank:
            k = rank[c.index]
            issue(k)
            begin = max(t_compute, copy_done[k])
            start[k] = begin
            for j in range(k + 1, k + prefetch + 1):
                issue(j)
            t_compute = begin + duration
            finish[k] = t_compute
        else:
            t_compute += duration
    return total_compute, max(0.0, t_compute - total_compute)


def plan_offload(layers: list[LayerCost], budget_bytes: int | None, prefetch: int,
                 other_resident_bytes: int = 0, speed: DeviceSpeed = DeviceSpeed(),
                 resident_none: bool = False) -> OffloadPlan:
    """Choose the resident layers. ``budget_bytes`` None: everything resident (``resident_none``: nothing, the
    sequential strategy). Raises ``BudgetTooSmall`` (with the figures) when not even the staging buffers and the
    unmanaged layers fit."""
    if prefetch < 0:
        raise ValueError(f"prefetch must be >= 0, got {prefetch}")
    all_idx = {c.index for c in layers}
    if resident_none:
        return _finish(layers, set(), prefetch, other_resident_bytes, budget_bytes, speed)
    if budget_bytes is None or not layers:
        resident = all_idx
        return _finish(layers, resident, prefetch, other_resident_bytes, budget_bytes, speed)
    hide = _hide_times(layers, prefetch, speed)
    by_index = {c.index: c for c in layers}

    def exposed_saved(c: LayerCost) -> float:
        return speed.transfer_latency_s + max(0.0, c.stream_bytes / speed.h2d_bytes_per_s - hide[c.index])

    ranked = sorted(layers, key=lambda c: (-exposed_saved(c) / max(c.resident_bytes, 1), c.resident_bytes, c.index))
    resident: set[int] = set()
    for _round in range(4):  # the slot size shrinks when the largest streamed layers become resident
        streamed = [by_index[i] for i in all_idx - resident]
        slot_bytes = max((c.stream_bytes for c in streamed), default=0)
        slots = prefetch + 1 if streamed else 0
        transient = max((c.transient_bytes for c in layers), default=0)
        fixed = other_resident_bytes + slots * slot_bytes + transient
        room = budget_bytes - fixed - sum(by_index[i].resident_bytes for i in resident)
        if room < 0 and not resident:
            raise BudgetTooSmall(
                f"budget {budget_bytes / 2**20:,.1f} MB is below the minimum {fixed / 2**20:,.1f} MB "
                f"(layers left to the host {other_resident_bytes / 2**20:.0f} MB, {slots} staging slots of "
                f"{slot_bytes / 2**20:.1f} MB, transient {transient / 2**20:.1f} MB)")
        grew = False
        for c in ranked:
            if c.index in resident or c.resident_bytes > room:
                continue
            # keeping the largest streamed layer resident frees slot bytes too: only counted next round
            resident.add(c.index)
            room -= c.resident_bytes
            grew = True
        new_slot = max((by_index[i].stream_bytes for i in all_idx - resident), default=0)
        if not grew or new_slot == slot_bytes:
            break
    return _finish(layers, resident, prefetch, other_resident_bytes, budget_bytes, speed)


def _finish(layers, resident, prefetch, other, budget, speed) -> OffloadPlan:
    streamed = [c for c in sorted(layers, key=lambda c: c.position) if c.index not in resident]
    slot_bytes = max((c.stream_bytes for c in streamed), default=0)
    compute, exposed = simulate(layers, resident, prefetch, speed)
    return OffloadPlan(
        resident=frozenset(resident), streamed=tuple(c.index for c in streamed),
        slots=(prefetch + 1) if streamed else 0, slot_bytes=slot_bytes,
        transient_bytes=max((c.transient_bytes for c in layers), default=0),
        resident_bytes=sum(c.resident_bytes for c in layers if c.index in resident),
        other_resident_bytes=other, budget_bytes=budget, compute_s=compute, exposed_s=exposed,
        streamed_bytes=sum(c.stream_bytes for c in streamed))
