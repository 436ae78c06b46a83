"""Finding annotator weights in local folders, with errors a user can act on. Nothing is ever downloaded."""
from __future__ import annotations

from pathlib import Path


class MissingWeightsError(FileNotFoundError):
    """The weights a preprocessor needs are not in the annotators folder; the message says what to put where."""


def check_name(name: str) -> None:
    """Refuse names that would leave their folder."""
    p = Path(name)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"'{name}' escapes the annotators folder; use a name relative to it")


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
                if (d / "config.json").is_file():
                    return d
            continue
        if (base / "config.json").is_file():
            return base
        if base.is_dir():
            candidates += sorted(d for d in base.iterdir() if (d / "config.json").is_file())
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
            names.update(d.name for d in base.iterdir() if (d / "config.json").is_file())
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
