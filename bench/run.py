"""Run a benchmark: `python bench/run.py NAME` imports bench/NAME.py, calls its run(), prints the JSON result
and writes bench/results/NAME.json. Without NAME, every bench/*.py (but this file) runs in turn."""
from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))  # the test harness package; never the repo root


def run_one(name: str) -> dict:
    spec = importlib.util.spec_from_file_location(f"loadout_bench_{name}", BENCH / f"{name}.py")
    if spec is None or not (BENCH / f"{name}.py").is_file():
        raise SystemExit(f"no benchmark named {name!r}; have: {', '.join(names())}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.run()
    result = {"bench": name, **result, "host": {"machine": platform.machine(), "python": platform.python_version(),
                                                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


def names() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in {"run"} and not p.stem.startswith("_"))


if __name__ == "__main__":
    for bench_name in (sys.argv[1:] or names()):
        run_one(bench_name)
