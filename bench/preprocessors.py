"""Preprocessor speed on this machine: milliseconds per megapixel of the detection image for each preprocessor,
on the real photo (matplotlib's grace_hopper.jpg) at detection resolutions 512 and 1024 (median of 3 runs after
a warm-up; model loading is timed separately). Depth/segmentation use the tiny random models (their timings
show the plumbing, not a real model's cost); lineart realistic/anime run the real architectures with random
weights, so their timings are representative. Also: the pack's import time, and which heavy modules (cv2,
mediapipe, h5py, diffusers) importing the pack's nodes loads — it must be none."""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _import_check() -> dict:
    code = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from harness.paths import harness
from harness.inprocess import import_comfyui, import_pack
import_comfyui(harness().comfyui)
import folder_paths, nodes  # ComfyUI's own modules first
before = set(sys.modules)
import_pack()
import time
t = time.perf_counter()
from loadout.nodes.registry import load_nodes
classes, names, disabled = load_nodes("loadout")
dt = time.perf_counter() - t
heavy = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in {"cv2", "mediapipe", "h5py", "diffusers"})
print(json.dumps({"pack_nodes_import_s": round(dt, 3), "nodes": len(classes), "disabled": disabled,
                  "heavy_modules_loaded_by_pack": heavy}))
"""
    scripts = str(Path(__file__).resolve().parents[1] / "tests")
    out = subprocess.run([sys.executable, "-c", code, scripts], capture_output=True, text=True, timeout=300)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> dict:
    import matplotlib
    from PIL import Image
    import tiny_annotators
    from harness.inprocess import import_pack

    import_pack()
    from loadout.preprocessors import (canny, depth, hed, image_ops, lineart_models, lineart_standard, mlsd, normal, pose_mediapipe, scribble, segmentation, selfie_segmentation)

    photo = np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"))
    tmp = Path(tempfile.mkdtemp(prefix="loadout-bench-"))
    tiny_annotators.make_all(tmp, anime=True)
    loads = {}

    def timed_load(name, fn):
        t = time.perf_counter()
        obj = fn()
        loads[name] = round((time.perf_counter() - t) * 1000, 1)
        return obj

    hed_net = timed_load("hed", lambda: hed.load_hed(hed.find_hed_weights()))
    dm = timed_load("depth (tiny)", lambda: depth.load_depth_model(depth.find_depth_model([tmp])))
    sm = timed_load("segmentation ade20k (tiny)", lambda: segmentation.load_segmentation_model(
        segmentation.find_segmentation_model([tmp])))
    real = timed_load("lineart realistic", lambda: lineart_models.load_lineart(tmp / "lineart" / "sk_model.pth",
                                                                               "realistic"))
    anime = timed_load("lineart anime", lambda: lineart_models.load_lineart(tmp / "lineart" / "netG.pth", "anime"))
    fns = {
        "canny": lambda im: canny.canny(im),
        "mlsd": lambda im: mlsd.mlsd(im),
        "scribble_xdog": scribble.scribble_xdog,
        "scribble_hed": lambda im: scribble.scribble_from_soft_edges(hed.hed_soft_edge(im, hed_net)),
        "lineart_standard": lineart_standard.lineart_standard,
        "lineart_realistic": lambda im: lineart_models.lineart(im, real, "realistic"),
        "lineart_anime": lambda im: lineart_models.lineart(im, anime, "anime"),
        "hed": lambda im: hed.hed_soft_edge(im, hed_net),
        "pose_body": lambda im: pose_mediapipe.detect(im),
        "pose_body_hands_face": lambda im: pose_mediapipe.detect(im, hands=True, face=True),
        "segmentation_person": lambda im: selfie_segmentation.person_mask(im),
        "depth_tiny": lambda im: depth.estimate_depth(im, dm),
        "normal_from_depth_tiny": lambda im: normal.normal_from_depth(depth.estimate_depth(im, dm)),
        "segmentation_ade20k_tiny": lambda im: segmentation.segment_ade20k(im, sm),
    }
    results = {}
    for res in (512, 1024):
        det = image_ops.resize_for_detection(photo, res)
        mp = det.shape[0] * det.shape[1] / 1e6
        row = {}
        for name, fn in fns.items():
            fn(det)
            times = []
            for _ in range(3):
                t = time.perf_counter()
                fn(det)
                times.append(time.perf_counter() - t)
            row[name] = round(statistics.median(times) * 1000 / mp, 1)
        results[f"{det.shape[1]}x{det.shape[0]}"] = row
    import torch

    return {"ms_per_megapixel": results, "model_load_ms": loads, "torch_threads": torch.get_num_threads(),
            **_import_check()}
