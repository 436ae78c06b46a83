"""Scheduler nodes: named schedules as SIGMAS, A1111/diffusers sampler presets, the auto choice, a sigma plot.

ComfyUI's sampler and scheduler lists are read live (``comfy.samplers.KSampler.SAMPLERS/SCHEDULERS``) and never
extended; our extra schedules exist only inside these nodes, so other packs' links are never broken.
The schedule maths is in ``core/schedules/`` (no ComfyUI import); what is read from the model's sampling object,
and the KSampler-typed outputs, go through the seam (``nodes/comfy_compat/schedules.py``).
"""
from __future__ import annotations

import json
import logging

import comfy.samplers
import numpy as np
import torch

from ..core.common.errors import error_text, node_error
from ..core.schedules.auto import DISTILLED
from .api import io, ui
from .comfy_compat.schedules import ksampler_list_output, sampling_class_name, sampling_info

# The schedule maths (core/schedules/ catalog, presets, formulas) is imported when a node runs or lists its
# options, not at start-up, to keep the pack's import time low (auto.py, for DISTILLED, imports nothing).

logger = logging.getLogger(__name__)
MAX_STEPS = 10000
DISTILLED_OPTIONS = ["auto", *DISTILLED]
DISTILLED_TOOLTIP = ("What the model was distilled for: auto (LCM is detected from the model; Turbo/Lightning/Hyper "
                     "checkpoints look like normal ones, so name them here), none, lcm, turbo, lightning, hyper.")


def _param_inputs() -> list:
    """The optional schedule parameters of LoadoutScheduler, in their shipped order."""
    def p(name, tooltip, **spec):
        return io.Float.Input(name, optional=True, tooltip=tooltip, **spec)

    return [
        p("rho", "karras_custom / polyexponential: the rho exponent; 0 = the default of core's node for the "
          "schedule (KarrasScheduler 7, as Karras et al.; PolyexponentialScheduler 1).",
          default=0.0, min=0.0, max=100.0, step=0.01),
        p("sigma_min", "*_custom, polyexponential, laplace, kl_optimal_range: lowest sigma; 0 = the model's.",
          default=0.0, min=0.0, max=5000.0, step=0.001, round=False),
        p("sigma_max", "*_custom, polyexponential, laplace, kl_optimal_range: highest sigma; 0 = the model's.",
          default=0.0, min=0.0, max=5000.0, step=0.01, round=False),
        p("alpha", "beta_custom: the beta distribution's alpha.", default=0.6, min=0.01, max=50.0, step=0.01),
        p("beta", "beta_custom: the beta distribution's beta.", default=0.6, min=0.01, max=50.0, step=0.01),
        p("mu", "laplace: log sigma around which steps concentrate.", default=0.0, min=-10.0, max=10.0, step=0.1),
        p("laplace_beta", "laplace: spread of the steps around mu.", default=0.5, min=0.01, max=10.0, step=0.01),
        p("vp_beta_d", "vp: beta_d of the variance-preserving SDE.", default=19.9, min=0.0, max=5000.0, step=0.01),
        p("vp_beta_min", "vp: beta_min of the variance-preserving SDE.",
          default=0.1, min=0.0, max=5000.0, step=0.01),
        p("vp_eps_s", "vp: the smallest time (sets the lowest sigma).",
          default=0.001, min=0.0001, max=0.9999, step=0.0001, round=False),
        p("gits_coeff", "gits: the coefficient of the searched schedule (0.80–1.50).",
          default=1.2, min=0.8, max=1.5, step=0.05),
    ]


def _distilled_input(optional: bool) -> io.Combo.Input:
    return io.Combo.Input("distilled", options=DISTILLED_OPTIONS, optional=optional, tooltip=DISTILLED_TOOLTIP)


def _check_distilled(node: str, distilled) -> bool | str:
    # Naming distilled in validate_inputs turns off core's own membership check for it: this is that check.
    if distilled is None or distilled in DISTILLED_OPTIONS:
        return True
    return error_text(node, "distilled", f"{distilled!r} is not an option", f"choose one of {DISTILLED_OPTIONS}")


def _pair_outputs(last_id: str, last_tooltip: str, scheduler_tooltip: str) -> list:
    """SAMPLER, SIGMAS, the KSampler pair typed by core's live lists (so they link to KSampler's combo inputs),
    and the text output."""
    return [
        io.Sampler.Output("sampler", display_name="sampler", tooltip="For SamplerCustom."),
        io.Sigmas.Output("sigmas", display_name="sigmas", tooltip="For SamplerCustom."),
        ksampler_list_output("sampler_name", comfy.samplers.KSampler.SAMPLERS, "sampler_name",
                             "For KSampler's sampler_name."),
        ksampler_list_output("scheduler", comfy.samplers.KSampler.SCHEDULERS, "scheduler", scheduler_tooltip),
        io.String.Output(last_id, display_name=last_id, tooltip=last_tooltip),
    ]


def _sigmas_text(sigmas: torch.Tensor) -> str:
    return json.dumps([float(v) for v in sigmas.tolist()])


def _profile(model, info, hint, steps):
    from ..core.schedules import auto

    distilled, how = auto.detect_distilled(hint, sampling_class_name(model), steps)
    return auto.ModelProfile(info.family, info.prediction, distilled, how)


def _schedule_names() -> list[str]:
    from ..core.schedules import catalog

    return catalog.names(comfy.samplers.KSampler.SCHEDULERS)


class LoadoutScheduler(io.ComfyNode):
    DISPLAY_NAME = "Scheduler (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutScheduler",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/Sampling",
            description=("SIGMAS for SamplerCustom / SamplerCustomAdvanced from a named schedule: ComfyUI's own "
                         "schedulers (read live), Karras/exponential/polyexponential/Laplace/VP with parameters, "
                         "Align Your Steps, GITS, beta variants, diffusers' timestep spacings (leading/trailing/"
                         "linspace) and sigma conversions, DDIM/LCM/Turbo timesteps, or auto (by the model's family "
                         "and type). denoise < 1 shortens it as core's own node for it does: the tail of a longer "
                         "schedule (BasicScheduler), AYS/GITS the last steps × denoise steps, sd_turbo later "
                         "timesteps. rho 0 (the default) takes core's default for the schedule: 7 for "
                         "karras_custom, 1 for polyexponential."),
            inputs=[
                io.Model.Input("model", tooltip="The model the schedule is for (its sigma range and timesteps)."),
                io.Combo.Input("schedule", options=_schedule_names(), default="karras", tooltip=(
                    "The schedule. auto: chosen for the model and step count (see the report). Names without a "
                    "prefix beyond core's are Loadout's; diffusers_* reproduce diffusers' schedulers exactly.")),
                io.Int.Input("steps", default=20, min=1, max=MAX_STEPS,
                             tooltip="Sampling steps (the SIGMAS have steps + 1 values)."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Below 1: img2img strength (the tail of a longer schedule)."),
                *_param_inputs(),
                _distilled_input(optional=True),
            ],
            outputs=[
                io.Sigmas.Output("sigmas", display_name="sigmas", tooltip="The noise levels, high to low."),
                io.String.Output("report", display_name="report",
                                 tooltip="The schedule chosen, its sigmas and any warnings."),
            ],
        )

    @classmethod
    def validate_inputs(cls, schedule, distilled="auto") -> bool | str:
        # Naming schedule here turns off core's own membership check for it: this is that check.
        if schedule is not None and schedule not in (names := _schedule_names()):
            return error_text(cls.DISPLAY_NAME, "schedule", f"'{schedule}' is not a schedule",
                              "choose one of: " + ", ".join(names))
        return _check_distilled(cls.DISPLAY_NAME, distilled)

    @classmethod
    def execute(cls, model, schedule, steps, denoise, distilled="auto", **params) -> io.NodeOutput:
        from ..core.schedules import auto, catalog

        node = cls.DISPLAY_NAME
        info = sampling_info(model)
        lines = []
        if schedule == catalog.AUTO:
            try:
                rec = auto.recommend(_profile(model, info, distilled, steps), steps)
            except ValueError as e:
                raise node_error(node, "distilled", str(e)) from e
            schedule = rec.schedule
            lines.append(f"auto → {schedule} ({rec.rationale})")
            warnings = rec.warnings
        else:
            warnings = auto.check(auto.ModelProfile(info.family, info.prediction), "", schedule)
        try:
            sigmas = catalog.compute(schedule, info, steps, denoise, catalog.ScheduleParams(**params))
        except ValueError as e:
            raise node_error(node, "schedule", f"{schedule}: {e}") from e
        if not torch.isfinite(sigmas).all():
            raise node_error(node, "schedule", f"{schedule} produced non-finite sigmas", "check its parameters")
        lines.append(f"{schedule}: {catalog.describe(schedule)}; {len(sigmas) - 1} steps, denoise {denoise}")
        lines += [f"warning: {w}" for w in warnings]
        for w in warnings:
            logger.warning("[Loadout] %s: %s", node, w)
        lines.append("sigmas: " + _sigmas_text(sigmas))
        report = "\n".join(lines)
        return io.NodeOutput(sigmas, report, ui=ui.PreviewText(report))


def _pair_fidelity(info, pair, steps, denoise, sigmas) -> str:
    """How closely core's KSampler with ``pair`` reproduces ``sigmas`` (core discards a sigma for some samplers)."""
    core_full = lambda n: info.core(pair[1], n)  # noqa: E731
    from ..core.schedules.formulas import truncate_for_denoise  # noqa: PLC0415

    theirs = truncate_for_denoise(core_full, steps, denoise)
    if theirs.shape != sigmas.shape:
        return f"KSampler pair {pair} gives {len(theirs) - 1} steps, not {len(sigmas) - 1}: approximate"
    rel = float(((theirs - sigmas).abs() / sigmas.abs().clamp_min(1e-6)).max()) if len(sigmas) else 0.0
    if rel == 0:
        return f"KSampler pair {pair} reproduces these sigmas exactly"
    return f"KSampler pair {pair} reproduces these sigmas to a max relative difference of {rel:.2e}"


class LoadoutSamplerPreset(io.ComfyNode):
    DISPLAY_NAME = "Sampler preset (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutSamplerPreset",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/Sampling",
            description=("An A1111 or diffusers sampler name → SAMPLER + SIGMAS for SamplerCustom, and the closest "
                         "(sampler_name, scheduler) pair for core KSampler. Examples: 'DPM++ 2M Karras', 'Euler a', "
                         "'DPM++ SDE Karras', 'UniPC', 'DDIM', 'LCM', "
                         "'DPMSolverMultistepScheduler(use_karras_sigmas=True)', "
                         "'EulerDiscreteScheduler(timestep_spacing=\"trailing\")'. The report says whether the "
                         "KSampler pair reproduces the sigmas exactly."),
            inputs=[
                io.Model.Input("model", tooltip="The model the sigmas are for."),
                io.String.Input("preset", default="DPM++ 2M Karras", multiline=False, tooltip=(
                    "A1111 name ('DPM++ 2M Karras'), ComfyUI pair ('dpmpp_2m karras') or diffusers class with "
                    "keyword arguments.")),
                io.Int.Input("steps", default=20, min=1, max=MAX_STEPS, tooltip="Sampling steps."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Below 1: img2img strength."),
            ],
            outputs=_pair_outputs("report", "What the name resolved to.",
                                  "For KSampler's scheduler (see the report for how exact it is)."),
        )

    @classmethod
    def validate_inputs(cls, preset) -> bool | str:
        """The name is resolved here (no model needed), so an unknown one stops the prompt before it runs."""
        from ..core.schedules import presets

        if preset is None:
            return True
        try:
            presets.parse(preset, comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSampler.SCHEDULERS)
        except ValueError as e:
            return error_text(cls.DISPLAY_NAME, "preset", str(e))
        return True

    @classmethod
    def execute(cls, model, preset, steps, denoise) -> io.NodeOutput:
        from ..core.schedules import auto, presets

        node = cls.DISPLAY_NAME
        info = sampling_info(model)
        try:
            p = presets.parse(preset, comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSampler.SCHEDULERS)
            sigmas = presets.sigmas(p, info, steps, denoise)
        except ValueError as e:
            raise node_error(node, "preset", f"{preset!r}: {e}") from e
        pair = presets.ksampler_pair(p, comfy.samplers.KSampler.SCHEDULERS)
        lines = [f"{preset!r} → sampler {p.sampler}, schedule "
                 f"{p.schedule or 'diffusers ' + json.dumps(p.diffusers)}"]
        if pair is None:
            pair = (p.sampler, "normal")
            lines.append(f"no core scheduler has this schedule: the KSampler pair {pair} is only approximate; "
                         f"use SamplerCustom with the sigmas output for the exact schedule")
        else:
            lines.append(_pair_fidelity(info, pair, steps, denoise, sigmas))
        lines += p.notes
        warnings = auto.check(auto.ModelProfile(info.family, info.prediction), p.sampler, p.schedule or "")
        lines += [f"warning: {w}" for w in warnings]
        lines.append("sigmas: " + _sigmas_text(sigmas))
        report = "\n".join(lines)
        sampler = comfy.samplers.sampler_object(p.sampler)
        return io.NodeOutput(sampler, sigmas, pair[0], pair[1], report, ui=ui.PreviewText(report))


class LoadoutAutoSampler(io.ComfyNode):
    DISPLAY_NAME = "Auto sampler (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutAutoSampler",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/Sampling",
            description=("Picks a sampler and schedule for the model: detects its family and sampling type (eps / v "
                         "/ flow / EDM) and LCM distillation, takes a hint for Turbo/Lightning/Hyper, and explains "
                         "the choice in 'rationale' with warnings for combinations known not to work."),
            inputs=[
                io.Model.Input("model", tooltip="The model to choose for."),
                io.Int.Input("steps", default=20, min=1, max=MAX_STEPS, tooltip="Sampling steps."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Below 1: img2img strength."),
                _distilled_input(optional=False),
            ],
            outputs=_pair_outputs("rationale", "Why this choice, and warnings.",
                                  "For KSampler's scheduler (closest core scheduler when the pick is a Loadout "
                                  "schedule)."),
        )

    @classmethod
    def validate_inputs(cls, distilled) -> bool | str:
        return _check_distilled(cls.DISPLAY_NAME, distilled)

    @classmethod
    def execute(cls, model, steps, denoise, distilled) -> io.NodeOutput:
        from ..core.schedules import auto, catalog

        node = cls.DISPLAY_NAME
        info = sampling_info(model)
        try:
            rec = auto.recommend(_profile(model, info, distilled, steps), steps)
            sigmas = catalog.compute(rec.schedule, info, steps, denoise)
        except ValueError as e:
            raise node_error(node, None, f"choosing a schedule: {e}") from e
        core_scheduler = rec.schedule if rec.schedule in comfy.samplers.KSampler.SCHEDULERS else "karras"
        lines = [f"sampler {rec.sampler}, schedule {rec.schedule}", rec.rationale]
        if core_scheduler != rec.schedule:
            lines.append(f"KSampler pair uses {core_scheduler} (core has no {rec.schedule}); "
                         f"SamplerCustom with these sigmas is exact")
        lines += [f"warning: {w}" for w in rec.warnings]
        for w in rec.warnings:
            logger.warning("[Loadout] %s: %s", node, w)
        lines.append("sigmas: " + _sigmas_text(sigmas))
        text = "\n".join(lines)
        return io.NodeOutput(comfy.samplers.sampler_object(rec.sampler), sigmas, rec.sampler, core_scheduler, text,
                             ui=ui.PreviewText(text))


class LoadoutSigmaPreview(io.ComfyNode):
    DISPLAY_NAME = "Sigma preview (Loadout)"

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadoutSigmaPreview",
            display_name=cls.DISPLAY_NAME,
            category="Loadout/Sampling",
            description="Plots up to four SIGMAS on a log scale, to compare schedules; also lists their exact values.",
            inputs=[
                io.Sigmas.Input("sigmas_1", tooltip="Curve 1."),
                io.String.Input("labels", default="", multiline=False,
                                tooltip="Comma-separated curve names (default: sigmas_1, sigmas_2, …)."),
                io.Int.Input("width", default=768, min=256, max=4096, step=8, tooltip="Plot width."),
                io.Int.Input("height", default=512, min=192, max=4096, step=8, tooltip="Plot height."),
                *[io.Sigmas.Input(f"sigmas_{i}", optional=True, tooltip=f"Curve {i} (optional).") for i in (2, 3, 4)],
            ],
            outputs=[
                io.Image.Output("image", display_name="image", tooltip="The plot (connect a Preview Image)."),
                io.String.Output("values", display_name="values", tooltip="Every curve's sigmas as JSON."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, sigmas_1, labels, width, height, sigmas_2=None, sigmas_3=None, sigmas_4=None) -> io.NodeOutput:
        from ..core.schedules.plot import plot_sigmas

        given = [(i, s) for i, s in enumerate((sigmas_1, sigmas_2, sigmas_3, sigmas_4), 1) if s is not None]
        names = [n.strip() for n in labels.split(",")] if labels.strip() else []
        curves = [(names[k] if k < len(names) and names[k] else f"sigmas_{i}", [float(v) for v in s.tolist()])
                  for k, (i, s) in enumerate(given)]
        try:
            img = plot_sigmas(curves, width, height)
        except ValueError as e:
            raise node_error(cls.DISPLAY_NAME, "sigmas_1", str(e)) from e
        values = json.dumps({label: sig for label, sig in curves})
        image = torch.from_numpy(img.astype(np.float32) / 255.0)[None]
        return io.NodeOutput(image, values, ui=ui.PreviewText(values))


NODES = [LoadoutScheduler, LoadoutSamplerPreset, LoadoutAutoSampler, LoadoutSigmaPreview]
