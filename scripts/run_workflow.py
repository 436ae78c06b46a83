"""Run a ComfyUI workflow headless and save its outputs.

    python scripts/run_workflow.py workflows/api/lora_stack.json                 # starts the harness ComfyUI
    python scripts/run_workflow.py WORKFLOW.json --url http://127.0.0.1:8188     # your running ComfyUI
    python scripts/run_workflow.py WORKFLOW.json --set 5.seed=7 --set 2.text="a red fox" --out out/fox

WORKFLOW is an API-format file (workflows/api/*.json, or ComfyUI's "Export (API)"); a UI-format file is converted
through the server's /object_info. --set NODE_ID.INPUT=VALUE overrides an input (VALUE is read as JSON when it
parses, else as text). Progress comes from the server's websocket. Every output image/latent and text report is
saved to --out (default out/run/<workflow name>/). Exit status: 0 done; 1 a node failed (its id, type and error
are printed); 2 the workflow or an override is invalid (the server's validation message is printed).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test harness; never the repo root
import harness  # noqa: E402,F401  (defines the ``loadout`` alias for this repo)
from loadout.cli.client import ComfyClient, PromptFailed, PromptRejected
from harness.paths import REPO, cache_dir, harness
from loadout.cli.runner import (ProgressPrinter, UsageError, apply_overrides, elapsed, load_workflow, parse_override, run_prompt, save_outputs)
from harness.server import ComfyServer


def run(url: str, args) -> int:
    client = ComfyClient(url, timeout=120)
    t0 = time.time()
    try:
        overrides = [parse_override(s) for s in args.set]
        prompt = load_workflow(args.workflow, client)
        prompt = apply_overrides(prompt, overrides, client.object_info() if overrides else None)
    except UsageError as e:
        print(f"[run] error: {e}", file=sys.stderr)
        return 2
    for o in overrides:
        print(f"[run] set {o}", file=sys.stderr)
    printer = None if args.quiet else ProgressPrinter(prompt)
    try:
        result = run_prompt(client, prompt, timeout=args.timeout, progress=printer)
    except PromptRejected as e:
        print(f"[run] the server rejected the workflow:\n{e}", file=sys.stderr)
        return 2
    except PromptFailed as e:
        err = e.error
        print(f"[run] node {err.get('node_id')} ({err.get('node_type')}) failed: {err.get('exception_type')}: "
              f"{err.get('exception_message')}", file=sys.stderr)
        return 1
    except TimeoutError as e:
        print(f"[run] {e}", file=sys.stderr)
        return 1
    finally:
        if printer is not None:
            printer.finish()
    out = args.out or (REPO / "out" / "run" / Path(args.workflow).stem)
    saved = save_outputs(client, result, out)
    print(f"[run] done in {elapsed(t0)} (prompt {result.prompt_id}); {len(saved)} output(s) in {out}",
          file=sys.stderr)
    for path in saved:
        print(path)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workflow", type=Path, help="API-format (or UI-format) workflow JSON")
    ap.add_argument("--url", help="ComfyUI server URL (default: start the harness ComfyUI for this run)")
    ap.add_argument("--set", action="append", default=[], metavar="NODE_ID.INPUT=VALUE",
                    help="override an input; repeatable")
    ap.add_argument("--out", type=Path, help="folder for the outputs (default out/run/<workflow>/)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run (default 1800)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    if args.url:
        return run(args.url, args)
    log_path = cache_dir() / "logs" / "run-workflow-server.log"
    print(f"[run] starting ComfyUI (log: {log_path})", file=sys.stderr)
    with ComfyServer(harness(), log_path) as server:
        return run(server.url, args)


if __name__ == "__main__":
    sys.exit(main())
