"""The LoRA classes of issue 17's bad inputs, through the real server, run the way the bad-input corpus runs its
cases (``test_bad_input_corpus.py``): each ends in a node error naming the node, the input and what is wrong, or in
a skip the report shows; after each the server is alive and the good prompt gives the same pixels, bit for bit.

Classes: non-finite or out-of-range strengths in every form (text lines, A1111 tags, JSON, widgets and the
multiplier sent through the API), LoRA files with NaN / infinite / overflowing values, files whose tensors have the
right bytes but wrong shapes, names that cannot be files, deeply nested JSON, NFD-typed names, a 5 000-entry stack,
A1111's tag order and named forms, and Apply LoRA stack without a CLIP. The bad files are written into the
harness's LoRA folder at the start and removed at the end."""
import math
import unicodedata

import numpy as np
import pytest
import torch
from harness.graphs import TINY_KOHYA, TINY_SD15
from harness.paths import harness
from safetensors.torch import load_file, save_file
from test_bad_input_corpus import lora_entry, lora_graph, lora_text, run_good, texts

APPLY = "Apply LoRA stack (Loadout)"
TEXT = "LoRA stack from text (Loadout)"
STACK = "LoRA stack (Loadout)"
NFC_NAME = unicodedata.normalize("NFC", "loadout-bad-tést-nfc")
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)


def _nan(t):
    t = t.clone()
    t.view(-1)[0] = math.nan
    return t


def _inf(t):
    t = t.clone()
    t.view(-1)[-1] = math.inf
    return t


def _reshaped_down(t, key):  # [r, n] stored as [2r, n/2]: the same bytes, shapes that cannot be multiplied
    return t.reshape(t.shape[0] * 2, -1) if key.endswith("lora_down.weight") and t.shape[1] % 2 == 0 else t


def _unet_only(edit):
    return lambda t, key: edit(t, key) if key.startswith("lora_unet_") else t


BAD = {  # LoRA file name (no extension) -> how each tensor of the tiny kohya file is changed
    "loadout-bad-nan": lambda t, key: _nan(t) if key.endswith("lora_up.weight") else t,
    "loadout-bad-inf": lambda t, key: _inf(t) if key.endswith("lora_down.weight") else t,
    "loadout-bad-overflow": lambda t, key: t.float() * 1e20 if key.endswith(".weight") else t,  # finite, products not
    "loadout-bad-shapes": _reshaped_down,
    "loadout-bad-shapes-unet": _unet_only(_reshaped_down),
    NFC_NAME: lambda t, key: t,
}


@pytest.fixture(scope="module")
def bad_loras(comfy):
    loras = harness().models / "loras"
    tensors = load_file(str(loras / TINY_KOHYA))
    written = []
    for name, edit in BAD.items():
        path = loras / f"{name}.safetensors"
        save_file({k: edit(v, k).contiguous() for k, v in tensors.items()}, str(path))
        written.append(path)
    yield
    for path in written:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def baseline(comfy, bad_loras):
    return run_good(comfy)


def report_graph(stack_node: dict, clip=True, multiplier=1.0, on_missing="error") -> dict:
    """Checkpoint → stack → Apply LoRA stack → the report in a Preview Any: applies patches, samples nothing."""
    apply = {"model": ["1", 0], "lora_stack": ["2", 0], "multiplier": multiplier, "on_missing": on_missing}
    if clip:
        apply["clip"] = ["1", 1]
    return {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_SD15}}, "2": stack_node,
            "3": {"class_type": "LoadoutApplyLoraStack", "inputs": apply},
            "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 2]}}}


def with_multiplier(graph: dict, multiplier) -> dict:
    graph["3"]["inputs"]["multiplier"] = multiplier
    return graph


ERR, OK = "error", "ok"
LONG = "l" * 300  # over every file system's 255-byte name limit
LONG_WITH_EXT = "l" * 250  # a valid part, 262 bytes once '.safetensors' is added
NESTED = "[" * 100_000
# id → (graph builder, outcome, substrings the error or the run's text outputs must contain)
CASES = {
    # --- non-finite or out-of-range strengths, in every form (refused when queued where the text is known) ---
    "text_line_1e30": (lambda: lora_graph(lora_text(f"{TINY_KOHYA}:1e30")), ERR,
                       [TEXT, "input 'text'", "line 1", "'1e30' is outside -10..10"]),
    "text_line_clip_minus_1e30": (lambda: lora_graph(lora_text(f"{TINY_KOHYA}:0.5:-1e30")), ERR,
                                  [TEXT, "input 'text'", "clip strength '-1e30' is outside"]),
    "tag_1e30": (lambda: lora_graph(lora_text(f"a cat <lora:{TINY_KOHYA}:1e30>")), ERR,
                 [TEXT, "input 'text'", "'1e30' is outside"]),
    "tag_named_unet_minus_1e30": (lambda: lora_graph(lora_text(f"a cat <lora:{TINY_KOHYA}:0.5:unet=-1e30>")), ERR,
                                  [TEXT, "input 'text'", "model strength (unet) '-1e30' is outside"]),
    "json_1e30": (lambda: lora_graph(lora_text('{"models": [{"name": "%s", "weight": 1e30}]}' % TINY_KOHYA)), ERR,
                  [TEXT, "input 'text'", "models[0].weight × global_weight is 1e+30"]),
    "json_1e308_times_global_10": (lambda: lora_graph(lora_text(
        '{"global_weight": 10, "models": [{"name": "%s", "weight": 1e308}]}' % TINY_KOHYA)), ERR,
        [TEXT, "input 'text'", "is inf", "finite"]),
    "entry_times_multiplier_beyond_range": (lambda: with_multiplier(lora_graph(lora_entry(TINY_KOHYA, 10.0, 10.0)),
                                                                    10.0), ERR,
                                            [APPLY, "input 'multiplier'", "entry 1", "= 100, outside -10..10"]),
    "multiplier_nan_via_api": (lambda: with_multiplier(lora_graph(lora_entry(TINY_KOHYA)), math.nan), ERR,
                               [APPLY, "input 'multiplier'", "nan is not a finite number"]),
    "widget_strength_nan_via_api": (lambda: lora_graph(lora_entry(TINY_KOHYA, 0.5, math.nan)), ERR,
                                    [STACK, "input 'clip_strength'", "nan is not a finite number"]),
    # --- files whose values would make the image NaN ---
    "file_with_nan": (lambda: lora_graph(lora_entry("loadout-bad-nan.safetensors")), ERR,
                      [APPLY, "input 'lora_stack'", "entry 1", "loadout-bad-nan.safetensors holds NaN or infinite"]),
    "file_with_inf_even_when_skipping": (lambda: lora_graph(lora_text("loadout-bad-inf:0.5"), "skip and report"), ERR,
                                         [APPLY, "input 'lora_stack'", "loadout-bad-inf.safetensors holds NaN"]),
    "file_overflowing_the_weights": (lambda: lora_graph(lora_text("loadout-bad-overflow:0.5")), ERR,
                                     [APPLY, "input 'lora_stack'", "loadout-bad-overflow", "infinite or NaN"]),
    # --- right bytes, wrong shapes: nothing reported applied that core would not apply ---
    "shapes_do_not_fit": (lambda: lora_graph(lora_text("loadout-bad-shapes:0.5")), ERR,
                          [APPLY, "input 'lora_stack'", "loadout-bad-shapes.safetensors", "120 keys",
                           "shapes that do not fit", "cannot be multiplied", "lora_"]),
    "shapes_skipped_and_listed": (lambda: lora_graph(lora_text("loadout-bad-shapes-unet:0.5"), "skip and report"),
                                  OK, ["loadout-bad-shapes-unet.safetensors", "keys applied: UNet 0, CLIP 72",
                                       "skipped, shapes do not fit the model: 48 keys (lora_unet_"]),
    "shapes_all_skipped": (lambda: lora_graph(lora_text("loadout-bad-shapes:0.5"), "skip and report"), OK,
                           ["0 of 1 applied", "skipped (shapes do not fit)", "120 keys"]),
    # --- names that cannot be files, and text that cannot be read ---
    "name_300_chars": (lambda: lora_graph(lora_text(f"{LONG}:0.5")), ERR,
                       [APPLY, "input 'lora_stack'", "entry 1", "too long for a file name", "skip and report"]),
    "name_300_chars_skipped": (lambda: lora_graph(lora_text(f"{LONG}:0.5\n{TINY_KOHYA}:0.5"), "skip and report"), OK,
                               ["1 of 2 applied", "missing (skipped)", "too long for a file name"]),
    "name_too_long_with_extension_skipped": (lambda: lora_graph(lora_text(f"{LONG_WITH_EXT}:0.5"),
                                                                "skip and report"), OK, ["missing (skipped)"]),
    "json_nested_100000": (lambda: lora_graph(lora_text(NESTED)), ERR, [TEXT, "input 'text'", "nested too deeply"]),
    "tag_dyn_refused": (lambda: lora_graph(lora_text(f"x <lora:{TINY_KOHYA}:1:dyn=8>")), ERR,
                        [TEXT, "input 'text'", "'dyn'", "not supported"]),
    # --- names and A1111's order ---
    "nfd_name_in_text": (lambda: lora_graph(lora_text(f"{NFD_NAME}:0.5")), OK,
                         ["1 of 1 applied", f"{NFC_NAME}.safetensors (kohya)"]),
    "nfd_name_in_widget": (lambda: lora_graph(lora_entry(f"{NFD_NAME}.safetensors")), OK,
                           ["1 of 1 applied", f"{NFC_NAME}.safetensors (kohya)"]),
    "tag_te_then_unet": (lambda: report_graph(lora_text(f"a cat <lora:{TINY_KOHYA}:0.3:0.6>")), OK,
                         ["applied, model 0.6, clip 0.3"]),
    "tag_named_forms": (lambda: report_graph(lora_text(f"a cat <lora:{TINY_KOHYA}:unet=0.25:te=0.75>")), OK,
                        ["applied, model 0.25, clip 0.75"]),
    "stack_of_5000_one_file": (lambda: report_graph(lora_text("\n".join([f"{TINY_KOHYA}:0.001"] * 5000))), OK,
                               ["5000 of 5000 applied", "[2..5000] same as [1] (4999 entries)"]),
    "no_clip_connected": (lambda: report_graph(lora_entry(TINY_KOHYA), clip=False), OK,
                          ["keys applied: UNet 48, CLIP 0; unmatched 0; CLIP keys (no CLIP connected) 216"]),
}


def test_enough_cases():
    assert len(CASES) >= 13, len(CASES)


@pytest.mark.allow_log(r".*")
@pytest.mark.parametrize("case", list(CASES))
def test_bad_lora_input_is_handled_and_the_server_stays_exact(comfy, baseline, case):
    build, outcome, needles = CASES[case]
    offset = len(comfy.server.log_text())
    if outcome == ERR:
        message = str(comfy.run_expecting_error(build()))
        for needle in needles:
            assert needle in message, f"{case}: {needle!r} not in:\n{message[:1500]}"
        assert "Errno" not in message and "Traceback" not in message, message[:1500]
    else:
        text = texts(comfy.run(build()))
        for needle in needles:
            assert needle in text, f"{case}: {needle!r} not in the reports:\n{text[:1500]}"
        assert len(text) < 200_000, f"{case}: a {len(text)}-character report"
    log = comfy.server.log_text()[offset:]
    assert "shapes cannot be multiplied" not in log and "WEIGHT NOT MERGED" not in log, log[-2000:]
    if case == "no_clip_connected":
        assert "matched nothing" not in log, log[-2000:]  # no warning per file for CLIP keys without a CLIP
    assert comfy.client.get_json("/system_stats")["system"]
    assert np.array_equal(run_good(comfy), baseline), f"after {case} the good prompt's output changed"


def test_reported_keys_are_the_patched_keys(comfy, bad_loras):
    """The UNet keys the report counts for a partly mismatched file are what sampling uses: its latent equals a
    CLIP-only application of the intact file (strength 0 on the model)."""
    from harness.graphs import sample_with

    def latent(stack_node, on_missing):
        graph = sample_with(["23", 0], ["23", 1], {
            "22": stack_node, "23": {"class_type": "LoadoutApplyLoraStack", "inputs": {
                "model": ["1", 0], "clip": ["1", 1], "lora_stack": ["22", 0], "multiplier": 1.0,
                "on_missing": on_missing}}}, seed=9, prefix="loadout/lora_shapes")
        return comfy.latent(comfy.run(graph))

    partial = latent(lora_text("loadout-bad-shapes-unet:0.5"), "skip and report")
    clip_only = latent(lora_text(f"{TINY_KOHYA}:0:0.5"), "error")
    assert torch.equal(partial, clip_only)
