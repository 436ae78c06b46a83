"""The named schedules of LoadoutScheduler: one table of name → description, parameters and computation.

Core ComfyUI's scheduler names are not copied here: the node passes ComfyUI's live ``calculate_sigmas`` in
``SamplingInfo.core`` and the live list of names, so a newer ComfyUI's schedulers appear without a change
(and core's lists are only read, never extended).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from . import diffusers_spacing as ds
from . import formulas as f


@dataclass(frozen=True)
class SamplingInfo:
    """What a schedule needs to know about the model (the node reads it from ComfyUI's model_sampling)."""

    family: str = "other"  # SD1, SD2, SDXL, SDXL_REFINER, SD3, FLUX, other (nodes/model_family.py)
    prediction: str = "eps"  # eps, v, flow, edm, other
    sigma_min: float = 0.0291675
    sigma_max: float = 14.614642
    table: np.ndarray | None = None  # ascending sigma per training timestep (discrete models only)
    core: Callable[[str, int], torch.Tensor] | None = None  # ComfyUI's calculate_sigmas for this model
    core_names: tuple = ()
    gits_table: dict | None = None
    sigma_at: Callable[[torch.Tensor], torch.Tensor] | None = None  # ComfyUI's model_sampling.sigma(timestep)


# rho 0 ("the schedule's default") means what core's node for the schedule defaults to: KarrasScheduler 7.0
# (Karras et al.), PolyexponentialScheduler 1.0
RHO_DEFAULTS = {"karras_custom": 7.0, "polyexponential": 1.0}


@dataclass(frozen=True)
class ScheduleParams:
    rho: float = 0.0  # 0: the schedule's own default, as core's node for it has (RHO_DEFAULTS)
    sigma_min: float = 0.0  # 0: the model's
    sigma_max: float = 0.0  # 0: the model's
    alpha: float = 0.6
    beta: float = 0.6
    mu: float = 0.0
    laplace_beta: float = 0.5
    vp_beta_d: float = 19.9
    vp_beta_min: float = 0.1
    vp_eps_s: float = 0.001
    gits_coeff: float = 1.2

    def rho_for(self, schedule: str) -> float:
        """rho for ``schedule``: the one given, or (0) the default of core's node for that schedule."""
        return self.rho if self.rho > 0 else RHO_DEFAULTS[schedule]

    def range(self, info: SamplingInfo) -> tuple[float, float]:
        lo = self.sigma_min if self.sigma_min > 0 else float(info.sigma_min)
        hi = self.sigma_max if self.sigma_max > 0 else float(info.sigma_max)
        return lo, hi


@dataclass(frozen=True)
class Schedule:
    name: str
    description: str
    compute: Callable[[SamplingInfo, int, ScheduleParams], torch.Tensor]
    params: tuple = ()
    needs_table: bool = False
    source: str = "Loadout"
    # how denoise < 1 shortens it, as core's own node for it does: "basic" (BasicScheduler: the tail of a longer
    # schedule), "tail" (AlignYourStepsScheduler / GITSScheduler: the last round(steps * denoise) steps of this one),
    # "turbo" (SDTurboScheduler: later timesteps)
    denoise_rule: str = "basic"


def _table(info: SamplingInfo, name: str) -> np.ndarray:
    if info.table is None:
        raise ValueError(f"schedule '{name}' needs a discrete model's sigma table (SD1.x, SD2.x, SDXL); this "
                         f"model samples as '{info.prediction}' ({info.family}). Choose simple, beta, karras, "
                         f"exponential or a Loadout schedule without the 'diffusers_' prefix.")
    return info.table


def _diffusers(spacing="linspace", conversion="interp"):
    def run(info, n, p, _name=f"diffusers_{conversion if conversion != 'interp' else spacing}"):
        return ds.diffusers_sigmas(_table(info, _name), n, spacing=spacing, conversion=conversion, family="euler")
    return run


def _sd_turbo(info, n, p, denoise: float = 1.0):
    ts = ds.sd_turbo_timesteps(n, denoise)
    if not len(ts):  # denoise 0: core's node returns the final 0 alone
        _table(info, "sd_turbo")
        return torch.FloatTensor([0.0])
    if info.sigma_at is None:
        return ds.timesteps_to_sigmas(_table(info, "sd_turbo"), ts)
    _table(info, "sd_turbo")
    sig = info.sigma_at(torch.from_numpy(ts.copy())).float().cpu()  # the model's own timestep → sigma, as core
    return torch.cat([sig, sig.new_zeros([1])])


def _gits(info, n, p):
    if info.gits_table is None:
        raise ValueError("schedule 'gits' needs core's GITS table (comfy_extras.nodes_gits), which did not load")
    return f.gits(info.gits_table, p.gits_coeff, n)


OURS = [
    Schedule("karras_custom", "Karras rho-schedule with your rho and sigma range (0 = the model's)",
             lambda i, n, p: f.karras(n, *p.range(i), rho=p.rho_for("karras_custom")),
             ("rho", "sigma_min", "sigma_max")),
    Schedule("exponential_custom", "uniform in log sigma over your sigma range (0 = the model's)",
             lambda i, n, p: f.exponential(n, *p.range(i)), ("sigma_min", "sigma_max")),
    Schedule("polyexponential", "log sigma a power (rho) of the ramp; rho 1 = exponential",
             lambda i, n, p: f.polyexponential(n, *p.range(i), rho=p.rho_for("polyexponential")),
             ("rho", "sigma_min", "sigma_max")),
    Schedule("laplace", "steps concentrated around sigma = e^mu (Laplace quantiles, scale laplace_beta)",
             lambda i, n, p: f.laplace(n, *p.range(i), mu=p.mu, beta=p.laplace_beta),
             ("mu", "laplace_beta", "sigma_min", "sigma_max")),
    Schedule("vp", "continuous variance-preserving SDE schedule",
             lambda i, n, p: f.vp(n, p.vp_beta_d, p.vp_beta_min, p.vp_eps_s), ("vp_beta_d", "vp_beta_min", "vp_eps_s")),
    Schedule("beta_custom", "beta-distribution quantiles of the training timesteps with your alpha/beta",
             lambda i, n, p: f.beta_from_table(torch.from_numpy(_table(i, "beta_custom")), n, p.alpha, p.beta),
             ("alpha", "beta"), needs_table=True),
    Schedule("beta_sharp", "beta variant alpha 0.5 / beta 0.7: more steps at low noise (detail)",
             lambda i, n, p: f.beta_from_table(torch.from_numpy(_table(i, "beta_sharp")), n, 0.5, 0.7),
             needs_table=True),
    Schedule("ays_sd1", "Align Your Steps levels for SD1.x (NVIDIA), interpolated beyond 10 steps",
             lambda i, n, p: f.align_your_steps("SD1", n), denoise_rule="tail"),
    Schedule("ays_sdxl", "Align Your Steps levels for SDXL (NVIDIA), interpolated beyond 10 steps",
             lambda i, n, p: f.align_your_steps("SDXL", n), denoise_rule="tail"),
    Schedule("ays_svd", "Align Your Steps levels for Stable Video Diffusion",
             lambda i, n, p: f.align_your_steps("SVD", n), denoise_rule="tail"),
    Schedule("gits", "GITS searched time steps (coefficient gits_coeff, 0.80–1.50)", _gits, ("gits_coeff",),
             denoise_rule="tail"),
    Schedule("kl_optimal_range", "KL-optimal (uniform in arctan sigma) over your sigma range",
             lambda i, n, p: f.kl_optimal(n, *p.range(i)), ("sigma_min", "sigma_max")),
    Schedule("sd_turbo", "SD/SDXL-Turbo timesteps 999, 899, … (1–10 steps)", _sd_turbo, needs_table=True,
             denoise_rule="turbo"),
    Schedule("diffusers_leading", "diffusers Euler, timestep_spacing='leading' (SD/SDXL repo configs)",
             _diffusers("leading"), needs_table=True, source="diffusers"),
    Schedule("diffusers_trailing", "diffusers Euler, timestep_spacing='trailing' (zero-SNR / few-step)",
             _diffusers("trailing"), needs_table=True, source="diffusers"),
    Schedule("diffusers_linspace", "diffusers Euler, timestep_spacing='linspace' (fractional timesteps)",
             _diffusers("linspace"), needs_table=True, source="diffusers"),
    Schedule("diffusers_karras", "diffusers use_karras_sigmas=True (linspace spacing)",
             _diffusers("linspace", "karras"), needs_table=True, source="diffusers"),
    Schedule("diffusers_exponential", "diffusers use_exponential_sigmas=True",
             _diffusers("linspace", "exponential"), needs_table=True, source="diffusers"),
    Schedule("diffusers_beta", "diffusers use_beta_sigmas=True (quantiles scaled to the sigma range)",
             _diffusers("linspace", "beta"), needs_table=True, source="diffusers"),
    Schedule("ddim_diffusers", "diffusers DDIMScheduler timesteps (leading, steps_offset 1)",
             lambda i, n, p: ds.timesteps_to_sigmas(_table(i, "ddim_diffusers"),
                                                    ds.ddim_timesteps(len(_table(i, "ddim_diffusers")), n)),
             needs_table=True, source="diffusers"),
    Schedule("lcm", "LCMScheduler timesteps (skipping grid of 50, for LCM models and LoRAs)",
             lambda i, n, p: ds.timesteps_to_sigmas(_table(i, "lcm"), ds.lcm_timesteps(len(_table(i, "lcm")), n)),
             needs_table=True, source="diffusers"),
]
BY_NAME = {s.name: s for s in OURS}
AUTO = "auto"


def names(core_names) -> list[str]:
    """Every schedule name the node offers: auto, core's live names, then ours (ours never shadow core's)."""
    core = list(core_names)
    return [AUTO] + core + [s.name for s in OURS if s.name not in core]


def describe(name: str) -> str:
    s = BY_NAME.get(name)
    return s.description if s else "ComfyUI core scheduler"


def compute(name: str, info: SamplingInfo, steps: int, denoise: float = 1.0,
            params: ScheduleParams | None = None) -> torch.Tensor:
    """SIGMAS for a named schedule, shortened for denoise < 1 by the rule of core's own node for it (BasicScheduler's
    for core's names and most of ours; AYS, GITS and SD-Turbo as their core nodes do: ``Schedule.denoise_rule``)."""
    params = params or ScheduleParams()
    ours = BY_NAME.get(name) if name not in info.core_names else None
    if ours is not None and ours.denoise_rule == "turbo":
        return _sd_turbo(info, steps, params, max(0.0, min(1.0, denoise))).float()
    if ours is not None and ours.denoise_rule == "tail":
        return f.tail_for_denoise(ours.compute(info, steps, params), steps, denoise).float()
    if name in info.core_names:
        if info.core is None:
            raise ValueError(f"core schedule '{name}' needs ComfyUI's calculate_sigmas")
        full_for = lambda n: info.core(name, n)  # noqa: E731
    elif name in BY_NAME:
        full_for = lambda n: BY_NAME[name].compute(info, n, params)  # noqa: E731
    else:
        raise ValueError(f"unknown schedule '{name}'. Accepted: {', '.join(names(info.core_names)[1:])}")
    return f.truncate_for_denoise(full_for, steps, denoise).float()
