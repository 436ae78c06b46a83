"""Case 5 — applying 8 LoRAs to an SDXL UNet: Loadout's stack against 8 chained core LoRA loaders, then the load.

ComfyUI's SDXL UNet (real config, seeded fp16 weights; toy widths in the dry run) in a ModelPatcher whose load
device is the GPU. Eight kohya-format LoRAs (rank 8 on every attention, feed-forward and projection layer,
named through ComfyUI's own diffusers key map) are written to a scratch folder registered as a LoRA folder.

- apply: ``loadout.nodes.comfy_compat.lora.apply_lora_stack`` (the function the LoRA stack node calls; cold:
  its file cache cleared first; cached: the next run) against 8 chained core ``LoraLoaderModelOnly`` nodes (cold:
  fresh nodes; warm: the same nodes again, each holding its file as ComfyUI's node cache does). Median of 3.
- load: ``ModelPatcher.patch_model`` onto the GPU of each result (the 8 patches per weight computed there with
  core's ``calculate_weight``); the patched weights of ours and core are compared bit for bit.
"""
from __future__ import annotations

import re
import statistics
import time

from gpu.common import MIB, Peak, build_unet, free, row, stage, sync

NAME = "lora_apply"
TITLE = "8 LoRAs: Loadout stack vs 8 chained core loaders"
TIMEOUT_S = 90
N_LORAS, RANK, REPEATS = 8, 8, 3
TARGETS = re.compile(r"(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2)|proj_in|proj_out)\.weight$")


def _write_loras(folder, base, seed: int = 17) -> tuple[list[str], int]:
    """8 kohya LoRA files for ``base``; (names, modules per LoRA)."""
    import torch
    from safetensors.torch import save_file

    import comfy.utils

    folder.mkdir(parents=True, exist_ok=True)
    sd = base.diffusion_model.state_dict()
    diffusers = comfy.utils.unet_to_diffusers(base.model_config.unet_config)
    targets = []
    for dkey, ldm in sorted(diffusers.items()):
        w = sd.get(ldm)
        if TARGETS.search(dkey) and w is not None and w.ndim == 2:
            targets.append(("lora_unet_" + dkey[: -len(".weight")].replace(".", "_"), w.shape))
    g = torch.Generator().manual_seed(seed)
    names = []
    for i in range(N_LORAS):
        tensors = {}
        for key, (out_f, in_f) in targets:
            tensors[f"{key}.lora_down.weight"] = (torch.randn(RANK, in_f, generator=g) * 0.02).half()
            tensors[f"{key}.lora_up.weight"] = (torch.randn(out_f, RANK, generator=g) * 0.02 * (1 + i / 10)).half()
            tensors[f"{key}.alpha"] = torch.tensor(float(RANK)).half()
        name = f"gpu-suite-lora-{i}.safetensors"
        save_file(tensors, str(folder / name))
        names.append(name)
    return names, len(targets)


def _median_ms(fn, before=None) -> tuple[float, object]:
    times, out = [], None
    for _ in range(REPEATS):
        if before is not None:
            before()
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def _core_loader():
    """A function (model, lora name, strength) -> model as core's LoraLoaderModelOnly node, and what it is."""
    try:
        import nodes

        def load(node, model, name, strength):
            return node.load_lora_model_only(model, name, strength)[0]

        return nodes.LoraLoaderModelOnly, load, "nodes.LoraLoaderModelOnly"
    except ImportError as e:
        why = f"{type(e).__name__}: {e}"
        import comfy.sd
        import comfy.utils
        import folder_paths

        class Fallback:  # what LoraLoader.load_lora does, without the node class (nodes.py not importable)
            pass

        def load(node, model, name, strength):
            lora = comfy.utils.load_torch_file(folder_paths.get_full_path_or_raise("loras", name), safe_load=True)
            return comfy.sd.load_lora_for_models(model, None, lora, strength, 0)[0]

        return Fallback, load, f"comfy.sd.load_lora_for_models (nodes.py not importable: {why})"


def _load(patcher, env):
    """(ms to patch_model onto the device, {key: patched weight clone}, Peak); the model is unpatched after."""
    import torch

    import comfy.utils

    pk = Peak(env.device)
    with pk:
        sync(env.device)
        t0 = time.perf_counter()
        patcher.patch_model(env.device)
        sync(env.device)
        ms = (time.perf_counter() - t0) * 1000
    weights = {k: comfy.utils.get_attr(patcher.model, k).detach().clone() for k in patcher.patches}
    patcher.unpatch_model(torch.device("cpu"), unpatch_weights=True)
    free(env.device)
    return ms, weights, pk


def run(env) -> dict:
    import torch

    import comfy.model_patcher
    import folder_paths
    from loadout.nodes.comfy_compat.lora import CACHE, apply_lora_stack

    toy = env.dry_run
    setting = "SDXL UNet fp16" + (" (toy)" if toy else "") + f", {N_LORAS} kohya LoRAs rank {RANK}"
    with stage("lora: build"):
        base, weights = build_unet("sdxl", torch.float16, env.device, toy)
        base.to("cpu")
        free(env.device)
        patcher = comfy.model_patcher.ModelPatcher(base, load_device=env.device, offload_device=torch.device("cpu"))
        names, modules = _write_loras(env.tmp / "loras", base)
        folder_paths.add_model_folder_path("loras", str(env.tmp / "loras"), is_default=True)
    stack = [(n, 0.5 + 0.05 * i, 0.0) for i, n in enumerate(names)]
    node_cls, core_load, core_via = _core_loader()

    with stage("lora: apply"):
        cold_ms, (ours_model, _clip, results) = _median_ms(lambda: apply_lora_stack(patcher, None, stack, 1.0, "error"),
                                                           before=CACHE.clear)
        cached_ms, (ours_model, _clip, results) = _median_ms(lambda: apply_lora_stack(patcher, None, stack, 1.0,
                                                                                      "error"))
        nodes_kept = [node_cls() for _ in names]

        def core_chain(fresh: bool):
            m = patcher
            for (name, sm, _sc), node in zip(stack, nodes_kept):
                m = core_load(node_cls() if fresh else node, m, name, sm)
            return m

        core_cold_ms, _ = _median_ms(lambda: core_chain(True))
        core_warm_ms, core_model = _median_ms(lambda: core_chain(False))
    applied = sum(1 for r in results if r.status == "applied")
    keys = sum(r.unet_keys for r in results)
    with stage("lora: load warm-up"):  # first transfers and kernels: not part of either load's time
        _load(patcher, env)
    with stage("lora: load ours"):
        ours_ms, ours_w, ours_pk = _load(ours_model, env)
    with stage("lora: load core"):
        core_ms, core_w, core_pk = _load(core_model, env)
    same_keys = set(ours_w) == set(core_w)
    identical = same_keys and all(torch.equal(ours_w[k], core_w[k]) for k in ours_w)
    differing = [k for k in ours_w if k in core_w and not torch.equal(ours_w[k], core_w[k])][:5]
    del ours_w, core_w
    free(env.device)
    perf_ok = (lambda x: x) if not toy else (lambda x: None)
    rows = [
        row(NAME, "core 8× LoraLoader, cold", setting, "ms/apply", core_cold_ms, 0.0, 1.0, "time / core cold",
            f"via {core_via}", "reference", None),
        row(NAME, "ours stack, cold", setting, "ms/apply", cold_ms, 0.0, cold_ms / core_cold_ms, "time / core cold",
            f"{applied}/{N_LORAS} applied, {keys} patches", "< core", perf_ok(cold_ms < core_cold_ms)),
        row(NAME, "core 8× LoraLoader, warm", setting, "ms/apply", core_warm_ms, 0.0, 1.0, "time / core warm",
            "nodes keep their file", "reference", None),
        row(NAME, "ours stack, cached", setting, "ms/apply", cached_ms, 0.0, cached_ms / core_warm_ms,
            "time / core warm", "file cache hit", "< core", perf_ok(cached_ms < core_warm_ms)),
        row(NAME, "core load + patch", setting, "ms/load", core_ms, core_pk.mib, 1.0, "time / core load",
            f"{len(core_model.patches)} weights patched on the " + ("GPU" if env.cuda else "CPU"), "reference", None),
        row(NAME, "ours load + patch", setting, "ms/load", ours_ms, ours_pk.mib, ours_ms / core_ms,
            "time / core load", "patched weights " + ("bit-identical to core's" if identical else
                                                      f"DIFFER from core's (e.g. {differing})"),
            "= core's weights", identical),
    ]
    details = {"modules_per_lora": modules, "repeats": REPEATS, "core_via": core_via, "weight_mib": round(weights / MIB, 1),
               "apply_ms": {"ours_cold": cold_ms, "ours_cached": cached_ms, "core_cold": core_cold_ms,
                            "core_warm": core_warm_ms},
               "load_ms": {"ours": ours_ms, "core": core_ms}, "patched_weights_identical": identical,
               "ratio_cached_vs_core_warm": cached_ms / core_warm_ms, "ratio_cold_vs_core_cold": cold_ms / core_cold_ms}
    return {"rows": rows, "details": details}
