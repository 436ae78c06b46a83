"""Issue 17, the pure LoRA parts: A1111's tag syntax, strength limits in every text form, deep JSON, names that
cannot be files, patch shapes against their weights, non-finite tensors, and a bounded report (no ComfyUI)."""
import math
import time

import pytest
import torch

from loadout.core.lora.files import non_finite_keys
from loadout.core.lora.keys import text_encoder_keys
from loadout.core.lora.parse import LoraSyntaxError, parse_stack_text
from loadout.core.lora.report import MAX_LINES, AppliedLora, format_report
from loadout.core.lora.resolve import LoraNotFound, UnsafeLoraName, resolve_lora
from loadout.core.lora.shapes import narrowed, shape_problem
from loadout.core.lora.stack import STRENGTH_LIMIT, strength_problem


@pytest.mark.parametrize("tag,expected", [  # (model = unet, clip = te), as A1111's extra_networks_lora reads them
    ("<lora:a>", (1.0, 1.0)),
    ("<lora:a:0.8>", (0.8, 0.8)),
    ("<lora:a:0.8:0.5>", (0.5, 0.8)),
    ("<lora:a:te=0.2>", (0.2, 0.2)),  # unet defaults to te
    ("<lora:a:unet=0.3>", (0.3, 1.0)),  # te defaults to 1
    ("<lora:a:unet=0.3:te=0.2>", (0.3, 0.2)),
    ("<lora:a:0.5:unet=2>", (2.0, 0.5)),
    ("<lora:a:0.5:0.6:te=0.1>", (0.6, 0.1)),  # a named value overrides the positional one
    ("<lyco:a:0.4:0.9>", (0.9, 0.4)),
])
def test_tags_follow_a1111_te_then_unet(tag, expected):
    entries, prompt = parse_stack_text(f"a cat, {tag} night")
    assert [(e.name, e.model_strength, e.clip_strength) for e in entries] == [("a", *expected)]
    assert prompt == "a cat, night"


def test_line_form_keeps_model_then_clip():
    assert [tuple(e) for e in parse_stack_text("a:0.8:0.5")[0]] == [("a", 0.8, 0.5)]


@pytest.mark.parametrize("text,fragment", [
    ("<lora:a:dyn=4>", "'dyn'"), ("<lora:a:1:1:4>", "DyLoRA"), ("<lora:a:w=1>", "unknown named value 'w'"),
    ("<lora:a:te=x>", "'x' is not a number"), ("<lora:te=1>", "missing LoRA name"),
])
def test_tag_errors_say_what_and_where(text, fragment):
    with pytest.raises(LoraSyntaxError) as err:
        parse_stack_text(text)
    assert fragment in str(err.value) and err.value.line == 1


@pytest.mark.parametrize("text", [
    "a:1e30", "a:1:-1e30", "<lora:a:1e30>", "<lora:a:1:-1e30>", "<lora:a:unet=1e30>", "a:10.5",
    '{"models": [{"name": "a", "weight": 1e30}]}', '{"models": [{"name": "a", "clip_weight": -1e30}]}',
    '{"global_weight": 10, "models": [{"name": "a", "weight": 1e308}]}',  # 1e309 = inf
    '{"global_weight": 2, "models": [{"name": "a", "weight": 6}]}', '{"models": [{"name": "a", "weight": 1' + "0" * 400 + "}]}",
])
def test_every_text_form_refuses_strengths_beyond_the_widget_range(text):
    with pytest.raises(LoraSyntaxError, match="outside|finite"):
        parse_stack_text(text)


def test_strengths_at_the_limit_are_accepted():
    entries, _ = parse_stack_text(f"a:{STRENGTH_LIMIT}:-{STRENGTH_LIMIT}")
    assert tuple(entries[0])[1:] == (10.0, -10.0)
    assert strength_problem(10.0) is None and strength_problem(-10) is None
    assert "not a finite" in strength_problem(math.nan) and "outside" in strength_problem(10.01)
    assert "not a number" in strength_problem(True) and "huge" in strength_problem(10 ** 400)


def test_deeply_nested_json_is_a_syntax_error_not_a_recursion_error():
    start = time.monotonic()
    for text in ("[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"models": ' + "[" * 50_000):
        with pytest.raises(LoraSyntaxError, match="nested too deeply|invalid JSON"):
            parse_stack_text(text)
    assert time.monotonic() - start < 5


def test_names_that_cannot_be_files_are_not_found(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"")
    for name in ("a" * 300, "a" * 250, "style/" + "b" * 250, "a\x00b"):  # 250 + ".safetensors" > 255 bytes
        with pytest.raises(LoraNotFound) as err:
            resolve_lora(name, [tmp_path])
        assert str(tmp_path) not in str(err.value).split("not found in")[0]
    with pytest.raises(UnsafeLoraName):  # names leaving the folders stay refused
        resolve_lora("../x", [tmp_path])


def test_nfd_and_nfc_names_find_the_same_file(tmp_path):
    import unicodedata

    nfc = unicodedata.normalize("NFC", "café-style.safetensors")
    (tmp_path / nfc).write_bytes(b"")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert resolve_lora(nfd, [tmp_path]).name == nfc
    assert resolve_lora(nfd[: -len(".safetensors")], [tmp_path]).name == nfc


@pytest.mark.parametrize("kind,shapes,target,problem", [
    ("lora", {"up": (320, 4), "down": (4, 768)}, (320, 768), None),
    ("lora", {"up": (320, 4), "down": (8, 384)}, (320, 768), "cannot be multiplied"),  # the same bytes, other shapes
    ("lora", {"up": (640, 4), "down": (4, 384)}, (320, 768), "640 outputs"),
    ("lora", {"up": (320, 4, 1, 1), "down": (4, 320, 3, 3)}, (320, 320, 3, 3), None),
    ("lora", {"up": (320, 4, 1, 1), "down": (4, 320, 1, 1)}, (320, 320, 3, 3), "values"),
    ("lora", {"up": (320, 4, 1, 1), "down": (4, 320, 1, 1), "mid": (4, 4, 3, 3)}, (320, 320, 3, 3), None),
    ("loha", {"w1a": (8, 2), "w1b": (2, 6), "w2a": (8, 2), "w2b": (2, 6)}, (8, 6), None),
    ("loha", {"w1a": (8, 2), "w1b": (2, 6), "w2a": (6, 2), "w2b": (2, 8)}, (8, 6), "must be equal"),
    ("lokr", {"w1": (2, 2), "w2a": (4, 2), "w2b": (2, 3)}, (8, 6), None),
    ("lokr", {"w1": (2, 2), "w2": (4, 4)}, (8, 6), "values"),
    ("diff", {"tensor": (8, 6)}, (8, 6), None),
    ("diff", {"tensor": (6, 8)}, (8, 6), "not the weight's shape"),
    ("oft", {}, (8, 6), None),
])
def test_patch_shapes_are_checked_against_the_weight(kind, shapes, target, problem):
    found = shape_problem(kind, shapes, target)
    assert (found is None) if problem is None else (problem in found), found
    assert narrowed((3072, 64), (0, 1024, 1024)) == (1024, 64)


def test_non_finite_tensors_are_found_once_per_file():
    tensors = {"a": torch.ones(3), "b": torch.tensor([1.0, math.nan]), "c": torch.tensor([math.inf]),
               "d": torch.tensor([1, 2])}
    assert non_finite_keys(tensors) == ["b", "c"]
    assert text_encoder_keys(["lora_te_x.alpha", "lora_unet_y.alpha", "text_encoder.z"]) == [
        "lora_te_x.alpha", "text_encoder.z"]


def entry(i, **kw):
    base = dict(path="/l/a.safetensors", format="kohya", model_strength=0.5, clip_strength=0.5, unet_keys=48,
                clip_keys=72, load_ms=float(i), cache_hit=i > 1)
    return AppliedLora(i, kw.pop("name", "a"), "applied", **{**base, **kw})


def test_report_summarises_repeats_and_stays_bounded():
    results = [entry(1, name="b"), *[entry(i) for i in range(2, 5001)]]
    report = format_report(results, 1.0)
    assert report.splitlines()[0].startswith("LoRA stack: 5000 of 5000 applied")
    assert "[3..5000] same as [2] (4998 entries)" in report and len(report) < 2000
    alternating = [entry(i, name="ab"[i % 2]) for i in range(1, 5001)]
    report = format_report(alternating, 1.0)
    assert len(report.splitlines()) <= MAX_LINES + 1 and "not listed" in report
    distinct = [entry(i, model_strength=i / 1000) for i in range(1, 5001)]
    report = format_report(distinct, 1.0)
    assert "[101..5000] not listed: 4900 more entries (4900 applied)" in report and len(report) < 40_000


def test_report_lists_shape_skips_and_keys_without_a_clip():
    r = entry(1, shape_skipped=["lora_unet_a", "lora_unet_b"], no_clip_keys=216, clip_keys=0)
    report = format_report([r], 1.0)
    assert "keys applied: UNet 48, CLIP 0; unmatched 0; CLIP keys (no CLIP connected) 216" in report
    assert "skipped, shapes do not fit the model: 2 keys (lora_unet_a, lora_unet_b)" in report


def test_request_validation_lists_every_invalid_lora_name_bounded():
    import unicodedata

    from loadout.cli.request_compiler import MAX_LISTED_NAMES, RequestError, compile_request, validate
    from test_request_compiler import lora_info

    info = lora_info(["styles/café.safetensors"])
    nfd = unicodedata.normalize("NFD", "styles/café")
    validate(compile_request({"prompt": "x", "model": "m.safetensors", "lora": [nfd]}), info)  # NFD finds NFC
    names = [f"missing-{i}" for i in range(200)]
    with pytest.raises(RequestError) as err:
        validate(compile_request({"prompt": "x", "model": "m.safetensors", "lora": ["styles/café", *names]}), info)
    message = str(err.value)
    assert message.startswith("lora.models: 200 LoRA names are not in the server's LoRA folders: "
                              "lora.models[1] 'missing-0', lora.models[2] 'missing-1'")
    assert f"and {200 - MAX_LISTED_NAMES} more" in message and "missing-19'" in message
    assert "missing-20'" not in message and len(message) < 2000
