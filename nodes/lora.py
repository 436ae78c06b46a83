"""LoRA stack nodes: build a LORA_STACK (chainable, or from text/JSON) and apply it to MODEL/CLIP.

Parsing, name resolution, file reading and the report are in ``core/lora/``; applying patches through ComfyUI's
key maps is in the seam (``nodes/comfy_compat/lora.py``).
"""
from __future__ import annotations

import logging

import folder_paths

from ..core.common.errors import error_text, node_error
from ..core.common.names import match_key
from ..core.lora.parse import LoraSyntaxError, parse_stack_text
from ..core.lora.report import collect_trigger_words, format_report
from ..core.lora.stack import STRENGTH_LIMIT, LoraEntry, normalise_stack, strength_problem
from .api import io, ui
from .comfy_compat.execution import stack_output
from .comfy_compat.lora import ON_MISSING, apply_lora_stack, cache_stats, files_signature

logger = logging.getLogger(__name__)

LoraStack = io.Custom("LORA_STACK")
STACK_TOOLTIP = ("A LORA_STACK to extend: a list of (name, model strength, clip strength). Stacks from Comfyroll "
                 "and Efficiency Nodes work too. Entries it holds come before this node's own.")
STRENGTH = {"default": 1.0, "min": -STRENGTH_LIMIT, "max": STRENGTH_LIMIT, "step": 0.01}
STRENGTH_FIX = f"use a number from {-STRENGTH_LIMIT:g} to {STRENGTH_LIMIT:g}"


def strength_errors(node: str, **values) -> bool | str:
    """validate_inputs' check of strength widgets (core's own min/max check is off for inputs validate_inputs names,
    and it lets NaN through): finite and inside the widget range. A linked value (None here) is checked when run."""
    for name, value in values.items():
        problem = strength_problem(value) if value is not None else None
        if problem:
            return error_text(node, name, problem, STRENGTH_FIX)
    return True


def lora_names() -> list[str]:
    return ["None"] + folder_paths.get_filename_list("loras")


def _listed(name: str) -> str | None:
    """The listed spelling of ``name``, compared in Unicode NFC (a name typed in NFD finds its file), or None."""
    names = lora_names()
    if name in names:
        return name
    key = match_key(name)
    return next((n for n in names if match_key(n) == key), None)


def _stack(node: str, lora_stack) -> list[LoraEntry]:
    try:
        return normalise_stack(lora_stack)
    except (TypeError, ValueError) as e:
        raise node_error(node, "lora_stack", str(e), "connect a LORA_STACK (a list of (name, model strength, "
                                                     "clip strength))") from None


class LoadoutLoraStack(io.ComfyNode):
    DISPLAY_NAME = "LoRA stack (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutLoraStack",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/LoRA",
            description=("Adds one LoRA to a LORA_STACK. Chain as many as you like: each node appends its entry after "
                         "the stack it receives. Nothing is loaded here; 'Apply LoRA stack' loads and applies them."),
            inputs=[
                io.Combo.Input("lora_name", options=lora_names(),
                               tooltip="The LoRA file, from your LoRA folders. 'None' adds nothing."),
                io.Float.Input("model_strength", **STRENGTH, tooltip="Strength on the diffusion model (UNet/DiT)."),
                io.Float.Input("clip_strength", **STRENGTH, tooltip="Strength on the text encoder (CLIP)."),
                io.Boolean.Input("enabled", default=True, tooltip="Off: this entry is left out of the stack."),
                io.String.Input("category", default="", tooltip="Optional label (style, character, detail, ...) "
                                                                "carried with the entry for reports."),
                LoraStack.Input("lora_stack", optional=True, tooltip=STACK_TOOLTIP),
            ],
            outputs=[LoraStack.Output("lora_stack_out", display_name="lora_stack", tooltip=(
                "The incoming stack plus this entry (when enabled and a LoRA is chosen)."))],
        )

    @classmethod
    def validate_inputs(cls, lora_name=None, model_strength=None, clip_strength=None) -> bool | str:
        # Naming an input here turns off core's own check for it (membership, min/max): these are those checks.
        strengths = strength_errors(cls.DISPLAY_NAME, model_strength=model_strength, clip_strength=clip_strength)
        if strengths is not True:
            return strengths
        if lora_name is None or _listed(lora_name) is not None:
            return True
        return error_text(cls.DISPLAY_NAME, "lora_name", f"'{lora_name}' is not in your LoRA folders "
                          f"{folder_paths.get_folder_paths('loras')}", "put the file there and refresh, or choose "
                          "one from the list")

    @classmethod
    def fingerprint_inputs(cls, lora_name="None", enabled=True, **_other_inputs):
        return files_signature([lora_name]) if enabled and lora_name and lora_name != "None" else ""

    @classmethod
    def execute(cls, lora_name, model_strength, clip_strength, enabled, category, lora_stack=None) -> io.NodeOutput:
        stack = list(_stack(cls.DISPLAY_NAME, lora_stack))
        if enabled and lora_name and lora_name != "None":
            try:
                stack.append(LoraEntry(lora_name, model_strength, clip_strength, category))
            except ValueError as e:
                raise node_error(cls.DISPLAY_NAME, "model_strength", str(e), "use finite strengths") from None
        return io.NodeOutput(stack_output(stack))


class LoadoutLoraStackFromText(io.ComfyNode):
    DISPLAY_NAME = "LoRA stack from text (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutLoraStackFromText",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/LoRA",
            description=("Builds a LORA_STACK from text: one 'name', 'name:0.8' or 'name:model:clip' per line; A1111 "
                         "tags inline in a prompt, read as A1111 does: '<lora:name:0.8>' (both), '<lora:name:TE:UNET>' "
                         "(first the text encoder's strength, then the model's) and the named forms 'te=' / 'unet=' "
                         "(the prompt comes out with the tags removed); or JSON {\"global_weight\": 1.1, \"models\": "
                         "[{\"name\": ..., \"weight\": 0.8, \"clip_weight\": 0.7, \"category\": ..., \"enabled\": "
                         "true}, \"name\"]}. Strengths must be finite and within -10..10 (after global_weight)."),
            inputs=[
                io.String.Input("text", multiline=True, default="", tooltip=(
                    "LoRAs as lines (name[:model[:clip]]), as A1111 tags in a prompt (<lora:name:te[:unet]>: the "
                    "first number is the text encoder's, the second the model's; or te=/unet=), or as the "
                    "JSON request form. Strengths: finite, -10..10. Names are resolved when applied: relative path, "
                    "without extension, or a unique file name.")),
                LoraStack.Input("lora_stack", optional=True, tooltip=STACK_TOOLTIP),
            ],
            outputs=[
                LoraStack.Output("lora_stack_out", display_name="lora_stack",
                                 tooltip="The incoming stack followed by the LoRAs in the text."),
                io.String.Output("prompt", display_name="prompt",
                                 tooltip="The text with <lora:...> tags removed (empty for the line and JSON forms)."),
            ],
        )

    @classmethod
    def validate_inputs(cls, text) -> bool | str:
        """The text is parsed here, so a syntax error (with its line and column) stops the prompt before it runs;
        strengths must be finite numbers, JSON values of the right types. A linked text is parsed when it runs."""
        if text is None:
            return True
        try:
            parse_stack_text(text)
        except LoraSyntaxError as e:
            return error_text(cls.DISPLAY_NAME, "text", str(e))
        return True

    @classmethod
    def fingerprint_inputs(cls, text="", **_other_inputs):
        if not isinstance(text, str):
            return float("nan")  # a linked text is not known yet: always run, so replaced files are seen
        try:
            entries, _ = parse_stack_text(text)
        except LoraSyntaxError:
            return text  # the run reports the error
        return files_signature([e.name for e in entries if e.model_strength or e.clip_strength])

    @classmethod
    def execute(cls, text, lora_stack=None) -> io.NodeOutput:
        try:
            entries, prompt = parse_stack_text(text)
        except LoraSyntaxError as e:
            raise node_error(cls.DISPLAY_NAME, "text", str(e)) from None
        return io.NodeOutput(stack_output(list(_stack(cls.DISPLAY_NAME, lora_stack)) + entries), prompt)


class LoadoutApplyLoraStack(io.ComfyNode):
    DISPLAY_NAME = "Apply LoRA stack (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutApplyLoraStack",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/LoRA",
            description=("Applies every LoRA of a LORA_STACK in order to MODEL and (optionally) CLIP, through "
                         "ComfyUI's own LoRA maths, and reports per LoRA the file, format, effective strengths, "
                         "UNet/CLIP keys applied, unmatched keys, load time and cache hit. Files stay cached (LRU, "
                         "1 GiB by default) so changing strengths re-reads nothing. Entries with strength 0 are not "
                         "read."),
            inputs=[
                io.Model.Input("model", tooltip="The diffusion model to patch."),
                LoraStack.Input("lora_stack", tooltip="The LoRAs to apply, in order (ours, Comfyroll's or "
                                                      "Efficiency's)."),
                io.Float.Input("multiplier", **STRENGTH, tooltip="Global multiplier on every model and clip strength "
                                                                 "of the stack."),
                io.Combo.Input("on_missing", options=list(ON_MISSING), tooltip=(
                    "A LoRA file that cannot be found (or a name that cannot be a file), or keys whose shapes do not "
                    "fit the model: stop with an error, or skip them and say so in the report.")),
                io.Clip.Input("clip", optional=True, tooltip="The text encoder to patch; leave empty for model-only "
                                                             "LoRAs."),
            ],
            outputs=[
                io.Model.Output("model_out", display_name="model",
                                tooltip="The model with the LoRAs patched in (the input model is not changed)."),
                io.Clip.Output("clip_out", display_name="clip", tooltip=(
                    "The text encoder with the LoRAs patched in; empty when no CLIP was connected.")),
                io.String.Output("report", display_name="report", tooltip="What was applied, per LoRA."),
                io.String.Output("trigger_words", display_name="trigger_words",
                                 tooltip="Trigger words from the applied LoRAs' metadata, comma-separated."),
            ],
        )

    @classmethod
    def validate_inputs(cls, on_missing=None, multiplier=None) -> bool | str:
        # Naming an input here turns off core's own check for it (membership, min/max): these are those checks.
        strengths = strength_errors(cls.DISPLAY_NAME, multiplier=multiplier)
        if strengths is not True:
            return strengths
        if on_missing is None or on_missing in ON_MISSING:
            return True
        return error_text(cls.DISPLAY_NAME, "on_missing", f"{on_missing!r} is not an option",
                          f"choose one of {list(ON_MISSING)}")

    @classmethod
    def execute(cls, model, lora_stack, multiplier, on_missing, clip=None) -> io.NodeOutput:
        new_model, new_clip, results = apply_lora_stack(model, clip, lora_stack, multiplier, on_missing,
                                                        node=cls.DISPLAY_NAME)
        report = format_report(results, multiplier, cache_stats())
        logger.info("[Loadout] %s", report.replace("\n", " | "))
        return io.NodeOutput(new_model, new_clip, report, collect_trigger_words(results), ui=ui.PreviewText(report))


NODES = [LoadoutLoraStack, LoadoutLoraStackFromText, LoadoutApplyLoraStack]
