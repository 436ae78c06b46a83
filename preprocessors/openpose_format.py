"""OpenPose keypoints: the 18-point COCO body layout, hands (21), face (70), and OpenPose's JSON form.

A person is ``{"body": [(x, y, conf) | None] * 18, "hand_left": [...] * 21 | [], "hand_right": ..., "face": ... * 70 |
[]}`` in pixels of a canvas ``width`` x ``height``. The JSON is OpenPose's own output format, as ControlNet
pose editors exchange it: ``{"people": [{"pose_keypoints_2d": [x, y, c, ...], "face_keypoints_2d": [...],
"hand_left_keypoints_2d": [...], "hand_right_keypoints_2d": [...]}], "canvas_width": W, "canvas_height": H}``;
a missing point is written as 0, 0, 0. Reading also accepts coordinates normalised to 0–1 (when every
coordinate is ≤ 1 and a canvas size is given) and a list of such documents (one per image).
"""
from __future__ import annotations

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
    w, h = int(doc.get("canvas_width", 0) or 0), int(doc.get("canvas_height", 0) or 0)
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
    return people, w, h
