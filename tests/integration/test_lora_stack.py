"""LoRA stack nodes through the real server, against core LoraLoader as the oracle."""
import re
import shutil
import time

import pytest
import torch
from harness.graphs import TINY_KOHYA, TINY_PEFT, core_lora_chain, sample_with
from harness.paths import harness
from safetensors.torch import load_file, save_file

KOHYA_B = "loadout-tiny-kohya-b.safetensors"
KOHYA_C = "loadout-tiny-kohya-c.safetensors"


def apply_node(stack_ref, multiplier=1.0, on_missing="error", clip=True):
    inputs = {"model": ["1", 0], "lora_stack": stack_ref, "multiplier": multiplier, "on_missing": on_missing}
    if clip:
        inputs["clip"] = ["1", 1]
    return {"class_type": "LoadoutApplyLoraStack", "inputs": inputs}


def text_stack(text, stack_ref=None):
    inputs = {"text": text}
    if stack_ref:
        inputs["lora_stack"] = stack_ref
    return {"class_type": "LoadoutLoraStackFromText", "inputs": inputs}


def report_of(result, node_id="23"):
    return result.outputs[node_id]["text"][0]


@pytest.mark.allow_log(r"metadata says it was trained for SDXL")  # kohya-c's metadata: a warning in the report
def test_stack_of_three_with_multiplier_equals_chained_core_loaders(comfy):
    ours = sample_with(["23", 0], ["23", 1], {
        "20": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": TINY_KOHYA, "model_strength": 0.8,
                                                            "clip_strength": 0.6, "enabled": True,
                                                            "category": "style"}},
        "21": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": KOHYA_B, "model_strength": -0.4,
                                                            "clip_strength": 0.3, "enabled": True, "category": "",
                                                            "lora_stack": ["20", 0]}},
        "22": text_stack("loadout-tiny-kohya-c:0.5:0.25", ["21", 0]),
        "23": apply_node(["22", 0], multiplier=1.5),
    }, seed=3, prefix="loadout/lora_ours")
    core_nodes, model_ref, clip_ref = core_lora_chain(
        [(TINY_KOHYA, 0.8 * 1.5, 0.6 * 1.5), (KOHYA_B, -0.4 * 1.5, 0.3 * 1.5), (KOHYA_C, 0.5 * 1.5, 0.25 * 1.5)])
    core = sample_with(model_ref, clip_ref, core_nodes, seed=3, prefix="loadout/lora_core")
    plain = sample_with(["1", 0], ["1", 1], {}, seed=3, prefix="loadout/lora_plain")
    ours_result = comfy.run(ours)
    ours_latent = comfy.latent(ours_result)
    core_latent = comfy.latent(comfy.run(core))
    assert torch.equal(ours_latent, core_latent), (ours_latent - core_latent).abs().max()
    assert not torch.equal(ours_latent, comfy.latent(comfy.run(plain)))
    report = report_of(ours_result)
    assert report.startswith("LoRA stack: 3 of 3 applied, multiplier 1.5")
    assert report.count("keys applied: UNet 48, CLIP 72; unmatched 0") == 3
    assert "model 1.2, clip 0.9" in report and "model -0.6, clip 0.45" in report
    assert "metadata says it was trained for SDXL, the model is SD1" in report  # kohya-c's metadata
    assert "trigger words: tinystyle" in report and "trigger words: brightstyle" in report


def test_peft_file_applies_fully_and_equals_the_kohya_file(comfy):
    """The PEFT file holds the kohya file's tensors: through Loadout both must give the same latent, while
    core's LoraLoader misses the PEFT file's 32 attention projections."""
    results = {}
    for name in (TINY_KOHYA, TINY_PEFT, "loadout-tiny-diffusers"):
        graph = sample_with(["23", 0], ["23", 1], {"22": text_stack(f"{name}:0.9:0.7"), "23": apply_node(["22", 0])},
                            seed=4, prefix="loadout/lora_fmt")
        results[name] = comfy.run(graph)
    latents = {k: comfy.latent(v) for k, v in results.items()}
    assert torch.equal(latents[TINY_KOHYA], latents[TINY_PEFT])
    assert torch.equal(latents[TINY_KOHYA], latents["loadout-tiny-diffusers"])
    peft_report = report_of(results[TINY_PEFT])
    assert "(diffusers/PEFT)" in peft_report and "keys applied: UNet 48, CLIP 72; unmatched 0" in peft_report
    assert "pytorch_lora_weights.safetensors" in report_of(results["loadout-tiny-diffusers"])


def test_model_only_and_strength_zero_reads_nothing(comfy):
    graph = sample_with(["23", 0], ["1", 1], {
        "22": text_stack(f"{TINY_KOHYA}:0.7\nnot-a-file:0"),
        "23": apply_node(["22", 0], clip=False)}, seed=5, prefix="loadout/lora_modelonly")
    report = report_of(comfy.run(graph))
    assert "[1] loadout-tiny-kohya.safetensors: applied, model 0.7, clip 0" in report
    assert "[2] not-a-file: skipped (strength 0)" in report


@pytest.mark.allow_log(r"no_such_lora: missing \(skipped\)")  # the report warns about the missing file
def test_missing_file_policies(comfy):
    stack = {"22": text_stack(f"{TINY_KOHYA}:0.5\nno_such_lora:0.5")}
    skip = sample_with(["23", 0], ["23", 1], dict(stack, **{"23": apply_node(["22", 0], on_missing="skip and report")}),
                       seed=6, prefix="loadout/lora_missing")
    report = report_of(comfy.run(skip))
    assert "[2] no_such_lora: missing (skipped)" in report and "not found in" in report
    fail = sample_with(["23", 0], ["23", 1], dict(stack, **{"23": apply_node(["22", 0])}), seed=6)
    err = comfy.run_expecting_error(fail)
    message = str(err)
    assert "LoadoutApplyLoraStack" in message and "entry 2" in message and "no_such_lora" in message
    assert "skip and report" in message


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/passwd"])
def test_names_escaping_the_folder_are_refused(comfy, name):
    graph = sample_with(["23", 0], ["23", 1], {"22": text_stack(f"{name}:0.5"),
                                                 "23": apply_node(["22", 0], on_missing="skip and report")})
    message = str(comfy.run_expecting_error(graph))
    assert "entry 1" in message and ("'..'" in message or "absolute path" in message)


def test_text_syntax_error_names_node_input_line_and_column(comfy):
    graph = sample_with(["23", 0], ["23", 1], {"22": text_stack("ok:1\nbad:1:x"), "23": apply_node(["22", 0])})
    message = str(comfy.run_expecting_error(graph))
    assert "LoRA stack from text (Loadout): input 'text': line 2, column 7" in message


@pytest.mark.allow_log(r"keys of \S*loadout-test-foreign\.safetensors matched nothing")  # the foreign keys, counted
def test_foreign_keys_are_counted_and_cache_is_reused(comfy, tmp_path):
    loras = harness().models / "loras"
    tensors = load_file(str(loras / TINY_KOHYA))
    tensors.update({"lora_unet_not_a_block_0.lora_down.weight": torch.zeros(4, 8),
                    "lora_unet_not_a_block_0.lora_up.weight": torch.zeros(8, 4),
                    "lora_te_text_model_encoder_layers_99_mlp_fc1.alpha": torch.tensor(4.0)})
    target = loras / "loadout-test-foreign.safetensors"
    save_file(tensors, str(target))
    try:
        def run(strength):
            graph = sample_with(["23", 0], ["23", 1], {"22": text_stack(f"loadout-test-foreign:{strength}"),
                                                       "23": apply_node(["22", 0])}, seed=7)
            return report_of(comfy.run(graph))

        first = run(0.5)
        assert "unmatched 3 (lora_te_text_model_encoder_layers_99_mlp_fc1.alpha, lora_unet_not_a_block_0" in first
        assert "read from disk" in first
        second = run(0.25)  # only the strength changed: no file read
        assert "(cache hit)" in second
        time.sleep(0.01)
        shutil.copyfile(loras / KOHYA_B, target)  # the file is replaced: read again
        third = run(0.25)
        assert "read from disk" in third and "unmatched 0" in third
    finally:
        target.unlink(missing_ok=True)


def test_comfyroll_style_stack_list_is_accepted(comfy):
    """Our LORA_STACK output is a plain list of 3-tuples; a stack from text chained into a stack node keeps order."""
    graph = sample_with(["23", 0], ["23", 1], {
        "20": text_stack(f"{KOHYA_B}:0.2"),
        "21": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": TINY_KOHYA, "model_strength": 0.3,
                                                            "clip_strength": 0.3, "enabled": False, "category": "",
                                                            "lora_stack": ["20", 0]}},
        "23": apply_node(["21", 0])}, seed=8)
    report = report_of(comfy.run(graph))
    assert report.startswith("LoRA stack: 1 of 1 applied")  # the disabled entry is left out
    assert re.search(r"\[1\] loadout-tiny-kohya-b.safetensors: applied", report)


def test_bad_widget_values_are_refused_at_validation_before_anything_runs(comfy):
    """Checks that need no run happen when the prompt is queued: the text's syntax, the LoRA name, on_missing."""
    from loadout.cli.client import PromptRejected

    text_error = comfy.run_expecting_error(sample_with(["23", 0], ["23", 1], {
        "22": text_stack("ok:1\nbad:1:x"), "23": apply_node(["22", 0])}))
    assert isinstance(text_error, PromptRejected)
    assert "LoRA stack from text (Loadout): input 'text': line 2, column 7" in str(text_error)
    name_error = comfy.run_expecting_error(sample_with(["23", 0], ["23", 1], {
        "21": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": "not-listed.safetensors",
                                                            "model_strength": 0.3, "clip_strength": 0.3,
                                                            "enabled": True, "category": ""}},
        "23": apply_node(["21", 0])}))
    assert isinstance(name_error, PromptRejected)
    assert "LoRA stack (Loadout): input 'lora_name': 'not-listed.safetensors' is not in your LoRA folders" in str(
        name_error)
    policy_error = comfy.run_expecting_error(sample_with(["23", 0], ["23", 1], {
        "22": text_stack(f"{TINY_KOHYA}:0.5"), "23": apply_node(["22", 0], on_missing="ignore")}))
    assert isinstance(policy_error, PromptRejected)
    assert "Apply LoRA stack (Loadout): input 'on_missing': 'ignore' is not an option" in str(policy_error)
