"""``CONTROL_NET_STACK``: a list of ``(control_net, image, strength, start_percent, end_percent)`` 5-tuples.

That is the type Comfyroll's and Efficiency Nodes' stacks use (an entry is unpacked five ways, so extra data
must not change the arity). Our entries are ``ControlNetEntry`` — a 5-tuple subclass that also carries an
optional VAE and the name it was loaded from. Stacks from other packs (tuples or lists; Efficiency's older
3-tuples ``(control_net, image, strength)``) are accepted as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_STRENGTH = 10.0


class ControlNetEntry(tuple):
    """A 5-tuple with two attributes that do not change its arity: ``vae`` and ``name``."""

    def __new__(cls, control_net, image, strength, start, end, vae=None, name=""):
        entry = super().__new__(cls, (control_net, image, float(strength), float(start), float(end)))
        entry.vae = vae
        entry.name = name
        return entry


@dataclass(frozen=True)
class Resolved:
    index: int  # 1-based position in the stack
    control_net: object
    image: object
    strength: float
    start: float
    end: float
    vae: object
    name: str


class StackError(ValueError):
    pass


def validate(strength: float, start: float, end: float, where: str) -> None:
    """What core's ``ControlNetApplyAdvanced.apply_controlnet`` applies: a finite strength from -10 to 10 (a
    negative one steers away from the hint; Comfyroll's stack allows -10..10; 0 is skipped as core skips it)."""
    if not -MAX_STRENGTH <= strength <= MAX_STRENGTH:  # NaN fails too
        raise StackError(f"{where}: strength {strength} is outside -{MAX_STRENGTH:g}–{MAX_STRENGTH:g}")
    if not (0.0 <= start <= 1.0 and 0.0 <= end <= 1.0):
        raise StackError(f"{where}: start_percent and end_percent must lie in 0–1, got {start} and {end}")  # NaN too
    if start > end:
        raise StackError(f"{where}: start_percent {start} is after end_percent {end}; the net would never act")


def entries(stack) -> list[Resolved]:
    """Validated entries of any accepted stack form, in order. ``None`` or an empty list is an empty stack."""
    if stack is None:
        return []
    if not isinstance(stack, (list, tuple)):
        raise StackError(f"a CONTROL_NET_STACK is a list of entries, got {type(stack).__name__}")
    out = []
    for i, raw in enumerate(stack, 1):
        where = f"entry {i}"
        if not isinstance(raw, (list, tuple)) or len(raw) not in (3, 5):
            raise StackError(f"{where}: expected (control_net, image, strength, start_percent, end_percent), got "
                             f"{type(raw).__name__} of length {len(raw) if hasattr(raw, '__len__') else '?'}")
        cn, image, strength = raw[0], raw[1], float(raw[2])
        start, end = (float(raw[3]), float(raw[4])) if len(raw) == 5 else (0.0, 1.0)
        if cn is None or isinstance(cn, str):
            raise StackError(f"{where}: the control net is {cn!r}, not a loaded ControlNet; load it with a "
                             f"ControlNet stack (Loadout) or ControlNet loader node")
        if image is None or not hasattr(image, "shape") or len(image.shape) != 4:
            raise StackError(f"{where}: the image must be an IMAGE batch [B,H,W,C]")
        validate(strength, start, end, where)
        out.append(Resolved(i, cn, image, strength, start, end, getattr(raw, "vae", None), getattr(raw, "name", "")))
    return out


def extend(previous, entry: ControlNetEntry) -> list:
    """A new stack: the received one (never modified) followed by ``entry``."""
    entries(previous)  # validate what we pass on
    return list(previous or []) + [entry]
