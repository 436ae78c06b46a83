"""Normal map from a depth map, by the ControlNet 1.0 recipe (its "normal from MiDaS depth" hint).

Input: inverse depth (near = bright), HxW, normalised to 0–1. ControlNet 1.0 took Sobel gradients (3x3) of the
raw MiDaS disparity; we take them of the normalised depth times ``depth_scale`` (255 = the depth IMAGE's 8-bit
levels; raise it for stronger relief, lower it for flatter). z = ``z`` (2π in 1.0). Where the normalised depth is
below ``bg_threshold`` (0.1 in 1.0) x and y are zeroed, so the background faces the camera. The vector (x, y, z)
is normalised and written as RGB = (x, y, z) · 127.5 + 127.5.

Channel order, as ControlNet 1.0 wrote it: R = x-gradient of the inverse depth (image columns, left → right),
G = y-gradient (image rows, top → bottom), B = z toward the viewer. A flat region is (128, 128, 255).
ControlNet 1.1's "normalbae" models use another convention (from a normal estimator), not this one.
"""
from __future__ import annotations

import numpy as np


def normalise_depth(depth: np.ndarray) -> np.ndarray:
    """HxW or HxWxC depth (uint8/uint16/float) → HxW float32 in 0–1 (min–max for floats outside 0–1)."""
    d = np.asarray(depth)
    if d.ndim == 3:
        d = d[:, :, 0]
    if d.dtype == np.uint8:
        return d.astype(np.float32) / 255.0
    if d.dtype == np.uint16:
        return d.astype(np.float32) / 65535.0
    d = np.nan_to_num(d.astype(np.float32))
    if d.min() >= 0 and d.max() <= 1:
        return d
    lo, hi = float(d.min()), float(d.max())
    return (d - lo) / (hi - lo) if hi > lo else np.zeros_like(d)


def normal_from_depth(depth: np.ndarray, bg_threshold: float = 0.1, z: float = np.pi * 2,
                      depth_scale: float = 255.0) -> np.ndarray:
    """HxWx3 uint8 normal map (see the module doc for the recipe and channel order)."""
    import cv2

    if not 0 <= bg_threshold <= 1:
        raise ValueError(f"bg_threshold must lie in 0–1, got {bg_threshold}")
    if depth_scale <= 0 or z <= 0:
        raise ValueError(f"depth_scale and z must be > 0, got {depth_scale}, {z}")
    d = normalise_depth(depth)
    x = cv2.Sobel(d * depth_scale, cv2.CV_32F, 1, 0, ksize=3)
    y = cv2.Sobel(d * depth_scale, cv2.CV_32F, 0, 1, ksize=3)
    bg = d < bg_threshold
    x[bg] = 0
    y[bg] = 0
    n = np.stack([x, y, np.full_like(d, z)], axis=2)
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    return np.clip(n * 127.5 + 127.5, 0, 255).astype(np.uint8)
