"""LoRA name → file, across every LoRA folder, in this order:

1. the exact relative path in a folder (a diffusers/PEFT folder resolves to its weights file);
2. the same without extension (``style/foo`` → ``style/foo.safetensors``);
3. a unique basename across all folders (``foo`` → ``style/foo.safetensors``).

Names pass the one safe-name guard (``core.common.names``): a name that could leave the folders (absolute path,
``..``) is refused (``UnsafeLoraName``), while one that cannot be a file name at all (NUL, over-long, or too long
once an extension is added) is simply not found (``LoraNotFound``, which the Apply node's ``on_missing`` policy
handles) and never reaches the OS as an ``OSError``. Names are compared in Unicode NFC; an ambiguous basename is
an error listing the candidates. Diffusers/PEFT folders are found by the one model-folder finder
(``core.common.folders``).
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

from ..common.folders import folder_weights, walk
from ..common.names import UnsafeName, match_key, safe_name

LORA_EXTENSIONS = (".safetensors", ".sft", ".pt", ".pth", ".ckpt", ".bin")
DIFFUSERS_WEIGHT_FILES = ("pytorch_lora_weights.safetensors", "adapter_model.safetensors",
                          "pytorch_lora_weights.bin", "adapter_model.bin")


class LoraNameError(ValueError):
    """A name that cannot be resolved; the message says why and what to do."""


class UnsafeLoraName(LoraNameError):
    pass


class LoraNotFound(LoraNameError):
    pass


class AmbiguousLoraName(LoraNameError):
    def __init__(self, message: str, candidates: list[str]):
        super().__init__(message)
        self.candidates = candidates


def check_name(name: str) -> str:
    """The name with ``/`` separators, or UnsafeLoraName if it could leave its folder."""
    try:
        return safe_name(name, "the LoRA folders", "LoRA name")
    except UnsafeName as e:
        if e.reason in NOT_A_FILE:
            raise LoraNotFound(f"LoRA name {e}, so no LoRA file has this name; fix the "
                               "name") from None
        fix = "" if e.reason == "empty" else "; give a name relative to a LoRA folder"
        raise UnsafeLoraName(f"{e}{fix}") from None


NOT_A_FILE = ("too long", "nul")  # guard reasons that mean "cannot name a file", not "escapes the folder"


def _direct(folder: Path, name: str) -> Path | None:
    p = folder / name
    try:
        if p.is_file():
            return p
        return folder_weights(p, DIFFUSERS_WEIGHT_FILES)
    except (OSError, ValueError):  # ENAMETOOLONG once an extension is added, and the like: no such file
        return None


def _walk(folder: Path):
    """LoRA files and diffusers/PEFT folders' weights below ``folder``."""
    for root, files in walk(folder):
        if root != folder:
            weights = folder_weights(root, DIFFUSERS_WEIGHT_FILES)
            if weights is not None:
                yield weights
        for fname in files:
            if fname.lower().endswith(LORA_EXTENSIONS):
                yield root / fname


def _display(path: Path, folders: list[Path]) -> str:
    for folder in folders:
        try:
            return path.relative_to(folder).as_posix()
        except ValueError:
            continue
    return str(path)


def resolve_lora(name: str, folders) -> Path:
    folders = [Path(f) for f in folders if f and Path(f).is_dir()]
    clean = check_name(name)
    for folder in folders:
        found = _direct(folder, clean)
        if found:
            return found
    for folder in folders:
        for ext in LORA_EXTENSIONS:
            found = _direct(folder, clean + ext)
            if found:
                return found
    base = match_key(clean.rsplit("/", 1)[-1])
    base_stem = base
    for ext in LORA_EXTENSIONS:
        if base.lower().endswith(ext):
            base_stem = base[: -len(ext)]
    matches, seen, everything = [], set(), []
    for folder in folders:
        for path in _walk(folder):
            everything.append(_display(path, folders))
            if path.name in DIFFUSERS_WEIGHT_FILES and path.parent != folder:
                label = path.parent.name
            else:
                label = path.name[: -len(path.suffix)] if path.suffix else path.name
            real = os.path.realpath(path)
            if (match_key(label) == base_stem or match_key(path.name) == base) and real not in seen:
                seen.add(real)
                matches.append(path)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        shown = [_display(m, folders) for m in matches]
        raise AmbiguousLoraName(f"LoRA name {name!r} matches {len(matches)} files: {', '.join(shown)}; "
                                "use the relative path to pick one", shown)
    close = difflib.get_close_matches(clean, everything, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    searched = ", ".join(str(f) for f in folders) or "(no LoRA folder exists)"
    raise LoraNotFound(f"LoRA {name!r} not found in {searched}.{hint} Put the file in a LoRA folder or fix the name.")
