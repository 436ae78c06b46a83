"""Pins what ``nodes/comfy_compat/controlnet.py`` relies on, on the ComfyUI under test (in this process, CPU):
``comfy.controlnet.load_controlnet`` gives a ControlNet for a ControlNet file, None for a file that holds none,
and raises for one that is not readable."""
import pytest
from harness.graphs import TINY_CONTROLNET, TINY_KOHYA
from harness.inprocess import import_comfyui
from harness.paths import harness


@pytest.fixture(scope="module")
def models():
    h = harness()
    import_comfyui(h.comfyui)
    return h.models


@pytest.mark.allow_log(r".*")
def test_load_controlnet_file(models, tmp_path):
    from loadout.nodes.comfy_compat.controlnet import load_controlnet_file

    cn = load_controlnet_file(models / "controlnet" / TINY_CONTROLNET)
    assert type(cn).__name__ == "ControlNet" and callable(cn.copy) and callable(cn.set_cond_hint)
    assert cn.copy() is not cn
    assert load_controlnet_file(models / "loras" / TINY_KOHYA) is None  # a readable file without a ControlNet
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(Exception):  # noqa: B017 - safetensors/torch raise various types; the node reports any
        load_controlnet_file(bad)
