"""Real M-LSD (Gu et al. 2021, "Towards Light-weight and Real-time Line Segment Detection") when its weights are
in the annotators folder: ``annotators/mlsd/mlsd_large_512_fp32.pth`` (the file ControlNet's MLSD annotator uses).

Our module reproduces the published *large* network's layout so that file loads with ``strict=True``: a
MobileNetV2 trunk on 4 input channels (RGB plus a constant plane) up to the 96-channel stage, whose stride-2
convolutions pad right/bottom by one pixel as TensorFlow's 'same' padding does (the model was trained that way);
four top-down fusion steps (1x1 projections, bilinear x2 upsampling, concatenation, residual 3x3 convs); a head
with a dilated conv and a 1x1 conv to 16 maps, of which the last 9 are kept: a centre heat map and four
displacement maps (to the segment's two ends) are used.

Decoding, as the reference annotator (controlnet-aux 0.0.10's MLSDdetector) does it, so the drawn map is
the same pixel for pixel (``tests/unit/test_lines_reference.py``): the network runs on the image at its own size
(a detection image's sides are multiples of 64; other sizes are resized, area, to the nearest multiples of
``STRIDE``), scaled to -1..1 with the constant plane; sigmoid of the centre map, 3x3 local maxima, the top 200
centres; a segment is kept when its centre score exceeds ``score`` (the reference's thr_v, 0.1) and its length in
the output map (half the input's size) exceeds ``distance`` (thr_d, 0.1 output pixels = 0.2 image pixels). Its
ends are doubled (and scaled back when the input was resized) and drawn 1 px with their coordinates truncated
toward zero (the reference's ``int()``), not rounded.

Where it runs: where the network is (a loaded one: the CPU, float32), or on ``device`` in ``dtype`` when given
(``weights.on_device``: a copy; the cached network is never moved); the decoding's peak search runs there too, the
segments come back as numpy on the host. The reference runs float32 on its network's device; the nodes pass float32.
"""
from __future__ import annotations

import numpy as np

from .weights import MODELS, load_strict, on_device, placement_of

FILE_NAMES = ["mlsd_large_512_fp32.pth", "mlsd_large_512_fp32.safetensors"]
STRIDE = 16  # the network's input sides must be multiples of this (four stride-2 stages, fused back by x2 steps)
SCORE, DISTANCE = 0.1, 0.1  # the reference annotator's defaults (thr_v, thr_d)
# MobileNetV2 settings up to the stage the large M-LSD uses: (expansion, channels, repeats, first stride)
TRUNK = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1)]
TAPS = (1, 3, 6, 10, 13)  # feature indices handed to the decoder (strides 2, 4, 8, 16, 16)


def build_mlsd():
    import torch
    from torch import nn
    import torch.nn.functional as F

    class ConvBNReLU(nn.Sequential):
        def __init__(self, cin, cout, k=3, stride=1, groups=1):
            super().__init__(nn.Conv2d(cin, cout, k, stride, 0 if stride == 2 else (k - 1) // 2, groups=groups,
                                       bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))
            self.stride = stride

        def forward(self, x):
            if self.stride == 2:
                x = F.pad(x, (0, 1, 0, 1))  # TensorFlow 'same' padding for stride 2
            return super().forward(x)

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = int(round(cin * expand))
            layers = [ConvBNReLU(cin, hidden, k=1)] if expand != 1 else []
            layers += [ConvBNReLU(hidden, hidden, stride=stride, groups=hidden), nn.Conv2d(hidden, cout, 1, bias=False),
                       nn.BatchNorm2d(cout)]
            self.conv = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.conv(x) if self.residual else self.conv(x)

    class Trunk(nn.Module):
        def __init__(self):
            super().__init__()
            feats, cin = [ConvBNReLU(4, 32, stride=2)], 32
            for t, c, n, s in TRUNK:
                for i in range(n):
                    feats.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            self.features = nn.Sequential(*feats)

        def forward(self, x):
            taps = []
            for i, f in enumerate(self.features):
                x = f(x)
                if i in TAPS:
                    taps.append(x)
            return taps

    def cbr(cin, cout, k, pad=0, dil=1, relu6=False):
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=dil), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True))

    class Fuse(nn.Module):  # project the skip and the deeper map to 64 channels each, upsample, concatenate
        def __init__(self, skip_c, deep_c, upscale=True):
            super().__init__()
            self.conv1 = cbr(deep_c, 64, 1)
            self.conv2 = cbr(skip_c, 64, 1)
            self.upscale = upscale

        def forward(self, skip, deep):
            deep = self.conv1(deep)
            if self.upscale:
                deep = F.interpolate(deep, scale_factor=2.0, mode="bilinear", align_corners=True)
            return torch.cat((self.conv2(skip), deep), dim=1)

    class Refine(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv1 = cbr(cin, cin, 3, pad=1)
            self.conv2 = cbr(cin, cout, 3, pad=1)

        def forward(self, x):
            return self.conv2(self.conv1(x) + x)

    class Head(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv1 = cbr(cin, cin, 3, pad=5, dil=5)
            self.conv2 = cbr(cin, cin, 3, pad=1)
            self.conv3 = nn.Conv2d(cin, cout, 1)

        def forward(self, x):
            return self.conv3(self.conv2(self.conv1(x)))

    class MLSD(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Trunk()
            self.block15, self.block16 = Fuse(64, 96, upscale=False), Refine(128, 64)
            self.block17, self.block18 = Fuse(32, 64), Refine(128, 64)
            self.block19, self.block20 = Fuse(24, 64), Refine(128, 64)
            self.block21, self.block22 = Fuse(16, 64), Refine(128, 64)
            self.block23 = Head(64, 16)

        def forward(self, x):
            c1, c2, c3, c4, c5 = self.backbone(x)
            x = self.block16(self.block15(c4, c5))
            x = self.block18(self.block17(c3, x))
            x = self.block20(self.block19(c2, x))
            x = self.block22(self.block21(c1, x))
            return self.block23(x)[:, 7:]

    return MLSD()


def load_mlsd(path):
    """The network with the file's weights (strict), eval, float32; cached per file (``weights.MODELS``)."""
    return MODELS.get(path, load=lambda p: load_strict(build_mlsd(), p, "the M-LSD large network")).value


def network_size(height: int, width: int) -> tuple[int, int]:
    """The network's input (height, width) for an image: its own size when both sides are multiples of ``STRIDE``
    (every detection image: multiples of 64), else the nearest multiples (at least ``STRIDE``)."""
    return tuple(max(STRIDE, int(side / STRIDE + 0.5) * STRIDE) for side in (height, width))


def detect_segments(image: np.ndarray, net, score: float = SCORE, distance: float = DISTANCE, top_k: int = 200,
                    device=None, dtype=None) -> np.ndarray:
    """Nx4 float64 (x1, y1, x2, y2) in pixels of ``image``: the segments whose centre score exceeds ``score`` and
    whose length in the network's output map (half the input size) exceeds ``distance``. On ``device`` in
    ``dtype`` (None: the network's own; see the module doc)."""
    import cv2
    import torch
    import torch.nn.functional as F

    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    h, w = image.shape[:2]
    nh, nw = network_size(h, w)
    x = np.empty((1, nh, nw, 4), np.float32)  # RGB and a plane of ones, then all of it to -1..1
    x[0, :, :, :3] = image if (nh, nw) == (h, w) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    x[0, :, :, 3] = 1.0
    x = x / 127.5 - 1.0
    with torch.inference_mode():
        # channels-last in memory, as the reference's batch is: CPU convolutions pick their kernels by the layout
        # (the batch dimension's stride included), and another kernel rounds differently in the last bits
        out = net(torch.from_numpy(x).permute(0, 3, 1, 2).to(device=device, dtype=dtype))[0].float()
        heat = torch.sigmoid(out[0])
        peak = F.max_pool2d(heat[None, None], 3, stride=1, padding=1)[0, 0]
        heat = torch.where(peak == heat, heat, torch.zeros_like(heat)).flatten()
        scores, idx = torch.topk(heat, min(top_k, heat.numel()))
    scores, idx = scores.cpu().numpy(), idx.cpu().numpy()
    ys, xs = np.divmod(idx, out.shape[2])
    disp = out[1:5].permute(1, 2, 0).cpu().numpy()[ys, xs]  # float32 (dx1, dy1, dx2, dy2) from each centre
    length = np.sqrt(((disp[:, :2] - disp[:, 2:]) ** 2).sum(axis=1))
    # float32 comparisons, as the reference's numpy scalars compare
    keep = (scores > np.float32(score)) & (length > np.float32(distance))
    centres = np.stack([xs, ys, xs, ys], axis=1)[keep].astype(np.float64)
    segs = (centres + disp[keep].astype(np.float64)) * 2.0  # the output map is half the input
    return segs * np.array([w / nw, h / nh, w / nw, h / nh])


COORD_LIMIT = 1 << 24  # ends further out than this (a broken network) are not drawn: cv2 takes 32-bit points


def mlsd_lines(image: np.ndarray, net, score: float = SCORE, distance: float = DISTANCE, device=None, dtype=None
               ) -> np.ndarray:
    """HxW uint8: the segments of ``detect_segments`` drawn 1 px white on black, ends truncated toward zero; on
    ``device`` in ``dtype`` (None: the network's own)."""
    import cv2

    outm = np.zeros(image.shape[:2], np.uint8)
    ends = np.trunc(detect_segments(image, net, score, distance, device=device, dtype=dtype))
    drawable = np.isfinite(ends).all(axis=1) & (np.abs(ends) < COORD_LIMIT).all(axis=1)
    for x1, y1, x2, y2 in ends[drawable].astype(np.int64).tolist():
        cv2.line(outm, (x1, y1), (x2, y2), 255, 1)
    return outm
