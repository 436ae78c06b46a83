"""Soak: many sequential prompts through one server, varying LoRA strengths, ControlNet strength, schedules and
VAE tiles. After warm-up the server's RSS grows less than 50 MB and its open files (sockets aside) do not grow; a
configuration gives the same pixels every time it comes round again. Warm-up is the first two rounds of the 12
configurations (ComfyUI's caches and model patching settle: RSS moves by about ±100 MB while they do); growth is
the highest RSS after warm-up minus the highest during it. CI runs LOADOUT_SOAK_N (default 36) prompts;
`make soak` runs 200."""
import itertools
import os
import time
from pathlib import Path

import numpy as np
import pytest

from harness.graphs import loadout_stack_graph as good_graph

N = int(os.environ.get("LOADOUT_SOAK_N", "36"))
CONFIGS = list(itertools.product((0.4, 0.9), ("karras", "ays_sd1", "diffusers_trailing"), (0, 64)))  # 12


def graph(i: int) -> dict:
    strength, schedule, tile = CONFIGS[i % len(CONFIGS)]
    g = good_graph()
    g["2"]["inputs"]["model_strength"] = strength
    g["8"]["inputs"]["strength"] = 1.2 - strength
    g["10"]["inputs"]["schedule"] = schedule
    g["14"]["inputs"]["tile_size"] = tile
    g["15"]["inputs"]["filename_prefix"] = f"loadout/soak_{i % len(CONFIGS)}"
    return g


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_files(pid: int) -> list[str]:
    """What the open file descriptors point at (sockets excluded: HTTP connections of the test's own requests
    come and go)."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed while we looked
        if not target.startswith("socket:"):
            targets.append(target)
    return sorted(targets)


def fds(pid: int) -> int:
    """Persistently open files: the least over two seconds (the server may still be closing the image it just
    served over /view when a prompt's result arrives; a leak stays open)."""
    counts = []
    for _ in range(20):
        counts.append(len(open_files(pid)))
        time.sleep(0.1)
    return min(counts)


@pytest.mark.timeout(3600)
def test_soak_memory_files_and_determinism(comfy):
    pid = comfy.server.proc.pid
    warm = 2 * len(CONFIGS)
    seen: dict[int, np.ndarray] = {}
    base_rss = base_fds = None
    trace = []
    for i in range(max(N, warm + 1)):
        image = comfy.image(comfy.run(graph(i)))
        trace.append(round(rss_mb(pid)))
        key = i % len(CONFIGS)
        if key in seen:
            assert np.array_equal(image, seen[key]), f"prompt {i}: configuration {CONFIGS[key]} changed its output"
        else:
            seen[key] = image
        if i == warm - 1:
            base_rss, base_fds = max(trace), fds(pid)
            base_files = open_files(pid)
    growth, fd_growth = max(trace[warm:]) - base_rss, fds(pid) - base_fds
    print(f"[soak] {max(N, warm + 1)} prompts: RSS growth after warm-up {growth:.1f} MB, fd growth {fd_growth}; "
          f"RSS per prompt (MB): {trace}")
    assert growth < 50, f"RSS grew {growth:.1f} MB after warm-up"
    if fd_growth > 0:
        now = open_files(pid)
        new = [t for t in now if now.count(t) > base_files.count(t)]
        raise AssertionError(f"{fd_growth} file handles leaked: {sorted(set(new))}")
    assert len({a.tobytes() for a in seen.values()}) > 1, "the variations must change the output"
