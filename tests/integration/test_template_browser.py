"""The bundled templates opened from the real frontend's template browser (headless Chromium), as a user does:
the Templates dialog, Loadout's entry under Extensions, a template's card.

Two servers of our own, each on its own base directory (custom_nodes holding only this checkout as
ComfyUI-Loadout, fresh user settings with the first-start tutorial done):

- **without the files**: its model folders hold the harness's tiny models under their ``loadout-tiny-*`` names only,
  none of the public names the templates use (scripts/public_models.py): a user who has not downloaded them. Opening
  each template must show the frontend's missing-models prompt (frontend <= 1.5x: the "Missing Models" dialog;
  1.49 and 1.58: the "issues found" toast, whose "View details" opens the errors panel) listing the files the
  template declares (folder and file name), and each entry's Download button must lead to that entry's URL (the
  dialog also shows it as the button's hover title). The dialog (1.32) lists every declared file, the nodes'
  ``properties.models`` and the workflow's top-level ``models``; the errors panel (1.49, 1.58) checks the nodes'
  model widgets only, so it lists every file but a LoRA named inside a LoRA text form (``lora_stack``'s
  ``<lora:lcm-lora-sdv1-5:...>``): that one, like every file, is in the template's About note with its folder and
  download link, which the test checks too. The download requests are intercepted and aborted: nothing is
  downloaded (the sandbox has no route out anyway).
- **with the files**: the harness's model folders (the tiny models also under the public names, as
  ``make models`` links them). Opening each template shows no missing-models prompt; queued from the page
  (Ctrl+Enter, the frontend's Queue shortcut) it finishes with ComfyUI's history saying success. In Nodes 2.0
  each template opens without a prompt and gives the classic canvas's prompt exactly; one is queued there too.

Both in the classic canvas and in the "Nodes 2.0" (Vue) renderer, on whatever frontend the server serves: the
ComfyUI's bundled one (1.32.9 with 0.3.75, 1.49.6 with 0.33) or FRONTEND=1.58 (.ci/run runs all three).
Screenshots go to out/template-browser/ (test artefacts).
"""
import json
import re
import time
import urllib.request

import pytest
from harness.browser import chromium_available, open_page, set_renderer
from harness.paths import PACK_DIR_NAME, REPO, Harness, cache_dir, harness
from harness.server import ComfyServer

pytestmark = pytest.mark.skipif(not chromium_available(), reason="Debian's chromium is not installed "
                                "(apt-get install chromium); .ci/run installs it")
TEMPLATES = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
ARTEFACTS = REPO / "out" / "template-browser"
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.VueNodes.Enabled": False}
DIALOG = "[role=dialog]"
# frontend 1.58: the missing models are a group of the errors panel, each with a Download button
PANEL_GROUP = "[data-testid=error-group-missing-model]"
PANEL_DOWNLOAD = "[data-testid=missing-model-download]"


def _ui(stem):
    return json.loads((REPO / "workflows" / f"{stem}.json").read_text())


def declared_models(ui) -> list[dict]:
    """The distinct model entries (name, url, directory) of a UI workflow: its nodes' ``properties.models`` and
    its top-level ``models`` (files named only inside a text, see scripts/make_ui_workflow.py)."""
    out = []
    for entry in [e for node in ui["nodes"] for e in node.get("properties", {}).get("models", [])] + \
            ui.get("models", []):
        if entry not in out:
            out.append(entry)
    return out


def widget_models(ui) -> list[dict]:
    """The entries of ``declared_models`` a node names as a widget value (what frontend >= 1.49's missing-model
    scan of the nodes' model widgets can find)."""
    out = []
    for node in ui["nodes"]:
        values = {v for v in node.get("widgets_values") or [] if isinstance(v, str)}
        for entry in node.get("properties", {}).get("models", []):
            if entry["name"] in values and entry not in out:
                out.append(entry)
    return out


def about_note(ui) -> str:
    """The text of the template's About note (the overview, with its "Model files" list)."""
    notes = [n for n in ui["nodes"] if n["type"] == "MarkdownNote" and "About" in (n.get("title") or "")]
    assert len(notes) == 1, [n.get("title") for n in ui["nodes"] if n["type"] == "MarkdownNote"]
    return notes[0]["widgets_values"][0]


def _public_names() -> set[tuple[str, str]]:
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import public_models  # noqa: PLC0415 - scripts/, stdlib only
    finally:
        sys.path.pop(0)
    return {(m.directory, m.name.split("/")[0]) for m in public_models.MODELS}


def make_base(h: Harness, base, with_public_names: bool) -> Harness:
    """``base`` (an empty folder) made a ComfyUI base directory: this checkout as the only custom node pack, the
    harness's input linked, fresh output/temp/user with ``SETTINGS``; models: the harness's folders linked whole
    (``with_public_names``), or folder by folder with every file except the public names linked."""
    if with_public_names:
        (base / "models").symlink_to(h.models)
    else:
        public = _public_names()
        for folder in h.models.iterdir():
            if folder.is_dir():
                (base / "models" / folder.name).mkdir(parents=True)
                for f in folder.iterdir():
                    if (folder.name, f.name) not in public:
                        (base / "models" / folder.name / f.name).symlink_to(f.resolve())
    (base / "input").symlink_to(h.base / "input")
    for sub in ("output", "temp", "custom_nodes", "user/default"):
        (base / sub).mkdir(parents=True)
    (base / "custom_nodes" / PACK_DIR_NAME).symlink_to(REPO)
    (base / "user" / "default" / "comfy.settings.json").write_text(json.dumps(SETTINGS))
    return Harness(h.comfyui, base, h.python, h.comfy_cli_config)


def _server(tmp_path_factory, with_public_names: bool):
    label = "with-files" if with_public_names else "without-files"
    base = make_base(harness(), tmp_path_factory.mktemp(f"templates-{label}"), with_public_names)
    return ComfyServer(base, cache_dir() / "logs" / f"template-browser-{label}.log")


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    with _server(tmp_path_factory, False) as server:
        yield server


@pytest.fixture(scope="module")
def full_server(tmp_path_factory):
    with _server(tmp_path_factory, True) as server:
        yield server


def _shot(page, name):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def open_template(page, stem: str) -> None:
    """Templates dialog -> Extensions: ComfyUI-Loadout -> the template's card; returns once the graph is loaded.
    Checks on the way that the card shows its thumbnail (workflows/<stem>.jpg)."""
    page.evaluate("async () => { await window.app.extensionManager.command.execute('Comfy.BrowseTemplates'); }")
    dialog = page.locator(DIALOG).filter(has_text="Templates").last
    dialog.get_by_text(PACK_DIR_NAME, exact=True).first.click()
    card = dialog.locator(f"[data-testid='template-workflow-{stem}']")
    card.wait_for(state="visible", timeout=15000)
    card.locator("img").first.wait_for(state="visible", timeout=15000)
    page.wait_for_function("(el) => el.complete && el.naturalWidth > 0", arg=card.locator("img").first.element_handle(),
                           timeout=15000)
    nodes = len(_ui(stem)["nodes"])
    page.evaluate("() => { window.__loadoutLoaded = false; }")
    card.click()
    page.wait_for_function(f"() => window.app.graph.nodes.length === {nodes} && "
                           f"[...document.querySelectorAll({json.dumps(DIALOG)})].every(d => !/All Templates/"
                           ".test(d.innerText))", timeout=30000)


def _missing_dialog(page):
    return page.locator(DIALOG).filter(has_text="Missing Models")


def _issues_toast(page):
    return page.get_by_text("View details", exact=True)


def missing_prompt(page, timeout_ms: int):
    """The frontend's missing-models prompt once it shows (within ``timeout_ms``): ("dialog" or "panel", its text,
    its Download buttons, the hover titles in it: the dialog shows each entry's URL as its buttons' title), else
    None. Frontend <= 1.5x: the "Missing Models" dialog; 1.58: the toast's "View details" opens the errors
    panel, whose missing-model group is the prompt (frontend 1.49 already has that panel)."""
    deadline = time.time() + timeout_ms / 1000
    while time.time() < deadline:
        if _missing_dialog(page).count():
            dialog = _missing_dialog(page).last
            buttons = dialog.get_by_role("button").filter(has_text="Download")
            titles = dialog.evaluate("(d) => [...d.querySelectorAll('[title]')].map(e => e.title)")
            return "dialog", dialog.inner_text(), buttons, titles
        if _issues_toast(page).count():
            _issues_toast(page).first.click()
            group = page.locator(PANEL_GROUP)
            group.wait_for(state="visible", timeout=10000)
            return "panel", group.inner_text(), group.locator(PANEL_DOWNLOAD), []
        page.wait_for_timeout(250)
    return None


def dismiss(page) -> None:
    """Close the prompt (the dialog, or 1.58's errors panel and toast) so the next template starts clean."""
    for _ in range(3):
        page.keyboard.press("Escape")
        page.wait_for_timeout(200)
    if page.locator(PANEL_GROUP).count():  # the panel shows the open workflow's issues: close that workflow
        page.evaluate("() => { window.app.extensionManager.command.execute('Workspace.CloseWorkflow'); }")
        page.wait_for_timeout(700)
        confirm = page.locator(DIALOG).filter(has_text=re.compile("save changes", re.I))
        if confirm.count():  # "Save Changes?" (Nodes 2.0 resizes the nodes, which marks the workflow changed): no
            confirm.last.locator("button").filter(
                has_text=re.compile(r"^\s*(No|Close anyway|Don't save)\s*$", re.I)).first.click()
            page.wait_for_timeout(500)
    assert _missing_dialog(page).count() == 0 and page.locator(PANEL_GROUP).count() == 0


@pytest.mark.parametrize("vue", [False, True], ids=["classic", "nodes2"])
def test_without_the_files_each_template_lists_them_with_their_urls(bare_server, vue):
    renderer = "nodes2" if vue else "classic"
    with open_page(bare_server.url) as page:
        requested = []

        def intercept(route):  # a Download button's request: record it, never let it out
            requested.append(route.request.url)
            route.abort()

        page.context.route(lambda url: not url.startswith(bare_server.url), intercept)
        set_renderer(page, vue)
        for stem in TEMPLATES:
            models = declared_models(_ui(stem))
            for m in models:  # every file is also in the About note with its folder and link, whatever the frontend
                assert f"`{m['directory']}/{m['name']}`" in about_note(_ui(stem)) and m["url"] in about_note(_ui(stem))
            open_template(page, stem)
            if not models:  # the preprocessor gallery: no model file to fetch, nothing to prompt
                assert missing_prompt(page, timeout_ms=2500) is None, stem
                continue
            shown = missing_prompt(page, timeout_ms=15000)
            _shot(page, f"{stem}-{renderer}-missing")
            assert shown is not None, f"{stem}: no missing-models prompt ({renderer})"
            kind, text, buttons, titles = shown
            if kind == "panel":  # the errors panel checks model widgets only, so a LoRA named in a text is not there
                models = widget_models(_ui(stem))
            for m in models:
                assert m["name"] in text and m["directory"] in text, (stem, m, text)
            assert buttons.count() == len(models), (stem, buttons.count(), text)
            requested.clear()
            for i in range(buttons.count()):
                buttons.nth(i).click()
                page.wait_for_timeout(400)
            for p in page.context.pages[1:]:  # a Download may open a tab for the file: close it
                p.close()
            # each URL is shown (the buttons' hover title) or is where its Download button goes (1.58)
            shown_urls = {t for t in titles if t.startswith("https://")} | set(requested)
            assert {m["url"] for m in models} <= shown_urls, (stem, titles, requested)
            assert shown_urls <= {m["url"] for m in models} | {u.split("/resolve/")[0] for u in requested}, \
                (stem, shown_urls)
            dismiss(page)
        set_renderer(page, False)


def _history(server, prompt_id):
    with urllib.request.urlopen(f"{server.url}/history/{prompt_id}", timeout=10) as r:
        return json.loads(r.read()).get(prompt_id)


PROMPT_JS = "async () => (await window.app.graphToPrompt()).output"
RUNS_JS = """() => { window.__loadoutRuns = [];
    for (const kind of ['execution_success', 'execution_error', 'execution_interrupted'])
        window.app.api.addEventListener(kind, (e) => window.__loadoutRuns.push([kind, e.detail.prompt_id])); }"""


def queue_and_finish(page, server, stem, shot) -> None:
    """Queue the open graph as a user does (Ctrl+Enter) and wait for ComfyUI to finish it: success in the history,
    with outputs."""
    before = page.evaluate("() => window.__loadoutRuns.length")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(f"() => window.__loadoutRuns.length > {before}", timeout=300000)
    kind, prompt_id = page.evaluate(f"() => window.__loadoutRuns[{before}]")
    _shot(page, shot)
    entry = _history(server, prompt_id)
    assert kind == "execution_success", (stem, kind, entry and entry.get("status"))
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"], entry["status"]
    assert entry["outputs"], (stem, "no outputs")


@pytest.fixture(scope="module")
def classic_prompts():
    """{template: the API prompt the classic canvas queued for it} (filled by the classic test)."""
    return {}


def test_with_the_files_each_template_queues_and_finishes(full_server, classic_prompts):
    """Classic canvas: every template opens without a missing-models prompt, and queued it finishes."""
    with open_page(full_server.url) as page:
        set_renderer(page, False)
        page.evaluate(RUNS_JS)
        for stem in TEMPLATES:
            open_template(page, stem)
            assert missing_prompt(page, timeout_ms=2500) is None, f"{stem}: missing-models prompt with the files"
            classic_prompts[stem] = page.evaluate(PROMPT_JS)
            queue_and_finish(page, full_server, stem, f"{stem}-classic-finished")


def test_with_the_files_nodes_2_0_opens_each_template_and_queues_the_same_graph(full_server, classic_prompts):
    """Nodes 2.0: every template opens without a prompt and the page would queue exactly the classic canvas's
    prompt (the renderer changes the drawing, not the graph); one of them is queued and finishes from this
    renderer too (running all again would only repeat the classic test's executions)."""
    assert set(classic_prompts) == set(TEMPLATES), "runs after the classic test"
    with open_page(full_server.url) as page:
        set_renderer(page, True)
        try:
            page.evaluate(RUNS_JS)
            for stem in TEMPLATES:
                open_template(page, stem)
                assert missing_prompt(page, timeout_ms=2500) is None, f"{stem}: missing-models prompt (nodes2)"
                assert page.locator("[data-node-id]").count() > 0, f"{stem}: not drawn as Vue nodes"
                assert page.evaluate(PROMPT_JS) == classic_prompts[stem], stem
            open_template(page, "offload_txt2img")
            queue_and_finish(page, full_server, "offload_txt2img", "offload_txt2img-nodes2-finished")
        finally:
            set_renderer(page, False)
