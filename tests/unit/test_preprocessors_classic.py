"""Weight-free preprocessors on the real photo (matplotlib's grace_hopper.jpg) and synthetic images."""
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image

from loadout.preprocessors import canny, image_ops, lineart_standard, mlsd, normal, scribble

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def photo():
    return image_ops.resize_for_detection(np.asarray(Image.open(PHOTO).convert("RGB")), 512)


def rectangle(h=200, w=300):
    img = np.zeros((h, w, 3), np.uint8)
    cv2.rectangle(img, (50, 40), (250, 160), (255, 255, 255), -1)
    return img


def test_canny_equals_cv2_canny_at_the_same_resolution(photo):
    assert photo.shape == (640, 512, 3) or photo.shape[:2][::-1] == (512, 640) or min(photo.shape[:2]) == 512
    for low, high, l2 in ((100, 200, False), (50, 120, True)):
        ours = canny.canny(photo, low, high, l2)
        assert np.array_equal(ours, cv2.Canny(photo, low, high, L2gradient=l2))
        assert 0.01 < (ours > 0).mean() < 0.3
    with pytest.raises(ValueError, match="above high"):
        canny.canny(photo, 200, 100)


def test_mlsd_finds_the_rectangle_edges_and_nothing_on_blank():
    out = mlsd.mlsd(rectangle(), score=0.1, min_length=20)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 255}
    # white pixels lie on the rectangle's outline (within 2 px)
    ys, xs = np.nonzero(out)
    assert len(xs) > 400
    near = (np.minimum.reduce([abs(xs - 50), abs(xs - 250), abs(ys - 40), abs(ys - 160)]) <= 2)
    assert near.mean() > 0.95
    assert mlsd.mlsd(np.zeros((64, 64, 3), np.uint8)).max() == 0
    assert mlsd.mlsd(rectangle(), min_length=500).max() == 0  # longer than any edge
    assert (mlsd.mlsd(rectangle(), score=1.0) > 0).sum() <= len(xs)


def test_mlsd_on_the_photo_is_sparse_lines(photo):
    out = mlsd.mlsd(photo)
    assert 0.001 < (out > 0).mean() < 0.1


def test_xdog_scribble_is_binary_and_monotonic_in_threshold(photo):
    lo, hi = scribble.scribble_xdog(photo, 16), scribble.scribble_xdog(photo, 48)
    assert set(np.unique(lo)) <= {0, 255} and (lo > 0).sum() > (hi > 0).sum() > 0
    assert np.array_equal(lo, scribble.scribble_xdog(photo, 16))


def test_scribble_from_soft_edges_thins_a_slanted_edge():
    """ControlNet 1.1's ridge rule (``scribble.ridges``): a ~28 px wide soft edge at 30° becomes a ridge of 1–2 px
    on the centre line (away from the image border, where a missing neighbour does not count against a pixel)."""
    yy, xx = np.mgrid[0:120, 0:120].astype(np.float32)
    d = (xx - 60) * np.cos(np.deg2rad(30)) + (yy - 60) * np.sin(np.deg2rad(30))  # distance to the line
    soft = (255 * np.exp(-d ** 2 / (2 * 6.0 ** 2))).astype(np.uint8)
    inner = (slice(20, 100), slice(20, 100))
    ridge = scribble.ridges(soft, 127)[inner]
    assert 1.0 <= ridge.sum() / 80 <= 2.0 and np.abs(d[inner][ridge]).max() <= 1.0
    out = scribble.scribble_from_soft_edges(soft, threshold=127, blur=1.0)
    assert set(np.unique(out)) <= {0, 255} and out[np.abs(d) > 12].max() == 0
    width = (out[inner] > 0).sum() / 80
    assert width < (soft[inner] > 127).sum() / 80 / 2  # thinner than the soft edge
    assert (scribble.scribble_from_soft_edges(soft, blur=3.0)[inner] > 0).sum() / 80 > width  # blur sets the width


def test_ridges_keep_a_plateau_along_one_of_the_lines():
    """An edge exactly along y is constant along the vertical line, so every pixel above the threshold is a maximum
    there and stays: ControlNet 1.1's rule (a maximum on *any* of the four lines) keeps the whole band, where
    thinning across the gradient direction (Loadout before #16) kept a few px."""
    import cv2

    xs = np.arange(100, dtype=np.float32)
    soft = np.tile(255 * np.exp(-((xs - 50) ** 2) / (2 * 6.0 ** 2)), (100, 1)).astype(np.uint8)
    blurred = cv2.GaussianBlur(soft.astype(np.float32), (0, 0), 3.0)
    assert np.array_equal(scribble.ridges(soft, 127), blurred > 127)
    assert (scribble.ridges(soft, 127)[50]).sum() > 10


def test_lineart_standard_on_the_photo(photo):
    out = lineart_standard.lineart_standard(photo)
    assert out.shape == photo.shape[:2] and out.dtype == np.uint8
    assert 0.02 < (out > 64).mean() < 0.5 and (out == 255).mean() < 0.2  # lines, not a saturated map
    assert np.array_equal(out, lineart_standard.lineart_standard(photo))


def test_normal_from_depth_flat_ramp_and_background():
    flat = np.full((32, 32), 200, np.uint8)
    n = normal.normal_from_depth(flat)
    assert (np.abs(n[4:-4, 4:-4].astype(int) - (127, 127, 255)).max(axis=2) <= 1).all()
    ramp = np.tile(np.linspace(0.2, 1.0, 64, dtype=np.float32), (32, 1))  # nearer to the right
    n = normal.normal_from_depth(ramp)
    assert (n[8:-8, 8:-8, 0] > 140).all() and (np.abs(n[8:-8, 8:-8, 1].astype(int) - 127) <= 1).all()
    bg = np.zeros((32, 32), np.float32)
    bg[:, 16:] = 1.0
    n = normal.normal_from_depth(bg)
    assert (np.abs(n[:, :10].astype(int) - (127, 127, 255)).max(axis=2) <= 1).all()  # background faces the camera


@pytest.mark.parametrize("fn", [lambda i: canny.canny(i), lambda i: mlsd.mlsd(i), scribble.scribble_xdog,
                                lineart_standard.lineart_standard])
@pytest.mark.parametrize("shape", [(333, 517, 3), (1, 1, 3)])
def test_odd_and_tiny_sizes_keep_their_shape(fn, shape):
    img = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    assert fn(img).shape == shape[:2]
