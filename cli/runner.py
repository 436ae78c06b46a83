"""Headless runs of a workflow: ``--set`` overrides, websocket progress, outputs saved to a folder.

Used by ``run_workflow`` (the ``loadout-run`` command), ``run_requests`` (``loadout-requests``) and
``scripts/demo.py``. Needs only the standard library, plus ``websocket-client`` for live progress (without it, the
run is polled and only the end result is shown).
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
import urllib.error
from pathlib import Path

from .client import ComfyClient
from .workflow_format import ui_to_api


class UsageError(ValueError):
    """A bad workflow file or override: the message names it; the command exits with status 2."""


@dataclasses.dataclass(frozen=True)
class Override:
    node: str
    input: str
    value: object

    def __str__(self) -> str:
        return f"{self.node}.{self.input}={json.dumps(self.value)}"


def parse_override(expr: str) -> Override:
    """``NODE_ID.INPUT=VALUE``; VALUE is read as JSON when it parses (7, 0.5, true, "text", [1, 2]), else taken
    as a plain string (so ``--set 2.text=a cat`` works)."""
    target, sep, raw = expr.partition("=")
    node, dot, name = target.strip().partition(".")
    if not sep or not dot or not node or not name:
        raise UsageError(f"--set {expr!r}: expected NODE_ID.INPUT=VALUE, e.g. --set 5.seed=7")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return Override(node, name.strip(), value)


def apply_overrides(prompt: dict, overrides: list[Override], object_info: dict | None = None) -> dict:
    """A copy of ``prompt`` with the overrides set. A node id not in the workflow, or an input its class does not
    have (checked against ``object_info`` when given), is an error naming the override and the choices."""
    out = json.loads(json.dumps(prompt))
    for o in overrides:
        node = out.get(o.node)
        if node is None:
            raise UsageError(f"--set {o}: no node {o.node!r} in the workflow (node ids: {', '.join(sorted(out, key=_id_key))})")
        known = set(node["inputs"])
        if object_info is not None and node["class_type"] in object_info:
            spec = object_info[node["class_type"]].get("input", {})
            for section in ("required", "optional"):
                known |= set(spec.get(section) or {})
        if o.input not in known:
            raise UsageError(f"--set {o}: node {o.node} ({node['class_type']}) has no input {o.input!r} "
                             f"(inputs: {', '.join(sorted(known))})")
        node["inputs"][o.input] = o.value
    return out


def _id_key(node_id: str):
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


def read_json(path: Path):
    """The JSON in ``path``; a missing or malformed file is a ``UsageError`` naming it."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not JSON ({e})") from None


def load_workflow(path: Path, client: ComfyClient | None = None) -> dict:
    """An API-format prompt from ``path`` (UI-format files are converted through the server's /object_info)."""
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        if client is None:
            raise UsageError(f"{path} is a UI-format workflow; converting it needs a server")
        return ui_to_api(data, client.object_info())
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        data = data["prompt"]  # a saved /prompt request body
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        raise UsageError(f"{path}: not an API-format workflow (expected {{node_id: {{class_type, inputs}}}})")
    return data


class ProgressPrinter:
    """Turns websocket messages into one updating status line per node on ``stream`` (a terminal bar)."""

    def __init__(self, prompt: dict, stream=sys.stderr, width: int = 24):
        self.prompt = prompt
        self.stream = stream
        self.width = width
        self.node = None

    def _name(self, node_id) -> str:
        node = self.prompt.get(str(node_id), {})
        title = node.get("_meta", {}).get("title") or node.get("class_type", "?")
        return f"node {node_id} ({title})"

    def __call__(self, msg: dict) -> None:
        kind, data = msg.get("type"), msg.get("data") or {}
        if kind == "executing" and data.get("node") is not None:
            self.node = data["node"]
            self._write(f"{self._name(self.node)} running")
        elif kind == "progress":
            value, maximum = int(data.get("value", 0)), max(1, int(data.get("max", 1)))
            filled = int(self.width * value / maximum)
            bar = "#" * filled + "-" * (self.width - filled)
            self._write(f"{self._name(data.get('node', self.node))} [{bar}] {value}/{maximum}")
        elif kind == "execution_cached":
            cached = data.get("nodes") or []
            if cached:
                self._write(f"{len(cached)} node(s) cached")

    def _write(self, text: str) -> None:
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(f"[run] {text}".ljust(79)[:200] + end)
        self.stream.flush()

    def finish(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")


def save_outputs(client: ComfyClient, result, target: Path, prefix: str = "") -> list[Path]:
    """Download every output file of ``result`` into ``target`` and write each text output next to them."""
    target.mkdir(parents=True, exist_ok=True)
    saved = []
    for f in result.files():
        dest = target / f"{prefix}{f['filename']}"
        dest.write_bytes(client.fetch(f))
        saved.append(dest)
    for node_id, out in sorted(result.outputs.items(), key=lambda kv: _id_key(kv[0])):
        for i, text in enumerate(out.get("text", [])):
            dest = target / f"{prefix}node{node_id}_text{i}.txt"
            dest.write_text(text if isinstance(text, str) else json.dumps(text))
            saved.append(dest)
    return saved


def run_prompt(client: ComfyClient, prompt: dict, timeout: float = 1800, progress=None):
    """Run ``prompt``; with ``progress`` (a callable taking websocket messages) over the websocket when
    websocket-client is installed, else by polling."""
    if progress is not None:
        try:
            import websocket  # noqa: F401, PLC0415
        except ImportError:
            progress = None
    if progress is None:
        return client.run(prompt, timeout=timeout)
    result, _messages = client.run_with_messages(prompt, timeout=timeout, on_message=progress)
    return result


def elapsed(t0: float) -> str:
    return f"{time.time() - t0:.1f} s"


DEFAULT_URL = "http://127.0.0.1:8188"


def say(text: str, stream=None) -> None:
    """One line of the command's output (stderr unless told): status lines, not logging."""
    stream = sys.stderr if stream is None else stream
    stream.write(f"{text}\n")
    stream.flush()


def unreachable(prefix: str, url: str, error: Exception) -> str:
    """The line for a server that is not there (refused, unknown host) or answers an API call with an error."""
    reason = error if isinstance(error, urllib.error.HTTPError) else (getattr(error, "reason", None) or error)
    return f"{prefix} no ComfyUI answering at {url}: {reason} (start ComfyUI, or pass its address with --url)"
