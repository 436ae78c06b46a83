"""The bundled workflows name public model files only, each with its download source (reads the JSON, no server).

- No shipped file (UI or API) names a ``loadout-tiny-*`` file anywhere (widgets, prompts, notes, LoRA tags).
- Every model file a node names — a widget value that is a model file, or a LoRA in a LoRA text form
  (``<lora:NAME:...>`` tags, lines, JSON) — is in scripts/public_models.py, and in the UI file the node's
  ``properties.models`` holds exactly those files, each with the table's url and directory (what the frontend's
  missing-model dialog reads to offer the download).
- A file a node names only inside a text (not as a widget value) is also in the UI file's top-level ``models``: the
  frontend reads a node's ``properties.models`` entry only when its name is one of the node's widget values, and
  the top-level list whole (tests/integration/test_template_browser.py checks what it then shows).
"""
import json
from pathlib import Path

import public_models
import pytest
from loadout.core.lora.parse import parse_stack_text

REPO = Path(__file__).resolve().parents[2]
UI = sorted((REPO / "workflows").glob("*.json"))
API = sorted((REPO / "workflows" / "api").glob("*.json"))
SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")
LORA_TEXT = {"LoadoutLoraStackFromText"}


def _names(node_type: str, values) -> list[str]:
    """Model files named by a node's widget values (UI) or inputs (API)."""
    names = []
    for value in values:
        if not isinstance(value, str):
            continue
        if node_type in LORA_TEXT:
            names += [entry.name for entry in parse_stack_text(value)[0]]
        elif value.lower().endswith(SUFFIXES):
            names.append(value)
    return names


def _entry(name: str) -> public_models.PublicModel:
    model = public_models.BY_NAME.get(name) or public_models.BY_TAG.get(name)
    assert model is not None, f"{name!r} is not in scripts/public_models.py: a user could not download it"
    return model


@pytest.mark.parametrize("path", UI + API, ids=[f"{p.parent.name}/{p.stem}" for p in UI + API])
def test_no_shipped_workflow_names_a_tiny_test_model(path):
    text = path.read_text()
    assert "loadout-tiny" not in text.lower(), f"{path.name} names a tiny test model"


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_every_loader_names_a_public_file_declared_with_its_download(path):
    ui = json.loads(path.read_text())
    used = 0
    for node in ui["nodes"]:
        names = _names(node["type"], node.get("widgets_values") or [])
        declared = (node.get("properties") or {}).get("models", [])
        want = []
        for name in names:
            model = _entry(name)
            if model.entry() not in want:
                want.append(model.entry())
        assert declared == want, (f"{path.name} node {node['id']} ({node['type']}): properties.models {declared} "
                                  f"should be {want}")
        for entry in declared:
            assert set(entry) == {"name", "url", "directory"} and all(isinstance(v, str) for v in entry.values())
        used += len(names)
    if "preprocessor_gallery" not in path.stem:
        assert used, f"{path.name} names no model file"


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_files_named_only_inside_a_text_are_in_the_top_level_models(path):
    ui = json.loads(path.read_text())
    want = []
    for node in ui["nodes"]:
        values = {v for v in node.get("widgets_values") or [] if isinstance(v, str)}
        for entry in (node.get("properties") or {}).get("models", []):
            if entry["name"] not in values and entry not in want:
                want.append(entry)
    assert ui.get("models", []) == want
    if path.stem == "lora_stack":
        assert [e["name"] for e in want] == ["lcm-lora-sdv1-5/pytorch_lora_weights.safetensors"]


@pytest.mark.parametrize("path", API, ids=[p.stem for p in API])
def test_api_twins_name_the_same_public_files(path):
    api = json.loads(path.read_text())
    ui = json.loads((REPO / "workflows" / path.name).read_text())
    api_names = sorted(n for node in api.values() for n in _names(node["class_type"], node["inputs"].values()))
    ui_names = sorted(n for node in ui["nodes"] for n in _names(node["type"], node.get("widgets_values") or []))
    assert api_names == ui_names
    for name in api_names:
        _entry(name)
