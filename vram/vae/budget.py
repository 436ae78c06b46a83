"""Memory planning for tiled VAE work: estimate a decode's peak, pick a tile for a budget, and retry down an
out-of-memory ladder. Plain Python/torch, no ComfyUI import.

The estimate counts what ``vae_tiling.decode_tiled`` holds: the activations every tile keeps between
GroupNorm synchronisations (two tensors of the widest stage, across the image, plus halos), and the transient
working set of the tile being computed (its input, normalised copy and convolution output at full resolution,
with the convolution's workspace). ``KL_WORKSET`` was fitted to peak-RSS measurements of the SD KL decoder on
the CPU (bench/vae_tiled.py reports the measured figures next to the estimate).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from ...core.common.oom import is_oom as _is_oom

KL_STORED = 2.5  # lockstep: widest-stage tensors alive per pixel across all tiles (x and h of a block, halos)
KL_STORED_LOW = 1.2  # low-memory: one checkpoint per tile (the widest stage, with halos)
KL_WORKSET = 14.0  # transient full-resolution tensors of one tile (input, norm, silu, conv out, workspace)
MIN_TILE = 8  # latent pixels


@dataclasses.dataclass(frozen=True)
class DecodeEstimate:
    stored_bytes: int
    tile_bytes: int

    @property
    def peak_bytes(self) -> int:
        return self.stored_bytes + self.tile_bytes


def estimate_decode(latent_hw: tuple[int, int], tile: int, halo: int, channels: int = 128, scale: int = 8,
                    dtype_bytes: int = 4, batch: int = 1, low_memory: bool = False) -> DecodeEstimate:
    """Peak bytes of a tiled decode of a ``latent_hw`` latent (batch slice ``batch``), beyond the weights.
    ``channels`` is the widest stage's channel count (128 for SD/SDXL), ``scale`` the upscale (8);
    ``low_memory`` selects the checkpointed mode of ``decode_tiled``."""
    h, w = latent_hw
    t = min(tile, max(h, w))
    tile_h, tile_w = min(h, t) + 2 * min(halo, h), min(w, t) + 2 * min(halo, w)
    pixels = h * w * scale * scale
    stored = (KL_STORED_LOW if low_memory else KL_STORED) * pixels * channels * dtype_bytes * batch
    if t >= max(h, w):  # one tile: no stored set, the whole image is the working set
        stored = 0
    tile_pixels = min(tile_h, h + 2 * halo) * min(tile_w, w + 2 * halo) * scale * scale
    work = KL_WORKSET * tile_pixels * channels * dtype_bytes * batch
    return DecodeEstimate(int(stored), int(work))


def tile_for_budget(latent_hw: tuple[int, int], budget_bytes: int, halo: int, mode: str = "auto",
                    **kw) -> tuple[int, bool, DecodeEstimate]:
    """(tile, low_memory, estimate): the largest tile (a multiple of 8 latent pixels, or the whole latent)
    whose estimate fits the budget. ``mode`` "fast" considers only lockstep, "low memory" only the
    checkpointed mode, "auto" prefers lockstep (less compute) and falls back to low memory. When nothing fits,
    the smallest tile of the leanest allowed mode (the caller reports that the budget is too small)."""
    h, w = latent_hw
    candidates = [max(h, w)] + [t for t in range(((max(h, w) - 1) // 8) * 8, MIN_TILE - 1, -8) if t > 0]
    modes = {"fast": [False], "low memory": [True], "auto": [False, True]}[mode]
    for low in modes:
        for t in candidates:
            est = estimate_decode(latent_hw, t, halo, low_memory=low, **kw)
            if est.peak_bytes <= budget_bytes:
                return t, low and t < max(h, w), est
    low = modes[-1]
    t = candidates[-1]
    return t, low, estimate_decode(latent_hw, t, halo, low_memory=low, **kw)


def ladder(tile: int) -> list[int]:
    """Tiles to try after an out-of-memory error: halve down to MIN_TILE."""
    steps = [tile]
    while steps[-1] > MIN_TILE:
        steps.append(max(MIN_TILE, steps[-1] // 2))
    return steps


def run_with_oom_ladder(run: Callable[[int, str], object], tile: int, devices: list[str],
                        is_oom: Callable[[BaseException], bool] = _is_oom, on_oom: Callable[[], None] | None = None,
                        describe: Callable[[int], str] = lambda t: f"tile {t}"):
    """Try ``run(tile, device)`` for each tile of ``ladder(tile)`` on each device in turn (e.g. the GPU, then
    "cpu"), moving on when ``is_oom`` (default: the pack's one recogniser, ``core.common.oom.is_oom``) says the
    error was an out-of-memory one. Returns (result, path) where path lists every attempt ("tile 64 on cuda:0:
    out of memory", ..., "tile 16 on cpu: ok")."""
    path = []
    last = None
    for device in devices:
        for t in ladder(tile):
            try:
                result = run(t, device)
            except BaseException as e:  # noqa: BLE001 - re-raised unless it is an OOM
                if not is_oom(e):
                    raise
                last = e
                path.append(f"{describe(t)} on {device}: out of memory")
                if on_oom:
                    on_oom()
                continue
            path.append(f"{describe(t)} on {device}: ok")
            return result, path
    raise MemoryError("out of memory at every tile size on " + ", ".join(devices) + ": " + "; ".join(path)) from last
