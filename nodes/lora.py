"""LoRA stack nodes: build a LORA_STACK (chainable, or from text/JSON) and apply it to MODEL/CLIP."""
from __future__ import annotations

import logging

import folder_paths

from ..core.lora.parse import LoraSyntaxError, parse_stack_text
from ..core.lora.stack import LoraEntry, normalise_stack
from .comfy_compat.lora import ON_MISSING, apply_lora_stack, collect_trigger_words, files_signature, format_report

logger = logging.getLogger(__name__)

STACK_TOOLTIP = ("A LORA_STACK to extend: a list of (name, model strength, clip strength). Stacks from Comfyroll "
                 "and Efficiency Nodes work too. Entries it holds come before this node's own.")
STRENGTH = {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01}


class LoadoutLoraStack:
    NODE_ID = "LoadoutLoraStack"
    DISPLAY_NAME = "LoRA stack (Loadout)"
    CATEGORY = "Loadout/LoRA"
    DESCRIPTION = ("Adds one LoRA to a LORA_STACK. Chain as many as you like: each node appends its entry after "
                   "the stack it receives. Nothing is loaded here; 'Apply LoRA stack' loads and applies them.")
    FUNCTION = "build"
    RETURN_TYPES = ("LORA_STACK",)
    RETURN_NAMES = ("lora_stack",)
    OUTPUT_TOOLTIPS = ("The incoming stack plus this entry (when enabled and a LoRA is chosen).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "lora_name": (["None"] + folder_paths.get_filename_list("loras"), {
                    "tooltip": "The LoRA file, from your LoRA folders. 'None' adds nothing."}),
                "model_strength": ("FLOAT", dict(STRENGTH, tooltip="Strength on the diffusion model (UNet/DiT).")),
                "clip_strength": ("FLOAT", dict(STRENGTH, tooltip="Strength on the text encoder (CLIP).")),
                "enabled": ("BOOLEAN", {"default": True, "tooltip": "Off: this entry is left out of the stack."}),
                "category": ("STRING", {"default": "", "tooltip": "Optional label (style, character, detail, ...) "
                                                                  "carried with the entry for reports."}),
            },
            "optional": {"lora_stack": ("LORA_STACK", {"tooltip": STACK_TOOLTIP})},
        }

    @classmethod
    def IS_CHANGED(cls, lora_name="None", enabled=True, **_kwargs):
        return files_signature([lora_name]) if enabled and lora_name != "None" else ""

    def build(self, lora_name, model_strength, clip_strength, enabled, category, lora_stack=None):
        stack = list(normalise_stack(lora_stack))
        if enabled and lora_name and lora_name != "None":
            stack.append(LoraEntry(lora_name, model_strength, clip_strength, category))
        return (stack,)


class LoadoutLoraStackFromText:
    NODE_ID = "LoadoutLoraStackFromText"
    DISPLAY_NAME = "LoRA stack from text (Loadout)"
    CATEGORY = "Loadout/LoRA"
    DESCRIPTION = ("Builds a LORA_STACK from text: one 'name', 'name:0.8' or 'name:0.8:0.5' per line; A1111 tags "
                   "'<lora:name:0.8>' / '<lora:name:0.8:0.5>' inline in a prompt (the prompt comes out with the "
                   "tags removed); or JSON {\"global_weight\": 1.1, \"models\": [{\"name\": ..., \"weight\": 0.8, "
                   "\"clip_weight\": 0.7, \"category\": ..., \"enabled\": true}, \"name\"]}.")
    FUNCTION = "build"
    RETURN_TYPES = ("LORA_STACK", "STRING")
    RETURN_NAMES = ("lora_stack", "prompt")
    OUTPUT_TOOLTIPS = ("The incoming stack followed by the LoRAs in the text.",
                       "The text with <lora:...> tags removed (empty for the line and JSON forms).")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "default": "", "tooltip":
                                    "LoRAs as lines (name[:model[:clip]]), as <lora:name:model[:clip]> tags in a "
                                    "prompt, or as the JSON request form. Names are resolved when applied: "
                                    "relative path, without extension, or a unique file name."}),
            },
            "optional": {"lora_stack": ("LORA_STACK", {"tooltip": STACK_TOOLTIP})},
        }

    @classmethod
    def IS_CHANGED(cls, text="", **_kwargs):
        try:
            entries, _ = parse_stack_text(text)
        except LoraSyntaxError:
            return text  # the run reports the error
        return files_signature([e.name for e in entries if e.model_strength or e.clip_strength])

    def build(self, text, lora_stack=None):
        try:
            entries, prompt = parse_stack_text(text)
        except LoraSyntaxError as e:
            raise ValueError(f"[Loadout] {self.DISPLAY_NAME}: input 'text': {e}") from None
        return (list(normalise_stack(lora_stack)) + entries, prompt)


class LoadoutApplyLoraStack:
    NODE_ID = "LoadoutApplyLoraStack"
    DISPLAY_NAME = "Apply LoRA stack (Loadout)"
    CATEGORY = "Loadout/LoRA"
    DESCRIPTION = ("Applies every LoRA of a LORA_STACK in order to MODEL and (optionally) CLIP, through ComfyUI's "
                   "own LoRA maths, and reports per LoRA the file, format, effective strengths, UNet/CLIP keys "
                   "applied, unmatched keys, load time and cache hit. Files stay cached (LRU, 1 GiB by default) "
                   "so changing strengths re-reads nothing. Entries with strength 0 are not read.")
    FUNCTION = "apply"
    RETURN_TYPES = ("MODEL", "CLIP", "STRING", "STRING")
    RETURN_NAMES = ("model", "clip", "report", "trigger_words")
    OUTPUT_TOOLTIPS = ("The model with the LoRAs patched in (the input model is not changed).",
                       "The text encoder with the LoRAs patched in; empty when no CLIP was connected.",
                       "What was applied, per LoRA.",
                       "Trigger words from the applied LoRAs' metadata, comma-separated.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model to patch."}),
                "lora_stack": ("LORA_STACK", {"tooltip": "The LoRAs to apply, in order (ours, Comfyroll's or "
                                                         "Efficiency's)."}),
                "multiplier": ("FLOAT", dict(STRENGTH, tooltip="Global multiplier on every model and clip strength "
                                                               "of the stack.")),
                "on_missing": (list(ON_MISSING), {"tooltip": "A LoRA file that cannot be found: stop with an "
                                                             "error, or skip it and say so in the report."}),
            },
            "optional": {"clip": ("CLIP", {"tooltip": "The text encoder to patch; leave empty for model-only "
                                                      "LoRAs."})},
        }

    def apply(self, model, lora_stack, multiplier, on_missing, clip=None):
        new_model, new_clip, results = apply_lora_stack(model, clip, lora_stack, multiplier, on_missing,
                                                        node=self.DISPLAY_NAME)
        report = format_report(results, multiplier)
        logger.info("[Loadout] %s", report.replace("\n", " | "))
        return {"ui": {"text": [report]}, "result": (new_model, new_clip, report, collect_trigger_words(results))}


NODES = [LoadoutLoraStack, LoadoutLoraStackFromText, LoadoutApplyLoraStack]
