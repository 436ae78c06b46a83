"""Applying a stack of 8 LoRAs: Loadout's apply (cold and cached) against 8 chained core LoraLoader nodes.

In-process on the CPU with the tiny SD1.5 checkpoint and 8 kohya-layout LoRAs (rank 4, 120 modules each,
written to a temporary folder registered as a LoRA folder for this process only). Applying a LoRA in ComfyUI
adds patches; the weights are patched when the model next loads, identically for both, so this measures the
part the nodes own: reading files, matching keys, building patches. Median of REPEATS runs.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from harness.graphs import TINY_KOHYA, TINY_SD15
from harness.inprocess import import_comfyui, import_pack
from harness.paths import harness

N_LORAS = 8
REPEATS = 5


def _median_ms(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run() -> dict:
    h = harness()
    import_comfyui(h.comfyui)
    import_pack()
    import torch
    from safetensors.torch import load_file, save_file

    import comfy.sd
    import folder_paths
    import nodes as comfy_nodes
    from loadout.nodes.comfy_compat.lora import CACHE, apply_lora_stack

    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(h.models / "checkpoints" / TINY_SD15),
                                                              output_vae=False)
    base = load_file(str(h.models / "loras" / TINY_KOHYA))
    with tempfile.TemporaryDirectory(prefix="loadout-bench-loras-") as tmp:
        names = []
        for i in range(N_LORAS):
            name = f"bench-lora-{i}.safetensors"
            save_file({k: (v * (1 + i / 10) if k.endswith("up.weight") else v) for k, v in base.items()},
                      str(Path(tmp) / name))
            names.append(name)
        folder_paths.add_model_folder_path("loras", tmp, is_default=True)
        stack = [(n, 0.5, 0.4) for n in names]

        def ours():
            apply_lora_stack(model, clip, stack, 1.0, "error")

        def core_chain():
            m, c = model, clip
            for n, sm, sc in stack:
                m, c = comfy_nodes.LoraLoader().load_lora(m, c, n, sm, sc)

        cold = []
        for _ in range(REPEATS):
            CACHE.clear()
            t0 = time.perf_counter()
            ours()
            cold.append((time.perf_counter() - t0) * 1000)
        cold_ms = statistics.median(cold)
        cached_ms = _median_ms(ours)
        core_ms = _median_ms(core_chain)
    return {
        "n_loras": N_LORAS, "modules_per_lora": 120, "repeats": REPEATS, "torch_threads": torch.get_num_threads(),
        "apply_ms_cold_8": round(cold_ms, 2), "apply_ms_cached_8": round(cached_ms, 2),
        "core_chain_ms_8": round(core_ms, 2),
        "ratio_vs_core_chain_8": round(cached_ms / core_ms, 3),
        "ratio_cold_vs_core_chain_8": round(cold_ms / core_ms, 3),
    }
