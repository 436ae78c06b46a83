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


def normalise_console(entries) -> set[str]:
    """Comparable console lines: one per (type, first line of the text) with the local host and the node id of
    registry lookups (which the frontend makes for every node type and this sandbox's CSP blocks) replaced."""
    out = set()
    for kind, text, _url in entries:
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
