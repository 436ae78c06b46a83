"""Pose node: MediaPipe landmarks (the models mediapipe ships) as an OpenPose image and OpenPose JSON.
Disabled with a logged reason when mediapipe is not installed (the [pose] extra; ``registry.py`` checks it)."""
from __future__ import annotations

import json

from .api import io
from .preprocessors import (
    CATEGORY,
    LIMITS_NOTE,
    check_common,
    common_inputs,
    first_error,
    hint_output,
    load_failure,
    run_batch,
)

POSE = "Pose (MediaPipe → OpenPose) (Loadout)"


class LoadoutPosePreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutPosePreprocessor",
            display_name=POSE,
            category=CATEGORY,
            description=("Body (18 OpenPose points), optional hands and face from MediaPipe's shipped models, drawn "
                         "in the standard OpenPose style for OpenPose ControlNets, plus the keypoints as OpenPose "
                         "JSON (a list, one document per image, in pixels of the output image). MediaPipe finds one "
                         "person.") + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Boolean.Input("body", default=True, tooltip="Detect and draw the body."),
                io.Boolean.Input("hands", default=False, tooltip="Detect and draw hands (slower)."),
                io.Boolean.Input("face", default=False, tooltip="Detect and draw 70 face points."),
                io.Float.Input("min_visibility", default=0.5, min=0.0, max=1.0, step=0.05,
                               tooltip="Body points less visible than this are left out (e.g. limbs outside the "
                                       "frame)."),
            ],
            outputs=[
                hint_output("The pose image."),
                io.String.Output("keypoints", display_name="keypoints",
                                 tooltip="OpenPose JSON (list, one per image): feed 'Render OpenPose JSON' or a pose "
                                         "editor."),
            ],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None):
        return first_error(check_common(POSE, resolution, output_size))

    @classmethod
    def execute(cls, image, resolution, output_size, body, hands, face, min_visibility) -> io.NodeOutput:
        from ..preprocessors import openpose_format, openpose_render, pose_mediapipe

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
            images = run_batch(POSE, image, resolution, output_size, detect, per_image=draw)
        except ImportError as e:
            raise load_failure(POSE, None, e) from e
        return io.NodeOutput(images, json.dumps(docs))


NODES = [LoadoutPosePreprocessor]
