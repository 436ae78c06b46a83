"""Bad inputs that would exhaust memory if unchecked, and the limits and interop rules of issue 17, through the
real server, with the bad-input corpus's conventions (``test_bad_input_corpus.py``): every case ends in a node
error naming the input and the fix (or a documented report), the server stays alive and the good prompt gives the
same pixels afterwards, bit for bit. The memory cases also fail fast with a bounded growth of the server's RSS
(measured with psutil on the server's PID). The stack re-queue and negative ControlNet strength are checked in
this process (``comfy_inprocess``), as no peer pack is installed in the harness."""
import json
import math
import sys
import time
import types

import numpy as np
import psutil
import pytest
import torch
from harness.graphs import TINY_CONTROLNET, TINY_KOHYA, TINY_SD15
from harness.inprocess import run_node
from harness.paths import cache_dir, harness
from test_bad_input_corpus import PRE, SENTINEL, Boom, photo_graph, run_good, texts

RSS_BOUND = 256 * 1024 * 1024  # an unchecked case allocates gigabytes; a refused one next to nothing
SECONDS_BOUND = 30.0
PICKLED_NAME = "loadout-limits-pickle.pt"


@pytest.fixture(scope="module")
def baseline(comfy):
    """The good prompt's pixels, with a ControlNet and a VAE file in place whose pickle would run a command (the
    corpus's ``Boom``) if it were loaded."""
    paths = [harness().models / folder / PICKLED_NAME for folder in ("controlnet", "vae")]
    for path in paths:
        torch.save({"weight": torch.zeros(2), "payload": Boom()}, path)
    yield run_good(comfy)
    for path in paths:
        path.unlink(missing_ok=True)


def strip(node: dict, width: int, height: int, batch: int = 1) -> dict:
    """``node`` on an EmptyImage of width x height (a 1 px strip is a 97-byte PNG, enough to kill an unchecked
    server at resolution 512)."""
    return {**photo_graph(node), "1": {"class_type": "EmptyImage", "inputs": {
        "width": width, "height": height, "batch_size": batch, "color": 0x808080}}}


CANNY = {"class_type": "LoadoutCannyPreprocessor", "inputs": {**PRE, "resolution": 512, "low_threshold": 100,
                                                              "high_threshold": 200, "l2_gradient": False}}
LINEART = {"class_type": "LoadoutLineartPreprocessor", "inputs": {
    **PRE, "resolution": 1024, "mode": "standard", "gaussian_sigma": 6.0, "intensity_threshold": 8.0}}
SCRIBBLE = {"class_type": "LoadoutScribblePreprocessor", "inputs": {
    **PRE, "resolution": 512, "method": "xdog", "threshold": 32, "blur": 3.0}}
MLSD = {"class_type": "LoadoutMLSDPreprocessor", "inputs": {
    **PRE, "resolution": 512, "score": 0.1, "min_length": 10.0, "method": "opencv"}}
HED = {"class_type": "LoadoutHEDPreprocessor", "inputs": {**PRE, "resolution": 512}}
ALL = {"class_type": "LoadoutPreprocessor", "inputs": {**PRE, "resolution": 512, "preprocessor": "canny"}}


def keep_detection(node: dict, resolution: int) -> dict:
    return {**node, "inputs": {**node["inputs"], "resolution": resolution, "output_size": "detection size"}}


def render(keypoints, width=0, height=0) -> dict:
    text = keypoints if isinstance(keypoints, str) else json.dumps(keypoints)
    return {"1": {"class_type": "LoadoutOpenPoseRender", "inputs": {
        "keypoints": text, "width": width, "height": height, "draw_body": True, "draw_hands": True,
        "draw_face": True}}, "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}


def pose(points, **canvas) -> dict:
    return {"people": [{"pose_keypoints_2d": points + [0] * (54 - len(points))}], **canvas}


def tiled_decode(**inputs) -> dict:
    g = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
         "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
         "3": {"class_type": "LoadoutVAEDecodeTiled", "inputs": {
             "samples": ["2", 0], "vae": ["1", 2], "tile_size": 0, "overlap": -1, "memory_budget_mb": 0,
             "batch_slice": 1, "memory_mode": "auto"}},
         "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}}
    g["3"]["inputs"].update(inputs)
    return g


def vae_info(width, height, tile_size) -> dict:
    return {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
            "2": {"class_type": "LoadoutVAEInfo", "inputs": {"vae": ["1", 2], "width": width, "height": height,
                                                             "tile_size": tile_size}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}


def controlnet_named(name) -> dict:
    from harness.graphs import loadout_stack_graph

    g = loadout_stack_graph()
    g["8"]["inputs"]["control_net_name"] = name
    return g


def vae_select_named(name) -> dict:
    return {"1": {"class_type": "LoadoutVAESelect", "inputs": {"mode": "by name", "vae_name": name, "dtype": "auto"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}}}


SIZE = ["'image'", "'resolution'", "8192 px on the long side", "64.0 MP"]
PICKLED = ["holds pickled code", "was refused", ".safetensors"]
ERR, OK, MEM = "error", "ok", "memory"  # MEM: an error that must also come fast with a bounded RSS growth
# id → (graph builder, outcome, substrings the message (or the reports) must contain, substrings it must not)
CASES = {
    # --- huge detection images (item 1): each would be a ~1 Gpx canvas or more ---
    "strip_1x4096_canny": (lambda: strip(CANNY, 4096, 1), MEM, SIZE + ["4096x1 image at resolution 512"], []),
    "strip_4096x1_all_in_one": (lambda: strip(ALL, 1, 4096), MEM, SIZE + ["1x4096 image"], []),
    "strip_2x3000_lineart_at_1024": (lambda: strip(LINEART, 3000, 2), MEM, SIZE, []),
    "strip_1x2048_scribble": (lambda: strip(SCRIBBLE, 2048, 1), MEM, SIZE, []),
    "strip_3x16384_mlsd": (lambda: strip(MLSD, 16384, 3), MEM, SIZE, []),
    "strip_1x8192_hed": (lambda: strip(HED, 1, 8192), MEM, SIZE, []),
    "detection_batch_beyond_256mp": (lambda: strip(keep_detection(CANNY, 8192), 64, 64, batch=5), MEM,
                                     ["'image'", "'resolution'", "batch limit of 256.0 MP"], []),
    "strip_at_the_limit_runs": (lambda: strip(CANNY, 16 * 8, 8), OK, [], []),  # 16:1 at 512: 512x8192, allowed
    # --- huge canvases and bad numbers in OpenPose JSON (items 1 and 4) ---
    "openpose_canvas_9000": (lambda: render(pose([10, 10, 1], canvas_width=9000, canvas_height=512)), MEM,
                             ["'keypoints'", "canvas_width 9000 is outside 1–8192"], []),
    "openpose_canvas_1e30": (lambda: render(pose([10, 10, 1], canvas_width=512, canvas_height=1e30)), MEM,
                             ["'keypoints'", "canvas_height", "outside 1–8192"], []),
    "openpose_canvas_nan": (lambda: render('{"people": [], "canvas_width": NaN, "canvas_height": 512}'), ERR,
                            ["'keypoints'", "canvas_width is nan"], []),
    "openpose_coordinate_1e30": (lambda: render(pose([1e30, 10, 1], canvas_width=512, canvas_height=512)), MEM,
                                 ["'keypoints'", "more than 65536 px from the origin"], ["OverflowError"]),
    "openpose_coordinate_nan": (lambda: render('{"people": [{"pose_keypoints_2d": [NaN, 5, 1]}], '
                                               '"canvas_width": 64, "canvas_height": 64}'), ERR,
                                ["'keypoints'", "nan, not a finite number"], ["cannot convert"]),
    "openpose_coordinate_infinity": (lambda: render('{"people": [{"pose_keypoints_2d": [5, -Infinity, 1]}], '
                                                    '"canvas_width": 64, "canvas_height": 64}'), ERR,
                                     ["'keypoints'", "-inf, not a finite number"], []),
    "openpose_canvas_from_huge_keypoints": (lambda: render(pose([60000, 60000, 1])), MEM,
                                            ["'keypoints'", "beyond the 8192x8192 canvas limit"], []),
    "openpose_100_canvases_of_8192": (lambda: render([pose([10, 10, 1], canvas_width=8192, canvas_height=8192)]
                                                     * 100), MEM, ["'keypoints'", "batch limit of 256.0 MP"], []),
    "openpose_100000_nested_lists": (lambda: render("[" * 100000), ERR, ["'keypoints'"], ["RecursionError"]),
    "openpose_width_beyond_widget": (lambda: render(pose([10, 10, 1], canvas_width=64, canvas_height=64),
                                                    width=9000), ERR, ["'width'", "8192"], []),
    # --- huge tile counts and tile limits (items 5 and 8) ---
    "vae_tile_size_8": (lambda: tiled_decode(tile_size=8), ERR, ["'tile_size'", "multiple of 64"], []),
    "vae_tile_size_100": (lambda: tiled_decode(tile_size=100), ERR, ["'tile_size'", "use 64 or 128"], []),
    "vae_info_65536_tiles": (lambda: vae_info(16384, 16384, 64), OK, ["65536 tiles"], []),
    # --- pickled ControlNet and VAE files (item 4) ---
    "cn_pickled_file": (lambda: controlnet_named(PICKLED_NAME), ERR, ["'control_net_name'", PICKLED_NAME] + PICKLED,
                        ["weights_only", "truncated"]),
    "vae_pickled_file": (lambda: vae_select_named(PICKLED_NAME), ERR, ["'vae_name'", PICKLED_NAME] + PICKLED,
                         ["weights_only", "truncated"]),
}


def test_the_limit_cases_are_enough():
    assert len(CASES) >= 13 and sum(outcome == MEM for _b, outcome, _n, _a in CASES.values()) >= 8


@pytest.mark.allow_log(r".*")
@pytest.mark.parametrize("case", list(CASES))
def test_limit_case_fails_fast_and_the_server_stays_exact(comfy, baseline, case):
    build, outcome, needles, absent = CASES[case]
    server = psutil.Process(comfy.server.proc.pid)
    rss_before, t0 = server.memory_info().rss, time.monotonic()
    if outcome in (ERR, MEM):
        message = str(comfy.run_expecting_error(build()))
    else:
        message = texts(comfy.run(build()))
    seconds, grown = time.monotonic() - t0, server.memory_info().rss - rss_before
    for needle in needles:
        assert needle in message, f"{case}: {needle!r} not in:\n{message[:1500]}"
    for needle in absent:
        assert needle not in message, f"{case}: {needle!r} in:\n{message[:1500]}"
    # what each case cost, for the record (the closing notes quote it): $LOADOUT_CACHE/logs/limit-cases.json
    record = cache_dir() / "logs" / "limit-cases.json"
    seen = json.loads(record.read_text()) if record.exists() else {}
    seen[case] = {"seconds": round(seconds, 2), "rss_growth_mib": round(grown / 2 ** 20, 1)}
    record.write_text(json.dumps(seen, indent=1, sort_keys=True))
    if outcome == MEM:
        assert seconds < SECONDS_BOUND, f"{case}: took {seconds:.1f} s"
        assert grown < RSS_BOUND, f"{case}: the server grew by {grown / 2 ** 20:,.0f} MiB"
    assert not SENTINEL.exists(), "a pickled callable ran"
    assert comfy.client.get_json("/system_stats")["system"]
    assert np.array_equal(run_good(comfy), baseline), f"after {case} the good prompt's output changed"


# --- stacks and schedules: core's nodes are the oracle ---

def _core_sigmas_graph(schedule, core_node, steps, denoise, **params):
    g = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}},
         "2": {"class_type": "LoadoutScheduler", "inputs": {"model": ["1", 0], "schedule": schedule, "steps": steps,
                                                           "denoise": denoise, **params}},
         "3": core_node}
    for src, dst in (("2", "4"), ("3", "5")):
        g[dst] = {"class_type": "LoadoutSigmaPreview", "inputs": {"sigmas_1": [src, 0], "labels": src, "width": 256,
                                                                 "height": 192}}
    return g


CORE_NODES = {
    "sd_turbo": lambda steps, d: {"class_type": "SDTurboScheduler", "inputs": {"model": ["1", 0], "steps": steps,
                                                                               "denoise": d}},
    "ays_sd1": lambda steps, d: {"class_type": "AlignYourStepsScheduler", "inputs": {
        "model_type": "SD1", "steps": steps, "denoise": d}},
    "ays_sdxl": lambda steps, d: {"class_type": "AlignYourStepsScheduler", "inputs": {
        "model_type": "SDXL", "steps": steps, "denoise": d}},
    "gits": lambda steps, d: {"class_type": "GITSScheduler", "inputs": {"coeff": 1.2, "steps": steps, "denoise": d}},
}


@pytest.mark.allow_log(r"'ays_sdxl' is for SDXL; this model is SD1")  # the SDXL schedule on the SD1.5 checkpoint
@pytest.mark.parametrize("denoise", [0.5, 0.6, 0.35, 1.0])
@pytest.mark.parametrize("schedule,steps", [("sd_turbo", 4), ("sd_turbo", 10), ("ays_sd1", 10), ("ays_sdxl", 13),
                                            ("gits", 7), ("gits", 25)])
def test_schedules_claimed_identical_equal_their_core_node_at_every_denoise(comfy, schedule, steps, denoise):
    result = comfy.run(_core_sigmas_graph(schedule, CORE_NODES[schedule](steps, denoise), steps, denoise))
    a, b = (torch.tensor(next(iter(json.loads(result.outputs[k]["text"][0]).values())), dtype=torch.float32)
            for k in ("4", "5"))
    assert a.shape == b.shape and torch.equal(a, b), f"{schedule} {steps} @ {denoise}: ours {a.tolist()} core " \
                                                     f"{b.tolist()}"


@pytest.fixture
def prompt_ids(monkeypatch):
    """The running prompt as ComfyUI's prompt worker publishes it (PromptServer.instance.last_prompt_id)."""
    instance = types.SimpleNamespace(last_prompt_id="prompt-1")
    monkeypatch.setitem(sys.modules, "server", types.SimpleNamespace(PromptServer=types.SimpleNamespace(
        instance=instance)))
    return instance


def efficiency_control_net_stacker(cnet_stack, control_net, image, strength):
    """Efficiency Nodes' Control Net Stacker, as it is: it extends the list it receives in place."""
    cnet_stack = [] if cnet_stack is None else cnet_stack
    cnet_stack.extend([(control_net, image, strength, 0.0, 1.0)])
    return cnet_stack


def test_a_cached_loadout_stack_survives_an_in_place_extender_on_every_requeue(comfy_inprocess, prompt_ids):
    """ComfyUI keeps our stack node's output and hands that object to the peer's stacker whenever the stacker runs
    again (one of its widgets changed): the stack it extends is ours as we made it, every time."""
    from loadout.nodes.controlnet import (
        LoadoutApplyControlNetStack,
        LoadoutControlNetStack,
    )
    from loadout.nodes.lora import LoadoutLoraStack, LoadoutLoraStackFromText

    img = comfy_inprocess["image"]
    cn_out = run_node(LoadoutControlNetStack, control_net_name=TINY_CONTROLNET, image=img, strength=0.8,
                      start_percent=0.0, end_percent=1.0, enabled=True)[0]
    lora_out = run_node(LoadoutLoraStack, lora_name=TINY_KOHYA, model_strength=0.7, clip_strength=0.5,
                        enabled=True, category="")[0]
    text_out = run_node(LoadoutLoraStackFromText, text=f"{TINY_KOHYA}:0.5")[0]
    net = cn_out[0][0]
    for k in range(1, 6):  # five queues, each with the peer's stacker re-run on our cached outputs
        prompt_ids.last_prompt_id = f"prompt-{k}"
        theirs = efficiency_control_net_stacker(cn_out, net, img, 0.1 * k)
        assert [e[2] for e in theirs] == [0.8, pytest.approx(0.1 * k)], f"queue {k}: {theirs}"
        applied = run_node(LoadoutApplyControlNetStack, positive=comfy_inprocess["pos"],
                           negative=comfy_inprocess["neg"], control_net_stack=theirs)
        assert applied[2].count("\n") == 1, applied[2]
        for ours in (lora_out, text_out):
            ours.extend([("peer.safetensors", 1.0, 1.0)])
            assert len(ours) == 2 and ours[0][0] == TINY_KOHYA


def test_the_run_id_is_what_comfyui_sets_for_each_prompt():
    """Pins the seam's reading (nodes/comfy_compat/execution.py): ComfyUI's prompt worker publishes the prompt's
    id on PromptServer.instance.last_prompt_id before it executes the prompt."""
    main = (harness().comfyui / "main.py").read_text()
    assert "server_instance.last_prompt_id = prompt_id" in main
    assert main.index("server_instance.last_prompt_id = prompt_id") < main.index("e.execute(")
    from loadout.nodes.comfy_compat import execution

    assert execution.current_prompt_id() is None or isinstance(execution.current_prompt_id(), str)


def test_a_negative_strength_stack_applies_as_core_does(comfy_inprocess):
    """A Comfyroll CONTROL_NET_STACK may carry -10..10; core's apply applies a negative strength; so do we."""
    from loadout.nodes.controlnet import (
        LoadoutApplyControlNetStack,
        load_controlnet_cached,
    )

    import nodes as core

    net, _ = load_controlnet_cached(TINY_CONTROLNET, "test")
    img, pos, neg = comfy_inprocess["image"], comfy_inprocess["pos"], comfy_inprocess["neg"]
    for strength in (-0.8, -10.0):
        stack = [(net, img, strength, 0.1, 0.9)]  # Comfyroll's form
        out = run_node(LoadoutApplyControlNetStack, positive=pos, negative=neg, control_net_stack=stack)
        want = core.ControlNetApplyAdvanced().apply_controlnet(pos, neg, net, img, strength, 0.1, 0.9)
        for ours, theirs in zip(out[:2], want):
            c_ours, c_theirs = ours[0][1]["control"], theirs[0][1]["control"]
            assert c_ours.strength == c_theirs.strength == strength
            assert c_ours.timestep_percent_range == c_theirs.timestep_percent_range
            assert torch.equal(c_ours.cond_hint_original, c_theirs.cond_hint_original)
        assert f"strength {strength:g}" in out[2]
    with pytest.raises(ValueError, match=r"outside -10–10"):
        run_node(LoadoutApplyControlNetStack, positive=pos, negative=neg, control_net_stack=[(net, img, -10.5)])
    with pytest.raises(ValueError, match=r"outside -10–10"):
        run_node(LoadoutApplyControlNetStack, positive=pos, negative=neg, control_net_stack=[(net, img, math.nan)])
