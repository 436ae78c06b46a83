"""PiDiNet soft edges (Su et al. 2021, "Pixel Difference Networks for Efficient Edge Detection") in our own torch
network, for the published ``table5_pidinet.pth`` (the PiDiNet authors' release, under their terms: see
hellozhuo/pidinet before commercial use; users bring the file; mirrored in
lllyasviel/Annotators on Hugging Face, where ControlNet 1.1's softedge_pidinet and scribble_pidinet annotators
take it from).

The file is a dict whose ``'state_dict'`` holds the DataParallel-prefixed (``module.``) weights of the paper's
table-5 model: 60 base channels, the 'carv4' pattern of pixel-difference convolutions, compact dilation modules
(24 channels) and spatial attention on each of the four side outputs. Our module keeps the published keys
(``init_block``, ``block<stage>_<n>.conv1/conv2/shortcut``, ``conv_reduces``, ``attentions``, ``dilations``,
``classifier``) so the file loads with strict key and shape checks (``weights.load_strict``).

The network: an initial 3x3 convolution (3 -> 60) and 15 residual blocks in four stages (60, 120, 240, 240
channels; the first block of stages 2–4 max-pools by 2 and projects its shortcut with a 1x1 conv), each block a
depthwise 3x3 pixel-difference conv, ReLU and a 1x1 conv. The 16 pixel-difference convolutions cycle through
four kinds ('carv4'): central (cd: a tap's weight times the difference to the centre pixel), angular (ad: each
ring tap minus its clockwise predecessor), radial (rd: the outer ring of a 5x5 window minus the inner ring) and
vanilla (cv). After loading, ad and rd are converted once into the plain 3x3 / 5x5 kernels they are equivalent
to (``PixelDifferenceConv.convert``; the reference annotator builds the same kernels on every call); cd stays
the difference of a 3x3 conv and a 1x1 conv of the summed weights (folding the sum into the centre tap is the
same maths but rounds differently in float32, and the output would no longer be bit-identical). Each stage's
output goes through a dilation module (ReLU, 1x1 conv to 24 channels, the sum of 3x3 convs dilated 5, 7, 9 and
11) and an attention module (x times the sigmoid of ReLU -> 1x1 conv to 4 -> 3x3 conv to 1), a 1x1 reduction
to one map, bilinear resizing to the input size; a 1x1 classifier fuses the four maps and a sigmoid gives the
edge probability. Input: BGR in 0–1.

Where it runs: where the network is (a loaded one: the CPU, float32), or on ``device`` in ``dtype`` when given
(``weights.on_device``: a copy; the cached network is never moved). The map comes back as numpy on the host. The
reference runs float32 on its network's device; the nodes pass float32.
"""
from __future__ import annotations

import numpy as np

from .hed import safe_step, to_u8
from .weights import MODELS, load_strict, on_device, placement_of

FILE_NAME = "table5_pidinet.pth"
WIDTH = 60  # channels of stage 1; stages 2-4 have 2x, 4x, 4x
DILATION_CHANNELS = 24
DILATIONS = (5, 7, 9, 11)
STAGES = ((3, 1), (4, 2), (4, 4), (4, 4))  # (blocks, channel multiple) per stage; stages 2-4 start by pooling
OPS = ("cd", "ad", "rd", "cv") * 4  # 'carv4': the kind of pixel-difference conv of layer k (0: the initial conv)
# ad: flattened 3x3 taps (row-major) paired with the tap before them clockwise around the centre
CLOCKWISE_BEFORE = (3, 0, 1, 6, 4, 2, 7, 8, 5)
# rd: flattened 5x5 positions of the outer and inner ring taking the 3x3 weights 1..8 (with +, resp. - sign)
RD_OUTER = (0, 2, 4, 10, 14, 20, 22, 24)
RD_INNER = (6, 7, 8, 11, 13, 16, 17, 18)


def build_pidinet():
    """Our network for ``table5_pidinet.pth`` (random weights until loaded; ``convert()`` after loading)."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class PixelDifferenceConv(nn.Module):
        """A 3x3 pixel-difference convolution without bias; ``groups`` = channels for the depthwise ones."""

        def __init__(self, op: str, cin: int, cout: int, groups: int = 1):
            super().__init__()
            self.op, self.groups = op, groups
            self.weight = nn.Parameter(torch.empty(cout, cin // groups, 3, 3))
            nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
            self.register_buffer("kernel", None, persistent=False)
            self.register_buffer("centre", None, persistent=False)

        def kernels(self):
            """(kernel, padding, centre kernel or None): the vanilla convolution(s) this one equals."""
            w = self.weight
            if self.op == "cd":
                return w, 1, w.sum(dim=[2, 3], keepdim=True)
            if self.op == "ad":
                flat = w.reshape(w.shape[0], w.shape[1], 9)
                return (flat - flat[:, :, list(CLOCKWISE_BEFORE)]).reshape(w.shape), 1, None
            if self.op == "rd":
                flat = w.reshape(w.shape[0], w.shape[1], 9)
                k5 = torch.zeros(w.shape[0], w.shape[1], 25, dtype=w.dtype, device=w.device)
                k5[:, :, list(RD_OUTER)] = flat[:, :, 1:]
                k5[:, :, list(RD_INNER)] = -flat[:, :, 1:]
                return k5.reshape(w.shape[0], w.shape[1], 5, 5), 2, None
            return w, 1, None

        def convert(self):
            with torch.no_grad():
                kernel, _, centre = self.kernels()
                self.kernel = kernel.detach().clone()
                self.centre = None if centre is None else centre.detach().clone()

        def forward(self, x):
            if self.kernel is None:
                kernel, padding, centre = self.kernels()
            else:
                kernel, padding, centre = self.kernel, (2 if self.op == "rd" else 1), self.centre
            y = F.conv2d(x, kernel, None, 1, padding, 1, self.groups)
            if centre is not None:
                y = y - F.conv2d(x, centre, None, 1, 0, 1, self.groups)
            return y

    class Block(nn.Module):
        def __init__(self, op: str, cin: int, cout: int, pool: bool):
            super().__init__()
            self.pool = pool
            if pool:
                self.shortcut = nn.Conv2d(cin, cout, 1)
            self.conv1 = PixelDifferenceConv(op, cin, cin, groups=cin)
            self.conv2 = nn.Conv2d(cin, cout, 1, bias=False)

        def forward(self, x):
            if self.pool:
                x = F.max_pool2d(x, 2, 2)
            y = self.conv2(F.relu(self.conv1(x)))
            return y + (self.shortcut(x) if self.pool else x)

    class Dilation(nn.Module):
        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 1)
            for k, d in enumerate(DILATIONS):
                self.add_module(f"conv2_{k + 1}", nn.Conv2d(cout, cout, 3, padding=d, dilation=d, bias=False))

        def forward(self, x):
            x = self.conv1(F.relu(x))
            total = None
            for k in range(len(DILATIONS)):
                y = getattr(self, f"conv2_{k + 1}")(x)
                total = y if total is None else total + y
            return total

    class Attention(nn.Module):
        def __init__(self, channels: int):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, 4, 1)
            self.conv2 = nn.Conv2d(4, 1, 3, padding=1, bias=False)

        def forward(self, x):
            return x * torch.sigmoid(self.conv2(self.conv1(F.relu(x))))

    class Reduce(nn.Module):
        def __init__(self, channels: int):
            super().__init__()
            self.conv = nn.Conv2d(channels, 1, 1)

        def forward(self, x):
            return self.conv(x)

    class PiDiNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.init_block = PixelDifferenceConv(OPS[0], 3, WIDTH)
            layer, cin, self.stage_blocks, widths = 1, WIDTH, [], []
            for s, (blocks, multiple) in enumerate(STAGES):
                names = []
                for j in range(blocks):
                    cout = WIDTH * multiple
                    name = f"block{s + 1}_{j + 1}"
                    self.add_module(name, Block(OPS[layer], cin, cout, pool=s > 0 and j == 0))
                    names.append(name)
                    layer, cin = layer + 1, cout
                self.stage_blocks.append(names)
                widths.append(cin)
            # registered in the published file's order: reductions, attentions, dilations, classifier
            self.conv_reduces = nn.ModuleList(Reduce(DILATION_CHANNELS) for _ in widths)
            self.attentions = nn.ModuleList(Attention(DILATION_CHANNELS) for _ in widths)
            self.dilations = nn.ModuleList(Dilation(c, DILATION_CHANNELS) for c in widths)
            self.classifier = nn.Conv2d(len(widths), 1, 1)

        def convert(self):
            for m in self.modules():
                if isinstance(m, PixelDifferenceConv):
                    m.convert()
            return self

        def forward(self, x):
            h, w = x.shape[-2:]
            x = self.init_block(x)
            sides = []
            for k, names in enumerate(self.stage_blocks):
                for name in names:
                    x = getattr(self, name)(x)
                side = self.conv_reduces[k](self.attentions[k](self.dilations[k](x)))
                sides.append(F.interpolate(side, (h, w), mode="bilinear", align_corners=False))
            return torch.sigmoid(self.classifier(torch.cat(sides, dim=1)))

    return PiDiNet()


def load_pidinet(path):
    """``table5_pidinet.pth`` in our network (strict keys and shapes, float32, eval, pixel-difference convs
    converted); cached per file (``weights.MODELS``)."""
    return MODELS.get(path, extra="pidinet",
                      load=lambda p: load_strict(build_pidinet(), p, "the PiDiNet network").convert()).value


def pidinet_probability(image: np.ndarray, net, device=None, dtype=None) -> np.ndarray:
    """HxW float32 edge probability for an RGB uint8 image (sides of at least 8 px: three 2x2 poolings), on
    ``device`` in ``dtype`` (None: the network's own; see the module doc)."""
    import torch

    h, w = image.shape[:2]
    if min(h, w) < 8:
        raise ValueError(f"PiDiNet needs an image of at least 8x8 px, got {w}x{h}")
    bgr = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1]).astype(np.float32)) / 255.0
    # the HWC array viewed as NCHW (no copy), the layout ControlNet's annotators feed their networks in: a backend
    # may choose its convolution algorithm (and so the last bits) by layout
    x = bgr.permute(2, 0, 1)[None]
    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    with torch.inference_mode():
        return net(x.to(device=device, dtype=dtype))[0, 0].float().cpu().numpy()


def pidinet_soft_edge(image: np.ndarray, net, safe: bool = False, device=None, dtype=None) -> np.ndarray:
    """HxW uint8 soft edges (white on black) as ControlNet 1.1's softedge_pidinet annotator makes them; ``safe``:
    three levels (0, 127, 255; ``hed.safe_step``). On ``device`` in ``dtype`` (see the module doc)."""
    p = pidinet_probability(image, net, device, dtype)
    return to_u8(safe_step(p) if safe else p)
