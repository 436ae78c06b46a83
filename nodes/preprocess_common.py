"""What every preprocessor node shares: the annotators model folder, IMAGE batch ↔ numpy with a progress bar,
detection at ControlNet 1.1's resolution and resizing back, and errors that name the node and input."""
from __future__ import annotations

import logging
import os

import comfy.utils
import folder_paths
import numpy as np
import torch

from ..preprocessors import image_ops
from ..preprocessors.weights import MissingWeightsError

logger = logging.getLogger(__name__)
ANNOTATORS = "annotators"
OUTPUT_SIZES = ("input size", "detection size")


def register_annotators_folder() -> None:
    """Our folder key: ComfyUI/models/annotators, plus any paths the user configured in
    extra_model_paths.yaml (kept; ours is only added when missing)."""
    default = os.path.join(folder_paths.models_dir, ANNOTATORS)
    paths = folder_paths.folder_names_and_paths.get(ANNOTATORS, ([], set()))[0]
    if default not in paths:
        folder_paths.add_model_folder_path(ANNOTATORS, default)


def annotator_roots() -> list[str]:
    register_annotators_folder()
    return list(folder_paths.get_folder_paths(ANNOTATORS))


def common_inputs(default_resolution: int = 512) -> dict:
    return {
        "image": ("IMAGE", {"tooltip": "The image(s) to analyse; RGBA, grayscale and any size work."}),
        "resolution": ("INT", {"default": default_resolution, "min": 64, "max": 8192, "step": 64,
                               "tooltip": "Short side used for detection, rounded to a multiple of 64 (ControlNet "
                                          "1.1's convention; most annotators were trained at 512)."}),
        "output_size": (list(OUTPUT_SIZES), {"tooltip": "input size: the map is resized back to the input image "
                                                        "(default); detection size: keep the detection resolution."}),
    }


def fail(node: str, what: str, e: Exception):
    if isinstance(e, MissingWeightsError):
        raise FileNotFoundError(f"[Loadout] {node}: {what}: {e}") from e
    raise ValueError(f"[Loadout] {node}: {what}: {e}") from e


def run_batch(node: str, image: torch.Tensor, resolution: int | None, output_size: str, fn, nearest: bool = False,
              per_image=None) -> torch.Tensor:
    """Apply ``fn(detection_image_u8) -> map`` to each image of the batch (``resolution`` None: at the input's
    size). ``per_image(i, result, detection_hw, target_hw)`` may produce the final map itself (e.g. a pose drawn
    at the output size)."""
    if image.ndim != 4 or image.shape[1] < 1 or image.shape[2] < 1:
        raise ValueError(f"[Loadout] {node}: input 'image': expected an IMAGE batch [B,H,W,C] with pixels, got "
                         f"shape {tuple(image.shape)}")
    batch = image.detach().cpu().float().numpy()
    pbar = comfy.utils.ProgressBar(len(batch))
    outs = []
    for i, frame in enumerate(batch):
        u8 = image_ops.to_uint8_rgb(frame)
        h, w = u8.shape[:2]
        det = u8 if resolution is None else image_ops.resize_for_detection(u8, resolution)
        result = fn(det)
        target = (h, w) if output_size == "input size" else det.shape[:2]
        if per_image is not None:
            out = per_image(i, result, det.shape[:2], target)
        else:
            out = image_ops.resize(result, *target, nearest=nearest)
        outs.append(image_ops.to_float_rgb(out))
        pbar.update(1)
    return torch.from_numpy(np.stack(outs))
