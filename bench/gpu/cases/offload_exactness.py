"""Case 1 — the offloader's exactness on CUDA: wrapped = resident, bit for bit.

ComfyUI's SD1.5 UNet (its real config, seeded random weights; toy widths in the dry run) at 512² (latent 64²,
batch 1), in fp16 and in bf16. The reference is the resident UNet's own forward; the wrapped copy
(``loadout.vram.offload.offloader.wrap_model``: pinned CPU master copy, side-stream prefetch, event fences) runs
under ``offload`` at 40 % of the weight bytes and under ``sequential``, each without and with a LoRA (a rank-8
delta on every attention / feed-forward / projection layer, applied by the offloader's weight hook after the
transfer; the reference has the same delta merged the same way). Three forwards each (the first learns the
execution order, the second runs re-planned): all three must equal the reference bit for bit.

FP8 (e4m3fn, e5m2, per-channel scales): every quantised weight on the device is checked element by element
against the bound ``vram/offload/quantize.py`` states (``fp8_error_bound``, as its unit tests assert), and the
UNet output's relative error is reported. NF4 runs when bitsandbytes imports (it does not travel to the GPU
machine: its wheel alone is larger than what may travel), checked against half the widest NF4 code gap per block
(``tests/unit/test_offload_quantize.py``'s bound) plus the weight dtype's rounding.
"""
from __future__ import annotations

import re

from gpu.common import (MIB, Peak, build_unet, call_unet, exactness, free, mean_time_s, offload_budget, offload_source,
                        rel_err, row, stage, unet_inputs)

NAME = "offload_exactness"
TITLE = "Offloader exactness on CUDA (SD1.5 UNet)"
TIMEOUT_S = 100
NF4_MAX_HALF_GAP = 0.1520  # half the widest gap of the NF4 code book, as tests/unit/test_offload_quantize.py states
LORA_LAYERS = re.compile(r"(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2)|proj_in|proj_out)$")
LORA_RANK = 8


def _lora(unet, device, seed: int):
    """Rank-8 factors per targeted layer and the hook that applies them (float32 add, rounded to the weight dtype)."""
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    factors = {}
    for name, module in unet.named_modules():
        w = getattr(module, "weight", None)
        if not LORA_LAYERS.search(name) or w is None or w.ndim < 2:
            continue
        fan_in = w[0].numel()
        down = torch.randn(LORA_RANK, fan_in, generator=g, device=device) / fan_in ** 0.5
        up = torch.randn(w.shape[0], LORA_RANK, generator=g, device=device) * (0.3 / LORA_RANK ** 0.5)
        factors[name] = (up, down)

    def hook(name, key, t):
        f = factors.get(name)
        if key != "weight" or f is None:
            return t
        up, down = f
        delta = (up.to(t.device) @ down.to(t.device)).reshape(t.shape)
        return (t.float() + delta).to(t.dtype)

    return factors, hook


def _merged_reference(unet, factors, hook, inputs):
    """The resident UNet's output with the LoRA merged into its weights (restored afterwards)."""
    saved = {}
    try:
        for name in factors:
            m = unet.get_submodule(name)
            saved[name] = m.weight.data
            m.weight.data = hook(name, "weight", m.weight.data)
        return call_unet(unet, inputs)
    finally:
        for name, data in saved.items():
            unet.get_submodule(name).weight.data = data


def _wrap(host, env, strategy: str, weights: int, hook=None, **cfg):
    from loadout.vram.offload.config import OffloadConfig
    from loadout.vram.offload.ladder import LadderMemory
    from loadout.vram.offload.offloader import wrap_model

    budget, _raised = offload_budget(host, env.device, 0.40, weights, hook)
    config = OffloadConfig(strategy=strategy, budget_gb=budget / 2**30, prefetch=2, **cfg)
    wrapped = wrap_model(host, config, env.device, memory=LadderMemory(), weight_hook=hook)
    wrapped.offloader.rungs = []  # no ladder: the strategy asked for, or an error
    wrapped.offloader.remember = False
    return wrapped


def _run3(wrapped, inputs, env):
    outs = [call_unet(wrapped, inputs), call_unet(wrapped, inputs)]
    with Peak(env.device) as pk:
        seconds, out = mean_time_s(lambda: call_unet(wrapped, inputs), 1, 0, env.device)
    return outs + [out], seconds, pk


def _fp8_check(off, env, fmt_dtype):
    """(all within bound, worst error / bound, quantised layers) over the device copies of the quantised weights."""
    import torch

    from loadout.vram.offload.quantize import dequantize, fp8_error_bound

    ok, worst, n = True, 0.0, 0
    for layer in off.layers:
        if layer.placement is None or not layer.placement.quantized or layer.resident is None:
            continue
        qw = layer.resident["weight"]
        w = layer.master["weight"].to(env.device).float()
        err = (dequantize(qw, torch.float32) - w).abs()
        bound = fp8_error_bound(w, qw.tensors["scale"], fmt_dtype)
        ok = ok and bool(err.le(bound * (1 + 1e-6)).all())
        worst = max(worst, float((err / bound.clamp_min(1e-30)).max()))
        n += 1
    return ok, worst, n


def _nf4_check(off, env):
    import torch

    from loadout.vram.offload.quantize import dequantize

    ok, worst, n = True, 0.0, 0
    for layer in off.layers:
        if layer.placement is None or not layer.placement.quantized or layer.resident is None:
            continue
        qw = layer.resident["weight"]
        w = layer.master["weight"].to(env.device)
        back = dequantize(qw, w.dtype).float().reshape(-1)
        flat = w.float().reshape(-1)
        pad = (-flat.numel()) % 64
        blocks = torch.nn.functional.pad(flat, (0, pad)).reshape(-1, 64)
        absmax = blocks.abs().amax(dim=1, keepdim=True).expand(-1, 64).reshape(-1)[:flat.numel()]
        bound = absmax * NF4_MAX_HALF_GAP * (1 + 1e-3) + flat.abs() * torch.finfo(w.dtype).eps
        err = (back - flat).abs()
        ok = ok and bool(err.le(bound).all())
        worst = max(worst, float((err / bound.clamp_min(1e-30)).max()))
        n += 1
    return ok, worst, n


def run(env) -> dict:
    import torch

    toy = env.dry_run
    latent = env.pick(64, 8)
    setting_size = env.pick("512²", "64² (toy)")
    rows, details = [], {"model": "ComfyUI SD15 UNet" + (" (toy widths)" if toy else ""), "latent": latent,
                         "budget_fraction": 0.40, "prefetch": 2, "lora_rank": LORA_RANK}
    for dtype, dname in ((torch.float16, "fp16"), (torch.bfloat16, "bf16")):
        with stage(f"exactness {dname}: build"):
            base, weights = build_unet("sd15", dtype, env.device, toy)
            unet = base.diffusion_model
            inputs = unet_inputs("sd15", toy, latent, dtype, env.device)
            factors, hook = _lora(unet, env.device, seed=7)
        setting = f"SD1.5 UNet {dname}, {setting_size}, batch 1"
        ref = call_unet(unet, inputs)
        with Peak(env.device) as pk:
            ref_s, ref2 = mean_time_s(lambda: call_unet(unet, inputs), 1, 0, env.device)
        deterministic = torch.equal(ref, ref2)
        ref_lora = _merged_reference(unet, factors, hook, inputs)
        rows.append(row(NAME, f"{dname} resident", setting, "ms/forward", ref_s * 1000, pk.mib, 1.0,
                        "time / resident", "run to run: " + exactness(ref2, ref), "deterministic",
                        deterministic))
        d = details[dname] = {"weight_mib": round(weights / MIB, 1), "resident_deterministic": deterministic,
                              "lora_layers": len(factors), "variants": {}}
        host = offload_source(unet, env.device)
        for strategy in ("offload", "sequential"):
            for with_lora in (False, True):
                label = f"{dname} {strategy}" + (" 40 %" if strategy == "offload" else "") + (" + LoRA" if with_lora else "")
                with stage(f"exactness {label}"):
                    wrapped = _wrap(host, env, strategy, weights, hook if with_lora else None)
                    outs, seconds, pk = _run3(wrapped, inputs, env)
                    target = ref_lora if with_lora else ref
                    exact = all(torch.equal(o, target) for o in outs)
                    rep = wrapped.offloader.report()
                    wrapped.offloader.release_device()
                    del wrapped
                    free(env.device)
                quality = "bit-exact" if exact else "; ".join(
                    f"forward {i + 1}: {exactness(o, target)}" for i, o in enumerate(outs) if not torch.equal(o, target))
                rows.append(row(NAME, label, setting, "ms/forward", seconds * 1000, pk.mib, seconds / ref_s,
                                "time / resident",
                                f"{quality}; {rep['resident_layers']}/{rep['layers']} layers resident",
                                "bit-exact ×3", exact))
                d["variants"][label] = {"exact_all_three": exact, "strategy": rep["strategy"], "path": rep["path"],
                                        "resident_layers": rep["resident_layers"], "layers": rep["layers"],
                                        "prefetch": rep["prefetch"], "bytes_copied": rep["bytes_copied"],
                                        "master_pinned": rep["master_pinned"], "device_bytes": rep["device_bytes"]}
        if dtype == torch.float16:
            for fmt, fdtype in (("e4m3fn", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)):
                with stage(f"exactness fp8 {fmt}"):
                    wrapped = _wrap(host, env, "fp8", weights, fp8_format=fmt)
                    outs, seconds, pk = _run3(wrapped, inputs, env)
                    within, worst, n = _fp8_check(wrapped.offloader, env, fdtype)
                    err = rel_err(outs[-1], ref)
                    wrapped.offloader.release_device()
                    del wrapped
                    free(env.device)
                rows.append(row(NAME, f"fp16 → fp8 {fmt}", setting, "ms/forward", seconds * 1000, pk.mib,
                                seconds / ref_s, "time / resident",
                                f"{n} weights within bound: {'yes' if within else 'NO'} (worst err/bound "
                                f"{worst:.3f}); output rel err {err:.2%}", "|Δw| ≤ stated bound", within))
                d["variants"][f"fp8 {fmt}"] = {"within_bound": within, "worst_err_over_bound": worst,
                                               "quantised_layers": n, "output_rel_err": err}
            rows.append(_nf4_row(host, env, weights, inputs, ref, ref_s, setting, d))
        del host, unet, base, ref, ref2, ref_lora, factors
        free(env.device)
    return {"rows": rows, "details": details}


def _nf4_row(host, env, weights, inputs, ref, ref_s, setting, d) -> dict:
    from loadout.vram.offload.ladder import bitsandbytes_installed

    if not bitsandbytes_installed():
        d["variants"]["nf4"] = {"skipped": "bitsandbytes is not importable here (its wheel is larger than what may "
                                           "travel to the GPU machine)"}
        return row(NAME, "fp16 → nf4", setting, "ms/forward", 0.0, 0.0, None, "", "skipped: bitsandbytes not "
                   "importable", "|Δw| ≤ half NF4 gap", None)
    with stage("exactness nf4"):
        wrapped = _wrap(host, env, "nf4", weights)
        if not env.cuda:
            wrapped.offloader.skipped = {}  # the ladder skips NF4 off the GPU; asked for directly, it runs
        outs, seconds, pk = _run3(wrapped, inputs, env)
        within, worst, n = _nf4_check(wrapped.offloader, env)
        err = rel_err(outs[-1], ref)
        wrapped.offloader.release_device()
        del wrapped
        free(env.device)
    d["variants"]["nf4"] = {"within_bound": within, "worst_err_over_bound": worst, "quantised_layers": n,
                            "output_rel_err": err}
    return row(NAME, "fp16 → nf4", setting, "ms/forward", seconds * 1000, pk.mib, seconds / ref_s,
               "time / resident", f"{n} weights within bound: {'yes' if within else 'NO'} (worst {worst:.3f}); "
               f"output rel err {err:.2%}", "|Δw| ≤ half NF4 gap", within)
