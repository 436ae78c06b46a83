"""The one place where Loadout's nodes are registered: a V3 ``ComfyExtension`` (``comfy_entrypoint``).

Each module under ``nodes/`` listed in ``NODE_MODULES`` exposes ``NODES``: ``io.ComfyNode`` classes (``api.py``
says which versioned ``comfy_api`` they use). A module whose optional packages are missing, or that fails to
import, is disabled with a logged reason; the rest of the pack loads. Node modules are imported when ComfyUI asks
the extension for its node list, not when the pack's ``__init__`` runs.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
from typing import Callable, Iterable

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NodeModule:
    """A module under ``nodes/`` and the optional import names it needs (checked without importing them)."""

    name: str
    requires: tuple[str, ...] = ()
    extra: str = ""  # the pyproject extra that installs ``requires``


NODE_MODULES: tuple[NodeModule, ...] = (
    NodeModule("monitor"),
    NodeModule("offload"),
    NodeModule("lora"),
    NodeModule("vae"),
    NodeModule("schedules"),
    NodeModule("controlnet"),
    NodeModule("preprocessors"),
    NodeModule("pose"),  # its model choices need mediapipe or onnxruntime: checked per choice (nodes/pose.py)
)


def _missing(requires: Iterable[str], find_spec: Callable) -> list[str]:
    missing = []
    for name in requires:
        try:
            if find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def load_nodes(
    package: str,
    modules: Iterable[NodeModule] = NODE_MODULES,
    find_spec: Callable = importlib.util.find_spec,
) -> tuple[dict[str, type], dict[str, str], dict[str, str]]:
    """Import ``package.nodes.<module>`` for each entry and collect its ``NODES``.

    Returns ``(class_mappings, display_names, disabled)`` where ``disabled`` maps a module name to the reason.
    """
    classes: dict[str, type] = {}
    names: dict[str, str] = {}
    disabled: dict[str, str] = {}
    for entry in modules:
        missing = _missing(entry.requires, find_spec)
        if missing:
            fix = f"pip install 'comfyui-loadout[{entry.extra}]'" if entry.extra else "pip install " + " ".join(missing)
            disabled[entry.name] = f"optional package(s) {', '.join(missing)} not installed; to enable: {fix}"
        else:
            try:
                module = importlib.import_module(f"{package}.nodes.{entry.name}")
            except Exception as exc:  # a broken optional module must not break the pack
                disabled[entry.name] = f"import failed: {type(exc).__name__}: {exc}"
            else:
                for cls in module.NODES:
                    schema = cls.GET_SCHEMA()
                    if schema.node_id in classes:
                        raise RuntimeError(f"[Loadout] node id {schema.node_id} registered twice ({entry.name})")
                    classes[schema.node_id] = cls
                    names[schema.node_id] = schema.display_name
        if entry.name in disabled:
            logger.warning("[Loadout] nodes in '%s' disabled: %s", entry.name, disabled[entry.name])
    return classes, names, disabled


def comfy_entrypoint(package: str):
    """The pack's ``ComfyExtension``: ComfyUI awaits ``get_node_list`` once, at start-up."""
    from .api import ComfyExtension  # noqa: PLC0415 - ComfyUI's module; only needed when ComfyUI loads the pack
    import folder_paths  # noqa: PLC0415
    from ..core.common import config  # noqa: PLC0415
    config.set_user_directory(folder_paths.get_user_directory)  # loadout.json lives in ComfyUI's user directory

    class LoadoutExtension(ComfyExtension):
        disabled: dict[str, str] = {}

        async def get_node_list(self):
            classes, _names, disabled = load_nodes(package)
            LoadoutExtension.disabled = disabled
            return list(classes.values())

    return LoadoutExtension()
