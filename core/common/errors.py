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
