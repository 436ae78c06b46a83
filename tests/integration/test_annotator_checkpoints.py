"""The original annotator checkpoints through the real server (the workflow layer of the classic-annotators work):
the Depth and Normal nodes' ``model`` choices ``dpt_hybrid-midas-501f0c75.pt`` (MiDaS) and
``depth_anything_v2_vits.pth`` (Depth Anything v2), and the Pose node's ``model`` choice ``dwpose``, with the
harness's tiny files (scripts/tiny_annotators.py: the real keys, layouts and ONNX signatures, seeded weights).

Each map the server returns equals the pure function's (``preprocessors/``) run here on the same detection image
(the photo as this ComfyUI's LoadImage decoded it, saved losslessly, resized as the node resizes it) with the same
file, on the CPU in float32 as the server runs it: the glue adds nothing to the maths. The pure functions are
checked against the reference annotators on the same file formats in tests/unit (test_midas_reference.py,
test_depth_anything_ckpt.py, test_dwpose_reference.py). A choice whose file is absent fails with the node's
error naming the file, where it was looked for and where it is published.
"""
import io
import json

import numpy as np
import pytest
from harness.paths import harness
from PIL import Image

from loadout.preprocessors import image_ops

PHOTO = "loadout_grace_hopper.jpg"
RES = 384


def _graph(nodes: dict) -> dict:
    g = {"1": {"class_type": "LoadImage", "inputs": {"image": PHOTO}},
         "09": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loadout/ckpt_decoded"}}}
    for node_id, (cls, inputs) in nodes.items():
        g[node_id] = {"class_type": cls, "inputs": {"image": ["1", 0], **inputs}}
        g[node_id + "9"] = {"class_type": "SaveImage", "inputs": {"images": [node_id, 0],
                                                                   "filename_prefix": f"loadout/ckpt_{node_id}"}}
    return g


def _saved(comfy, result, node_id):
    files = [f for f in result.files() if f["node"] == node_id + "9"]
    assert files, (node_id, result.outputs)
    return np.asarray(Image.open(io.BytesIO(comfy.client.fetch(files[0]))).convert("RGB"))


def _annotators():
    return harness().models / "annotators"


DETECT = {"resolution": RES, "output_size": "detection size"}


@pytest.fixture(scope="module")
def depth_run(comfy):
    """The server's maps for both checkpoints (and the Normal node on Depth Anything), with the decoded photo."""
    from loadout.preprocessors import midas

    result = comfy.run(_graph({
        "10": ("LoadoutDepthPreprocessor", {**DETECT, "model": midas.FILE}),
        "11": ("LoadoutDepthPreprocessor", {**DETECT, "model": "depth_anything_v2_vits.pth"}),
        "12": ("LoadoutNormalPreprocessor", {**DETECT, "model": "depth_anything_v2_vits.pth", "bg_threshold": 0.1,
                                             "depth_scale": 255.0}),
    }))
    det = image_ops.resize_for_detection(_saved(comfy, result, "0"), RES)
    return det, {k: _saved(comfy, result, k) for k in ("10", "11", "12")}


def test_the_depth_choices_list_the_checkpoints(comfy):
    for node in ("LoadoutDepthPreprocessor", "LoadoutNormalPreprocessor"):
        spec = comfy.object_info[node]["input"]["required"]["model"]
        options = spec[0] if isinstance(spec[0], list) else spec[1]["options"]
        assert options[0] == "auto"
        assert {"dpt_hybrid-midas-501f0c75.pt", "depth_anything_v2_vits.pth", "depth_anything_v2_vitl.pth",
                "depth_anything_vitl14.pth"} <= set(options), options


def test_midas_through_the_server_equals_the_pure_function(depth_run):
    import torch

    from loadout.preprocessors import midas

    det, maps = depth_run
    with torch.inference_mode():
        want = midas.midas_depth(det, midas.load_midas(_annotators() / "midas" / midas.FILE))
    got = maps["10"]
    assert got.shape[:2] == det.shape[:2] == want.shape
    assert np.array_equal(got[..., 0], want) and np.array_equal(got[..., 1], want)
    assert len(np.unique(want)) > 64  # a graded map, not a constant


def test_depth_anything_checkpoint_through_the_server_equals_the_pure_function(depth_run):
    from loadout.preprocessors import depth, depth_anything, normal

    det, maps = depth_run
    dm = depth_anything.load_depth_anything(_annotators() / "depth" / "depth_anything_v2_vits.pth")
    want = depth.estimate_depth(det, dm)
    assert np.array_equal(maps["11"][..., 0], want)
    assert len(np.unique(want)) > 64
    assert np.array_equal(maps["12"], normal.normal_from_depth(want, 0.1, depth_scale=255.0))


@pytest.mark.parametrize("model,needle", [
    ("depth_anything_v2_vitl.pth", "huggingface.co/depth-anything/Depth-Anything-V2-Large"),
    ("depth_anything_vitb14.pth", "LiheYoung/Depth-Anything"),
])
def test_a_checkpoint_that_is_not_there_names_the_file_and_where_to_get_it(comfy, model, needle):
    message = str(comfy.run_expecting_error(_graph({"10": ("LoadoutDepthPreprocessor", {**DETECT, "model": model})})))
    assert model in message and needle in message and "input 'model'" in message and "(Loadout)" in message
    assert "looked for as" in message


def test_dwpose_through_the_server_equals_the_pure_function(comfy):
    """The Pose node's dwpose choice: the JSON equals ``openpose_format.to_json`` of ``dwpose.detect`` on the same
    detection image with the harness's two ONNX files (feet left out, as OpenPose-18 has none), and the picture is
    that JSON drawn (the Render OpenPose JSON node gives the same pixels)."""
    pytest.importorskip("onnxruntime")
    from loadout.preprocessors import dwpose, openpose_format

    g = _graph({"21": ("LoadoutPosePreprocessor", {**DETECT, "body": True, "hands": True, "face": True,
                                                   "min_visibility": 0.5, "model": "dwpose"})})
    g["30"] = {"class_type": "LoadoutOpenPoseRender", "inputs": {"keypoints": ["21", 1], "width": 0, "height": 0,
                                                                 "draw_body": True, "draw_hands": True,
                                                                 "draw_face": True}}
    g["309"] = {"class_type": "SaveImage", "inputs": {"images": ["30", 0], "filename_prefix": "loadout/ckpt_pose"}}
    g["31"] = {"class_type": "PreviewAny", "inputs": {"source": ["21", 1]}}
    result = comfy.run(g)
    det = image_ops.resize_for_detection(_saved(comfy, result, "0"), RES)
    folder = _annotators() / "dwpose"
    people = dwpose.detect(det, dwpose.load_session(folder / dwpose.DET_FILE),
                           dwpose.load_session(folder / dwpose.POSE_FILE))
    for person in people:
        person.pop("feet")
    (doc,) = json.loads(result.outputs["31"]["text"][0])
    assert doc == json.loads(json.dumps(openpose_format.to_json(people, det.shape[1], det.shape[0])))
    assert len(doc["people"]) == 2  # the tiny detector's two people (tiny_annotators.DWPOSE_BOXES)
    assert np.array_equal(_saved(comfy, result, "21"), _saved(comfy, result, "30"))


def test_the_pose_node_offers_mediapipe_then_dwpose(comfy):
    spec = comfy.object_info["LoadoutPosePreprocessor"]["input"]["optional"]["model"]
    options = spec[0] if isinstance(spec[0], list) else spec[1]["options"]
    assert options[:2] == ["mediapipe", "dwpose"]
