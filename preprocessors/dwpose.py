"""DWPose (Yang et al. 2023, whole-body pose by distillation) from its two published ONNX files, run with onnxruntime.

The files (both at https://huggingface.co/yzd-v/DWPose, ``SOURCE``; comfyui_controlnet_aux downloads them to
``ckpts/yzd-v/DWPose/``):

``yolox_l.onnx`` (``DET_FILE``), the person detector: YOLOX-L exported without its decoding. Input ``images``,
1x3x640x640 float32, RGB in 0–255 (no normalisation); one output, 1x8400x85: for every cell of the 80x80, 40x40
and 20x20 grids (strides 8, 16, 32, in that order, row by row) the raw box (x, y offsets in cells, log width and
height in strides), the objectness and the 80 COCO class probabilities (already sigmoids).

``dw-ll_ucoco_384.onnx`` (``POSE_FILE``), the whole-body estimator: an RTMPose-l SimCC model for the 133 points of
COCO-WholeBody. Input 1x3x384x288 float32 (NCHW, the crop in RGB minus ``MEAN`` over ``STD``); outputs ``simcc_x``
1x133x576 and ``simcc_y`` 1x133x768 (a 1-D response per point and axis, ``SIMCC_SPLIT`` = 2 bins a pixel of the
crop). The batch dimension may be symbolic (the mmdeploy export has a dynamic batch); we run one crop at a time.

The pipeline (what DWPose's ``onnxdet.py`` / ``onnxpose.py`` and comfyui_controlnet_aux's ``dwpose`` do; we
checked it against rtmlib 0.0.16's YOLOX + RTMPose, the PyPI reference of the same maths, see
tests/unit/test_dwpose_reference.py):

1. Letterbox: the image scaled by ``r = min(640/h, 640/w)`` (``cv2.resize`` to ``int(w r) x int(h r)``, bilinear)
   into the top-left corner of a 640x640 canvas of grey 114.
2. Decode: centre = (offset + cell) * stride, size = exp(log size) * stride, to corners, divided by ``r``;
   a box's person score is objectness times the class-0 probability.
3. Keep person boxes scoring above ``DET_SCORE`` (0.3), then greedy NMS at IoU ``NMS_IOU`` (0.45) with areas and
   overlaps counted in the references' inclusive-pixel way (+1 on each side). (DWPose runs class-aware NMS on every
   class from 0.1 and then keeps class 0 above 0.3: the same person boxes, as a box below 0.3 can only suppress
   lower ones.) The boxes come best score first.
4. Per box: centre and size * ``PADDING`` (1.25), the size widened to the crop's 3:4 aspect, the affine map from
   that rectangle to 288x384 (``cv2.getAffineTransform`` of the centre, the top-middle and the top-left points, in
   float32 as the references build it), ``cv2.warpAffine`` bilinear with a black border, then ``(x - MEAN) / STD``.
5. SimCC: the argmax of each axis / 2 is the point in the crop, mapped back by ``/ (288, 384) * size + centre -
   size / 2``; its score is the smaller of the two axis maxima (DWPose's rule; rtmlib 0.0.16 averages them,
   which is the one difference from rtmlib, see the test). A point whose score is <= 0 has no location.
6. OpenPose layout (``to_openpose``): COCO-WholeBody's 133 points become 134: the 18 OpenPose body points (the neck
   is the mean of the two shoulders, inserted; the body reordered by ``OPENPOSE_FROM_COCO``), then the 6 foot
   points, 68 face points, 21 left-hand and 21 right-hand points.

Loadout's person format (``openpose_format``): ``{"body": 18, "hand_left": 21 | [], "hand_right": 21 | [],
"face": 70 | [], "feet": 6 | []}`` in pixels of the input image, a point being ``(x, y, score)`` or None when its
score is below ``VISIBLE`` (0.3, DWPose's visibility threshold). The neck's score is the smaller shoulder score and
it is shown only when both shoulders score above 0.3 (DWPose sets it to 1 or 0 by that rule; we keep a real score).
A part with no visible point is ``[]`` (DWPose's None), except the body, which is 18 Nones. Face: DWPose gives the
68 iBUG points; OpenPose's face has 70, the last two being the pupils (right, left), so we append the body's right
and left eye (body 14 and 15, None when not shown), as DWPose / comfyui_controlnet_aux do. Feet (``feet``, not
part of the OpenPose-18 JSON, so ``openpose_format.to_json`` and the renderer ignore it): COCO-WholeBody's order,
left big toe, left small toe, left heel, right big toe, right small toe, right heel.

Sessions are cached in ``weights.MODELS`` by file path (re-read when the file changes), counted at the file's size;
onnxruntime runs on ``CUDAExecutionProvider`` when it is available, else on the CPU.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .weights import MODELS

DET_FILE = "yolox_l.onnx"
POSE_FILE = "dw-ll_ucoco_384.onnx"
HF_REPO = "yzd-v/DWPose"
SOURCE = f"https://huggingface.co/{HF_REPO}"

DET_SIZE = 640  # the detector's square input side
DET_INPUT = "images"
DET_CELLS = 8400  # 80*80 + 40*40 + 20*20
DET_CHANNELS = 85  # 4 box + objectness + 80 classes
STRIDES = (8, 16, 32)
PAD_GREY = 114
PERSON = 0  # COCO class 0
DET_SCORE = 0.3
NMS_IOU = 0.45

POSE_W, POSE_H = 288, 384
POSE_POINTS = 133
POSE_OUTPUTS = ("simcc_x", "simcc_y")
SIMCC_SPLIT = 2.0
PADDING = 1.25
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)

VISIBLE = 0.3
# OpenPose-18 body index -> COCO-WholeBody index (1, the neck, is computed from the shoulders 5 and 6)
OPENPOSE_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
FEET = slice(17, 23)  # COCO-WholeBody: left big toe, left small toe, left heel, right big toe, right small toe, heel
FACE = slice(23, 91)
HAND_LEFT = slice(91, 112)
HAND_RIGHT = slice(112, 133)


def available() -> tuple[bool, str]:
    """(True, "") when onnxruntime imports, else (False, why and what to install)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return False, f"onnxruntime is not installed ({e}): pip install onnxruntime (or onnxruntime-gpu)"
    return True, ""


def providers() -> list[str]:
    """onnxruntime's execution providers for the DWPose sessions: CUDA first when this onnxruntime has it."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in have else []) + ["CPUExecutionProvider"]


def load_session(path):
    """An onnxruntime session for ``path`` (cached in ``weights.MODELS`` by path, re-read when the file changes)."""
    size = os.path.getsize(path)
    return MODELS.get(path, extra="dwpose-onnx", load=_open_session, sizeof=lambda _session: size).value


def _open_session(path):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), providers=providers())
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for unreadable graphs
        raise ValueError(f"{Path(path).name} is not a readable ONNX model ({e}) ({path})") from None


# --- checking a session is the expected model ---------------------------------------------------------------------

def _dims_fit(shape, wanted) -> bool:
    """A session's shape matches ``wanted``: same rank, every fixed dim equal; a symbolic or unknown dim (a str or
    None) fits a wanted batch of 1 only (dim 0)."""
    if shape is None or len(shape) != len(wanted):
        return False
    for i, (have, want) in enumerate(zip(shape, wanted)):
        if isinstance(have, int) and have > 0:
            if have != want:
                return False
        elif i != 0:
            return False
    return True


def _session_name(session, what: str) -> str:
    path = getattr(session, "_model_path", None)
    return f"{Path(path).name} ({path})" if path else what


def check_detector(session) -> None:
    """ValueError naming the file unless ``session`` is YOLOX's person detector as published in ``DET_FILE``:
    one input ``images`` of 1x3x640x640, one output of 1x8400x85."""
    ins, outs = session.get_inputs(), session.get_outputs()
    wanted_in, wanted_out = [1, 3, DET_SIZE, DET_SIZE], [1, DET_CELLS, DET_CHANNELS]
    if (len(ins) != 1 or ins[0].name != DET_INPUT or not _dims_fit(ins[0].shape, wanted_in) or len(outs) != 1
            or not _dims_fit(outs[0].shape, wanted_out)):
        raise ValueError(
            f"{_session_name(session, 'the detector')} is not DWPose's person detector: {DET_FILE} has one input "
            f"'{DET_INPUT}' {wanted_in} and one output {wanted_out} (raw YOLOX-L predictions); this file has "
            f"inputs {_described(ins)} and outputs {_described(outs)} (get {DET_FILE} from {SOURCE})")


def check_pose(session) -> None:
    """ValueError naming the file unless ``session`` is DWPose's whole-body SimCC model as in ``POSE_FILE``: one
    input of 1x3x384x288, outputs ``simcc_x`` 1x133x576 and ``simcc_y`` 1x133x768 (batch may be symbolic)."""
    ins, outs = session.get_inputs(), {o.name: o.shape for o in session.get_outputs()}
    wanted_in = [1, 3, POSE_H, POSE_W]
    wanted_out = {"simcc_x": [1, POSE_POINTS, int(POSE_W * SIMCC_SPLIT)],
                  "simcc_y": [1, POSE_POINTS, int(POSE_H * SIMCC_SPLIT)]}
    if (len(ins) != 1 or not _dims_fit(ins[0].shape, wanted_in) or set(outs) != set(wanted_out)
            or not all(_dims_fit(outs[k], v) for k, v in wanted_out.items())):
        raise ValueError(
            f"{_session_name(session, 'the pose model')} is not DWPose's whole-body model: {POSE_FILE} has one "
            f"input {wanted_in} and outputs simcc_x {wanted_out['simcc_x']}, simcc_y {wanted_out['simcc_y']}; "
            f"this file has inputs {_described(session.get_inputs())} and outputs "
            f"{_described(session.get_outputs())} (get {POSE_FILE} from {SOURCE})")


def _described(args) -> str:
    return "[" + ", ".join(f"'{a.name}' {list(a.shape) if a.shape is not None else '?'}" for a in args) + "]"


# --- detector -----------------------------------------------------------------------------------------------------

def letterbox(image: np.ndarray) -> tuple[np.ndarray, float]:
    """(640x640x3 uint8 canvas, scale r): the image scaled by r into its top-left corner, the rest grey 114."""
    import cv2

    h, w = image.shape[:2]
    r = min(DET_SIZE / h, DET_SIZE / w)
    nw, nh = max(1, int(w * r)), max(1, int(h * r))
    canvas = np.full((DET_SIZE, DET_SIZE, 3), PAD_GREY, np.uint8)
    canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, r


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """(8400x2 cell x, y; 8400x1 stride) in the detector's output order."""
    cells, strides = [], []
    for s in STRIDES:
        n = DET_SIZE // s
        ys, xs = np.divmod(np.arange(n * n), n)
        cells.append(np.stack([xs, ys], 1))
        strides.append(np.full((n * n, 1), s))
    return np.concatenate(cells), np.concatenate(strides)


def decode_boxes(raw: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """(Nx4 corner boxes x1, y1, x2, y2 in the original image, N person scores) from the detector's 8400x85
    predictions, float32 throughout as the references compute them."""
    raw = np.asarray(raw, np.float32).reshape(DET_CELLS, DET_CHANNELS)
    cells, strides = _grid()
    centre = ((raw[:, :2] + cells) * strides).astype(np.float32)
    size = (np.exp(raw[:, 2:4]) * strides).astype(np.float32)
    boxes = np.concatenate([centre - size / 2, centre + size / 2], 1).astype(np.float32)
    boxes /= r
    return boxes, raw[:, 4] * raw[:, 5 + PERSON]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[int]:
    """Greedy NMS, best score first: indices kept. Overlap in inclusive pixels (width = x2 - x1 + 1), as YOLOX's
    and DWPose's reference NMS count it."""
    order = list(np.argsort(scores, kind="stable")[::-1])
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep = []
    while order:
        i, rest = order[0], np.array(order[1:], dtype=int)
        keep.append(int(i))
        if not len(rest):
            break
        w = np.maximum(0.0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]) + 1)
        h = np.maximum(0.0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]) + 1)
        inter = w * h
        order = list(rest[inter / (area[i] + area[rest] - inter) <= iou])
    return keep


def detect_people(image: np.ndarray, det_session) -> tuple[np.ndarray, np.ndarray]:
    """(Nx4 person boxes x1, y1, x2, y2 in pixels of ``image``, N scores), best first, after NMS."""
    canvas, r = letterbox(image)
    blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32)
    raw = det_session.run(None, {det_session.get_inputs()[0].name: blob})[0]
    boxes, scores = decode_boxes(raw, r)
    chosen = np.flatnonzero(scores > DET_SCORE)
    keep = chosen[nms(boxes[chosen], scores[chosen])] if len(chosen) else chosen
    return boxes[keep], scores[keep]


# --- pose ---------------------------------------------------------------------------------------------------------

def crop_box(box) -> tuple[np.ndarray, np.ndarray]:
    """(centre, size) of the crop for a box: its centre, its size * 1.25 widened to 3:4, in float64 (the
    references' NMS hands its float32 boxes on as float64 rows, and the crop is computed from those)."""
    box = np.asarray(box, np.float64)
    centre = np.array([box[0] + box[2], box[1] + box[3]]) * 0.5
    size = np.array([box[2] - box[0], box[3] - box[1]]) * PADDING
    aspect = POSE_W / POSE_H
    if size[0] > size[1] * aspect:
        size = np.array([size[0], size[0] / aspect])
    else:
        size = np.array([size[1] * aspect, size[1]])
    return centre, size


def crop_matrix(centre, size) -> np.ndarray:
    """The 2x3 affine map from the crop rectangle (``centre``, ``size``) to the 288x384 input: three point pairs
    (centre, the top-middle point, and the one a quarter turn from it), in float32, to ``cv2.getAffineTransform``."""
    import cv2

    def third(a, b):  # b plus (a - b) turned a quarter to the left
        d = a - b
        return b + np.array([-d[1], d[0]], np.float32)

    c = np.asarray(centre, np.float64)
    src = np.zeros((3, 2), np.float32)
    src[0] = c
    src[1] = c + np.array([0.0, -0.5 * float(size[0])])
    src[2] = third(src[0], src[1])
    dst = np.zeros((3, 2), np.float32)
    dst[0] = (POSE_W * 0.5, POSE_H * 0.5)
    dst[1] = (POSE_W * 0.5, POSE_H * 0.5 - POSE_W * 0.5)
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def pose_input(image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(1x3x384x288 float32 input, crop centre, crop size) for one person box."""
    import cv2

    centre, size = crop_box(box)
    crop = cv2.warpAffine(image, crop_matrix(centre, size), (POSE_W, POSE_H), flags=cv2.INTER_LINEAR)
    x = (crop - np.array(MEAN)) / np.array(STD)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32), centre, size


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Kx2 points in crop pixels, K scores) from one person's SimCC responses (Kx576, Kx768): the argmax of each
    axis over ``SIMCC_SPLIT``; the score is the smaller axis maximum; a point scoring <= 0 is (-0.5, -0.5)."""
    sx = np.asarray(simcc_x, np.float32).reshape(POSE_POINTS, -1)
    sy = np.asarray(simcc_y, np.float32).reshape(POSE_POINTS, -1)
    locs = np.stack([sx.argmax(1), sy.argmax(1)], 1).astype(np.float32)
    scores = np.minimum(sx.max(1), sy.max(1))
    locs[scores <= 0] = -1
    return locs / np.float32(SIMCC_SPLIT), scores


def estimate(image: np.ndarray, boxes, pose_session) -> tuple[np.ndarray, np.ndarray]:
    """(Nx133x2 points in pixels of ``image``, Nx133 scores), COCO-WholeBody order, one row per box."""
    name = pose_session.get_inputs()[0].name
    out_names = list(POSE_OUTPUTS)
    points, scores = [], []
    for box in boxes:
        x, centre, size = pose_input(image, box)
        sx, sy = pose_session.run(out_names, {name: x})
        locs, s = decode_simcc(sx[0], sy[0])
        points.append(locs / np.array([POSE_W, POSE_H]) * size + centre - size / 2)
        scores.append(s)
    if not points:
        return np.zeros((0, POSE_POINTS, 2)), np.zeros((0, POSE_POINTS), np.float32)
    return np.stack(points), np.stack(scores)


def to_openpose(points: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Nx134x3 (x, y, score): the OpenPose-18 body (neck = mean of the shoulders, score the smaller shoulder
    score), then COCO-WholeBody's feet (6), face (68), left hand (21), right hand (21)."""
    pts = np.concatenate([np.asarray(points, np.float64), np.asarray(scores, np.float64)[..., None]], -1)
    body = np.empty((len(pts), 18, 3))
    for op, coco in enumerate(OPENPOSE_FROM_COCO):
        if coco is None:
            body[:, op, :2] = pts[:, [5, 6], :2].mean(1)
            body[:, op, 2] = pts[:, [5, 6], 2].min(1)
        else:
            body[:, op] = pts[:, coco]
    return np.concatenate([body, pts[:, 17:]], 1)


def _points(rows, shown=None) -> list:
    out = []
    for k, (x, y, c) in enumerate(rows):
        ok = c >= VISIBLE if shown is None else shown[k]
        out.append((float(x), float(y), float(c)) if ok else None)
    return out


def people_from(openpose: np.ndarray) -> list[dict]:
    """Loadout persons (module doc) from ``to_openpose``'s Nx134x3 rows."""
    people = []
    for row in openpose:
        shown = [c >= VISIBLE for c in row[:18, 2]]
        shown[1] = bool(row[2, 2] > VISIBLE and row[5, 2] > VISIBLE)  # the neck: both shoulders above 0.3
        body = _points(row[:18], shown)

        def part(sl):
            pts = _points(row[18:][sl.start - 17:sl.stop - 17])
            return pts if any(p is not None for p in pts) else []

        face = part(FACE)
        if face:
            face += [body[14], body[15]]  # OpenPose's pupils (right, left): the body's eyes
        people.append({"body": body, "hand_left": part(HAND_LEFT), "hand_right": part(HAND_RIGHT), "face": face,
                       "feet": part(FEET)})
    return people


def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"DWPose needs an HxWx3 uint8 RGB image, got {image.dtype} {tuple(image.shape)}")
    return np.ascontiguousarray(image)


def detect(image_rgb_uint8: np.ndarray, det_session, pose_session) -> list[dict]:
    """The people in an HxWx3 uint8 RGB image, best detection first, in Loadout's person format (module doc).
    ``det_session`` / ``pose_session``: ``load_session`` of ``DET_FILE`` / ``POSE_FILE``; a session that is not the
    expected model raises ValueError naming its file. No person found: []."""
    check_detector(det_session)
    check_pose(pose_session)
    image = _check_image(image_rgb_uint8)
    boxes, _ = detect_people(image, det_session)
    points, scores = estimate(image, boxes, pose_session)
    return people_from(to_openpose(points, scores))
