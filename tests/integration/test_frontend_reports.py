"""The real ComfyUI frontend in headless Chromium: a Loadout node's report shows on the node after a run, and
the report widget is never saved into the workflow or sent in the prompt."""
import json
import shutil

import pytest
from harness.paths import REPO, cache_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page(comfy):
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        pg.errors = []
        # Page exceptions, and console errors that come from our extension. (The stock page also logs blocked
        # api.comfy.org lookups for every custom node id: not ours, not counted.)
        pg.on("console", lambda m: pg.errors.append(m.text)
              if m.type == "error" and "node_reports" in f"{m.text} {m.location.get('url', '')}" else None)
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.goto(comfy.url, wait_until="domcontentloaded")
        pg.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=60000)
        pg.keyboard.press("Escape")
        yield pg
        browser.close()


def test_report_shows_on_the_node_and_is_not_serialised(comfy, page):
    ui = json.loads((REPO / "workflows" / "lora_stack.json").read_text())
    page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", ui)
    page.wait_for_function("window.app.graph.getNodeById(23) !== null")
    page.evaluate("async () => { await window.app.queuePrompt(0); }")
    page.wait_for_function(
        "() => { const w = window.app.graph.getNodeById(23).widgets?.find(w => w.name === 'loadout_report');"
        " return w && w.value && w.value.startsWith('LoRA stack:'); }", timeout=120000)
    report = page.evaluate(
        "() => window.app.graph.getNodeById(23).widgets.find(w => w.name === 'loadout_report').value")
    assert "keys applied: UNet 48, CLIP 72; unmatched 0" in report
    visible = page.evaluate("() => [...document.querySelectorAll('textarea[data-loadout-report]')]"
                            ".map(t => t.value.split('\\n')[0])")
    assert any(v.startswith("LoRA stack:") for v in visible), visible
    saved = page.evaluate("() => window.app.graph.serialize().nodes.find(n => n.id === 23).widgets_values")
    assert saved == next(n for n in ui["nodes"] if n["id"] == 23)["widgets_values"]
    prompt = page.evaluate("async () => (await window.app.graphToPrompt()).output['23'].inputs")
    assert "loadout_report" not in prompt
    page.screenshot(path=str(cache_dir() / "logs" / "frontend-lora-report.png"))
    assert not page.errors, page.errors
