"""Lineart "realistic" / "coarse" and "anime" from their standard weight files in ``<annotators>/lineart/``.

- realistic: ``sk_model.pth``, coarse: ``sk_model2.pth`` — the generator of "Learning to generate line drawings"
  (Chan et al. 2022): reflection-padded 7x7 conv to 64 channels, two stride-2 convs (128, 256), three residual
  blocks, two transposed convs back (128, 64), a 7x7 conv to one channel and a sigmoid; instance norm without
  parameters. Input RGB in 0–1; output dark lines on white, which we invert.
- anime: ``netG.pth`` — a pix2pix U-Net (8 down/up levels, 64 base channels, instance norm without parameters,
  skip connections by concatenation, tanh). Input RGB in -1–1 at a multiple of 256; output dark lines on white.
Our modules are written from those architecture descriptions with the same state-dict keys, so the published
files load with ``strict=True`` (a mismatch is reported with the missing and unexpected keys). Files are read
with safetensors or ``torch.load(weights_only=True)``; the output is white lines on black, as ControlNet's
lineart models expect, and equals the reference annotators' map (controlnet-aux 0.0.10) for the same image and
weights: ``lineart`` follows their pre- and post-processing (uint8 truncation, the anime resize to multiples of
256), ``tests/unit/test_lines_reference.py`` compares the two.

Where it runs: where the network is (a loaded one: the CPU, float32), or on ``device`` in ``dtype`` when given
(``weights.on_device``: a copy; the cached network is never moved); the map comes back as numpy on the host. The
reference runs float32 on its network's device; the nodes pass float32.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .weights import MODELS, load_strict, on_device, placement_of, read_state_dict  # noqa: F401 - re-exported

FILES = {"realistic": ["sk_model.pth", "sk_model.safetensors"], "coarse": ["sk_model2.pth", "sk_model2.safetensors"],
         "anime": ["netG.pth", "netG.safetensors"]}


def build_realistic(residual_blocks: int = 3):
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch),
                                            nn.ReLU(inplace=True), nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3),
                                            nn.InstanceNorm2d(ch))

        def forward(self, x):
            return x + self.conv_block(x)

    class LineGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model0 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, 64, 7), nn.InstanceNorm2d(64),
                                        nn.ReLU(inplace=True))
            self.model1 = nn.Sequential(
                nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.InstanceNorm2d(128), nn.ReLU(inplace=True),
                nn.Conv2d(128, 256, 3, stride=2, padding=1), nn.InstanceNorm2d(256), nn.ReLU(inplace=True))
            self.model2 = nn.Sequential(*[Residual(256) for _ in range(residual_blocks)])
            self.model3 = nn.Sequential(
                nn.ConvTranspose2d(256, 128, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(128),
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(128, 64, 3, stride=2, padding=1, output_padding=1), nn.InstanceNorm2d(64),
                nn.ReLU(inplace=True))
            self.model4 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(64, 1, 7), nn.Sigmoid())

        def forward(self, x):
            return self.model4(self.model3(self.model2(self.model1(self.model0(x)))))

    return LineGenerator()


def build_anime(levels: int = 8, base: int = 64):
    import torch
    from torch import nn

    class Block(nn.Module):
        """One U-Net level: down, the inner level, up; its output is [input, up] (except the outermost)."""

        def __init__(self, outer, inner, inner_block=None, outermost=False, innermost=False, in_ch=None):
            super().__init__()
            self.outermost = outermost
            down = nn.Conv2d(in_ch or outer, inner, 4, stride=2, padding=1, bias=True)
            if outermost:
                up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
                layers = [down, inner_block, nn.ReLU(True), up, nn.Tanh()]
            elif innermost:
                up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=True)
                layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, nn.InstanceNorm2d(outer)]
            else:
                up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=True)
                layers = [nn.LeakyReLU(0.2, True), down, nn.InstanceNorm2d(inner), inner_block, nn.ReLU(True), up,
                          nn.InstanceNorm2d(outer)]
            self.model = nn.Sequential(*layers)

        def forward(self, x):
            return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            block = Block(base * 8, base * 8, innermost=True)
            for _ in range(levels - 5):
                block = Block(base * 8, base * 8, block)
            block = Block(base * 4, base * 8, block)
            block = Block(base * 2, base * 4, block)
            block = Block(base, base * 2, block)
            self.model = Block(1, base, block, outermost=True, in_ch=3)

        def forward(self, x):
            return self.model(x)

    return UNet()


def load_lineart(path, mode: str):
    """The network for ``mode`` (realistic / coarse / anime) with the file's weights, eval, float32; cached per
    file and mode (``weights.MODELS``)."""
    if mode not in FILES:
        raise ValueError(f"lineart mode must be one of {sorted(FILES)}, got {mode!r}")
    build = build_anime if mode == "anime" else build_realistic
    return MODELS.get(path, extra=("lineart", mode),
                      load=lambda p: load_strict(build(), p, f"the {mode} lineart network")).value


ANIME_MULTIPLE = 256  # the anime U-Net's sides: 8 stride-2 levels


def lineart(image: np.ndarray, net, mode: str, device=None, dtype=None) -> np.ndarray:
    """HxW uint8, white lines on black: the map of the reference detectors (controlnet-aux 0.0.10's
    LineartDetector / LineartAnimeDetector at their detection size), value for value.

    The network draws dark lines on white (0–1, anime -1–1); that drawing is scaled to 0–255 and *truncated* to
    uint8 (not rounded: the reference's ``astype``), then inverted (255 - it). Anime: the image is first resized
    bicubically (OpenCV, on the uint8 image) up to the next multiples of 256, and the drawing bicubically back to
    the image's size before the truncation. Runs on ``device`` in ``dtype`` (None: the network's own; see the
    module doc)."""
    import cv2
    import torch

    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    h, w = image.shape[:2]
    image = np.ascontiguousarray(image)
    with torch.inference_mode():
        if mode == "anime":
            hh, ww = (ANIME_MULTIPLE * -(-side // ANIME_MULTIPLE) for side in (h, w))
            feed = image if (hh, ww) == (h, w) else cv2.resize(image, (ww, hh), interpolation=cv2.INTER_CUBIC)
            x = (torch.from_numpy(feed).float() / 127.5 - 1.0).permute(2, 0, 1)[None]
            drawing = (net(x.to(device=device, dtype=dtype))[0, 0].float() * 127.5 + 127.5).cpu().numpy()
            if (hh, ww) != (h, w):
                drawing = cv2.resize(drawing, (w, h), interpolation=cv2.INTER_CUBIC)
        else:
            x = (torch.from_numpy(image).float() / 255.0).permute(2, 0, 1)[None]
            drawing = net(x.to(device=device, dtype=dtype))[0, 0, :h, :w].float().cpu().numpy() * 255.0
    return 255 - drawing.clip(0, 255).astype(np.uint8)
