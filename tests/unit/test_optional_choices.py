"""Choices that need an optional package (``nodes/preprocessors.py``'s ``choice_unavailable`` mechanism, ComfyUI
imported in-process): the Pose node's ``dwpose`` (onnxruntime) and ``mediapipe``, the Depth and Normal nodes'
MiDaS checkpoint (timm). With the package missing (``importlib.util.find_spec`` answering None for it, as on a
machine without it) the choice stays listed, ``validate_inputs`` refuses it naming the node, the input, the package
and the install command, the other choices still validate, and the start-up line says which choices are off; with
the package present they validate."""
import importlib.util
import logging

import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def nodes():
    from harness.inprocess import import_comfyui
    from harness.paths import harness

    import_comfyui(harness().comfyui)
    from loadout.nodes import pose, preprocessors

    return preprocessors, pose


@pytest.fixture
def without(monkeypatch):
    """``without("onnxruntime")``: find_spec answers None for that package from now on in this test."""
    real = importlib.util.find_spec

    def hide(*packages):
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a, **k: None if name.split(".")[0] in packages else real(name, *a, **k))

    return hide


COMMON = {"resolution": 512, "output_size": "input size"}


def test_with_the_packages_every_choice_validates(nodes):
    pre, pose = nodes
    for model in pose.POSE_NEEDS:
        assert pose.LoadoutPosePreprocessor.validate_inputs(**COMMON, model=model) is True
    assert pre.LoadoutDepthPreprocessor.validate_inputs(**COMMON, model="dpt_hybrid-midas-501f0c75.pt") is True
    assert set(pre.DEPTH_NEEDS) <= set(pre.depth_files())  # the table names a real choice


def test_a_missing_package_refuses_only_its_choice(nodes, without, caplog):
    pre, pose = nodes
    without("onnxruntime", "timm")
    error = pose.LoadoutPosePreprocessor.validate_inputs(**COMMON, model="dwpose")
    assert isinstance(error, str)
    assert "(Loadout)" in error and "'model'" in error and "onnxruntime" in error and "pip install onnxruntime" in error
    assert pose.LoadoutPosePreprocessor.validate_inputs(**COMMON, model="mediapipe") is True
    error = pre.LoadoutDepthPreprocessor.validate_inputs(**COMMON, model="dpt_hybrid-midas-501f0c75.pt")
    assert isinstance(error, str) and "timm" in error and "pip install timm" in error
    normal = pre.LoadoutNormalPreprocessor.validate_inputs(**COMMON, model="dpt_hybrid-midas-501f0c75.pt")
    assert isinstance(normal, str) and "timm" in normal
    assert pre.LoadoutDepthPreprocessor.validate_inputs(**COMMON, model="depth_anything_v2_vits.pth") is True
    with caplog.at_level(logging.INFO):
        off = pre.log_unavailable_choices(pose.POSE, "model", pose.POSE_NEEDS)
    assert off == ["dwpose"]
    assert any(r.getMessage().startswith("[Loadout] ") and "'dwpose' is disabled" in r.getMessage()
               and "onnxruntime" in r.getMessage() for r in caplog.records)
    # still listed, so a saved workflow naming it opens
    assert "dwpose" in pose.LoadoutPosePreprocessor.define_schema().inputs[-1].options


def test_an_unknown_choice_is_refused(nodes):
    _pre, pose = nodes
    error = pose.LoadoutPosePreprocessor.validate_inputs(**COMMON, model="openpose-2")
    assert isinstance(error, str) and "mediapipe" in error and "dwpose" in error
