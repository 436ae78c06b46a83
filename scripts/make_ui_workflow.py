"""Write the UI-format twin of an API workflow, laid out in columns, with a Note node.

    python scripts/make_ui_workflow.py workflows/api/NAME.json --note "what it shows; what to change"
    python scripts/make_ui_workflow.py workflows/api/NAME.json      # after editing the API file: keep the note

Widget order and socket types come from a live /object_info (a harness ComfyUI is started unless --url is given).
The result goes to workflows/NAME.json; tests/workflows keeps the two in sync afterwards.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test harness; never the repo root
import harness  # noqa: E402,F401  (defines the ``loadout`` alias for this repo)
from loadout.cli.client import ComfyClient
from harness.paths import REPO, cache_dir, harness
from harness.server import ComfyServer
from loadout.cli.workflow_format import api_to_ui


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("api", type=Path)
    ap.add_argument("--note", help="text of the Note node: what the workflow shows, what to change "
                                   "(default: keep the note of the existing UI file)")
    ap.add_argument("--url", help="use a running ComfyUI instead of starting the harness one")
    args = ap.parse_args(argv)
    api = json.loads(args.api.read_text())
    out = REPO / "workflows" / args.api.name
    if args.note is None:
        notes = [n["widgets_values"][0] for n in json.loads(out.read_text())["nodes"] if n["type"] == "Note"] \
            if out.is_file() else []
        if not notes:
            ap.error(f"--note is required: {out} has no Note node to keep")
        args.note = notes[0]
    if args.url:
        info = ComfyClient(args.url).object_info()
    else:
        with ComfyServer(harness(), cache_dir() / "logs" / "make_ui_workflow.log") as server:
            info = ComfyClient(server.url).object_info()
    out.write_text(json.dumps(api_to_ui(api, info, note=args.note), indent=2) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
