"""Run "enhanced requests" (the original design's request JSON) on ComfyUI through Loadout's nodes.

    loadout-requests requests.json                                  # ComfyUI at http://127.0.0.1:8188
    loadout-requests requests.json --url http://192.168.1.20:8188 --out out/requests
    loadout-requests requests.json --url http://gpu1:8188 --url http://gpu2:8188    # a batch over two servers
    loadout-requests request.json --print-graph                     # compile and validate only

The file holds one request object or a list of them (format: the README's "Enhanced requests", and
loadout_cli/request_compiler.py). Each is compiled into an API graph of Loadout and core nodes, checked against
the server's /object_info (a bad request is reported by its field and not sent), and run in order; outputs go to
OUT/<index>/ and OUT/results.json lists every request with its status, prompt id, seconds and files (OUT default:
out/requests under the current folder), rewritten after each request. A re-run with the same OUT skips the requests
that results.json already has done (matched by a hash of the request) and runs the rest.

With several servers (--url more than once, or --urls-file), up to --in-flight requests are queued on each; a
request goes preferably to the server that last ran its checkpoint and LoRA set (--routing affinity, the default
with several servers; round-robin: in order, to whichever server is free); a server that stops answering is marked
down (probed again every --reprobe seconds) and its requests go to the others. Exit status: 0 all ran; 1 a run
failed, the server could not be reached or requests were left undone (every server down); 2 a request was invalid
(the others still run).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

from .batch import ROUTINGS, BatchProgress, Job, Scheduler, ServerDown, done_rows, job_hashes, write_json_atomic
from .client import ComfyClient, PromptFailed, PromptRejected, PromptTimeout, stopped_answering
from .request_compiler import RequestError, affinity_key, compile_request, model_loaded, validate
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


class NoServer(ConnectionError):
    """No server of the batch answered at the start (each one's reason has been said)."""


class ComfyWorker:
    """One ComfyUI server as a batch worker (cli/batch.py): ``connect`` reads its /object_info and compiles every
    request for it, ``run`` runs one and saves its outputs to OUT/<index>/. No answer from the server (refused,
    reset, timed out) raises ``ServerDown``; an answer (rejected, failed, not finished in time) is the row."""

    def __init__(self, url: str, requests: list, out_dir: Path, timeout: float = 1800, node_progress: bool = False):
        self.name = url
        self.client = ComfyClient(url, timeout=120)
        self.requests = requests
        self.out_dir = out_dir
        self.timeout = timeout
        self.node_progress = node_progress
        self.compiled: list = [(None, "server not reached")] * len(requests)

    def connect(self) -> None:
        try:
            object_info = self.client.object_info()
        except Exception as e:
            if stopped_answering(e):
                raise ServerDown(unreachable("[requests]", self.name, e)) from None
            raise
        self.compiled = compile_all(self.requests, object_info)

    def accepts(self, job: Job) -> bool:
        return self.compiled[job.index][0] is not None

    def error(self, index: int) -> str | None:
        return self.compiled[index][1]

    def run(self, job: Job) -> dict:
        compiled = self.compiled[job.index][0]
        row = {"status": "ok", "error": None, "prompt_id": None, "files": [], "model_loaded": None}
        printer = ProgressPrinter(compiled.graph) if self.node_progress else None
        try:
            result = run_prompt(self.client, compiled.graph, timeout=self.timeout, progress=printer)
            row.update(prompt_id=result.prompt_id, model_loaded=model_loaded(compiled.graph, result.cached_nodes()),
                       files=[str(p) for p in self._save(result, job.index)])
        except PromptRejected as e:
            row.update(status="invalid", error=str(e))
        except (PromptFailed, PromptTimeout) as e:
            row.update(status="failed", error=str(e))
        except Exception as e:
            if stopped_answering(e):
                raise ServerDown(f"{type(e).__name__}: {getattr(e, 'reason', None) or e}") from None
            if isinstance(e, (urllib.error.HTTPError, RuntimeError)):  # an answer: /view 404, /prompt 500, ...
                row.update(status="failed", error=str(e))
            else:
                raise
        finally:
            if printer is not None:
                printer.finish()
        return row

    def _save(self, result, index: int) -> list[Path]:
        """The outputs into OUT/<index>/ through a staging folder: a server lost halfway leaves no partial files."""
        target = self.out_dir / str(index)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".partial-{index}-", dir=self.out_dir))
        try:
            saved = save_outputs(self.client, result, staging)
            target.mkdir(parents=True, exist_ok=True)
            final = []
            for path in saved:
                os.replace(path, target / path.name)
                final.append(target / path.name)
            return final
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def connect_all(workers: list) -> dict[str, str]:
    """Connect every worker at once; {name: reason} of those that did not answer."""
    def one(worker):
        try:
            worker.connect()
        except ServerDown as e:
            return worker.name, str(e)
        return worker.name, None

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(workers)) as pool:
        return {name: reason for name, reason in pool.map(one, workers) if reason is not None}


def new_row(index: int, request, request_hash: str) -> dict:
    return {"index": index, "request": request, "status": "pending", "error": None, "prompt_id": None,
            "seconds": 0.0, "files": [], "hash": request_hash, "server": None, "sent_to": [], "model_loaded": None}


def run_all(urls, requests: list, out_dir: Path, quiet: bool = False, *, in_flight: int | None = None,
            routing: str | None = None, reprobe: float = 30.0, resume: bool = True, timeout: float = 1800,
            stream=None) -> list[dict]:
    """Run ``requests`` on the servers at ``urls`` (one URL or a list); returns the rows of results.json (status
    ok, failed, invalid, or pending: not run, every server that could take it being down). Raises NoServer when no
    server answers. ``in_flight`` defaults to 1 with one server, 2 with several; ``routing`` to affinity
    with several, round-robin (in order) with one."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    in_flight = in_flight or (1 if len(urls) == 1 else 2)
    routing = routing or ("affinity" if len(urls) > 1 else "round-robin")
    results_path = out_dir / "results.json"
    hashes = job_hashes(requests)
    rows = [new_row(i, r, h) for i, (r, h) in enumerate(zip(requests, hashes))]
    previous = done_rows(results_path) if resume else {}
    for row in rows:
        if row["hash"] in previous:
            row.update({k: v for k, v in previous[row["hash"]].items() if k not in ("index", "request")})
    skipped = sum(r["status"] == "ok" for r in rows)
    if skipped:
        say(f"[requests] {skipped} of {len(rows)} already done in {results_path}; running the other "
            f"{len(rows) - skipped}", stream)

    node_progress = not quiet and len(urls) == 1 and in_flight == 1
    workers = [ComfyWorker(url, requests, out_dir, timeout, node_progress) for url in urls]
    down = connect_all(workers)
    for reason in down.values():
        say(reason, stream)
    live = [w for w in workers if w.name not in down]
    if not live:
        raise NoServer(f"none of {len(urls)} server(s) answered")
    jobs = []
    for row in rows:
        if row["status"] == "ok":
            continue
        i = row["index"]
        takers = [w for w in live if w.accepts(Job(i, row["hash"]))]
        if takers:
            jobs.append(Job(i, row["hash"], affinity_key(takers[0].compiled[i][0].graph)))
        else:
            row.update(status="invalid", error=live[0].error(i))
            say(f"[requests] #{i}: invalid request: {row['error']}", stream)
    write_json_atomic(results_path, rows)
    several = len(urls) > 1

    def record(job: Job, result: dict, worker) -> None:
        row = rows[job.index]
        row.update(result, server=worker.name, sent_to=list(job.sent_to),
                   seconds=round(time.time() - job.started, 2))
        write_json_atomic(results_path, rows)

    def line_for(kind, server, job, info) -> str | None:
        if kind == "record":
            row = rows[job.index]
            where = f" on {server.name}" if several else ""
            return (f"[requests] #{job.index}: {row['status']} in {row['seconds']} s{where}"
                    + (f": {row['error']}" if row["error"] else f", {len(row['files'])} file(s)"))
        if kind == "down":
            return f"[requests] {server.name} stopped answering ({info}); marked down, its requests go to the others"
        if kind == "requeue":
            return f"[requests] #{job.index}: back in the queue (was on {server.name})"
        if kind == "up":
            return f"[requests] {server.name} answers again; sending it requests"
        return None

    scheduler = Scheduler(jobs, workers, in_flight=in_flight, routing=routing, reprobe_s=reprobe,
                          on_record=record, down=down)
    progress = BatchProgress(scheduler, line_for, stream=stream, bar=not quiet and not node_progress)
    scheduler.on_event = progress
    left = scheduler.run()
    progress.finish()
    write_json_atomic(results_path, rows)
    if left:
        say(f"[requests] {len(left)} request(s) not run: no server that can take them answers "
            f"({'; '.join(s.down_reason for s in scheduler.servers if not s.up)}); run the same command again "
            f"to continue (the done ones are skipped)", stream)
    return rows


def go(urls: list[str], requests: list, args) -> int:
    if args.print_graph:
        compiled = compile_all(requests, ComfyClient(urls[0]).object_info())
        for c, error in compiled:
            say(json.dumps(c.graph, indent=1) if c else f"invalid: {error}", sys.stdout)
        return 2 if any(e for _c, e in compiled) else 0
    try:
        results = run_all(urls, requests, args.out, args.quiet, in_flight=args.in_flight, routing=args.routing,
                          reprobe=args.reprobe, resume=not args.no_resume, timeout=args.timeout)
    except ValueError as e:  # a results.json that is not one
        say(f"[requests] {e}")
        return 2
    except KeyboardInterrupt:
        say(f"\n[requests] interrupted; the requests done so far are in {args.out / 'results.json'}: run the same "
            "command again to continue")
        return 130
    loads = [r["model_loaded"] for r in results if r.get("model_loaded") is not None]
    say(f"[requests] {sum(r['status'] == 'ok' for r in results)} of {len(results)} ok"
        + (f" ({sum(loads)} model load(s) among the {len(loads)} run)" if len(urls) > 1 and loads else "")
        + f"; results in {args.out / 'results.json'}")
    if any(r["status"] in ("failed", "pending") for r in results):
        return 1
    return 2 if any(r["status"] == "invalid" for r in results) else 0


def read_urls(path: Path) -> list[str]:
    """The URLs in a file, one a line (blank lines and # comments skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise SystemExit(f"[requests] --urls-file {path}: {e.strerror or e}") from None
    urls = [line.split("#", 1)[0].strip() for line in lines]
    return [u for u in urls if u]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="loadout-requests", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("requests", type=Path, help="a request JSON object, or a list of them")
    ap.add_argument("--url", action="append", default=[],
                    help=f"ComfyUI server URL (default {DEFAULT_URL}); repeat it for a batch over several servers")
    ap.add_argument("--urls-file", type=Path, help="a file of server URLs, one a line (# comments), added to --url")
    ap.add_argument("--in-flight", type=int, default=None, metavar="N",
                    help="requests queued on each server at a time (default 1 with one server, 2 with several)")
    ap.add_argument("--routing", choices=ROUTINGS, default=None,
                    help="affinity: a request to the server that last ran its checkpoint and LoRA set (default with "
                         "several servers); round-robin: in order to whichever server is free (default with one)")
    ap.add_argument("--reprobe", type=float, default=30.0, metavar="SECONDS",
                    help="probe a server marked down again every SECONDS while the batch runs (0: never; default 30)")
    ap.add_argument("--no-resume", action="store_true",
                    help="run every request, ignoring the done ones in OUT/results.json")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds a request may take on its server before it counts as failed (default 1800)")
    ap.add_argument("--out", type=Path, default=Path("out") / "requests",
                    help="folder for the outputs and results.json (default out/requests/)")
    ap.add_argument("--print-graph", action="store_true", help="print the compiled API graph(s) and exit")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    return ap


def main(argv=None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    urls = args.url + (read_urls(args.urls_file) if args.urls_file else [])
    urls = list(dict.fromkeys(u.rstrip("/") for u in urls)) or [DEFAULT_URL]
    if args.in_flight is not None and args.in_flight < 1:
        ap.error(f"--in-flight must be at least 1, got {args.in_flight}")
    requests = load_requests(args.requests)
    try:
        return go(urls, requests, args)
    except NoServer:
        return 1  # run_all said which server did not answer, and why
    except urllib.error.URLError as e:
        say(unreachable("[requests]", urls[0], e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
