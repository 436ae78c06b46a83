"""LORA_STACK entries.

A ``LORA_STACK`` is a list of entries; each entry is a 3-tuple ``(name, model_strength, clip_strength)`` so the
stacks of Comfyroll and Efficiency Nodes (which unpack ``name, sm, sc = entry``) and ours are interchangeable.
Our entries are a tuple subclass that also carries ``category``; disabled entries are dropped when a stack is
built, so every consumer applies exactly what is listed.

Strengths are finite; the strength a LoRA is applied with (entry × the Apply node's multiplier) is inside
``±STRENGTH_LIMIT``, the range of the strength widgets, whatever form the entry came from (``strength_problem``).
"""
from __future__ import annotations

import math

STRENGTH_LIMIT = 10.0  # the strength widgets' range (-10..10), and the bound on every effective strength


def strength_problem(value) -> str | None:
    """Why ``value`` cannot be a strength (not a number, not finite, outside ±STRENGTH_LIMIT), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{value!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if abs(value) > STRENGTH_LIMIT:  # an int of any size compares exactly
        shown = f"{value:g}" if isinstance(value, float) else (str(value) if value.bit_length() < 64 else "a huge number")
        return f"{shown} is outside {-STRENGTH_LIMIT:g}..{STRENGTH_LIMIT:g}"
    return None


class LoraEntry(tuple):
    """``(name, model_strength, clip_strength)`` with a ``category`` attribute (empty when unset)."""

    def __new__(cls, name: str, model_strength: float, clip_strength: float | None = None, category: str = ""):
        name = str(name).strip()
        if not name:
            raise ValueError("LoRA name is empty")
        model_strength = float(model_strength)
        clip_strength = model_strength if clip_strength is None else float(clip_strength)
        for label, value in (("model strength", model_strength), ("clip strength", clip_strength)):
            if not math.isfinite(value):
                raise ValueError(f"{label} of {name!r} is {value}: must be a finite number")
        self = super().__new__(cls, (name, model_strength, clip_strength))
        self.category = str(category or "")
        return self

    @property
    def name(self) -> str:
        return self[0]

    @property
    def model_strength(self) -> float:
        return self[1]

    @property
    def clip_strength(self) -> float:
        return self[2]

    def __getnewargs__(self):
        return (*tuple(self), self.category)

    def __repr__(self):
        extra = f", category={self.category!r}" if self.category else ""
        return f"LoraEntry({self[0]!r}, {self[1]!r}, {self[2]!r}{extra})"


def normalise_stack(stack) -> list[LoraEntry]:
    """Accept our stacks and Comfyroll/Efficiency ones (lists of 3-sequences); drop their ``"None"`` entries."""
    if stack is None:
        return []
    if not isinstance(stack, (list, tuple)):
        raise TypeError(f"a LORA_STACK must be a list of (name, model_strength, clip_strength), got {type(stack).__name__}")
    out = []
    for i, entry in enumerate(stack):
        if isinstance(entry, LoraEntry):
            out.append(entry)
            continue
        try:
            name, model_strength, clip_strength = entry
        except (TypeError, ValueError):
            raise TypeError(f"LORA_STACK entry {i} is {entry!r}: expected (name, model_strength, clip_strength)") from None
        if name is None or str(name) == "None":
            continue
        out.append(LoraEntry(name, model_strength, clip_strength))
    return out
