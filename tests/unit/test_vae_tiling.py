"""vram/vae_tiling.py and vae_budget.py on a small decoder/encoder built here in the ldm KL layout (plain
torch, random weights): tiling must reproduce the untiled forward."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from loadout.vram.vae.budget import estimate_decode, ladder, run_with_oom_ladder, tile_for_budget
from loadout.vram.vae.tiling import (count_sync_steps, decode_tiled, encode_tiled, exact_halo, plan_tiles, supports_tiling)


def norm(c):
    return nn.GroupNorm(4, c, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.in_channels, self.out_channels, self.use_conv_shortcut = cin, cout, False
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if self.in_channels != self.out_channels else x) + h


class Attn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm, self.q, self.k, self.v, self.proj_out = norm(c), *(nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        b, c, hh, ww = x.shape
        q, k, v = (m(h).reshape(b, c, -1) for m in (self.q, self.k, self.v))
        a = torch.softmax(q.transpose(1, 2) @ k / c ** 0.5, -1)
        return x + self.proj_out((v @ a.transpose(1, 2)).reshape(b, c, hh, ww))


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


def mid(c):
    m = nn.Module()
    m.block_1, m.attn_1, m.block_2 = ResBlock(c, c), Attn(c), ResBlock(c, c)
    return m


class Decoder(nn.Module):
    def __init__(self, ch=16, mult=(1, 2, 2), blocks=1, z=4):
        super().__init__()
        self.num_resolutions, self.num_res_blocks = len(mult), blocks
        c = ch * mult[-1]
        self.conv_in, self.mid = nn.Conv2d(z, c, 3, padding=1), mid(c)
        self.up = nn.ModuleList()
        for i in reversed(range(len(mult))):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(blocks + 1):
                level.block.append(ResBlock(c, ch * mult[i]))
                c = ch * mult[i]
            if i:
                level.upsample = Up(c)
            self.up.insert(0, level)
        self.norm_out, self.conv_out = norm(c), nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for i in reversed(range(self.num_resolutions)):
            for block in self.up[i].block:
                h = block(h)
            if i:
                h = self.up[i].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Encoder(nn.Module):
    def __init__(self, ch=16, mult=(1, 2, 2), blocks=1, z=4):
        super().__init__()
        self.num_resolutions, self.num_res_blocks = len(mult), blocks
        self.conv_in, c = nn.Conv2d(3, ch, 3, padding=1), ch
        self.down = nn.ModuleList()
        for i, m in enumerate(mult):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(blocks):
                level.block.append(ResBlock(c, ch * m))
                c = ch * m
            if i != len(mult) - 1:
                level.downsample = Down(c)
            self.down.append(level)
        self.mid, self.norm_out, self.conv_out = mid(c), norm(c), nn.Conv2d(c, 2 * z, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for i in range(self.num_resolutions):
            for block in self.down[i].block:
                h = block(h)
            if i != self.num_resolutions - 1:
                h = self.down[i].downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return Decoder().eval(), Encoder().eval()


def structured(shape, seed=1):
    """Smooth, image-like input (low-frequency sinusoids plus a little noise)."""
    g = torch.Generator().manual_seed(seed)
    b, c, h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(0, 6, h), torch.linspace(0, 6, w), indexing="ij")
    base = torch.stack([torch.sin(xx * (i + 1) + yy) for i in range(c)])
    return (base[None].repeat(b, 1, 1, 1) + 0.1 * torch.randn(shape, generator=g))


def test_halo_reach_of_the_small_nets(nets):
    dec, enc = nets
    # level 2 (1x) runs whole; levels 1 and 0 are tiled: at level 1's 2x resolution 4 convs, the upsample
    # conv (0.5), level 0's 4 convs (2) and conv_out (0.5) reach 7 px, +1 for the upsample into level 1,
    # over 2 px per latent px: 4 latent px
    assert exact_halo(dec) == 4
    assert exact_halo(enc) == 5  # (1 + 2 + 1 + 4 + 2 + 8) image px / 4, rounded up
    assert supports_tiling(dec) is None and supports_tiling(enc) is None
    assert "not an ldm" in supports_tiling(nn.Linear(2, 2))


def test_tiles_cover_the_latent_once():
    tiles = plan_tiles(37, 23, 10, 3)
    covered = torch.zeros(37, 23, dtype=torch.int)
    for t in tiles:
        covered[t.y0:t.y1, t.x0:t.x1] += 1
        assert t.py0 == max(0, t.y0 - 3) and t.px1 == min(23, t.x1 + 3)
    assert covered.eq(1).all()


@torch.no_grad()
def test_one_tile_is_bit_identical(nets):
    dec, enc = nets
    z = structured((1, 4, 12, 10))
    assert torch.equal(decode_tiled(dec, z, tile=12), dec(z))
    x = structured((1, 3, 48, 40))
    assert torch.equal(encode_tiled(enc, x, tile=12), enc(x))


@torch.no_grad()
def test_multi_tile_decode_matches_untiled(nets):
    dec, _ = nets
    z = structured((1, 4, 20, 17))
    ref = dec(z)
    out = decode_tiled(dec, z, tile=6)
    assert len(plan_tiles(20, 17, 6, exact_halo(dec))) == 12
    assert (out - ref).abs().max() < 1e-4 * ref.abs().max()
    rough = decode_tiled(dec, z, tile=6, halo=0)  # no halo: tile borders are visibly wrong
    assert (rough - ref).abs().max() > 100 * (out - ref).abs().max()


@torch.no_grad()
def test_low_memory_checkpointing_gives_the_same_bits(nets):
    dec, _ = nets
    z = structured((2, 4, 20, 17))
    steps = []
    low = decode_tiled(dec, z, tile=6, low_memory=True, on_step=lambda: steps.append(1))
    assert torch.equal(low, decode_tiled(dec, z, tile=6))
    assert len(steps) == 2 * count_sync_steps(dec) == 2 * (2 * 4 + 1)  # 2 tiled levels of 2 blocks, norm_out


@torch.no_grad()
def test_multi_tile_encode_matches_untiled(nets):
    _, enc = nets
    x = structured((1, 3, 64, 44))
    ref = enc(x)
    out = encode_tiled(enc, x, tile=5)
    assert (out - ref).abs().max() < 1e-4 * ref.abs().max()
    with pytest.raises(ValueError, match="multiple of 4"):
        encode_tiled(enc, x[:, :, :62], tile=5)


@torch.no_grad()
@pytest.mark.parametrize("tile", [6, 16])
def test_batch_slicing_never_changes_a_bit(nets, tile):
    dec, enc = nets
    z = structured((3, 4, 16, 16))
    whole = decode_tiled(dec, z, tile=tile)
    assert torch.equal(whole, torch.cat([decode_tiled(dec, z[i:i + 1], tile=tile) for i in range(3)]))
    assert torch.equal(whole, torch.cat([decode_tiled(dec, z[:2], tile=tile), decode_tiled(dec, z[2:], tile=tile)]))
    x = structured((2, 3, 64, 64))
    assert torch.equal(encode_tiled(enc, x, tile=tile // 2), torch.cat([encode_tiled(enc, x[i:i + 1], tile=tile // 2)
                                                                         for i in range(2)]))


def test_budget_picks_the_largest_tile_that_fits():
    whole = estimate_decode((128, 128), 128, 13)
    assert whole.stored_bytes == 0
    tile, low, est = tile_for_budget((128, 128), whole.peak_bytes // 2, 13, mode="fast")
    assert tile < 128 and tile % 8 == 0 and not low and est.peak_bytes <= whole.peak_bytes // 2
    lean = estimate_decode((128, 128), 16, 13, low_memory=True)
    assert lean.stored_bytes < estimate_decode((128, 128), 16, 13).stored_bytes
    tile, low, est = tile_for_budget((128, 128), lean.peak_bytes, 13)  # too small for lockstep: low memory
    assert low and tile >= 16 and est.peak_bytes <= lean.peak_bytes
    smallest, low, est = tile_for_budget((128, 128), 1, 13)
    assert smallest == 8 and low and est.peak_bytes > 1


def test_oom_ladder_halves_then_moves_to_cpu():
    def run(tile, device):
        if device == "cuda:0" or tile > 16:
            raise torch.OutOfMemoryError(f"no room for {tile} on {device}")
        return (tile, device)

    freed = []
    result, path = run_with_oom_ladder(run, 64, ["cuda:0", "cpu"], lambda e: isinstance(e, torch.OutOfMemoryError),
                                       lambda: freed.append(1))
    assert result == (16, "cpu")
    assert ladder(64) == [64, 32, 16, 8]
    assert path == ["tile 64 on cuda:0: out of memory", "tile 32 on cuda:0: out of memory",
                    "tile 16 on cuda:0: out of memory", "tile 8 on cuda:0: out of memory",
                    "tile 64 on cpu: out of memory", "tile 32 on cpu: out of memory", "tile 16 on cpu: ok"]
    assert len(freed) == 6
    with pytest.raises(ValueError):
        run_with_oom_ladder(lambda t, d: (_ for _ in ()).throw(ValueError("bad input")), 64, ["cpu"],
                            lambda e: isinstance(e, torch.OutOfMemoryError))
    with pytest.raises(MemoryError, match="every tile size"):
        run_with_oom_ladder(lambda t, d: (_ for _ in ()).throw(torch.OutOfMemoryError()), 16, ["cpu"],
                            lambda e: isinstance(e, torch.OutOfMemoryError))
