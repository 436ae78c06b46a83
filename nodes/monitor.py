"""Memory monitor node: process/system RAM, CUDA allocator figures and ComfyUI's loaded models, as a report.

The readings come from ``vram/memory_snapshot.py``; this module only adds ComfyUI's view and the node shell.
"""
from __future__ import annotations

import logging
import sys

from ..vram.memory.snapshot import MemorySnapshot, format_snapshot, take_snapshot
from .api import io, ui

logger = logging.getLogger(__name__)

# Last snapshot per node instance, so each report shows what changed since that node last ran.
_previous: dict[str, MemorySnapshot] = {}


def comfy_loaded_models_lines() -> list[str]:
    """ComfyUI's own view: device, free memory as model management sees it, and each loaded model."""
    from .comfy_compat.devices import loaded_models_lines  # noqa: PLC0415 - model-management internals: the seam

    return loaded_models_lines()


def offload_lines() -> list[str]:
    """What the Offload nodes placed, if any ran in this process (their module is imported only then)."""
    binding = sys.modules.get(f"{__package__}.comfy_compat.offload")
    return binding.offload_status_lines() if binding is not None else []


class LoadoutMemoryMonitor(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutMemoryMonitor",
            display_name="Memory monitor (Loadout)",
            category="Loadout/VRAM",
            description=(
                "Reports process and system RAM, CUDA allocated/reserved/peak/free per device, the models ComfyUI "
                "holds and what each Offload model (Loadout) node placed where (strategy path, resident and "
                "streamed layers, prefetch hits), at the moment its input is ready. Place it after the node you want "
                "to measure; it runs on every queue, so anything connected after it runs again too."),
            inputs=[
                io.String.Input("label", default="", tooltip=(
                    "A name for this measuring point, shown in the report and the log (e.g. 'after VAE decode').")),
                io.Boolean.Input("reset_peak", default=True, tooltip=(
                    "After reading, reset the CUDA peak counters so the next monitor's peak covers only what ran "
                    "in between. No effect on CPU.")),
                io.AnyType.Input("value", optional=True, tooltip=(
                    "Anything (IMAGE, LATENT, MODEL, ...). The reading is taken once it is computed, and it is "
                    "passed through unchanged.")),
            ],
            outputs=[
                io.AnyType.Output("value_out", display_name="value", tooltip="The input, passed through unchanged."),
                io.String.Output("report", display_name="report", tooltip="The memory report as text."),
            ],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
            not_idempotent=True,  # memory changes between runs: never serve a cached report
        )

    @classmethod
    def execute(cls, label: str, reset_peak: bool, value=None) -> io.NodeOutput:
        snap = take_snapshot(reset_cuda_peak=reset_peak)
        key = str(cls.hidden.unique_id if cls.hidden is not None else None)
        lines = format_snapshot(snap, label=label, previous=_previous.get(key))
        _previous[key] = snap
        lines += comfy_loaded_models_lines()
        lines += offload_lines()
        report = "\n".join(lines)
        logger.info("[Loadout] %s", " | ".join(lines))
        return io.NodeOutput(value, report, ui=ui.PreviewText(report))


NODES = [LoadoutMemoryMonitor]
