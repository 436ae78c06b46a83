"""The GPU suite (bench/gpu/) cannot rot while no GPU is around: its dry run runs every case at toy sizes on the CPU,
through the same runner (one process per case), and must produce the same table shape and result files the GPU
run does, with finite figures and every correctness check of the toy run passing."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "bench" / "gpu" / "suite.py"
RESULTS = REPO / "bench" / "results" / "gpu"
CASES = ("offload_exactness", "offload_speed", "vae_tiled", "preprocessors", "lora_apply")
COLUMNS = ["Case", "Variant", "Setting", "Time", "Peak MiB", "Ratio", "Quality", "Goal", "OK"]
ROW_KEYS = {"case", "variant", "setting", "measure", "time_ms", "peak_mib", "ratio", "ratio_of", "quality", "goal", "ok"}


def _snapshot(folder: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.is_dir() else {}


def _cells(line: str) -> list[str]:
    """The cells of a markdown table line (escaped pipes stay inside their cell)."""
    inner = line.strip()[1:-1].replace("\\|", "\0")
    return [c.strip().replace("\0", "|") for c in inner.split("|")]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-dry-run")
    before = _snapshot(RESULTS)
    proc = subprocess.run([sys.executable, str(SUITE), "--dry-run", "--out", str(out)], capture_output=True,
                          text=True, timeout=800)
    assert _snapshot(RESULTS) == before, "the dry run must not write into bench/results/gpu/"
    return proc, out


def test_the_dry_run_runs_every_case_without_an_error(dry_run):
    proc, out = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    meta = json.loads((out / "suite.json").read_text())
    assert meta["dry_run"] is True and meta["cases"] == list(CASES)
    for name in CASES:
        result = json.loads((out / f"{name}.json").read_text())
        assert result["case"] == name and result["error"] is None, result.get("traceback")
        assert result["rows"], f"{name}: no rows"
        assert meta["status"][name]["status"] == "ran"


def test_every_row_has_the_fields_and_finite_figures(dry_run):
    _proc, out = dry_run
    for name in CASES:
        for r in json.loads((out / f"{name}.json").read_text())["rows"]:
            assert set(r) == ROW_KEYS, r
            assert r["case"] == name and r["variant"] and r["setting"] and r["measure"]
            for key in ("time_ms", "peak_mib"):
                assert isinstance(r[key], (int, float)) and math.isfinite(r[key]) and r[key] >= 0, (name, r)
            skipped = r["quality"].startswith("skipped")
            assert skipped or r["time_ms"] > 0, (name, r)
            assert r["ratio"] is None or (math.isfinite(r["ratio"]) and r["ratio"] >= 0), (name, r)
            assert r["ok"] in (True, False, None)


def test_the_correctness_checks_hold_at_toy_sizes(dry_run):
    """Bit-exact offloading, FP8 within its bound, tiled VAE ≥ 60 dB, LoRA weights equal to core's: a row that
    states a check must pass it (timing goals are not judged in the dry run: they are CPU noise)."""
    _proc, out = dry_run
    failed = [(r["case"], r["variant"], r["quality"]) for name in CASES
              for r in json.loads((out / f"{name}.json").read_text())["rows"] if r["ok"] is False]
    assert not failed, failed
    exact = [r for r in json.loads((out / "offload_exactness.json").read_text())["rows"] if r["goal"] == "bit-exact ×3"]
    assert len(exact) == 8 and all(r["ok"] for r in exact), "fp16/bf16 × offload/sequential × with/without LoRA"
    lora = json.loads((out / "lora_apply.json").read_text())
    assert lora["details"]["patched_weights_identical"] is True


def test_the_table_has_its_shape_and_a_row_per_result_row(dry_run):
    proc, out = dry_run
    text = (out / "summary.md").read_text()
    assert proc.stdout == text, "the table printed is the table written"
    assert "Dry run" in text
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert _cells(lines[0]) == COLUMNS
    assert set(lines[1].replace("|", "")) == {"-"}
    body = [_cells(line) for line in lines[2:]]
    assert all(len(cells) == len(COLUMNS) for cells in body), [c for c in body if len(c) != len(COLUMNS)]
    for name in CASES:
        rows = json.loads((out / f"{name}.json").read_text())["rows"]
        mine = [cells for cells in body if cells[0] == name]
        assert [c[1] for c in mine] == [r["variant"] for r in rows], name
    assert "Case wall times:" in text
