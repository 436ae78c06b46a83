"""``loadout-requests`` over several servers: requests per minute on 1 and on 3 harness ComfyUI servers of this
machine (their ratio), and model loads with and without affinity.

Three servers (tiny SD1.5, CPU, one CPU thread each, each with its own output folder) start at once.
Throughput: after one warm-up request per server, a batch of THROUGHPUT_N requests of one LoRA set on server 1
alone, then on all three (the CLI's defaults: in order on one server; affinity, 2 in flight each, on several). Affinity: after ComfyUI's caches are
reset (POST /free), a batch of MIXED_N requests alternating two LoRA sets on the three servers, one in flight each,
with ``--routing affinity`` and with ``round-robin``. A model load is a request whose checkpoint loader or LoRA
apply ran instead of coming from ComfyUI's cache (its /history); the servers' "Requested to load" log lines are
counted too. On a machine with fewer cores than servers, the servers share the CPU: the ratio says so.
"""
from __future__ import annotations

import concurrent.futures
import io
import os
import tempfile
import time
from pathlib import Path

from harness.graphs import TINY_SD15
from harness.paths import cache_dir, comfy_suffix, harness
from harness.server import ComfyServer
from loadout.cli.client import ComfyClient
from loadout.cli.run_requests import run_all

THROUGHPUT_N = 12
MIXED_N = 12
# One CPU thread per server: three servers' thread pools on a few cores would otherwise fight (measured on 2 cores
# with torch's default of one thread per core each: 3 servers 0.2x the requests per minute of 1).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
LORA_SETS = (["loadout-tiny-kohya"], [{"name": "loadout-tiny-kohya-b", "weight": 0.8}])


def requests(n: int, tag: str, sets=LORA_SETS) -> list[dict]:
    return [{"prompt": f"{tag} {i}", "model": TINY_SD15, "lora": sets[i % len(sets)], "width": 64, "height": 64,
             "steps": 2, "seed": i, "filename_prefix": f"loadout/bench_batch_{tag}"} for i in range(n)]


def timed(urls, batch, out: Path, **kw) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    rows = run_all(urls, batch, out, quiet=True, resume=False, stream=io.StringIO(), **kw)
    seconds = time.perf_counter() - t0
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        raise RuntimeError(f"{len(bad)} request(s) not ok: {bad[0]['status']}: {bad[0]['error']}")
    return seconds, rows


def requested_to_load(servers) -> int:
    return sum(s.log_text().count("Requested to load") for s in servers)


def reset_caches(servers) -> None:
    """ComfyUI drops its node caches and models (POST /free); its worker does it when it next wakes, at once
    when idle."""
    for s in servers:
        ComfyClient(s.url).post_json("/free", {"unload_models": True, "free_memory": True})
    time.sleep(3)


def run() -> dict:
    h = harness()
    with tempfile.TemporaryDirectory(prefix="loadout-bench-batch-") as tmp:
        root = Path(tmp)
        servers = [ComfyServer(h, cache_dir() / "logs" / f"bench-batch-{i}{comfy_suffix()}.log", env=ONE_THREAD,
                               extra_args=["--output-directory", str(root / f"output-{i}"),
                                           "--temp-directory", str(root / f"temp-{i}")]) for i in range(3)]
        try:
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda s: s.start(timeout=400), servers))
            urls = [s.url for s in servers]
            for i, url in enumerate(urls):  # warm-up: the checkpoint and the LoRA set loaded on each
                timed(url, requests(1, f"warm{i}", LORA_SETS[:1]), root / f"warm{i}")
            one_s, _ = timed(urls[:1], requests(THROUGHPUT_N, "one", LORA_SETS[:1]), root / "one")
            three_s, _ = timed(urls, requests(THROUGHPUT_N, "three", LORA_SETS[:1]), root / "three")
            loads = {}
            for routing in ("affinity", "round-robin"):
                reset_caches(servers)
                log_before = requested_to_load(servers)
                seconds, rows = timed(urls, requests(MIXED_N, routing), root / routing, routing=routing, in_flight=1)
                loads[routing] = {"model_loads": sum(bool(r["model_loaded"]) for r in rows),
                                  "log_requested_to_load": requested_to_load(servers) - log_before,
                                  "seconds": round(seconds, 1)}
        finally:
            for s in servers:
                s.stop()
    one_rpm, three_rpm = THROUGHPUT_N / one_s * 60, THROUGHPUT_N / three_s * 60
    return {
        "requests": THROUGHPUT_N, "servers": 3, "cpu_cores": len(os.sched_getaffinity(0)), "threads_per_server": 1,
        "requests_per_min_1_server": round(one_rpm, 2), "requests_per_min_3_servers": round(three_rpm, 2),
        "ratio_3_vs_1": round(three_rpm / one_rpm, 3),
        "mixed_requests": MIXED_N, "lora_sets": len(LORA_SETS),
        "model_loads_affinity": loads["affinity"]["model_loads"],
        "model_loads_round_robin": loads["round-robin"]["model_loads"],
        "log_requested_to_load_affinity": loads["affinity"]["log_requested_to_load"],
        "log_requested_to_load_round_robin": loads["round-robin"]["log_requested_to_load"],
        "mixed_seconds_affinity": loads["affinity"]["seconds"],
        "mixed_seconds_round_robin": loads["round-robin"]["seconds"],
        "source": "model loads: /history (checkpoint loader or LoRA apply not cached); log: 'Requested to load' lines",
    }

