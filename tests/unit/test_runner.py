"""The headless runner's pure parts: --set parsing and checks, workflow loading errors."""
import json

import pytest
from loadout.cli.runner import UsageError, apply_overrides, load_workflow, parse_override

PROMPT = {"5": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4, "model": ["1", 0]}},
          "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}}}
INFO = {"KSampler": {"input": {"required": {"seed": ["INT", {}], "steps": ["INT", {}], "model": ["MODEL"]},
                               "optional": {}}},
        "CLIPTextEncode": {"input": {"required": {"text": ["STRING", {}], "clip": ["CLIP"]}}}}


def test_values_are_json_when_they_parse_else_text():
    assert parse_override("5.seed=7").value == 7
    assert parse_override("5.cfg=6.5").value == 6.5
    assert parse_override("9.enabled=false").value is False
    assert parse_override('2.text="a red fox"').value == "a red fox"
    assert parse_override("2.text=a red fox").value == "a red fox"
    assert parse_override("2.text=").value == ""
    assert parse_override("3.size=[512, 768]").value == [512, 768]
    for bad in ("5seed=7", "5.seed", ".seed=1", "5.=1"):
        with pytest.raises(UsageError, match="NODE_ID.INPUT=VALUE"):
            parse_override(bad)


def test_overrides_apply_to_a_copy_and_unknown_targets_name_the_choices():
    out = apply_overrides(PROMPT, [parse_override("5.seed=9"), parse_override("2.text=a dog")], INFO)
    assert out["5"]["inputs"]["seed"] == 9 and out["2"]["inputs"]["text"] == "a dog"
    assert PROMPT["5"]["inputs"]["seed"] == 1
    with pytest.raises(UsageError, match=r"no node '7' in the workflow \(node ids: 2, 5\)"):
        apply_overrides(PROMPT, [parse_override("7.seed=1")], INFO)
    with pytest.raises(UsageError, match=r"node 5 \(KSampler\) has no input 'sede' \(inputs: model, seed, steps\)"):
        apply_overrides(PROMPT, [parse_override("5.sede=1")], INFO)


def test_loading_refuses_what_is_not_an_api_workflow(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(PROMPT))
    assert load_workflow(good) == PROMPT
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"prompt": PROMPT, "client_id": "x"}))
    assert load_workflow(wrapped) == PROMPT
    for name, text, match in (("missing.json", None, "no such file"), ("bad.json", "{", "not JSON"),
                              ("list.json", "[1]", "not an API-format workflow"),
                              ("ui.json", json.dumps({"nodes": [], "links": []}), "needs a server")):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(UsageError, match=match):
            load_workflow(path)
