"""Run "enhanced requests" (the original design's request JSON) on ComfyUI through Loadout's nodes.

    loadout-requests requests.json                                  # ComfyUI at http://127.0.0.1:8188
    loadout-requests requests.json --url http://192.168.1.20:8188 --out out/requests
    loadout-requests request.json --print-graph                     # compile and validate only

The file holds one request object or a list of them (format: the README's "Enhanced requests", and
loadout_cli/request_compiler.py). Each is compiled into an API graph of Loadout and core nodes, checked against
the server's /object_info (a bad request is reported by its field and not sent), and run in order; outputs go to
OUT/<index>/ and OUT/results.json lists every request with its status, prompt id, seconds and files (OUT default:
out/requests under the current folder). Exit status: 0 all ran; 1 a run failed or the server could not be
reached; 2 a request was invalid (the others still run).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
from pathlib import Path

from .client import ComfyClient, PromptFailed, PromptRejected
from .request_compiler import RequestError, compile_request, validate
from .runner import DEFAULT_URL, ProgressPrinter, UsageError, read_json, run_prompt, save_outputs, say, unreachable


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
            say(f"[requests] #{index}: invalid request: {error}")
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
        say(f"[requests] #{index}: {row['status']} in {row['seconds']} s"
            + (f": {row['error']}" if row["error"] else f", {len(row['files'])} file(s)"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def go(url: str, requests: list, args) -> int:
    if args.print_graph:
        compiled = compile_all(requests, ComfyClient(url).object_info())
        for c, error in compiled:
            say(json.dumps(c.graph, indent=1) if c else f"invalid: {error}", sys.stdout)
        return 2 if any(e for _c, e in compiled) else 0
    results = run_all(url, requests, args.out, args.quiet)
    say(f"[requests] {sum(r['status'] == 'ok' for r in results)} of {len(results)} ok; "
        f"results in {args.out / 'results.json'}")
    if any(r["status"] == "failed" for r in results):
        return 1
    return 2 if any(r["status"] == "invalid" for r in results) else 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="loadout-requests", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("requests", type=Path, help="a request JSON object, or a list of them")
    ap.add_argument("--url", default=DEFAULT_URL, help=f"ComfyUI server URL (default {DEFAULT_URL})")
    ap.add_argument("--out", type=Path, default=Path("out") / "requests",
                    help="folder for the outputs and results.json (default out/requests/)")
    ap.add_argument("--print-graph", action="store_true", help="print the compiled API graph(s) and exit")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    requests = load_requests(args.requests)
    try:
        return go(args.url, requests, args)
    except (urllib.error.URLError, ConnectionError) as e:
        say(unreachable("[requests]", args.url, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
