"""Seam-free tiled VAE decode and encode for KL autoencoders in the ldm layout (SD1.x, SD2, SDXL).

Plain torch; works on any module with the ldm ``Decoder``/``Encoder`` structure (``conv_in``, ``mid``,
``up[i].block[j]`` / ``down[i].block[j]``, ``norm_out``, ``conv_out``), duck-typed, no ComfyUI import.

Method (our own):

- The low-resolution part (the decoder's ``conv_in``, mid block and first up level; the encoder's mid block,
  ``norm_out`` and ``conv_out``) runs over the whole latent at once: it is small, and its self-attention must
  see every position (computed in query chunks to bound the score matrix).
- The high-resolution part runs tile by tile. Each tile carries a halo of real neighbouring data wide enough
  for every 3×3 convolution's receptive field (``exact_halo``), so its core is computed from the same inputs
  as an untiled run; only the core is kept, so there is nothing to blend.
- Every GroupNorm sees the whole image: all tiles advance in lockstep (one generator per tile); at each
  GroupNorm every tile reports the per-group sums of x and x² over its core (float64), the sums are combined
  into the global mean and variance, and each tile is normalised with them.

With the default halo the result equals the untiled decode up to floating-point summation order (measured:
PSNR > 90 dB on real photos); a smaller halo trades exactness near tile borders for speed. When one tile
covers the image the module's own forward runs, bit-identical to untiled. Images of a batch are computed one
at a time, so batch slicing never changes a bit.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..memory.heap import return_freed_memory

STATS_DTYPE = torch.float64


@dataclasses.dataclass(frozen=True)
class Tile:
    """A tile in latent pixels: the core it produces and the padded region it reads (core + halo, clipped)."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int

    @property
    def core_in_padded(self) -> tuple[int, int, int, int]:
        return self.y0 - self.py0, self.y1 - self.py0, self.x0 - self.px0, self.x1 - self.px0


def plan_tiles(height: int, width: int, tile: int, halo: int) -> list[Tile]:
    """Cover a latent of height×width with cores of at most ``tile`` (evenly sized) and ``halo`` around each."""
    if tile < 1:
        raise ValueError(f"tile must be at least 1 latent pixel, got {tile}")
    if halo < 0:
        raise ValueError(f"halo must be >= 0, got {halo}")

    def cuts(n: int) -> list[tuple[int, int]]:
        count = max(1, math.ceil(n / tile))
        edges = [round(i * n / count) for i in range(count + 1)]
        return list(zip(edges[:-1], edges[1:]))

    tiles = []
    for y0, y1 in cuts(height):
        for x0, x1 in cuts(width):
            tiles.append(Tile(y0, y1, x0, x1, max(0, y0 - halo), min(height, y1 + halo),
                              max(0, x0 - halo), min(width, x1 + halo)))
    return tiles


# ---- structure helpers --------------------------------------------------------------------------------------

def supports_tiling(module) -> str | None:
    """None when ``module`` is an ldm KL Decoder/Encoder we can tile, else the reason we cannot."""
    levels = getattr(module, "up", None) or getattr(module, "down", None)
    if levels is None or not hasattr(module, "mid") or not hasattr(module, "conv_in"):
        return f"{type(module).__name__} is not an ldm Decoder/Encoder"
    for level in levels:
        if len(getattr(level, "attn", [])) > 0:
            return "attention inside the high-resolution blocks (only the mid block may attend)"
        for block in level.block:
            if not all(hasattr(block, a) for a in ("norm1", "conv1", "norm2", "conv2")):
                return f"{type(block).__name__} is not an ldm ResnetBlock"
            if getattr(block, "temb_proj", None) is not None and getattr(module, "temb_ch", 0):
                return "time-conditioned blocks"
    if getattr(module, "tanh_out", False) or getattr(module, "give_pre_end", False):
        return "tanh_out/give_pre_end decoders"
    conv = module.conv_in
    if not isinstance(conv, torch.nn.Conv2d):
        return f"{type(conv).__name__} convolutions (video/3D VAEs)"
    return None


def decoder_scale(decoder) -> int:
    return 2 ** (decoder.num_resolutions - 1)


def untiled_levels(decoder) -> int:
    """How many up levels (in processing order) run over the whole image: the one at the latent resolution,
    which is cheap (1/64 of the output's pixels) and whose halo would be the widest; the levels above it, where
    memory goes, are tiled."""
    return min(1, decoder.num_resolutions - 1)


def exact_halo(module) -> int:
    """Latent pixels of halo that make a tile's core independent of the tile border (for our tiled parts)."""
    if hasattr(module, "up"):  # decoder: only the levels after the untiled ones are tiled
        start = untiled_levels(module)
        reach = _decoder_reach_per_level(module)[start]  # at the first tiled level's resolution
        if start == 0:
            return reach
        # the tile is cut before the upsample into that level, whose 3x3 convolution erodes one more pixel
        return math.ceil((reach + 1) / 2 ** start)
    # encoder: conv_in and the down path, in image pixels, then to latent pixels
    reach, step = 1, 1
    for i_level in range(module.num_resolutions):
        reach += 2 * step * len(module.down[i_level].block)
        if i_level != module.num_resolutions - 1:
            reach += step  # stride-2 3×3 convolution
            step *= 2
    return math.ceil(reach / step)


# ---- lockstep execution -------------------------------------------------------------------------------------

def _group_norm(norm, x: torch.Tensor, core: tuple[int, int, int, int]) -> Iterator:
    """Generator: yields (sum, sum of squares, count) per (batch, group) over the core, receives the global
    (mean, var), returns the normalised tensor."""
    b, c = x.shape[:2]
    g = norm.num_groups
    y0, y1, x0, x1 = core
    part = x[:, :, y0:y1, x0:x1].to(STATS_DTYPE).reshape(b, g, -1)
    request = (part.sum(-1), (part * part).sum(-1), part.shape[-1])
    del part
    mean, var = yield request
    rstd = torch.rsqrt(var + norm.eps)
    shape = x.shape
    out = (x.reshape(b, g, -1) - mean.to(x.dtype)[..., None]) * rstd.to(x.dtype)[..., None]
    out = out.reshape(shape)
    weight = getattr(norm, "weight", None)
    if weight is not None:
        out = torch.addcmul(norm.bias.to(x.dtype)[None, :, None, None], out,
                            weight.to(x.dtype)[None, :, None, None])
    return out


def _resblock(block, x: torch.Tensor, core) -> Iterator:
    h = yield from _group_norm(block.norm1, x, core)
    h = block.conv1(F.silu(h))
    h = yield from _group_norm(block.norm2, h, core)
    h = block.conv2(F.silu(h))
    if block.in_channels != block.out_channels:
        x = block.conv_shortcut(x) if getattr(block, "use_conv_shortcut", False) else block.nin_shortcut(x)
    return x + h


def _scaled(core, factor: int):
    return tuple(int(v * factor) for v in core)


def _decoder_reach_per_level(decoder) -> list[int]:
    """For each up level (in processing order), the pixels at that level's resolution that the layers from
    there to the output still read beyond a tile's core: what the tile must keep around its core."""
    reaches = []
    levels = list(reversed(range(decoder.num_resolutions)))
    for start in range(len(levels)):
        reach, scale = 0.0, 1
        for i_level in levels[start:]:
            reach += 2 * len(decoder.up[i_level].block) / scale
            if i_level != 0:
                scale *= 2
                reach += 1 / scale
        reach += 1 / scale
        reaches.append(math.ceil(reach))
    return reaches


def _crop_to(h: torch.Tensor, core: tuple, keep: int):
    """Crop a padded tile to its core plus ``keep`` pixels a side (as far as it has them); new core offsets."""
    y0, y1, x0, x1 = core
    top, left = max(0, y0 - keep), max(0, x0 - keep)
    bottom, right = min(h.shape[-2], y1 + keep), min(h.shape[-1], x1 + keep)
    return h[:, :, top:bottom, left:right], (y0 - top, y1 - top, x0 - left, x1 - left)


def _decoder_block_segment(decoder, block, h, core, upsample_from, keep, final) -> Iterator:
    """One resnet block of the up path as a segment: the previous level's upsample first when this block opens
    a level (then crop to the halo the rest still needs), and norm_out/conv_out after the very last block."""
    if upsample_from is not None:
        h = decoder.up[upsample_from].upsample(h)
        core = _scaled(core, 2)
    if keep is not None:
        h, core = _crop_to(h, core, keep)
    h = yield from _resblock(block, h, core)
    if not final:
        return h, core
    h = yield from _group_norm(decoder.norm_out, h, core)
    h = decoder.conv_out(F.silu(h))
    y0, y1, x0, x1 = core
    return h[:, :, y0:y1, x0:x1], None


def decoder_segments(decoder, start: int = 0) -> list:
    """The up path from level ``start`` (processing order) as a list of segments ``seg(h, core) -> generator
    returning (h, core)``, one per resnet block: the points where a low-memory decode keeps a checkpoint."""
    order = list(reversed(range(decoder.num_resolutions)))
    reaches = _decoder_reach_per_level(decoder)
    segments = []
    for n, i_level in enumerate(order):
        if n < start:
            continue
        blocks = decoder.up[i_level].block
        for b, block in enumerate(blocks):
            opens = b == 0
            segments.append(functools.partial(
                _decoder_block_segment, decoder, block,
                upsample_from=order[n - 1] if opens and n > 0 else None, keep=reaches[n] if opens else None,
                final=n == len(order) - 1 and b == len(blocks) - 1))
    return segments


ATTENTION_CHUNK_BYTES = 64 * 1024 * 1024


def global_attention(attn, x: torch.Tensor) -> torch.Tensor:
    """The VAE's single-head self-attention block over every position, computed a chunk of queries at a time so
    the score matrix never exceeds ATTENTION_CHUNK_BYTES (a 1024² decode has 16384² scores: 1 GiB in fp32).
    Blocks without the ldm q/k/v/proj_out layout run their own forward."""
    if not all(hasattr(attn, a) for a in ("norm", "q", "k", "v", "proj_out")):
        return attn(x)
    h = attn.norm(x)
    b, c, height, width = h.shape
    n = height * width
    q = attn.q(h).reshape(b, c, n).transpose(1, 2)
    k = attn.k(h).reshape(b, c, n)
    v = attn.v(h).reshape(b, c, n).transpose(1, 2)
    del h
    out = torch.empty_like(q)
    chunk = max(1, ATTENTION_CHUNK_BYTES // (n * q.element_size()))
    q = q * c ** -0.5
    for i in range(0, n, chunk):
        scores = torch.bmm(q[:, i:i + chunk], k)
        out[:, i:i + chunk] = torch.bmm(torch.softmax(scores, dim=-1), v)
        del scores
    return x + attn.proj_out(out.transpose(1, 2).reshape(b, c, height, width))


def _decoder_up_path(decoder, h: torch.Tensor, core: tuple, start: int) -> Iterator:
    for segment in decoder_segments(decoder, start):
        h, core = yield from segment(h, core)
    return h


def _decoder_untiled_part(decoder, z: torch.Tensor, start: int) -> torch.Tensor:
    """conv_in, the mid block and the first ``start`` up levels over the whole latent (before the upsample into
    the first tiled level)."""
    h = decoder.conv_in(z)
    h = decoder.mid.block_1(h, None)
    h = global_attention(decoder.mid.attn_1, h)
    h = decoder.mid.block_2(h, None)
    order = list(reversed(range(decoder.num_resolutions)))
    for n in range(start):
        if n > 0:
            h = decoder.up[order[n - 1]].upsample(h)
        for block in decoder.up[order[n]].block:
            h = block(h, None)
    return h


def _encoder_keep_per_level(encoder) -> list[int]:
    """For each down level, the pixels (at that level's resolution) a tile must keep around its core for the
    layers from there to the end of the down path, rounded up so the stride-2 grid stays aligned."""
    n = encoder.num_resolutions
    keeps = []
    for start in range(n):
        reach, unit = 0.0, 1
        for i_level in range(start, n):
            reach += 2 * len(encoder.down[i_level].block) * unit
            if i_level != n - 1:
                reach += unit
                unit *= 2
        align = 2 ** (n - 1 - start)
        keeps.append(int(math.ceil(reach / align) * align))
    return keeps


def _encoder_down_path(encoder, x: torch.Tensor, tile: Tile, step: int) -> Iterator:
    """x is the padded image tile; ``step`` image pixels make one latent pixel."""
    core = _scaled(tile.core_in_padded, step)
    keeps = _encoder_keep_per_level(encoder)
    h = encoder.conv_in(x)
    for i_level in range(encoder.num_resolutions):
        h, core = _crop_to(h, core, keeps[i_level])
        for block in encoder.down[i_level].block:
            h = yield from _resblock(block, h, core)
        if i_level != encoder.num_resolutions - 1:
            h = encoder.down[i_level].downsample(h)
            core = tuple(v // 2 for v in core)
    y0, y1, x0, x1 = core
    return h[:, :, y0:y1, x0:x1]


def run_lockstep(generators: list, on_step: Callable[[], None] | None = None, groups: list | None = None) -> list:
    """Advance generators together; at each yield combine the GroupNorm partial sums of the generators of the
    same group (one group per image) into that image's statistics and send them back."""
    groups = groups if groups is not None else [0] * len(generators)
    results: list = [None] * len(generators)
    requests = {}
    for i, gen in enumerate(generators):
        try:
            requests[i] = next(gen)
        except StopIteration as stop:
            results[i] = stop.value
    while requests:
        stats = {}
        for i, (s, sq, n) in requests.items():
            acc = stats.setdefault(groups[i], [0, 0, 0])
            acc[0], acc[1], acc[2] = acc[0] + s, acc[1] + sq, acc[2] + n
        for key, (s, sq, n) in stats.items():
            mean = s / n
            stats[key] = (mean, (sq / n - mean * mean).clamp_min(0))
        if on_step:
            on_step()
        nxt = {}
        for i in requests:
            try:
                nxt[i] = generators[i].send(stats[groups[i]])
            except StopIteration as stop:
                results[i] = stop.value
        requests = nxt
    return results


def _combine(parts: list) -> tuple:
    total = sum(p[0] for p in parts)
    square = sum(p[1] for p in parts)
    n = sum(p[2] for p in parts)
    mean = total / n
    return mean, (square / n - mean * mean).clamp_min(0)


def run_segment_checkpointed(segment, inputs: list, on_step: Callable[[], None] | None = None) -> list:
    """Run one segment over every tile while only one tile is in flight: for each GroupNorm of the segment,
    re-run each tile from its checkpoint up to that GroupNorm (feeding the statistics already known) to collect
    its partial sums; then run every tile through the whole segment. ``inputs`` (a list of (h, core)) is
    consumed; returns the segment outputs. Exact: the same maths as ``run_lockstep``, recomputed."""
    stats: list = []
    first_result = None
    while first_result is None:
        parts = []
        for h, core in inputs:
            gen = segment(h, core)
            try:
                request = next(gen)
                for known in stats:
                    request = gen.send(known)
            except StopIteration as stop:  # every statistic is known: this tile's output is final
                first_result = stop.value
                break
            parts.append(request)
            gen.close()
        else:
            stats.append(_combine(parts))
            if on_step:
                on_step()
    outputs = [first_result]
    inputs[0] = None
    for i in range(1, len(inputs)):
        gen = segment(*inputs[i])
        inputs[i] = None
        try:
            next(gen)
            for known in stats:
                gen.send(known)
        except StopIteration as stop:
            outputs.append(stop.value)
        else:
            raise RuntimeError("segment yielded more GroupNorms for one tile than for another")
    return outputs


def count_sync_steps(module) -> int:
    """GroupNorm synchronisation points per image in the tiled part (for progress bars)."""
    if hasattr(module, "up"):
        order = list(reversed(range(module.num_resolutions)))
        tiled = order[untiled_levels(module):]
        return sum(2 * len(module.up[i].block) for i in tiled) + 1
    return sum(2 * len(level.block) for level in module.down)


# ---- public entry points ------------------------------------------------------------------------------------

def decode_tiled(decoder, z: torch.Tensor, tile: int, halo: int | None = None,
                 on_step: Callable[[], None] | None = None, low_memory: bool = False) -> torch.Tensor:
    """Decode latent ``z`` [B, C, h, w] (after ``post_quant_conv``) with ``decoder`` in tiles of ``tile`` latent
    pixels. ``halo`` defaults to ``exact_halo(decoder)``. Returns what ``decoder(z)`` returns. Every image of
    the batch is computed on its own (batch 1 convolutions), so how a batch is sliced never changes a bit.

    ``low_memory=False`` advances all tiles together, keeping every tile's activations between GroupNorms
    (one pass of compute, memory about that of the activations). ``low_memory=True`` keeps one checkpoint per
    tile per resnet block and has one tile in flight, recomputing up to each GroupNorm to gather its
    statistics (about 1.5x the convolutions, memory about one activation map plus one tile). Same result.
    On the CPU, low memory also makes glibc return freed buffers to the OS during the decode (cpu_heap.py)."""
    reason = supports_tiling(decoder)
    if reason:
        raise NotImplementedError(f"cannot tile this decoder: {reason}")
    halo = exact_halo(decoder) if halo is None else halo
    tiles = plan_tiles(z.shape[-2], z.shape[-1], tile, halo)
    # low memory on the CPU: freed tile buffers go back to the OS at once (vram/cpu_heap.py)
    with torch.no_grad(), return_freed_memory(low_memory and z.device.type == "cpu" and len(tiles) > 1):
        if len(tiles) == 1:
            return torch.cat([decoder(z[b:b + 1]) for b in range(z.shape[0])])
        start = untiled_levels(decoder)
        f = 2 ** (start - 1) if start else 1  # resolution of the untiled part's output, in latent pixels
        gens, groups, outs = [], [], []
        for b in range(z.shape[0]):
            h = _decoder_untiled_part(decoder, z[b:b + 1], start)
            cuts = [(h[:, :, t.py0 * f:t.py1 * f, t.px0 * f:t.px1 * f], _scaled(t.core_in_padded, f)) for t in tiles]
            del h
            if low_memory:
                state = [(piece.clone(), core) for piece, core in cuts]
                del cuts
                for segment in decoder_segments(decoder, start):
                    state = run_segment_checkpointed(segment, state, on_step)
                outs += [o for o, _ in state]
            else:
                gens += [_decoder_up_path(decoder, piece, core, start) for piece, core in cuts]
                del cuts
            groups += [b] * len(tiles)
        if not low_memory:
            outs = run_lockstep(gens, on_step, groups)
        s = decoder_scale(decoder)
        out = torch.empty((z.shape[0], outs[0].shape[1], z.shape[-2] * s, z.shape[-1] * s),
                          dtype=outs[0].dtype, device=outs[0].device)
        for i, o in enumerate(outs):
            t = tiles[i % len(tiles)]
            out[groups[i]:groups[i] + 1, :, t.y0 * s:t.y1 * s, t.x0 * s:t.x1 * s] = o
        return out


def encode_tiled(encoder, x: torch.Tensor, tile: int, halo: int | None = None,
                 on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """Encode image ``x`` [B, 3, H, W] (H, W multiples of the downscale) with ``encoder`` in tiles of ``tile``
    latent pixels. Returns what ``encoder(x)`` returns (the moments before ``quant_conv``); images of the batch
    are computed one by one, as in ``decode_tiled``."""
    reason = supports_tiling(encoder)
    if reason:
        raise NotImplementedError(f"cannot tile this encoder: {reason}")
    step = 2 ** (encoder.num_resolutions - 1)
    if x.shape[-2] % step or x.shape[-1] % step:
        raise ValueError(f"image size {tuple(x.shape[-2:])} must be a multiple of {step} to tile")
    halo = exact_halo(encoder) if halo is None else halo
    tiles = plan_tiles(x.shape[-2] // step, x.shape[-1] // step, tile, halo)
    with torch.no_grad():
        if len(tiles) == 1:
            return torch.cat([encoder(x[b:b + 1]) for b in range(x.shape[0])])
        results = []
        for b in range(x.shape[0]):
            gens = [_encoder_down_path(encoder, x[b:b + 1, :, t.py0 * step:t.py1 * step, t.px0 * step:t.px1 * step],
                                       t, step) for t in tiles]
            outs = run_lockstep(gens, on_step)
            h = torch.empty((1, outs[0].shape[1], x.shape[-2] // step, x.shape[-1] // step),
                            dtype=outs[0].dtype, device=outs[0].device)
            for t, o in zip(tiles, outs):
                h[:, :, t.y0:t.y1, t.x0:t.x1] = o
            del outs
            h = encoder.mid.block_1(h, None)
            h = global_attention(encoder.mid.attn_1, h)
            h = encoder.mid.block_2(h, None)
            h = encoder.norm_out(h)
            results.append(encoder.conv_out(F.silu(h)))
        return torch.cat(results)
