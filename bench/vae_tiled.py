"""Tiled VAE decode: quality and memory of Loadout's tiled decode against untiled and core's VAEDecodeTiled.

A full SD-architecture KL VAE (the harness's randomly initialised one) decodes the latent of the real photo
matplotlib/mpl-data/sample_data/grace_hopper.jpg, encoded by the same VAE, at SIZE² output (1024 by default;
FULL=1 adds 2048²). Every variant runs in its own process so its peak RSS is its own:

- untiled: the decoder's own forward (``post_quant_conv`` + ``decoder``), as core VAEDecode runs it;
- ours: ``vram.vae.tiling.decode_tiled`` at TILE px tiles with the exact halo, low-memory (checkpointed) mode;
- ours_fast: the same in lockstep mode (all tiles' activations kept between GroupNorms: less compute, more
  memory);
- core: ComfyUI's ``VAE.decode_tiled`` (VAEDecodeTiled) at the same tile size, overlap OVERLAP px.

All outputs are compared as images in [0, 1] (ComfyUI's ``process_output``); PSNR uses the untiled output's
value range as its peak. Targets: psnr_db_ours >= 40, peak_ratio_ours <= 0.35,
psnr_db_ours - psnr_db_core >= 6.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))  # bench/: the GPU suite's shared pieces (gpu.common)
TILE = int(os.environ.get("TILE", "128"))
OVERLAP = int(os.environ.get("OVERLAP", str(TILE // 4)))  # core's VAEDecodeTiled caps overlap at tile/4


def _setup():
    sys.path.insert(0, str(HERE.parents[1] / "tests"))
    from harness.inprocess import import_comfyui, import_pack
    from harness.paths import harness

    h = harness()
    import_comfyui(h.comfyui)
    import_pack()
    import torch

    import comfy.sd
    import comfy.utils

    torch.set_grad_enabled(False)
    return h, comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(h.models / "vae" / "loadout-tiny-kl-vae.safetensors")))


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; return that RSS in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS")


def worker(variant: str, latent_path: str, out_path: str) -> None:
    _, vae = _setup()
    import torch

    from loadout.vram.vae.tiling import decode_tiled

    z = torch.load(latent_path, weights_only=True)
    fsm = vae.first_stage_model
    base = _reset_peak()  # the decode's own peak, not the model load's
    t0 = time.perf_counter()
    if variant == "untiled":
        out = vae.process_output(fsm.decoder(fsm.post_quant_conv(z)))
    elif variant == "ours":
        out = vae.process_output(decode_tiled(fsm.decoder, fsm.post_quant_conv(z), TILE // 8, low_memory=True))
    elif variant == "ours_fast":
        out = vae.process_output(decode_tiled(fsm.decoder, fsm.post_quant_conv(z), TILE // 8))
    elif variant == "core":
        out = vae.decode_tiled(z, tile_x=TILE // 8, tile_y=TILE // 8, overlap=OVERLAP // 8).movedim(-1, 1)
    else:
        raise SystemExit(f"unknown variant {variant}")
    wall = time.perf_counter() - t0
    peak = _status_mb("VmHWM")
    torch.save(out.float().contiguous(), out_path)
    print(json.dumps({"wall_s": wall, "peak_rss_mb": peak, "base_rss_mb": base}))


def _encode_photo(size: int, latent_path: str) -> None:
    _, vae = _setup()
    import torch

    from gpu.common import photo  # shared with bench/gpu/

    x = photo(size)
    fsm = vae.first_stage_model
    from loadout.vram.vae.tiling import encode_tiled

    moments = fsm.quant_conv(encode_tiled(fsm.encoder, x, 32))
    torch.save(moments[:, :4].contiguous(), latent_path)  # the posterior mode, as ComfyUI's encode returns


def _psnr(ref, out) -> float:
    from gpu.common import psnr  # shared with bench/gpu/

    return psnr(ref, out)


def _one_size(size: int, tmp: str) -> dict:
    import torch

    latent = os.path.join(tmp, f"latent{size}.pt")
    subprocess.run([sys.executable, str(HERE), "--encode", str(size), latent], check=True)
    results, outputs = {}, {}
    for variant in ("untiled", "ours", "ours_fast", "core"):
        out = os.path.join(tmp, f"{variant}{size}.pt")
        proc = subprocess.run([sys.executable, str(HERE), "--worker", variant, latent, out], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            results[variant] = {"error": f"exit {proc.returncode} (killed: out of memory?)",
                                "stderr": proc.stderr[-500:]}
            continue
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
        outputs[variant] = torch.load(out, weights_only=True)
    row = {"size": size, "tile_px": TILE, "core_overlap_px": OVERLAP, "variants": results}
    if "untiled" in outputs:
        ref = outputs["untiled"]
        untiled_peak = results["untiled"]["peak_rss_mb"] - results["untiled"]["base_rss_mb"]
        for v in ("ours", "ours_fast", "core"):
            if v in outputs:
                row[f"psnr_db_{v}"] = round(_psnr(ref, outputs[v]), 2)
                row[f"max_abs_diff_{v}"] = float((ref - outputs[v]).abs().max())
                row[f"peak_ratio_{v}"] = round((results[v]["peak_rss_mb"] - results[v]["base_rss_mb"]) / untiled_peak, 3)
    if "ours" in results and "core" in results and "wall_s" in results["core"]:
        row["wall_ratio_ours_vs_core"] = round(results["ours"]["wall_s"] / results["core"]["wall_s"], 3)
    return row


def run() -> dict:
    sizes = [int(os.environ.get("SIZE", "1024"))] + ([2048] if os.environ.get("FULL") == "1" else [])
    with tempfile.TemporaryDirectory(prefix="loadout-vae-bench-") as tmp:
        rows = [_one_size(s, tmp) for s in sizes]
    head = rows[0]
    summary = {k: head[k] for k in ("psnr_db_ours", "psnr_db_core", "peak_ratio_ours", "peak_ratio_core",
                                    "wall_ratio_ours_vs_core", "psnr_db_ours_fast", "peak_ratio_ours_fast")
               if k in head}
    summary["targets"] = {"psnr_db_ours": ">= 40", "peak_ratio_ours": "<= 0.35", "psnr_gain_vs_core_db": ">= 6"}
    summary["peak_rss_note"] = ("peak RSS (VmHWM, reset after loading the VAE and the latent) minus the RSS at "
                                "that point. The low-memory mode ('ours') pins glibc's mmap threshold during the "
                                "decode (vram/cpu_heap.py) so freed tile buffers leave the process; the other "
                                "variants run with glibc's defaults")
    summary["malloc_mmap_threshold"] = os.environ.get("MALLOC_MMAP_THRESHOLD_", "default")
    return {**summary, "sizes": rows}


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
    elif sys.argv[1] == "--encode":
        _encode_photo(int(sys.argv[2]), sys.argv[3])
