"""Person mask from MediaPipe Selfie Segmentation (its shipped model): 'general' (256x256 input) or
'landscape' (144x256, faster)."""
from __future__ import annotations

import numpy as np

from .pose_mediapipe import run

MODELS = {"general": 0, "landscape": 1}


def person_probability(image: np.ndarray, model: str = "general") -> np.ndarray:
    """HxW float32 in 0–1: the probability that each pixel shows a person."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    res = run("selfie", image, model_selection=MODELS[model])
    return np.clip(np.asarray(res.segmentation_mask, dtype=np.float32), 0.0, 1.0)


def person_mask(image: np.ndarray, threshold: float = 0.5, model: str = "general") -> np.ndarray:
    """HxW uint8, 255 where the person is (probability above ``threshold``)."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    return np.where(person_probability(image, model) > threshold, 255, 0).astype(np.uint8)
