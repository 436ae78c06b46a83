"""Draw SIGMAS curves on a log scale into an RGB image (cv2 only, so no plotting library is needed)."""
from __future__ import annotations

import math

import numpy as np

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def plot_sigmas(curves: list[tuple[str, list[float]]], width: int = 768, height: int = 512) -> np.ndarray:
    """HxWx3 uint8: each (label, sigmas) as a polyline over its step index (0 … n), y = log10 sigma.
    Zeros (the final sigma) are drawn at the axis floor. Axis labels are decades of sigma."""
    import cv2

    if not curves:
        raise ValueError("no SIGMAS to plot")
    if width < 256 or height < 192:
        raise ValueError(f"plot size {width}x{height} is below the minimum 256x192")
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 20, 20, 60 + 18 * ((len(curves) + 1) // 2)
    bottom = min(bottom, height // 2)
    pw, ph = width - left - right, height - top - bottom
    pos = [v for _, s in curves for v in s if v > 0 and math.isfinite(v)]
    if not pos:
        raise ValueError("every sigma is zero or not finite; nothing to plot on a log scale")
    lo, hi = math.floor(math.log10(min(pos))), math.ceil(math.log10(max(pos)))
    hi = max(hi, lo + 1)
    steps = max(len(s) - 1 for _, s in curves) or 1

    def xy(i, v):
        y = lo if v <= 0 or not math.isfinite(v) else math.log10(v)
        return (int(round(left + pw * i / steps)), int(round(top + ph * (hi - y) / (hi - lo))))

    font = cv2.FONT_HERSHEY_SIMPLEX
    for d in range(lo, hi + 1):
        y = xy(0, 10.0 ** d)[1]
        cv2.line(img, (left, y), (left + pw, y), (225, 225, 225), 1)
        cv2.putText(img, f"1e{d}", (8, y + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for i in range(0, steps + 1, max(1, steps // 10)):
        x = xy(i, 1)[0]
        cv2.line(img, (x, top + ph), (x, top + ph + 4), (60, 60, 60), 1)
        cv2.putText(img, str(i), (x - 6, top + ph + 16), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (60, 60, 60), 1)
    cv2.putText(img, "step", (left + pw // 2 - 14, top + ph + 32), font, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    for k, (label, sig) in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        pts = np.array([xy(i, v) for i, v in enumerate(sig)], np.int32)
        if len(pts) > 1:
            cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, tuple(int(c) for c in p), 3, colour, -1, cv2.LINE_AA)
        lx = left + (k % 2) * (pw // 2)
        ly = top + ph + 50 + 18 * (k // 2)
        cv2.line(img, (lx, ly - 4), (lx + 20, ly - 4), colour, 3)
        cv2.putText(img, f"{label} ({len(sig) - 1} steps)", (lx + 26, ly), font, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
    return img
