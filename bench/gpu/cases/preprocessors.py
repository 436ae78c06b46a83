"""Case 4 — the network-backed preprocessors with their networks on the GPU: milliseconds per megapixel.

The pack's own functions (``loadout.preprocessors.*``: HED soft edges, lineart realistic and anime, M-LSD lines,
Depth Anything depth, normals from that depth, SegFormer ADE20K segmentation) on matplotlib's photo at
detection resolution 1024 (the dry run: 128), each network loaded through the pack's loader where it has one
(lineart, M-LSD, depth, segmentation: files written here with seeded random weights in the real layouts —
full-size Depth Anything V2 Small and SegFormer-b0 configs, built offline; the dry run uses the tiny test
models) and moved to the GPU behind a thin adapter that moves the input there and the output back, so the
pack's CPU pre- and post-processing is timed with it. Median of 3 runs after one warm-up; the same function
with the network on this machine's CPU for comparison (one run). The pack's preprocessors themselves have no
device option yet: these figures say what one would give.

MediaPipe pose and selfie segmentation are not timed: MediaPipe's Python package runs on the CPU only and does
not travel. The reference implementation (controlnet_aux) does not travel either (its models download).
"""
from __future__ import annotations

import statistics
import time

from gpu.common import MIB, Peak, free, photo_u8, row, seeded_init, stage, sync

NAME = "preprocessors"
TITLE = "Network-backed preprocessors on the GPU"
TIMEOUT_S = 100
RUNS = 3


def _to_cpu(out):
    import types

    import torch

    if torch.is_tensor(out):
        return out.cpu()
    if isinstance(out, dict):  # transformers' ModelOutput is a dict
        return types.SimpleNamespace(**{k: _to_cpu(v) for k, v in out.items()})
    if isinstance(out, (list, tuple)):
        return type(out)(_to_cpu(v) for v in out)
    return out


def on_device(net, device):
    """``net`` on ``device`` behind the call the pack makes (tensors in, results back on the CPU)."""
    import torch

    class OnDevice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net.to(device)

        @property
        def config(self):
            return self.net.config

        def forward(self, *args, **kwargs):
            args = [a.to(device) if torch.is_tensor(a) else a for a in args]
            kwargs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in kwargs.items()}
            return _to_cpu(self.net(*args, **kwargs))

    return OnDevice().eval()


def _depth_folder(dest, toy: bool):
    """A Depth Anything folder: the test's tiny model, or Depth Anything V2 Small's config with seeded weights."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    import tiny_annotators

    if toy:
        return tiny_annotators.make_tiny_depth_anything(dest)
    torch.manual_seed(11)
    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                            patch_size=14, image_size=518, out_features=["stage3", "stage6", "stage9", "stage12"],
                            reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384, neck_hidden_sizes=[48, 96, 192, 384],
                              reassemble_factors=[4, 2, 1, 0.5], fusion_hidden_size=64, head_hidden_size=32,
                              patch_size=14, depth_estimation_type="relative")
    dest.mkdir(parents=True, exist_ok=True)
    DepthAnythingForDepthEstimation(cfg).save_pretrained(dest)
    DPTImageProcessor(do_resize=True, size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                      ensure_multiple_of=14, resample=3, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                      image_std=[0.229, 0.224, 0.225]).save_pretrained(dest)
    return dest


def _segformer_folder(dest, toy: bool):
    """A SegFormer ADE20K folder: the test's tiny model, or SegFormer-b0's config (150 classes), seeded."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    import tiny_annotators

    if toy:
        return tiny_annotators.make_tiny_segformer_ade20k(dest)
    torch.manual_seed(12)
    cfg = SegformerConfig(num_labels=150, hidden_sizes=[32, 64, 160, 256], num_attention_heads=[1, 2, 5, 8],
                          depths=[2, 2, 2, 2], decoder_hidden_size=256, sr_ratios=[8, 4, 2, 1],
                          id2label={i: f"class_{i}" for i in range(150)}, label2id={f"class_{i}": i for i in range(150)})
    dest.mkdir(parents=True, exist_ok=True)
    SegformerForSemanticSegmentation(cfg).save_pretrained(dest)
    SegformerImageProcessor(size={"height": 512, "width": 512}).save_pretrained(dest)
    return dest


def _networks(env):
    """name -> (function of (image, net), CPU network); built once, moved to the device per measurement."""
    import tiny_annotators
    from loadout.preprocessors import depth, hed, lineart_models, mlsd_model, normal, segmentation

    root = env.tmp / "annotators"
    hed_net = hed._build()  # the pack's HED network; its weights (an h5 file) do not travel: seeded instead
    seeded_init(hed_net, 13)
    hed_net.eval().requires_grad_(False)
    realistic = lineart_models.load_lineart(tiny_annotators.make_tiny_lineart_realistic(root / "lineart" / "sk_model.pth"),
                                            "realistic")
    anime = lineart_models.load_lineart(tiny_annotators.make_tiny_lineart_anime(root / "lineart" / "netG.pth"), "anime")
    mlsd_net = mlsd_model.load_mlsd(tiny_annotators.make_tiny_mlsd(root / "mlsd" / "mlsd_large_512_fp32.pth"))
    dm = depth.load_depth_model(_depth_folder(root / "depth" / "depth-anything-v2-small-random", env.dry_run))
    sm = segmentation.load_segmentation_model(_segformer_folder(root / "segmentation" / "segformer-b0-random",
                                                                env.dry_run))

    def with_model(holder, model):
        clone = type(holder).__new__(type(holder))
        clone.__dict__.update(holder.__dict__)
        clone.model = model
        return clone

    return {
        "hed": (lambda im, net: hed.hed_soft_edge(im, net), hed_net),
        "lineart_realistic": (lambda im, net: lineart_models.lineart(im, net, "realistic"), realistic),
        "lineart_anime": (lambda im, net: lineart_models.lineart(im, net, "anime"), anime),
        "mlsd": (lambda im, net: mlsd_model.mlsd_lines(im, net), mlsd_net),
        "depth_anything_v2_small": (lambda im, net: depth.estimate_depth(im, with_model(dm, net)), dm.model),
        "normal_from_depth": (lambda im, net: normal.normal_from_depth(depth.estimate_depth(im, with_model(dm, net))),
                              dm.model),
        "segformer_b0_ade20k": (lambda im, net: segmentation.segment_ade20k(im, with_model(sm, net)), sm.model),
    }


def _time(fn, image, device, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn(image)
    times = []
    for _ in range(runs):
        sync(device)
        t0 = time.perf_counter()
        fn(image)
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(env) -> dict:
    import numpy as np
    import torch

    from loadout.preprocessors import image_ops

    resolution = env.pick(1024, 128)
    img = photo_u8()
    if img is None:
        img = (np.random.default_rng(3).random((600, 512, 3)) * 255).astype(np.uint8)
    det = image_ops.resize_for_detection(img, resolution)
    mp = det.shape[0] * det.shape[1] / 1e6
    setting = f"{det.shape[1]}×{det.shape[0]} ({mp:.2f} MP)" + (" toy models" if env.dry_run else ", fp32")
    with stage("preprocessors: networks"):
        nets = _networks(env)
    rows, details = [], {"detection": list(det.shape[:2]), "megapixels": mp, "runs": RUNS, "ms_per_mp": {},
                         "skipped": {"pose_mediapipe, selfie_segmentation": "MediaPipe runs on the CPU only and does "
                                     "not travel", "reference (controlnet_aux)": "not carried: its models download"}}
    cpu = torch.device("cpu")
    for name, (fn, net) in nets.items():
        with stage(f"preprocessors: {name}"):
            pk = Peak(env.device)
            wrapped = on_device(net, env.device)
            if env.cuda:
                pk.base = Peak(env.device).base  # the network's weights are not the preprocessor's peak
            with pk:
                seconds = _time(lambda im: fn(im, wrapped), det, env.device, *env.pick((RUNS, 1), (1, 0)))
            cpu_seconds = None
            if env.cuda:  # the same function with the network on this machine's CPU, once
                wrapped = on_device(net, cpu)
                cpu_seconds = _time(lambda im: fn(im, wrapped), det, cpu, 1, 0)
            del wrapped
            free(env.device)
        ms_mp = seconds * 1000 / mp
        d = details["ms_per_mp"][name] = {"device": round(ms_mp, 2), "peak_bytes": pk.peak_bytes}
        ratio = None
        quality = "network on the " + ("GPU" if env.cuda else "CPU (dry run)")
        if cpu_seconds is not None:
            d["cpu"] = round(cpu_seconds * 1000 / mp, 2)
            ratio = seconds / cpu_seconds
            quality += f"; CPU {d['cpu']:,.0f} ms/MP"
        rows.append(row(NAME, name, setting, "ms/MP", ms_mp, pk.peak_bytes / MIB, ratio,
                        "time / CPU" if ratio is not None else "", quality, "information", None))
    return {"rows": rows, "details": details}
