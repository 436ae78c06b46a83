"""Run a ComfyUI workflow headless and save its outputs.

    loadout-run workflows/api/lora_stack.json                              # ComfyUI at http://127.0.0.1:8188
    loadout-run WORKFLOW.json --url http://192.168.1.20:8188
    loadout-run WORKFLOW.json --set 5.seed=7 --set 2.text="a red fox" --out out/fox

WORKFLOW is an API-format file (workflows/api/*.json, or ComfyUI's "Export (API)"); a UI-format file is converted
through the server's /object_info. --set NODE_ID.INPUT=VALUE overrides an input (VALUE is read as JSON when it
parses, else as text). Progress comes from the server's websocket (with websocket-client installed; else the run
is polled). Every output image/latent and text report is saved to --out (default out/run/<workflow name>/ under
the current folder). Exit status: 0 done; 1 a node failed (its id, type and error are printed), the run timed
out or the server could not be reached; 2 the workflow or an override is invalid (the server's validation message
is printed).
"""
from __future__ import annotations

import argparse
import sys
import time
import urllib.error
from pathlib import Path

from .client import ComfyClient, PromptFailed, PromptRejected
from .runner import (DEFAULT_URL, ProgressPrinter, UsageError, apply_overrides, elapsed, load_workflow,
                     parse_override, run_prompt, save_outputs, say, unreachable)


def run(url: str, args) -> int:
    client = ComfyClient(url, timeout=120)
    t0 = time.time()
    try:
        overrides = [parse_override(s) for s in args.set]
        prompt = load_workflow(args.workflow, client)
        prompt = apply_overrides(prompt, overrides, client.object_info() if overrides else None)
    except UsageError as e:
        say(f"[run] error: {e}")
        return 2
    for o in overrides:
        say(f"[run] set {o}")
    printer = None if args.quiet else ProgressPrinter(prompt)
    try:
        result = run_prompt(client, prompt, timeout=args.timeout, progress=printer)
    except PromptRejected as e:
        say(f"[run] the server rejected the workflow:\n{e}")
        return 2
    except PromptFailed as e:
        err = e.error
        say(f"[run] node {err.get('node_id')} ({err.get('node_type')}) failed: {err.get('exception_type')}: "
            f"{err.get('exception_message')}")
        return 1
    except TimeoutError as e:
        say(f"[run] {e}")
        return 1
    finally:
        if printer is not None:
            printer.finish()
    out = args.out or (Path("out") / "run" / Path(args.workflow).stem)
    saved = save_outputs(client, result, out)
    say(f"[run] done in {elapsed(t0)} (prompt {result.prompt_id}); {len(saved)} output(s) in {out}")
    for path in saved:
        say(str(path), sys.stdout)
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="loadout-run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workflow", type=Path, help="API-format (or UI-format) workflow JSON")
    ap.add_argument("--url", default=DEFAULT_URL, help=f"ComfyUI server URL (default {DEFAULT_URL})")
    ap.add_argument("--set", action="append", default=[], metavar="NODE_ID.INPUT=VALUE",
                    help="override an input; repeatable")
    ap.add_argument("--out", type=Path, help="folder for the outputs (default out/run/<workflow>/)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run (default 1800)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args.url, args)
    except (urllib.error.URLError, ConnectionError) as e:
        say(unreachable("[run]", args.url, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
