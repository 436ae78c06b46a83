"""Offloading: step time and peak VRAM of the diffusion model resident, offloaded by Loadout at 25/40/50/75 % of its
weights, and under ComfyUI's own partial loading at 40 %.

GPU (CUDA present): an SDXL-shaped UNet (ComfyUI's own SDXL class, 2.57 B parameters, random fp16 weights, seed
fixed) at 1024² (latent 128², batch 2 as with CFG), each variant in its own process so peaks do not mix:
``resident`` (core full load), ``ours_P`` (Offload model, strategy offload, budget P % of the weight bytes, prefetch
2) and ``core_lowvram_40`` (core's ``ModelPatcher.load`` with ``lowvram_model_memory`` = 40 %: its per-layer cast
with async offload streams and pinned weights). Step time: mean of 8 steps after 2 warm-up steps, with CUDA
synchronisation only at the ends; peak: ``torch.cuda.max_memory_allocated`` over those steps.
Fields: ``gpu``, ``step_ratio_40pct`` (ours_40 / resident; target ≤ 1.10), ``vram_ratio_40pct`` (peak ours_40 /
peak resident), ``step_ratio_vs_core_lowvram`` (ours_40 / core_lowvram_40), and every variant's figures.

CPU (no CUDA): ``{"gpu": false, ...}`` with the correctness figures, from the tiny SD1.5 checkpoint in-process:
latents of offload (40 %), sequential and fp8 against resident, budget accounting at 25/50/75 %, prefetch hits,
and (for information only: a CPU "transfer" is a memcpy) the step-time ratio of offload to resident.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

FRACTIONS = (0.25, 0.40, 0.50, 0.75)
GPU_STEPS, GPU_WARMUP = 8, 2
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: the GPU suite's shared pieces
from gpu.common import SDXL_UNET  # noqa: E402  (ComfyUI's SDXL UNet config, shared with bench/gpu/)


def run() -> dict:
    import torch

    if torch.cuda.is_available():
        return run_gpu()
    return run_cpu()


# --- GPU ------------------------------------------------------------------------------------------------------
def run_gpu() -> dict:
    variants = ["resident"] + [f"ours_{int(f * 100)}" for f in FRACTIONS] + ["core_lowvram_40"]
    results = {}
    for name in variants:
        proc = subprocess.run([sys.executable, __file__, "--gpu-variant", name], capture_output=True, text=True,
                              timeout=1800, env=dict(os.environ))
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            results[name] = {"error": (proc.stderr or proc.stdout)[-2000:]}
            continue
        results[name] = json.loads(lines[-1])
    out = {"gpu": True, "variants": results}
    res, ours, core = results.get("resident", {}), results.get("ours_40", {}), results.get("core_lowvram_40", {})
    if "step_s" in res and "step_s" in ours:
        out["step_ratio_40pct"] = round(ours["step_s"] / res["step_s"], 3)
        out["vram_ratio_40pct"] = round(ours["peak_bytes"] / res["peak_bytes"], 3)
        out["target_step_ratio_40pct"] = 1.10
    if "step_s" in ours and "step_s" in core:
        out["step_ratio_vs_core_lowvram"] = round(ours["step_s"] / core["step_s"], 3)
        out["vram_ratio_vs_core_lowvram"] = round(ours["peak_bytes"] / core["peak_bytes"], 3)
    out["device"] = results.get("resident", {}).get("device")
    return out


def _gpu_variant(name: str) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from harness.inprocess import import_comfyui, import_pack, run_node
    from harness.paths import harness

    import_comfyui(harness().comfyui, cpu=False)
    import_pack()
    import torch

    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.ops
    import comfy.supported_models
    from loadout.nodes.offload import LoadoutOffloadModel

    device = mm.get_torch_device()
    torch.manual_seed(20261202)
    config = comfy.supported_models.SDXL(dict(SDXL_UNET))
    config.set_inference_dtype(torch.float16, None)
    base = config.get_model({}, device=torch.device("cpu"))
    with torch.no_grad():
        for p in base.diffusion_model.parameters():
            p.normal_(0.0, 0.02)
    base = base.to(torch.float16)
    patcher = comfy.model_patcher.ModelPatcher(base, load_device=device, offload_device=torch.device("cpu"))
    weight_bytes = comfy.model_management.module_size(base.diffusion_model)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(2, 4, 128, 128, generator=g, device=device, dtype=torch.float16)
    ctx = torch.randn(2, 77, 2048, generator=g, device=device, dtype=torch.float16)
    y = torch.randn(2, 2816, generator=g, device=device, dtype=torch.float16)
    sigma = torch.full((2,), 7.0, device=device)
    options = {}
    if name == "resident":
        patcher.patch_model(device, lowvram_model_memory=0)
        run_patcher = patcher
    elif name.startswith("ours_"):
        fraction = int(name.split("_")[1]) / 100
        run_patcher = run_node(LoadoutOffloadModel, None, model=patcher, strategy="offload",
                               budget_gb=fraction * weight_bytes / 2**30, prefetch=2, ladder=False)[0]
        mm.load_models_gpu([run_patcher])
        run_patcher.pre_run()
        options = {"wrappers": run_patcher.wrappers}
    elif name == "core_lowvram_40":
        patcher.patch_model(device, lowvram_model_memory=int(0.40 * weight_bytes))
        run_patcher = patcher
    else:
        raise SystemExit(f"unknown variant {name}")
    model = run_patcher.model

    def step():
        return model.apply_model(x, sigma, c_crossattn=ctx, y=y, transformer_options=dict(options))

    with torch.inference_mode():
        for _ in range(GPU_WARMUP):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(GPU_STEPS):
            out = step()
        torch.cuda.synchronize()
        elapsed = (time.perf_counter() - t0) / GPU_STEPS
    result = {"variant": name, "step_s": elapsed, "peak_bytes": torch.cuda.max_memory_allocated(),
              "weight_bytes": weight_bytes, "device": torch.cuda.get_device_name(), "finite": bool(out.isfinite().all())}
    binding = run_patcher.get_attachment("loadout_offload")
    if binding is not None:
        result["offload"] = {k: v for k, v in binding.offloader.report().items() if k != "skipped"}
    return result


# --- CPU ------------------------------------------------------------------------------------------------------
def run_cpu() -> dict:
    from harness.graphs import TINY_KOHYA, TINY_SD15
    from harness.inprocess import import_comfyui, import_pack, run_node
    from harness.paths import harness

    h = harness()
    import_comfyui(h.comfyui)
    import_pack()
    import torch

    import comfy.sd
    import folder_paths
    import nodes as core
    from loadout.nodes.offload import LoadoutOffloadModel

    folder_paths.add_model_folder_path("loras", str(h.models / "loras"), is_default=True)
    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(h.models / "checkpoints" / TINY_SD15),
                                                              output_vae=False)
    model, clip = core.LoraLoader().load_lora(model, clip, TINY_KOHYA, 0.8, 0.6)
    pos = core.CLIPTextEncode().encode(clip, "a lighthouse")[0]
    neg = core.CLIPTextEncode().encode(clip, "blurry")[0]
    latent = {"samples": torch.zeros(1, 4, 16, 16)}
    steps = 6

    def sample(m):
        t0 = time.perf_counter()
        out = core.common_ksampler(m, 11, steps, 6.0, "euler", "normal", pos, neg, latent,
                                   disable_noise=False)[0]["samples"]
        return out, time.perf_counter() - t0

    sample(model)  # warm-up: load, first-call costs
    ref, resident_s = sample(model)
    weights = sum(p.numel() * p.element_size() for p in model.model.diffusion_model.parameters())
    out = {"gpu": False, "model": "tiny SD1.5 (+ kohya LoRA 0.8), 6 euler steps at 128 px, CPU", "weight_bytes": weights}
    figures = {}
    for label, strategy, fraction in (("offload_40", "offload", 0.40), ("sequential", "sequential", 0.0),
                                      ("fp8", "fp8", 0.0)):
        offloaded = run_node(LoadoutOffloadModel, None, model=model, strategy=strategy,
                             budget_gb=fraction * weights / 2**30, prefetch=2)[0]
        sample(offloaded)  # first run: master copy, placement, order learning
        lat, seconds = sample(offloaded)
        rep = offloaded.get_attachment("loadout_offload").offloader.report()
        figures[label] = {
            "max_abs_diff_vs_resident": float((lat - ref).abs().max()),
            "rel_err_vs_resident": float((lat - ref).norm() / ref.norm()),
            "step_ratio_vs_resident_cpu": round(seconds / resident_s, 3),
            "path": rep["path"], "device_bytes": rep["device_bytes"],
            "prefetch": rep["prefetch"],
        }
    out["variants"] = figures
    out["exact_offload"] = figures["offload_40"]["max_abs_diff_vs_resident"] == 0.0
    out["exact_sequential"] = figures["sequential"]["max_abs_diff_vs_resident"] == 0.0
    accounting = {}
    for fraction in (0.25, 0.50, 0.75):
        m = run_node(LoadoutOffloadModel, None, model=model, strategy="offload", budget_gb=fraction * weights / 2**30,
                     prefetch=2)[0]
        sample(m)
        off = m.get_attachment("loadout_offload").offloader
        budget = int(fraction * weights / 2**30 * 2**30)
        accounting[f"{int(fraction * 100)}pct"] = {
            "budget_bytes": budget, "planned_bytes": off.plan.device_bytes if off.plan else None,
            "allocated_bytes": off.device_bytes() + off.other_resident_bytes,
            "within_budget": off.device_bytes() + off.other_resident_bytes <= budget,
            "path": off.report()["path"]}
    out["budget_accounting"] = accounting
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--gpu-variant":
        print(json.dumps(_gpu_variant(sys.argv[2])))
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        print(json.dumps(run(), indent=2))
