"""The CPU master copy's blocks, the planner's accounting and the prefetch ring's fences (no ComfyUI)."""
import random

import pytest
import torch
from loadout.vram.offload.arena import HostArena, next_pow2
from loadout.vram.offload.planner import BudgetTooSmall, DeviceSpeed, LayerCost, plan_offload, simulate
from loadout.vram.offload.prefetch import PrefetchScheduler, layout_parts
from loadout.vram.offload.transport import SyncTransport

MB = 1 << 20


def test_arena_packs_tensors_into_few_blocks_and_copies_them_exactly():
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(n, generator=g).to(dt) for n, dt in
               [(1000, torch.float32), (3, torch.float16), (70000, torch.bfloat16), (1, torch.float32)] * 20]
    before = [t.clone() for t in tensors]
    arena = HostArena.build(tensors, chunk_bytes=1 * MB, pin=False)
    assert len(arena.chunks) == 3  # 2.9 MB of data in 1 MB blocks
    for t, view, old in zip(tensors, arena.views, before):
        assert torch.equal(view, t) and view.dtype == t.dtype and view.shape == t.shape
        assert torch.equal(t, old)
        assert view.data_ptr() % 64 == 0  # torch's CPU allocator aligns blocks to 64; offsets inside are 256
        assert any(0 <= view.data_ptr() - c.data_ptr() < c.numel() and (view.data_ptr() - c.data_ptr()) % 256 == 0
                   for c in arena.chunks)
        assert view.data_ptr() != t.data_ptr()
    assert arena.reserved_bytes == sum(c.numel() for c in arena.chunks) >= arena.used_bytes


def test_arena_layout_rounds_like_the_pinned_allocator():
    sizes = [300 * 1024] * 10 + [5 * MB]
    blocks, places = HostArena.layout(sizes, chunk_bytes=1 * MB, round_pow2=True)
    assert all(b & (b - 1) == 0 for b in blocks), "pinned blocks are powers of two"
    assert blocks[-1] == next_pow2(5 * MB) == 8 * MB  # the oversized tensor gets a block of its own
    exact, _ = HostArena.layout(sizes, chunk_bytes=1 * MB, round_pow2=False)
    assert sum(exact) < sum(blocks)
    for (block, offset), size in zip(places, sizes):
        assert offset + size <= blocks[block]


def _layers(n=30, seed=0, flops=False):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        size = rnd.choice([64 * 1024, 1 * MB, 3 * MB, 6 * MB])
        out.append(LayerCost(i, f"l{i}", size, size, transient_bytes=rnd.choice([0, size]),
                             flops=(rnd.random() * 2e9 if flops else 0.0), position=i))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_planner_never_exceeds_the_budget(seed):
    layers = _layers(seed=seed, flops=seed % 2 == 1)
    total = sum(c.resident_bytes for c in layers)
    for fraction in (0.3, 0.5, 0.75, 0.95, 2.0):
        budget = int(total * fraction)
        for prefetch in (0, 1, 3):
            fixed = 2 * MB + (prefetch + 1) * max(c.stream_bytes for c in layers) + max(c.transient_bytes for c in layers)
            if budget < fixed:
                with pytest.raises(BudgetTooSmall):
                    plan_offload(layers, budget, prefetch, other_resident_bytes=2 * MB)
                continue
            plan = plan_offload(layers, budget, prefetch, other_resident_bytes=2 * MB)
            assert plan.device_bytes <= budget, (fraction, prefetch, plan.device_bytes, budget)
            streamed = [c for c in layers if c.index in plan.streamed]
            assert plan.slot_bytes == max((c.stream_bytes for c in streamed), default=0)
            assert plan.slots == (prefetch + 1 if streamed else 0)
            assert set(plan.streamed) | plan.resident == {c.index for c in layers}
            if fraction >= 2.0:
                assert not plan.streamed


def test_planner_refuses_a_budget_below_its_fixed_cost_with_the_figures():
    with pytest.raises(BudgetTooSmall, match=r"below the minimum .* 3 staging slots of 6.0 MB"):
        plan_offload(_layers(seed=1), 10 * MB, prefetch=2, other_resident_bytes=1 * MB)


def test_without_timings_the_small_layers_stay_and_with_timings_the_hidden_ones_stream():
    small = [LayerCost(i, f"s{i}", MB, MB, position=2 * i) for i in range(4)]
    big = [LayerCost(10 + i, f"b{i}", 4 * MB, 4 * MB, position=2 * i + 1) for i in range(4)]
    plan = plan_offload(small + big, 4 * MB + 3 * 4 * MB + 3 * MB, prefetch=2)
    assert plan.resident == {0, 1, 2, 3}, "unknown compute: fewer, larger copies"
    # now the small layers are expensive to compute: the big layers' copies hide behind them, and layer s0
    # (first in the order) is the one whose copy nothing hides except the previous forward's end
    speed = DeviceSpeed(h2d_bytes_per_s=1e9, flops_per_s=1e12)
    timed_small = [LayerCost(c.index, c.name, c.resident_bytes, c.stream_bytes, flops=5e10, position=c.position)
                   for c in small]
    timed = plan_offload(timed_small + big, 2 * 4 * MB + 3 * 4 * MB, prefetch=1, speed=speed)
    assert {10, 11, 12, 13} - timed.resident, "the big layers whose copy is hidden are streamed first"
    _, exposed_all_streamed = simulate(timed_small + big, set(), 1, speed)
    assert timed.exposed_s <= exposed_all_streamed


def test_simulation_counts_hidden_and_exposed_copies():
    speed = DeviceSpeed(h2d_bytes_per_s=1e9, flops_per_s=1e12, transfer_latency_s=0.0)
    layers = [LayerCost(i, f"l{i}", 10 ** 6, 10 ** 6, flops=2e9, position=i) for i in range(8)]  # 1 ms copy, 2 ms compute
    compute, exposed = simulate(layers, set(), 1, speed)
    assert compute == pytest.approx(0.016)
    assert exposed == pytest.approx(0.001)  # only the first copy is exposed
    _, none_ahead = simulate(layers, set(), 0, speed)
    assert none_ahead == pytest.approx(0.008)  # every copy waits
    assert simulate(layers, {c.index for c in layers}, 1, speed)[1] == 0.0


class FenceLog(SyncTransport):
    """Records copies and fences; checks that a slot is never refilled before its last reader released it."""

    def __init__(self):
        super().__init__("cpu")
        self.log = []
        self.reading = {}

    def copy_into(self, slot, pairs):
        assert not self.reading.get(slot.index), f"slot {slot.index} refilled while its reader was running"
        self.log.append(("copy", slot.index, slot.owner))
        super().copy_into(slot, pairs)

    def wait_ready(self, slot):
        self.reading[slot.index] = True
        self.log.append(("wait", slot.index, slot.owner))

    def mark_free(self, slot):
        self.reading[slot.index] = False
        self.log.append(("free", slot.index, slot.owner))


def _sources(n):
    return {i: layout_parts({"weight": torch.full((8, 8), float(i)), "bias": torch.full((8,), -float(i))})[0]
            for i in range(n)}


def test_prefetch_runs_depth_ahead_wraps_across_forwards_and_learns_the_order():
    t = FenceLog()
    sched = PrefetchScheduler(t, depth=2, slot_bytes=layout_parts({"w": torch.zeros(8, 8), "b": torch.zeros(8)})[1],
                              sources=_sources(6))
    order = [3, 1, 5, 0, 2, 4]  # not the registration order
    for forward in range(3):
        for i in order:
            views = sched.acquire(i)
            assert torch.equal(views["weight"], torch.full((8, 8), float(i)))
            assert torch.equal(views["bias"], torch.full((8,), -float(i)))
            sched.release(i)
        sched.end_forward()
        if forward == 0:
            assert sched.order == order
        if forward == 1:  # the first forward's tail prefetched by the registration order: one miss in the second
            steady_misses = sched.stats.misses
    third = sched.stats
    assert len(sched.slots) == 3, "depth + 1 reused slots, none added"
    assert third.misses == steady_misses, "once the order is learned every layer is prefetched"
    assert third.hits == 18 - third.misses and third.reorders == 1
    sched.close()
    assert sched.slots == []


def test_a_layer_off_the_learned_order_is_copied_on_demand():
    sched = PrefetchScheduler(SyncTransport("cpu"), depth=1, slot_bytes=4096, sources=_sources(4))
    for i in [0, 1, 2, 3]:
        sched.acquire(i)
        sched.release(i)
    sched.end_forward()
    misses = sched.stats.misses
    sched.acquire(2)  # the order expected 0 next
    assert sched.stats.misses == misses + 1
    sched.release(2)
    sched.abort_forward()


def test_nested_layers_get_an_extra_slot_instead_of_a_clobbered_one():
    t = FenceLog()
    sched = PrefetchScheduler(t, depth=0, slot_bytes=4096, sources=_sources(3))
    a = sched.acquire(0)
    b = sched.acquire(1)  # 0 still running: its slot must not be refilled
    assert torch.equal(a["weight"], torch.full((8, 8), 0.0)) and torch.equal(b["weight"], torch.full((8, 8), 1.0))
    assert sched.stats.extra_slots == 1
    sched.release(1)
    sched.release(0)
