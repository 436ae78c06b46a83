"""Preprocessor speed on this machine: milliseconds per megapixel of the detection image for each preprocessor,
on the real photo (matplotlib's grace_hopper.jpg) at detection resolutions 512 and 1024 (median of 3 runs after
a warm-up; model loading is timed separately). Depth/segmentation use the tiny random models (their timings
show the plumbing, not a real model's cost); lineart realistic/anime run the real architectures with random
weights, so their timings are representative. Also: the pack's import time, and which heavy modules (cv2,
mediapipe, h5py, diffusers) importing the pack's nodes loads — it must be none.

``vs_reference``: for every preprocessor with a reference implementation (controlnet-aux 0.0.10, installed in the
test venvs only and imported through ``tests/harness/reference.py``), ours and the reference's on the same photo,
detection sizes and seeded weights (built as the oracle tests build them: ``tests/unit/test_lines_reference.py``,
``tests/unit/test_softedge_reference.py``), timed the same way: ours as the oracle tests call it
(``image_ops.resize_for_detection`` then our function), the reference's whole ``__call__(img, detect_resolution=R,
image_resolution=R, output_type="np")``; one warm-up of each side per network and size, then runs interleaved
(ours and the reference's alternately, the order swapped every round, so the shared machine's noise hits both), the
median of each; ``ratio_vs_reference`` = ours / reference (below 1: ours is faster). ``same_map`` records that the
two maps of the run are equal value for value, so both timed the same work. Canny and lineart standard at 512 and
1024, the networks at 512 (anime lineart at 256), to keep the whole bench near 10 minutes on 2 cores."""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for _folder in ("scripts", "tests"):  # the tiny-model generators; the test harness package
    if str(REPO / _folder) not in sys.path:
        sys.path.insert(0, str(REPO / _folder))


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
    shutil.rmtree(tmp, ignore_errors=True)  # the tiny models (~150 MB), read into memory above
    import torch

    return {"ms_per_megapixel": results, "model_load_ms": loads, "torch_threads": torch.get_num_threads(),
            "vs_reference": vs_reference(photo), **_import_check()}


# --- ours against the reference implementation (controlnet-aux 0.0.10) ---

CHEAP_RESOLUTIONS = (512, 1024)  # canny, lineart standard: the sizes of the rows above
# The networks at 512 only: one call takes 3-10 s there on this shared 2-core machine (30-45 s at 1024), and each
# row needs both sides' runs; 512 is the sizes' first and the oracle tests' size.
NETWORK_RESOLUTIONS = (512,)
ANIME_RESOLUTION = 256  # the anime U-Net (54 M parameters) at one small size, as its oracle test: 320x256 -> 512x256
SOFTEDGE_SEED = 20261616  # tests/unit/test_softedge_reference.py's seed: the same weights as the oracle tests
LINES_SEED = 20261605  # tests/unit/test_lines_reference.py's
MIN_RUNS, MAX_RUNS, PAIR_BUDGET_S = 3, 15, 2.0  # timed runs per side: at least 3, more while both fit in 2 s


def _oracle_module(name: str):
    """A test module of tests/unit (its seeded-weight helpers), imported under a private name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"loadout_bench_{name}", REPO / "tests" / "unit" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference_weights(photo: np.ndarray, folder: Path) -> dict:
    """The seeded weight files in the published layouts, as the oracle tests write them: {kind: path}."""
    import functools

    import tiny_annotators
    import torch
    from harness.reference import reference
    from torch import nn

    from loadout.preprocessors import hed, image_ops, mlsd_model, pidinet

    files = {"hed": folder / "hed" / hed.CONTROLNET_HED_NAME, "pidinet": folder / "pidinet" / pidinet.FILE_NAME,
             "lineart": folder / "lineart", "anime": folder / "lineart_anime", "mlsd": folder / "mlsd"}
    tiny_annotators.make_tiny_controlnet_hed(files["hed"], SOFTEDGE_SEED)
    tiny_annotators.make_tiny_pidinet(files["pidinet"], SOFTEDGE_SEED)
    for key in ("lineart", "anime", "mlsd"):
        files[key].mkdir(parents=True)
    generator = reference("lineart").Generator
    for offset, name in enumerate(("sk_model.pth", "sk_model2.pth")):
        torch.manual_seed(LINES_SEED + offset)
        torch.save(generator(3, 1, 3).state_dict(), files["lineart"] / name)
    torch.manual_seed(LINES_SEED + 2)
    norm = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    unet = reference("lineart_anime").UnetGenerator(3, 1, 8, 64, norm_layer=norm, use_dropout=False)
    torch.save({f"module.{k}": v.half() for k, v in unet.state_dict().items()}, files["anime"] / "netG.pth")
    torch.manual_seed(LINES_SEED + 3)
    seeded_mlsd = _oracle_module("test_lines_reference").seeded_mlsd
    torch.save(seeded_mlsd(image_ops.resize_for_detection(photo, 512)).state_dict(),
               files["mlsd"] / mlsd_model.FILE_NAMES[0])
    # the classic-annotator checkpoints (issue 18), seeded as their oracle tests seed them
    from loadout.preprocessors import depth_anything, midas, openpose

    midas_test = _oracle_module("test_midas_reference")
    torch.manual_seed(midas_test.SEED)
    ref_midas = midas_test.reference_network().eval()
    midas_test.calibrate_the_head(ref_midas, image_ops.resize_for_detection(photo, 256))
    files["midas"] = folder / "midas" / midas.FILE
    files["midas"].parent.mkdir(parents=True)
    torch.save(ref_midas.state_dict(), files["midas"])
    op_test = _oracle_module("test_openpose_reference")
    ref_body = op_test.seeded_weights(reference("open_pose.model").bodypose_model(), op_test.SEED)
    files["openpose"] = folder / "openpose"
    files["openpose"].mkdir(parents=True)
    torch.save(op_test._file_layout(ref_body.state_dict()), files["openpose"] / openpose.BODY_FILE)
    da_test = _oracle_module("test_depth_anything_ckpt")
    da_model = da_test.random_model(da_test.V2_SMALL_HF, seed=2)
    files["depth_anything_hf"] = da_model
    files["depth_anything"] = folder / "depth" / "depth_anything_v2_vits.pth"
    files["depth_anything"].parent.mkdir(parents=True)
    torch.save(da_test.original_layout(da_model.state_dict(), 12), files["depth_anything"])
    files["dwpose"] = tiny_annotators.make_tiny_dwpose(folder / "dwpose")
    return files


def _pairs(photo: np.ndarray, files: dict) -> list:
    """(name, group, resolutions, ours(image, R), reference(image, R), takes the detection image) per preprocessor;
    the rows of a group run the same network shapes (one warm-up serves them all)."""
    import torch
    from harness.reference import reference

    from loadout.preprocessors import (canny, hed, image_ops, lineart_models, lineart_standard, mlsd_model, pidinet,
                                       scribble)

    det = image_ops.resize_for_detection
    ref_hed_net = reference("hed").ControlNetHED_Apache2()
    ref_hed_net.load_state_dict(torch.load(files["hed"], map_location="cpu", weights_only=True), strict=True)
    ref_hed = reference("hed").HEDdetector(ref_hed_net.float().eval())
    ref_pidi_net = reference("pidi").pidinet()
    published = torch.load(files["pidinet"], map_location="cpu", weights_only=True)["state_dict"]
    ref_pidi_net.load_state_dict({k[len("module."):]: v for k, v in published.items()}, strict=True)
    ref_pidi = reference("pidi").PidiNetDetector(ref_pidi_net.eval())
    ref_lineart = reference("lineart").LineartDetector.from_pretrained(str(files["lineart"]))
    ref_anime = reference("lineart_anime").LineartAnimeDetector.from_pretrained(str(files["anime"]))
    ref_mlsd = reference("mlsd").MLSDdetector.from_pretrained(str(files["mlsd"]))
    ref_canny = reference("canny").CannyDetector()
    ref_standard = reference("lineart_standard").LineartStandardDetector()

    hed_net = hed.load_controlnet_hed(files["hed"])
    pidi_net = pidinet.load_pidinet(files["pidinet"])
    real = lineart_models.load_lineart(files["lineart"] / "sk_model.pth", "realistic")
    coarse = lineart_models.load_lineart(files["lineart"] / "sk_model2.pth", "coarse")
    anime = lineart_models.load_lineart(files["anime"] / "netG.pth", "anime")
    mlsd_net = mlsd_model.load_mlsd(files["mlsd"] / mlsd_model.FILE_NAMES[0])

    def call(detector, **kw):
        return lambda im, r: detector(im, detect_resolution=r, image_resolution=r, output_type="np", **kw)

    cheap, nets = CHEAP_RESOLUTIONS, NETWORK_RESOLUTIONS
    pairs = [
        ("canny", "canny", cheap, lambda im, r: canny.canny(det(im, r)), call(ref_canny), False),
        # no image_resolution: the reference resizes its map back to its input, so both get the detection image
        ("lineart_standard", "lineart_standard", cheap, lambda im, r: lineart_standard.lineart_standard(det(im, r)),
         lambda im, r: ref_standard(im, detect_resolution=r, output_type="np"), True),
        ("lineart_realistic", "lineart", nets, lambda im, r: lineart_models.lineart(det(im, r), real, "realistic"),
         call(ref_lineart), False),
        ("lineart_coarse", "lineart", nets, lambda im, r: lineart_models.lineart(det(im, r), coarse, "coarse"),
         call(ref_lineart, coarse=True), False),
        ("lineart_anime", "anime", (ANIME_RESOLUTION,),
         lambda im, r: lineart_models.lineart(det(im, r), anime, "anime"), call(ref_anime), False),
        ("mlsd_network", "mlsd", nets, lambda im, r: mlsd_model.mlsd_lines(det(im, r), mlsd_net), call(ref_mlsd),
         False),
    ]
    for family, net, soft_fn, ref in (("hed", hed_net, hed.hed_soft_edge, ref_hed),
                                      ("pidinet", pidi_net, pidinet.pidinet_soft_edge, ref_pidi)):
        pairs += [
            (f"{family}_soft_edge", family, nets, lambda im, r, n=net, f=soft_fn: f(det(im, r), n), call(ref),
             False),
            (f"{family}_safe", family, nets, lambda im, r, n=net, f=soft_fn: f(det(im, r), n, True),
             call(ref, safe=True), False),
            (f"{family}_scribble", family, nets,
             lambda im, r, n=net, f=soft_fn: scribble.scribble_from_soft_edges(f(det(im, r), n), 127, 3.0),
             call(ref, scribble=True), False),
        ]
    pairs += _checkpoint_pairs(files)
    return pairs


def _checkpoint_pairs(files: dict) -> list:
    """The issue-18 networks: MiDaS DPT-hybrid and the OpenPose body against controlnet-aux's detectors (whole
    ``__call__``), Depth Anything v2 (our checkpoint loader) against transformers' own model and processor on the
    same weights (the reference Depth Anything code we map onto), DWPose against rtmlib's YOLOX + RTMPose on the
    same ONNX files (tiny seeded graphs: that row times the pipeline around the networks, not a real network)."""
    import torch
    from harness.reference import reference

    from loadout.preprocessors import depth, depth_anything, dwpose, image_ops, midas, openpose

    det = image_ops.resize_for_detection
    api = reference("midas.api")
    inference = api.MiDaSInference.__new__(api.MiDaSInference)
    torch.nn.Module.__init__(inference)
    ref_net = reference("midas.midas.dpt_depth").DPTDepthModel(path=None, backbone="vitb_rn50_384",
                                                                non_negative=True)
    ref_net.load(str(files["midas"]))
    inference.model = ref_net.eval()
    ref_midas = reference("midas").MidasDetector(inference)
    our_midas = midas.load_midas(files["midas"])
    op = reference("open_pose")
    ref_pose = op.OpenposeDetector(op.Body(str(files["openpose"] / openpose.BODY_FILE)))
    our_body = openpose.load_body(files["openpose"] / openpose.BODY_FILE)

    def our_pose(im, r):
        d = det(im, r)
        return openpose.draw(openpose.detect(d, our_body), d.shape[1], d.shape[0], hands=False, face=False)

    da = depth_anything.load_depth_anything(files["depth_anything"])
    hf = depth.DepthModel(files["depth_anything"], files["depth_anything_hf"], depth_anything.make_processor())

    def grey(m):
        return np.repeat(m[:, :, None], 3, axis=2)

    det_s, pose_s = (dwpose.load_session(f) for f in files["dwpose"])
    ref_dw = _rtmlib_dwpose(files["dwpose"])

    def our_dw(im, r):
        d = det(im, r)
        boxes, _ = dwpose.detect_people(d, det_s)
        return dwpose.to_openpose(*dwpose.estimate(d, boxes, pose_s))

    nets = NETWORK_RESOLUTIONS
    return [
        ("midas_dpt_hybrid", "midas", nets, lambda im, r: midas.midas_depth(det(im, r), our_midas),
         lambda im, r: ref_midas(im, detect_resolution=r, image_resolution=r, output_type="np"), False),
        ("openpose_body", "openpose", nets, our_pose,
         lambda im, r: ref_pose(im, detect_resolution=r, image_resolution=r, include_body=True, output_type="np"),
         False),
        ("depth_anything_v2_small", "depth_anything", nets, lambda im, r: depth.estimate_depth(det(im, r), da),
         lambda im, r: grey(depth.estimate_depth(det(im, r), hf)), False),
        ("dwpose_tiny_onnx", "dwpose", nets, our_dw, lambda im, r: ref_dw(det(im, r)), False),
    ]


def _rtmlib_dwpose(paths):
    """rtmlib's YOLOX + RTMPose on the two files, configured as DWPose runs (tests/unit/test_dwpose_reference.py:
    score 0.3, NMS 0.45, class 0 kept, the SimCC score as the smaller axis maximum): image -> Nx134x3."""
    import rtmlib
    from rtmlib.tools.pose_estimation import post_processings, rtmpose

    def min_rule(simcc_x, simcc_y):
        locs, vals = post_processings.get_simcc_maximum3d(simcc_x, simcc_y, simcc_x)
        return locs[..., :2], vals

    rtmpose.get_simcc_maximum = min_rule  # this bench process only
    det = rtmlib.YOLOX(str(paths[0]), model_input_size=(640, 640), nms_thr=0.45, score_thr=0.3,
                       det_mode="multiclass", backend="onnxruntime", device="cpu")
    pose = rtmlib.RTMPose(str(paths[1]), model_input_size=(288, 384), to_openpose=True, backend="onnxruntime",
                          device="cpu")

    def run(image):
        boxes, classes = det(image.copy())
        pts, scores = pose(image.copy(), bboxes=list(boxes[classes == 0]))
        return np.concatenate([pts, scores[..., None]], -1)

    return run


def _same_map(ours: np.ndarray, ref: np.ndarray) -> bool:
    """Ours (HxW uint8) equals the reference's map (HxWx3 uint8, three equal channels), value for value; a colour
    map (the pose drawing) or keypoints (DWPose's Nx134x3) must equal the reference's array as it is."""
    if ours.ndim == 3 or ours.dtype != np.uint8:
        return ours.shape == ref.shape and bool(np.array_equal(ours, ref))
    return (ours.dtype == ref.dtype == np.uint8 and ref.ndim == 3 and ours.shape == ref.shape[:2]
            and bool((ref == ours[:, :, None]).all()))


def _interleaved(ours, theirs) -> tuple[list, list, np.ndarray, np.ndarray]:
    """Timed runs alternating the two, the order swapped each round: at least MIN_RUNS, more while the rounds so far
    fit PAIR_BUDGET_S, at most MAX_RUNS. Returns both lists of seconds and the first run's outputs."""
    t_ours, t_ref, outs = [], [], {}
    while len(t_ours) < MAX_RUNS:
        for fn, times in ((ours, t_ours), (theirs, t_ref))[::(1 if len(t_ours) % 2 == 0 else -1)]:
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
            outs.setdefault(id(times), out)
        if len(t_ours) >= MIN_RUNS and sum(t_ours) + sum(t_ref) > PAIR_BUDGET_S:
            break
    return t_ours, t_ref, outs[id(t_ours)], outs[id(t_ref)]


def vs_reference(photo: np.ndarray) -> dict:
    """Ours against controlnet-aux 0.0.10 on the same image, sizes and weights: see the module docstring."""
    import torch
    from harness.reference import reference_version

    from loadout.preprocessors import image_ops

    import os

    load_before = os.getloadavg()[0]  # another job on the 2 cores shows here (the ratios are meant to absorb it)
    with tempfile.TemporaryDirectory(prefix="loadout-bench-reference-") as folder:  # ~140 MB, read into memory
        pairs = _pairs(photo, _reference_weights(photo, Path(folder)))
    rows: dict = {}
    warm = set()
    for name, group, resolutions, ours, theirs, takes_detection_image in pairs:
        for res in resolutions:
            det = image_ops.resize_for_detection(photo, res)
            img = det if takes_detection_image else photo
            mp = det.shape[0] * det.shape[1] / 1e6
            if (group, res) not in warm:  # one warm-up each (first-call allocations, kernel choice) per shapes
                ours(img, res)
                theirs(img, res)
                warm.add((group, res))
            t_ours, t_ref, out_ours, out_ref = _interleaved(lambda f=ours, i=img, r=res: f(i, r),
                                                            lambda f=theirs, i=img, r=res: f(i, r))
            ours_ms = statistics.median(t_ours) * 1000 / mp
            ref_ms = statistics.median(t_ref) * 1000 / mp
            same = _same_map(out_ours, out_ref)
            if not same:
                print(f"[bench] {name} at {res}: our map differs from the reference's", file=sys.stderr)
            rows.setdefault(f"{det.shape[1]}x{det.shape[0]}", {})[name] = {
                "resolution": res, "ours_ms_per_mp": round(ours_ms, 1), "reference_ms_per_mp": round(ref_ms, 1),
                "ratio_vs_reference": round(ours_ms / ref_ms, 3), "same_map": same, "runs": len(t_ours)}
    ratios = [r["ratio_vs_reference"] for row in rows.values() for r in row.values()]
    return {
        "reference": f"controlnet-aux {reference_version()}",
        "method": ("same photo (grace_hopper.jpg, 600x512), detection sizes and seeded weights on both sides; ours: "
                   "image_ops.resize_for_detection + our function; reference: the detector's whole __call__(img, "
                   "detect_resolution=R, image_resolution=R, output_type='np'); one warm-up of each side per "
                   "network and size, then runs interleaved (order swapped each round; "
                   f"{MIN_RUNS}-{MAX_RUNS} per side, more while they fit {PAIR_BUDGET_S:g} s; the median); ms per "
                   "megapixel of the detection image; ratio = ours / reference; networks at "
                   f"{'/'.join(map(str, NETWORK_RESOLUTIONS))} only (one call takes 3-10 s there on this machine, "
                   "30-45 s at 1024), canny and lineart standard at "
                   f"{'/'.join(map(str, CHEAP_RESOLUTIONS))}"),
        "notes": {
            "lineart_anime": f"one small resolution ({ANIME_RESOLUTION}: 320x256 detection, the U-Net at 512x256) to "
                             "keep the bench short",
            "lineart_standard": "both are given the detection image (the reference resizes its map back to its "
                                "input, and has no image_resolution)",
            "mlsd_network": "the M-LSD network (mlsd_model, the node's method 'm-lsd'), not the OpenCV detector of "
                            "the 'mlsd' row above",
            "hed_*": "ControlNetHED.pth (our network), not the BSDS500 h5 of the 'hed' / 'scribble_hed' rows above",
            "weights": "seeded as the oracle tests seed them (tests/unit/test_lines_reference.py, "
                       "tests/unit/test_softedge_reference.py): real architectures, random weights",
            "no reference": "scribble_xdog, MediaPipe pose, person/ade20k segmentation, transformers-folder depth, "
                            "normal from depth: controlnet-aux 0.0.10 has no implementation of the same method",
            "midas_dpt_hybrid": "dpt_hybrid-midas-501f0c75.pt's architecture, seeded as tests/unit/"
                                "test_midas_reference.py seeds it; reference: MidasDetector",
            "openpose_body": "body_pose_model.pth's architecture with seeded weights (no person is found: the row "
                             "times the network, map resizing and peak search); reference: OpenposeDetector "
                             "(body only, its drawing)",
            "depth_anything_v2_small": "the ViT-S v2 architecture with seeded weights: ours loads the original "
                                       "checkpoint (depth_anything.load_depth_anything); reference: transformers' "
                                       "DepthAnythingForDepthEstimation on the same weights, same processor and "
                                       "post-processing (controlnet-aux 0.0.10 has no Depth Anything)",
            "dwpose_tiny_onnx": "scripts/tiny_annotators.make_tiny_dwpose's small ONNX graphs (the real files' "
                                "signatures): the row times letterbox, decoding, NMS, crops and SimCC around tiny "
                                "networks; reference: rtmlib 0.0.16 configured as DWPose (keypoints compared)",
        },
        "torch_threads": torch.get_num_threads(),
        "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "all_maps_equal_reference": all(r["same_map"] for row in rows.values() for r in row.values()),
        "max_ratio_vs_reference": max(ratios),
        "ms_per_megapixel": rows,
    }
