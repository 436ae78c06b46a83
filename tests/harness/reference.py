"""The reference annotators (controlnet-aux 0.0.10) as test oracles, imported without their hub downloads.

`controlnet_aux/__init__.py` imports every detector (and with them timm, mediapipe, skimage, ...). The oracle needs
only a few modules, so `reference(name)` registers the package itself as an empty namespace pointing at the installed
files and imports just `controlnet_aux.<name>` (and what it imports). `HF_HUB_OFFLINE` is set first, and
`no_hub_downloads()` makes any `hf_hub_download` call fail the test: the oracle only ever runs on weights the test
wrote. Installed into the test venvs only (requirements-oracle.txt, scripts/provision.sh); tests skip with a clear
reason when it is absent (a user's own venv).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

import pytest

PACKAGE = "controlnet_aux"
VERSION = "0.0.10"


def _package_dir() -> str | None:
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without executing its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


def _register_namespace() -> None:
    mod = sys.modules.get(PACKAGE)
    if mod is not None and getattr(mod, "__loadout_oracle__", False):
        return
    where = _package_dir()
    if where is None:
        pytest.skip(f"the reference annotators are not installed: pip install --no-deps controlnet-aux=={VERSION} "
                    "(scripts/provision.sh does it for the test venvs)")
    pkg = types.ModuleType(PACKAGE)
    pkg.__path__ = [where]
    pkg.__file__ = os.path.join(where, "__init__.py")
    pkg.__loadout_oracle__ = True
    sys.modules[PACKAGE] = pkg


def reference(name: str):
    """`controlnet_aux.<name>` (e.g. "lineart", "hed", "mlsd", "pidi", "util"), imported without the package init."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _register_namespace()
    module = importlib.import_module(f"{PACKAGE}.{name}")
    _block_downloads(module)
    return module


def _refuse(*args, **kwargs):
    raise AssertionError("the oracle tried to download from the Hugging Face hub; tests pass the weights they wrote")


def _block_downloads(module) -> None:
    if hasattr(module, "hf_hub_download"):
        module.hf_hub_download = _refuse


def reference_version() -> str:
    from importlib.metadata import version

    return version("controlnet_aux")


def assert_same_map(ours, ref) -> None:
    """Our HxW uint8 map equals the reference's (HxWx3, three equal channels) exactly; else how many pixels differ
    and by how much."""
    import numpy as np

    assert ref.dtype == np.uint8 and ref.ndim == 3 and ref.shape[2] == 3
    assert (ref == ref[:, :, :1]).all()  # a grey map, channels repeated
    assert ours.dtype == np.uint8 and ours.shape == ref.shape[:2], (ours.shape, ref.shape)
    diff = np.abs(ours.astype(int) - ref[:, :, 0].astype(int))
    assert not diff.any(), (f"{(diff > 0).sum()} of {diff.size} pixels ({(diff > 0).mean():.2%}) differ, "
                            f"by up to {diff.max()} levels")
