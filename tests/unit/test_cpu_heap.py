"""cpu_heap: the mmap-threshold switch nests, and the decode gives identical results with it."""
import torch

from loadout.vram.memory import heap as cpu_heap


def test_context_nests_and_reports_whether_it_acted():
    with cpu_heap.return_freed_memory(True) as outer:
        with cpu_heap.return_freed_memory(True) as inner:
            assert inner == outer
        assert cpu_heap._depth == (1 if outer else 0)
    assert cpu_heap._depth == 0
    with cpu_heap.return_freed_memory(False) as acted:
        assert acted is False


def test_large_allocations_still_work_inside():
    with cpu_heap.return_freed_memory(True):
        a = torch.ones(4096, 4096)
        b = a * 2
        del a
    assert float(b.sum()) == 2 * 4096 * 4096
