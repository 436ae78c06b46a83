"""Run "enhanced requests" (the original design's request JSON) on ComfyUI through Loadout's nodes.

    python scripts/run_requests.py requests.json                          # starts the harness ComfyUI
    python scripts/run_requests.py requests.json --url http://127.0.0.1:8188 --out out/requests
    python scripts/run_requests.py request.json --print-graph             # compile and validate only

The file holds one request object or a list of them (format: scripts/loadout_harness/request_compiler.py and
the README). Each is compiled into an API graph of Loadout and core nodes, checked against the server's
/object_info (a bad request is reported by its field and not sent), and run in order; outputs go to
OUT/<index>/ and OUT/results.json lists every request with its status, prompt id, seconds and files.
Exit status: 0 all ran; 1 a run failed; 2 a request was invalid (the others still run).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test harness; never the repo root
import harness  # noqa: E402,F401  (defines the ``loadout`` alias for this repo)
from loadout.cli.client import ComfyClient, PromptFailed, PromptRejected
from harness.paths import REPO, cache_dir, harness
from loadout.cli.request_compiler import RequestError, compile_request, validate
from loadout.cli.runner import ProgressPrinter, UsageError, read_json, run_prompt, save_outputs
from harness.server import ComfyServer


def load_requests(path: Path) -> list:
    try:
        data = read_json(path)
    except UsageError as e:
        raise SystemExit(f"[requests] {e}") from None
    return data if isinstance(data, list) else [data]


def default_checkpoint(object_info: dict) -> str | None:
    names = object_info.get("CheckpointLoaderSimple", {}).get("input", {}).get("required", {}) \
        .get("ckpt_name", [[]])[0]
    return names[0] if isinstance(names, list) and len(names) == 1 else None


def compile_all(requests: list, object_info: dict) -> list:
    """[(compiled or None, error or None)] for each request."""
    out = []
    for request in requests:
        try:
            compiled = compile_request(request, default_model=default_checkpoint(object_info))
            validate(compiled, object_info)
            out.append((compiled, None))
        except RequestError as e:
            out.append((None, str(e)))
    return out


def run_all(url: str, requests: list, out_dir: Path, quiet: bool = False) -> list[dict]:
    client = ComfyClient(url, timeout=120)
    object_info = client.object_info()
    results = []
    for index, (request, (compiled, error)) in enumerate(zip(requests, compile_all(requests, object_info))):
        row = {"index": index, "request": request, "status": "invalid" if error else "ok", "error": error,
               "prompt_id": None, "seconds": 0.0, "files": []}
        results.append(row)
        if error:
            print(f"[requests] #{index}: invalid request: {error}", file=sys.stderr)
            continue
        t0 = time.time()
        printer = None if quiet else ProgressPrinter(compiled.graph)
        try:
            result = run_prompt(client, compiled.graph, progress=printer)
        except PromptRejected as e:
            row.update(status="invalid", error=str(e))
        except (PromptFailed, TimeoutError) as e:
            row.update(status="failed", error=str(e))
        else:
            row["prompt_id"] = result.prompt_id
            row["files"] = [str(p) for p in save_outputs(client, result, out_dir / str(index))]
        finally:
            if printer is not None:
                printer.finish()
        row["seconds"] = round(time.time() - t0, 2)
        print(f"[requests] #{index}: {row['status']} in {row['seconds']} s"
              + (f": {row['error']}" if row["error"] else f", {len(row['files'])} file(s)"), file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("requests", type=Path, help="a request JSON object, or a list of them")
    ap.add_argument("--url", help="ComfyUI server URL (default: start the harness ComfyUI)")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "requests")
    ap.add_argument("--print-graph", action="store_true", help="print the compiled API graph(s) and exit")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    requests = load_requests(args.requests)

    def go(url: str) -> int:
        if args.print_graph:
            compiled = compile_all(requests, ComfyClient(url).object_info())
            for c, error in compiled:
                print(json.dumps(c.graph, indent=1) if c else f"invalid: {error}")
            return 2 if any(e for _c, e in compiled) else 0
        results = run_all(url, requests, args.out, args.quiet)
        print(f"[requests] {sum(r['status'] == 'ok' for r in results)} of {len(results)} ok; "
              f"results in {args.out / 'results.json'}", file=sys.stderr)
        if any(r["status"] == "failed" for r in results):
            return 1
        return 2 if any(r["status"] == "invalid" for r in results) else 0

    if args.url:
        return go(args.url)
    with ComfyServer(harness(), cache_dir() / "logs" / "run-requests-server.log") as server:
        return go(server.url)


if __name__ == "__main__":
    sys.exit(main())
