"""Real M-LSD (Gu et al. 2021, "Towards Light-weight and Real-time Line Segment Detection") when its weights are
in the annotators folder: ``annotators/mlsd/mlsd_large_512_fp32.pth`` (the file ControlNet's MLSD annotator uses).

Our module reproduces the published *large* network's layout so that file loads with ``strict=True``: a
MobileNetV2 trunk on 4 input channels (RGB plus a constant plane) up to the 96-channel stage, whose stride-2
convolutions pad right/bottom by one pixel as TensorFlow's 'same' padding does (the model was trained that way);
four top-down fusion steps (1x1 projections, bilinear x2 upsampling, concatenation, residual 3x3 convs); a head
with a dilated conv and a 1x1 conv to 16 maps, of which the last 9 are kept: a centre heat map and four
displacement maps (to the segment's two ends) are used. Decoding: sigmoid of the centre map, 3x3 local maxima,
the top 200 centres; a segment is kept when its centre score exceeds ``score`` and its length (in output
pixels) exceeds ``distance``. The input is resized to 512x512 and scaled to -1..1; the output map is half that
size, so coordinates are doubled, then scaled to the image.
"""
from __future__ import annotations

import numpy as np

from .weights import MODELS, load_strict

FILE_NAMES = ["mlsd_large_512_fp32.pth", "mlsd_large_512_fp32.safetensors"]
INPUT = 512
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


def detect_segments(image: np.ndarray, net, score: float = 0.1, distance: float = 20.0, top_k: int = 200) -> np.ndarray:
    """Nx4 float32 (x1, y1, x2, y2) in pixels of ``image``."""
    import cv2
    import torch
    import torch.nn.functional as F

    h, w = image.shape[:2]
    x = cv2.resize(image, (INPUT, INPUT), interpolation=cv2.INTER_AREA).astype(np.float32)
    x = np.concatenate([x, np.ones((INPUT, INPUT, 1), np.float32)], axis=2) / 127.5 - 1.0
    with torch.inference_mode():
        out = net(torch.from_numpy(x.transpose(2, 0, 1))[None])[0]
    heat = torch.sigmoid(out[0])
    peak = F.max_pool2d(heat[None, None], 3, stride=1, padding=1)[0, 0]
    heat = torch.where(peak == heat, heat, torch.zeros_like(heat)).flatten()
    scores, idx = torch.topk(heat, min(top_k, heat.numel()))
    oh, ow = out.shape[1:]
    disp = out[1:5].permute(1, 2, 0).numpy()
    segs = []
    for s, i in zip(scores.tolist(), idx.tolist()):
        yy, xx = divmod(i, ow)
        dx1, dy1, dx2, dy2 = disp[yy, xx]
        if s > score and np.hypot(dx1 - dx2, dy1 - dy2) > distance:
            segs.append((xx + dx1, yy + dy1, xx + dx2, yy + dy2))
    if not segs:
        return np.zeros((0, 4), np.float32)
    segs = np.asarray(segs, np.float32) * 2  # output map is half the input
    return segs * np.array([w / INPUT, h / INPUT, w / INPUT, h / INPUT], np.float32)


def mlsd_lines(image: np.ndarray, net, score: float = 0.1, distance: float = 20.0) -> np.ndarray:
    import cv2

    outm = np.zeros(image.shape[:2], np.uint8)
    for x1, y1, x2, y2 in detect_segments(image, net, score, distance):
        cv2.line(outm, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), 255, 1)
    return outm
