"""One format for every error a user sees from a Loadout node: ``[Loadout] <node>: input '<name>': <what>; <fix>``.

The node is its display name, the input the socket or widget name as shown in the UI. ``what`` says what is wrong
with the value; ``fix`` what to do about it. Glue raises ``node_error(...)`` (a ``ValueError``, which ComfyUI
shows on the node) and validation returns ``error_text(...)`` (a ``validate_inputs`` result).
"""
from __future__ import annotations

PREFIX = "[Loadout]"


def error_text(node: str, input: str | None, what: str, fix: str = "") -> str:
    """``[Loadout] node: input 'name': what; fix`` (the input and fix parts only when given)."""
    where = f"{PREFIX} {node}: " + (f"input '{input}': " if input else "")
    what = what.strip()
    if what.startswith(PREFIX):  # a message that already carries the prefix is not prefixed twice
        what = what[len(PREFIX):].strip()
    return where + what + (f"; {fix.strip()}" if fix and fix.strip() else "")


class LoadoutError(ValueError):
    """A user-facing error: the message is ``error_text(...)``; ``node``/``input`` are kept for callers."""

    def __init__(self, node: str, input: str | None, what: str, fix: str = ""):
        super().__init__(error_text(node, input, what, fix))
        self.node, self.input, self.what, self.fix = node, input, what, fix


def node_error(node: str, input: str | None, what: str, fix: str = "") -> LoadoutError:
    """The exception to raise: ``raise node_error("Apply LoRA stack (Loadout)", "lora_stack", "...", "...")``."""
    return LoadoutError(node, input, what, fix)


PICKLE_FIX = "use a .safetensors copy of it from a trusted source (Loadout never runs pickled code)"


def refused_pickle(e: BaseException) -> bool:
    """True when ``e`` is torch's ``weights_only`` unpickler refusing a file because it holds pickled code
    (objects other than tensors), as ComfyUI's safe loader raises it (its message advises ``weights_only=False``,
    which a user must not follow for a file from an unknown source)."""
    import pickle

    while e is not None:
        if isinstance(e, pickle.UnpicklingError) or "Weights only load failed" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def pickle_refusal_text(name: str) -> str:
    """The ``what`` of an error for a refused pickled file."""
    return (f"'{name}' was refused: it holds pickled code (objects other than tensors, which could run code when "
            "loaded), so it was not loaded")
