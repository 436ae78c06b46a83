"""The batch scheduler (cli/batch.py) with fake servers: routing (affinity, round-robin), failover of a server
that stops answering, exactly-once recording, jobs left for a re-run, resume by a stable hash; and how the
request runner tells a server that stopped answering from a request that failed on it."""
import collections
import http.client
import io
import json
import threading
import time
import urllib.error
from pathlib import Path

import pytest
from loadout.cli import run_requests
from loadout.cli.batch import (
    BatchProgress,
    Job,
    Scheduler,
    Server,
    ServerDown,
    choose,
    deal,
    done_rows,
    job_hashes,
    request_hash,
    write_json_atomic,
)
from loadout.cli.client import PromptFailed, PromptRejected, PromptTimeout, RunResult, stopped_answering
from loadout.cli.request_compiler import Compiled, compile_request, model_loaded
from loadout.cli.request_compiler import affinity_key as graph_affinity_key


class Fake:
    """A server: runs a job after ``delay`` s and counts model loads (a job whose key differs from the last one
    it ran). ``dies_at``: it stops answering at its n-th job (0-based) and after; ``fails``: job indices it
    answers 'failed' for; ``takes``: which indices it accepts (None: all)."""

    def __init__(self, name, delay=0.0, dies_at=None, fails=(), takes=None, answers_after=None):
        self.name, self.delay, self.dies_at, self.fails, self.takes = name, delay, dies_at, set(fails), takes
        self.answers_after = answers_after  # connect() fails until this many probes were made
        self.probes = 0
        self.ran, self.loads, self.key = [], 0, None
        self.lock = threading.Lock()

    def connect(self):
        self.probes += 1
        if self.answers_after is not None and self.probes <= self.answers_after:
            raise ServerDown(f"{self.name}: refused")
        self.dies_at = None

    def accepts(self, job):
        return self.takes is None or job.index in self.takes

    def run(self, job):
        time.sleep(self.delay)
        with self.lock:
            if self.dies_at is not None and len(self.ran) >= self.dies_at:
                raise ServerDown(f"{self.name}: connection refused")
            self.ran.append(job.index)
            if job.key != self.key:
                self.loads, self.key = self.loads + 1, job.key
        return {"status": "failed" if job.index in self.fails else "ok", "error": None}


def jobs(n, keys=("x",)):
    return [Job(i, f"h{i}", keys[i % len(keys)]) for i in range(n)]


def run(job_list, workers, **kw):
    recorded = []
    events = []
    s = Scheduler(job_list, workers, on_record=lambda job, row, w: recorded.append((job.index, row["status"], w.name)),
                  on_event=lambda kind, server, job, info: events.append((kind, server.name,
                                                                          job.index if job else None)), **kw)
    left = s.run()
    return s, recorded, events, left


# -- routing -------------------------------------------------------------------------------------------------
def test_affinity_prefers_the_last_key_then_a_key_no_other_server_holds_then_the_biggest_pile():
    a, b, c = (Server(Fake(n)) for n in "abc")
    pending = [Job(0, "h0", "x"), Job(1, "h1", "y"), Job(2, "h2", "y"), Job(3, "h3", "z"), Job(4, "h4", "x")]
    servers = [a, b, c]
    a.last_key = "z"
    assert choose(pending, a, servers).index == 3  # its own key, though not the oldest job
    b.last_key = "x"
    c.last_key = None
    assert choose(pending, c, servers).index == 1  # x is held by b, z by a: y is free
    c.last_key = "y"
    a.last_key = "q"
    assert choose([j for j in pending if j.key != "z"], a, servers).index == 0  # x, y held: take the biggest pile (x:2)
    b.up = False
    assert choose(pending[:1], a, servers).index == 0  # a down server holds nothing
    pending[0].owner = pending[2].owner = "a"
    assert choose(pending, a, servers, "round-robin").index == 0  # its share, in order, keys ignored
    assert choose(pending, c, servers, "round-robin") is None  # c was dealt nothing
    assert choose([], a, servers) is None


def test_a_server_only_gets_the_jobs_it_accepts():
    a = Server(Fake("a", takes={2}))
    assert choose(jobs(4), a, [a]).index == 2
    assert choose(jobs(2), a, [a]) is None


def test_round_robin_deals_the_jobs_in_turn_to_the_live_servers_that_accept_them():
    a, b, c = Server(Fake("a")), Server(Fake("b", takes={0, 1, 2, 3, 4})), Server(Fake("c"))
    pending = jobs(6)
    deal(pending, [a, b, c])
    assert [j.owner for j in pending] == ["a", "b", "c", "a", "b", "c"]
    pending[5].owner = None
    b.up = False
    deal(pending, [a, b, c])
    assert [j.owner for j in pending] == ["a", "c", "a", "c", "a", "c"]
    a.up = c.up = False
    deal(pending, [a, b, c])
    assert all(j.owner is None for j in pending)


def test_round_robin_runs_each_share_in_order_and_a_down_servers_share_goes_to_the_others():
    a, b, c = Fake("a", 0.02), Fake("b", 0.02, dies_at=1), Fake("c", 0.02)
    s, recorded, _, left = run(jobs(9), [a, b, c], routing="round-robin", reprobe_s=0)
    assert not left and sorted(i for i, _, _ in recorded) == list(range(9))
    assert b.ran == [1] and a.ran[:2] == [0, 3] and c.ran[:2] == [2, 5]  # their shares, in order
    assert s.jobs[4].sent_to[0] == "b" and s.jobs[4].sent_to[-1] in ("a", "c")


def test_affinity_loads_fewer_models_than_round_robin():
    loads = {}
    for routing in ("affinity", "round-robin"):
        fakes = [Fake(n, delay=0.01) for n in "abc"]
        _s, recorded, _, left = run(jobs(24, keys=("x", "y")), fakes, routing=routing, in_flight=1)
        assert not left and len(recorded) == 24
        loads[routing] = sum(f.loads for f in fakes)
    # affinity: each server switches only when its key has no job left: at most servers x keys loads;
    # round-robin deals x, y, x, y to 3 servers: each one's share alternates, a load per job
    assert loads["affinity"] <= 6 and loads["round-robin"] == 24, loads


# -- exactly once, failover ----------------------------------------------------------------------------------
def test_every_job_is_recorded_exactly_once_with_bounded_in_flight():
    fakes = [Fake(n, delay=0.005) for n in "abc"]
    peak = collections.Counter()

    def on_event(kind, server, job, info):
        if kind == "start":
            peak[server.name] = max(peak[server.name], server.running)

    recorded = []
    s = Scheduler(jobs(40, keys="pqr"), fakes, in_flight=2, on_event=on_event,
                  on_record=lambda job, row, w: recorded.append(job.index))
    assert s.run() == []
    assert sorted(recorded) == list(range(40))
    assert sorted(i for f in fakes for i in f.ran) == list(range(40))  # each ran once, on one server
    assert max(peak.values()) == 2 and all(f.ran for f in fakes)


def test_a_server_that_stops_answering_is_marked_down_and_its_jobs_run_elsewhere_once():
    a, b, c = Fake("a", 0.01), Fake("b", 0.01, dies_at=1), Fake("c", 0.01)
    s, recorded, events, left = run(jobs(12), [a, b, c], in_flight=2, reprobe_s=0)
    assert not left
    assert sorted(i for i, _, _ in recorded) == list(range(12)) and all(st == "ok" for _, st, _ in recorded)
    assert len(b.ran) == 1
    moved = [j for j in s.jobs if len(j.sent_to) > 1]
    assert moved and all(j.sent_to[0] == "b" and j.sent_to[-1] in ("a", "c") for j in moved)
    assert [e[:2] for e in events if e[0] == "down"] == [("down", "b")]  # marked down once
    assert {j.index for j in moved} == {e[2] for e in events if e[0] == "requeue"}
    assert not s.servers[1].up and [w for _, _, w in recorded].count("b") == 1
    assert "connection refused" in s.servers[1].down_reason


def test_a_failed_answer_is_final_and_not_sent_to_another_server():
    a, b = Fake("a", 0.005, fails={3}), Fake("b", 0.005, fails={3})
    s, recorded, _, left = run(jobs(6), [a, b])
    assert not left and [st for i, st, _ in recorded if i == 3] == ["failed"]
    assert len(s.jobs[3].sent_to) == 1
    assert sum(x.failed for x in s.servers) == 1 and sum(x.done for x in s.servers) == 5


def test_when_every_server_is_down_the_batch_stops_and_leaves_the_rest_pending():
    a, b = Fake("a", 0.005, dies_at=2), Fake("b", 0.005, dies_at=1)
    s, recorded, _, left = run(jobs(10), [a, b], reprobe_s=0)
    assert len(recorded) == 3 and len(left) == 7
    assert {j.index for j in left} | {i for i, _, _ in recorded} == set(range(10))
    assert all(j.state == "pending" for j in left) and not any(x.up for x in s.servers)


def test_jobs_only_a_down_server_accepts_are_left_and_the_others_run():
    a, b = Fake("a", takes={0, 1, 2}), Fake("b", dies_at=0, takes={3, 4})
    _s, recorded, _, left = run(jobs(5), [a, b], reprobe_s=0)
    assert sorted(i for i, _, _ in recorded) == [0, 1, 2] and sorted(j.index for j in left) == [3, 4]


def test_a_server_down_at_the_start_is_probed_again_and_gets_work():
    a, b = Fake("a", 0.02, answers_after=1), Fake("b", 0.02)
    _s, recorded, events, left = run(jobs(30), [a, b], reprobe_s=0.05, down={"a": "a: refused"})
    assert not left and len(recorded) == 30
    assert ("up", "a", None) in events and a.ran and a.probes >= 2


def test_a_duplicate_completion_is_never_recorded_twice():
    """A job already done (e.g. resumed, or a repeat of the same hash) that a server finishes again is dropped."""
    a = Fake("a")
    job_list = [Job(0, "same"), Job(1, "same")]
    s, recorded, _, _left = run(job_list, [a])
    assert len(recorded) == 1 and s.recorded == {"same"} and len(a.ran) == 2


# -- resume --------------------------------------------------------------------------------------------------
def test_request_hashes_are_stable_and_repeats_get_their_own():
    r = {"prompt": "a cat", "seed": 3, "lora": ["a", "b"]}
    assert request_hash(r) == request_hash(json.loads(json.dumps({"seed": 3, "lora": ["a", "b"], "prompt": "a cat"})))
    assert request_hash(r) != request_hash({**r, "seed": 4})
    assert len(request_hash(r)) == 64
    h = job_hashes([r, {"prompt": "x"}, r, r])
    assert h[0] == request_hash(r) and h[2] == f"{h[0]}.2" and h[3] == f"{h[0]}.3" and len(set(h)) == 4


def test_results_are_written_atomically_and_done_rows_are_read_back(tmp_path):
    path = tmp_path / "out" / "results.json"
    assert done_rows(path) == {}
    rows = [{"index": 0, "hash": "a", "status": "ok"}, {"index": 1, "hash": "b", "status": "failed"},
            {"index": 2, "hash": "c", "status": "pending"}]
    write_json_atomic(path, rows)
    assert json.loads(path.read_text()) == rows and [p.name for p in path.parent.iterdir()] == ["results.json"]
    assert done_rows(path) == {"a": rows[0]}
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON.*--no-resume"):
        done_rows(path)
    path.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a results list"):
        done_rows(path)


# -- keys, loads, the progress bar -----------------------------------------------------------------------------
def affinity_key(request: dict) -> str:
    """The key of ``request`` as the batch runner computes it: from its compiled graph."""
    return graph_affinity_key(compile_request(request, default_model="default.safetensors").graph)


def test_the_affinity_key_is_the_checkpoint_and_the_lora_set():
    base = {"prompt": "a", "model": "m.safetensors", "lora": {"models": [{"name": "s", "weight": 0.5}]}}
    assert affinity_key(base) == affinity_key({**base, "prompt": "b", "seed": 9, "steps": 3})
    assert affinity_key(base) != affinity_key({**base, "lora": {"models": [{"name": "s", "weight": 0.6}]}})
    assert affinity_key(base) != affinity_key({**base, "model": "n.safetensors"})
    assert affinity_key({"prompt": "a", "lora": ["s"]}) == affinity_key({"prompt": "a", "lora": {"models": ["s"]}})
    assert affinity_key({"prompt": "a", "lora": {"enabled": False, "models": ["s"]}}) == affinity_key({"prompt": "a"})
    assert affinity_key({"prompt": "a", "checkpoint": "m.safetensors"}) == affinity_key({"prompt": "a",
                                                                                         "model": "m.safetensors"})


def test_a_model_load_is_a_model_node_that_ran_rather_than_came_from_the_cache():
    graph = {"1": {"class_type": "CheckpointLoaderSimple"}, "3": {"class_type": "LoadoutApplyLoraStack"},
             "5": {"class_type": "CLIPTextEncode"}}
    assert model_loaded(graph, {"1", "3"}) is False
    assert model_loaded(graph, {"1"}) is True
    assert model_loaded(graph, set()) is True
    assert model_loaded(graph, None) is None


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_the_bar_shows_per_server_counts_and_eta_on_a_terminal_and_only_lines_elsewhere():
    s = Scheduler(jobs(4), [Fake("http://127.0.0.1:1"), Fake("http://127.0.0.1:2")])
    s.servers[0].done, s.servers[0].running, s.servers[1].up = 2, 1, False
    s.started = time.time() - 10
    tty, plain = Stream(True), Stream(False)
    for stream in (tty, plain):
        BatchProgress(s, lambda *a: "[requests] #0: ok", stream=stream)("record", s.servers[0], s.jobs[0], {})
    assert plain.getvalue() == "[requests] #0: ok\n"
    bar = tty.getvalue().rsplit("\n", 1)[1]
    assert bar == ("[requests] 2/4 done (0 failed), 1 in flight, ETA 10s | 127.0.0.1:1: 1 in flight, 2 ok, 0 failed "
                   "| 127.0.0.1:2: down")
    quiet = Stream(False)
    BatchProgress(s, lambda *a: None, stream=quiet)("start", s.servers[0], s.jobs[0], None)
    assert quiet.getvalue() == ""


# -- the request runner: no answer versus a failed request ---------------------------------------------------
def test_no_answer_is_a_server_down_and_an_answer_is_a_row():
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    for error in (refused, ConnectionResetError(), TimeoutError("timed out"), http.client.RemoteDisconnected("x"),
                  urllib.error.HTTPError("u", 503, "Service Unavailable", {}, None)):
        assert stopped_answering(error), error
    for error in (urllib.error.HTTPError("u", 500, "x", {}, None), urllib.error.HTTPError("u", 404, "x", {}, None),
                  PromptTimeout("slow"), PromptRejected({"error": {"message": "bad"}}), ValueError("x"),
                  PermissionError(13, "Permission denied", "/out/0/a.png")):
        assert not stopped_answering(error), error


def test_the_comfy_worker_raises_server_down_or_returns_the_failed_row(monkeypatch, tmp_path):
    worker = run_requests.ComfyWorker("http://127.0.0.1:9", [{"prompt": "a"}], tmp_path)
    worker.compiled = [(Compiled({"1": {"class_type": "SaveImage", "inputs": {}}}, {}, "1"), None)]
    job = Job(0, "h")
    outcomes = iter([urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
                     PromptFailed("p1", {"node_id": "1", "node_type": "SaveImage", "exception_type": "OSError",
                                         "exception_message": "disk"}),
                     PromptRejected({"error": {"message": "Prompt outputs failed validation", "details": "x"}}),
                     PromptTimeout("prompt p1 did not finish within 5 s")])

    def fake_run_prompt(*a, **kw):
        raise next(outcomes)

    monkeypatch.setattr(run_requests, "run_prompt", fake_run_prompt)
    with pytest.raises(ServerDown, match="Connection refused"):
        worker.run(job)
    assert worker.run(job)["status"] == "failed"
    assert worker.run(job)["status"] == "invalid"
    row = worker.run(job)
    assert row["status"] == "failed" and "did not finish" in row["error"]


def test_outputs_of_a_server_lost_while_saving_leave_no_partial_files(monkeypatch, tmp_path):
    worker = run_requests.ComfyWorker("http://127.0.0.1:9", [{"prompt": "a"}], tmp_path)
    worker.compiled = [(Compiled({"1": {"class_type": "SaveImage", "inputs": {}}}, {}, "1"), None)]
    images = [{"filename": f"b_{i}.png", "subfolder": "", "type": "output"} for i in range(2)]
    result = RunResult("p1", 0.1, {"1": {"images": images}}, {"messages": [["execution_cached", {"nodes": []}]]})
    monkeypatch.setattr(run_requests, "run_prompt", lambda *a, **kw: result)
    fetched = []

    def fetch(file):
        if fetched:
            raise urllib.error.URLError(ConnectionResetError(104, "Connection reset by peer"))
        fetched.append(file)
        return b"png"

    monkeypatch.setattr(worker.client, "fetch", fetch)
    with pytest.raises(ServerDown, match="reset"):
        worker.run(Job(0, "h"))
    assert list(tmp_path.iterdir()) == []  # neither OUT/0/ nor the staging folder
    fetched.clear()
    monkeypatch.setattr(worker.client, "fetch", lambda file: file["filename"].encode())
    row = worker.run(Job(0, "h"))
    assert row["status"] == "ok" and row["model_loaded"] is False  # SaveImage is no model node
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0"]
    assert [Path(f).read_bytes() for f in row["files"]] == [b"b_0.png", b"b_1.png"]


def test_urls_come_from_repeated_flags_and_a_file_and_none_answering_is_status_1(tmp_path, capsys):
    (tmp_path / "urls.txt").write_text("# the farm\nhttp://127.0.0.1:2/\n\nhttp://127.0.0.1:1  # again\n")
    assert run_requests.read_urls(tmp_path / "urls.txt") == ["http://127.0.0.1:2/", "http://127.0.0.1:1"]
    (tmp_path / "r.json").write_text(json.dumps([{"prompt": "a"}]))
    code = run_requests.main([str(tmp_path / "r.json"), "--url", "http://127.0.0.1:1", "--urls-file",
                              str(tmp_path / "urls.txt"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("no ComfyUI answering at") == 2  # :1 given twice counts once
    assert "http://127.0.0.1:1:" in err and "http://127.0.0.1:2:" in err
    with pytest.raises(SystemExit):
        run_requests.main([str(tmp_path / "r.json"), "--in-flight", "0"])
    assert "--in-flight must be at least 1" in capsys.readouterr().err
