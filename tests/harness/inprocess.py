"""Import ComfyUI (CPU) and the pack into this process, for model generation and in-process benchmarks."""
from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

from harness.paths import REPO

PACK_ALIAS = "loadout"


def import_comfyui(comfy_dir: Path, cpu: bool = True) -> None:
    """Put ComfyUI's folder on sys.path and import its model management, forced to the CPU unless ``cpu`` is
    False (the GPU benchmarks)."""
    comfy_dir = str(Path(comfy_dir).resolve())
    if comfy_dir not in sys.path:
        sys.path.insert(0, comfy_dir)
    saved, sys.argv = sys.argv, [sys.argv[0]] + (["--cpu"] if cpu else [])  # ComfyUI parses its CLI args at import
    try:
        import comfy.cli_args

        comfy.cli_args.args.cpu = cpu
        import comfy.model_management  # noqa: F401  (after --cpu, so CUDA is never probed)
    finally:
        sys.argv = saved


def import_pack():
    """The pack as package ``loadout`` (the repo folder), without putting the repo root on sys.path."""
    if PACK_ALIAS not in sys.modules:
        pkg = types.ModuleType(PACK_ALIAS)
        pkg.__path__ = [str(REPO)]
        pkg.__spec__ = importlib.machinery.ModuleSpec(PACK_ALIAS, None, is_package=True)
        pkg.__spec__.submodule_search_locations = [str(REPO)]
        sys.modules[PACK_ALIAS] = pkg
    return sys.modules[PACK_ALIAS]


def run_node(node_cls, hidden: dict | None = None, **inputs):
    """Run a V3 node class in this process as ComfyUI's executor does: on a class clone carrying the hidden
    inputs (``{"UNIQUE_ID": "7"}``, ``{"PROMPT": ...}``), with the inputs by name. Returns its ``io.NodeOutput``
    (index it like the old result tuple; ``.ui`` holds the UI part)."""
    from comfy_api.latest import _io  # noqa: PLC0415 - ComfyUI is importable only once the harness set it up

    # ComfyUI 0.3.75 takes the hidden inputs themselves; 0.3x's executor passes its V3 data,
    # {"hidden_inputs": {...}}, read by HiddenHolder.from_v3_data
    v3_data = {"hidden_inputs": hidden} if hasattr(_io.HiddenHolder, "from_v3_data") and hidden else hidden
    return node_cls.PREPARE_CLASS_CLONE(v3_data or {}).execute(**inputs)
