"""preprocessors.image_ops: input normalisation and ControlNet 1.1's detection-size rule."""
import numpy as np
import pytest

from loadout.preprocessors import image_ops


def test_every_input_layout_becomes_uint8_rgb():
    rng = np.random.default_rng(0)
    f = rng.random((5, 7, 3), dtype=np.float32)
    assert image_ops.to_uint8_rgb(f).shape == (5, 7, 3)
    gray = rng.random((5, 7), dtype=np.float32)
    out = image_ops.to_uint8_rgb(gray)
    assert out.shape == (5, 7, 3) and (out[:, :, 0] == out[:, :, 2]).all()
    rgba = np.concatenate([f, np.zeros((5, 7, 1), np.float32)], axis=2)
    assert image_ops.to_uint8_rgb(rgba).max() == 0  # fully transparent composites to black
    u16 = np.full((2, 2, 3), 65535, np.uint16)
    assert (image_ops.to_uint8_rgb(u16) == 255).all()
    nan = np.full((2, 2, 3), np.nan, np.float32)
    assert (image_ops.to_uint8_rgb(nan) == 0).all()
    with pytest.raises(ValueError, match="no pixels"):
        image_ops.to_uint8_rgb(np.zeros((0, 4, 3), np.float32))


def test_detection_size_rounds_short_side_to_64_and_keeps_aspect():
    assert image_ops.detection_size(512, 512, 512) == (512, 512)
    assert image_ops.detection_size(333, 517, 512) == (512, 768)  # 517*512/333 = 794.9 -> 768
    assert image_ops.detection_size(1, 1, 512) == (512, 512)
    assert image_ops.detection_size(1080, 1920, 500) == (512, 896)
    with pytest.raises(ValueError):
        image_ops.detection_size(10, 10, 32)


def test_resize_round_trip_shapes():
    img = np.zeros((333, 517, 3), np.uint8)
    small = image_ops.resize_for_detection(img, 256)
    assert small.shape == (256, 384, 3)
    assert image_ops.resize(small, 333, 517, nearest=True).shape == (333, 517, 3)
    assert image_ops.resize(np.zeros((4, 4, 1), np.uint8), 8, 8).shape == (8, 8, 1)
