"""Offload model / Offload CLIP / Device placement through the real server: exact latents against the resident
model (with LoRA stacks before and after the offload), the strategy path on the node (websocket) and in the
memory monitor, and no side effect on other branches of the same checkpoint."""
import pytest
import torch
from harness.graphs import TINY_KOHYA, core_lora_chain, sample_with

KOHYA_B = "loadout-tiny-kohya-b.safetensors"
TINY_UNET_MB = 98.3  # the tiny SD1.5 UNet's Linear/Conv weights (fp32 on the CPU)


def stack(prev=None):
    nodes = {
        "20": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": TINY_KOHYA, "model_strength": 0.8,
                                                            "clip_strength": 0.6, "enabled": True, "category": ""}},
        "21": {"class_type": "LoadoutLoraStack", "inputs": {"lora_name": KOHYA_B, "model_strength": -0.5,
                                                            "clip_strength": 0.4, "enabled": True, "category": "",
                                                            "lora_stack": ["20", 0]}},
    }
    return nodes


def apply_stack(model_ref, clip_ref):
    return {"class_type": "LoadoutApplyLoraStack", "inputs": {"model": model_ref, "clip": clip_ref,
                                                              "lora_stack": ["21", 0], "multiplier": 1.0,
                                                              "on_missing": "error"}}


def offload(model_ref, strategy="offload", budget_gb=0.06, prefetch=2, **extra):
    return {"class_type": "LoadoutOffloadModel", "inputs": {"model": model_ref, "strategy": strategy,
                                                            "budget_gb": budget_gb, "prefetch": prefetch, **extra}}


def resident_lora_graph(prefix):
    return sample_with(["23", 0], ["23", 1], {**stack(), "23": apply_stack(["1", 0], ["1", 1])}, seed=7,
                       prefix=prefix)


@pytest.fixture(scope="module")
def resident_latent(comfy):
    return comfy.latent(comfy.run(resident_lora_graph("loadout/off_resident")))


@pytest.mark.parametrize("strategy,budget", [("offload", 0.06), ("sequential", 0.0), ("fp16_full", 0.0),
                                             ("auto", 0.0)])
def test_lora_stack_then_offload_gives_the_resident_latent(comfy, resident_latent, strategy, budget):
    graph = sample_with(["24", 0], ["23", 1], {**stack(), "23": apply_stack(["1", 0], ["1", 1]),
                                               "24": offload(["23", 0], strategy, budget)},
                        seed=7, prefix=f"loadout/off_{strategy}")
    result = comfy.run(graph)
    assert torch.equal(comfy.latent(result), resident_latent)
    report = result.outputs["24"]["text"][0]
    assert report.startswith("Offload: 69 layers of BaseModel diffusion model wrapped (conv 22, linear 47)")


def test_offload_then_lora_stack_gives_the_resident_latent_too(comfy, resident_latent):
    """LoRA patches added after the offload node reach the offloaded layers (applied after each transfer)."""
    graph = sample_with(["23", 0], ["23", 1], {**stack(), "24": offload(["1", 0], "offload", 0.06),
                                               "23": apply_stack(["24", 0], ["1", 1])},
                        seed=7, prefix="loadout/off_after")
    assert torch.equal(comfy.latent(comfy.run(graph)), resident_latent)


def test_the_strategy_path_appears_on_the_node_and_in_the_monitor(comfy):
    graph = sample_with(["24", 0], ["1", 1], {"24": offload(["1", 0], "offload", 0.06, prefetch=1)},
                        seed=8, prefix="loadout/off_path")
    graph["30"] = {"class_type": "LoadoutMemoryMonitor", "inputs": {"value": ["5", 0], "label": "after sampling",
                                                                    "reset_peak": False}}
    graph["8"]["inputs"]["samples"] = ["30", 0]
    result, messages = comfy.run_with_messages(graph)
    # the plan when the node runs (its UI output), then the path once sampling has placed the layers (progress text)
    on_node = [m["data"]["output"]["text"][0] for m in messages
               if m["type"] == "executed" and m["data"]["node"] == "24"]
    on_node += [m["data"]["text"] for m in messages if m["type"] == "progress_text" and m["data"]["node"] == "24"]
    assert len(on_node) == 2, "the plan when the node runs, then the path once sampling has placed the layers"
    assert on_node[0].startswith("Offload: 69 layers")
    assert "path: offload: ok" in on_node[1]
    assert "streamed" in on_node[1] and "prefetched" in on_node[1]
    monitor = result.outputs["30"]["text"][0]
    assert "Loadout offload — BaseModel diffusion model: offload:" in monitor
    assert "CPU master copy 98.3 MB" in monitor


def test_a_budget_below_the_staging_minimum_steps_down_to_sequential_and_says_why(comfy, resident_latent):
    graph = sample_with(["24", 0], ["23", 1], {**stack(), "23": apply_stack(["1", 0], ["1", 1]),
                                               "24": offload(["23", 0], "offload", 0.01)},
                        seed=7, prefix="loadout/off_small")
    result, messages = comfy.run_with_messages(graph)
    assert torch.equal(comfy.latent(result), resident_latent)
    path = [m["data"]["text"] for m in messages if m["type"] == "progress_text" and m["data"]["node"] == "24"]
    assert "offload: budget too small: budget 10.2 MB is below the minimum" in path[-1]
    assert "→ sequential: ok" in path[-1]


def test_fp8_changes_the_weights_but_keeps_the_result_close(comfy, resident_latent):
    graph = sample_with(["24", 0], ["23", 1], {**stack(), "23": apply_stack(["1", 0], ["1", 1]),
                                               "24": offload(["23", 0], "fp8", 0.0)},
                        seed=7, prefix="loadout/off_fp8")
    latent = comfy.latent(comfy.run(graph))
    rel = float((latent - resident_latent).norm() / resident_latent.norm())
    assert 0 < rel < 0.1, rel  # 4 steps through a random-weight UNet; the per-layer bound is in the unit tests


def test_offload_clip_and_device_placement_keep_the_latent(comfy, resident_latent):
    graph = sample_with(["24", 0], ["23", 1], {
        **stack(),
        "25": {"class_type": "LoadoutOffloadCLIP", "inputs": {"clip": ["1", 1], "strategy": "sequential",
                                                              "budget_gb": 0.0, "prefetch": 1}},
        "26": {"class_type": "LoadoutDevicePlacement", "inputs": {"clip": ["25", 0], "vae": ["1", 2],
                                                                  "clip_device": "cpu", "vae_device": "cpu"}},
        "23": apply_stack(["1", 0], ["26", 0]),
        "24": offload(["23", 0], "sequential", 0.0)}, seed=7, prefix="loadout/off_clip")
    graph["6"]["inputs"]["vae"] = ["26", 1]
    result = comfy.run(graph)
    assert torch.equal(comfy.latent(result), resident_latent)
    assert "CLIP SD1ClipModel: loads on cpu" in result.outputs["26"]["text"][0]
    assert result.outputs["25"]["text"][0].startswith("Offload: 73 layers of SD1ClipModel text encoder wrapped")


def test_offloaded_runs_leave_other_branches_of_the_checkpoint_exact(comfy):
    """Running an offloaded clone must not leave core's per-layer state stale: a core LoraLoader chain on the
    same checkpoint gives the same latent before and after."""
    nodes, model_ref, clip_ref = core_lora_chain([(TINY_KOHYA, 0.7, 0.7)])
    core_graph = sample_with(model_ref, clip_ref, nodes, seed=9, prefix="loadout/off_core")
    before = comfy.latent(comfy.run(core_graph))
    comfy.run(sample_with(["24", 0], ["1", 1], {"24": offload(["1", 0], "fp16_full", 0.0)}, seed=9,
                          prefix="loadout/off_between"))
    offloaded_lora = sample_with(["23", 0], ["23", 1], {**stack(), "24": offload(["1", 0], "sequential", 0.0),
                                                         "23": apply_stack(["24", 0], ["1", 1])}, seed=9,
                                 prefix="loadout/off_between2")
    comfy.run(offloaded_lora)
    after = comfy.latent(comfy.run(core_graph))
    assert torch.equal(before, after)


def test_offloading_twice_is_refused_with_the_fix(comfy):
    graph = sample_with(["25", 0], ["1", 1], {"24": offload(["1", 0]), "25": offload(["24", 0])},
                        prefix="loadout/off_twice")
    err = comfy.run_expecting_error(graph)
    assert "already offloaded" in str(err) and "remove one" in str(err)
