"""The real server finds an annotator file in another tool's layout under a root added by loadout.json's
``annotators.extra_roots`` (re-read at each use, so no restart): a copy of the harness's tiny lineart file, named as
the coarse model (same network) that the harness does not have, in comfyui_controlnet_aux's and in A1111
sd-webui-controlnet's folders. Everything created is removed, and the harness's loadout.json restored."""
import json
import shutil

import pytest
from harness.paths import harness

A1111 = ("extensions", "sd-webui-controlnet", "annotator", "downloads", "lineart")
LAYOUTS = {  # name: (the folder named in extra_roots, where the file goes below it)
    "comfyui_controlnet_aux": ("comfyui_controlnet_aux", ("ckpts", "lllyasviel", "Annotators")),
    "sd-webui-controlnet": ("stable-diffusion-webui", A1111),
}


def coarse_graph(color: int) -> dict:
    """Lineart coarse on a flat image; each test gives its own colour, so ComfyUI's output cache never answers
    for it (the node would not run)."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 96, "height": 64, "batch_size": 1, "color": color}},
        "2": {"class_type": "LoadoutLineartPreprocessor", "inputs": {
            "image": ["1", 0], "resolution": 64, "output_size": "input size", "mode": "coarse",
            "gaussian_sigma": 6.0, "intensity_threshold": 8.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "loadout/layout_coarse"}},
    }


@pytest.fixture
def extra_root(tmp_path, request):
    """A root holding sk_model2.pth in the layout ``request.param`` names, listed in the harness's loadout.json for
    the test only."""
    folder, parts = LAYOUTS[request.param]
    root = tmp_path / folder
    target = root.joinpath(*parts, "sk_model2.pth")
    target.parent.mkdir(parents=True)
    shutil.copyfile(harness().models / "annotators" / "lineart" / "sk_model.pth", target)
    path = harness().base / "user" / "loadout.json"
    before = path.read_bytes() if path.is_file() else None
    data = json.loads(before) if before else {}
    data.setdefault("annotators", {})["extra_roots"] = [str(root)]
    path.write_text(json.dumps(data))
    try:
        yield target
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)
        shutil.rmtree(root, ignore_errors=True)


def test_without_the_extra_root_the_file_is_reported_missing(comfy):
    message = str(comfy.run_expecting_error(coarse_graph(0x101010)))
    assert "sk_model2.pth" in message and "annotators.extra_roots" in message
    assert "https://huggingface.co/lllyasviel/Annotators/blob/main/sk_model2.pth" in message


@pytest.mark.parametrize("extra_root", list(LAYOUTS), indirect=True)
def test_coarse_lineart_is_found_in_another_tools_layout(comfy, extra_root, request):
    color = 0x202020 + list(LAYOUTS).index(request.node.callspec.params["extra_root"])
    result = comfy.run(coarse_graph(color))
    assert [f["kind"] for f in result.files() if f["node"] == "3"] == ["images"]
