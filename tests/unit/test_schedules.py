"""Schedule cores (no ComfyUI): diffusers' own scheduler classes are the oracle for every diffusers-named schedule
and preset; the published AYS levels for AYS; A1111 names map as A1111 defines them; the auto rules."""
import numpy as np
import pytest
import torch
from diffusers import (DDIMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                       KDPM2DiscreteScheduler, LCMScheduler, LMSDiscreteScheduler, UniPCMultistepScheduler)

from loadout.core.schedules import auto, catalog, formulas, presets
from loadout.core.schedules import diffusers_spacing as ds
from loadout.core.schedules.plot import plot_sigmas

SD_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                steps_offset=1)
CORE_NAMES = ("simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
              "linear_quadratic", "kl_optimal")
SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive",
            "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde",
            "ddpm", "lcm", "ipndm", "deis", "ddim", "uni_pc", "euler_cfg_pp", "dpmpp_2m_cfg_pp", "res_multistep"]


def table_of(scheduler) -> np.ndarray:
    """The oracle's own float32 sigma table, so the comparison tests the spacing logic, not table rounding."""
    acp = scheduler.alphas_cumprod.numpy().astype(np.float64)
    return np.sqrt((1 - acp) / acp)


def info_for(table, family="SD1"):
    return catalog.SamplingInfo(family=family, prediction="eps", sigma_min=float(table[0]),
                                sigma_max=float(table[-1]), table=table, core_names=CORE_NAMES)


def rel(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(((a - b).abs() / b.abs().clamp_min(1e-8)).max())


# name → (diffusers class, kwargs); sigmas of the class are the oracle
DIFFUSERS_CASES = {
    "DPMSolverMultistepScheduler(use_karras_sigmas=True)": (DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
    "DPMSolverMultistepScheduler": (DPMSolverMultistepScheduler, {}),
    "DPMSolverMultistepScheduler(timestep_spacing='leading', use_exponential_sigmas=True)":
        (DPMSolverMultistepScheduler, {"timestep_spacing": "leading", "use_exponential_sigmas": True}),
    "DPMSolverMultistepScheduler(algorithm_type='sde-dpmsolver++', use_karras_sigmas=True)":
        (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
    'EulerDiscreteScheduler(timestep_spacing="trailing")': (EulerDiscreteScheduler, {"timestep_spacing": "trailing"}),
    'EulerDiscreteScheduler(timestep_spacing="leading")': (EulerDiscreteScheduler, {"timestep_spacing": "leading"}),
    "EulerDiscreteScheduler": (EulerDiscreteScheduler, {}),
    "EulerDiscreteScheduler(timestep_spacing='leading', use_karras_sigmas=True)":
        (EulerDiscreteScheduler, {"timestep_spacing": "leading", "use_karras_sigmas": True}),
    "EulerDiscreteScheduler(use_beta_sigmas=True)": (EulerDiscreteScheduler, {"use_beta_sigmas": True}),
    "EulerAncestralDiscreteScheduler": (EulerAncestralDiscreteScheduler, {}),
    "HeunDiscreteScheduler(use_karras_sigmas=True)": (HeunDiscreteScheduler, {"use_karras_sigmas": True}),
    "LMSDiscreteScheduler(use_karras_sigmas=True)": (LMSDiscreteScheduler, {"use_karras_sigmas": True}),
    "KDPM2DiscreteScheduler": (KDPM2DiscreteScheduler, {}),
    "UniPCMultistepScheduler": (UniPCMultistepScheduler, {}),
    "UniPCMultistepScheduler(timestep_spacing='trailing')": (UniPCMultistepScheduler, {"timestep_spacing": "trailing"}),
    "DEISMultistepScheduler(use_karras_sigmas=True)": (DEISMultistepScheduler, {"use_karras_sigmas": True}),
}


def _oracle_sigmas(cls, kwargs, steps):
    s = cls(**SD_BETAS, **kwargs)
    s.set_timesteps(steps)
    if cls in (HeunDiscreteScheduler, KDPM2DiscreteScheduler):
        # second-order schedulers interleave repeated sigmas; the distinct schedule is every other value
        sig = s.sigmas.numpy()
        keep = sig[np.concatenate([[True], sig[1:] != sig[:-1]])]
        return keep, table_of(s)
    return s.sigmas.numpy(), table_of(s)


@pytest.mark.parametrize("name", list(DIFFUSERS_CASES))
@pytest.mark.parametrize("steps", [1, 4, 10, 25])
def test_diffusers_presets_match_diffusers_scheduler_classes(name, steps):
    cls, kwargs = DIFFUSERS_CASES[name]
    if steps == 1 and cls in (HeunDiscreteScheduler, KDPM2DiscreteScheduler):
        pytest.skip("second-order schedulers interleave sigmas; 1 step is degenerate there")
    want, table = _oracle_sigmas(cls, kwargs, steps)
    p = presets.parse(name, SAMPLERS, CORE_NAMES)
    got = presets.sigmas(p, info_for(table), steps)
    if cls is DEISMultistepScheduler:
        # DEIS repeats its last sigma and denoises fully in a special final step; ComfyUI samplers need the 0
        assert want[-1] == want[-2] and got[-1] == 0
        got, want = got[:-1], want[:-1]
    assert rel(got, want) < 1e-5


@pytest.mark.parametrize("steps", [1, 4, 10, 50])
def test_ddim_and_lcm_presets_use_their_schedulers_timesteps(steps):
    d = DDIMScheduler(**SD_BETAS)
    d.set_timesteps(steps)
    table = table_of(d)
    got = presets.sigmas(presets.parse("DDIMScheduler", SAMPLERS, CORE_NAMES), info_for(table), steps)
    assert rel(got[:-1], table[d.timesteps.numpy()]) < 1e-6 and got[-1] == 0
    lcm = LCMScheduler(**SD_BETAS)
    lcm.set_timesteps(steps)
    got = presets.sigmas(presets.parse("LCMScheduler", SAMPLERS, CORE_NAMES), info_for(table), steps)
    assert rel(got[:-1], table[lcm.timesteps.numpy()]) < 1e-6


@pytest.mark.parametrize("schedule,cls,kwargs", [
    ("diffusers_leading", EulerDiscreteScheduler, {"timestep_spacing": "leading"}),
    ("diffusers_trailing", EulerDiscreteScheduler, {"timestep_spacing": "trailing"}),
    ("diffusers_linspace", EulerDiscreteScheduler, {"timestep_spacing": "linspace"}),
    ("diffusers_karras", DPMSolverMultistepScheduler, {"use_karras_sigmas": True}),
    ("diffusers_exponential", EulerDiscreteScheduler, {"use_exponential_sigmas": True}),
    ("diffusers_beta", EulerDiscreteScheduler, {"use_beta_sigmas": True}),
])
@pytest.mark.parametrize("steps", [3, 20])
def test_diffusers_named_schedules_match_diffusers(schedule, cls, kwargs, steps):
    want, table = _oracle_sigmas(cls, kwargs, steps)
    assert rel(catalog.compute(schedule, info_for(table), steps), want) < 1e-5


def test_sigma_table_agrees_with_diffusers_float32_table():
    s = EulerDiscreteScheduler(**SD_BETAS)
    # ours is float64; diffusers accumulates alphas_cumprod in float32: they agree to ~1.3e-5 at the low end
    assert rel(ds.sigma_table(), table_of(s)) < 2e-5


def test_at_least_fifteen_named_schedules_and_ours_never_shadow_core():
    names = catalog.names(CORE_NAMES)
    assert names[0] == "auto" and len(set(names)) == len(names)
    assert len(names) - 1 >= 15 and len(catalog.OURS) >= 15
    assert not set(catalog.BY_NAME) & set(CORE_NAMES)


def test_every_schedule_decreases_and_ends_low():
    table = ds.sigma_table()
    info = catalog.SamplingInfo(table=table, sigma_min=float(table[0]), sigma_max=float(table[-1]),
                                gits_table={1.2: [list(np.geomspace(14.6, 0.03, k + 1)) for k in range(2, 21)]}, core_names=())
    for s in catalog.OURS:
        for steps in (2, 8, 10):
            sig = catalog.compute(s.name, info, steps)
            expected = steps if s.name == "laplace" else steps + 1  # laplace has no final 0 (as in core)
            assert len(sig) == expected or s.name in ("beta_custom", "beta_sharp"), (s.name, steps)
            assert torch.isfinite(sig).all(), s.name
            assert (sig[:-1] >= sig[1:]).all(), (s.name, sig)
            assert sig[-1] <= sig[0] * 0.05, s.name


def test_ays_at_ten_steps_is_the_published_table_and_interpolates_log_linearly():
    assert torch.equal(formulas.align_your_steps("SD1", 10)[:-1],
                       torch.FloatTensor(formulas.AYS_LEVELS["SD1"][:-1]))
    s20 = formulas.align_your_steps("SDXL", 20)
    assert len(s20) == 21 and s20[-1] == 0
    assert abs(float(s20[0]) - 14.6146412293) < 1e-5
    # at 20 steps every other point is a published level, and the points between are geometric means
    assert abs(float(s20[2]) - 6.3184485287) < 1e-4
    assert abs(float(s20[1]) - (14.6146412293 * 6.3184485287) ** 0.5) < 1e-4


def test_karras_formula_and_denoise_takes_the_tail():
    sig = formulas.karras(10, 0.03, 14.6, rho=7.0)
    assert abs(float(sig[0]) - 14.6) < 1e-4 and abs(float(sig[9]) - 0.03) < 1e-6 and sig[10] == 0
    full = formulas.karras(20, 0.03, 14.6)
    half = formulas.truncate_for_denoise(lambda n: formulas.karras(n, 0.03, 14.6), 10, 0.5)
    assert torch.equal(half, full[-11:])
    assert formulas.truncate_for_denoise(lambda n: full, 10, 0.0).numel() == 0
    with pytest.raises(ValueError, match="sigma_min"):
        formulas.karras(10, 5.0, 1.0)


def test_diffusers_schedules_need_a_discrete_model():
    flow = catalog.SamplingInfo(family="FLUX", prediction="flow", sigma_min=0.0, sigma_max=1.0)
    with pytest.raises(ValueError, match="discrete model"):
        catalog.compute("diffusers_trailing", flow, 4)
    with pytest.raises(ValueError, match="unknown schedule 'karas'.*karras_custom"):
        catalog.compute("karas", flow, 4)


@pytest.mark.parametrize("name,sampler,schedule", [
    ("DPM++ 2M Karras", "dpmpp_2m", "karras"), ("Euler a", "euler_ancestral", "normal"),
    ("euler a", "euler_ancestral", "normal"), ("DPM++ SDE Karras", "dpmpp_sde", "karras"),
    ("DPM++ 2M SDE Heun Exponential", "dpmpp_2m_sde_heun", "exponential"), ("DDIM", "ddim", "ddim_uniform"),
    ("LCM", "lcm", "sgm_uniform"), ("UniPC", "uni_pc", "normal"), ("DPM2 a Karras", "dpm_2_ancestral", "karras"),
    ("DPM++ 2M SGM Uniform", "dpmpp_2m", "sgm_uniform"), ("Euler Beta", "euler", "beta"),
    ("dpmpp_2m karras", "dpmpp_2m", "karras"), ("dpmpp_3m_sde", "dpmpp_3m_sde", "normal"),
    ("DPM++ 2M Align Your Steps", "dpmpp_2m", "ays"),
])
def test_a1111_names(name, sampler, schedule):
    p = presets.parse(name, SAMPLERS, CORE_NAMES)
    assert (p.sampler, p.schedule) == (sampler, schedule)


def test_ksampler_pairs():
    pair = lambda n: presets.ksampler_pair(presets.parse(n, SAMPLERS, CORE_NAMES), CORE_NAMES)  # noqa: E731
    assert pair("DPM++ 2M Karras") == ("dpmpp_2m", "karras")
    assert pair("DPMSolverMultistepScheduler(use_karras_sigmas=True)") == ("dpmpp_2m", "karras")
    assert pair("LCMScheduler") == ("lcm", "sgm_uniform")
    assert pair("DPM++ 2M Align Your Steps") is None


def test_unknown_preset_lists_the_accepted_names():
    with pytest.raises(presets.UnknownPreset, match="Accepted: .*DPM\\+\\+ 2M Karras.*DPMSolverMultistepScheduler"):
        presets.parse("DPM++ 9Z Turbo", SAMPLERS, CORE_NAMES)
    with pytest.raises(presets.UnknownPreset, match="not supported; supported"):
        presets.parse("EulerDiscreteScheduler(prediction_type='v')", SAMPLERS, CORE_NAMES)
    with pytest.raises(presets.UnknownPreset, match="timestep_spacing"):
        presets.parse("EulerDiscreteScheduler(timestep_spacing='sideways')", SAMPLERS, CORE_NAMES)
    with pytest.raises(presets.UnknownPreset, match="keyword"):
        presets.parse("EulerDiscreteScheduler(True)", SAMPLERS, CORE_NAMES)


@pytest.mark.parametrize("profile,steps,sampler,schedule", [
    (auto.ModelProfile("SD1", "eps"), 20, "dpmpp_2m", "karras"),
    (auto.ModelProfile("SD1", "eps"), 10, "dpmpp_2m", "ays_sd1"),
    (auto.ModelProfile("SDXL", "eps"), 8, "dpmpp_2m", "ays_sdxl"),
    (auto.ModelProfile("SDXL", "eps"), 30, "dpmpp_2m", "karras"),
    (auto.ModelProfile("SDXL", "eps", "turbo"), 1, "euler_ancestral", "sgm_uniform"),
    (auto.ModelProfile("SDXL", "eps", "lightning"), 4, "euler", "sgm_uniform"),
    (auto.ModelProfile("SD1", "eps", "lcm"), 4, "lcm", "sgm_uniform"),
    (auto.ModelProfile("FLUX", "flow"), 20, "euler", "simple"),
    (auto.ModelProfile("other", "edm"), 20, "dpmpp_2m", "karras"),
])
def test_auto_rules(profile, steps, sampler, schedule):
    rec = auto.recommend(profile, steps)
    assert (rec.sampler, rec.schedule) == (sampler, schedule)
    assert rec.rationale and not rec.warnings


def test_auto_warnings_and_detection():
    assert any("not known to be distilled" in w for w in auto.recommend(auto.ModelProfile("SD1", "eps"), 2).warnings)
    flow = auto.ModelProfile("FLUX", "flow")
    assert any("flow" in w for w in auto.check(flow, "euler", "karras"))
    assert any("lcm sampler" in w for w in auto.check(auto.ModelProfile("SD1", "eps"), "lcm", "sgm_uniform"))
    assert auto.detect_distilled("auto", "ModelSamplingDiscreteDistilled", 4)[0] == "lcm"
    assert auto.detect_distilled("turbo", "ModelSamplingDiscrete", 1)[0] == "turbo"
    with pytest.raises(ValueError, match="hint"):
        auto.detect_distilled("fast", "X", 1)


def test_plot_draws_each_curve_in_its_colour():
    img = plot_sigmas([("karras", formulas.karras(10, 0.03, 14.6).tolist()),
                       ("ays", formulas.align_your_steps("SD1", 10).tolist())], 512, 384)
    assert img.shape == (384, 512, 3) and img.dtype == np.uint8
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(img.astype(int) - colour).sum(axis=2) < 30).sum() > 100
    with pytest.raises(ValueError, match="zero"):
        plot_sigmas([("z", [0.0, 0.0])])
