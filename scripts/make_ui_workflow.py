"""Write the UI-format twin of an API workflow, or lay out the bundled UI workflows again.

    python scripts/make_ui_workflow.py workflows/api/NAME.json --note "what it shows; what to change"
    python scripts/make_ui_workflow.py workflows/api/NAME.json      # after editing the API file: keep the note
    python scripts/make_ui_workflow.py --relayout                   # every workflows/*.json, no server needed
    python scripts/make_ui_workflow.py --relayout workflows/NAME.json

From an API file, widget order and socket types come from a live /object_info (a harness ComfyUI is started unless
--url is given); the result goes to workflows/NAME.json. --relayout reads the UI files themselves (nodes, links,
widget values stay as they are) and needs nothing else. Either way:

- the graph is laid out left to right in titled groups by stage (``cli/workflow_format.lay_out``), each with the
  Markdown note scripts/workflow_notes.py gives for it, and an "About" group with the overview note, to which a
  "Model files" list is added (each public file with its folder and download link);
- each loader node gets ``properties.models`` (the public file it names, with its download URL and folder, from
  scripts/public_models.py), which the frontend's missing-model dialog reads to offer the download; a file named
  only inside a text (a LoRA text form's ``<lora:NAME:...>``) also goes into the workflow's top-level ``models``,
  as the frontend reads a node's entries only for names that are widget values.

tests/workflows keeps the UI and API twins in sync afterwards; tests/unit/test_bundled_workflow_layout.py checks the
layout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test harness; never the repo root
import harness  # noqa: E402,F401  (defines the ``loadout`` alias for this repo)
import public_models  # noqa: E402  (scripts/, next to this file)
import workflow_notes  # noqa: E402
from harness.paths import REPO  # noqa: E402
from loadout.cli.workflow_format import lay_out  # noqa: E402
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
    """Set ``properties.models`` on every node that names a public file (and drop a stale one elsewhere), and the
    workflow's top-level ``models`` to the entries the frontend would not see there.

    The frontend offers a node's ``properties.models`` entry only when its name is one of the node's widget values
    (``getSelectedModelsMetadata``, frontend 1.32 to 1.58): a LoRA named inside a text form (``<lora:NAME:...>``)
    is not, so such entries also go into ``ui["models"]``, which the frontend reads whole (ComfyUI's templates
    use that list the same way)."""
    extra = []
    for node in ui["nodes"]:
        models = node_models(node)
        props = node.setdefault("properties", {})
        if models:
            props["models"] = [m.entry() for m in models]
        else:
            props.pop("models", None)
        values = {v for v in node.get("widgets_values") or [] if isinstance(v, str)}
        extra += [m.entry() for m in models if m.name not in values and m.entry() not in extra]
    if extra:
        ui["models"] = extra
    else:
        ui.pop("models", None)
    return ui


def models_section(ui: dict) -> str:
    """The overview's "Model files" list: every public file the workflow names, where it goes, its download."""
    models = []
    for node in ui["nodes"]:
        for m in node_models(node):
            if m not in models:
                models.append(m)
    if not models:
        return ""
    lines = ["## Model files", "",
             "Missing ones are offered for download when the workflow opens; or fetch them yourself into "
             "`ComfyUI/models/`:", ""]
    for m in models:
        folder = " (keep the file in this folder: Loadout finds the LoRA by the folder's name)" if "/" in m.name else ""
        lines.append(f"- `{m.directory}/{m.name}` — {m.what} — [download]({m.url}){folder}")
    return "\n".join(lines)


def arrange(name: str, ui: dict) -> dict:
    """Lay out ``ui`` (the bundled workflow ``name``) with its notes, and declare its models."""
    notes = workflow_notes.NOTES.get(name)
    if notes is None:
        raise SystemExit(f"scripts/workflow_notes.py has no notes for {name!r}: add an overview and one note per group")
    ui = declare_models(ui)
    overview = "\n\n".join(part for part in (notes["overview"], models_section(ui)) if part)
    stage_notes = {k: v for k, v in notes.items() if k not in ("overview", "titles")}
    return lay_out(ui, overview=overview, stage_notes=stage_notes, titles=notes.get("titles"))


def write(path: Path, ui: dict) -> None:
    path.write_text(json.dumps(ui, indent=2) + "\n")
    print(path)


def relayout(paths: list[Path]) -> None:
    for path in paths:
        ui = json.loads(path.read_text())
        write(path, arrange(path.stem, ui))


def from_api(api_path: Path, note: str | None, url: str | None, ap) -> None:
    from harness.paths import cache_dir, harness as harness_paths
    from harness.server import ComfyServer
    from loadout.cli.client import ComfyClient
    from loadout.cli.workflow_format import api_to_ui

    api = json.loads(api_path.read_text())
    out = REPO / "workflows" / api_path.name
    if note is not None:
        workflow_notes.NOTES.setdefault(api_path.stem, {})["overview"] = note
    elif api_path.stem not in workflow_notes.NOTES:
        ap.error(f"--note is required: scripts/workflow_notes.py has no notes for {api_path.stem}")
    if url:
        info = ComfyClient(url).object_info()
    else:
        with ComfyServer(harness_paths(), cache_dir() / "logs" / "make_ui_workflow.log") as server:
            info = ComfyClient(server.url).object_info()
    write(out, arrange(api_path.stem, api_to_ui(api, info)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", type=Path, nargs="*", help="an API file (workflows/api/NAME.json); with --relayout, "
                                                        "UI files (default: every workflows/*.json)")
    ap.add_argument("--relayout", action="store_true", help="lay out the UI files again, without a server")
    ap.add_argument("--note", help="Markdown of the overview note of a new workflow (default: its notes in "
                                   "scripts/workflow_notes.py, which also give each group's note)")
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
