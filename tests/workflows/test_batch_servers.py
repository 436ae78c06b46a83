"""``loadout-requests`` over three harness ComfyUI servers on 127.0.0.1 (each with its own output and temp folder),
run as a user runs it: model affinity against round-robin (model loads counted from each prompt's /history: the
checkpoint loader or the LoRA apply ran instead of coming from ComfyUI's cache), an interrupted batch resumed, and
one server killed mid-run while the others finish every request exactly once, with the same PNG bytes as the same
requests on one server."""
import collections
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness.graphs import TINY_SD15
from harness.paths import cache_dir, harness
from harness.server import ComfyServer
from loadout.cli.client import ComfyClient

# Three servers on a machine of a few cores: one CPU thread each, or their thread pools fight over the cores.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
LORA_SETS = (["loadout-tiny-kohya"], [{"name": "loadout-tiny-kohya-b", "weight": 0.8}])


def batch_requests(n: int, tag: str) -> list[dict]:
    """``n`` tiny requests alternating two LoRA sets on the tiny SD1.5; request i's prompt is "<tag> <i>"."""
    return [{"prompt": f"{tag} {i}", "model": TINY_SD15, "lora": LORA_SETS[i % 2], "width": 64, "height": 64,
             "steps": 2, "seed": i, "filename_prefix": f"loadout/batch_{tag}"} for i in range(n)]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch-servers")
    h = harness()
    group = [ComfyServer(h, cache_dir() / "logs" / f"pytest-batch-server-{i}.log", env=ONE_THREAD,
                         extra_args=["--output-directory", str(root / f"output-{i}"),
                                     "--temp-directory", str(root / f"temp-{i}")]) for i in range(3)]
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:  # start-up is most of the cost: in parallel
            list(pool.map(lambda s: s.start(timeout=400), group))
    except RuntimeError as e:
        for s in group:
            s.stop()
        pytest.fail(str(e), pytrace=False)
    try:
        yield group
    finally:
        for s in group:
            s.stop()
    bad = [line for s in group for line in s.forbidden_lines()]
    assert not bad, "server logs have forbidden lines:\n" + "\n".join(bad[:20])


def cli(*args) -> list[str]:
    path = Path(sys.executable).parent / "loadout-requests"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make provision` (pip install --no-deps -e .)", pytrace=False)
    return [str(path), *map(str, args)]


def write_requests(tmp_path: Path, requests: list) -> Path:
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    return path


def url_args(group) -> list[str]:
    return [a for s in group for a in ("--url", s.url)]


def results(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())


def history(server) -> dict:
    return ComfyClient(server.url).get_json("/history")


def prompt_text(entry) -> str:
    """The positive prompt of a history entry (the compiled graph's "Positive" CLIPTextEncode)."""
    graph = entry["prompt"][2]
    return next(n["inputs"]["text"] for n in graph.values() if n.get("_meta", {}).get("title") == "Positive")


def wait_idle(group, timeout=300) -> None:
    """Until no server has a prompt running or queued."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        queues = [ComfyClient(s.url).get_json("/queue") for s in group]
        if not any(q["queue_running"] or q["queue_pending"] for q in queues):
            return
        time.sleep(0.5)
    pytest.fail("the servers did not become idle", pytrace=False)


def png(out: Path, index: int) -> bytes:
    files = sorted((out / str(index)).glob("*.png"))
    assert len(files) == 1, f"request {index}: expected one PNG in {out / str(index)}, got {files}"
    return files[0].read_bytes()


def test_affinity_loads_fewer_models_than_round_robin(servers, tmp_path):
    path = write_requests(tmp_path, batch_requests(8, "affinity"))
    loads = {}
    for routing in ("affinity", "round-robin"):
        out = tmp_path / routing
        proc = subprocess.run(cli(path, *url_args(servers), "--in-flight", 1, "--routing", routing, "--out", out),
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr
        rows = results(out)
        assert [r["status"] for r in rows] == ["ok"] * 8
        assert all(isinstance(r["model_loaded"], bool) for r in rows)
        loads[routing] = sum(r["model_loaded"] for r in rows)
        assert f"({loads[routing]} model load(s) among the 8 run)" in proc.stderr
        assert "\r" not in proc.stderr  # not a terminal: no bar, one line per request
        assert sum(line.startswith("[requests] #") for line in proc.stderr.splitlines()) == 8
    print(f"model loads on 8 requests, 2 LoRA sets, 3 servers: {loads}")
    assert loads["affinity"] < loads["round-robin"], loads


def test_an_interrupted_batch_resumes_with_the_requests_not_done(servers, tmp_path):
    requests = batch_requests(6, "resume")
    path, out = write_requests(tmp_path, requests), tmp_path / "out"
    proc = subprocess.Popen(cli(path, *url_args(servers), "--out", out, "--quiet"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if (out / "results.json").is_file() and sum(r["status"] == "ok" for r in results(out)) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)  # interrupted mid-batch
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = results(out)  # written atomically: whole, whatever the moment of the kill
    done = {r["index"]: r["prompt_id"] for r in partial if r["status"] == "ok"}
    assert 2 <= len(done) < 6
    wait_idle(servers)  # what the killed run had in flight finishes on the servers, unrecorded
    before = {s.url: set(history(s)) for s in servers}

    again = subprocess.run(cli(path, *url_args(servers), "--out", out), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert f"[requests] {len(done)} of 6 already done in {out / 'results.json'}; running the other {6 - len(done)}" \
        in again.stderr
    rows = results(out)
    assert [r["status"] for r in rows] == ["ok"] * 6
    assert {i: rows[i]["prompt_id"] for i in done} == done  # the done rows are kept as they were
    ran = sorted(prompt_text(entry) for s in servers for pid, entry in history(s).items() if pid not in before[s.url])
    assert ran == sorted(f"resume {i}" for i in range(6) if i not in done)  # the rest, and only the rest, ran


def test_three_servers_match_one_server_and_finish_every_request_once_when_one_is_killed(servers, tmp_path):
    requests = batch_requests(8, "failover")
    path = write_requests(tmp_path, requests)
    reference = subprocess.run(cli(path, "--url", servers[0].url, "--out", tmp_path / "one"),
                               capture_output=True, text=True, timeout=900)
    assert reference.returncode == 0, reference.stderr
    assert "[requests] #0: ok in" in reference.stderr and " on http" not in reference.stderr  # one server: as before

    victim = servers[2]
    survivors = servers[:2]
    before = {s.url: set(history(s)) for s in survivors}
    out = tmp_path / "three"
    proc = subprocess.Popen(cli(path, *url_args(servers), "--out", out), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if ComfyClient(victim.url).get_json("/queue")["queue_running"]:  # its first request is in flight
                os.kill(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait(timeout=30)
                break
            time.sleep(0.1)
        assert victim.proc.poll() is not None, "the third server never got a request"
        _stdout, stderr = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert f"[requests] {victim.url} stopped answering (" in stderr and "back in the queue" in stderr

    rows = results(out)
    assert [r["index"] for r in rows] == list(range(8)) and [r["status"] for r in rows] == ["ok"] * 8
    moved = [r for r in rows if r["sent_to"][0] == victim.url and len(r["sent_to"]) > 1]
    assert moved and all(r["server"] in (survivors[0].url, survivors[1].url) for r in moved)
    for i in range(8):
        assert png(out, i) == png(tmp_path / "one", i), f"request {i}: not the bytes one server gave"
    # none twice: each request the survivors ran, they ran once; with the victim's, that is all eight
    ran = collections.Counter(prompt_text(entry) for s in survivors for pid, entry in history(s).items()
                              if pid not in before[s.url])
    assert max(ran.values()) == 1, ran
    finished_on_victim = sum(r["server"] == victim.url for r in rows)
    assert len(ran) + finished_on_victim == 8 and set(ran) <= {f"failover {i}" for i in range(8)}
