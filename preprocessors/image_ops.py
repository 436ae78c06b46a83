"""Image plumbing shared by every preprocessor: normalise any input to HxWx3 uint8, pick the detection size.

Conventions (every preprocessor follows them):
- a preprocessor takes one ``HxWx3 uint8`` RGB image, already at detection size, and returns its map as
  ``HxW`` or ``HxWx3 uint8``; batching, resizing and ComfyUI tensors are the node's business;
- ``resolution`` is the short side used for detection, rounded to a multiple of 64 as ControlNet 1.1 did;
  the long side keeps the aspect ratio and is rounded to a multiple of 64 too.
"""
from __future__ import annotations

import numpy as np

MULTIPLE = 64


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """Any image array to ``HxWx3 uint8`` RGB.

    Accepts HxW, HxWx1, HxWx2 (gray+alpha), HxWx3, HxWx4 (RGBA, composited on black, as ComfyUI's LoadImage
    does when it drops alpha); float in [0, 1] (values outside are clipped), uint8 or uint16.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {tuple(a.shape)}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"image has no pixels (shape {tuple(a.shape)})")
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        f = np.clip(f, 0.0, 1.0)
    elif a.dtype == np.bool_:
        f = a.astype(np.float32)
    else:
        raise ValueError(f"unsupported image dtype {a.dtype}")
    c = f.shape[2]
    if c == 1:
        rgb = np.repeat(f, 3, axis=2)
    elif c == 2:
        rgb = np.repeat(f[:, :, :1] * f[:, :, 1:2], 3, axis=2)
    elif c == 3:
        rgb = f
    elif c == 4:
        rgb = f[:, :, :3] * f[:, :, 3:4]
    else:
        raise ValueError(f"expected 1, 2, 3 or 4 channels, got {c}")
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def to_float_rgb(image_u8: np.ndarray) -> np.ndarray:
    """``HxW`` or ``HxWx3 uint8`` map to ``HxWx3 float32`` in [0, 1] (ComfyUI IMAGE layout, no batch)."""
    a = np.asarray(image_u8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return a.astype(np.float32) / 255.0


def detection_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(height, width) for detection: short side = ``resolution`` rounded to a multiple of 64, aspect kept."""
    if height < 1 or width < 1:
        raise ValueError(f"image has no pixels ({width}x{height})")
    if resolution < MULTIPLE:
        raise ValueError(f"resolution {resolution} is below the minimum {MULTIPLE}")
    k = float(resolution) / min(height, width)
    h = max(MULTIPLE, int(np.round(height * k / MULTIPLE)) * MULTIPLE)
    w = max(MULTIPLE, int(np.round(width * k / MULTIPLE)) * MULTIPLE)
    return h, w


def resize(image: np.ndarray, height: int, width: int, nearest: bool = False) -> np.ndarray:
    """Resize with OpenCV: area when shrinking, Lanczos when enlarging (ControlNet 1.1's choice), or nearest
    for label maps and 1-px line drawings where interpolation would invent values."""
    import cv2

    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if nearest:
        interp = cv2.INTER_NEAREST
    elif height * width < h * w:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_LANCZOS4
    out = cv2.resize(image, (width, height), interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def resize_for_detection(image_u8: np.ndarray, resolution: int) -> np.ndarray:
    """Resize an ``HxWx3 uint8`` image to its detection size (see ``detection_size``)."""
    h, w = detection_size(image_u8.shape[0], image_u8.shape[1], resolution)
    return resize(image_u8, h, w)
