"""scripts/public_models.py: the one table of public model names, and the harness aliases made from it."""
import os

import make_tiny_models
import public_models
import pytest


def test_every_stand_in_is_a_generated_tiny_model_and_names_are_unique():
    generated = set(make_tiny_models.FILES.values())
    for m in public_models.MODELS:
        assert m.tiny in generated, m
        assert m.tiny.split("/", 1)[0] == m.directory, f"{m.name}: stand-in from another folder"
        assert m.url.startswith("https://huggingface.co/") and "/resolve/" in m.url, m.url
        assert m.name.endswith(".safetensors") and "loadout-tiny" not in m.name + m.url
    assert len({(m.directory, m.name) for m in public_models.MODELS}) == len(public_models.MODELS)


def test_lookup_by_file_name_and_by_lora_tag():
    assert public_models.lookup("v1-5-pruned-emaonly-fp16.safetensors").directory == "checkpoints"
    assert public_models.lookup("lcm-lora-sdv1-5").name == "lcm-lora-sdv1-5/pytorch_lora_weights.safetensors"
    assert public_models.lookup("add_detail").name == "add_detail.safetensors"
    assert public_models.lookup("loadout-tiny-sd15.safetensors") is None


def _fake_models(root):
    for rel in make_tiny_models.FILES.values():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    return root


def test_aliases_are_hard_links_inside_the_models_folder_and_are_remade_when_stale(tmp_path):
    models = _fake_models(tmp_path / "models")
    before = {p for p in tmp_path.rglob("*")}
    written = public_models.link_aliases(models)
    assert len(written) == len(public_models.MODELS) and public_models.aliases_current(models)
    assert all(p.is_relative_to(models) for p in set(tmp_path.rglob("*")) - before)
    for m in public_models.MODELS:
        assert os.path.samefile(models / m.tiny, models / m.directory / m.name)
    assert public_models.link_aliases(models) == []  # current: nothing rewritten
    # the generator replaces a stand-in atomically (a new file): its alias is made again
    sd15 = public_models.lookup("v1-5-pruned-emaonly-fp16.safetensors")
    tmp = models / (sd15.tiny + ".new")
    tmp.write_bytes(b"regenerated")
    os.replace(tmp, models / sd15.tiny)
    assert not public_models.aliases_current(models)
    assert public_models.link_aliases(models) == [models / sd15.directory / sd15.name]
    assert (models / sd15.directory / sd15.name).read_bytes() == b"regenerated"


def test_a_missing_stand_in_is_named(tmp_path):
    models = _fake_models(tmp_path / "models")
    (models / "loras" / "loadout-tiny-kohya-b.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="add_detail.safetensors"):
        public_models.link_aliases(models)
