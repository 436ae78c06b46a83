"""Finding annotator weights in local folders, with errors a user can act on (nothing is ever downloaded), and
``MODELS``, the cache every loaded annotator model lives in.

``MODELS`` is the pack's ``FileCache`` for config section ``annotators`` (``cache_max_mb``, default 2048 MiB):
file and folder models are keyed by their path (plus the lineart mode) and re-read when the file changes;
MediaPipe solutions, which come from the mediapipe package rather than a file, are plain entries by their
settings, counted at a fixed estimate (``pose_mediapipe.SOLUTION_BYTES``) since their native memory is not
visible from Python.
"""
from __future__ import annotations

from pathlib import Path

from ..core.common import config
from ..core.common.folders import has_config
from ..core.common.names import UnsafeName, match_key, safe_name

MODELS = config.configured_cache("annotators")


class MissingWeightsError(FileNotFoundError):
    """The weights a preprocessor needs are not in the annotators folder; the message says what to put where."""


def check_name(name: str) -> None:
    """Refuse names that would leave their folder (``core.common.names``), as a ValueError saying so."""
    try:
        safe_name(name, "the annotators folder")
    except UnsafeName as e:
        raise ValueError(f"{e}; use a name relative to the annotators folder") from None


def find_model_dir(roots, subdir: str, name: str = "", examples: str = "") -> Path:
    """A Hugging Face model folder (with config.json) under ``<root>/<subdir>``: ``name`` if given, else the
    only one there (several: the first by name). Raises MissingWeightsError naming the folder to create."""
    roots = [Path(r) for r in roots]
    if name:
        check_name(name)
    candidates = []
    for root in roots:
        base = root / subdir
        if name:
            for d in (base / name, root / name):
                if has_config(d):
                    return d
            if "/" not in name and base.is_dir():  # the same name in another Unicode normal form
                candidates += sorted(d for d in base.iterdir() if match_key(d.name) == match_key(name)
                                     and has_config(d))
            continue
        if has_config(base):
            return base
        if base.is_dir():
            candidates += sorted(d for d in base.iterdir() if has_config(d))
    if candidates:
        return candidates[0]
    where = " or ".join(str(r / subdir) for r in roots) or f"models/annotators/{subdir}"
    what = f"'{name}' " if name else ""
    raise MissingWeightsError(
        f"no {subdir} model {what}found: create {where}/<model name>/ holding a Hugging Face model in "
        f"transformers format (config.json, model.safetensors, preprocessor_config.json){examples}")


def list_model_dirs(roots, subdir: str) -> list[str]:
    """Names of the model folders under ``<root>/<subdir>`` (for a node's choice list)."""
    names = set()
    for root in roots:
        base = Path(root) / subdir
        if base.is_dir():
            names.update(d.name for d in base.iterdir() if has_config(d))
    return sorted(names)


def find_weight_file(roots, subdir: str, names: list[str], what: str) -> Path:
    """The first of ``names`` present in ``<root>/<subdir>`` (or the root); MissingWeightsError otherwise."""
    for n in names:
        check_name(n)
    for root in [Path(r) for r in roots]:
        for n in names:
            for p in (root / subdir / n, root / n):
                if p.is_file():
                    return p
    where = " or ".join(str(Path(r) / subdir) for r in roots) or f"models/annotators/{subdir}"
    raise MissingWeightsError(f"{what} weights not found: put {' or '.join(names)} in {where}")
