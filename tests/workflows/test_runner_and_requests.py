"""The headless runner and the request compiler against the real server (subprocesses, as a user runs them): the
installed commands ``loadout-run`` and ``loadout-requests`` of the test venv (scripts/provision.sh installs the
CLI there with ``pip install --no-deps -e .``), and the dev helper that starts the harness ComfyUI for a run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from harness.graphs import TINY_CONTROLNET, TINY_KOHYA, TINY_SD15
from harness.paths import REPO
from PIL import Image

PHOTO = "loadout_grace_hopper.jpg"
LOCAL_RUN = REPO / "tests" / "harness" / "local_run.py"


def command(name: str) -> Path:
    """The console script ``name`` installed next to this interpreter."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make provision` (it installs the CLI into the venv: "
                    f"pip install --no-deps -e .)", pytrace=False)
    return path


def run_script(name, *args, timeout=900):
    """The product command ``name`` with ``args``, as a user runs it."""
    return subprocess.run([str(command(name)), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_runner_saves_outputs_applies_overrides_and_shows_progress(comfy, tmp_path):
    wf = REPO / "workflows" / "api" / "lora_stack.json"
    first = run_script("loadout-run", wf, "--url", comfy.url, "--out", tmp_path / "a")
    assert first.returncode == 0, first.stderr
    pngs = sorted((tmp_path / "a").glob("*.png"))
    assert len(pngs) == 1 and any((tmp_path / "a").glob("node8_text0.txt"))
    assert "[run] node 5 (KSampler) [" in first.stderr and "4/4" in first.stderr
    again = run_script("loadout-run", wf, "--url", comfy.url, "--out", tmp_path / "b", "--set", "5.seed=43",
                       "--set", "3.text=grainy")
    assert again.returncode == 0, again.stderr
    assert "[run] set 5.seed=43" in again.stderr
    a = np.asarray(Image.open(pngs[0]))
    b = np.asarray(Image.open(next((tmp_path / "b").glob("*.png"))))
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_runner_accepts_a_ui_workflow(comfy, tmp_path):
    result = run_script("loadout-run", REPO / "workflows" / "vae_tiled.json", "--url", comfy.url,
                        "--out", tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("*.png"))


def test_runner_exit_codes_carry_the_node_error_or_the_validation_message(comfy, tmp_path):
    wf = json.loads((REPO / "workflows" / "api" / "lora_stack.json").read_text())
    wf["23"]["inputs"]["on_missing"] = "error"
    wf["20"]["inputs"]["lora_name"] = "None"
    wf["22"]["inputs"]["text"] = "no-such-lora:0.5"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(wf))
    failed = run_script("loadout-run", path, "--url", comfy.url, "--out", tmp_path / "o")
    assert failed.returncode == 1
    assert "[run] node 23 (LoadoutApplyLoraStack) failed:" in failed.stderr and "no-such-lora" in failed.stderr
    bad_set = run_script("loadout-run", path, "--url", comfy.url, "--set", "5.sede=1")
    assert bad_set.returncode == 2 and "has no input 'sede'" in bad_set.stderr
    rejected = run_script("loadout-run", path, "--url", comfy.url, "--set", "5.steps=0")
    assert rejected.returncode == 2 and "rejected" in rejected.stderr and "steps" in rejected.stderr


def test_runner_starts_its_own_comfyui_when_no_url_is_given(tmp_path):
    """The dev helper behind `make run` (tests/harness/local_run.py): the harness ComfyUI for one run."""
    result = subprocess.run([sys.executable, str(LOCAL_RUN), "run",
                             REPO / "workflows" / "api" / "txt2img_memory_monitor.json", "--out", tmp_path, "--quiet"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "starting ComfyUI" in result.stderr and list(tmp_path.glob("*.png"))


REQUEST = {
    "prompt": "a portrait", "negative": "blurry", "model": TINY_SD15,
    "lora": {"enabled": True, "global_weight": 1.5, "models": [{"name": "loadout-tiny-kohya", "weight": 0.6,
                                                               "clip_weight": 0.4, "category": "style"}]},
    "controlnet": [{"type": "canny", "model": TINY_CONTROLNET, "image": PHOTO, "strength": 0.7, "start": 0.0,
                    "end": 0.8, "resolution": 128}],
    "vae": {"name": "baked", "tiled": True, "tile_size": 512}, "scheduler": "DPM++ 2M Karras",
    "steps": 4, "cfg": 5.0, "seed": 21, "width": 64, "height": 64, "batch": 1, "monitor": True,
    "filename_prefix": "loadout/request_full",
}


def oracle_graph():
    """The same generation from core nodes (LoraLoader with the multiplied strengths, ControlNetApplyAdvanced,
    KSampler dpmpp_2m + karras, VAEDecode) and the same Canny preprocessor."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
        "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": TINY_KOHYA,
                                                     "strength_model": 0.6 * 1.5, "strength_clip": 0.4 * 1.5}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a portrait", "clip": ["2", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["2", 1]}},
        "5": {"class_type": "LoadImage", "inputs": {"image": PHOTO}},
        "6": {"class_type": "LoadoutPreprocessor", "inputs": {"preprocessor": "canny", "image": ["5", 0],
                                                              "resolution": 128, "output_size": "input size"}},
        "7": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": TINY_CONTROLNET}},
        "8": {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": ["3", 0], "negative": ["4", 0], "control_net": ["7", 0], "image": ["6", 0],
            "strength": 0.7, "start_percent": 0.0, "end_percent": 0.8}},
        "9": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": {"class_type": "KSampler", "inputs": {
            "model": ["2", 0], "positive": ["8", 0], "negative": ["8", 1], "latent_image": ["9", 0], "seed": 21,
            "steps": 4, "cfg": 5.0, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0}},
        "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["1", 2]}},
        "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "loadout/request_oracle"}},
    }


def test_requests_run_in_order_with_their_results_and_match_core_nodes(comfy, tmp_path):
    """(The photo is in the harness's input folder: `make models` puts it there.)"""
    requests = [REQUEST,
                {"prompt": "a cat", "model": TINY_SD15, "lora": ["loadout-tiny-kohya-b"], "width": 64, "height": 64,
                 "steps": 3, "scheduler": {"schedule": "ays_sd1", "sampler": "euler"}, "seed": 2},
                {"prompt": "a dog", "model": TINY_SD15, "lora": {"models": [{"name": "missing-style"}]},
                 "width": 64, "height": 64, "steps": 2},
                {"prompt": "a fox", "model": TINY_SD15, "width": 64, "height": 64, "steps": 2, "seed": 5}]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    proc = run_script("loadout-requests", path, "--url", comfy.url, "--out", tmp_path / "out", "--quiet")
    assert proc.returncode == 2, proc.stderr  # one invalid request; the others ran
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == ["ok", "ok", "invalid", "ok"]
    assert results[2]["error"].startswith("lora.models[0].name: LoRA 'missing-style' is not in the server's")
    assert results[1]["request"] == requests[1]
    for r in (results[0], results[1], results[3]):
        assert r["prompt_id"] and any(f.endswith(".png") for f in r["files"])
    report = next(f for f in results[0]["files"] if f.endswith(".txt") and "Memory" in Path(f).read_text())
    assert report
    ours = np.asarray(Image.open(next(f for f in results[0]["files"] if f.endswith(".png"))))
    assert np.array_equal(ours, comfy.image(comfy.run(oracle_graph())))


def test_print_graph_compiles_and_validates_without_running(comfy, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({**REQUEST, "controlnet": [{**REQUEST["controlnet"][0], "model": "nope.safetensors"}]}))
    proc = run_script("loadout-requests", path, "--url", comfy.url, "--print-graph")
    assert proc.returncode == 2
    assert "invalid: controlnet[0].model: 'nope.safetensors' is not available on the server" in proc.stdout


def test_requests_list_every_unknown_lora_name_against_the_real_server(comfy, tmp_path):
    """200 LoRA names the server does not have: the result names them all (the first 20 and a count), not just the
    first; the valid request beside it runs (NFD names through the server: tests/reliability/test_bad_input_lora.py)."""
    names = [f"missing-{i}" for i in range(200)]
    requests = [{"prompt": "x", "model": TINY_SD15, "lora": [TINY_KOHYA, *names], "width": 64, "height": 64,
                 "steps": 2},
                {"prompt": "y", "model": TINY_SD15, "lora": [TINY_KOHYA], "width": 64, "height": 64, "steps": 2}]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    proc = run_script("loadout-requests", path, "--url", comfy.url, "--out", tmp_path / "out", "--quiet")
    assert proc.returncode == 2, proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["status"] for r in results] == ["invalid", "ok"], results
    error = results[0]["error"]
    assert error.startswith("lora.models: 200 LoRA names are not in the server's LoRA folders: "
                            "lora.models[1] 'missing-0'"), error
    assert "missing-19'" in error and "and 180 more" in error and len(error) < 2000, error
