"""CONTROL_NET_STACK entries: our 5-tuples, Comfyroll/Efficiency tuples and lists, validation messages."""
import pytest
import torch

from loadout.core.controlnet import folders
from loadout.core.controlnet.stack import ControlNetEntry, StackError, entries, extend

IMG = torch.zeros(1, 8, 8, 3)


def test_our_entry_is_a_five_tuple_carrying_vae_and_name():
    net = object()
    e = ControlNetEntry(net, IMG, 0.5, 0.1, 0.9, vae="vae", name="a.safetensors")
    cn, image, strength, start, end = e  # Comfyroll's unpacking works
    assert (cn, strength, start, end) == (net, 0.5, 0.1, 0.9) and len(e) == 5
    (r,) = entries([e])
    assert r.vae == "vae" and r.name == "a.safetensors" and r.index == 1


def test_foreign_forms_are_accepted():
    cn = object()
    got = entries([(cn, IMG, 1.0, 0.0, 1.0), [cn, IMG, 0.3, 0.2, 0.4], (cn, IMG, 0.7)])
    assert [(r.strength, r.start, r.end) for r in got] == [(1.0, 0.0, 1.0), (0.3, 0.2, 0.4), (0.7, 0.0, 1.0)]
    assert entries(None) == [] and entries([]) == []


@pytest.mark.parametrize("entry,needle", [
    (("name.safetensors", IMG, 1.0, 0.0, 1.0), "not a loaded ControlNet"),
    ((object(), None, 1.0, 0.0, 1.0), "IMAGE batch"),
    ((object(), IMG, 11.0, 0.0, 1.0), "outside -10–10"),
    ((object(), IMG, -10.5, 0.0, 1.0), "outside -10–10"),
    ((object(), IMG, float("nan"), 0.0, 1.0), "outside -10–10"),
    ((object(), IMG, 1.0, float("nan"), 1.0), "must lie in 0–1"),
    ((object(), IMG, 1.0, 0.6, 0.5), "after end_percent"),
    ((object(), IMG, 1.0, 0.0, 1.5), "must lie in 0–1"),
    ((object(), IMG), "expected (control_net"),
])
def test_bad_entries_name_the_entry_and_the_problem(entry, needle):
    with pytest.raises(StackError, match="entry 2") as e:
        entries([(object(), IMG, 1.0, 0.0, 1.0), entry])
    assert needle in str(e.value)


def test_negative_strengths_are_accepted_as_core_applies_them():
    """Comfyroll's stack allows -10..10 and core's apply_controlnet applies a negative strength: so do we."""
    got = entries([(object(), IMG, -2.5, 0.0, 1.0), (object(), IMG, -10.0), (object(), IMG, 10.0, 0.2, 0.8)])
    assert [r.strength for r in got] == [-2.5, -10.0, 10.0]


def test_extend_never_modifies_the_received_stack():
    first = [ControlNetEntry(object(), IMG, 1.0, 0.0, 1.0)]
    snapshot = list(first)
    out = extend(first, ControlNetEntry(object(), IMG, 0.5, 0.0, 1.0))
    assert first == snapshot and len(out) == 2 and out[0] is first[0]


def test_diffusers_folders_are_found_and_names_cannot_escape(tmp_path):
    good = tmp_path / "sd15-canny"
    good.mkdir()
    (good / "config.json").write_text("{}")
    (good / "diffusion_pytorch_model.safetensors").write_bytes(b"x")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    assert folders.diffusers_folders([tmp_path]) == ["sd15-canny"]
    assert folders.weights_in_folder([tmp_path], "sd15-canny").name == "diffusion_pytorch_model.safetensors"
    assert folders.weights_in_folder([tmp_path], "half") is None
    with pytest.raises(ValueError, match="escapes"):
        folders.weights_in_folder([tmp_path], "../x")
