"""The real ComfyUI frontend in headless Chromium (Debian's chromium, driven by Playwright; no browser download).

``open_page(url)`` yields a page with the app loaded and its console collected; ``normalise_console`` turns the
collected messages into comparable lines (host and port removed, the node id in the frontend's blocked registry
lookups replaced), so a page with Loadout can be compared with a baseline page without it.
"""
from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

from harness.paths import Harness

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_available() -> bool:
    return shutil.which("chromium") is not None


@contextlib.contextmanager
def open_page(url: str, viewport=(1600, 1000)):
    """A page on ``url`` with ``window.app`` ready; ``page.console`` lists (type, text, url) of every error and
    warning, ``page.errors`` the uncaught exceptions."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - test tooling

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.console = []
            page.errors = []
            page.on("console", lambda m: page.console.append((m.type, m.text, m.location.get("url", "")))
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.add_init_script(MARK_FRONTEND_WARNINGS)
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=90000)
            page.wait_for_timeout(1500)
            page.keyboard.press("Escape")  # the first-start templates dialog
            yield page
        finally:
            browser.close()


_HOST = re.compile(r"https?://(127\.0\.0\.1|localhost):\d+")
_REGISTRY = [
    (re.compile(r"(api\.comfy\.org/comfy-nodes/)[^/'\"]+(/node)"), r"\1<node id>\2"),
    (re.compile(r"(api\.comfy\.org/nodes\?node_id=)[^'\"&]+"), r"\1<pack id>"),
]
_STACK = re.compile(r"\n\s+at .*", re.S)
# Frontend 1.5x warns once per page about deprecated litegraph accessors (e.g. "input.link is deprecated") when its
# own code restores or converts a graph; whether that happens depends on the user's saved state (the harness's
# user folder, not the fresh baseline's), not on a pack. A warning is attributed by its JavaScript stack: one with no
# frame from an extension script (``/extensions/<pack>/``) is the frontend's own and is marked, and left out of the
# comparison; any warning raised while an extension's code is on the stack (Loadout's included) is kept.
FRONTEND_OWN = "[frontend-own] "
MARK_FRONTEND_WARNINGS = """(() => {
  const warn = console.warn;
  console.warn = function (...args) {
    const stack = new Error().stack || "";
    if (!/\\/extensions\\//.test(stack) && typeof args[0] === "string") args[0] = "%s" + args[0];
    return warn.apply(this, args);
  };
})();""" % FRONTEND_OWN
# Frontend >= 1.4x: with the tutorial done (saved in the harness's user settings) the page opens its built-in default
# graph and probes that graph's model files on the model hubs (HEAD), which the CSP blocks. Whether and how many of
# those lines appear depends on the saved settings and on timing, never on a pack: they are left out.
_MODEL_HUB_PROBE = re.compile(r"^(Connecting to '|Fetch API cannot load )"
                              r"https://(huggingface\.co|civitai\.com|civitai\.red)/\S*\.(safetensors|sft|ckpt|pth|pt)\b")


def normalise_console(entries) -> set[str]:
    """Comparable console lines: one per (type, first line of the text) with the local host and the node id of
    registry lookups (which the frontend makes for every node type and this sandbox's CSP blocks) replaced, and
    without the blocked model-hub probes of the frontend's own default graph."""
    out = set()
    for kind, text, _url in entries:
        if _MODEL_HUB_PROBE.match(text) or (kind == "warning" and text.startswith(FRONTEND_OWN)):
            continue
        line = _STACK.sub("", text)
        line = _HOST.sub("<local>", line)
        for pattern, repl in _REGISTRY:
            line = pattern.sub(repl, line)
        out.add(f"{kind}: {line.splitlines()[0] if line else ''}")
    return out


PROBE_PACK = '''"""A one-node stand-in pack for the frontend baseline (so the page makes the same per-pack lookups)."""


class BaselineProbe:
    CATEGORY = "baseline"
    FUNCTION = "run"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE", {"tooltip": "passed through"})}}

    def run(self, image):
        return (image,)


NODE_CLASS_MAPPINGS = {"BaselineProbe": BaselineProbe}
'''


def baseline_harness(h: Harness, base: Path) -> Harness:
    """``base`` (an empty folder) made a base directory like the harness's (same models and inputs), whose
    custom_nodes hold only the stand-in pack: the same ComfyUI and frontend without Loadout."""
    for sub in ("models", "input"):
        (base / sub).symlink_to(h.base / sub)
    for sub in ("output", "user", "temp"):
        (base / sub).mkdir()
    probe = base / "custom_nodes" / "baseline_probe"
    probe.mkdir(parents=True)
    (probe / "__init__.py").write_text(PROBE_PACK)
    return Harness(h.comfyui, base, h.python, h.comfy_cli_config)


# --- shared by the saved-workflow tests (additions; the helpers above are unchanged) ---

MISSING_DIALOG_JS = ("() => [...document.querySelectorAll('.p-dialog')].map(d => d.innerText)"
                     ".filter(t => /missing/i.test(t))")
UNKNOWN_TYPES_JS = ("() => window.app.graph.nodes.filter(n => !(n.type in LiteGraph.registered_node_types))"
                    ".map(n => n.type)")
# The values of a node's saved widgets, in widget order (widgets with serialize === false, such as the report
# widget of node_reports.js, are never in widgets_values).
WIDGET_VALUES_JS = ("(id) => window.app.graph.getNodeById(id).widgets"
                    ".filter(w => w.serialize !== false && w.options?.serialize !== false).map(w => w.value)")


def set_renderer(page, vue: bool) -> None:
    """Classic LiteGraph canvas (False) or the "Nodes 2.0" Vue renderer (True); the setting is saved per user."""
    page.evaluate("async (on) => { await window.app.extensionManager.setting.set('Comfy.VueNodes.Enabled', on); }",
                  vue)
    page.wait_for_timeout(1000)


def load_ui_workflow(page, workflow: dict, settle_ms: int = 800) -> None:
    """Load a UI-format workflow through the page's own ``app.loadGraphData``, as a user dropping the file does."""
    page.evaluate("async (wf) => { await window.app.loadGraphData(wf); }", workflow)
    page.wait_for_timeout(settle_ms)


def core_probe_graph(api_graph: dict) -> dict:
    """``api_graph`` without its Loadout (and PreviewAny) nodes, plus the baseline stand-in node fed by node 6; links
    to removed nodes are re-pointed at node 6: the same core workflow for the stock page."""
    graph = {k: v for k, v in api_graph.items() if not v["class_type"].startswith("Loadout")
             and v["class_type"] != "PreviewAny"}
    graph["90"] = {"class_type": "BaselineProbe", "inputs": {"image": ["6", 0]}}
    for node in graph.values():
        for name, value in list(node["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and value[0] not in graph:
                node["inputs"][name] = ["6", 0]
    return graph


def stock_page_console(h: Harness, base: Path, log_path: Path, api_graph: dict, screenshot: Path | None = None):
    """(normalised console lines, uncaught errors) of the stock page: the same ComfyUI and frontend without Loadout
    (``baseline_harness`` in the empty folder ``base``), loading ``core_probe_graph(api_graph)``."""
    from harness.server import ComfyServer  # noqa: PLC0415 - only the baseline needs a second server

    with ComfyServer(baseline_harness(h, base), log_path) as server, open_page(server.url) as page:
        page.evaluate("async (g) => { await window.app.loadApiJson(g, 'baseline'); }", core_probe_graph(api_graph))
        page.wait_for_timeout(3000)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
        return normalise_console(page.console), list(page.errors)
