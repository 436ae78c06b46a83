"""Monocular depth for ControlNet depth models from a local transformers folder: Depth Anything (v1/v2), DPT
or MiDaS-DPT in Hugging Face format, under ``<annotators>/depth/<model>/``. Nothing downloads.

These models predict relative inverse depth (disparity: near = large); the output is that prediction resized to
the input (bicubic) and min–max normalised to 0–255 — near = bright, as ControlNet depth models were trained.
Metric-depth checkpoints (``depth_estimation_type: metric``) predict distance and are inverted first.

Where it runs: where the model is (a loaded one: the CPU, float32), or on ``device`` in ``dtype`` when given
(``DepthModel.placed`` / ``weights.on_device``: a copy of the network; the cached model is never moved). The image
processor runs on the host, the pixel values go to the model's device and dtype, the resize to the input's size
runs there in float32 and the map comes back as numpy on the host.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .weights import MODELS, find_model_dir, on_device, placement_of

EXAMPLES = (", e.g. a copy of depth-anything/Depth-Anything-V2-Small-hf, LiheYoung/depth-anything-small-hf or "
            "Intel/dpt-hybrid-midas")


class DepthModel:
    def __init__(self, path: Path, model, processor):
        self.path, self.model, self.processor = path, model, processor

    def placed(self, placement) -> DepthModel:
        """This model with its network on ``placement`` (a ``weights.Placement``: itself or the run's copy)."""
        model = placement.module(self.model)
        return self if model is self.model else DepthModel(self.path, model, self.processor)


def quiet_transformers():
    """No download progress bars nor info logs from transformers while a local folder loads."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def load_depth_model(model_dir) -> DepthModel:
    """Load a depth model folder (local files only); cached per folder until one of its files changes
    (``weights.MODELS``)."""
    return MODELS.get(model_dir, load=_read_depth_model).value


def _read_depth_model(model_dir) -> DepthModel:
    import torch
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    path = Path(model_dir)
    quiet_transformers()
    model = AutoModelForDepthEstimation.from_pretrained(path, local_files_only=True, use_safetensors=None)
    try:
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError):
        processor = None  # no preprocessor_config.json: ImageNet normalisation at a multiple of 14 (see _inputs)
    model.eval().requires_grad_(False).to(torch.float32)
    return DepthModel(path, model, processor)


def _inputs(image: np.ndarray, dm: DepthModel):
    import torch
    import torch.nn.functional as F

    if dm.processor is not None:
        # say the layout: with a side of 3 pixels the processor would guess channels-first
        return dm.processor(images=image, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    x = torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    h, w = image.shape[:2]
    k = 518 / min(h, w)
    x = F.interpolate(x, size=(max(14, round(h * k / 14) * 14), max(14, round(w * k / 14) * 14)), mode="bicubic",
                      align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def estimate_depth(image: np.ndarray, dm: DepthModel, device=None, dtype=None) -> np.ndarray:
    """HxW uint8 inverse depth (near = bright) at the input's size; on ``device`` in ``dtype`` (None: the
    model's own; see the module doc)."""
    import torch
    import torch.nn.functional as F

    if min(image.shape[:2]) < 2:
        raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is too small for depth estimation")
    model = on_device(dm.model, device, dtype)
    device, dtype = placement_of(model)
    with torch.inference_mode():
        pred = model(pixel_values=_inputs(image, dm).to(device=device, dtype=dtype)).predicted_depth
        pred = F.interpolate(pred[:, None].float(), size=image.shape[:2], mode="bicubic", align_corners=False)[0, 0]
    d = pred.cpu().numpy().astype(np.float64)
    if getattr(dm.model.config, "depth_estimation_type", "relative") == "metric":
        d = 1.0 / np.maximum(d, 1e-6)  # metric models predict distance: invert to near = bright
    lo, hi = float(d.min()), float(d.max())
    if not np.isfinite([lo, hi]).all():
        raise ValueError(f"the depth model in {dm.path} produced non-finite values")
    if hi - lo < 1e-12:
        return np.zeros(image.shape[:2], np.uint8)
    return np.round((d - lo) / (hi - lo) * 255.0).astype(np.uint8)


def find_depth_model(roots, name: str = "") -> Path:
    return find_model_dir(roots, "depth", name, EXAMPLES)
