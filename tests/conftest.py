"""Shared test plumbing.

- The pack is importable as ``loadout`` (an alias for this repo folder) without running its root
  ``__init__.py`` and without putting the repo root on ``sys.path`` (our ``nodes/`` would shadow ComfyUI's
  ``nodes.py``). Unit tests import ``loadout.vram...``, ``loadout.nodes...`` from it.
- ``tests/`` and ``scripts/`` (not the repo root) are put on ``sys.path``: the test harness package ``harness`` and
  the tiny-model generators. The product CLI is ``loadout.cli``.
- The ``comfy`` fixture starts one real ComfyUI for the whole session (integration and workflow layers); which one
  (pinned 0.3.75, or 0.33 with ``LOADOUT_COMFY=0.33``) is ``harness.paths``' business. Its log:
  ``$LOADOUT_CACHE/logs/pytest-server[-0.33].log``.
- Tests marked ``session_last`` run after every other collected test (the session-log checks).
- ``LOADOUT_UNIT_ONCE=1`` (``make test UNIT_ONCE=1``, the second ComfyUI pass of ``.ci/run``): unit tests that do not
  run ComfyUI in-process are deselected; every other layer runs.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

for _folder in ("scripts", "tests"):  # tiny-model generators; the test harness package
    if str(REPO / _folder) not in sys.path:
        sys.path.insert(0, str(REPO / _folder))

from harness.inprocess import import_pack  # noqa: E402

import_pack()

from loadout.cli.client import ComfyClient, PromptFailed, PromptRejected  # noqa: E402
from harness.paths import cache_dir, comfy_suffix, harness  # noqa: E402
from harness.server import FORBIDDEN_LOG_PATTERNS, ComfyServer  # noqa: E402


UNIT_ONCE_DROPPED = pytest.StashKey[int]()  # pure unit tests left out by LOADOUT_UNIT_ONCE=1
ALLOWED_LOG = pytest.StashKey[list]()  # (start, end, patterns): log ranges written by tests marked allow_log


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_log(pattern): this test expects server log lines matching pattern")
    config.addinivalue_line("markers", "session_last: run after every other test of the session (log checks)")
    config.stash[ALLOWED_LOG] = []


def _uses_comfyui(module) -> bool:
    """A unit-test module that runs ComfyUI code in-process (through ``harness.inprocess``)."""
    import inspect

    try:
        return "harness.inprocess" in inspect.getsource(module)
    except (OSError, TypeError):
        return True


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("session_last") is not None)  # stable: order kept otherwise
    if os.environ.get("LOADOUT_UNIT_ONCE") == "1":
        # A second ComfyUI version's pass (.ci/run): the pure unit tests already ran on the first; only the unit
        # tests that import ComfyUI in-process run again. The other layers always run in full.
        unit = REPO / "tests" / "unit"
        cache: dict = {}
        keep, drop = [], []
        for item in items:
            mod = getattr(item, "module", None)
            pure = (Path(str(item.fspath)).is_relative_to(unit) and mod is not None
                    and not cache.setdefault(mod.__name__, _uses_comfyui(mod)))
            (drop if pure else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
            config.stash[UNIT_ONCE_DROPPED] = len(drop)


def pytest_terminal_summary(terminalreporter):
    """One line at the end when the browser layer was skipped for want of chromium (and how to enable it), and one
    when the pure unit tests were left out (UNIT_ONCE=1)."""
    dropped = terminalreporter.config.stash.get(UNIT_ONCE_DROPPED, 0)
    if dropped:
        terminalreporter.write_line(f"[loadout] UNIT_ONCE=1: {dropped} pure unit tests not rerun (they ran on the "
                                    "first ComfyUI pass; unit tests that import ComfyUI ran)")
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "chromium is not installed" in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(
            f"[loadout] browser layer skipped ({len(skipped)} tests): Debian's chromium is not installed; "
            "install it (sudo apt-get install chromium; `make provision` does it when run as root) and rerun")


class Comfy:
    """The session's ComfyUI: HTTP client plus the server's log, with failures that show the node error."""

    def __init__(self, server: ComfyServer):
        self.server = server
        self.client = ComfyClient(server.url, timeout=60)
        self.url = server.url
        self._object_info = None

    @property
    def object_info(self) -> dict:
        if self._object_info is None:
            self._object_info = self.client.object_info()
        return self._object_info

    def run(self, prompt: dict, timeout: float = 600):
        try:
            return self.client.run(prompt, timeout=timeout)
        except (PromptRejected, PromptFailed) as e:
            pytest.fail(f"{e}\n--- server log tail ---\n{self.server.log_tail(40)}", pytrace=False)

    def run_with_messages(self, prompt: dict, timeout: float = 600):
        """(result, websocket messages) of a prompt run while listening as this client."""
        try:
            return self.client.run_with_messages(prompt, timeout=timeout)
        except (PromptRejected, PromptFailed) as e:
            pytest.fail(f"{e}\n--- server log tail ---\n{self.server.log_tail(40)}", pytrace=False)

    def run_expecting_error(self, prompt: dict, timeout: float = 600):
        """Run a prompt that must fail; returns the PromptRejected/PromptFailed for the test to inspect."""
        try:
            self.client.run(prompt, timeout=timeout)
        except (PromptRejected, PromptFailed) as e:
            return e
        pytest.fail("the prompt was expected to fail but succeeded", pytrace=False)

    def image(self, result, index: int = 0):
        import io

        import numpy as np
        from PIL import Image

        files = [f for f in result.files() if f["kind"] == "images"]
        return np.asarray(Image.open(io.BytesIO(self.client.fetch(files[index]))))

    def latent(self, result):
        """The tensor a SaveLatent node wrote in ``result`` (fetched over /view)."""
        from safetensors.torch import load

        files = [f for f in result.files() if f["kind"] == "latents"]
        assert files, f"no latent saved: {result.outputs}"
        return load(self.client.fetch(files[0]))["latent_tensor"]


@pytest.fixture(scope="session")
def comfy():
    h = harness()
    log_path = cache_dir() / "logs" / f"pytest-server{comfy_suffix()}.log"
    server = ComfyServer(h, log_path)
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield Comfy(server)
    finally:
        server.stop()


@pytest.fixture
def allowed_log_ranges(request) -> list:
    """(start, end, patterns): the ranges of the session server's log written by tests marked allow_log so far."""
    return request.config.stash[ALLOWED_LOG]


@pytest.fixture(autouse=True)
def _clean_server_log(request):
    """Tests that use the server fail on log lines that mean a model or the pack did not load properly."""
    if "comfy" not in request.fixturenames:
        yield
        return
    comfy = request.getfixturevalue("comfy")
    offset = len(comfy.server.log_text())
    yield
    allowed = [m.args[0] for m in request.node.iter_markers("allow_log")]
    if allowed:
        request.config.stash[ALLOWED_LOG].append((offset, len(comfy.server.log_text()), allowed))
    bad = [line for line in comfy.server.forbidden_lines(offset)
           if not any(re.search(p, line) for p in allowed)]
    assert not bad, "server log has forbidden lines (" + ", ".join(FORBIDDEN_LOG_PATTERNS) + "):\n" + "\n".join(bad[:20])

