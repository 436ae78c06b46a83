"""The one import of ComfyUI's node API: Loadout declares every node with the V3 schema of ``comfy_api.v0_0_2``.

Why this module: ``comfy_api.latest`` is what core's own nodes import, but it is the moving head of the API
(its ``_io`` grew by half between 0.3.75 and 0.33). ``comfy_api.v0_0_2`` is the newest *versioned* module that
exists in ComfyUI 0.3.75, and later releases keep it (0.33.0 has v0_0_1, v0_0_2 and latest; the 0.38 line adds
v0_0_3 beside them). It re-exports ``io``, ``ui`` and ``ComfyExtension``, so a release that renames something in
``latest`` has to keep these names working for v0_0_2 users. Node modules import ``io``/``ui`` from here and
nowhere else, so a move to another version is one line.
"""
from comfy_api.v0_0_2 import ComfyExtension, io, ui  # noqa: F401

__all__ = ["ComfyExtension", "io", "ui"]
