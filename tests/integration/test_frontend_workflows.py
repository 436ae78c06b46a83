"""Every bundled workflow in the real ComfyUI frontend (headless Chromium), as a user loads it.

- UI files through the page's own ``app.loadGraphData``, API twins through ``app.loadApiJson``: no missing-node
  dialog, every node type registered, every Loadout node with the widgets /object_info declares.
- Console: nothing beyond the baseline — the same ComfyUI and frontend without Loadout (a one-node stand-in pack
  instead, so the page makes the same per-pack registry lookups), loading a core workflow.
- Tooltips: hovering a widget of each Loadout node type shows its tooltip, in the classic canvas and in the
  "Nodes 2.0" (Vue) renderer, where each node's widgets must also be on the page.
- One workflow queued from the page shows its image on the Save Image node.
Screenshots go to out/frontend/ (test artefacts).
"""
import json

import pytest
from harness.browser import baseline_harness, chromium_available, core_probe_graph, normalise_console, open_page
from harness.paths import REPO, cache_dir, harness
from harness.server import ComfyServer
from loadout.cli.workflow_format import FRONTEND_ONLY, widget_names

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian's chromium is not installed "
                                "(apt-get install chromium); .ci/run installs it")
UI = sorted((REPO / "workflows").glob("*.json"))
ARTEFACTS = REPO / "out" / "frontend"
MISSING_DIALOG = "() => [...document.querySelectorAll('.p-dialog')].map(d => d.innerText).filter(t => /missing/i.test(t))"


def _shot(page, name):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """Console lines of the stock page: load, then a core txt2img graph with the stand-in node."""
    graph = json.loads((REPO / "workflows" / "api" / "txt2img_memory_monitor.json").read_text())
    graph = core_probe_graph(graph)
    base = baseline_harness(harness(), tmp_path_factory.mktemp("frontend-baseline"))
    with ComfyServer(base, cache_dir() / "logs" / "frontend-baseline.log") as server, \
            open_page(server.url) as page:
        page.evaluate("async (g) => { await window.app.loadApiJson(g, 'baseline'); }", graph)
        page.wait_for_timeout(3000)
        _shot(page, "baseline")
        return normalise_console(page.console), list(page.errors)


def _renderer(page, vue: bool) -> None:
    page.evaluate("async (on) => { await window.app.extensionManager.setting.set('Comfy.VueNodes.Enabled', on); }",
                  vue)
    page.wait_for_timeout(1000)


@pytest.fixture(scope="module")
def page(comfy, baseline):  # after the baseline: one Playwright instance at a time
    with open_page(comfy.url) as pg:
        _renderer(pg, False)  # the setting is saved per user: never rely on what a previous session left
        yield pg
        _renderer(pg, False)


def _loadout_nodes(ui):
    return [n for n in ui["nodes"] if n["type"].startswith("Loadout")]


def _expected_widgets(info):
    return [w for w in widget_names(info) if ":" not in w]


def test_every_ui_and_api_workflow_loads_cleanly_with_its_widgets(comfy, page, baseline):
    for path in UI:
        ui = json.loads(path.read_text())
        page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", ui)
        page.wait_for_timeout(800)
        assert page.evaluate(MISSING_DIALOG) == [], path.name
        unknown = page.evaluate("() => window.app.graph.nodes.filter(n => !(n.type in LiteGraph.registered_node_types))"
                                ".map(n => n.type)")
        assert unknown == [], (path.name, unknown)
        for node in _loadout_nodes(ui):
            got = page.evaluate(f"() => window.app.graph.getNodeById({node['id']}).widgets.map(w => w.name)"
                                ".filter(n => n !== 'loadout_report')")
            want = _expected_widgets(comfy.object_info[node["type"]])
            assert [w for w in got if w in want] == want, (path.name, node["type"], got, want)
        _shot(page, f"{path.stem}-classic")
        api = json.loads((REPO / "workflows" / "api" / path.name).read_text())
        page.evaluate("async ([g, name]) => { await window.app.loadApiJson(g, name); }", [api, path.stem])
        page.wait_for_timeout(500)
        assert page.evaluate(MISSING_DIALOG) == [], f"api/{path.name}"
        assert page.evaluate("() => window.app.graph.nodes.length") == len(api), f"api/{path.name}"
    base_console, base_errors = baseline
    extra = normalise_console(page.console) - base_console
    assert not extra, f"console errors beyond the stock page's: {sorted(extra)}"
    assert len(page.errors) <= len(base_errors), page.errors


def _tooltip_text(page):
    return page.evaluate("() => [...document.querySelectorAll('.p-tooltip, .node-tooltip, [role=tooltip]')]"
                         ".map(e => e.innerText.trim()).filter(Boolean)")


def _node_samples():
    """One placement of every Loadout node type in the bundled workflows: (workflow, node)."""
    seen = {}
    for path in UI:
        for node in _loadout_nodes(json.loads(path.read_text())):
            seen.setdefault(node["type"], (path, node))
    return list(seen.values())


def _linked_widgets(node) -> set[str]:
    """Names of the widgets of a saved node that a link feeds (inputs with a "widget" entry and a link)."""
    return {i["widget"]["name"] for i in node.get("inputs", []) if i.get("widget") and i.get("link") is not None}


def _multiline(info, name):
    for section in ("required", "optional"):
        spec = (info["input"].get(section) or {}).get(name)
        if spec is not None:
            return spec[0] == "STRING" and len(spec) > 1 and spec[1].get("multiline")
    return False


def _tooltip_of(info, name):
    for section in ("required", "optional"):
        spec = (info["input"].get(section) or {}).get(name)
        if spec is not None:
            return spec[1]["tooltip"]
    raise KeyError(name)


def _centred_samples(comfy, page):
    """For one node of every Loadout type: load its workflow, centre the node, yield (node, info, widgets) with
    the widgets drawn by the renderer (a multiline text box is an HTML element with its own events)."""
    for path, node in _node_samples():
        info = comfy.object_info[node["type"]]
        widgets = [w for w in _expected_widgets(info) if not _multiline(info, w)]
        if not widgets:
            continue
        page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", json.loads(path.read_text()))
        page.wait_for_timeout(500)
        page.evaluate(f"() => {{ const c = window.app.canvas; c.centerOnNode(window.app.graph.getNodeById("
                      f"{node['id']})); c.setDirty(true, true); }}")
        page.wait_for_timeout(500)  # a frame: widget positions are laid out when the node is drawn
        yield node, info, widgets


def test_classic_canvas_shows_the_tooltips(comfy, page):
    _renderer(page, False)
    assert page.evaluate("() => document.querySelectorAll('[data-node-id]').length") == 0, "classic: no DOM nodes"
    checked, failures = 0, []
    for node, info, widgets in _centred_samples(comfy, page):
        x, y = page.evaluate(f"""() => {{
            const n = window.app.graph.getNodeById({node['id']}); const c = window.app.canvas;
            const w = n.widgets.find(w => w.name === {json.dumps(widgets[0])});
            const r = c.canvas.getBoundingClientRect();
            const gx = n.pos[0] + n.size[0] * 0.6, gy = n.pos[1] + w.y + 10;
            return [r.left + (gx + c.ds.offset[0]) * c.ds.scale, r.top + (gy + c.ds.offset[1]) * c.ds.scale]; }}""")
        page.mouse.move(x - 10, y)
        page.mouse.move(x, y, steps=4)
        page.wait_for_timeout(900)
        shown = _tooltip_text(page)
        want = _tooltip_of(info, widgets[0])
        if not any(t[:40] == want[:40] for t in shown):
            failures.append((node["type"], widgets[0], shown, want[:60], (x, y)))
            _shot(page, f"tooltip-miss-{node['type']}")
        page.mouse.move(5, 5)
        checked += 1
    assert not failures, failures
    assert checked >= 20


def test_nodes_2_0_renders_every_widget_and_its_tooltip(comfy, page):
    _renderer(page, True)
    try:
        for path in UI:
            ui = json.loads(path.read_text())
            page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", ui)
            page.wait_for_timeout(1200)
            assert page.evaluate(MISSING_DIALOG) == [], path.name
            for node in _loadout_nodes(ui):
                el = page.locator(f'[data-node-id="{node["id"]}"]')
                assert el.count() == 1, (path.name, node["type"], "not rendered as a Vue node")
                text = el.inner_text()
                assert node["type"] in comfy.object_info and info_title(comfy, node) in text
                info = comfy.object_info[node["type"]]
                linked = _linked_widgets(node)
                for w in _expected_widgets(info):
                    if w in linked and _multiline(info, w):
                        # fed by a link: frontend 1.5x shows the input socket (its label) instead of the text box,
                        # older frontends keep the box
                        assert w in text or el.locator("textarea").count() >= 1, (path.name, node["type"], w)
                    elif _multiline(info, w):  # a text box, labelled by its placeholder
                        assert el.locator("textarea").count() >= 1, (path.name, node["type"], w)
                    else:
                        assert w in text, (path.name, node["type"], w)
            _shot(page, f"{path.stem}-nodes2")
        for node, info, widgets in _centred_samples(comfy, page):
            rows = page.locator(f'[data-node-id="{node["id"]}"] [data-pd-tooltip="true"]')
            row = next((rows.nth(i) for i in range(rows.count())
                        if rows.nth(i).inner_text().strip().split("\n")[0] == widgets[0]), None)
            if row is not None:  # frontend <= 1.49: PrimeVue tooltips on the widget row
                row.hover(force=True)
            else:  # frontend 1.5x: a tooltip trigger around each widget, opened by the pointer entering its label
                label = page.locator(f'[data-node-id="{node["id"]}"] [data-widget-name="{widgets[0]}"] '
                                     '[data-testid="widget-layout-field-label"]')
                assert label.count() == 1, (node["type"], widgets[0])
                box = label.bounding_box()
                page.mouse.move(box["x"] + 1, box["y"] + 1)
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
            page.wait_for_timeout(1200)
            want = _tooltip_of(info, widgets[0])
            assert any(t[:40] == want[:40] for t in _tooltip_text(page)), (node["type"], _tooltip_text(page))
            page.mouse.move(5, 5)
    finally:
        _renderer(page, False)


def info_title(comfy, node):
    return node.get("title") or comfy.object_info[node["type"]]["display_name"]


def test_a_workflow_queued_from_the_page_shows_its_image(comfy, page):
    ui = json.loads((REPO / "workflows" / "offload_txt2img.json").read_text())
    page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", ui)
    page.wait_for_timeout(500)
    page.evaluate("() => { const c = window.app.canvas; c.centerOnNode(window.app.graph.getNodeById(7)); }")
    # What the frontend's own text-preview widget of node 24 holds each time progress text arrives (read by a
    # listener added after the frontend's, so it sees the widget the frontend just set): frontend 1.58 removes that
    # widget when the job ends, older ones keep it.
    page.evaluate("""() => { window.__loadoutPreviews = [];
        window.app.api.addEventListener('progress_text', () => { const n = window.app.graph.getNodeById(24);
            const w = n?.widgets?.find(w => w.name === '$$node-text-preview');
            if (w) window.__loadoutPreviews.push(String(w.value ?? '')); }); }""")
    page.evaluate("async () => { await window.app.queuePrompt(0); }")
    page.wait_for_function("() => window.app.nodeOutputs?.['7']?.images?.length > 0", timeout=180000)
    # the canvas loads the preview when it draws the node (it is in view)
    page.wait_for_function("() => { const n = window.app.graph.getNodeById(7); window.app.canvas.setDirty(true, true);"
                           " return n.imgs && n.imgs.length && n.imgs[0].complete && n.imgs[0].naturalWidth > 0; }",
                           timeout=60000)
    assert page.evaluate("() => window.app.graph.getNodeById(7).imgs[0].naturalWidth") == 64
    # the strategy path comes as progress text once sampling ran: the frontend showed it in its own text widget
    shown = page.evaluate("() => window.__loadoutPreviews")
    assert any("path: offload: ok" in t for t in shown), shown
    _shot(page, "offload_txt2img-queued")
    assert not [n for n in ui["nodes"] if n["type"] not in FRONTEND_ONLY and n["type"] not in comfy.object_info]
