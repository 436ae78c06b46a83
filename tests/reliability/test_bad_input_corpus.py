"""The bad-input corpus, through the real server: every entry ends in a node error whose message names the input
and the fix, or in a documented skip shown in a report. After each entry the server is alive and a good prompt
(LoRA stack + ControlNet stack + Loadout scheduler + tiled VAE decode) gives the same pixels as before the
corpus ran, bit for bit. The files the corpus needs are written into the harness at the start and removed."""
import io
import math
import os
import pickle
import uuid
from pathlib import Path

import numpy as np
import pytest
from harness.graphs import TINY_CONTROLNET, TINY_KOHYA, TINY_SD15, TINY_VAE
from harness.graphs import loadout_stack_graph as good_graph
from harness.paths import harness
from PIL import Image

PHOTO = "loadout_grace_hopper.jpg"
SENTINEL = Path(f"/tmp/loadout-pickle-ran-{uuid.uuid4().hex}")
BAD = {  # harness-relative path → writer
    "loras/loadout-bad-truncated.safetensors": "truncated",
    "loras/loadout-bad-corrupt.safetensors": "corrupt",
    "loras/loadout-bad-pickle.pt": "pickle",
    "loras/loadout-bad-link.safetensors": "link",
    "controlnet/loadout-bad-corrupt.safetensors": "corrupt",
    "vae/loadout-bad-truncated.safetensors": "truncated_vae",
}
IMAGES = {"loadout-bad-16bit.png": "16bit", "loadout-bad-gray.png": "gray", "loadout-bad-rgba.png": "rgba"}


class Boom:
    def __reduce__(self):
        return (os.system, (f"touch {SENTINEL}",))


@pytest.fixture(scope="module")
def bad_files(comfy):
    models = harness().models
    written = []
    for rel, kind in BAD.items():
        path = models / rel
        if kind == "truncated":
            data = (models / "loras" / TINY_KOHYA).read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif kind == "truncated_vae":
            data = (models / "vae" / TINY_VAE).read_bytes()
            path.write_bytes(data[: len(data) // 3])
        elif kind == "corrupt":
            path.write_bytes(np.random.default_rng(0).integers(0, 255, 4096, dtype=np.uint8).tobytes())
        elif kind == "pickle":
            path.write_bytes(pickle.dumps({"lora_unet_x.lora_up.weight": Boom()}))
        elif kind == "link":
            path.unlink(missing_ok=True)
            path.symlink_to("/etc/passwd")
        written.append(path)
    inp = harness().base / "input"
    photo = np.asarray(Image.open(inp / PHOTO).convert("RGB").resize((96, 80)))
    for name, kind in IMAGES.items():
        if kind == "16bit":
            Image.fromarray((photo[:, :, 0].astype(np.uint16) * 257)).save(inp / name)
        elif kind == "gray":
            Image.fromarray(photo[:, :, 0]).convert("L").save(inp / name)
        else:
            Image.fromarray(np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)]), "RGBA").save(inp / name)
        written.append(inp / name)
    yield
    for path in written:
        path.unlink(missing_ok=True)


def run_good(comfy) -> np.ndarray:
    """Drop ComfyUI's caches (a barrier prompt makes sure the flag is handled first), then run the good prompt."""
    comfy.client.post_json("/free", {"free_memory": True, "unload_models": True})
    comfy.run({"1": {"class_type": "PreviewAny", "inputs": {"source": f"barrier {uuid.uuid4().hex}"}}})
    return comfy.image(comfy.run(good_graph()))


def photo_graph(node: dict, image=PHOTO) -> dict:
    node = dict(node, inputs={"image": ["1", 0], **node["inputs"]})
    return {"1": {"class_type": "LoadImage", "inputs": {"image": image}}, "2": node,
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}


PRE = {"resolution": 256, "output_size": "input size"}


def lora_graph(stack_node: dict, on_missing="error") -> dict:
    g = good_graph()
    g["2"] = stack_node
    g["3"]["inputs"]["on_missing"] = on_missing
    return g


def lora_entry(name, m=0.7, c=0.5):
    return {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": name, "model_strength": m, "clip_strength": c,
                                                         "enabled": True, "category": ""}}


def lora_text(text):
    return {"class_type": "LoadoutLoraStackFromText", "inputs": {"text": text}}


def replace(node_id, **inputs):
    g = good_graph()
    g[node_id]["inputs"].update(inputs)
    return g


def with_latent_multiplier(mult):
    g = good_graph()
    g["20"] = {"class_type": "LatentMultiply", "inputs": {"samples": ["13", 0], "multiplier": mult}}
    g["14"]["inputs"]["samples"] = ["20", 0]
    return g


def sched_graph(**inputs):
    g = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
         "2": {"class_type": "LoadoutScheduler", "inputs": {"model": ["1", 0], "schedule": "karras", "steps": 4,
                                                           "denoise": 1.0}},
         "3": {"class_type": "LoadoutSigmaPreview", "inputs": {"sigmas_1": ["2", 0], "labels": "", "width": 256,
                                                              "height": 192}}}
    g["2"]["inputs"].update(inputs)
    return g


def preset_graph(name):
    return {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
            "2": {"class_type": "LoadoutSamplerPreset", "inputs": {"model": ["1", 0], "preset": name, "steps": 4,
                                                                  "denoise": 1.0}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 4]}}}


def cn_graph(**inputs):
    g = good_graph()
    g["8"]["inputs"].update(inputs)
    return g


ERR, OK = "error", "ok"
# id → (graph builder, outcome, substrings the error message or the run's text outputs must contain)
CORPUS = {
    # --- LoRA ---
    "lora_missing_file": (lambda: lora_graph(lora_text("no_such_lora:0.5")), ERR, ["no_such_lora", "not found"]),
    "lora_missing_skipped": (lambda: lora_graph(lora_text("no_such_lora:0.5"), "skip and report"), OK,
                             ["no_such_lora", "skipped"]),
    "lora_truncated": (lambda: lora_graph(lora_entry("loadout-bad-truncated.safetensors")), ERR,
                       ["loadout-bad-truncated.safetensors"]),
    "lora_corrupt": (lambda: lora_graph(lora_entry("loadout-bad-corrupt.safetensors")), ERR,
                     ["loadout-bad-corrupt.safetensors"]),
    "lora_pickled_callable": (lambda: lora_graph(lora_entry("loadout-bad-pickle.pt")), ERR,
                              ["loadout-bad-pickle.pt"]),
    "lora_symlink_out_of_folder": (lambda: lora_graph(lora_entry("loadout-bad-link.safetensors")), ERR,
                                   ["loadout-bad-link.safetensors"]),
    "lora_dotdot": (lambda: lora_graph(lora_text("../../../etc/passwd:0.5")), ERR, ["'..'"]),
    "lora_absolute": (lambda: lora_graph(lora_text("/etc/passwd:0.5")), ERR, ["absolute"]),
    "lora_other_architecture": (lambda: lora_graph(lora_entry("loadout-tiny-kohya-c.safetensors")), OK, ["SDXL"]),
    "lora_empty_stack": (lambda: lora_graph(lora_text("")), OK, ["empty"]),
    "lora_strength_at_plus_limit": (lambda: lora_graph(lora_entry(TINY_KOHYA, 10.0, 10.0)), OK, [TINY_KOHYA]),
    "lora_strength_at_minus_limit": (lambda: lora_graph(lora_entry(TINY_KOHYA, -10.0, -10.0)), OK, [TINY_KOHYA]),
    "lora_strength_beyond_limit": (lambda: lora_graph(lora_entry(TINY_KOHYA, 1000.0, 0.5)), ERR, ["model_strength"]),
    "lora_text_syntax": (lambda: lora_graph(lora_text("ok:1\nbad:1:x")), ERR, ["line 2"]),
    "lora_json_wrong_type": (lambda: lora_graph(lora_text('{"enabled": true, "models": [{"name": 5}]}')), ERR,
                             ["name"]),
    # --- VAE ---
    "vae_tile_larger_than_image": (lambda: replace("14", tile_size=4096), OK, ["tile"]),
    "vae_tile_below_minimum": (lambda: replace("14", tile_size=-64), ERR, ["tile_size"]),
    "vae_nan_latent": (lambda: with_latent_multiplier(math.nan), ERR, ["samples", "NaN"]),
    "vae_multiplier_beyond_limit": (lambda: with_latent_multiplier(math.inf), ERR, ["multiplier"]),
    "vae_select_missing_name": (lambda: {**good_graph(), "30": {"class_type": "LoadoutVAESelect", "inputs": {
        "mode": "by name", "vae_name": "None", "dtype": "auto"}}, "31": {"class_type": "PreviewAny", "inputs": {
        "source": ["30", 1]}}}, ERR, ["vae_name"]),
    "vae_select_truncated_file": (lambda: {**good_graph(), "30": {"class_type": "LoadoutVAESelect", "inputs": {
        "mode": "by name", "vae_name": "loadout-bad-truncated.safetensors", "dtype": "auto"}},
        "31": {"class_type": "PreviewAny", "inputs": {"source": ["30", 1]}}}, ERR, ["loadout-bad-truncated"]),
    "vae_auto_without_model": (lambda: {**good_graph(), "30": {"class_type": "LoadoutVAESelect", "inputs": {
        "mode": "auto", "vae_name": "None", "dtype": "auto"}}, "31": {"class_type": "PreviewAny", "inputs": {
        "source": ["30", 1]}}}, ERR, ["'model'"]),
    # --- schedules ---
    "schedule_unknown_name": (lambda: sched_graph(schedule="karas"), ERR, ["schedule", "karas"]),
    "schedule_min_above_max": (lambda: sched_graph(schedule="karras_custom", sigma_min=20.0, sigma_max=1.0), ERR,
                               ["schedule", "sigma_min"]),
    "schedule_gits_one_step": (lambda: sched_graph(schedule="gits", steps=1), ERR, ["GITS", "2 steps"]),
    "schedule_turbo_too_many_steps": (lambda: sched_graph(schedule="sd_turbo", steps=20), ERR, ["1 to 10"]),
    "schedule_empty_preview": (lambda: sched_graph(denoise=0.0), ERR, ["sigmas_1"]),
    "preset_unknown": (lambda: preset_graph("DPM++ 9Z Turbo"), ERR, ["preset", "Accepted", "DPM++ 2M Karras"]),
    "preset_bad_diffusers_argument": (lambda: preset_graph("EulerDiscreteScheduler(prediction_type='v')"), ERR,
                                      ["preset", "supported"]),
    "preset_empty": (lambda: preset_graph("  "), ERR, ["preset", "empty"]),
    # --- ControlNet ---
    "cn_no_net": (lambda: cn_graph(control_net_name="None"), ERR, ["control_net_name", "choose"]),
    "cn_start_after_end": (lambda: cn_graph(start_percent=0.9, end_percent=0.1), ERR, ["start_percent"]),
    "cn_corrupt_file": (lambda: cn_graph(control_net_name="loadout-bad-corrupt.safetensors"), ERR,
                        ["loadout-bad-corrupt.safetensors"]),
    "cn_unknown_name": (lambda: cn_graph(control_net_name="nope.safetensors"), ERR, ["control_net_name"]),
    "cn_strength_beyond_limit": (lambda: cn_graph(strength=11.0), ERR, ["strength"]),
    # --- preprocessors and images ---
    "image_1x1": (lambda: {**photo_graph({"class_type": "LoadoutCannyPreprocessor", "inputs": {
        **PRE, "low_threshold": 100, "high_threshold": 200, "l2_gradient": False}}),
        "1": {"class_type": "EmptyImage", "inputs": {"width": 1, "height": 1, "batch_size": 1, "color": 0}}}, OK, []),
    "image_333x517": (lambda: {**photo_graph({"class_type": "LoadoutLineartPreprocessor", "inputs": {
        **PRE, "mode": "standard", "gaussian_sigma": 6.0, "intensity_threshold": 8.0}}),
        "1": {"class_type": "EmptyImage", "inputs": {"width": 333, "height": 517, "batch_size": 2, "color": 77}}},
        OK, []),
    "image_rgba": (lambda: photo_graph({"class_type": "LoadoutHEDPreprocessor", "inputs": PRE},
                                       "loadout-bad-rgba.png"), OK, []),
    "image_grayscale": (lambda: photo_graph({"class_type": "LoadoutMLSDPreprocessor", "inputs": {
        **PRE, "score": 0.1, "min_length": 10.0, "method": "opencv"}}, "loadout-bad-gray.png"), OK, []),
    "image_16bit": (lambda: photo_graph({"class_type": "LoadoutScribblePreprocessor", "inputs": {
        **PRE, "method": "xdog", "threshold": 32, "blur": 3.0}}, "loadout-bad-16bit.png"), OK, []),
    "lineart_anime_without_weights": (lambda: photo_graph({"class_type": "LoadoutLineartPreprocessor", "inputs": {
        **PRE, "mode": "anime", "gaussian_sigma": 6.0, "intensity_threshold": 8.0}}), ERR, ["netG.pth", "annotators"]),
    "depth_unknown_model": (lambda: photo_graph({"class_type": "LoadoutDepthPreprocessor", "inputs": {
        **PRE, "model": "no-such-model"}}), ERR, ["model"]),
    "canny_thresholds_swapped": (lambda: photo_graph({"class_type": "LoadoutCannyPreprocessor", "inputs": {
        **PRE, "low_threshold": 250, "high_threshold": 10, "l2_gradient": False}}), ERR, ["low_threshold"]),
    "openpose_json_not_json": (lambda: {"1": {"class_type": "LoadoutOpenPoseRender", "inputs": {
        "keypoints": "{not json", "width": 0, "height": 0, "draw_body": True, "draw_hands": True,
        "draw_face": True}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}, ERR,
        ["keypoints", "not JSON"]),
    "openpose_json_empty_list": (lambda: {"1": {"class_type": "LoadoutOpenPoseRender", "inputs": {
        "keypoints": "[]", "width": 0, "height": 0, "draw_body": True, "draw_hands": True, "draw_face": True}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}, ERR, ["keypoints", "empty"]),
    "resolution_below_minimum": (lambda: photo_graph({"class_type": "LoadoutHEDPreprocessor", "inputs": {
        "resolution": 32, "output_size": "input size"}}), ERR, ["resolution"]),
    "all_in_one_unknown": (lambda: photo_graph({"class_type": "LoadoutPreprocessor", "inputs": {
        **PRE, "preprocessor": "teleport"}}), ERR, ["preprocessor"]),
    "wrong_type_link": (lambda: {**good_graph(), "10": {"class_type": "LoadoutScheduler", "inputs": {
        "model": ["4", 0], "schedule": "karras", "steps": 3, "denoise": 1.0}}}, ERR, ["model"]),
}


def texts(result) -> str:
    return "\n".join(t for out in result.outputs.values() for t in out.get("text", []) if isinstance(t, str))


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40, len(CORPUS)


@pytest.fixture(scope="module")
def baseline(comfy, bad_files):
    return run_good(comfy)


@pytest.mark.allow_log(r".*")
@pytest.mark.parametrize("case", list(CORPUS))
def test_bad_input_is_handled_and_the_server_stays_exact(comfy, baseline, case):
    build, outcome, needles = CORPUS[case]
    if outcome == ERR:
        message = str(comfy.run_expecting_error(build()))
        for needle in needles:
            assert needle in message, f"{case}: {needle!r} not in:\n{message[:1500]}"
    else:
        text = texts(comfy.run(build()))
        for needle in needles:
            assert needle in text, f"{case}: {needle!r} not in the reports:\n{text[:1500]}"
    assert not SENTINEL.exists(), "a pickled callable ran"
    assert comfy.client.get_json("/system_stats")["system"]
    assert np.array_equal(run_good(comfy), baseline), f"after {case} the good prompt's output changed"
