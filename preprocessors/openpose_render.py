"""Draw OpenPose keypoints in the standard ControlNet style (what OpenPose ControlNets were trained on).

Black canvas; each of the 17 limbs a filled ellipse 4 px wide along the limb, in its standard colour at 60 %
intensity; each body joint a filled circle of radius 4 in its full colour; hand bones as 2 px lines coloured by
a hue progression with blue joints; face points as small white dots.
"""
from __future__ import annotations

import math

import numpy as np

from .openpose_format import COLOURS, HAND_EDGES, LIMBS

STICK_WIDTH = 4


def _pt(p, scale):
    return int(round(p[0] * scale)), int(round(p[1] * scale))


def render(people: list[dict], width: int, height: int, draw_body: bool = True, draw_hands: bool = True,
           draw_face: bool = True, scale: float = 1.0) -> np.ndarray:
    """HxWx3 uint8 of the given size; keypoints are in pixels of a width/scale x height/scale canvas."""
    import colorsys

    import cv2

    if width < 1 or height < 1:
        raise ValueError(f"canvas {width}x{height} has no pixels")
    canvas = np.zeros((height, width, 3), np.uint8)
    for person in people:
        body = person.get("body") or []
        if draw_body:
            for i, (a, b) in enumerate(LIMBS):
                if a >= len(body) or b >= len(body) or body[a] is None or body[b] is None:
                    continue
                (x1, y1), (x2, y2) = (np.array(body[a][:2]) * scale), (np.array(body[b][:2]) * scale)
                length = math.hypot(x2 - x1, y2 - y1)
                angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
                poly = cv2.ellipse2Poly((int((x1 + x2) / 2), int((y1 + y2) / 2)), (int(length / 2), STICK_WIDTH),
                                        int(angle), 0, 360, 1)
                cv2.fillConvexPoly(canvas, poly, [int(c * 0.6) for c in COLOURS[i]])
            for i, p in enumerate(body[:18]):
                if p is not None:
                    cv2.circle(canvas, _pt(p, scale), 4, COLOURS[i], thickness=-1)
        if draw_hands:
            for hand in (person.get("hand_left") or [], person.get("hand_right") or []):
                for e, (a, b) in enumerate(HAND_EDGES):
                    if a < len(hand) and b < len(hand) and hand[a] is not None and hand[b] is not None:
                        r, g, bl = colorsys.hsv_to_rgb(e / len(HAND_EDGES), 1.0, 1.0)
                        cv2.line(canvas, _pt(hand[a], scale), _pt(hand[b], scale),
                                 (int(r * 255), int(g * 255), int(bl * 255)), 2)
                for p in hand:
                    if p is not None:
                        cv2.circle(canvas, _pt(p, scale), 4, (0, 0, 255), thickness=-1)
        if draw_face:
            for p in person.get("face") or []:
                if p is not None:
                    cv2.circle(canvas, _pt(p, scale), 3, (255, 255, 255), thickness=-1)
    return canvas
