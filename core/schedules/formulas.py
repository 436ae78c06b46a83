"""Closed-form noise schedules (sigma sequences, high noise first, ending in 0 unless stated).

Each function is written from its paper's formula; where core ComfyUI has the same schedule the float32 torch
arithmetic is done in the same order, so the results are bit-identical (the server tests check that):
- Karras et al. 2022 (EDM) rho-schedule; exponential (uniform in log sigma); polyexponential (log sigma a
  power of the ramp); the continuous VP schedule of Song et al.; Laplace (Tiankai et al. 2024, concentrates
  steps around sigma = e^mu; like core it does not append a final 0); KL-optimal (uniform in arctan sigma);
- Align Your Steps (Sabour et al. 2024): NVIDIA's published 10-step noise levels for SD1.x, SDXL and SVD,
  log-linearly interpolated to other step counts.
"""
from __future__ import annotations

import math

import numpy as np
import torch

# Align Your Steps noise levels, as published by NVIDIA (research.nvidia.com/labs/toronto-ai/AlignYourSteps).
AYS_LEVELS = {
    "SD1": [14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092,
            0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582],
    "SDXL": [14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141,
             0.5550693289, 0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582],
    "SVD": [700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002],
}


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def _check(n: int, sigma_min: float | None = None, sigma_max: float | None = None) -> None:
    if n < 1:
        raise ValueError(f"steps must be at least 1, got {n}")
    if sigma_min is not None and sigma_max is not None and not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")


def karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """sigma_i = (max^(1/rho) + i/(n-1) * (min^(1/rho) - max^(1/rho)))^rho, then 0."""
    _check(n, sigma_min, sigma_max)
    if rho <= 0:
        raise ValueError(f"rho must be positive, got {rho}")
    ramp = torch.linspace(0, 1, n)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def exponential(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform steps in log sigma from sigma_max to sigma_min, then 0."""
    _check(n, sigma_min, sigma_max)
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """log sigma = log min + ramp^rho * (log max - log min) with ramp 1 → 0; rho = 1 is ``exponential``."""
    _check(n, sigma_min, sigma_max)
    ramp = torch.linspace(1, 0, n) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def vp(n: int, beta_d: float = 19.9, beta_min: float = 0.1, eps_s: float = 1e-3) -> torch.Tensor:
    """Continuous variance-preserving SDE: sigma(t) = sqrt(exp(beta_d t²/2 + beta_min t) - 1), t from 1 to eps_s."""
    _check(n)
    if not 0 < eps_s < 1:
        raise ValueError(f"eps_s must be in (0, 1), got {eps_s}")
    t = torch.linspace(1, eps_s, n)
    return _append_zero(torch.sqrt(torch.special.expm1(beta_d * t ** 2 / 2 + beta_min * t)))


def laplace(n: int, sigma_min: float, sigma_max: float, mu: float = 0.0, beta: float = 0.5) -> torch.Tensor:
    """log sigma follows the Laplace quantile function around mu (scale beta), clamped to [min, max];
    no trailing 0, as in the paper and core."""
    _check(n, sigma_min, sigma_max)
    x = torch.linspace(0, 1, n)
    lmb = mu - beta * torch.sign(0.5 - x) * torch.log(1 - 2 * torch.abs(0.5 - x) + 1e-5)
    return torch.clamp(torch.exp(lmb), min=sigma_min, max=sigma_max)


def kl_optimal(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform in arctan(sigma) (the KL-optimal schedule of AYS' appendix), then 0."""
    _check(n, sigma_min, sigma_max)
    if n == 1:
        return torch.tensor([sigma_max, 0.0])
    idx = torch.arange(n, dtype=torch.float).div_(n - 1)
    sig = idx.new_zeros(n + 1)
    sig[:-1] = (idx * math.atan(sigma_min) + (1 - idx) * math.atan(sigma_max)).tan_()
    return sig


def loglinear_interp(levels, num: int) -> np.ndarray:
    """Resample a decreasing sequence to ``num`` points, linearly in log space (AYS' recipe)."""
    xs = np.linspace(0, 1, len(levels))
    ys = np.log(np.asarray(levels, dtype=np.float64)[::-1])
    return np.exp(np.interp(np.linspace(0, 1, num), xs, ys))[::-1].copy()


def align_your_steps(model_type: str, n: int) -> torch.Tensor:
    """AYS for ``SD1``, ``SDXL`` or ``SVD``: the published levels (interpolated when n != 10), last set to 0."""
    _check(n)
    try:
        levels = list(AYS_LEVELS[model_type])
    except KeyError:
        raise ValueError(f"Align Your Steps has levels for {sorted(AYS_LEVELS)}, not {model_type!r}") from None
    if n + 1 != len(levels):
        levels = loglinear_interp(levels, n + 1)
    levels[-1] = 0
    return torch.FloatTensor(levels)


def gits(table: dict, coeff: float, n: int) -> torch.Tensor:
    """GITS (Chen et al. 2024) from its table of searched time steps (``{coeff: [levels for 2..20 steps]}``):
    the searched levels up to 20 steps, log-linear interpolation of the 20-step levels beyond."""
    if n < 2:
        raise ValueError(f"GITS needs at least 2 steps, got {n}")
    key = round(coeff, 2)
    if key not in table:
        raise ValueError(f"GITS coeff {coeff} not in the table; use one of {sorted(table)}")
    if n <= 20:
        levels = list(table[key][n - 2])
    else:
        levels = loglinear_interp(table[key][-1], n + 1)
    levels[-1] = 0
    return torch.FloatTensor(levels)


def beta_quantiles(n: int, alpha: float, beta: float) -> np.ndarray:
    """The beta distribution's quantiles at 1 - i/n (Lee et al. 2024, "Beta Sampling is All You Need")."""
    import scipy.stats

    if alpha <= 0 or beta <= 0:
        raise ValueError(f"beta schedule needs alpha > 0 and beta > 0, got alpha={alpha}, beta={beta}")
    return scipy.stats.beta.ppf(1 - np.linspace(0, 1, n, endpoint=False), alpha, beta)


def beta_from_table(table: torch.Tensor, n: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Beta schedule on a discrete model's sigma table (ascending, one per training timestep): the quantiles pick
    table indices; repeated indices are dropped, as in core's ``beta`` scheduler."""
    _check(n)
    total = len(table) - 1
    ts = np.rint(beta_quantiles(n, alpha, beta) * total)
    out, last = [], -1
    for t in ts:
        if t != last:
            out.append(float(table[int(t)]))
        last = t
    return torch.FloatTensor(out + [0.0])


def truncate_for_denoise(full_for, steps: int, denoise: float) -> torch.Tensor:
    """Core's denoise rule (BasicScheduler): a schedule of int(steps / denoise) steps (steps at denoise 1), keep
    its last steps + 1 sigmas. ``full_for(n)`` computes the full n-step schedule. denoise <= 0 gives an empty SIGMAS."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if denoise <= 0:
        return torch.FloatTensor([])
    total = steps if denoise >= 1 else int(steps / denoise)
    # core keeps at most steps + 1 values even at denoise 1 (ddim_uniform can return one more)
    return full_for(total)[-(steps + 1):]


def tail_for_denoise(full: torch.Tensor, steps: int, denoise: float) -> torch.Tensor:
    """The denoise rule of core's AlignYourStepsScheduler and GITSScheduler nodes (not BasicScheduler's): the
    ``steps``-step schedule ``full``, of which the last round(steps * denoise) steps are kept, the final sigma 0.
    denoise <= 0 gives an empty SIGMAS."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if denoise <= 0:
        return torch.FloatTensor([])
    keep = steps if denoise >= 1 else round(steps * denoise)
    out = full[-(keep + 1):].clone()
    out[-1] = 0
    return out
