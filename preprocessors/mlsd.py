"""Straight line segments drawn 1 px white on black, for ControlNet's M-LSD model.

This is an approximation of M-LSD (a learned line detector) with OpenCV's classical Line Segment Detector
(von Gioi et al.), or contrib's FastLineDetector when OpenCV has ``ximgproc``. Segments are kept when they are at
least ``min_length`` px long and their *score* — the mean gradient magnitude along the segment, normalised to
0–1 by the image's 99th percentile — reaches ``score``. (M-LSD's own ``thr_v`` is a centre-map confidence; ours
plays the same role: low = more, weaker lines.) Real M-LSD weights are not bundled (see the README).
"""
from __future__ import annotations

import numpy as np


def detect_segments(image: np.ndarray, min_length: float = 10.0, score: float = 0.1) -> np.ndarray:
    """Nx4 float32 array of (x1, y1, x2, y2) segments passing both filters."""
    import cv2

    if min_length < 0 or not 0 <= score <= 1:
        raise ValueError(f"need min_length >= 0 and 0 <= score <= 1, got {min_length}, {score}")
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if min(gray.shape) < 3:
        return np.zeros((0, 4), np.float32)
    if hasattr(cv2, "ximgproc"):
        lines = cv2.ximgproc.createFastLineDetector().detect(gray)
    else:
        lines = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(gray)[0]
    if lines is None:
        return np.zeros((0, 4), np.float32)
    segs = lines.reshape(-1, 4).astype(np.float32)
    length = np.hypot(segs[:, 2] - segs[:, 0], segs[:, 3] - segs[:, 1])
    segs = segs[length >= min_length]
    if len(segs) == 0 or score <= 0:
        return segs
    g = gray.astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    norm = max(float(np.percentile(mag, 99)), 1e-6)
    h, w = gray.shape
    keep = []
    for x1, y1, x2, y2 in segs:
        n = max(2, int(np.hypot(x2 - x1, y2 - y1)))
        xs = np.clip(np.rint(np.linspace(x1, x2, n)).astype(int), 0, w - 1)
        ys = np.clip(np.rint(np.linspace(y1, y2, n)).astype(int), 0, h - 1)
        # the strongest of the 3x3 neighbourhood: LSD's segments sit between pixel centres
        local = np.max([mag[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
        keep.append(min(1.0, float(local.mean()) / norm) >= score)
    return segs[np.array(keep, bool)]


def mlsd(image: np.ndarray, score: float = 0.1, min_length: float = 10.0) -> np.ndarray:
    """HxW uint8: the kept segments drawn 1 px white on black."""
    import cv2

    h, w = image.shape[:2]
    out = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in detect_segments(image, min_length, score):
        cv2.line(out, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), 255, 1)
    return out
