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


def read_state_dict(path) -> dict:
    """A state dict from .safetensors or .pth/.pt (``torch.load(weights_only=True)``), unwrapped from a
    'state_dict' / 'model' entry and from DataParallel's 'module.' prefix."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd = load_file(str(path))
    else:
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises several types for refused pickles
            raise ValueError(f"{path} could not be read safely (weights_only=True): {e}") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(wrapper), dict):
            sd = sd[wrapper]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{path} holds no state dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


def _first(keys, n: int = 4) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f" (and {len(keys) - n} more)" if len(keys) > n else "")


def check_fit(net, state_dict: dict, path, what: str) -> None:
    """ValueError naming the file, the network it was meant for and the first keys that do not fit: missing,
    unexpected, or of another shape than the network's (what ``load_state_dict`` would raise as a bare
    RuntimeError)."""
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = [f"{label}: {_first(keys)}" for label, keys in
                 (("shapes differ (file vs network)", shapes), ("missing", missing), ("unexpected", unexpected))
                 if keys]
        raise ValueError(f"{Path(path).name} does not fit {what} ({'; '.join(parts)}); is it the right file for "
                         f"this choice? ({path})")


def load_strict(net, path, what: str, state_dict: dict | None = None):
    """``net`` with the state dict of ``path`` (or ``state_dict`` read from it and converted): every key must fit
    (``check_fit``); eval, float32, no gradients."""
    sd = read_state_dict(path) if state_dict is None else state_dict
    check_fit(net, sd, path, what)
    net.load_state_dict(sd, strict=True)
    return net.eval().requires_grad_(False).float()
