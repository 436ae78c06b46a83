"""nodes/lora/parse.py and stack.py: every text form gives the same stack; errors say where."""
import pickle

import pytest

from loadout.core.lora.parse import LoraSyntaxError, parse_stack_text
from loadout.core.lora.stack import LoraEntry, normalise_stack

EXPECTED = [("style/a", 0.8, 0.8), ("b", 0.8, 0.5), ("c", 1.0, 1.0)]


@pytest.mark.parametrize("text", [
    "style/a:0.8\nb:0.8:0.5\n\n# a comment\nc",
    "  style/a : 0.8 \n\tb:0.8:0.5\nc\n",
    "<lora:style/a:0.8> <lora:b:0.5:0.8> <LORA:c>",  # A1111 order: text encoder (clip) first, then UNet
    "<lora:style/a:0.8> <lora:b:unet=0.8:te=0.5> <LORA:c>",
    "<lora:style/a:te=0.8> <lora:b:0.5:unet=0.8> <LORA:c:1>",
    '{"enabled": true, "global_weight": 1.0, "models": [{"name": "style/a", "weight": 0.8}, '
    '{"name": "b", "weight": 0.8, "clip_weight": 0.5, "category": "x"}, "c"]}',
    '[{"name": "style/a", "weight": 0.8}, {"name": "b", "weight": 0.8, "clip_weight": 0.5}, "c"]',
    '{"global_weight": 2.0, "models": [{"name": "style/a", "weight": 0.4}, '
    '{"name": "b", "weight": 0.4, "clip_weight": 0.25}, {"name": "c", "weight": 0.5}, '
    '{"name": "off", "enabled": false}]}',
])
def test_every_form_parses_to_the_same_stack(text):
    entries, _ = parse_stack_text(text)
    assert [tuple(e) for e in entries] == EXPECTED


def test_tags_are_removed_from_the_prompt():
    entries, prompt = parse_stack_text("a castle, <lora:castle:0.7>, at night <lyco:moody:0.5:0.2>\nsecond line")
    assert [tuple(e) for e in entries] == [("castle", 0.7, 0.7), ("moody", 0.2, 0.5)]  # A1111: <lyco:n:te:unet>
    assert prompt == "a castle, at night\nsecond line"


def test_json_category_and_global_disable():
    entries, _ = parse_stack_text('{"models": [{"name": "a", "category": "style"}]}')
    assert entries[0].category == "style"
    assert parse_stack_text('{"enabled": false, "models": ["a", "b"]}')[0] == []


@pytest.mark.parametrize("text,line,column,fragment", [
    ("a:0.8\nb:zero", 2, 3, "strength 'zero' is not a number"),
    ("a\n  b:1:x", 2, 7, "clip strength 'x' is not a number"),
    ("a:1:2:3", 1, 1, "has 3 ':'"),
    ("prompt <lora:ok:1> and <lora:bad:1.2x>", 1, 34, "strength '1.2x'"),
    ("prompt <lora:unclosed:1 more", 1, 8, "not closed"),
    ('{"models": [\n  {"name": "a",}\n]}', 2, 16, "invalid JSON"),
    (":0.5", 1, 1, "missing LoRA name"),
    ("a:nan", 1, 3, "must be finite"),
])
def test_syntax_errors_name_line_and_column(text, line, column, fragment):
    with pytest.raises(LoraSyntaxError) as err:
        parse_stack_text(text)
    assert (err.value.line, err.value.column) == (line, column), str(err.value)
    assert fragment in str(err.value) and str(err.value).startswith(f"line {line}, column {column}: ")


@pytest.mark.parametrize("text,fragment", [
    ('{"models": [{"name": "a", "weight": "high"}]}', "models[0].weight must be a finite number"),
    ('{"models": [{"nme": "a"}]}', "models[0] has unknown key(s) ['nme']"),
    ('{"models": [{"name": "a", "weight": true}]}', "models[0].weight"),
    ('{"global_weight": null, "models": []}', "global_weight must be a finite number"),
    ('{"models": [3]}', "models[0] must be a name or an object"),
])
def test_json_schema_errors_name_the_field(text, fragment):
    with pytest.raises(LoraSyntaxError, match=None) as err:
        parse_stack_text(text)
    assert fragment in str(err.value)


def test_entries_are_comfyroll_and_efficiency_tuples():
    entry = LoraEntry("a", 0.5, 0.25, "style")
    name, sm, sc = entry  # how Comfyroll and Efficiency unpack stack entries
    assert (name, sm, sc) == ("a", 0.5, 0.25) and entry.category == "style"
    assert pickle.loads(pickle.dumps(entry)).category == "style"
    assert LoraEntry("b", 0.7)[2] == 0.7  # clip defaults to model strength


def test_foreign_stacks_normalise_and_drop_none():
    stack = [("a", 1, 0.5), ["b", 0.2, 0.2], ("None", 1, 1)]
    assert [tuple(e) for e in normalise_stack(stack)] == [("a", 1.0, 0.5), ("b", 0.2, 0.2)]
    with pytest.raises(TypeError, match="entry 0"):
        normalise_stack([("a", 1)])
    with pytest.raises(ValueError, match="finite"):
        LoraEntry("a", float("inf"))
