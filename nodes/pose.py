"""Pose node: MediaPipe landmarks (the models mediapipe ships) as an OpenPose image and OpenPose JSON.
Disabled with a logged reason when mediapipe is not installed (the [pose] extra)."""
from __future__ import annotations

import json

from .preprocess_common import common_inputs, fail, run_batch


class LoadoutPosePreprocessor:
    NODE_ID = "LoadoutPosePreprocessor"
    DISPLAY_NAME = "Pose (MediaPipe → OpenPose) (Loadout)"
    CATEGORY = "Loadout/ControlNet preprocessors"
    DESCRIPTION = ("Body (18 OpenPose points), optional hands and face from MediaPipe's shipped models, drawn in the "
                   "standard OpenPose style for OpenPose ControlNets, plus the keypoints as OpenPose JSON (a list, "
                   "one document per image, in pixels of the output image). MediaPipe finds one person.")
    FUNCTION = "process"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "keypoints")
    OUTPUT_TOOLTIPS = ("The pose image.", "OpenPose JSON (list, one per image): feed 'Render OpenPose JSON' or a "
                                          "pose editor.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**common_inputs(),
                             "body": ("BOOLEAN", {"default": True, "tooltip": "Detect and draw the body."}),
                             "hands": ("BOOLEAN", {"default": False, "tooltip": "Detect and draw hands (slower)."}),
                             "face": ("BOOLEAN", {"default": False, "tooltip": "Detect and draw 70 face points."}),
                             "min_visibility": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                                                          "tooltip": "Body points less visible than this are left "
                                                                     "out (e.g. limbs outside the frame)."})}}

    def process(self, image, resolution, output_size, body, hands, face, min_visibility):
        from ..preprocessors import openpose_format, openpose_render, pose_mediapipe

        node = self.DISPLAY_NAME
        docs = []

        def detect(im):
            return pose_mediapipe.detect(im, hands=hands, face=face, min_visibility=min_visibility)

        def draw(i, people, det_hw, target_hw):
            scale = target_hw[0] / det_hw[0]
            scaled = [{part: [None if p is None else (p[0] * scale, p[1] * scale, p[2]) for p in pts]
                       for part, pts in person.items()} for person in people]
            docs.append(openpose_format.to_json(scaled, target_hw[1], target_hw[0]))
            return openpose_render.render(scaled, target_hw[1], target_hw[0], draw_body=body, draw_hands=hands,
                                          draw_face=face)

        try:
            images = run_batch(node, image, resolution, output_size, detect, per_image=draw)
        except ImportError as e:
            fail(node, "mediapipe", e)
        except ValueError as e:
            fail(node, "input 'image'", e)
        return (images, json.dumps(docs))


NODES = [LoadoutPosePreprocessor]
