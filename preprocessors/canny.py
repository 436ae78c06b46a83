"""Canny edges (ControlNet's canny hint): ``cv2.Canny`` on the RGB image, white edges on black."""
from __future__ import annotations

import numpy as np


def canny(image: np.ndarray, low: int = 100, high: int = 200, l2_gradient: bool = False) -> np.ndarray:
    """HxW uint8 (0/255). Defaults are ControlNet 1.1's (100, 200); it was trained with random thresholds."""
    import cv2

    if low < 0 or high < 0:
        raise ValueError(f"thresholds must be >= 0, got low={low}, high={high}")
    if low > high:
        raise ValueError(f"low threshold {low} is above high threshold {high}")
    return cv2.Canny(np.ascontiguousarray(image), float(low), float(high), L2gradient=bool(l2_gradient))
