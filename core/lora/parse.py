"""Text and JSON forms of a LoRA stack.

Forms (all give the same entries):

- one per line: ``name``, ``name:0.8`` (model and clip 0.8), ``name:0.8:0.5`` (model 0.8, clip 0.5);
  blank lines and lines starting with ``#`` are ignored;
- A1111 tags, anywhere in a prompt, read as A1111 reads them (``extensions-builtin/Lora``):
  ``<lora:name>`` (both 1), ``<lora:name:0.8>`` (both 0.8), ``<lora:name:TE:UNET>`` — the first number is the
  text encoder's (clip) strength, the second the UNet's (model), defaulting to the first — and the named forms
  ``te=``/``unet=`` in any order after the name (``<lora:name:unet=0.5>``, ``<lora:name:0.8:unet=0.3>``), which
  override the positional ones; ``<lyco:...>`` too. A1111's ``dyn`` (DyLoRA rank) has no ComfyUI equivalent and
  is refused. The prompt comes back with the tags removed.
- the original design's JSON request::

    {"enabled": true, "global_weight": 1.1,
     "models": [{"name": "x", "weight": 0.8, "clip_weight": 0.7, "category": "style", "enabled": true}, "y"]}

  (a bare list of models is accepted too). ``global_weight`` multiplies every strength; a disabled model, or
  ``"enabled": false`` at the top, leaves it out.

Names may not contain ``:`` (nor ``=`` in a tag). Every strength must be finite and, after ``global_weight``, inside
``±STRENGTH_LIMIT`` (the widgets' range). Errors raise ``LoraSyntaxError`` naming the line and column (1-based).
"""
from __future__ import annotations

import json
import math
import re

from .stack import STRENGTH_LIMIT, LoraEntry, strength_problem

TAG_RE = re.compile(r"<(lora|lyco):([^<>]*)>", re.IGNORECASE)
TAG_START_RE = re.compile(r"<(lora|lyco):", re.IGNORECASE)


class LoraSyntaxError(ValueError):
    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line, self.column, self.detail = line, column, message
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(where + message)


def _number(text: str, what: str, line: int, column: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LoraSyntaxError(f"{what} {text!r} is not a number", line, column) from None
    if not math.isfinite(value):
        raise LoraSyntaxError(f"{what} {text!r} must be finite", line, column)
    if abs(value) > STRENGTH_LIMIT:
        raise LoraSyntaxError(f"{what} {text!r} is outside {-STRENGTH_LIMIT:g}..{STRENGTH_LIMIT:g} (the strength "
                              "range)", line, column)
    return value


def _spec(spec: str, line: int, column: int) -> LoraEntry:
    """``name[:model[:clip]]`` starting at (line, column)."""
    parts = spec.split(":")
    if len(parts) > 3:
        raise LoraSyntaxError(f"{spec!r} has {len(parts) - 1} ':' — expected name, name:strength or "
                              "name:model_strength:clip_strength", line, column)
    name = parts[0].strip()
    if not name:
        raise LoraSyntaxError("missing LoRA name", line, column)
    offsets = [column]
    for part in parts[:-1]:
        offsets.append(offsets[-1] + len(part) + 1)
    model = _number(parts[1].strip(), "strength", line, offsets[1]) if len(parts) > 1 else 1.0
    clip = _number(parts[2].strip(), "clip strength", line, offsets[2]) if len(parts) > 2 else None
    return LoraEntry(name, model, clip)


TAG_NAMED = {"te": "clip strength (te)", "unet": "model strength (unet)"}


def _tag_spec(spec: str, line: int, column: int) -> LoraEntry:
    """The inside of ``<lora:...>`` starting at (line, column), as A1111 reads it: positional ``name[:te[:unet]]``
    and named ``te=``/``unet=`` items (named ones win); unet defaults to te, te to 1."""
    positional, named = [], {}
    offset = column
    for item in spec.split(":"):
        parts = item.split("=", 2)  # A1111's rule: exactly one '=' makes a named item
        if len(parts) == 2:
            key = parts[0].strip().lower()
            if key == "dyn":
                raise LoraSyntaxError("'dyn' (an A1111 DyLoRA rank) is not supported by ComfyUI's LoRA loader; "
                                      "remove it", line, offset)
            if key not in TAG_NAMED:
                raise LoraSyntaxError(f"unknown named value {parts[0].strip()!r}: expected te= (text encoder) or "
                                      "unet= (model)", line, offset)
            named[key] = (parts[1].strip(), offset + len(parts[0]) + 1)
        else:
            positional.append((item, offset))
        offset += len(item) + 1
    if not positional or not positional[0][0].strip():
        raise LoraSyntaxError("missing LoRA name", line, column)
    if len(positional) > 3:
        if len(positional) == 4:
            raise LoraSyntaxError("a 4th value (A1111's DyLoRA rank 'dyn') is not supported by ComfyUI's LoRA "
                                  "loader; remove it", line, positional[3][1])
        raise LoraSyntaxError(f"{spec!r} has {len(positional) - 1} values after the name: expected "
                              "<lora:name:te_strength:unet_strength>", line, column)
    te = _number(positional[1][0].strip(), "strength", line, positional[1][1]) if len(positional) > 1 else 1.0
    if "te" in named:
        te = _number(named["te"][0], TAG_NAMED["te"], line, named["te"][1])
    unet = _number(positional[2][0].strip(), "model strength (unet)", line, positional[2][1]) \
        if len(positional) > 2 else te
    if "unet" in named:
        unet = _number(named["unet"][0], TAG_NAMED["unet"], line, named["unet"][1])
    return LoraEntry(positional[0][0].strip(), unet, te)


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _clean_prompt(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        line = re.sub(r"\s*,(\s*,)+", ",", line)
        line = re.sub(r"[ \t]{2,}", " ", line).strip()
        lines.append(line.strip(", ").strip())
    return "\n".join(lines).strip()


def parse_tags(text: str) -> tuple[list[LoraEntry], str]:
    entries = []
    for m in TAG_RE.finditer(text):
        line, col = _line_col(text, m.start(2))
        entries.append(_tag_spec(m.group(2), line, col))
    stripped = TAG_RE.sub("", text)
    dangling = TAG_START_RE.search(stripped)
    if dangling:
        # locate it in the original text for the error position
        for m in TAG_START_RE.finditer(text):
            if not TAG_RE.match(text, m.start()):
                line, col = _line_col(text, m.start())
                raise LoraSyntaxError("'<lora:' tag is not closed with '>'", line, col)
    return entries, _clean_prompt(stripped)


def parse_lines(text: str) -> list[LoraEntry]:
    entries = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        entries.append(_spec(stripped, number, raw.index(stripped) + 1))
    return entries


def _json_number(value, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LoraSyntaxError(f"{path} must be a finite number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond any float
        raise LoraSyntaxError(f"{path} must be a finite number inside {-STRENGTH_LIMIT:g}..{STRENGTH_LIMIT:g}, "
                              "got a huge integer") from None
    if not math.isfinite(value):
        raise LoraSyntaxError(f"{path} must be a finite number, got {value!r}")
    return value


def parse_json(text: str) -> list[LoraEntry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoraSyntaxError(f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
    except RecursionError:
        raise LoraSyntaxError("the JSON is nested too deeply to read: the JSON form is an object with a 'models' "
                              "list of names or objects") from None
    if isinstance(data, list):
        data = {"models": data}
    if not isinstance(data, dict):
        raise LoraSyntaxError("the JSON form must be an object with a 'models' list, or a list")
    unknown = set(data) - {"enabled", "global_weight", "models"}
    if unknown:
        raise LoraSyntaxError(f"unknown key(s) {sorted(unknown)}: expected enabled, global_weight, models")
    if not data.get("enabled", True):
        return []
    scale = _json_number(data.get("global_weight", 1.0), "global_weight")
    models = data.get("models", [])
    if not isinstance(models, list):
        raise LoraSyntaxError("'models' must be a list")
    entries = []
    for i, item in enumerate(models):
        path = f"models[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise LoraSyntaxError(f"{path} must be a name or an object, got {item!r}")
        unknown = set(item) - {"name", "weight", "clip_weight", "category", "enabled"}
        if unknown:
            raise LoraSyntaxError(f"{path} has unknown key(s) {sorted(unknown)}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise LoraSyntaxError(f"{path}.name must be a non-empty string")
        if not item.get("enabled", True):
            continue
        weight = _json_number(item.get("weight", 1.0), f"{path}.weight")
        clip = _json_number(item["clip_weight"], f"{path}.clip_weight") if "clip_weight" in item else weight
        category = item.get("category", "")
        if not isinstance(category, str):
            raise LoraSyntaxError(f"{path}.category must be a string")
        for key, value in (("weight", weight * scale), ("clip_weight", clip * scale)):
            if strength_problem(value):
                raise LoraSyntaxError(f"{path}.{key} × global_weight is {value:g}: it must be finite and inside "
                                      f"{-STRENGTH_LIMIT:g}..{STRENGTH_LIMIT:g} (the strength range)")
        entries.append(LoraEntry(name, weight * scale, clip * scale, category))
    return entries


def parse_stack_text(text: str) -> tuple[list[LoraEntry], str]:
    """Entries and the remaining prompt (tags removed; empty for the line and JSON forms)."""
    stripped = text.strip()
    if not stripped:
        return [], ""
    if stripped[0] in "{[":
        return parse_json(text), ""
    if TAG_START_RE.search(text):
        return parse_tags(text)
    return parse_lines(text), ""
