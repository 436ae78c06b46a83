"""Scheduler nodes: named schedules as SIGMAS, A1111/diffusers sampler presets, the auto choice, a sigma plot.

ComfyUI's sampler and scheduler lists are read live (``comfy.samplers.KSampler.SAMPLERS/SCHEDULERS``) and never
extended; our extra schedules exist only inside these nodes, so other packs' links are never broken.
The schedule maths is in ``nodes/schedules/`` (no ComfyUI import).
"""
from __future__ import annotations

import json
import logging

import comfy.model_sampling
import comfy.samplers
import numpy as np
import torch

from .comfy_compat.model_family import model_family

# The schedule maths (nodes/schedules/) is imported when a node runs or lists its options, not at start-up,
# to keep the pack's import time low.
DISTILLED = ("none", "lcm", "turbo", "lightning", "hyper")  # auto.DISTILLED; a unit test keeps them equal

logger = logging.getLogger(__name__)
MAX_STEPS = 10000
PARAM_INPUTS = {
    "rho": ("FLOAT", {"default": 7.0, "min": 0.01, "max": 100.0, "step": 0.01,
                      "tooltip": "karras_custom / polyexponential: the rho exponent (7 = Karras et al.)."}),
    "sigma_min": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 5000.0, "step": 0.001, "round": False,
                            "tooltip": "*_custom, polyexponential, laplace, kl_optimal_range: lowest sigma; 0 = the model's."}),
    "sigma_max": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 5000.0, "step": 0.01, "round": False,
                            "tooltip": "*_custom, polyexponential, laplace, kl_optimal_range: highest sigma; 0 = the model's."}),
    "alpha": ("FLOAT", {"default": 0.6, "min": 0.01, "max": 50.0, "step": 0.01,
                        "tooltip": "beta_custom: the beta distribution's alpha."}),
    "beta": ("FLOAT", {"default": 0.6, "min": 0.01, "max": 50.0, "step": 0.01,
                       "tooltip": "beta_custom: the beta distribution's beta."}),
    "mu": ("FLOAT", {"default": 0.0, "min": -10.0, "max": 10.0, "step": 0.1,
                     "tooltip": "laplace: log sigma around which steps concentrate."}),
    "laplace_beta": ("FLOAT", {"default": 0.5, "min": 0.01, "max": 10.0, "step": 0.01,
                               "tooltip": "laplace: spread of the steps around mu."}),
    "vp_beta_d": ("FLOAT", {"default": 19.9, "min": 0.0, "max": 5000.0, "step": 0.01,
                            "tooltip": "vp: beta_d of the variance-preserving SDE."}),
    "vp_beta_min": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 5000.0, "step": 0.01,
                              "tooltip": "vp: beta_min of the variance-preserving SDE."}),
    "vp_eps_s": ("FLOAT", {"default": 0.001, "min": 0.0001, "max": 0.9999, "step": 0.0001, "round": False,
                           "tooltip": "vp: the smallest time (sets the lowest sigma)."}),
    "gits_coeff": ("FLOAT", {"default": 1.2, "min": 0.8, "max": 1.5, "step": 0.05,
                             "tooltip": "gits: the coefficient of the searched schedule (0.80–1.50)."}),
}
DISTILLED_INPUT = (["auto", *DISTILLED], {
    "tooltip": "What the model was distilled for: auto (LCM is detected from the model; Turbo/Lightning/Hyper "
               "checkpoints look like normal ones, so name them here), none, lcm, turbo, lightning, hyper."})


def _prediction(model) -> str:
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


def sampling_info(model):
    """What the schedules need (a catalog.SamplingInfo), read from the model's live model_sampling object."""
    from ..core.schedules import catalog

    ms = model.get_model_object("model_sampling")
    discrete = isinstance(ms, comfy.model_sampling.ModelSamplingDiscrete)
    try:
        from comfy_extras.nodes_gits import NOISE_LEVELS as gits_table  # noqa: PLC0415
    except ImportError:
        gits_table = None
    return catalog.SamplingInfo(
        family=model_family(model), prediction=_prediction(model),
        sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max),
        table=ms.sigmas.detach().cpu().double().numpy() if discrete else None,
        core=lambda name, n: comfy.samplers.calculate_sigmas(ms, name, n).cpu().float(),
        core_names=tuple(comfy.samplers.KSampler.SCHEDULERS), gits_table=gits_table,
        sigma_at=ms.sigma if discrete else None)


def _sigmas_text(sigmas: torch.Tensor) -> str:
    return json.dumps([float(v) for v in sigmas.tolist()])


def _profile(model, info, hint, steps):
    from ..core.schedules import auto

    ms = model.get_model_object("model_sampling")
    distilled, how = auto.detect_distilled(hint, type(ms).__name__, steps)
    return auto.ModelProfile(info.family, info.prediction, distilled, how)


def _fail(node: str, what: str, e: Exception):
    raise ValueError(f"[Loadout] {node}: {what}: {e}") from e


def _schedule_names() -> list[str]:
    from ..core.schedules import catalog

    return catalog.names(comfy.samplers.KSampler.SCHEDULERS)


class LoadoutScheduler:
    NODE_ID = "LoadoutScheduler"
    DISPLAY_NAME = "Scheduler (Loadout)"
    CATEGORY = "Loadout/Sampling"
    DESCRIPTION = ("SIGMAS for SamplerCustom / SamplerCustomAdvanced from a named schedule: ComfyUI's own schedulers "
                   "(read live), Karras/exponential/polyexponential/Laplace/VP with parameters, Align Your Steps, "
                   "GITS, beta variants, diffusers' timestep spacings (leading/trailing/linspace) and sigma "
                   "conversions, DDIM/LCM/Turbo timesteps, or auto (by the model's family and type). denoise < 1 "
                   "takes the tail of a longer schedule, as core's BasicScheduler does.")
    FUNCTION = "schedule"
    RETURN_TYPES = ("SIGMAS", "STRING")
    RETURN_NAMES = ("sigmas", "report")
    OUTPUT_TOOLTIPS = ("The noise levels, high to low.", "The schedule chosen, its sigmas and any warnings.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The model the schedule is for (its sigma range and timesteps)."}),
                "schedule": (_schedule_names(), {
                    "default": "karras",
                    "tooltip": "The schedule. auto: chosen for the model and step count (see the report). Names "
                               "without a prefix beyond core's are Loadout's; diffusers_* reproduce diffusers' "
                               "schedulers exactly."}),
                "steps": ("INT", {"default": 20, "min": 1, "max": MAX_STEPS,
                                  "tooltip": "Sampling steps (the SIGMAS have steps + 1 values)."}),
                "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                      "tooltip": "Below 1: img2img strength (the tail of a longer schedule)."}),
            },
            "optional": {**PARAM_INPUTS, "distilled": DISTILLED_INPUT},
        }

    def schedule(self, model, schedule, steps, denoise, distilled="auto", **params):
        from ..core.schedules import auto, catalog

        node = self.DISPLAY_NAME
        info = sampling_info(model)
        lines = []
        if schedule == catalog.AUTO:
            try:
                rec = auto.recommend(_profile(model, info, distilled, steps), steps)
            except ValueError as e:
                _fail(node, "input 'distilled'", e)
            schedule = rec.schedule
            lines.append(f"auto → {schedule} ({rec.rationale})")
            warnings = rec.warnings
        else:
            warnings = auto.check(auto.ModelProfile(info.family, info.prediction), "", schedule)
        try:
            sigmas = catalog.compute(schedule, info, steps, denoise, catalog.ScheduleParams(**params))
        except ValueError as e:
            _fail(node, f"input 'schedule' = {schedule}", e)
        if not torch.isfinite(sigmas).all():
            _fail(node, f"schedule {schedule}", ValueError("produced non-finite sigmas; check its parameters"))
        lines.append(f"{schedule}: {catalog.describe(schedule)}; {len(sigmas) - 1} steps, denoise {denoise}")
        lines += [f"warning: {w}" for w in warnings]
        for w in warnings:
            logger.warning("[Loadout] %s: %s", node, w)
        lines.append("sigmas: " + _sigmas_text(sigmas))
        report = "\n".join(lines)
        return {"ui": {"text": [report]}, "result": (sigmas, report)}


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


class LoadoutSamplerPreset:
    NODE_ID = "LoadoutSamplerPreset"
    DISPLAY_NAME = "Sampler preset (Loadout)"
    CATEGORY = "Loadout/Sampling"
    DESCRIPTION = ("An A1111 or diffusers sampler name → SAMPLER + SIGMAS for SamplerCustom, and the closest "
                   "(sampler_name, scheduler) pair for core KSampler. Examples: 'DPM++ 2M Karras', 'Euler a', "
                   "'DPM++ SDE Karras', 'UniPC', 'DDIM', 'LCM', 'DPMSolverMultistepScheduler(use_karras_sigmas=True)', "
                   "'EulerDiscreteScheduler(timestep_spacing=\"trailing\")'. The report says whether the KSampler "
                   "pair reproduces the sigmas exactly.")
    FUNCTION = "preset"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "The model the sigmas are for."}),
            "preset": ("STRING", {"default": "DPM++ 2M Karras", "multiline": False,
                                  "tooltip": "A1111 name ('DPM++ 2M Karras'), ComfyUI pair ('dpmpp_2m karras') or "
                                             "diffusers class with keyword arguments."}),
            "steps": ("INT", {"default": 20, "min": 1, "max": MAX_STEPS, "tooltip": "Sampling steps."}),
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                  "tooltip": "Below 1: img2img strength."}),
        }}

    # The live lists themselves (not copies) type the pair outputs, so they link to KSampler's combo inputs.
    RETURN_TYPES = ("SAMPLER", "SIGMAS", comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSampler.SCHEDULERS,
                    "STRING")
    RETURN_NAMES = ("sampler", "sigmas", "sampler_name", "scheduler", "report")
    OUTPUT_TOOLTIPS = ("For SamplerCustom.", "For SamplerCustom.", "For KSampler's sampler_name.",
                       "For KSampler's scheduler (see the report for how exact it is).", "What the name resolved to.")

    def preset(self, model, preset, steps, denoise):
        from ..core.schedules import auto, presets

        node = self.DISPLAY_NAME
        info = sampling_info(model)
        try:
            p = presets.parse(preset, comfy.samplers.KSampler.SAMPLERS, comfy.samplers.KSampler.SCHEDULERS)
            sigmas = presets.sigmas(p, info, steps, denoise)
        except ValueError as e:
            _fail(node, f"input 'preset' = {preset!r}", e)
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
        return {"ui": {"text": [report]}, "result": (sampler, sigmas, pair[0], pair[1], report)}


class LoadoutAutoSampler:
    NODE_ID = "LoadoutAutoSampler"
    DISPLAY_NAME = "Auto sampler (Loadout)"
    CATEGORY = "Loadout/Sampling"
    DESCRIPTION = ("Picks a sampler and schedule for the model: detects its family and sampling type (eps / v / "
                   "flow / EDM) and LCM distillation, takes a hint for Turbo/Lightning/Hyper, and explains the choice "
                   "in 'rationale' with warnings for combinations known not to work.")
    FUNCTION = "choose"
    RETURN_TYPES = LoadoutSamplerPreset.RETURN_TYPES
    RETURN_NAMES = ("sampler", "sigmas", "sampler_name", "scheduler", "rationale")
    OUTPUT_TOOLTIPS = ("For SamplerCustom.", "For SamplerCustom.", "For KSampler's sampler_name.",
                       "For KSampler's scheduler (closest core scheduler when the pick is a Loadout schedule).",
                       "Why this choice, and warnings.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "The model to choose for."}),
            "steps": ("INT", {"default": 20, "min": 1, "max": MAX_STEPS, "tooltip": "Sampling steps."}),
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                  "tooltip": "Below 1: img2img strength."}),
            "distilled": DISTILLED_INPUT,
        }}

    def choose(self, model, steps, denoise, distilled):
        from ..core.schedules import auto, catalog

        node = self.DISPLAY_NAME
        info = sampling_info(model)
        try:
            rec = auto.recommend(_profile(model, info, distilled, steps), steps)
            sigmas = catalog.compute(rec.schedule, info, steps, denoise)
        except ValueError as e:
            _fail(node, "choosing a schedule", e)
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
        return {"ui": {"text": [text]},
                "result": (comfy.samplers.sampler_object(rec.sampler), sigmas, rec.sampler, core_scheduler, text)}


class LoadoutSigmaPreview:
    NODE_ID = "LoadoutSigmaPreview"
    DISPLAY_NAME = "Sigma preview (Loadout)"
    CATEGORY = "Loadout/Sampling"
    DESCRIPTION = "Plots up to four SIGMAS on a log scale, to compare schedules; also lists their exact values."
    FUNCTION = "preview"
    OUTPUT_NODE = True
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "values")
    OUTPUT_TOOLTIPS = ("The plot (connect a Preview Image).", "Every curve's sigmas as JSON.")

    @classmethod
    def INPUT_TYPES(cls):
        opt = {f"sigmas_{i}": ("SIGMAS", {"tooltip": f"Curve {i} (optional)."}) for i in (2, 3, 4)}
        return {
            "required": {
                "sigmas_1": ("SIGMAS", {"tooltip": "Curve 1."}),
                "labels": ("STRING", {"default": "", "multiline": False,
                                      "tooltip": "Comma-separated curve names (default: sigmas_1, sigmas_2, …)."}),
                "width": ("INT", {"default": 768, "min": 256, "max": 4096, "step": 8, "tooltip": "Plot width."}),
                "height": ("INT", {"default": 512, "min": 192, "max": 4096, "step": 8, "tooltip": "Plot height."}),
            },
            "optional": opt,
        }

    def preview(self, sigmas_1, labels, width, height, sigmas_2=None, sigmas_3=None, sigmas_4=None):
        from ..core.schedules.plot import plot_sigmas

        given = [(i, s) for i, s in enumerate((sigmas_1, sigmas_2, sigmas_3, sigmas_4), 1) if s is not None]
        names = [n.strip() for n in labels.split(",")] if labels.strip() else []
        curves = [(names[k] if k < len(names) and names[k] else f"sigmas_{i}", [float(v) for v in s.tolist()])
                  for k, (i, s) in enumerate(given)]
        try:
            img = plot_sigmas(curves, width, height)
        except ValueError as e:
            _fail(self.DISPLAY_NAME, "input 'sigmas_1'", e)
        values = json.dumps({label: sig for label, sig in curves})
        image = torch.from_numpy(img.astype(np.float32) / 255.0)[None]
        return {"ui": {"text": [values]}, "result": (image, values)}


NODES = [LoadoutScheduler, LoadoutSamplerPreset, LoadoutAutoSampler, LoadoutSigmaPreview]
