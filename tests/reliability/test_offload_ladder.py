"""The strategy ladder inside real ComfyUI sampling (in-process, CPU): the offloader's device is given a fixed
capacity, so placing the model raises torch's OutOfMemoryError exactly where a full GPU would; the step is
retried down the ladder, the latent is the one the final strategy gives on its own, and the next run starts
there."""
import pytest
import torch
from loadout.vram.offload.config import Strategy
from harness.fake_device import CapacityTransport


def _sample(model, c, seed=4):
    import nodes as core

    lat = {"samples": torch.zeros(1, 4, 8, 8)}
    return core.common_ksampler(model, seed, 3, 5.0, "euler", "normal", c["pos"], c["neg"], lat)[0]["samples"]


def _offloaded(c, strategy, capacity=None, budget=0.0, prefetch=1):
    from harness.inprocess import run_node
    from loadout.nodes.offload import LoadoutOffloadModel

    out = run_node(LoadoutOffloadModel, None, model=c["model"], strategy=strategy, budget_gb=budget,
                   prefetch=prefetch)[0]
    binding = out.get_attachment("loadout_offload")
    if capacity is not None:
        binding.offloader.transport = CapacityTransport(capacity)
    return out, binding


@pytest.mark.parametrize("capacity_mb,expected", [(70, ["fp16_full", "fp8"]), (24, ["fp16_full", "fp8", "offload"])])
def test_out_of_memory_in_the_first_step_drops_down_the_ladder(comfy_inprocess, capacity_mb, expected):
    c = comfy_inprocess
    budget = capacity_mb * 0.9 / 1024 if "offload" in expected else 0.0
    model, binding = _offloaded(c, "fp16_full", capacity_mb << 20, budget=budget)
    latent = _sample(model, c)
    path = binding.offloader.path
    assert [a.strategy.value for a in path] == expected, [str(a) for a in path]
    assert all("out of memory" in a.outcome for a in path[:-1]) and path[-1].outcome == "ok"
    # the same strategy chosen directly gives the same latent
    direct, _ = _offloaded(c, expected[-1], budget=budget)
    assert torch.equal(latent, _sample(direct, c))
    if expected[-1] == "offload":
        assert torch.equal(latent, _sample(c["model"], c)), "offload is exact"
    # remembered per model and input shape: a re-run starts at the rung that worked
    again, binding2 = _offloaded(c, "fp16_full", capacity_mb << 20, budget=budget)
    _sample(again, c)
    assert [a.strategy.value for a in binding2.offloader.path] == [expected[-1]]


def test_with_the_ladder_off_an_out_of_memory_stops_the_run(comfy_inprocess):
    from harness.inprocess import run_node
    from loadout.nodes.offload import LoadoutOffloadModel

    c = comfy_inprocess
    model = run_node(LoadoutOffloadModel, None, model=c["model"], strategy="fp16_full", budget_gb=0.0, prefetch=2,
                     ladder=False)[0]
    binding = model.get_attachment("loadout_offload")
    binding.offloader.transport = CapacityTransport(10 << 20)
    with pytest.raises(MemoryError, match=r"every strategy failed: fp16_full: out of memory"):
        _sample(model, c, seed=5)
    assert binding.offloader.memory.get(binding.offloader.model_key, (2, 4, 8, 8)) is None
    assert Strategy.FP8 not in binding.offloader.rungs
