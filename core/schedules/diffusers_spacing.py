"""Diffusers' timestep spacings and sigma conversions for discrete (DDPM-trained) models, in our own code.

Why "DPM++ 2M Karras" differs between tools (diffusers#1887): diffusers picks *timesteps* first (``leading``,
``trailing`` or ``linspace`` spacing, Lin et al. 2023 Table 2), interpolates the training sigma table at them
linearly in sigma, and its Karras/exponential/beta conversions then take their range from those sigmas; the
Euler family and the multistep solvers (DPM-Solver, UniPC) even space differently. k-diffusion/A1111/ComfyUI
take the model's full sigma range. With the functions here a ComfyUI sampler runs on exactly the sigmas a
diffusers scheduler would use (the unit tests compare against diffusers' own classes).

The table is the model's sigma per training timestep, ascending (``table[t]``, t = 0 … N-1), as ComfyUI's
``model_sampling.sigmas`` holds it.
"""
from __future__ import annotations

import math

import numpy as np
import torch

SPACINGS = ("leading", "trailing", "linspace")
CONVERSIONS = ("interp", "karras", "exponential", "beta")
FAMILIES = ("euler", "multistep")


def sigma_table(beta_start: float = 0.00085, beta_end: float = 0.012, num_train_timesteps: int = 1000,
                beta_schedule: str = "scaled_linear") -> np.ndarray:
    """The sigma of each training timestep for a DDPM beta schedule (SD1.x/SDXL: scaled_linear 0.00085–0.012)."""
    if beta_schedule == "scaled_linear":
        betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps, dtype=np.float64) ** 2
    elif beta_schedule == "linear":
        betas = np.linspace(beta_start, beta_end, num_train_timesteps, dtype=np.float64)
    else:
        raise ValueError(f"beta_schedule must be scaled_linear or linear, got {beta_schedule!r}")
    acp = np.cumprod(1.0 - betas)
    return np.sqrt((1 - acp) / acp)


def timesteps(num_train: int, steps: int, spacing: str, family: str = "euler", steps_offset: int = 1) -> np.ndarray:
    """The timesteps (high to low) a diffusers scheduler of ``family`` picks for ``steps`` inference steps.

    euler (Euler, Euler a, Heun, LMS, KDPM2): linspace = ``steps`` evenly spaced *fractional* timesteps from
    N-1 to 0; leading = multiples of N // steps, plus ``steps_offset``; trailing = N - k·N/steps, rounded, minus 1.
    multistep (DPM-Solver++, UniPC, DEIS): linspace and leading are computed on ``steps + 1`` points and the
    last (lowest) dropped, linspace rounded to integers.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if spacing == "trailing":
        return np.arange(num_train, 0, -num_train / steps).round() - 1
    if family == "euler":
        if spacing == "linspace":
            return np.linspace(0, num_train - 1, steps, dtype=np.float32)[::-1].astype(np.float64)
        return (np.arange(0, steps) * (num_train // steps)).round()[::-1] + steps_offset
    if spacing == "linspace":
        return np.linspace(0, num_train - 1, steps + 1).round()[::-1][:-1]
    return (np.arange(0, steps + 1) * (num_train // (steps + 1))).round()[::-1][:-1] + steps_offset


def _karras(lo: float, hi: float, n: int, rho: float = 7.0) -> np.ndarray:
    ramp = np.linspace(0, 1, n)
    return (hi ** (1 / rho) + ramp * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho


def _exponential(lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(np.linspace(math.log(hi), math.log(lo), n))


def _beta(lo: float, hi: float, n: int, alpha: float = 0.6, beta: float = 0.6) -> np.ndarray:
    # diffusers evaluates the quantiles at 1 - linspace(0, 1, n) (endpoint included), scaled to [lo, hi]
    import scipy.stats

    return np.array([lo + q * (hi - lo) for q in scipy.stats.beta.ppf(1 - np.linspace(0, 1, n), alpha, beta)])


def diffusers_sigmas(table, steps: int, *, spacing: str = "linspace", conversion: str = "interp",
                     family: str = "euler", steps_offset: int = 1, final: str = "zero") -> torch.Tensor:
    """The sigmas (``steps + 1`` values, float32) a diffusers scheduler uses, for a model's sigma ``table``.

    ``conversion``: ``interp`` (sigma interpolated at the spaced timesteps), or ``karras`` / ``exponential`` /
    ``beta`` (``use_karras_sigmas`` etc.). Their range: the euler family takes it from the spaced sigmas, the
    multistep family from the whole table. ``final``: ``zero`` or ``sigma_min`` (``final_sigmas_type``).
    """
    if conversion not in CONVERSIONS:
        raise ValueError(f"conversion must be one of {CONVERSIONS}, got {conversion!r}")
    if final not in ("zero", "sigma_min"):
        raise ValueError(f"final must be 'zero' or 'sigma_min', got {final!r}")
    tab = np.asarray(table, dtype=np.float64)
    ts = timesteps(len(tab), steps, spacing, family, steps_offset)
    spaced = np.interp(ts, np.arange(len(tab)), tab)
    if conversion == "interp":
        sig = spaced
    else:
        lo, hi = (spaced[-1], spaced[0]) if family == "euler" else (tab[0], tab[-1])
        sig = {"karras": _karras, "exponential": _exponential, "beta": _beta}[conversion](float(lo), float(hi), steps)
    last = tab[0] if final == "sigma_min" else 0.0
    return torch.from_numpy(np.concatenate([sig, [last]]).astype(np.float32))


def timesteps_to_sigmas(table, ts) -> torch.Tensor:
    """Sigmas at integer timesteps (DDIM, LCM, SD-Turbo pick timesteps directly), then 0."""
    tab = np.asarray(table, dtype=np.float64)
    idx = np.asarray(ts, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(tab)):
        raise ValueError(f"timesteps must lie in 0..{len(tab) - 1}")
    return torch.from_numpy(np.concatenate([tab[idx], [0.0]]).astype(np.float32))


def ddim_timesteps(num_train: int, steps: int, steps_offset: int = 1) -> np.ndarray:
    """DDIMScheduler's default (``leading``) timesteps: multiples of N // steps plus the offset, high to low."""
    return timesteps(num_train, steps, "leading", "euler", steps_offset).astype(np.int64)


def lcm_timesteps(num_train: int, steps: int, original_steps: int = 50) -> np.ndarray:
    """LCMScheduler's timesteps: the ``original_steps`` skipping-step grid of LCM distillation (c = N // 50),
    high to low, sampled evenly (floored indices) down to ``steps`` of them."""
    if steps > original_steps:
        raise ValueError(f"LCM supports at most original_steps={original_steps} steps, got {steps}")
    c = num_train // original_steps
    grid = (np.arange(1, original_steps + 1) * c - 1)[::-1]
    idx = np.floor(np.linspace(0, len(grid), num=steps, endpoint=False)).astype(np.int64)
    return grid[idx]


def sd_turbo_timesteps(steps: int, denoise: float = 1.0) -> np.ndarray:
    """SD/SDXL-Turbo's timesteps (999, 899, …, 99), starting later for denoise < 1, as core's SDTurboScheduler."""
    if not 1 <= steps <= 10:
        raise ValueError(f"SD-Turbo's schedule has 1 to 10 steps, got {steps}")
    start = 10 - int(10 * denoise)
    return (np.arange(1, 11) * 100 - 1)[::-1][start:start + steps]
