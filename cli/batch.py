"""A batch of jobs over several servers: the routing of ``loadout-requests --url A --url B ...``.

Pure scheduling (threads and the standard library; nothing here speaks HTTP). A *worker* is one server::

    worker.name          a label (the URL)
    worker.connect()     probe the server and get ready for it; raises ServerDown when it does not answer
    worker.accepts(job)  whether this server can run the job (the request validated against its /object_info)
    worker.run(job)      run the job, return its result row ({"status": "ok" | "failed" | "invalid", ...});
                         raises ServerDown when the server stopped answering

The ``Scheduler`` runs ``in_flight`` threads per server (so at most that many of its jobs are queued on it), each
taking the next job for its server:

- routing ``affinity``: a job with the key (checkpoint + LoRA set) the server last ran; else one whose key no other
  live server holds; else one of the key with the most jobs waiting (a server never idles while work waits).
  ``round-robin``: the waiting jobs dealt to the live servers in turn (job k to server k mod n, as a list split by
  hand), each server running its share in order; dealt again when a server goes down or comes back.
- A ``ServerDown`` marks the server down (it is probed again every ``reprobe_s`` seconds; 0: never) and puts the
  job back in the queue, for another server. A row (an answer: done, failed or rejected) is final: a job the
  server ran and failed on is not sent elsewhere.
- Exactly once: a job is pending, running on one server, or done; it is recorded (``on_record``) once, when it
  becomes done, and a hash recorded once is never recorded again.
- The batch ends when nothing is running and no live server accepts a waiting job (every server down, or the jobs
  left fit only servers that are down): those jobs stay pending, for a re-run.

Resume: ``job_hashes`` gives each request a stable hash (sha256 of its canonical JSON; the n-th repeat of the same
request gets ``.n``), ``done_rows`` reads the rows already done from a previous ``results.json``, which
``write_json_atomic`` rewrites after each request.
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

ROUTINGS = ("affinity", "round-robin")
_PROBE = object()


class ServerDown(Exception):
    """The server stopped answering (no HTTP answer: refused, reset, timed out): the job goes to another server."""


def request_hash(request) -> str:
    """sha256 of the request's canonical JSON (sorted keys, no spaces): the same request, the same hash."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def job_hashes(requests: list) -> list[str]:
    """One stable hash per request; a request repeated in the list gets ``<hash>.2``, ``<hash>.3``, ... so that
    every occurrence runs (and resumes) on its own."""
    seen: collections.Counter = collections.Counter()
    out = []
    for request in requests:
        h = request_hash(request)
        seen[h] += 1
        out.append(h if seen[h] == 1 else f"{h}.{seen[h]}")
    return out


def done_rows(path: Path, done_status: str = "ok") -> dict[str, dict]:
    """{hash: row} of the rows of a previous results file whose status is ``done_status``; {} when there is no
    file. A file that is not a results list is an error naming it (it is not silently overwritten)."""
    try:
        rows = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e}); move it away or pass --no-resume") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path}: not a results list; move it away or pass --no-resume")
    return {r["hash"]: r for r in rows if r.get("status") == done_status and isinstance(r.get("hash"), str)}


def write_json_atomic(path: Path, data) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and ``os.replace``: a reader (or a re-run after
    a crash) sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


@dataclasses.dataclass(eq=False)
class Job:
    index: int
    hash: str
    key: str = ""  # affinity key: jobs with the same key reuse a server's loaded model
    state: str = "pending"  # pending | running | done
    owner: str | None = None  # round-robin: the server it was dealt to
    started: float = 0.0  # time.time() when it was last sent to a server
    sent_to: list = dataclasses.field(default_factory=list)  # worker names, in order


@dataclasses.dataclass(eq=False)
class Server:
    """The scheduler's view of one worker."""
    worker: object
    up: bool = True
    last_key: str | None = None  # the key of the job last sent to it
    running: int = 0
    done: int = 0
    failed: int = 0  # rows whose status is not "ok"
    down_reason: str = ""
    probe_at: float = 0.0

    @property
    def name(self) -> str:
        return self.worker.name


def choose(pending: list, server: Server, servers: list, routing: str = "affinity"):
    """The job ``server`` should take next from ``pending`` (in index order), or None (see the module doc)."""
    candidates = [j for j in pending if server.worker.accepts(j)]
    if not candidates:
        return None
    if routing == "round-robin":
        return next((j for j in candidates if j.owner == server.name), None)
    for j in candidates:
        if j.key == server.last_key:
            return j
    held = {s.last_key for s in servers if s is not server and s.up and s.last_key is not None}
    for j in candidates:
        if j.key not in held:
            return j
    counts = collections.Counter(j.key for j in candidates)
    return max(candidates, key=lambda j: counts[j.key])  # the first job of the biggest pile


def deal(pending: list, servers: list) -> None:
    """Round-robin: the k-th waiting job to the k-th live server (mod their number) that accepts it."""
    live = [s for s in servers if s.up]
    for k, job in enumerate(pending):
        job.owner = None
        for off in range(len(live)):
            server = live[(k + off) % len(live)]
            if server.worker.accepts(job):
                job.owner = server.name
                break


class Scheduler:
    """Runs ``jobs`` on ``workers`` (see the module doc). ``down``: names of workers that did not answer at start
    (probed again like any down server). ``on_record(job, row, worker)`` is called once per finished job, one call at
    a time; ``on_event(kind, server, job, info)`` sees "start", "record", "requeue", "down" and "up"."""

    def __init__(self, jobs: list, workers: list, *, in_flight: int = 1, routing: str = "affinity",
                 reprobe_s: float = 30.0, on_record=None, on_event=None, down: dict | None = None):
        if routing not in ROUTINGS:
            raise ValueError(f"routing {routing!r}: choose one of {', '.join(ROUTINGS)}")
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, got {in_flight}")
        self.jobs = list(jobs)
        self.pending = sorted(self.jobs, key=lambda j: j.index)
        self.servers = [Server(w) for w in workers]
        now = time.monotonic()
        for s in self.servers:
            if down and s.name in down:
                s.up, s.down_reason, s.probe_at = False, down[s.name], now + reprobe_s
        self.in_flight = in_flight
        self.routing = routing
        self.reprobe_s = reprobe_s
        self.on_record = on_record
        self.on_event = on_event
        self.started = time.time()
        self.recorded: set[str] = set()
        self._cond = threading.Condition()
        self._record_lock = threading.Lock()
        self._finished = False
        self._deal()

    def _deal(self) -> None:
        if self.routing == "round-robin":
            deal(self.pending, self.servers)

    # -- the threads -----------------------------------------------------------------------------------------
    def run(self) -> list:
        """Run until the batch ends; returns the jobs left pending (none when every job was recorded)."""
        threads = [threading.Thread(target=self._slot, args=(s, i), daemon=True, name=f"batch-{s.name}-{i}")
                   for s in self.servers for i in range(self.in_flight)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [j for j in self.jobs if j.state != "done"]

    def _slot(self, server: Server, slot: int) -> None:
        while True:
            job = self._next(server, slot)
            if job is None:
                return
            if job is _PROBE:
                self._probe(server)
            else:
                self._run(server, job)

    def _done(self) -> bool:
        """Under the lock: nothing running and no live server accepts a waiting job. Once true, stays true."""
        if not self._finished:
            running = any(s.running for s in self.servers)
            self._finished = not running and not any(
                s.up and s.worker.accepts(j) for j in self.pending for s in self.servers)
        return self._finished

    def _next(self, server: Server, slot: int):
        with self._cond:
            while True:
                if self._done():
                    self._cond.notify_all()
                    return None
                if server.up:
                    job = choose(self.pending, server, self.servers, self.routing)
                    if job is not None:
                        self.pending.remove(job)
                        job.state = "running"
                        job.sent_to.append(server.name)
                        job.started = time.time()
                        server.running += 1
                        server.last_key = job.key
                        self._event("start", server, job)
                        return job
                    self._cond.wait()
                elif slot == 0 and self.reprobe_s > 0:  # the first thread of a down server probes it
                    wait = server.probe_at - time.monotonic()
                    if wait <= 0:
                        return _PROBE
                    self._cond.wait(wait)
                else:
                    self._cond.wait()

    def _probe(self, server: Server) -> None:
        try:
            server.worker.connect()
        except ServerDown as e:
            with self._cond:
                server.down_reason = str(e)
                server.probe_at = time.monotonic() + self.reprobe_s
            return
        with self._cond:
            server.up, server.last_key, server.down_reason = True, None, ""
            self._deal()
            self._event("up", server, None)
            self._cond.notify_all()

    def _run(self, server: Server, job: Job) -> None:
        try:
            row = server.worker.run(job)
        except ServerDown as e:
            with self._cond:
                server.running -= 1
                job.state = "pending"
                bisect.insort(self.pending, job, key=lambda j: j.index)
                if server.up:
                    server.up, server.last_key, server.down_reason = False, None, str(e)
                    server.probe_at = time.monotonic() + self.reprobe_s
                    self._event("down", server, job, str(e))
                self._deal()
                self._event("requeue", server, job, str(e))
                self._cond.notify_all()
            return
        except Exception as e:  # noqa: BLE001 - an unexpected error fails this job, not the whole batch
            row = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        with self._cond:
            server.running -= 1
            first = job.state != "done" and job.hash not in self.recorded
            if first:
                job.state = "done"
                self.recorded.add(job.hash)
                if row.get("status") == "ok":
                    server.done += 1
                else:
                    server.failed += 1
            self._cond.notify_all()
        if first:
            with self._record_lock:
                if self.on_record is not None:
                    self.on_record(job, row, server.worker)
                with self._cond:
                    self._event("record", server, job, row)

    def _event(self, kind: str, server: Server, job, info=None) -> None:
        if self.on_event is not None:
            self.on_event(kind, server, job, info)

    # -- the progress view -----------------------------------------------------------------------------------
    def counts(self) -> dict:
        """{total, done, failed, running, pending} over this run's jobs (under the lock when called from events)."""
        done = sum(s.done for s in self.servers)
        failed = sum(s.failed for s in self.servers)
        running = sum(s.running for s in self.servers)
        return {"total": len(self.jobs), "done": done, "failed": failed, "running": running,
                "pending": len(self.jobs) - done - failed - running}


def short_name(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def format_eta(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class BatchProgress:
    """The batch's progress on ``stream``: a line per event worth a line (``line_for(kind, server, job, info)``
    returns it, or None), and on a terminal one bar kept under them — done / failed / in flight per server and the
    ETA. Not a terminal (or ``bar=False``): the lines only."""

    def __init__(self, scheduler: Scheduler, line_for, prefix: str = "[requests]", stream=None, bar: bool = True):
        self.scheduler = scheduler
        self.line_for = line_for
        self.prefix = prefix
        self.stream = sys.stderr if stream is None else stream
        self.bar = bar and self.stream.isatty()

    def __call__(self, kind: str, server: Server, job, info=None) -> None:
        line = self.line_for(kind, server, job, info)
        if self.bar:
            self.stream.write("\r\x1b[K")
        if line:
            self.stream.write(line + "\n")
        if self.bar:
            self.stream.write(self.render())
        self.stream.flush()

    def render(self) -> str:
        c = self.scheduler.counts()
        finished = c["done"] + c["failed"]
        elapsed = time.time() - self.scheduler.started
        eta = format_eta(elapsed / finished * (c["total"] - finished)) if finished else "?"
        head = f"{self.prefix} {finished}/{c['total']} done ({c['failed']} failed), {c['running']} in flight, ETA {eta}"
        parts = [head]
        for s in self.scheduler.servers:
            state = f"{s.running} in flight, {s.done} ok, {s.failed} failed" if s.up else "down"
            parts.append(f"{short_name(s.name)}: {state}")
        return " | ".join(parts)

    def finish(self) -> None:
        if self.bar:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
