"""OpenPose keypoints: the 18-point COCO body layout, hands (21), face (70), and OpenPose's JSON form.

A person is ``{"body": [(x, y, conf) | None] * 18, "hand_left": [...] * 21 | [], "hand_right": ..., "face": ... * 70 |
[]}`` in pixels of a canvas ``width`` x ``height``. The JSON is OpenPose's own output format, as ControlNet
pose editors exchange it: ``{"people": [{"pose_keypoints_2d": [x, y, c, ...], "face_keypoints_2d": [...],
"hand_left_keypoints_2d": [...], "hand_right_keypoints_2d": [...]}], "canvas_width": W, "canvas_height": H}``;
a missing point is written as 0, 0, 0. Reading also accepts coordinates normalised to 0–1 (when every
coordinate is ≤ 1 and a canvas size is given) and a list of such documents (one per image).

Limits (checked on reading, so nothing is drawn or allocated for a bad document): the canvas is at most
``CANVAS_MAX`` px a side (the render node's widget maximum), every number is finite, and a coordinate lies within
``COORD_MAX`` px of the origin (points off the canvas are fine: a limb leaving the frame).
"""
from __future__ import annotations

import math

CANVAS_MAX = 8192
COORD_MAX = 65536.0  # 8 canvases: off-canvas points draw, and scaled by up to CANVAS_MAX they still fit int32

BODY_NAMES = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
              "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
              "right_eye", "left_eye", "right_ear", "left_ear"]
# limbs as (from, to) body indices, in the order the standard colours are assigned
LIMBS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]
COLOURS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
           (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
           (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]
PARTS = {"body": ("pose_keypoints_2d", 18), "face": ("face_keypoints_2d", 70),
         "hand_left": ("hand_left_keypoints_2d", 21), "hand_right": ("hand_right_keypoints_2d", 21)}


def empty_person() -> dict:
    return {"body": [None] * 18, "face": [], "hand_left": [], "hand_right": []}


def _flat(points, n):
    if not points:
        return []
    out = []
    for p in points[:n]:
        out += [0.0, 0.0, 0.0] if p is None else [round(float(p[0]), 3), round(float(p[1]), 3), round(float(p[2]), 4)]
    return out


def to_json(people: list[dict], width: int, height: int) -> dict:
    return {"people": [{key: _flat(person.get(part, []), n) for part, (key, n) in PARTS.items()}
                       for person in people],
            "canvas_width": int(width), "canvas_height": int(height)}


def from_json(doc) -> tuple[list[dict], int, int]:
    """(people, width, height) from an OpenPose JSON document (dict or JSON text). Raises ValueError naming
    what is wrong."""
    import json

    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e}") from None
    if isinstance(doc, list):
        if len(doc) != 1:
            raise ValueError(f"expected one pose document, got a list of {len(doc)}; render them one per image")
        doc = doc[0]
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        raise ValueError("expected an OpenPose document: {\"people\": [...], \"canvas_width\": W, \"canvas_height\": H}")
    w, h = _canvas_side(doc, "canvas_width"), _canvas_side(doc, "canvas_height")
    for k, person in enumerate(doc["people"]):
        if not isinstance(person, dict):
            raise ValueError(f"person {k + 1} is {type(person).__name__}, not an object of keypoint lists")
        for key, _ in PARTS.values():
            _check_numbers(person.get(key) or [], f"person {k + 1}: {key}")
    coords = [v for person in doc["people"] for key, _ in PARTS.values()
              for i, v in enumerate(person.get(key) or []) if i % 3 != 2]
    normalised = bool(coords) and max(abs(c) for c in coords) <= 1.0 and w > 0 and h > 0
    people = []
    for k, person in enumerate(doc["people"]):
        out = empty_person()
        for part, (key, n) in PARTS.items():
            flat = person.get(key) or []
            if len(flat) % 3:
                raise ValueError(f"person {k + 1}: {key} has {len(flat)} numbers, not a multiple of 3")
            pts = []
            for i in range(0, min(len(flat), 3 * n), 3):
                x, y, c = (float(v) for v in flat[i:i + 3])
                if c <= 0 and x == 0 and y == 0:
                    pts.append(None)
                else:
                    pts.append((x * w, y * h, c) if normalised else (x, y, c))
            out[part] = pts + [None] * (n - len(pts)) if part == "body" else pts
        people.append(out)
    if w <= 0 or h <= 0:
        xs = [p[0] for person in people for part in PARTS for p in person[part] if p]
        ys = [p[1] for person in people for part in PARTS for p in person[part] if p]
        if not xs:
            raise ValueError("no canvas_width/canvas_height and no keypoints to size the canvas from")
        w, h = int(max(xs)) + 1, int(max(ys)) + 1
        if not (1 <= w <= CANVAS_MAX and 1 <= h <= CANVAS_MAX):
            raise ValueError(f"no canvas_width/canvas_height, and the keypoints span {w}x{h} px, beyond the "
                             f"{CANVAS_MAX}x{CANVAS_MAX} canvas limit (or left of / above the origin): give "
                             f"canvas_width and canvas_height")
    return people, w, h


def _canvas_side(doc: dict, key: str) -> int:
    """``canvas_width`` / ``canvas_height``: missing, null or 0 = size it from the keypoints; else a whole number
    of pixels from 1 to ``CANVAS_MAX``."""
    v = doc.get(key, 0)
    if v is None or v == 0:
        return 0
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)) \
            or v != int(v):
        raise ValueError(f"{key} is {v!r}, not a whole number of pixels")
    if not 1 <= v <= CANVAS_MAX:
        raise ValueError(f"{key} {v} is outside 1–{CANVAS_MAX} px (the canvas limit)")
    return int(v)


def _check_numbers(flat, where: str) -> None:
    """Every entry of a keypoint list is a finite number; x and y lie within ``COORD_MAX`` of the origin."""
    if not isinstance(flat, list):
        raise ValueError(f"{where} is {type(flat).__name__}, not a list of numbers")
    for i, v in enumerate(flat):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{where}: number {i + 1} is {v!r}, not a number")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{where}: number {i + 1} is {v}, not a finite number")
        shown = f"{v:g}" if isinstance(v, float) or abs(v) < 1e15 else f"an integer of {len(str(abs(v)))} digits"
        if i % 3 != 2 and abs(v) > COORD_MAX:
            raise ValueError(f"{where}: coordinate {shown} (number {i + 1}) is more than {COORD_MAX:g} px from the "
                             f"origin")
        if abs(v) > 1e300:  # a confidence beyond float range
            raise ValueError(f"{where}: number {i + 1} is {shown}, not a finite number")
