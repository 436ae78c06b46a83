"""The one guard for a name a user gives for a file inside a model folder (a LoRA, an annotator, a ControlNet).

``safe_name`` refuses, with an ``UnsafeName`` whose ``reason`` says why:

- ``empty``: nothing but blanks;
- ``nul``: a NUL character (the OS would cut the name there);
- ``too long``: over ``MAX_NAME`` characters, or a part over ``MAX_PART`` bytes of UTF-8 (every common file
  system's limit);
- ``absolute``: a leading ``/`` or ``\\``, an absolute path, a drive letter (``C:``, also ``C:rel``) or a UNC path;
- ``parent``: a ``..`` part (either separator);
- ``outside``: with a ``root``, a name whose normalised join with the root is not below it.

and returns the name with ``/`` separators and no empty or ``.`` parts. The containment test is lexical: links
placed inside a model folder are followed deliberately (a linked-in folder of models is the user's choice, as in
ComfyUI). The name keeps the spelling it was given, since that is how it is stored on disk; ``match_key``
(Unicode NFC) is what names are *compared* by, so a name typed on one system finds a file written on another
(macOS stores decomposed accents).
"""
from __future__ import annotations

import os
import re
import unicodedata

MAX_NAME = 1024
MAX_PART = 255


class UnsafeName(ValueError):
    """A name that could leave its folder or confuse the file system; ``reason`` is one of the module doc's."""

    def __init__(self, message: str, name, reason: str):
        super().__init__(message)
        self.name, self.reason = name, reason


def match_key(name: str) -> str:
    """The form two names are compared in: Unicode NFC."""
    return unicodedata.normalize("NFC", name)


def _short(name: str) -> str:
    return repr(name if len(name) <= 80 else name[:77] + "...")


def safe_name(name, where: str = "its folder", what: str = "name", root=None) -> str:
    """``name`` checked and with ``/`` separators; ``where`` names the folder(s) in messages ("the LoRA folders"),
    ``what`` the kind of name ("LoRA name"). Raises ``UnsafeName``."""
    if not isinstance(name, str) or not name.strip():
        raise UnsafeName(f"empty {what}", name, "empty")
    shown = _short(name)
    if "\x00" in name:
        raise UnsafeName(f"{shown} contains a NUL character: not a file name", name, "nul")
    if len(name) > MAX_NAME:
        raise UnsafeName(f"{shown} is too long ({len(name)} characters, at most {MAX_NAME})", name, "too long")
    if name.startswith(("/", "\\")) or os.path.isabs(name) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeName(f"{shown} is an absolute path: it escapes {where}", name, "absolute")
    parts = re.split(r"[\\/]+", name)
    if ".." in parts:
        raise UnsafeName(f"{shown} contains '..': it escapes {where}", name, "parent")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_PART for p in parts):
        raise UnsafeName(f"{shown} has a part over {MAX_PART} bytes: too long for a file name", name, "too long")
    clean = "/".join(p for p in parts if p not in ("", "."))
    if not clean:
        raise UnsafeName(f"empty {what}", name, "empty")
    if root is not None:
        base = os.path.normpath(os.fspath(root))
        joined = os.path.normpath(os.path.join(base, *clean.split("/")))
        if os.path.commonpath([base, joined]) != base:
            raise UnsafeName(f"{shown} resolves outside {where}", name, "outside")
    return clean
