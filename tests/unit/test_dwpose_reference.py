"""DWPose (preprocessors/dwpose.py) against rtmlib 0.0.16's YOLOX + RTMPose, the PyPI reference of the ONNX
pipeline comfyui_controlnet_aux's dwpose runs, on small seeded ONNX models with the real files' names and shapes.

The models: scripts/tiny_annotators.py's ``make_tiny_dwpose`` (its doc says how they are built; it also writes the
harness's pair), written as ``yolox_l.onnx`` and ``dw-ll_ucoco_384.onnx`` in a tmp folder.

rtmlib is configured to DWPose's detector settings (score 0.3, NMS IoU 0.45) and asked for its class labels
(``det_mode="multiclass"``), as it otherwise returns every class's boxes; DWPose keeps class 0. Its only
difference of maths: rtmlib 0.0.16 scores a SimCC point by the mean of the two axis maxima, DWPose
(onnxpose.py, comfyui_controlnet_aux's dw_onnx) by the smaller one, so for the comparison rtmlib's decode is
swapped for its own ``get_simcc_maximum3d``, whose combine is the minimum (the locations are the same argmax).
Everything else is rtmlib's code: boxes and keypoints must be equal exactly (the same float32/float64 arithmetic
in the same order; the same ONNX graphs on the same CPU provider).
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.usefixtures("few_threads"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # torch.onnx.export (TorchScript path)
ort = pytest.importorskip("onnxruntime")
rtmlib = pytest.importorskip("rtmlib")
torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

import tiny_annotators  # noqa: E402  (scripts/)
from loadout.preprocessors import dwpose  # noqa: E402

@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    return tiny_annotators.make_tiny_dwpose(tmp_path_factory.mktemp("dwpose"))


@pytest.fixture(scope="module")
def sessions(model_files):
    return dwpose.load_session(model_files[0]), dwpose.load_session(model_files[1])


@pytest.fixture(scope="module")
def reference(model_files):
    """rtmlib's YOLOX and RTMPose on the local files (never downloading), configured as DWPose runs."""
    from rtmlib.tools import base
    from rtmlib.tools.pose_estimation import post_processings, rtmpose

    mp = pytest.MonkeyPatch()

    def no_download(*a, **k):
        raise AssertionError(f"rtmlib tried to download {a}")

    def min_rule(simcc_x, simcc_y):  # rtmlib's own 3-D decode, whose score is the axes' minimum (DWPose's rule)
        locs, vals = post_processings.get_simcc_maximum3d(simcc_x, simcc_y, simcc_x)
        return locs[..., :2], vals

    mp.setattr(base, "download_checkpoint", no_download)
    mp.setattr(rtmpose, "get_simcc_maximum", min_rule)
    det = rtmlib.YOLOX(str(model_files[0]), model_input_size=(640, 640), nms_thr=0.45, score_thr=0.3,
                       det_mode="multiclass", backend="onnxruntime", device="cpu")
    pose = rtmlib.RTMPose(str(model_files[1]), model_input_size=(288, 384), to_openpose=True,
                          backend="onnxruntime", device="cpu")
    yield det, pose
    mp.undo()


def _inputs(photo):
    crop = photo[40:560, 30:480]
    return {"photo": photo, "crop_resized": cv2.resize(crop, (333, 385), interpolation=cv2.INTER_AREA)}


@pytest.fixture(scope="module")
def cases(photo, sessions, reference):
    """Per input: (image, our boxes, our points, scores, rtmlib's person boxes, rtmlib's openpose points, scores)."""
    det_ref, pose_ref = reference
    out = {}
    for name, image in _inputs(photo).items():
        boxes, _ = dwpose.detect_people(image, sessions[0])
        points, scores = dwpose.estimate(image, boxes, sessions[1])
        ref_boxes, classes = det_ref(image.copy())
        ref_boxes = ref_boxes[classes == dwpose.PERSON]
        ref_pts, ref_scores = pose_ref(image.copy(), bboxes=list(ref_boxes))
        out[name] = (image, boxes, points, scores, ref_boxes, ref_pts, ref_scores)
    return out


@pytest.mark.parametrize("name", ["photo", "crop_resized"])
def test_the_person_boxes_are_rtmlibs(cases, name):
    _, boxes, _, _, ref_boxes, _, _ = cases[name]
    assert len(boxes) == 2  # the main and the second person; the duplicate, the weak one and the bicycle are out
    np.testing.assert_array_equal(boxes, ref_boxes)


@pytest.mark.parametrize("name", ["photo", "crop_resized"])
def test_the_keypoints_and_scores_are_rtmlibs(cases, name):
    _, _, points, scores, _, ref_pts, ref_scores = cases[name]
    ours = dwpose.to_openpose(points, scores)
    assert ours.shape == (2, 134, 3)
    np.testing.assert_array_equal(ours[..., :2], ref_pts)
    np.testing.assert_array_equal(ours[..., 2], ref_scores)
    visible = scores >= dwpose.VISIBLE
    assert 0.2 < visible.mean() < 0.8  # a real mix of shown and hidden points


def test_the_crop_moves_the_points(cases):
    """The two inputs give different detections and keypoints (the models depend on their input)."""
    a, b = cases["photo"], cases["crop_resized"]
    assert not np.allclose(a[1], b[1])
    assert not np.allclose(a[2], b[2])


def test_detect_returns_the_people_in_loadouts_format(cases, sessions):
    image, _, points, scores, _, _, _ = cases["photo"]
    people = dwpose.detect(image, *sessions)
    rows = dwpose.to_openpose(points, scores)
    assert len(people) == 2
    for person, row in zip(people, rows):
        assert set(person) == {"body", "hand_left", "hand_right", "face", "feet"}
        assert len(person["body"]) == 18
        for k, p in enumerate(person["body"]):
            if k == 1:
                assert (p is not None) == (row[2, 2] > 0.3 and row[5, 2] > 0.3)
            else:
                assert (p is not None) == (row[k, 2] >= 0.3)
            if p is not None:
                assert p == pytest.approx(tuple(row[k]))
        for part, lo, n in (("feet", 18, 6), ("face", 24, 68), ("hand_left", 92, 21), ("hand_right", 113, 21)):
            pts = person[part]
            if not (row[lo:lo + n, 2] >= 0.3).any():
                assert pts == []
                continue
            assert len(pts) == (70 if part == "face" else n)
            for p, r in zip(pts, row[lo:lo + n]):
                assert (p is None) == (r[2] < 0.3)
        if person["face"]:
            assert person["face"][68:] == [person["body"][14], person["body"][15]]
    from loadout.preprocessors.openpose_format import to_json

    doc = to_json(people, image.shape[1], image.shape[0])
    assert len(doc["people"][0]["pose_keypoints_2d"]) == 54


def test_the_openpose_18_conversion():
    """COCO-WholeBody order -> OpenPose 18: nose 0, neck 1 (shoulder midpoint, the smaller shoulder score, shown
    only when both shoulders score above 0.3), right arm 2-4 from COCO 6/8/10, left arm 5-7 from 5/7/9, right leg
    8-10 from 12/14/16, left leg 11-13 from 11/13/15, eyes 14/15 from 2/1, ears 16/17 from 4/3; then feet, face,
    left hand and right hand in COCO's order."""
    pts = np.stack([np.arange(133) * 2.0, np.arange(133) * 3.0 + 1], -1)[None]
    scores = np.full((1, 133), 0.9)  # float64: 0.3 exactly (a float32 0.3 is just above it)
    scores[0, 5], scores[0, 6] = 0.8, 0.3
    rows = dwpose.to_openpose(pts, scores)
    expected = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
    for op, coco in enumerate(expected):
        if coco is not None:
            assert tuple(rows[0, op, :2]) == (coco * 2.0, coco * 3.0 + 1)
    assert tuple(rows[0, 1]) == pytest.approx((11.0, 17.5, 0.3))
    assert tuple(rows[0, 18, :2]) == (34.0, 52.0)  # COCO 17, the left big toe, first after the body
    person, = dwpose.people_from(rows)
    assert person["body"][1] is None  # a shoulder at exactly 0.3 hides the neck (DWPose: both > 0.3)
    assert person["body"][2] == pytest.approx((12.0, 19.0, 0.3))  # but the shoulder itself is shown (>= 0.3)
    assert len(person["face"]) == 70 and person["face"][0][:2] == (46.0, 70.0)  # COCO 23
    assert person["face"][68] == person["body"][14] and person["face"][69] == person["body"][15]
    assert person["hand_left"][0][:2] == (182.0, 274.0) and person["hand_right"][0][:2] == (224.0, 337.0)
    assert len(person["feet"]) == 6
    scores[0, 112:] = 0.1
    assert dwpose.people_from(dwpose.to_openpose(pts, scores))[0]["hand_right"] == []


def test_the_simcc_score_is_the_smaller_axis_maximum():
    sx, sy = np.zeros((133, 576), np.float32), np.zeros((133, 768), np.float32)
    sx[:, 100], sy[:, 300] = 0.9, 0.4
    sx[7], sy[7] = -1, -1
    locs, scores = dwpose.decode_simcc(sx, sy)
    assert tuple(locs[0]) == (50.0, 150.0) and scores[0] == pytest.approx(0.4)
    assert tuple(locs[7]) == (-0.5, -0.5) and scores[7] == -1


def test_a_wrong_file_is_named(model_files, sessions, photo, tmp_path):
    det, pose = sessions
    with pytest.raises(ValueError, match=r"dw-ll_ucoco_384\.onnx.*not DWPose's person detector"):
        dwpose.detect(photo, pose, det)
    with pytest.raises(ValueError, match=r"yolox_l\.onnx.*not DWPose's whole-body model"):
        dwpose.check_pose(det)
    other = tmp_path / "yolox_l.onnx"
    tiny_annotators.export_onnx(torch.nn.Conv2d(3, 4, 3), (1, 3, 64, 64), other, ["images"], ["output"])
    with pytest.raises(ValueError, match=r"yolox_l\.onnx .*'images' \[1, 3, 64, 64\]"):
        dwpose.check_detector(dwpose.load_session(other))
    junk = tmp_path / "dw-ll_ucoco_384.onnx"
    junk.write_bytes(b"not an onnx file")
    with pytest.raises(ValueError, match=r"dw-ll_ucoco_384\.onnx is not a readable ONNX model"):
        dwpose.load_session(junk)


def test_sessions_are_cached_and_checked(model_files, sessions):
    assert dwpose.load_session(model_files[0]) is sessions[0]
    assert dwpose.available() == (True, "")
    assert sessions[0].get_providers()[-1] == "CPUExecutionProvider"
    dwpose.check_detector(sessions[0])
    dwpose.check_pose(sessions[1])


def test_no_person_gives_no_people(sessions, photo):
    points, scores = dwpose.estimate(photo, np.zeros((0, 4), np.float32), sessions[1])
    assert points.shape == (0, 133, 2) and scores.shape == (0, 133)
    assert dwpose.people_from(dwpose.to_openpose(points, scores)) == []
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        dwpose.detect(photo[..., 0], *sessions)

