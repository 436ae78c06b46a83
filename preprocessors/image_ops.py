"""Image plumbing shared by every preprocessor: normalise any input to HxWx3 uint8, pick the detection size.

Conventions (every preprocessor follows them):
- a preprocessor takes one ``HxWx3 uint8`` RGB image, already at detection size, and returns its map as
  ``HxW`` or ``HxWx3 uint8``; batching, resizing and ComfyUI tensors are the node's business;
- ``resolution`` is the short side used for detection, rounded to a multiple of 64 as ControlNet 1.1 did;
  the long side keeps the aspect ratio and is rounded to a multiple of 64 too; the detection image is made as
  ControlNet 1.1's ``resize_image`` makes it (the reference annotators, controlnet-aux 0.0.10): Lanczos when
  the short side is enlarged, area otherwise, so a map detected on it is the reference's, pixel for pixel;
- the detection image is bounded (``DETECTION_SIDE_MAX`` px on the long side, ``DETECTION_PIXELS_MAX`` pixels) and a
  batch kept at detection size by ``BATCH_PIXELS_MAX`` pixels in all: ``check_detection`` refuses a larger one before
  anything is allocated (a 1x4096 strip at resolution 512 would otherwise be a 64 x 2 M px, ~1 Gpx canvas).
"""
from __future__ import annotations

import numpy as np

MULTIPLE = 64
DETECTION_SIDE_MAX = 8192  # the long side of the detection image, px (the resolution widget's maximum)
DETECTION_PIXELS_MAX = 64 * 1024 * 1024  # 64 MP: one detection image (8192 x 8192)
BATCH_PIXELS_MAX = 256 * 1024 * 1024  # 256 MP: every image of one output batch together (3 GB as float32 RGB)


class SizeLimitError(ValueError):
    """An image, canvas or batch beyond the documented limits; the message says which limit and by how much."""


def megapixels(pixels: int) -> str:
    return f"{pixels / (1024 * 1024):,.1f} MP"


def check_detection(height: int, width: int, resolution: int, batch: int = 1, keep_detection_size: bool = False
                    ) -> tuple[int, int]:
    """The detection (height, width) of an ``height`` x ``width`` image at ``resolution``, or ``SizeLimitError``
    when it is beyond the limits: long side ``DETECTION_SIDE_MAX``, ``DETECTION_PIXELS_MAX`` pixels, and (when the
    batch keeps the detection size) ``BATCH_PIXELS_MAX`` pixels for the ``batch`` images together. Pure arithmetic:
    nothing is allocated."""
    h, w = detection_size(height, width, resolution)
    where = f"a {width}x{height} image at resolution {resolution} is detected at {w}x{h}"
    if max(h, w) > DETECTION_SIDE_MAX or h * w > DETECTION_PIXELS_MAX:
        longest = max(height, width) / min(height, width)
        ratio = DETECTION_SIDE_MAX / (round(resolution / MULTIPLE) * MULTIPLE or MULTIPLE)
        raise SizeLimitError(f"{where} ({megapixels(h * w)}), beyond the limit of {DETECTION_SIDE_MAX} px on the "
                             f"long side and {megapixels(DETECTION_PIXELS_MAX)} (aspect ratio {longest:,.1f}:1; at "
                             f"this resolution at most {ratio:g}:1)")
    if keep_detection_size and batch * h * w > BATCH_PIXELS_MAX:
        raise SizeLimitError(f"{where}; {batch} of them kept at detection size make {megapixels(batch * h * w)}, "
                             f"beyond the batch limit of {megapixels(BATCH_PIXELS_MAX)}")
    return h, w


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


def resize(image: np.ndarray, height: int, width: int, nearest: bool = False, enlarge: bool | None = None
           ) -> np.ndarray:
    """Resize with OpenCV: area when shrinking, Lanczos when enlarging, or nearest for label maps and 1-px line
    drawings where interpolation would invent values. Shrinking or enlarging: ``enlarge`` when given (the
    detection resize decides it by the short side, as ControlNet 1.1), else by the pixel count."""
    import cv2

    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if enlarge is None:
        enlarge = height * width >= h * w
    if nearest:
        interp = cv2.INTER_NEAREST
    elif enlarge:
        interp = cv2.INTER_LANCZOS4
    else:
        interp = cv2.INTER_AREA
    out = cv2.resize(image, (width, height), interpolation=interp)
    if image.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def resize_for_detection(image_u8: np.ndarray, resolution: int) -> np.ndarray:
    """Resize an ``HxWx3 uint8`` image to its detection size (see ``detection_size``; ``SizeLimitError`` beyond the
    limits of ``check_detection``). Lanczos when ``resolution`` is above the image's short side, else area (also
    when rounding to 64 lengthens the long side a little): ControlNet 1.1's ``resize_image``, which the reference
    annotators use, so the detection image is theirs."""
    h, w = check_detection(image_u8.shape[0], image_u8.shape[1], resolution)
    return resize(image_u8, h, w, enlarge=resolution > min(image_u8.shape[:2]))
