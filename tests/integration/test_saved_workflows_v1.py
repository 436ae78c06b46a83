"""Workflows saved from the V1 version of the pack (``tests/fixtures/ui_workflows_v1/``, frozen copies of the
bundled UI workflows as they were before the V3 port; never regenerate them) still load in the real ComfyUI
frontend (headless Chromium) with the values they were saved with, and are still accepted by /prompt.

For each fixture, in the classic canvas and in the "Nodes 2.0" (Vue) renderer:
- ``app.loadGraphData`` shows no missing-node dialog and every node type is registered;
- nothing in the console beyond the baseline (the same ComfyUI and frontend without Loadout, loading a core graph),
  and no more uncaught page errors than the baseline page had;
- every Loadout node's widget values (its saved widgets, in order: what ``widgets_values`` stores) equal the
  fixture's ``widgets_values`` exactly, and so does what the node serialises back; each value sits on the widget of
  the same name as in the V1 version (names from ``tests/fixtures/object_info_v1.json``), so a reordered or renamed
  input cannot pass by position; widgets of inputs appended since V1 (optional, with a default: the
  ``APPENDED_INPUTS`` of ``test_object_info_compat.py``) follow them, at their defaults;
- classic canvas: the frontend's own conversion (``app.graphToPrompt()``) is accepted by POST /prompt without a
  validation error; the prompt is then cancelled (taken off the queue, interrupted if it already started: the
  bundled-workflow tests run these graphs). Nodes 2.0: ``graphToPrompt`` gives the same prompt as the classic canvas.
"""
import json
import time

import pytest
from harness.browser import (MISSING_DIALOG_JS, UNKNOWN_TYPES_JS, WIDGET_VALUES_JS, chromium_available,
                             load_ui_workflow, normalise_console, open_page, set_renderer, stock_page_console)
from harness.paths import REPO, cache_dir, harness
from loadout.cli.client import PromptRejected, format_rejection
from loadout.cli.workflow_format import ui_to_api, widget_names

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian's chromium is not installed "
                                "(apt-get install chromium); .ci/run installs it")
FIXTURES = REPO / "tests" / "fixtures" / "ui_workflows_v1"
SAVED = sorted(FIXTURES.glob("*.json"))
ARTEFACTS = REPO / "out" / "frontend-v1"
V1_INFO = json.loads((REPO / "tests" / "fixtures" / "object_info_v1.json").read_text())
NAMED_VALUES_JS = ("(id) => window.app.graph.getNodeById(id).widgets"
                   ".filter(w => w.serialize !== false && w.options?.serialize !== false).map(w => [w.name, w.value])")


def _saved(path):
    return json.loads(path.read_text())


def _loadout_nodes(ui):
    return [n for n in ui["nodes"] if n["type"].startswith("Loadout")]


def test_the_frozen_fixtures_are_the_eight_v1_workflows():
    assert [p.stem for p in SAVED] == ["controlnet_stack", "enhanced_sdxl", "lora_stack", "offload_txt2img",
                                       "preprocessor_gallery", "scheduler_compare", "txt2img_memory_monitor",
                                       "vae_tiled"]
    types = {n["type"] for p in SAVED for n in _loadout_nodes(_saved(p))}
    assert len(types) == 23, sorted(types)  # 23 of the 29 Loadout node types are placed in them


@pytest.fixture(scope="module")
def baseline(comfy, tmp_path_factory):
    """Console lines and page errors of the stock page (no Loadout) loading the saved txt2img graph's core part."""
    core = ui_to_api(_saved(FIXTURES / "txt2img_memory_monitor.json"), comfy.object_info)
    return stock_page_console(harness(), tmp_path_factory.mktemp("v1-baseline"),
                              cache_dir() / "logs" / "frontend-v1-baseline.log", core,
                              screenshot=ARTEFACTS / "baseline.png")


@pytest.fixture(scope="module")
def page(comfy, baseline):  # after the baseline: one Playwright instance at a time
    with open_page(comfy.url) as pg:
        set_renderer(pg, False)  # the setting is saved per user: never rely on what a previous session left
        yield pg
        set_renderer(pg, False)


def _shot(page, name):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def _appended_widgets(live_info: dict, node_type: str) -> list[tuple[str, object]]:
    """(name, default) of the widgets the live node has after all of its V1 widgets: inputs appended since V1, which
    a saved workflow does not hold and the frontend fills with their defaults (none when the V1 widgets are not the
    live ones' start: the comparison then reports it)."""
    v1, live = widget_names(V1_INFO[node_type]), widget_names(live_info[node_type])
    if live[:len(v1)] != v1:
        return []
    inputs = live_info[node_type]["input"]
    specs = {**(inputs.get("required") or {}), **(inputs.get("optional") or {})}
    return [(name, specs[name][1].get("default")) for name in live[len(v1):]]


def _load_problems(page, path, ui, baseline, renderer, live_info):
    """Load ``ui`` and list what differs from a clean load with the saved values."""
    where = f"{path.name} ({renderer})"
    seen = len(page.console)
    load_ui_workflow(page, ui, settle_ms=1200 if renderer == "nodes 2.0" else 800)
    problems = []
    dialog = page.evaluate(MISSING_DIALOG_JS)
    if dialog:
        problems.append(f"{where}: missing-node dialog: {dialog}")
    unknown = page.evaluate(UNKNOWN_TYPES_JS)
    if unknown:
        problems.append(f"{where}: node types not registered: {unknown}")
    for node in _loadout_nodes(ui):
        appended = _appended_widgets(live_info, node["type"])
        want = (node.get("widgets_values") or []) + [default for _name, default in appended]
        got = page.evaluate(WIDGET_VALUES_JS, node["id"])
        if got != want:
            problems.append(f"{where}: node {node['id']} {node['type']}: widget values {got} != saved {want}")
        # the V1 widget slots: input names, and the frontend's extra slots (control_after_generate, upload)
        v1_names = [n.split(":")[-1] if ":" in n else n for n in widget_names(V1_INFO[node["type"]])]
        v1_names += [name for name, _default in appended]
        named = page.evaluate(NAMED_VALUES_JS, node["id"])
        if named != [list(p) for p in zip(v1_names, want)]:
            problems.append(f"{where}: node {node['id']} {node['type']}: widgets (name, value) {named} != V1's "
                            f"{list(zip(v1_names, want))}")
        saved_again = page.evaluate("(id) => window.app.graph.getNodeById(id).serialize().widgets_values ?? []",
                                    node["id"])
        if saved_again != want:
            problems.append(f"{where}: node {node['id']} {node['type']}: serialises {saved_again} != saved {want}")
    base_console, _ = baseline
    extra = normalise_console(page.console[seen:]) - base_console
    if extra:
        problems.append(f"{where}: console lines beyond the stock page's: {sorted(extra)}")
    return problems


def _graph_to_prompt(page) -> dict:
    return page.evaluate("async () => (await window.app.graphToPrompt()).output")


def _cancel(comfy, prompt_id):
    """Take ``prompt_id`` off the queue, or interrupt it if it is already running; wait until it has left."""
    comfy.client.post_json("/queue", {"delete": [prompt_id]})
    deadline = time.time() + 300
    while time.time() < deadline:
        queue = comfy.client.get_json("/queue")
        running = [item[1] for item in queue.get("queue_running", [])]
        pending = [item[1] for item in queue.get("queue_pending", [])]
        if prompt_id not in running and prompt_id not in pending:
            return
        if prompt_id in running:
            comfy.client.post_json("/interrupt", {"prompt_id": prompt_id})
        time.sleep(0.5)
    pytest.fail(f"prompt {prompt_id} still queued or running after 300 s", pytrace=False)


def test_saved_v1_workflows_load_with_their_values_and_queue_in_the_classic_canvas(comfy, page, baseline):
    set_renderer(page, False)
    problems, prompts = [], {}
    for path in SAVED:
        ui = _saved(path)
        problems += _load_problems(page, path, ui, baseline, "classic", comfy.object_info)
        _shot(page, f"{path.stem}-classic")
        prompt = _graph_to_prompt(page)
        prompts[path.name] = prompt
        assert {v["class_type"] for v in prompt.values()} >= {n["type"] for n in _loadout_nodes(ui)}, path.name
        try:
            prompt_id = comfy.client.queue(prompt)
        except PromptRejected as e:
            problems.append(f"{path.name}: /prompt rejected the frontend's prompt: {format_rejection(e.body)}")
        else:
            _cancel(comfy, prompt_id)
    assert not problems, "\n".join(problems)
    _, base_errors = baseline
    assert len(page.errors) <= len(base_errors), page.errors
    page.saved_v1_prompts = prompts  # for the Nodes 2.0 test: the same prompts from the other renderer


def test_saved_v1_workflows_load_with_their_values_in_nodes_2_0(comfy, page, baseline):
    set_renderer(page, True)
    try:
        problems = []
        for path in SAVED:
            ui = _saved(path)
            problems += _load_problems(page, path, ui, baseline, "nodes 2.0", comfy.object_info)
            for node in _loadout_nodes(ui):
                if page.locator(f'[data-node-id="{node["id"]}"]').count() != 1:
                    problems.append(f"{path.name} (nodes 2.0): node {node['id']} {node['type']} not rendered")
            _shot(page, f"{path.stem}-nodes2")
            classic = getattr(page, "saved_v1_prompts", {}).get(path.name)
            if classic is not None and _graph_to_prompt(page) != classic:
                problems.append(f"{path.name}: Nodes 2.0 converts to another prompt than the classic canvas")
        assert not problems, "\n".join(problems)
        _, base_errors = baseline
        assert len(page.errors) <= len(base_errors), page.errors
    finally:
        set_renderer(page, False)
