"""Preprocessor nodes through the real server on the real photo: Canny equals cv2.Canny at the same detection
resolution; every preprocessor runs on odd sizes, RGBA, grayscale and batches and keeps the input's size;
weights-based nodes run with the tiny local models and name the missing file when weights are absent; pose
finds one person and its JSON renders back to the same picture."""
import io
import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image

from loadout.preprocessors import image_ops

PHOTO = "loadout_grace_hopper.jpg"
SRC = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def photo_u8():
    return np.asarray(Image.open(SRC).convert("RGB"))


def graph(nodes: dict, scale=None) -> dict:
    g = {"1": {"class_type": "LoadImage", "inputs": {"image": PHOTO}}}
    src = ["1", 0]
    if scale:
        g["2"] = {"class_type": "ImageScale", "inputs": {"image": src, "upscale_method": "bilinear",
                                                         "width": scale[0], "height": scale[1], "crop": "disabled"}}
        src = ["2", 0]
    for node_id, (cls, inputs) in nodes.items():
        g[node_id] = {"class_type": cls, "inputs": {"image": src, **inputs}}
        g[node_id + "9"] = {"class_type": "SaveImage", "inputs": {"images": [node_id, 0],
                                                                   "filename_prefix": f"loadout/pre_{node_id}"}}
    return g


def saved(comfy, result, node_id):
    files = [f for f in result.files() if f["node"] == node_id + "9"]
    return [np.asarray(Image.open(io.BytesIO(comfy.client.fetch(f)))) for f in files]


COMMON = {"resolution": 512, "output_size": "input size"}
EVERY = {
    "10": ("LoadoutCannyPreprocessor", {**COMMON, "low_threshold": 100, "high_threshold": 200, "l2_gradient": False}),
    "11": ("LoadoutMLSDPreprocessor", {**COMMON, "score": 0.1, "min_length": 10.0, "method": "opencv"}),
    "23": ("LoadoutMLSDPreprocessor", {**COMMON, "score": 0.1, "min_length": 10.0, "method": "m-lsd"}),
    "12": ("LoadoutScribblePreprocessor", {**COMMON, "method": "xdog", "threshold": 32, "blur": 3.0}),
    "13": ("LoadoutScribblePreprocessor", {**COMMON, "method": "hed", "threshold": 127, "blur": 3.0}),
    "14": ("LoadoutLineartPreprocessor", {**COMMON, "mode": "standard", "gaussian_sigma": 6.0,
                                          "intensity_threshold": 8.0}),
    "15": ("LoadoutLineartPreprocessor", {**COMMON, "mode": "realistic", "gaussian_sigma": 6.0,
                                          "intensity_threshold": 8.0}),
    "16": ("LoadoutHEDPreprocessor", COMMON),
    "17": ("LoadoutDepthPreprocessor", {**COMMON, "model": "auto"}),
    "18": ("LoadoutNormalPreprocessor", {**COMMON, "model": "auto", "bg_threshold": 0.1, "depth_scale": 255.0}),
    "19": ("LoadoutSegmentationPreprocessor", {**COMMON, "method": "person", "model": "auto", "threshold": 0.5}),
    "20": ("LoadoutSegmentationPreprocessor", {**COMMON, "method": "ade20k", "model": "auto", "threshold": 0.5}),
    "21": ("LoadoutPosePreprocessor", {**COMMON, "body": True, "hands": True, "face": True, "min_visibility": 0.5}),
    "22": ("LoadoutPreprocessor", {**COMMON, "preprocessor": "canny"}),
    "24": ("LoadoutPiDiNetPreprocessor", {**COMMON, "safe": False}),
    "25": ("LoadoutHEDPreprocessor", {**COMMON, "model": "ControlNetHED.pth", "safe": True}),
    "26": ("LoadoutScribblePreprocessor", {**COMMON, "method": "pidinet", "threshold": 127, "blur": 3.0,
                                           "safe": True}),
    "27": ("LoadoutPreprocessor", {**COMMON, "preprocessor": "softedge (pidinet)"}),
}


def test_canny_equals_cv2_canny_at_the_same_resolution(comfy):
    g = graph({"10": ("LoadoutCannyPreprocessor", {
        "resolution": 512, "output_size": "detection size", "low_threshold": 100, "high_threshold": 200,
        "l2_gradient": False})})
    # The oracle's input is the photo as core's LoadImage decoded it on this ComfyUI (0.3.75 decodes JPEG with PIL,
    # 0.33 with PyAV: pixels differ by up to 46/255), saved losslessly as PNG (k/255 -> uint8 round-trips exactly).
    g["09"] = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loadout/pre_decoded"}}
    result = comfy.run(g)
    (ours,) = saved(comfy, result, "10")
    (decoded,) = saved(comfy, result, "0")
    det = image_ops.resize_for_detection(decoded, 512)
    assert ours.shape[:2] == det.shape[:2]
    assert np.array_equal(ours[:, :, 0], cv2.Canny(det, 100, 200))


@pytest.mark.parametrize("size", [(333, 517), (517, 333), (64, 64), (1, 1)])
def test_every_preprocessor_runs_and_keeps_the_input_size(comfy, size):
    result = comfy.run(graph(EVERY, scale=size))
    for node_id, (cls, inputs) in EVERY.items():
        (img,) = saved(comfy, result, node_id)
        assert img.shape[:2] == (size[1], size[0]), (cls, inputs, img.shape)
        if size[0] > 64 and node_id not in ("17", "18", "20", "23"):  # tiny random models draw noise
            assert img.max() > 0, (cls, inputs)


def test_pose_finds_one_person_and_its_json_renders_the_same_image(comfy):
    g = graph({"21": EVERY["21"]})
    g["30"] = {"class_type": "LoadoutOpenPoseRender", "inputs": {"keypoints": ["21", 1], "width": 0, "height": 0,
                                                                 "draw_body": True, "draw_hands": True,
                                                                 "draw_face": True}}
    g["309"] = {"class_type": "SaveImage", "inputs": {"images": ["30", 0], "filename_prefix": "loadout/pose_json"}}
    g["31"] = {"class_type": "PreviewAny", "inputs": {"source": ["21", 1]}}
    result = comfy.run(g)
    (drawn,), (rendered,) = saved(comfy, result, "21"), saved(comfy, result, "30")
    docs = json.loads(result.outputs["31"]["text"][0])
    assert len(docs) == 1 and len(docs[0]["people"]) == 1
    h, w = photo_u8().shape[:2]
    assert (docs[0]["canvas_width"], docs[0]["canvas_height"]) == (w, h)
    xs, ys = docs[0]["people"][0]["pose_keypoints_2d"][0::3], docs[0]["people"][0]["pose_keypoints_2d"][1::3]
    assert all(0 <= x < w and 0 <= y < h for x, y in zip(xs, ys))
    assert sum(c > 0 for c in docs[0]["people"][0]["pose_keypoints_2d"][2::3]) >= 8
    assert np.array_equal(drawn, rendered)


def test_rgba_grayscale_and_batches(comfy):
    g = {"1": {"class_type": "LoadImage", "inputs": {"image": PHOTO}},
         "2": {"class_type": "ImageToMask", "inputs": {"image": ["1", 0], "channel": "red"}},
         "3": {"class_type": "JoinImageWithAlpha", "inputs": {"image": ["1", 0], "alpha": ["2", 0]}},
         "4": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0],
                                                                                             "amount": 3}},
         "5": {"class_type": "ImageScale", "inputs": {"image": ["4", 0], "upscale_method": "nearest-exact",
                                                      "width": 200, "height": 160, "crop": "disabled"}}}
    for node_id, src in (("10", ["3", 0]), ("11", ["5", 0])):
        g[node_id] = {"class_type": "LoadoutCannyPreprocessor", "inputs": {
            "image": src, **COMMON, "low_threshold": 100, "high_threshold": 200, "l2_gradient": False}}
        g[node_id + "9"] = {"class_type": "SaveImage", "inputs": {"images": [node_id, 0],
                                                                   "filename_prefix": f"loadout/pre_{node_id}"}}
    result = comfy.run(g)
    assert saved(comfy, result, "10")[0].shape[:2] == photo_u8().shape[:2]
    batch = saved(comfy, result, "11")
    assert len(batch) == 3 and all(np.array_equal(b, batch[0]) for b in batch)


@pytest.mark.parametrize("node,inputs,needle", [
    ("LoadoutLineartPreprocessor", {"mode": "anime", "gaussian_sigma": 6.0, "intensity_threshold": 8.0},
     "netG.pth"),
    ("LoadoutLineartPreprocessor", {"mode": "coarse", "gaussian_sigma": 6.0, "intensity_threshold": 8.0},
     "sk_model2.pth"),
    ("LoadoutCannyPreprocessor", {"low_threshold": 250, "high_threshold": 10, "l2_gradient": False},
     "input 'low_threshold'"),
    ("LoadoutHEDPreprocessor", {"model": "hed_bsds500.weights.h5x"}, "input 'model'"),
])
def test_missing_weights_and_bad_inputs_name_the_fix(comfy, node, inputs, needle):
    message = str(comfy.run_expecting_error(graph({"10": (node, {**COMMON, **inputs})})))
    assert needle in message and "(Loadout)" in message
