"""Scribble hints: XDoG (no weights) and the HED / PiDiNet scribble of ControlNet 1.1, white strokes on black.

XDoG: difference of two Gaussian blurs (sigma 0.5 and 5.0) of the grey image; where the fine blur is brighter
than the coarse one by more than ``threshold`` (in 0–255 units) the pixel is a stroke. HED / PiDiNet scribble:
the soft edge map is reduced to its ridges (``ridges``: blurred, then the pixels that are a maximum along any of
four 3-pixel lines and stronger than the threshold), the ridges are widened by a blur and binarised, as ControlNet
1.1 prepared its scribble data (its annotators' ``nms(map, 127, 3.0)``, ``GaussianBlur(3.0)``, ``> 4``).
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


# The four 3-pixel lines through a pixel, as (dy, dx) steps to its two neighbours: along x, along y, the diagonal
# down-right and the diagonal down-left.
LINES = ((0, 1), (1, 0), (1, 1), (1, -1))


def ridges(soft: np.ndarray, threshold: float = 127, sigma: float = 3.0) -> np.ndarray:
    """ControlNet 1.1's ridge rule for scribbles (its ``nms``), as an HxW bool mask: blur the soft edges (Gaussian,
    ``sigma``), keep a pixel where it is not below either neighbour on at least one of the four 3-pixel lines
    through it (``LINES``; a neighbour outside the image does not count) and its blurred value exceeds
    ``threshold``. A pixel on a plateau along one of the lines counts as a maximum (ties are kept)."""
    import cv2

    # Blurred as the 3-channel image ControlNet's annotators blur: OpenCV's float blur of an interleaved 3-channel
    # image can differ in the last bit from that of one channel, and on plateaus the last bit decides the ties.
    grey = soft.astype(np.float32)
    x = np.ascontiguousarray(cv2.GaussianBlur(np.dstack([grey, grey, grey]), (0, 0), sigma)[:, :, 0])
    h, w = x.shape
    p = np.pad(x, 1, mode="constant", constant_values=-np.inf)
    keep = np.zeros((h, w), dtype=bool)
    for dy, dx in LINES:
        ahead = p[1 + dy:h + 1 + dy, 1 + dx:w + 1 + dx]
        behind = p[1 - dy:h + 1 - dy, 1 - dx:w + 1 - dx]
        keep |= (x >= ahead) & (x >= behind)
    return keep & (x > threshold)


def scribble_from_soft_edges(soft_u8: np.ndarray, threshold: int = 127, blur: float = 3.0) -> np.ndarray:
    """ControlNet 1.1's scribble from a soft-edge map (HED or PiDiNet, HxW uint8): ridges of the soft edges
    stronger than ``threshold`` (``ridges``) become strokes, which a Gaussian blur (sigma ``blur``, on uint8)
    widens; every pixel the blur reaches (above 4 of 255) is a stroke. Thicker blur, thicker strokes."""
    import cv2

    if not 1 <= threshold <= 254:
        raise ValueError(f"threshold must be 1–254, got {threshold}")
    if blur < 0:
        raise ValueError(f"blur must be >= 0, got {blur}")
    strokes = np.where(ridges(soft_u8, threshold), 255, 0).astype(np.uint8)
    if blur > 0:
        strokes = cv2.GaussianBlur(strokes, (0, 0), blur)  # on uint8, as ControlNet 1.1 blurred its strokes
    return np.where(strokes > 4, 255, 0).astype(np.uint8)
