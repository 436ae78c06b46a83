"""ADE20K semantic segmentation for ControlNet seg models, from a local transformers folder
(``<annotators>/segmentation/<model>/``): SegFormer, UperNet, or any ``AutoModelForSemanticSegmentation``
checkpoint trained on ADE20K's 150 classes. The class map is drawn in the ADE20K palette (``ade20k.py``).

Where it runs: where the model is (a loaded one: the CPU, float32), or on ``device`` in ``dtype`` when given
(``SegmentationModel.placed`` / ``weights.on_device``: a copy of the network; the cached model is never moved). The
image processor runs on the host; the logits are resized and reduced to classes on the model's device, and the class
map comes back as numpy on the host."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .ade20k import PALETTE, colourise
from .depth import quiet_transformers
from .weights import MODELS, find_model_dir, on_device, placement_of

EXAMPLES = (", e.g. a copy of nvidia/segformer-b0-finetuned-ade-512-512 or openmmlab/upernet-convnext-small "
            "(150 ADE20K classes)")


class SegmentationModel:
    def __init__(self, path: Path, model, processor):
        self.path, self.model, self.processor = path, model, processor

    def placed(self, placement) -> SegmentationModel:
        """This model with its network on ``placement`` (a ``weights.Placement``: itself or the run's copy)."""
        model = placement.module(self.model)
        return self if model is self.model else SegmentationModel(self.path, model, self.processor)


def load_segmentation_model(model_dir) -> SegmentationModel:
    """Load a semantic segmentation folder; it must predict the 150 ADE20K classes. Cached per folder until one
    of its files changes (``weights.MODELS``)."""
    return MODELS.get(model_dir, load=_read_segmentation_model).value


def _read_segmentation_model(model_dir) -> SegmentationModel:
    import torch
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    path = Path(model_dir)
    quiet_transformers()
    model = AutoModelForSemanticSegmentation.from_pretrained(path, local_files_only=True)
    if model.config.num_labels != len(PALETTE):
        raise ValueError(f"{path} predicts {model.config.num_labels} classes, not ADE20K's {len(PALETTE)}; "
                         f"ControlNet seg models expect ADE20K colours: use an ADE20K checkpoint")
    try:
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} has no preprocessor_config.json; copy it from the model's repository") from e
    model.eval().requires_grad_(False).to(torch.float32)
    return SegmentationModel(path, model, processor)


def segment_ade20k(image: np.ndarray, sm: SegmentationModel, device=None, dtype=None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(class map HxW int32, colour image HxWx3 uint8) at the input's size; on ``device`` in ``dtype`` (None: the
    model's own; see the module doc)."""
    import torch
    import torch.nn.functional as F

    if min(image.shape[:2]) < 2:
        raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is too small for segmentation")
    model = on_device(sm.model, device, dtype)
    device, dtype = placement_of(model)
    inputs = sm.processor(images=image, return_tensors="pt", input_data_format="channels_last")
    with torch.inference_mode():
        logits = model(pixel_values=inputs["pixel_values"].to(device=device, dtype=dtype)).logits
        logits = F.interpolate(logits.float(), size=image.shape[:2], mode="bilinear", align_corners=False)
    classes = logits.argmax(dim=1)[0].cpu().numpy().astype(np.int32)
    return classes, colourise(classes)


def find_segmentation_model(roots, name: str = "") -> Path:
    return find_model_dir(roots, "segmentation", name, EXAMPLES)
