"""Seam: what the schedule nodes read from a ComfyUI MODEL's sampling object, and their KSampler-typed outputs.

Pinned by ``tests/integration/test_compat_schedules.py`` (the tiny SD1.5 checkpoint, the KSampler lists).
The schedule maths is in ``core/schedules/`` (imported when a node runs, not when the pack loads).
"""
from __future__ import annotations

from ..api import io
from .model_family import model_family


# Relies on: ModelPatcher.model.model_type being comfy.model_base.ModelType (EPS, V_PREDICTION, EDM, FLOW, ...),
# read by its member name.
def prediction_type(model) -> str:
    """eps, v, flow, edm or other."""
    mt = getattr(getattr(model, "model", None), "model_type", None)
    name = getattr(mt, "name", str(mt)).upper()
    if "FLOW" in name:
        return "flow"
    if "EDM" in name:
        return "edm"
    if name.startswith("V_PREDICTION"):
        return "v"
    if name == "EPS":
        return "eps"
    return "other"


# Relies on: the class name of get_model_object("model_sampling") (LCM models get a class of their own).
def sampling_class_name(model) -> str:
    return type(model.get_model_object("model_sampling")).__name__


# Relies on: get_model_object("model_sampling") having sigma_min / sigma_max, and — when it is a
# comfy.model_sampling.ModelSamplingDiscrete — the ascending per-timestep table .sigmas and .sigma(timestep);
# comfy_extras.nodes_gits.NOISE_LEVELS (core's GITS table; None when that module is missing).
def sampling_info(model):
    """What the schedules need (a ``core.schedules.catalog.SamplingInfo``), read from the model's live
    model_sampling object; ``core`` is ComfyUI's own ``calculate_sigmas`` for it."""
    import comfy.model_sampling  # noqa: PLC0415
    import comfy.samplers  # noqa: PLC0415

    from ...core.schedules import catalog  # noqa: PLC0415

    ms = model.get_model_object("model_sampling")
    discrete = isinstance(ms, comfy.model_sampling.ModelSamplingDiscrete)
    try:
        from comfy_extras.nodes_gits import NOISE_LEVELS as gits_table  # noqa: PLC0415
    except ImportError:
        gits_table = None
    return catalog.SamplingInfo(
        family=model_family(model), prediction=prediction_type(model),
        sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max),
        table=ms.sigmas.detach().cpu().double().numpy() if discrete else None,
        core=lambda name, n: comfy.samplers.calculate_sigmas(ms, name, n).cpu().float(),
        core_names=tuple(comfy.samplers.KSampler.SCHEDULERS), gits_table=gits_table,
        sigma_at=ms.sigma if discrete else None)


class _ListTypedOutput(io.Combo.Output):
    """A combo output whose socket type is the option list itself (the V1 form of a combo type)."""

    @property
    def io_type(self):
        return self.options


# Relies on: an output's ``io_type`` being what the node's RETURN_TYPES and /object_info "output" serve, and on
# ComfyUI's link check accepting a list type equal to the combo input's own list (KSampler's sampler_name and
# scheduler are typed by comfy.samplers.KSampler.SAMPLERS / SCHEDULERS). ComfyUI 0.3.75's io.Combo.Output already
# serves its options this way; 0.33's serves "COMBO", which its validator does not match with a list-typed input,
# so the property is restated here. Pass the live lists themselves (not copies): they are the types.
def ksampler_list_output(id: str, options: list, display_name: str, tooltip: str) -> io.Combo.Output:
    return _ListTypedOutput(id, display_name=display_name, options=options, tooltip=tooltip)
