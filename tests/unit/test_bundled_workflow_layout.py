"""The bundled UI workflows' layout (reads the JSON, no server): titled groups left to right by stage, a Markdown
note in every group, no two nodes overlapping (each node as LiteGraph draws it: its body and the 30 px title bar
above ``pos``), every node inside exactly one group and below its title, no two groups overlapping. The layout is
the generator's (``scripts/make_ui_workflow.py --relayout``): laying a shipped file out again changes nothing."""
import json
from pathlib import Path

import make_ui_workflow
import pytest
from loadout.cli.workflow_format import (NOTE_TYPES, STAGES, assign_stages, layout_problems, node_rect)

REPO = Path(__file__).resolve().parents[2]
UI = sorted((REPO / "workflows").glob("*.json"))


def _load(path):
    return json.loads(path.read_text())


def _box(group):
    x, y, w, h = group["bounding"]
    return x, y, x + w, y + h


def _group_of(node, groups):
    left, top, right, bottom = node_rect(node)
    inside = [g for g in groups if _box(g)[0] <= left and right <= _box(g)[2] and _box(g)[1] <= top
              and bottom <= _box(g)[3]]
    assert len(inside) == 1, (node["id"], node["type"], [g["title"] for g in inside])
    return inside[0]


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_nodes_and_groups_never_overlap_and_each_node_is_in_one_group(path):
    ui = _load(path)
    assert layout_problems(ui) == []
    rects = [node_rect(n) for n in ui["nodes"]]
    for i, a in enumerate(rects):  # the same check, spelled out: every pair of drawn node boxes
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    for node in ui["nodes"]:
        _group_of(node, ui["groups"])


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_groups_run_left_to_right_by_stage_each_with_a_markdown_note(path):
    ui = _load(path)
    groups = ui["groups"]
    assert groups[0]["title"] == "About this workflow"
    assert all(g["title"].startswith(f"Step {i} - ") for i, g in enumerate(groups[1:], 1))
    lefts = [_box(g)[0] for g in groups]
    assert lefts == sorted(lefts) and all(_box(a)[2] <= _box(b)[0] for a, b in zip(groups, groups[1:]))
    assert all(_box(g)[1] == 0 for g in groups), "groups share one top line"
    stages = assign_stages(ui)
    members = {id(g): [] for g in groups}
    for node in ui["nodes"]:
        members[id(_group_of(node, groups))].append(node)
    order = []
    for group in groups:
        notes = [n for n in members[id(group)] if n["type"] in NOTE_TYPES]
        assert [n["type"] for n in notes] == ["MarkdownNote"], (group["title"], notes)
        assert notes[0]["widgets_values"][0].strip(), group["title"]
        real = {stages[n["id"]] for n in members[id(group)] if n["type"] not in NOTE_TYPES}
        assert len(real) <= 1, (group["title"], real)  # one stage per group
        order += list(real)
    assert order == sorted(order, key=STAGES.index) and len(order) == len(groups) - 1
    assert not [n for n in members[id(groups[0])] if n["type"] not in NOTE_TYPES], "the About group holds the note"


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_laying_a_shipped_workflow_out_again_changes_nothing(path):
    ui = _load(path)
    assert make_ui_workflow.arrange(path.stem, ui) == ui, "run scripts/make_ui_workflow.py --relayout"


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_the_overview_lists_every_model_file_with_its_download(path):
    ui = _load(path)
    about = next(n for n in ui["nodes"] if n.get("title") == "About")
    text = about["widgets_values"][0]
    for node in ui["nodes"]:
        for entry in (node.get("properties") or {}).get("models", []):
            assert f"`{entry['directory']}/{entry['name']}`" in text and f"({entry['url']})" in text, entry
