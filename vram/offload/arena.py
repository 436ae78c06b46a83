"""The CPU master copy: every weight copied once into a few large blocks, page-locked when CUDA is used.

Plain torch. Pinning one tensor at a time costs a driver call per tensor and rounds each size up (torch's pinned
allocator hands out powers of two), so the arena packs tensors into blocks of ``chunk_bytes`` (a power of two)
with 256-byte alignment; only the last block is smaller, rounded to the next power of two. ``reserved_bytes``
counts what was really allocated, rounding included.

Example::

    arena = HostArena.build([w1, w2], chunk_bytes=256 << 20, pin=torch.cuda.is_available())
    master_w1, master_w2 = arena.views
"""
from __future__ import annotations

import dataclasses

import torch

ALIGN = 256


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


@dataclasses.dataclass
class HostArena:
    chunks: list[torch.Tensor]  # uint8 blocks
    views: list[torch.Tensor]  # one per input tensor, same dtype/shape, inside a block
    pinned: bool
    used_bytes: int

    @property
    def reserved_bytes(self) -> int:
        return sum(c.numel() for c in self.chunks)

    @staticmethod
    def layout(sizes: list[int], chunk_bytes: int, round_pow2: bool = True) -> tuple[list[int], list[tuple[int, int]]]:
        """(block sizes, (block index, offset) per tensor): tensors in order, a new block when one is full; a
        tensor larger than a block gets a block of its own. ``round_pow2``: size the last and the oversized
        blocks as the pinned allocator will (the next power of two), else exactly."""
        if chunk_bytes <= 0 or chunk_bytes & (chunk_bytes - 1):
            raise ValueError(f"chunk_bytes must be a power of two, got {chunk_bytes}")
        blocks: list[int] = []  # bytes used per block
        places: list[tuple[int, int]] = []
        for size in sizes:
            size = _aligned(max(size, 1))
            if size > chunk_bytes:
                blocks.append(size)
                places.append((len(blocks) - 1, 0))
                continue
            if not blocks or blocks[-1] + size > chunk_bytes or blocks[-1] >= chunk_bytes:
                blocks.append(0)
            places.append((len(blocks) - 1, blocks[-1]))
            blocks[-1] += size
        # full-size blocks stay chunk_bytes; an oversized or the last, partly filled one is rounded up
        last = len(blocks) - 1
        if not round_pow2:
            return blocks, places
        sized = [chunk_bytes if used <= chunk_bytes and i < last else next_pow2(used) for i, used in enumerate(blocks)]
        return sized, places

    @classmethod
    def build(cls, tensors: list[torch.Tensor], chunk_bytes: int = 256 << 20, pin: bool = False) -> "HostArena":
        """Copy ``tensors`` (any device; not modified) into new CPU blocks."""
        sizes = [nbytes(t) for t in tensors]
        block_sizes, places = cls.layout(sizes, chunk_bytes, round_pow2=pin)
        chunks = [torch.empty(n, dtype=torch.uint8, pin_memory=pin) for n in block_sizes]
        views = []
        for t, (block, offset), size in zip(tensors, places, sizes):
            raw = chunks[block][offset:offset + size]
            view = raw.view(t.dtype).view(t.shape) if size else torch.empty(t.shape, dtype=t.dtype)
            view.copy_(t.detach())
            views.append(view)
        return cls(chunks, views, pin, sum(sizes))
