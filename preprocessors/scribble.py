"""Scribble hints: XDoG (no weights) and the HED-based scribble of ControlNet 1.1, white strokes on black.

XDoG: difference of two Gaussian blurs (sigma 0.5 and 5.0) of the grey image; where the fine blur is brighter
than the coarse one by more than ``threshold`` (in 0–255 units) the pixel is a stroke. HED scribble: the soft
edge map is thinned to its ridges (non-maximum suppression across the edge direction), the strong ridges are
widened by a blur and binarised — strokes of even width whatever the edge width, as ControlNet 1.1 prepared its
scribble data.
"""
from __future__ import annotations

import numpy as np


def scribble_xdog(image: np.ndarray, threshold: int = 32) -> np.ndarray:
    import cv2

    if not 1 <= threshold <= 255:
        raise ValueError(f"threshold must be 1–255, got {threshold}")
    g = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = cv2.GaussianBlur(g, (0, 0), 0.5)
    coarse = cv2.GaussianBlur(g, (0, 0), 5.0)
    return np.where(coarse - fine > threshold, 255, 0).astype(np.uint8)


def thin_edges(soft: np.ndarray, low: float = 0.0) -> np.ndarray:
    """Non-maximum suppression across the edge: blur (sigma 3), take the gradient direction, quantise it to
    0°/45°/90°/135°, keep a pixel only where it is not below either neighbour along that direction."""
    import cv2

    x = cv2.GaussianBlur(soft.astype(np.float32), (0, 0), 3.0)
    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3)
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    bins = (np.floor((angle + 22.5) / 45.0).astype(int)) % 4  # 0: along x, 1: 45°, 2: along y, 3: 135°
    p = np.pad(x, 1, mode="edge")
    h, w = x.shape
    c = p[1:h + 1, 1:w + 1]
    shifts = {0: ((0, 1), (0, -1)), 1: ((1, 1), (-1, -1)), 2: ((1, 0), (-1, 0)), 3: ((1, -1), (-1, 1))}
    keep = np.zeros_like(x, dtype=bool)
    for b, ((dy1, dx1), (dy2, dx2)) in shifts.items():
        n1 = p[1 + dy1:h + 1 + dy1, 1 + dx1:w + 1 + dx1]
        n2 = p[1 + dy2:h + 1 + dy2, 1 + dx2:w + 1 + dx2]
        keep |= (bins == b) & (c >= n1) & (c >= n2)
    return np.where(keep & (x > low), x, 0).astype(np.float32)


def scribble_from_soft_edges(soft_u8: np.ndarray, threshold: int = 127, blur: float = 3.0) -> np.ndarray:
    """ControlNet 1.1's scribble from an HED soft-edge map (HxW uint8): ridges of the soft edges stronger than
    ``threshold`` become 1 px strokes, which a Gaussian blur (sigma ``blur``) widens; every pixel the blur
    reaches (above 4 of 255) is a stroke. Thicker blur, thicker strokes."""
    import cv2

    if not 1 <= threshold <= 254:
        raise ValueError(f"threshold must be 1–254, got {threshold}")
    if blur < 0:
        raise ValueError(f"blur must be >= 0, got {blur}")
    strokes = np.where(thin_edges(soft_u8) > threshold, 255.0, 0.0).astype(np.float32)
    if blur > 0:
        strokes = cv2.GaussianBlur(strokes, (0, 0), blur)
    return np.where(strokes > 4, 255, 0).astype(np.uint8)
