"""`make demo`: run every bundled API workflow on a real ComfyUI with the tiny models, collect the outputs.

Starts the harness ComfyUI on 127.0.0.1 (a free port), runs workflows/api/*.json in order, copies each
workflow's output files to ./out/<workflow>/, prints a table (workflow, status, seconds, outputs), stops the
server and exits non-zero if any workflow failed.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test harness; never the repo root
import harness  # noqa: E402,F401  (defines the ``loadout`` alias for this repo)
from loadout.cli.client import ComfyClient, PromptFailed, PromptRejected
from harness.paths import REPO, cache_dir, harness
from loadout.cli.runner import save_outputs
from harness.server import ComfyServer


def run_all(url: str, workflows: list[Path], out_dir: Path) -> list[dict]:
    client = ComfyClient(url)
    rows = []
    for path in workflows:
        row = {"workflow": path.stem, "status": "ok", "seconds": 0.0, "outputs": []}
        t0 = time.time()
        try:
            result = client.run(json.loads(path.read_text()), timeout=1800)
            for dest in save_outputs(client, result, out_dir / path.stem):
                row["outputs"].append(str(dest.relative_to(REPO)) if dest.is_relative_to(REPO) else str(dest))
        except (PromptRejected, PromptFailed, TimeoutError, OSError) as e:
            row["status"] = "FAILED"
            row["error"] = str(e)
        row["seconds"] = round(time.time() - t0, 1)
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    width = max([len("workflow")] + [len(r["workflow"]) for r in rows])
    print(f"\n{'workflow':<{width}}  {'status':<6}  {'seconds':>7}  outputs")
    print(f"{'-' * width}  ------  -------  -------")
    for r in rows:
        print(f"{r['workflow']:<{width}}  {r['status']:<6}  {r['seconds']:>7.1f}  {', '.join(r['outputs']) or '-'}")
        if r.get("error"):
            print(f"{'':<{width}}  error: {r['error']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "out")
    ap.add_argument("--url", help="run against this ComfyUI instead of starting the harness one")
    args = ap.parse_args(argv)
    workflows = sorted((REPO / "workflows" / "api").glob("*.json"))
    if args.out.exists():
        shutil.rmtree(args.out)
    if args.url:
        rows = run_all(args.url, workflows, args.out)
    else:
        log_path = cache_dir() / "logs" / "demo-server.log"
        print(f"[demo] starting ComfyUI (log: {log_path})")
        with ComfyServer(harness(), log_path) as server:
            print(f"[demo] ComfyUI ready at {server.url}; running {len(workflows)} workflow(s)")
            rows = run_all(server.url, workflows, args.out)
    print_table(rows)
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} workflows ok; outputs in {args.out}")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
