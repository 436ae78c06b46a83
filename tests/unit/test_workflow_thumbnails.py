"""Template browser thumbnails: workflows/NAME.jpg for every workflows/NAME.json (the name the frontend asks for a
custom node pack's template: /api/workflow_templates/<pack>/NAME.jpg), a small square JPEG, current with the graph
(scripts/make_thumbnails.py). Pure: PIL only; the gallery's real preprocessor outputs are not recomputed here."""
import io
import json
from pathlib import Path

import make_thumbnails
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
UI = sorted((REPO / "workflows").glob("*.json"))
GRAPHS = [p for p in UI if p.stem != "preprocessor_gallery"]


def test_every_template_has_its_thumbnail_and_nothing_else_is_there():
    assert sorted(p.stem for p in (REPO / "workflows").glob("*.jpg")) == [p.stem for p in UI]
    assert not [p for p in (REPO / "workflows").iterdir() if p.suffix not in (".json", ".jpg") and p.is_file()]


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_thumbnail_is_a_small_square_jpeg(path):
    thumb = path.with_suffix(".jpg")
    with Image.open(thumb) as img:
        assert img.format == "JPEG" and img.size == (make_thumbnails.SIZE, make_thumbnails.SIZE)
    assert thumb.stat().st_size < 100 * 1024


@pytest.mark.parametrize("path", GRAPHS, ids=[p.stem for p in GRAPHS])
def test_graph_thumbnail_is_deterministic_and_current(path):
    ui = json.loads(path.read_text())
    first = make_thumbnails.thumbnail(path)
    assert first == make_thumbnails.thumbnail(path)
    fresh = np.asarray(Image.open(io.BytesIO(first)).convert("RGB"), dtype=np.int16)
    shipped = np.asarray(Image.open(path.with_suffix(".jpg")).convert("RGB"), dtype=np.int16)
    # equal with the Pillow and fonts that made it (0); a node moved by 60 px differs by ~0.7
    assert np.abs(fresh - shipped).mean() < 0.25, f"run scripts/make_thumbnails.py {path.stem}"
    assert make_thumbnails.workflow_title(ui, path.stem) != path.stem
