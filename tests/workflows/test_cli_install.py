"""The CLI as a user installs it: a fresh venv (no torch, numpy or Pillow), ``pip install --no-deps -e <repo>``,
then the console commands ``loadout-run`` and ``loadout-requests`` against the session's ComfyUI.

It shows the packaging (only ``loadout_cli`` is installed: the pack's root ``__init__.py``, ``nodes/``, ``core/``...
never become importable, so ``nodes`` cannot shadow ComfyUI's ``nodes.py``), that the commands run on the standard
library alone (polled, without websocket-client), and that with websocket-client (the ``cli`` extra) they show
live progress. Needs PyPI for pip's build backend (setuptools) and websocket-client."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from harness.graphs import TINY_SD15
from harness.paths import REPO
from harness.server import free_port

WORKFLOW = REPO / "workflows" / "api" / "lora_stack.json"
REQUEST = {"prompt": "a fox", "model": TINY_SD15, "width": 64, "height": 64, "steps": 2, "seed": 5}


class Venv:
    def __init__(self, root: Path):
        self.root = root
        self.bin = root / "venv" / "bin"
        self.work = root / "work"  # the commands' working folder: never the repo, so nothing leaks onto sys.path
        self.work.mkdir(exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}

    def run(self, *args, timeout=600):
        return subprocess.run([*map(str, args)], capture_output=True, text=True, timeout=timeout, env=self.env,
                              cwd=self.work)

    def pip(self, *args):
        proc = self.run(self.bin / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q", *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def python(self, code: str):
        return self.run(self.bin / "python", "-c", code)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    v = Venv(tmp_path_factory.mktemp("cli-venv"))
    made = v.run(sys.executable, "-m", "venv", v.root / "venv")
    assert made.returncode == 0, made.stderr
    v.pip("--no-deps", "-e", REPO)
    return v


def test_the_install_holds_only_loadout_cli_and_its_two_commands(venv):
    for name in ("loadout-run", "loadout-requests"):
        helped = venv.run(venv.bin / name, "--help")
        assert helped.returncode == 0 and f"usage: {name}" in helped.stdout, helped.stderr
    as_module = venv.run(venv.bin / "python", "-m", "loadout_cli.run_workflow", "--help")
    assert as_module.returncode == 0 and "--set NODE_ID.INPUT=VALUE" in as_module.stdout, as_module.stderr
    probe = venv.python(
        "import importlib.util as u, importlib.metadata as m, json, sys, loadout_cli.run_workflow, "
        "loadout_cli.run_requests\n"
        "print(json.dumps({'origin': u.find_spec('loadout_cli').origin,\n"
        "  'others': {n: u.find_spec(n) is not None for n in ('nodes', 'core', 'vram', 'preprocessors', 'cli',"
        " 'loadout', 'harness')},\n"
        "  'heavy': sorted(n for n in sys.modules if n.split('.')[0] in ('numpy', 'torch', 'PIL', 'websocket')),\n"
        "  'top_level': m.distribution('comfyui-loadout').read_text('top_level.txt').split(),\n"
        "  'requires': m.requires('comfyui-loadout')}))")
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["origin"] == str(REPO / "cli" / "__init__.py")
    assert found["others"] == dict.fromkeys(found["others"], False)
    assert found["heavy"] == [] and found["top_level"] == ["loadout_cli"]
    assert 'websocket-client>=1.7; extra == "cli"' in found["requires"]


def test_a_wheel_of_the_repo_carries_only_the_cli(venv):
    built = venv.run(venv.bin / "python", "-m", "pip", "wheel", "--disable-pip-version-check", "-q", "--no-deps",
                     "-w", venv.root / "wheels", REPO)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (venv.root / "wheels").glob("comfyui_loadout-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"loadout_cli"}
    assert {f"loadout_cli/{p.name}" for p in (REPO / "cli").glob("*.py")} <= set(names)
    assert "loadout-run = loadout_cli.run_workflow:main" in entry_points
    assert "loadout-requests = loadout_cli.run_requests:main" in entry_points


def test_the_installed_commands_run_against_comfyui_polled_then_with_live_progress(venv, comfy):
    polled = venv.run(venv.bin / "loadout-run", WORKFLOW, "--url", comfy.url)  # default --out: ./out/run/lora_stack
    assert polled.returncode == 0, polled.stderr
    out = venv.work / "out" / "run" / "lora_stack"
    assert len(list(out.glob("*.png"))) == 1 and (out / "node8_text0.txt").is_file()
    assert sorted(venv.work / line for line in polled.stdout.splitlines()) == sorted(out.iterdir())
    assert "[run] done in" in polled.stderr and "[run] node 5 (KSampler) [" not in polled.stderr  # no websocket

    (venv.work / "request.json").write_text(json.dumps(REQUEST))
    requested = venv.run(venv.bin / "loadout-requests", "request.json", "--url", comfy.url, "--quiet")
    assert requested.returncode == 0, requested.stderr
    (row,) = json.loads((venv.work / "out" / "requests" / "results.json").read_text())
    assert row["status"] == "ok" and row["prompt_id"] and any(f.endswith(".png") for f in row["files"])
    assert all((venv.work / f).is_file() for f in row["files"])

    venv.pip("websocket-client>=1.7")  # what the `cli` extra adds
    live = venv.run(venv.bin / "loadout-run", WORKFLOW, "--url", comfy.url, "--out", venv.root / "live",
                    "--set", "5.seed=43", "--set", "5.steps=2")  # a new prompt (nothing cached), kept short
    assert live.returncode == 0, live.stderr
    assert "[run] node 5 (KSampler) [" in live.stderr and "2/2" in live.stderr
    assert "[run] set 5.seed=43" in live.stderr and list((venv.root / "live").glob("*.png"))


def test_an_absent_server_is_one_line_and_exit_status_1(venv, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    ran = venv.run(venv.bin / "loadout-run", WORKFLOW, "--url", url, "--quiet")
    assert ran.returncode == 1 and f"[run] no ComfyUI answering at {url}:" in ran.stderr
    assert "Traceback" not in ran.stderr
    (tmp_path / "r.json").write_text(json.dumps(REQUEST))
    requested = venv.run(venv.bin / "loadout-requests", tmp_path / "r.json", "--url", url)
    assert requested.returncode == 1 and f"[requests] no ComfyUI answering at {url}:" in requested.stderr
    assert "Traceback" not in requested.stderr
