"""VAE nodes through the real server with the tiny KL VAE and the real photo (matplotlib's grace_hopper.jpg)."""
import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from harness.graphs import TINY_SD15, TINY_SDXL, TINY_VAE
from harness.paths import harness

PHOTO = "loadout_grace_hopper.jpg"


@pytest.fixture(scope="module")
def photo(comfy):
    src = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    shutil.copyfile(src, harness().base / "input" / PHOTO)
    return PHOTO


def psnr(a, b, peak=255.0):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak ** 2 / mse)


def photo_graph(width, height, decoders: dict, vae_node=None):
    """LoadImage → scale → core VAEEncode → each decoder in ``decoders`` → SaveImage."""
    g = {
        "1": {"class_type": "LoadImage", "inputs": {"image": PHOTO}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                     "width": width, "height": height, "crop": "center"}},
        "3": vae_node or {"class_type": "VAELoader", "inputs": {"vae_name": TINY_VAE}},
        "4": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["3", 0]}},
    }
    for i, (node_id, spec) in enumerate(decoders.items()):
        g[node_id] = spec
        g[f"{node_id}9"] = {"class_type": "SaveImage", "inputs": {"images": [node_id, 0],
                                                                  "filename_prefix": f"loadout/vae_{node_id}"}}
    return g


def ours(tile, overlap=-1, budget=0, slice_=1, samples=("4", 0), mode="auto"):
    return {"class_type": "LoadoutVAEDecodeTiled", "inputs": {
        "samples": list(samples), "vae": ["3", 0], "tile_size": tile, "overlap": overlap,
        "memory_budget_mb": budget, "batch_slice": slice_, "memory_mode": mode}}


def images(comfy, result, node_id):
    files = [f for f in result.files() if f["node"] == f"{node_id}9"]
    from PIL import Image
    import io
    return np.asarray(Image.open(io.BytesIO(comfy.client.fetch(files[0]))))


def test_one_tile_is_bit_identical_to_core_decode(comfy, photo):
    result = comfy.run(photo_graph(128, 96, {
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["3", 0]}},
        "11": ours(512)}))
    assert np.array_equal(images(comfy, result, "10"), images(comfy, result, "11"))
    assert "1 tile(s)" in result.outputs["11"]["text"][0]


def test_multi_tile_decode_of_the_photo_matches_untiled(comfy, photo):
    result = comfy.run(photo_graph(256, 192, {
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["3", 0]}},
        "11": ours(64),
        "12": {"class_type": "VAEDecodeTiled", "inputs": {"samples": ["4", 0], "vae": ["3", 0], "tile_size": 64,
                                                          "overlap": 16, "temporal_size": 64,
                                                          "temporal_overlap": 8}},
        "13": ours(64, overlap=8),
        "14": ours(64, mode="low memory")}))
    ref, tiled, core, fast, low = (images(comfy, result, n) for n in ("10", "11", "12", "13", "14"))
    report = result.outputs["11"]["text"][0]
    assert "12 tile(s), halo 56 px (exact), fast mode" in report and "tile 64 px on cpu: ok" in report
    assert "low-memory mode" in result.outputs["14"]["text"][0]
    assert np.array_equal(tiled, low)  # checkpointed recomputation: the same pixels
    assert np.abs(ref.astype(int) - tiled.astype(int)).max() <= 1  # 8-bit rounding of a float-exact result
    assert psnr(ref, tiled) >= 60
    assert psnr(ref, tiled) > psnr(ref, core) + 6 and psnr(ref, tiled) > psnr(ref, fast)


def test_batch_slices_are_identical(comfy, photo):
    graph = photo_graph(128, 64, {"11": ours(64, slice_=1, samples=("5", 0)),
                                  "12": ours(64, slice_=3, samples=("5", 0))})
    graph["5"] = {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["4", 0], "amount": 3}}
    result = comfy.run(graph)
    a = [f for f in result.files() if f["node"] == "119"]
    b = [f for f in result.files() if f["node"] == "129"]
    assert len(a) == len(b) == 3
    from PIL import Image
    import io
    for x, y in zip(a, b):
        px, py = (np.asarray(Image.open(io.BytesIO(comfy.client.fetch(f)))) for f in (x, y))
        assert np.array_equal(px, py), np.abs(px.astype(int) - py.astype(int)).max()


def test_tiled_encode_matches_core_encode_with_odd_sizes(comfy, photo):
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": PHOTO}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                     "width": 333, "height": 517, "crop": "disabled"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": TINY_VAE}},
        "4": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["3", 0]}},
        "5": {"class_type": "LoadoutVAEEncodeTiled", "inputs": {"pixels": ["2", 0], "vae": ["3", 0],
                                                                "tile_size": 128, "batch_slice": 1}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["4", 0], "filename_prefix": "loadout/enc_core"}},
        "7": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "loadout/enc_ours"}},
    }
    result = comfy.run(graph)
    from safetensors.torch import load
    latents = {f["node"]: load(comfy.client.fetch(f))["latent_tensor"] for f in result.files()
               if f["kind"] == "latents"}
    core, tiled = latents["6"], latents["7"]
    assert core.shape == tiled.shape == (1, 4, 64, 41)
    assert (core - tiled).abs().max() <= 1e-4 * core.abs().max()
    assert "tile(s), halo" in result.outputs["5"]["text"][0]


@pytest.mark.allow_log(r"using ComfyUI's tiled decode: \w+ has no decoder in the ldm layout")  # the reason, logged
def test_non_kl_vae_falls_back_to_core_with_a_reason(comfy):
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x336699}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
        "4": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["3", 0]}},
        "11": ours(64),
        "119": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "loadout/vae_px"}},
    }
    result = comfy.run(graph)
    assert "ComfyUI's tiled decode was used" in result.outputs["11"]["text"][0]
    img = comfy.image(result)
    assert img.shape == (64, 64, 3)
    assert np.abs(img[10, 10].astype(int) - [0x33, 0x66, 0x99]).max() <= 1  # pixel space: the colour comes back


@pytest.fixture
def vae_config():
    path = harness().base / "user" / "loadout.json"
    path.write_text(json.dumps({"vae": {"family_defaults": {"SD1": TINY_VAE, "SDXL": "baked"}}}))
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.allow_log(r"fp16 requested but this VAE is not known to be fp16-safe")  # fp16 asked of SDXL's VAE
def test_vae_select_auto_uses_the_family_default(comfy, vae_config):
    def select(ckpt, dtype="auto"):
        graph = {
            "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
            "2": {"class_type": "LoadoutVAESelect", "inputs": {"mode": "auto", "vae_name": "None", "dtype": dtype,
                                                               "model": ["1", 0], "vae": ["1", 2]}},
            "3": {"class_type": "LoadoutVAEInfo", "inputs": {"vae": ["2", 0], "width": 1024, "height": 1024,
                                                             "tile_size": 512, "model": ["1", 0]}},
        }
        result = comfy.run(graph)
        return result.outputs["2"]["text"][0], result.outputs["3"]["text"][0]

    sd15, info = select(TINY_SD15)
    assert f"auto: model family SD1 → {TINY_VAE}" in sd15
    assert "tiling: seam-free (exact halo 56 px)" in info and "latent scale factor 0.18215" in info
    sdxl, info = select(TINY_SDXL, dtype="fp16")
    assert "auto: model family SDXL → baked" in sdxl
    assert "using fp32" in sdxl and "dtype float32" in sdxl
    assert "Segmind_Vega, latent scale factor 0.13025" in info


def test_vae_select_errors_name_the_input(comfy):
    graph = {"2": {"class_type": "LoadoutVAESelect", "inputs": {"mode": "auto", "vae_name": "None",
                                                                "dtype": "auto"}},
             "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 1]}}}
    assert "mode 'auto' needs the 'model' input" in str(comfy.run_expecting_error(graph))
    graph["2"]["inputs"]["mode"] = "baked"
    assert "input 'vae' is not connected" in str(comfy.run_expecting_error(graph))
