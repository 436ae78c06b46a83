"""The GPU suite: every CUDA claim of Loadout checked and measured against ComfyUI core, in one run.

    python bench/gpu/suite.py                  # on the GPU machine (bench/gpu/run_on_device.sh sets it up)
    python bench/gpu/suite.py --dry-run        # every case at toy sizes on the CPU (seconds; part of make test)
    python bench/gpu/suite.py --out DIR --only offload_speed,vae_tiled --budget-s 300

Cases (``bench/gpu/cases/``, in this order): offload_exactness, offload_speed, vae_tiled, preprocessors,
lora_apply. Each runs in its own process (its peak memory is its own; a crash or a hang costs only that case)
under a time limit: its own ``TIMEOUT_S`` and what is left of ``--budget-s`` (default 450 s on the GPU, so the
whole run stays under 8 minutes; a case that would start with less than 20 s left is skipped and says so).

Writes into ``--out`` (default ``bench/results/gpu/``; the dry run's default is ``out/gpu-dry-run/``): one
``<case>.json`` per case (its rows, details and errors), ``suite.json`` (device, versions, each case's status and
wall time) and ``summary.md`` (the summary table, also printed on stdout). Files are rewritten after every case,
so a run cut short keeps what it measured. Exit status 0 when every case ran without an error.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))  # bench/: the package "gpu"

from gpu import common  # noqa: E402
from gpu.cases import ORDER  # noqa: E402

GPU_BUDGET_S = 450.0
DRY_BUDGET_S = 600.0
DRY_CASE_TIMEOUT_S = 240.0
MIN_CASE_S = 20.0
COLUMNS = ("Case", "Variant", "Setting", "Time", "Peak MiB", "Ratio", "Quality", "Goal", "OK")


def case_module(name: str):
    return importlib.import_module(f"gpu.cases.{name}")


# --- one case, in its own process --------------------------------------------------------------------------------
def run_case(name: str, dry_run: bool, json_path: Path, comfyui: str | None) -> int:
    t0 = time.perf_counter()
    result = {"case": name, "dry_run": dry_run, "rows": [], "details": {}, "error": None}
    tmp = Path(tempfile.mkdtemp(prefix=f"loadout-gpu-{name}-"))
    try:
        module = case_module(name)
        result["title"] = module.TITLE
        env = common.setup(dry_run, comfyui, tmp)
        result["env"] = common.device_info(env)
        result["comfyui"] = str(env.comfyui)
        out = module.run(env)
        result["rows"], result["details"] = out["rows"], out.get("details", {})
    except BaseException as e:  # noqa: BLE001 - recorded in the case's JSON, the suite goes on
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()[-6000:]
        print(result["traceback"], file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    common.write_json(json_path, result)
    return 1 if result["error"] else 0


# --- the whole suite ---------------------------------------------------------------------------------------------
def _fmt_time(r: dict) -> str:
    t, unit = r.get("time_ms"), r.get("measure", "ms")
    if not isinstance(t, (int, float)):
        return "–"
    return f"{t:,.1f} {unit}" if t >= 10 else f"{t:.3g} {unit}"


def _fmt_ratio(r: dict) -> str:
    x = r.get("ratio")
    if not isinstance(x, (int, float)):
        return "–"
    return f"{x:.3g}× ({r['ratio_of']})" if r.get("ratio_of") else f"{x:.3g}×"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(results: dict, meta: dict) -> str:
    env = meta.get("env") or {}
    head = (f"Loadout GPU suite — {env.get('device', '?')}, torch {env.get('torch', '?')}"
            f"{', CUDA ' + str(env['cuda']) if env.get('cuda') else ''}, {meta.get('when', '')}, "
            f"{meta.get('wall_s', 0):.0f} s")
    lines = []
    if meta.get("dry_run"):
        lines.append("**Dry run: toy sizes on the CPU. The figures check that every case runs; they are not GPU "
                     "measurements.**")
        lines.append("")
    lines += [f"### {head}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name in meta["cases"]:
        res = results.get(name)
        status = meta["status"].get(name, {})
        if res is None:
            lines.append(f"| {name} | skipped | – | – | – | – | {_cell(status.get('why', 'not run'))} | – | – |")
            continue
        for r in res.get("rows", []):
            ok = {True: "✓", False: "✗"}.get(r.get("ok"), "–")
            peak = r.get("peak_mib")
            lines.append("| " + " | ".join(_cell(c) for c in (
                name, r["variant"], r["setting"], _fmt_time(r), "–" if peak is None else f"{peak:,.0f}",
                _fmt_ratio(r), r.get("quality", ""), r.get("goal", ""), ok)) + " |")
        if res.get("error"):
            lines.append(f"| {name} | ERROR | – | – | – | – | {_cell(res['error'][:300])} | – | ✗ |")
    walls = ", ".join(f"{n} {meta['status'][n].get('wall_s', 0):.0f} s" for n in meta["cases"]
                      if meta["status"].get(n, {}).get("wall_s") is not None)
    lines += ["", f"Case wall times: {walls}."]
    return "\n".join(lines) + "\n"


def run_suite(dry_run: bool, out: Path, only: list[str], budget_s: float, comfyui: str | None,
              in_process: bool = False) -> int:
    out.mkdir(parents=True, exist_ok=True)
    cases = [c for c in ORDER if not only or c in only]
    unknown = sorted(set(only) - set(ORDER))
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; have {list(ORDER)}")
    start = time.perf_counter()
    meta = {"suite": "loadout-gpu", "dry_run": dry_run, "cases": cases, "budget_s": budget_s, "status": {},
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "env": None, "wall_s": 0.0}
    results: dict = {}
    failed = False
    for name in cases:
        left = budget_s - (time.perf_counter() - start)
        limit = min(DRY_CASE_TIMEOUT_S if dry_run else case_module(name).TIMEOUT_S, left)
        if limit < MIN_CASE_S:
            meta["status"][name] = {"status": "skipped", "why": f"time budget: {left:.0f} s of {budget_s:.0f} s left"}
            failed = True
            _write(out, results, meta, start)
            continue
        path = out / f"{name}.json"
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        print(f"[gpu-suite] case {name} (limit {limit:.0f} s)", file=sys.stderr, flush=True)
        if in_process:
            run_case(name, dry_run, path, comfyui)
            status = "ran"
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--case", name, "--json", str(path)]
            cmd += ["--dry-run"] if dry_run else []
            cmd += ["--comfyui", comfyui] if comfyui else []
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            if dry_run:
                env["OMP_NUM_THREADS"] = "1"  # toy tensors: see common.setup
            try:
                proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, timeout=limit, env=env)
                status = "ran" if proc.returncode in (0, 1) else f"exit {proc.returncode}"
            except subprocess.TimeoutExpired:
                status = f"timed out after {limit:.0f} s"
        wall = round(time.perf_counter() - t0, 1)
        res = json.loads(path.read_text()) if path.is_file() else None
        if res is None:
            res = {"case": name, "rows": [], "error": f"the case process gave no result ({status})"}
            common.write_json(path, res)
        results[name] = res
        if res.get("error"):
            failed = True
        meta["env"] = meta["env"] or res.get("env")
        meta["status"][name] = {"status": "error" if res.get("error") else status, "wall_s": wall,
                                "cpu_s": res.get("cpu_s"),
                                "rows": len(res.get("rows", [])), "error": res.get("error")}
        _write(out, results, meta, start)
    text = _write(out, results, meta, start)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 1 if failed else 0


def _write(out: Path, results: dict, meta: dict, start: float) -> str:
    meta["wall_s"] = round(time.perf_counter() - start, 1)
    common.write_json(out / "suite.json", meta)
    text = table(results, meta)
    (out / "summary.md").write_text(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="every case at toy sizes on the CPU")
    ap.add_argument("--out", type=Path, help="result folder (default bench/results/gpu, dry run out/gpu-dry-run)")
    ap.add_argument("--only", default="", help="comma-separated cases to run (default: all)")
    ap.add_argument("--budget-s", type=float, help=f"wall-clock budget of the whole run (default {GPU_BUDGET_S:.0f} s "
                                                   f"on the GPU, {DRY_BUDGET_S:.0f} s dry)")
    ap.add_argument("--comfyui", help="ComfyUI folder (default: $LOADOUT_GPU_COMFYUI, else the harness's)")
    ap.add_argument("--in-process", action="store_true", help="run the cases in this process (debugging)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case:
        return run_case(args.case, args.dry_run, args.json, args.comfyui)
    out = args.out or (common.REPO / ("out/gpu-dry-run" if args.dry_run else "bench/results/gpu"))
    budget = args.budget_s or (DRY_BUDGET_S if args.dry_run else GPU_BUDGET_S)
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    return run_suite(args.dry_run, out.resolve(), only, budget, args.comfyui, args.in_process)


if __name__ == "__main__":
    sys.exit(main())
