"""MiDaS v3 depth, DPT-hybrid (Ranftl et al. 2021), from the original file ``dpt_hybrid-midas-501f0c75.pt``.

The file (lllyasviel/Annotators on Hugging Face; MIT, isl-org/MiDaS) is the depth annotator ControlNet 1.1's depth
model was trained with. The network: timm's ViT-hybrid (``vit_base_r50_s16_384``, formerly ``vit_base_resnet50_384``:
a ResNetV2-50 stem of three stages with weight-standardised convs and group norm, then ViT-B/16 on its 1/16 map,
a class token and a 24x24 position grid), read at four depths: the outputs of ResNet stages 1 and 2 (256 channels
at 1/4, 512 at 1/8) as they are, and the tokens after ViT blocks 9 and 12 (of 12), each turned back into a map by a
*reassemble* step: the class token is appended to every patch token and projected back to 768 (linear + GELU,
"project" readout), the tokens are laid out on the patch grid, a 1x1 conv, and for the deepest a 3x3 stride-2 conv
(1/32). Each of the four is mapped to 256 channels (3x3 conv, no bias) and fused from the deepest up: a fusion block
adds its skip (through a residual conv unit: ReLU, 3x3, ReLU, 3x3, plus input), runs a second residual unit, doubles
the size (bilinear, corners aligned) and applies a 1x1 conv. The head: 3x3 conv to 128, x2 bilinear (corners
aligned), 3x3 conv to 32, ReLU, 1x1 conv to 1, ReLU: relative inverse depth (near = large) at the input size.

Timm supplies the backbone modules only (``pip install timm``; optional, ``available()`` says whether it is there);
the reassembly, fusion, head and the forward pass that reads the intermediate outputs are ours. Our module keeps the
file's state-dict keys: ``pretrained.model.*`` (timm's ViT-hybrid as it names its weights: ``patch_embed.backbone.
stem.conv``, ``patch_embed.backbone.stages.<i>.blocks.<j>.conv1``, ``blocks.<k>.attn.qkv``, ..., its unused
classifier ``head`` included), ``pretrained.act_postprocess3/4.<0|3|4>`` (readout projection, 1x1 conv, stride-2 conv:
the indices of the original ``nn.Sequential``, whose entries 1 and 2 hold no weights) and ``scratch.*`` (``layer<k>_rn``,
``refinenet<k>.{resConfUnit1,resConfUnit2,out_conv}``, ``output_conv.{0,2,4}``), so the file loads with strict key and
shape checks. No key conversion is needed with timm 1.0.x: its ViT-hybrid names these weights as the timm of 2021
that wrote the file did (checked against the reference DPT built on timm 1.0.31, whose state dict is the file's
layout: 368 tensors, 123 M parameters). Should another timm rename them, the load fails naming the keys.

``midas_depth(image, net)`` is what controlnet-aux 0.0.10's ``MidasDetector`` (ControlNet 1.1's annotator) returns as
its depth map when the image is already at detection size (``image_ops.resize_for_detection``: multiples of 64; the
network needs multiples of 32): the RGB image scaled to -1..1 (``x / 127.5 - 1``; no resize to 384, no ImageNet
statistics: the detector feeds the detection image itself, the position grid is resized to its patch grid, bilinear),
the depth min–max normalised and x255 truncated to uint8. A constant map (degenerate weights) is all 0 (the
reference divides by zero there). Runs where ``net`` is (a loaded one: the CPU, float32) or on ``device`` in
``dtype`` when given (``weights.on_device``: a copy, the cached network is never moved); the map comes back as numpy
on the host. The reference runs float32; float16 changes the maps.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from .weights import MODELS, check_fit, on_device, placement_of, read_state_dict

FILE = "dpt_hybrid-midas-501f0c75.pt"
SOURCE = "https://huggingface.co/lllyasviel/Annotators"
KIND = "midas"  # the annotators sub-folder (weights.find_weight_file's ``subdir``)
BACKBONES = ("vit_base_r50_s16_384", "vit_base_resnet50_384")  # timm's name for the ViT-hybrid, new then old
FEATURES = 256  # channels of the fusion path
VIT_WIDTH = 768
PATCH = 16
MULTIPLE = 32  # the input sides: the deepest map is 1/32 and is fused back up by factors of 2
VIT_TAPS = (8, 11)  # ViT blocks whose outputs are reassembled (0-based)
STAGE_WIDTHS = (256, 512)  # the ResNet stages 1 and 2 taken as they are


def available() -> tuple[bool, str]:
    """(True, "timm <version>") when the optional backbone library is importable, else (False, what to install).
    Does not import timm."""
    if importlib.util.find_spec("timm") is None:
        return False, ("MiDaS DPT-hybrid needs timm for its ViT-hybrid backbone, and timm is not installed: "
                       "pip install timm")
    try:
        from importlib.metadata import version

        return True, f"timm {version('timm')}"
    except Exception:  # noqa: BLE001 - an unusual install without metadata still imports
        return True, "timm"


def _timm_vit(meta: bool):
    """timm's ViT-hybrid, without pretrained weights; on the meta device when ``meta`` (no initialisation: the
    weights come from the file)."""
    import timm
    import torch

    ok, reason = available()
    if not ok:
        raise ImportError(reason)
    names = [n for n in BACKBONES if timm.is_model(n)]
    if not names:
        raise ImportError(f"this timm ({timm.__version__}) has no ViT-hybrid ({' or '.join(BACKBONES)})")
    if meta:
        with torch.device("meta"):
            return timm.create_model(names[0], pretrained=False)
    return timm.create_model(names[0], pretrained=False)


def build_midas(meta: bool = False):
    """Our DPT-hybrid depth network (random weights until loaded; parameters on the meta device when ``meta``)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Readout(nn.Module):
        """'project' readout: each patch token with the class token appended, projected back to the width."""

        def __init__(self, width: int):
            super().__init__()
            self.project = nn.Sequential(nn.Linear(2 * width, width), nn.GELU())

        def forward(self, tokens):
            patches = tokens[:, 1:]
            cls = tokens[:, :1].expand(-1, patches.shape[1], -1)
            return self.project(torch.cat([patches, cls], dim=-1))

    class Reassemble(nn.Module):
        """Tokens -> a map on the patch grid: readout, layout, 1x1 conv, and a 3x3 stride-2 conv when ``down``.
        Child names are the original Sequential's indices (the file's keys)."""

        def __init__(self, width: int, out: int, down: bool):
            super().__init__()
            self.add_module("0", Readout(width))
            self.add_module("3", nn.Conv2d(width, out, 1))
            if down:
                self.add_module("4", nn.Conv2d(out, out, 3, stride=2, padding=1))

        def forward(self, tokens, grid):
            x = self._modules["0"](tokens)  # B, N, C
            # channels first, then the grid: a view (B, C, gh, gw) of the token rows with the strides the reference
            # convolves (the conv backend picks its algorithm, and so the last bits, by the strides; a batch of one
            # is ambiguous there: unflattening after the transpose keeps the batch stride at C)
            x = x.transpose(1, 2).unflatten(2, grid)
            x = self._modules["3"](x)
            if "4" in self._modules:
                x = self._modules["4"](x)
            return x

    class ResidualUnit(nn.Module):
        def __init__(self, ch: int):
            super().__init__()
            self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
            self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

        def forward(self, x):
            return self.conv2(F.relu(self.conv1(F.relu(x)))) + x

    class Fusion(nn.Module):
        def __init__(self, ch: int):
            super().__init__()
            self.resConfUnit1 = ResidualUnit(ch)
            self.resConfUnit2 = ResidualUnit(ch)
            self.out_conv = nn.Conv2d(ch, ch, 1)

        def forward(self, x, skip=None):
            if skip is not None:
                x = x + self.resConfUnit1(skip)
            x = self.resConfUnit2(x)
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
            return self.out_conv(x)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = _timm_vit(meta)
            self.act_postprocess3 = Reassemble(VIT_WIDTH, VIT_WIDTH, down=False)
            self.act_postprocess4 = Reassemble(VIT_WIDTH, VIT_WIDTH, down=True)

        def positions(self, grid):
            """The position embedding with its 24x24 grid resized (bilinear, half-pixel centres) to ``grid``."""
            pos = self.model.pos_embed
            old = round((pos.shape[1] - 1) ** 0.5)
            table = pos[0, 1:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
            table = F.interpolate(table, size=grid, mode="bilinear", align_corners=False)
            return torch.cat([pos[:, :1], table.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)], dim=1)

        def forward(self, x):
            vit = self.model
            resnet = vit.patch_embed.backbone
            grid = (x.shape[-2] // PATCH, x.shape[-1] // PATCH)
            x = resnet.stem(x)
            maps = []
            for stage in resnet.stages:
                x = stage(x)
                maps.append(x)
            x = vit.patch_embed.proj(resnet.norm(x)).flatten(2).transpose(1, 2)
            x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.positions(grid)
            taps = []
            for k, block in enumerate(vit.blocks[:VIT_TAPS[-1] + 1]):
                x = block(x)
                if k in VIT_TAPS:
                    taps.append(x)
            return (maps[0], maps[1], self.act_postprocess3(taps[0], grid), self.act_postprocess4(taps[1], grid))

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            for k, cin in enumerate((*STAGE_WIDTHS, VIT_WIDTH, VIT_WIDTH), start=1):
                self.add_module(f"layer{k}_rn", nn.Conv2d(cin, FEATURES, 3, padding=1, bias=False))
            for k in range(1, 5):
                self.add_module(f"refinenet{k}", Fusion(FEATURES))
            self.output_conv = nn.Sequential(
                nn.Conv2d(FEATURES, FEATURES // 2, 3, padding=1),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                nn.Conv2d(FEATURES // 2, 32, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 1, 1),
                nn.ReLU(),
            )

        def forward(self, feats):
            l1, l2, l3, l4 = (getattr(self, f"layer{k}_rn")(f) for k, f in enumerate(feats, start=1))
            x = self.refinenet4(l4)
            x = self.refinenet3(x, l3)
            x = self.refinenet2(x, l2)
            x = self.refinenet1(x, l1)
            return self.output_conv(x)

    class MidasDptHybrid(nn.Module):
        def __init__(self):
            super().__init__()
            self.pretrained = Encoder()
            self.scratch = Decoder()

        def forward(self, x):
            """B x 3 x H x W in -1..1 (sides multiples of 32) -> B x H x W relative inverse depth."""
            return self.scratch(self.pretrained(x))[:, 0]

    return MidasDptHybrid()


def load_midas(path):
    """``dpt_hybrid-midas-501f0c75.pt`` in our network (strict keys and shapes, float32, eval, no gradients);
    cached per file (``weights.MODELS``). ImportError without timm; ValueError naming the file when it does not
    fit."""
    return MODELS.get(path, load=_read_midas).value


def _read_midas(path):
    ok, reason = available()
    if not ok:
        raise ImportError(reason)
    sd = read_state_dict(path)
    net = build_midas(meta=True)  # no initialisation of 123 M parameters the file replaces
    check_fit(net, sd, path, f"the MiDaS DPT-hybrid depth network ({reason})")
    net.load_state_dict(sd, strict=True, assign=True)
    left = [n for n, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
    if left:  # a tensor the state dict does not carry (none in the timm versions we know)
        raise ValueError(f"{path}: the network has tensors no file sets ({', '.join(left[:4])})")
    return net.eval().requires_grad_(False).float()


def midas_depth(image_rgb_uint8: np.ndarray, net, device=None, dtype=None) -> np.ndarray:
    """HxW uint8 depth (near = bright) of an HxWx3 uint8 RGB image at detection size (sides multiples of 32), as
    ControlNet 1.1's MiDaS annotator draws it (see the module doc); on ``device`` in ``dtype`` when given."""
    import torch

    image = np.ascontiguousarray(image_rgb_uint8, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"MiDaS takes an HxWx3 RGB image, got shape {image.shape}")
    h, w = image.shape[:2]
    if h % MULTIPLE or w % MULTIPLE or not h or not w:
        raise ValueError(f"MiDaS DPT-hybrid needs sides that are multiples of {MULTIPLE} px, got {w}x{h} (the "
                         "detection size, image_ops.resize_for_detection, is a multiple of 64)")
    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    with torch.inference_mode():
        # scaled in HxWxC and viewed as NCHW (no copy): the reference's arithmetic and memory layout, which the
        # first convolution's algorithm (and so the last bits) may depend on
        x = torch.from_numpy(image).to(device=device, dtype=torch.float32) / 127.5 - 1.0
        x = x.to(dtype).permute(2, 0, 1)[None]
        depth = net(x)[0].float()
        depth = depth - depth.min()
        top = depth.max()
        if not top > 0:
            return np.zeros((h, w), np.uint8)
        depth = (depth / top).cpu().numpy()
    return (depth * 255.0).clip(0, 255).astype(np.uint8)
