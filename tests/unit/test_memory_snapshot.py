"""vram/memory_snapshot.py against the operating system's own figures (psutil, /proc)."""
import types

import mmap

import numpy as np
import psutil
import torch  # imported up front as inside ComfyUI, so the first reading is not taken mid-import

from loadout.vram.memory.snapshot import MIB, MemorySnapshot, cuda_devices, format_snapshot, take_snapshot


def test_rss_matches_psutil_and_sees_a_large_allocation():
    before = take_snapshot()
    assert abs(before.process_rss - psutil.Process().memory_info().rss) < 64 * MIB
    # fresh anonymous pages, touched: real RSS whatever the allocator holds free from earlier tests in this
    # process (a malloc of 256 MiB may be served from memory freed before, which RSS already counts)
    block = mmap.mmap(-1, 256 * MIB)
    np.frombuffer(block, dtype=np.uint8)[:] = 1
    after = take_snapshot()
    assert after.process_rss - before.process_rss > 200 * MIB
    assert after.process_peak_rss >= after.process_rss - 16 * MIB
    assert 0 < after.system_available <= after.system_total == psutil.virtual_memory().total
    block.close()


def test_report_on_cpu_names_label_and_has_no_cuda():
    snap = take_snapshot()
    lines = format_snapshot(snap, label="after decode")
    assert lines[0] == "Memory — after decode"
    assert lines[1].startswith("process RSS ") and "peak" in lines[1]
    assert "CUDA: not available (CPU run)" in lines


def test_report_shows_change_since_previous():
    prev = MemorySnapshot(0.0, 100 * MIB, 100 * MIB, 1000 * MIB, 500 * MIB, ())
    now = MemorySnapshot(1.0, 164 * MIB, 170 * MIB, 1000 * MIB, 400 * MIB, ())
    lines = format_snapshot(now, previous=prev)
    assert lines[1] == "process RSS 164 MiB (+64 MiB), peak 170 MiB"
    assert lines[2] == "system RAM 600 MiB used of 1,000 MiB (400 MiB available)"
    down = format_snapshot(prev, previous=now)
    assert "(-64 MiB)" in down[1]


def _fake_cuda(resets: list):
    """A torch stand-in with two CUDA devices, to exercise the reading order without a GPU."""
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 2,
        mem_get_info=lambda i: ((10 + i) * MIB, 80 * 1024 * MIB),
        get_device_name=lambda i: f"GPU{i}",
        memory_allocated=lambda i: (1 + i) * MIB,
        memory_reserved=lambda i: (2 + i) * MIB,
        max_memory_allocated=lambda i: 0 if i in resets else (5 + i) * MIB,
        reset_peak_memory_stats=resets.append,
    )
    return types.SimpleNamespace(cuda=cuda)


def test_cuda_devices_read_peak_before_reset():
    resets: list = []
    devices = cuda_devices(_fake_cuda(resets), reset_peak=True)
    assert [d.peak_allocated for d in devices] == [5 * MIB, 6 * MIB]  # read before the reset
    assert resets == [0, 1]
    lines = format_snapshot(MemorySnapshot(0, MIB, MIB, MIB, MIB, devices), previous=None)
    assert any(line.startswith("cuda:1 GPU1: allocated 2 MiB, reserved 3 MiB, peak 6 MiB") for line in lines)


def test_cuda_devices_empty_without_cuda():
    if torch.cuda.is_available():
        assert len(cuda_devices()) == torch.cuda.device_count()
    else:
        assert cuda_devices() == ()
