"""Fixtures shared by the unit tests of the preprocessors (the reference-equality and device tests)."""
from pathlib import Path

import matplotlib
import numpy as np
import pytest

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"  # the real photo (600x512)


@pytest.fixture(scope="module")
def few_threads():
    """torch limited to 2 threads for the module (a shared 2-core CPU); restored afterwards."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def photo():
    """The photo as HxWx3 uint8 RGB."""
    from PIL import Image

    return np.asarray(Image.open(PHOTO).convert("RGB"))
