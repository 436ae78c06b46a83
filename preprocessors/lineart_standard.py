"""The no-weights "standard" lineart of ControlNet 1.1: dark detail that a strong blur removes, as white lines.

x = image (float, 0–255); g = Gaussian blur of x (sigma ``gaussian_sigma``, 6); intensity = per-pixel minimum over
the channels of (g - x), clipped at 0 (how much darker the pixel is than its surroundings); divided by
max(16, median of the intensities above ``intensity_threshold``), so a typical line comes out at ``SCALE`` (127,
half white: ControlNet 1.1's constant, which the reference LineartStandardDetector of controlnet-aux 0.0.10 uses),
and lines twice as dark or darker saturate at 255; truncated to uint8. White lines on black, as ControlNet lineart
models expect. ``tests/unit/test_lines_reference.py`` checks the map equals the reference's.
"""
from __future__ import annotations

import numpy as np

SCALE = 127.0  # the value of a median line (ControlNet 1.1's lineart_standard)


def lineart_standard(image: np.ndarray, gaussian_sigma: float = 6.0, intensity_threshold: float = 8.0) -> np.ndarray:
    import cv2

    if gaussian_sigma <= 0:
        raise ValueError(f"gaussian_sigma must be > 0, got {gaussian_sigma}")
    x = image.astype(np.float32)
    g = cv2.GaussianBlur(x, (0, 0), gaussian_sigma)
    intensity = np.min(g - x, axis=2).clip(0, 255)
    strong = intensity[intensity > intensity_threshold]
    norm = max(16.0, float(np.median(strong)) if strong.size else 16.0)
    return (intensity / norm * SCALE).clip(0, 255).astype(np.uint8)
