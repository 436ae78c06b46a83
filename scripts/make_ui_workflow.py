"""Write the UI-format twin of an API workflow, or lay out the bundled UI workflows again.

    python scripts/make_ui_workflow.py workflows/api/NAME.json --note "what it shows; what to change"
    python scripts/make_ui_workflow.py workflows/api/NAME.json      # after editing the API file: keep the note
    python scripts/make_ui_workflow.py --relayout                   # every workflows/*.json, no server needed
    python scripts/make_ui_workflow.py --relayout workflows/NAME.json

From an API file, widget order and socket types come from a live /object_info (a harness ComfyUI is started unless
--url is given); the result goes to workflows/NAME.json. --relayout reads the UI files themselves (nodes, links,
widget values stay as they are) and needs nothing else. Either way each loader node gets ``properties.models`` (the
public file it names, with its download URL and folder, from scripts/public_models.py). tests/workflows keeps the
UI and API twins in sync afterwards.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test harness; never the repo root
import harness  # noqa: E402,F401  (defines the ``loadout`` alias for this repo)
import public_models  # noqa: E402  (scripts/, next to this file)
from harness.paths import REPO  # noqa: E402
from loadout.core.lora.parse import parse_stack_text  # noqa: E402

MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin")
LORA_TEXT_NODES = {"LoadoutLoraStackFromText"}


def node_models(node: dict) -> list[public_models.PublicModel]:
    """The public files a UI node names: model file names among its widget values, and the LoRAs of a LoRA text
    form (``<lora:NAME:...>`` tags, lines, JSON). A name that looks like a model file but is not in the table is an
    error: every file a bundled workflow names must have a download source."""
    found = []
    for value in node.get("widgets_values") or []:
        if not isinstance(value, str):
            continue
        names = []
        if node["type"] in LORA_TEXT_NODES:
            names = [entry.name for entry in parse_stack_text(value)[0]]
        elif value.lower().endswith(MODEL_SUFFIXES):
            names = [value]
        for name in names:
            model = public_models.lookup(name)
            if model is None:
                raise SystemExit(f"node {node['id']} ({node['type']}) names {name!r}, which scripts/public_models.py "
                                 "does not list: add it there (its public URL, folder and tiny stand-in)")
            if model not in found:
                found.append(model)
    return found


def declare_models(ui: dict) -> dict:
    """Set ``properties.models`` on every node that names a public file (and drop a stale one elsewhere)."""
    for node in ui["nodes"]:
        models = node_models(node)
        props = node.setdefault("properties", {})
        if models:
            props["models"] = [m.entry() for m in models]
        else:
            props.pop("models", None)
    return ui


def write(path: Path, ui: dict) -> None:
    path.write_text(json.dumps(ui, indent=2) + "\n")
    print(path)


def relayout(paths: list[Path]) -> None:
    for path in paths:
        ui = json.loads(path.read_text())
        write(path, declare_models(ui))


def from_api(api_path: Path, note: str | None, url: str | None, ap) -> None:
    from harness.paths import cache_dir, harness as harness_paths
    from harness.server import ComfyServer
    from loadout.cli.client import ComfyClient
    from loadout.cli.workflow_format import api_to_ui

    api = json.loads(api_path.read_text())
    out = REPO / "workflows" / api_path.name
    if note is None:
        notes = [n["widgets_values"][0] for n in json.loads(out.read_text())["nodes"]
                 if n["type"] in ("Note", "MarkdownNote")] if out.is_file() else []
        if not notes:
            ap.error(f"--note is required: {out} has no note to keep")
        note = notes[0]
    if url:
        info = ComfyClient(url).object_info()
    else:
        with ComfyServer(harness_paths(), cache_dir() / "logs" / "make_ui_workflow.log") as server:
            info = ComfyClient(server.url).object_info()
    write(out, declare_models(api_to_ui(api, info, note=note)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", type=Path, nargs="*", help="an API file (workflows/api/NAME.json); with --relayout, "
                                                        "UI files (default: every workflows/*.json)")
    ap.add_argument("--relayout", action="store_true", help="lay out the UI files again, without a server")
    ap.add_argument("--note", help="text of the overview note: what the workflow shows, what to change "
                                   "(default: keep the note of the existing UI file)")
    ap.add_argument("--url", help="use a running ComfyUI instead of starting the harness one")
    args = ap.parse_args(argv)
    if args.relayout:
        relayout(args.paths or sorted((REPO / "workflows").glob("*.json")))
    elif len(args.paths) == 1:
        from_api(args.paths[0], args.note, args.url, ap)
    else:
        ap.error("give one API file, or --relayout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
