"""The offloader on the CPU: wrapped equals unwrapped exactly, FP8 within its bound, the budget holds, and the
ladder steps down on real allocation failures (a transport with a fixed capacity)."""
import hashlib

import pytest
import torch
from loadout.vram.offload.config import OffloadConfig, Strategy
from loadout.vram.offload.offloader import Offloader, wrap_model
from loadout.vram.offload.ladder import LadderMemory, available_rungs, rungs_from
from loadout.vram.offload.layers import AutoWrappedConv, AutoWrappedLinear, declare_layer, find_layers
from harness.fake_device import CapacityTransport

EXACT = [Strategy.FP16_FULL, Strategy.OFFLOAD, Strategy.SEQUENTIAL]


@pytest.fixture(autouse=True)
def _inference():
    with torch.no_grad():  # the offloader is for inference, as ComfyUI's sampling runs it
        yield


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = torch.nn.GroupNorm(4, c)
        self.conv = torch.nn.Conv2d(c, c, 3, padding=1)
        self.proj = torch.nn.Linear(c, c)
        self.conv1d = torch.nn.Conv1d(c, c, 1, bias=False)

    def forward(self, x):
        h = self.conv(torch.nn.functional.silu(self.norm(x))) + x
        b, c, hh, ww = h.shape
        t = self.proj(h.flatten(2).transpose(1, 2)).transpose(1, 2)
        return self.conv1d(t).reshape(b, c, hh, ww) + h


class Net(torch.nn.Module):
    def __init__(self, c=32, depth=8):
        super().__init__()
        self.conv_in = torch.nn.Conv2d(4, c, 3, padding=1)
        self.blocks = torch.nn.ModuleList(Block(c) for _ in range(depth))
        self.embed = torch.nn.Embedding(10, c)
        self.out = torch.nn.Conv2d(c, 4, 3, padding=1)

    def forward(self, x, label):
        h = self.conv_in(x) + self.embed(label)[:, :, None, None]
        for block in self.blocks:
            h = block(h)
        return self.out(h)


def _net(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return Net().to(dtype)


def _inputs(dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 4, 12, 10, generator=g).to(dtype), torch.tensor([1, 7])


def _digest(module):
    d = hashlib.blake2b()
    for k, v in module.state_dict().items():
        d.update(k.encode())
        d.update(v.detach().contiguous().view(torch.uint8).numpy().tobytes())
    return d.hexdigest()


def _cfg(strategy, **kw):
    kw.setdefault("min_quant_numel", 64)
    return OffloadConfig(strategy=strategy, **kw)


@pytest.mark.parametrize("strategy", EXACT, ids=[s.value for s in EXACT])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_wrapped_output_equals_the_unwrapped_model_bit_for_bit(strategy, dtype):
    net = _net(dtype)
    x, label = _inputs(dtype)
    before = _digest(net)
    ref = net(x, label)
    total = sum(p.numel() * p.element_size() for p in net.parameters())
    wrapped = wrap_model(net, _cfg(strategy, budget_gb=total * 0.4 / 2**30, prefetch=1), "cpu",
                         memory=LadderMemory())
    for _ in range(3):
        assert torch.equal(wrapped(x, label), ref)
    assert _digest(net) == before, "the input model must not change"
    assert not any(isinstance(m, (AutoWrappedLinear, AutoWrappedConv)) for m in net.modules())
    rep = wrapped.offloader.report()
    assert rep["strategy"] == strategy.value and rep["path"] == f"{strategy.value}: ok"
    if strategy == Strategy.OFFLOAD:
        assert 0 < rep["resident_layers"] < rep["layers"], "40 % of the bytes: some layers resident, some streamed"
        assert rep["prefetch"]["hits"] > rep["prefetch"]["misses"]


def test_compute_dtype_changes_give_exactly_the_cast_model():
    """Weights stored in fp32 and computed in bf16 equal the model converted to bf16 (input cast alike)."""
    net = _net(torch.float32)
    x, label = _inputs(torch.float32)
    ref_bf16 = _net(torch.float32)
    ref_bf16.load_state_dict(net.state_dict())
    ref_bf16 = ref_bf16.to(torch.bfloat16)
    wrapped_layers = {n for n, *_ in find_layers(net)}
    for strategy in EXACT:
        wrapped = wrap_model(net, _cfg(strategy, compute_dtype=torch.bfloat16, budget_gb=1e-3), "cpu",
                             memory=LadderMemory())
        out = wrapped(x, label)
        # reference: every wrapped layer computes in bf16 on a bf16 copy of its input, output back to fp32
        ref_layers = {}
        for name, module in net.named_modules():
            if name in wrapped_layers:
                ref_layers[name] = module
        hooks = []
        for name, module in ref_layers.items():
            bf = ref_bf16.get_submodule(name)
            hooks.append(module.register_forward_hook(
                lambda m, args, out, bf=bf: bf(args[0].to(torch.bfloat16)).to(args[0].dtype)))
        try:
            ref = net(x, label)
        finally:
            for h in hooks:
                h.remove()
        assert torch.equal(out, ref), strategy


def test_fp8_path_error_is_bounded_and_keeps_edges_in_full_precision():
    net = _net()
    x, label = _inputs()
    ref = net(x, label)
    for fmt, limit in (("e4m3fn", 0.05), ("e5m2", 0.15)):  # 17 quantised layers in a row, random weights
        wrapped = wrap_model(net, _cfg("fp8", fp8_format=fmt), "cpu", memory=LadderMemory())
        out = wrapped(x, label)
        rel = float((out - ref).norm() / ref.norm())
        assert 0 < rel < limit, (fmt, rel)
        layers = {layer.name: layer for layer in wrapped.offloader.layers}
        assert not layers["conv_in"].placement.quantized and not layers["out"].placement.quantized
        assert layers["blocks.0.conv"].placement.quantized


def test_fp8_streaming_moves_half_the_bytes():
    net = _net()
    x, label = _inputs()
    ref = net(x, label)
    copied = {}
    for precision in ("model", "fp8"):
        wrapped = wrap_model(net, _cfg("sequential", stream_precision=precision), "cpu", memory=LadderMemory())
        out = wrapped(x, label)
        copied[precision] = wrapped.offloader.transport.bytes_copied
        if precision == "model":
            assert torch.equal(out, ref)
        else:
            assert float((out - ref).norm() / ref.norm()) < 0.05
    assert copied["fp8"] < 0.4 * copied["model"]


def test_the_ladder_steps_down_on_out_of_memory_and_remembers_per_input_shape():
    net = _net()
    x, label = _inputs()
    ref = net(x, label)
    total = sum(p.numel() * p.element_size() for p in net.parameters())
    memory = LadderMemory()
    transport = CapacityTransport(int(total * 0.45))  # fp16_full cannot fit; fp8 (about 0.3x) can
    wrapped = wrap_model(net, _cfg("fp16_full"), "cpu", memory=memory, transport=transport)
    out = wrapped(x, label)
    off = wrapped.offloader
    assert [a.strategy for a in off.path] == [Strategy.FP16_FULL, Strategy.FP8], [str(a) for a in off.path]
    assert "out of memory" in off.path[0].outcome and off.path[1].outcome == "ok"
    assert float((out - ref).norm() / ref.norm()) < 0.05
    assert memory.get(off.model_key, tuple(x.shape)) is Strategy.FP8
    # a fresh offloader of the same model and config starts where the last one ended
    again = wrap_model(net, _cfg("fp16_full"), "cpu", memory=memory, transport=CapacityTransport(int(total * 0.45)))
    again(x, label)
    assert [a.strategy for a in again.offloader.path] == [Strategy.FP8], [str(a) for a in again.offloader.path]


def test_the_ladder_reaches_offload_when_even_fp8_does_not_fit_and_stays_exact():
    net = _net()
    x, label = _inputs()
    ref = net(x, label)
    total = sum(p.numel() * p.element_size() for p in net.parameters())
    cap = int(total * 0.3)  # fp8 needs about 0.35x (with the weight being quantised); offload fits
    wrapped = wrap_model(net, _cfg("fp16_full", budget_gb=cap / 2**30 * 0.9, prefetch=1), "cpu", memory=LadderMemory(),
                         transport=CapacityTransport(cap))
    out = wrapped(x, label)
    path = [a.strategy for a in wrapped.offloader.path]
    assert path == [Strategy.FP16_FULL, Strategy.FP8, Strategy.OFFLOAD], [str(a) for a in wrapped.offloader.path]
    assert torch.equal(out, ref)
    assert wrapped.offloader.device_bytes() <= cap


def test_an_out_of_memory_during_compute_is_retried_and_other_errors_are_not():
    net = _net()
    x, label = _inputs()
    ref = net(x, label)
    wrapped = wrap_model(net, _cfg("fp16_full"), "cpu", memory=LadderMemory())
    off = wrapped.offloader
    real = off.run_layer
    state = {"oom": 2}

    def flaky(index, t):
        if off.strategy in (Strategy.FP16_FULL, Strategy.FP8) and state["oom"]:
            state["oom"] -= 1
            raise torch.OutOfMemoryError("CUDA out of memory (activations)")
        return real(index, t)

    off.run_layer = flaky
    assert torch.equal(wrapped(x, label), ref)  # fp16_full OOM, fp8 OOM, offload (no budget: all resident) ok
    assert [a.strategy.value for a in off.path] == ["fp16_full", "fp8", "offload"]

    def broken(index, t):
        raise ValueError("a real bug")

    off.run_layer = broken
    with pytest.raises(ValueError, match="a real bug"):
        wrapped(x, label)


def test_when_every_strategy_fails_the_error_lists_the_path():
    net = _net()
    wrapped = wrap_model(net, _cfg("fp8"), "cpu", memory=LadderMemory(), transport=CapacityTransport(64))
    with pytest.raises(MemoryError, match=r"fp8: out of memory .* offload: .* sequential: out of memory"):
        wrapped(*_inputs())


def test_budget_accounting_real_device_bytes_stay_within_budget():
    net = _net()
    x, label = _inputs()
    total = sum(p.numel() * p.element_size() for p in net.parameters())
    for fraction in (0.25, 0.5, 0.75):
        budget = int(total * fraction)
        transport = CapacityTransport(budget)  # fails loudly if the offloader allocates past the budget
        wrapped = wrap_model(net, _cfg("offload", budget_gb=budget / 2**30, prefetch=1), "cpu",
                             memory=LadderMemory(), transport=transport)
        wrapped(x, label)
        off = wrapped.offloader
        assert [a.strategy for a in off.path] == [Strategy.OFFLOAD]
        assert off.plan.device_bytes <= budget and off.device_bytes() + off.other_resident_bytes <= budget


def test_a_weight_hook_applies_after_transfer_and_never_touches_the_master_copy():
    net = _net()
    x, label = _inputs()
    deltas = {n: torch.randn_like(m.weight) * 0.01 for n, m, *_ in find_layers(net)}
    patched = _net()
    patched.load_state_dict(net.state_dict())
    with torch.no_grad():
        for name, delta in deltas.items():
            w = patched.get_submodule(name).weight
            w.copy_(w + delta)
    ref = patched(x, label)
    version = {"v": 1}

    def hook(name, key, t):
        return t + deltas[name] if key == "weight" else t

    for strategy in EXACT:
        wrapped = wrap_model(net, _cfg(strategy, budget_gb=1e-4), "cpu", memory=LadderMemory(), weight_hook=hook,
                             hook_token=lambda: version["v"])
        assert torch.equal(wrapped(x, label), ref), strategy
        masters = {layer.name: layer.master["weight"].clone() for layer in wrapped.offloader.layers}
        wrapped(x, label)
        assert all(torch.equal(layer.master["weight"], masters[layer.name]) for layer in wrapped.offloader.layers)
        assert torch.equal(wrapped.offloader.layers[0].master["weight"], net.conv_in.weight)


def test_state_dict_keys_and_values_survive_wrapping():
    net = _net()
    wrapped = wrap_model(net, _cfg("offload"), "cpu", memory=LadderMemory())
    sd, wsd = net.state_dict(), wrapped.root.state_dict()
    assert list(sd) == list(wsd)
    assert all(torch.equal(sd[k], wsd[k]) for k in sd)
    assert wrapped.root.blocks[0].proj.in_features == 32


def test_declared_layers_are_wrapped_too():
    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(16, 16))

        def forward(self, x):
            return x @ self.weight

    declare_layer(Scale, lambda layer, x, weight, bias: x @ weight)
    net = torch.nn.Sequential(Scale(), torch.nn.ReLU(), Scale())
    x = torch.randn(3, 16)
    wrapped = wrap_model(net, _cfg("sequential"), "cpu", memory=LadderMemory())
    assert torch.equal(wrapped(x), net(x))
    assert [layer.kind for layer in wrapped.offloader.layers] == ["declared", "declared"]
    with pytest.raises(TypeError):
        declare_layer(int, lambda *a: None)


def test_nf4_rung_is_skipped_with_a_reason_without_a_gpu_or_bitsandbytes():
    rungs, skipped = available_rungs(cuda=False, has_bitsandbytes=True)
    assert Strategy.NF4 not in rungs and "GPU" in skipped["nf4"]
    rungs, skipped = available_rungs(cuda=True, has_bitsandbytes=False)
    assert "pip install bitsandbytes" in skipped["nf4"]
    rungs, skipped = available_rungs(cuda=True, has_bitsandbytes=True)
    assert rungs == list(Strategy) and not skipped
    assert rungs_from(Strategy.FP8, rungs) == [Strategy.FP8, Strategy.NF4, Strategy.OFFLOAD, Strategy.SEQUENTIAL]


def test_nf4_strategy_runs_on_the_cpu_through_bitsandbytes():
    pytest.importorskip("bitsandbytes")
    net = _net()
    x, label = _inputs()
    off = wrap_model(net, _cfg("fp16_full"), "cpu", memory=LadderMemory()).offloader
    off.skipped = {}
    off.apply_strategy(Strategy.NF4)
    nf4_layers = [layer for layer in off.layers if layer.placement.quantized]
    assert nf4_layers and all(layer.resident["weight"].kind == "nf4" for layer in nf4_layers)


def test_eager_argument_checks():
    net = _net()
    with pytest.raises(TypeError):
        Offloader(find_layers(net), {"strategy": "fp8"}, "cpu")
    with pytest.raises(ValueError, match="no layer to offload"):
        wrap_model(torch.nn.Sequential(torch.nn.ReLU()), _cfg("offload"), "cpu")


def test_auto_picks_the_first_rung_whose_estimate_fits_the_free_memory():
    net = _net()
    x, label = _inputs()
    total = sum(p.numel() * p.element_size() for p in net.parameters())
    for capacity, expected in ((total * 3, Strategy.FP16_FULL), (int(total * 0.6), Strategy.FP8),
                               (int(total * 0.25), Strategy.OFFLOAD)):
        wrapped = wrap_model(net, _cfg("fp16_full", prefetch=1), "cpu", auto=True, memory=LadderMemory(),
                             transport=CapacityTransport(capacity))
        assert wrapped.offloader.auto_strategy() is expected, (capacity / total, expected)
        wrapped(x, label)
        assert wrapped.offloader.path[0].strategy is expected
        fresh = wrap_model(net, _cfg("fp16_full", prefetch=1), "cpu", auto=True, memory=LadderMemory(),
                           transport=CapacityTransport(capacity)).offloader
        fresh.rungs = []  # ladder off: auto still chooses among every strategy
        assert fresh.auto_strategy() is expected
