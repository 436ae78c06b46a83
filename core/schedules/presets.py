"""Sampler presets: A1111 and diffusers names → a ComfyUI sampler plus a schedule.

A1111 names are "<sampler>[ <schedule>]" ("DPM++ 2M Karras", "Euler a", "DPM++ SDE Exponential"); ComfyUI's own
"sampler_name scheduler" pairs work too ("dpmpp_2m karras"). Diffusers names are a scheduler class with optional
keyword arguments, as written in Python: ``DPMSolverMultistepScheduler(use_karras_sigmas=True)``,
``EulerDiscreteScheduler(timestep_spacing="trailing")``. Each diffusers class keeps its own default spacing
(Euler/DPM-Solver/UniPC: linspace, DDIM/LCM: leading); the sigmas are exactly what that scheduler would use.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from . import catalog
from . import diffusers_spacing as ds

A1111_SAMPLERS = {
    "euler": "euler", "euler a": "euler_ancestral", "lms": "lms", "heun": "heun", "dpm2": "dpm_2",
    "dpm2 a": "dpm_2_ancestral", "dpm++ 2s a": "dpmpp_2s_ancestral", "dpm++ 2m": "dpmpp_2m",
    "dpm++ sde": "dpmpp_sde", "dpm++ 2m sde": "dpmpp_2m_sde", "dpm++ 2m sde heun": "dpmpp_2m_sde_heun",
    "dpm++ 3m sde": "dpmpp_3m_sde", "dpm fast": "dpm_fast", "dpm adaptive": "dpm_adaptive", "ddim": "ddim",
    "ddpm": "ddpm", "lcm": "lcm", "unipc": "uni_pc", "deis": "deis", "ipndm": "ipndm", "euler cfg++": "euler_cfg_pp",
    "dpm++ 2m cfg++": "dpmpp_2m_cfg_pp", "res multistep": "res_multistep",
}
# A1111 schedule words → our/core schedule names ("automatic" = the sampler's own default below).
A1111_SCHEDULES = {
    "karras": "karras", "exponential": "exponential", "polyexponential": "polyexponential",
    "sgm uniform": "sgm_uniform", "uniform": "normal", "normal": "normal", "simple": "simple", "ddim": "ddim_uniform",
    "beta": "beta", "kl optimal": "kl_optimal", "align your steps": "ays", "automatic": None,
}
# The schedule A1111 uses for a sampler when none is named ("Automatic").
A1111_DEFAULT_SCHEDULE = {"ddim": "ddim_uniform", "lcm": "sgm_uniform", "dpm_fast": "exponential",
                          "dpm_adaptive": "exponential"}

DIFFUSERS_CLASSES = {
    # class: (ComfyUI sampler, spacing family, default spacing)
    "EulerDiscreteScheduler": ("euler", "euler", "linspace"),
    "EulerAncestralDiscreteScheduler": ("euler_ancestral", "euler", "linspace"),
    "HeunDiscreteScheduler": ("heun", "euler", "linspace"),
    "LMSDiscreteScheduler": ("lms", "euler", "linspace"),
    "KDPM2DiscreteScheduler": ("dpm_2", "euler", "linspace"),
    "KDPM2AncestralDiscreteScheduler": ("dpm_2_ancestral", "euler", "linspace"),
    "DPMSolverMultistepScheduler": ("dpmpp_2m", "multistep", "linspace"),
    "DPMSolverSDEScheduler": ("dpmpp_sde", "euler", "linspace"),
    "UniPCMultistepScheduler": ("uni_pc", "multistep", "linspace"),
    "DEISMultistepScheduler": ("deis", "multistep", "linspace"),
    "DDIMScheduler": ("ddim", "ddim", "leading"),
    "DDPMScheduler": ("ddpm", "ddim", "leading"),
    "LCMScheduler": ("lcm", "lcm", "leading"),
}
DIFFUSERS_KWARGS = {"timestep_spacing", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
                    "steps_offset", "final_sigmas_type", "algorithm_type"}
DPM_ALGORITHMS = {"dpmsolver++": "dpmpp_2m", "sde-dpmsolver++": "dpmpp_2m_sde"}


@dataclass
class Preset:
    """What a name resolves to. ``schedule`` is a catalog/core name, or None when ``diffusers`` describes it."""

    name: str
    sampler: str
    schedule: str | None = None
    diffusers: dict | None = None  # kwargs for diffusers_spacing.diffusers_sigmas, or {"timesteps": kind}
    notes: list[str] = field(default_factory=list)


class UnknownPreset(ValueError):
    pass


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def accepted_names() -> list[str]:
    """Examples of every accepted form, for error messages and the README."""
    a1111 = ["Euler", "Euler a", "DPM++ 2M Karras", "DPM++ 2M SDE Karras", "DPM++ SDE Karras", "DPM++ 2M SDE Heun",
             "DPM++ 3M SDE Exponential", "DPM2 a Karras", "Heun", "LMS Karras", "DDIM", "UniPC", "LCM", "DEIS",
             "DPM++ 2M SGM Uniform", "DPM++ 2M Align Your Steps", "Euler Beta"]
    return a1111 + [f"{c}(...)" for c in DIFFUSERS_CLASSES]


def _a1111(name: str, sampler_names, schedule_names) -> Preset | None:
    n = _norm(name)
    for sched_word in sorted(A1111_SCHEDULES, key=len, reverse=True):
        if n.endswith(" " + sched_word) and n[: -len(sched_word) - 1] in A1111_SAMPLERS:
            sampler = A1111_SAMPLERS[n[: -len(sched_word) - 1]]
            schedule = A1111_SCHEDULES[sched_word] or A1111_DEFAULT_SCHEDULE.get(sampler, "normal")
            return Preset(name, sampler, schedule)
    if n in A1111_SAMPLERS:
        sampler = A1111_SAMPLERS[n]
        return Preset(name, sampler, A1111_DEFAULT_SCHEDULE.get(sampler, "normal"))
    # ComfyUI pair: "dpmpp_2m karras" or "dpmpp_2m"
    parts = n.split(" ")
    if parts[0] in sampler_names and (len(parts) == 1 or (len(parts) == 2 and parts[1] in schedule_names)):
        return Preset(name, parts[0], parts[1] if len(parts) == 2 else "normal")
    return None


def _diffusers(name: str) -> Preset | None:
    m = re.fullmatch(r"\s*([A-Za-z0-9_]+)\s*(?:\((.*)\))?\s*", name, flags=re.S)
    if not m or m.group(1) not in DIFFUSERS_CLASSES:
        return None
    cls, args = m.group(1), (m.group(2) or "").strip()
    kwargs = {}
    if args:
        try:
            call = ast.parse(f"f({args})", mode="eval").body
            if call.args:
                raise ValueError("positional arguments")
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (SyntaxError, ValueError) as e:
            raise UnknownPreset(f"cannot read the arguments of '{name}' ({e}); write keyword=literal pairs, e.g. "
                                f"DPMSolverMultistepScheduler(use_karras_sigmas=True)") from None
    unknown = set(kwargs) - DIFFUSERS_KWARGS
    if unknown:
        raise UnknownPreset(f"'{cls}' argument(s) {sorted(unknown)} are not supported; supported: "
                            f"{sorted(DIFFUSERS_KWARGS)}")
    sampler, family, spacing = DIFFUSERS_CLASSES[cls]
    spacing = kwargs.get("timestep_spacing", spacing)
    if spacing not in ds.SPACINGS:
        raise UnknownPreset(f"timestep_spacing must be one of {ds.SPACINGS}, got {spacing!r}")
    conv = [c for c in ("karras", "exponential", "beta") if kwargs.get(f"use_{c}_sigmas")]
    if len(conv) > 1:
        raise UnknownPreset(f"'{cls}': use only one of use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas")
    notes = []
    if "algorithm_type" in kwargs:
        if cls != "DPMSolverMultistepScheduler" or kwargs["algorithm_type"] not in DPM_ALGORITHMS:
            raise UnknownPreset(f"algorithm_type is supported for DPMSolverMultistepScheduler with "
                                f"{sorted(DPM_ALGORITHMS)}, got {kwargs['algorithm_type']!r}")
        sampler = DPM_ALGORITHMS[kwargs["algorithm_type"]]
    offset = int(kwargs.get("steps_offset", 1))
    if family in ("ddim", "lcm"):
        if conv:
            raise UnknownPreset(f"'{cls}' picks timesteps directly; use_*_sigmas does not apply")
        if spacing != "leading" and family == "ddim":
            spec = {"spacing": spacing, "conversion": "interp", "family": "euler", "steps_offset": offset}
        else:
            spec = {"timesteps": family, "steps_offset": offset}
    else:
        spec = {"spacing": spacing, "conversion": conv[0] if conv else "interp", "family": family,
                "steps_offset": offset, "final": kwargs.get("final_sigmas_type", "zero")}
    if family == "multistep":
        notes.append("diffusers' multistep solvers also lower the solver order on the last steps "
                     "(lower_order_final); ComfyUI's sampler keeps its order, so images differ slightly even "
                     "with identical sigmas")
    return Preset(name, sampler, None, spec, notes)


def parse(name: str, sampler_names, schedule_names) -> Preset:
    """Resolve a preset name (see module doc). Unknown names raise with the accepted forms listed."""
    if not name or not name.strip():
        raise UnknownPreset("empty preset name; accepted: " + ", ".join(accepted_names()))
    preset = _diffusers(name) or _a1111(name, set(sampler_names), set(schedule_names) | set(catalog.BY_NAME))
    if preset is None:
        raise UnknownPreset(f"unknown sampler preset '{name}'. Accepted: " + ", ".join(accepted_names())
                            + "; or a ComfyUI pair 'sampler_name scheduler'")
    if preset.sampler not in sampler_names:
        raise UnknownPreset(f"preset '{name}' needs sampler '{preset.sampler}', which this ComfyUI does not have")
    return preset


def sigmas(preset: Preset, info: catalog.SamplingInfo, steps: int, denoise: float = 1.0,
           params: catalog.ScheduleParams | None = None):
    """The preset's SIGMAS for a model (core's denoise rule)."""
    from . import formulas

    schedule = preset.schedule
    if schedule == "ays":
        schedule = "ays_sdxl" if info.family.startswith("SDXL") else "ays_sd1"
    if schedule is not None:
        return catalog.compute(schedule, info, steps, denoise, params)
    spec = dict(preset.diffusers)
    table = catalog._table(info, preset.name)

    def full(n):
        if "timesteps" in spec:
            pick = ds.ddim_timesteps if spec["timesteps"] == "ddim" else ds.lcm_timesteps
            ts = pick(len(table), n, spec["steps_offset"]) if spec["timesteps"] == "ddim" else pick(len(table), n)
            return ds.timesteps_to_sigmas(table, ts)
        return ds.diffusers_sigmas(table, n, **spec)

    return formulas.truncate_for_denoise(full, steps, denoise)


def ksampler_pair(preset: Preset, schedule_names) -> tuple[str, str] | None:
    """The core KSampler (sampler_name, scheduler) that runs this preset, where core has the schedule."""
    schedule = preset.schedule
    if preset.diffusers is not None:
        spec = preset.diffusers
        schedule = {"karras": "karras", "exponential": "exponential"}.get(spec.get("conversion"))
        if spec.get("timesteps") == "ddim":
            schedule = "ddim_uniform"
        if spec.get("timesteps") == "lcm":
            schedule = "sgm_uniform"
        if spec.get("conversion") == "interp":
            schedule = "normal"
    return (preset.sampler, schedule) if schedule in schedule_names else None
