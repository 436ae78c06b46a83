"""Scheduler nodes through the real server: core's scheduler nodes are the oracle (exact equality), SamplerCustom
and KSampler graphs run with our outputs, auto picks the documented choices for the tiny SD1.5 and SDXL models."""
import json

import pytest
import torch
from harness.graphs import TINY_SD15, TINY_SDXL

CORE_SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
                   "linear_quadratic", "kl_optimal"]
SMIN, SMAX = 0.0291675, 14.614642


def ckpt(name=TINY_SD15):
    return {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}}


def ours(schedule, steps=10, denoise=1.0, **params):
    return {"class_type": "LoadoutScheduler", "inputs": {"model": ["1", 0], "schedule": schedule, "steps": steps,
                                                         "denoise": denoise, **params}}


def preview(node_id):
    return {"class_type": "LoadoutSigmaPreview", "inputs": {"sigmas_1": [node_id, 0], "labels": node_id,
                                                            "width": 256, "height": 192}}


def combo_options(spec) -> list:
    """A combo input's options from /object_info: V1 served [[...], {...}], V3 serves ["COMBO", {"options": [...]}]."""
    return spec[1]["options"] if spec[0] == "COMBO" else spec[0]


def sigmas_of(result, preview_id):
    values = json.loads(result.outputs[preview_id]["text"][0])
    return torch.tensor(next(iter(values.values())), dtype=torch.float32)


PAIRS = {  # our node → the core node computing the same schedule
    **{f"core_{n}": (ours(n, 12), {"class_type": "BasicScheduler", "inputs": {
        "model": ["1", 0], "scheduler": n, "steps": 12, "denoise": 1.0}}) for n in CORE_SCHEDULERS},
    "core_karras_denoise": (ours("karras", 8, 0.6), {"class_type": "BasicScheduler", "inputs": {
        "model": ["1", 0], "scheduler": "karras", "steps": 8, "denoise": 0.6}}),
    "karras_custom": (ours("karras_custom", 9, rho=5.0, sigma_min=0.05, sigma_max=10.0), {
        "class_type": "KarrasScheduler", "inputs": {"steps": 9, "sigma_max": 10.0, "sigma_min": 0.05, "rho": 5.0}}),
    "exponential_custom": (ours("exponential_custom", 9, sigma_min=0.05, sigma_max=10.0), {
        "class_type": "ExponentialScheduler", "inputs": {"steps": 9, "sigma_max": 10.0, "sigma_min": 0.05}}),
    "polyexponential": (ours("polyexponential", 9, rho=2.0, sigma_min=SMIN, sigma_max=SMAX), {
        "class_type": "PolyexponentialScheduler", "inputs": {"steps": 9, "sigma_max": SMAX, "sigma_min": SMIN,
                                                             "rho": 2.0}}),
    # rho left out: the default of core's node for each schedule (PolyexponentialScheduler 1, KarrasScheduler 7)
    "polyexponential_default_rho": (ours("polyexponential", 9, sigma_min=SMIN, sigma_max=SMAX), {
        "class_type": "PolyexponentialScheduler", "inputs": {"steps": 9, "sigma_max": SMAX, "sigma_min": SMIN,
                                                             "rho": 1.0}}),
    "karras_custom_default_rho": (ours("karras_custom", 9, rho=0.0, sigma_min=0.05, sigma_max=10.0), {
        "class_type": "KarrasScheduler", "inputs": {"steps": 9, "sigma_max": 10.0, "sigma_min": 0.05, "rho": 7.0}}),
    "laplace": (ours("laplace", 9, mu=0.5, laplace_beta=0.7, sigma_min=SMIN, sigma_max=SMAX), {
        "class_type": "LaplaceScheduler", "inputs": {"steps": 9, "sigma_max": SMAX, "sigma_min": SMIN, "mu": 0.5,
                                                     "beta": 0.7}}),
    "vp": (ours("vp", 9, vp_beta_d=15.0, vp_beta_min=0.2, vp_eps_s=0.002), {
        "class_type": "VPScheduler", "inputs": {"steps": 9, "beta_d": 15.0, "beta_min": 0.2, "eps_s": 0.002}}),
    "ays_sd1": (ours("ays_sd1", 10), {"class_type": "AlignYourStepsScheduler", "inputs": {
        "model_type": "SD1", "steps": 10, "denoise": 1.0}}),
    "ays_sdxl": (ours("ays_sdxl", 17), {"class_type": "AlignYourStepsScheduler", "inputs": {
        "model_type": "SDXL", "steps": 17, "denoise": 1.0}}),
    "gits": (ours("gits", 7, gits_coeff=1.1), {"class_type": "GITSScheduler", "inputs": {
        "coeff": 1.1, "steps": 7, "denoise": 1.0}}),
    "gits_long": (ours("gits", 30), {"class_type": "GITSScheduler", "inputs": {
        "coeff": 1.2, "steps": 30, "denoise": 1.0}}),
    "beta_custom": (ours("beta_custom", 11, alpha=0.5, beta=0.7), {"class_type": "BetaSamplingScheduler", "inputs": {
        "model": ["1", 0], "steps": 11, "alpha": 0.5, "beta": 0.7}}),
    "sd_turbo": (ours("sd_turbo", 4), {"class_type": "SDTurboScheduler", "inputs": {
        "model": ["1", 0], "steps": 4, "denoise": 1.0}}),
}


@pytest.mark.allow_log(r"'ays_sdxl' is for SDXL; this model is SD1")  # the SDXL schedule on the SD1.5 checkpoint
def test_every_schedule_with_a_core_counterpart_equals_it_exactly(comfy):
    g = {"1": ckpt()}
    for i, (name, (mine, core)) in enumerate(PAIRS.items()):
        g[f"{i}0"], g[f"{i}1"] = mine, core
        g[f"{i}2"], g[f"{i}3"] = preview(f"{i}0"), preview(f"{i}1")
    result = comfy.run(g)
    for i, name in enumerate(PAIRS):
        a, b = sigmas_of(result, f"{i}2"), sigmas_of(result, f"{i}3")
        assert a.shape == b.shape and torch.equal(a, b), f"{name}: ours {a.tolist()} core {b.tolist()}"


@pytest.mark.allow_log(r"'ays_sdxl' is for SDXL; this model is SD1")  # every schedule, ays_sdxl too, on SD1.5
def test_every_offered_schedule_runs_on_sd15_and_lists_live_core_names(comfy):
    options = combo_options(comfy.object_info["LoadoutScheduler"]["input"]["required"]["schedule"])
    core = comfy.object_info["KSampler"]["input"]["required"]["scheduler"][0]
    assert options[0] == "auto" and options[1:1 + len(core)] == core and len(options) - 1 >= 15
    g = {"1": ckpt()}
    for i, name in enumerate(options):
        g[f"{i}0"], g[f"{i}2"] = ours(name, 8), preview(f"{i}0")
    result = comfy.run(g)
    for i, name in enumerate(options):
        s = sigmas_of(result, f"{i}2")
        assert len(s) >= 8 and torch.isfinite(s).all() and (s[:-1] >= s[1:]).all(), (name, s)


def sampling_graph(preset="DPM++ 2M Karras", steps=4):
    return {
        "1": ckpt(),
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": {"class_type": "LoadoutSamplerPreset", "inputs": {"model": ["1", 0], "preset": preset, "steps": steps,
                                                                "denoise": 1.0}},
        "11": {"class_type": "SamplerCustom", "inputs": {
            "model": ["1", 0], "add_noise": True, "noise_seed": 7, "cfg": 6.0, "positive": ["2", 0],
            "negative": ["3", 0], "sampler": ["10", 0], "sigmas": ["10", 1], "latent_image": ["4", 0]}},
        "12": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": 7, "steps": steps, "cfg": 6.0, "sampler_name": ["10", 2],
            "scheduler": ["10", 3], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "13": {"class_type": "SaveLatent", "inputs": {"samples": ["11", 0], "filename_prefix": "loadout/sched_custom"}},
        "14": {"class_type": "SaveLatent", "inputs": {"samples": ["12", 0], "filename_prefix": "loadout/sched_ks"}},
    }


def latents(comfy, result):
    from safetensors.torch import load

    out = {}
    for f in result.files():
        if f["kind"] == "latents":
            out[f["node"]] = load(comfy.client.fetch(f))["latent_tensor"]
    return out


@pytest.mark.parametrize("preset", ["DPM++ 2M Karras", "Euler a", "DPMSolverMultistepScheduler(use_karras_sigmas=True)"])
def test_samplercustom_with_our_outputs_equals_ksampler_with_our_pair(comfy, preset):
    result = comfy.run(sampling_graph(preset))
    lat = latents(comfy, result)
    assert torch.isfinite(lat["13"]).all() and lat["13"].abs().sum() > 0
    report = result.outputs["10"]["text"][0]
    if preset in ("DPM++ 2M Karras", "Euler a"):  # core names: the pair is the same schedule by construction
        assert "reproduces these sigmas exactly" in report, report
    if "exactly" in report:
        assert torch.equal(lat["13"], lat["14"]), "same sigmas, sampler and seed must give the same latent"
    else:
        # diffusers' Karras in float64 vs core's in float32: sigmas agree to ~1e-7, latents closely
        rel = float(report.split("max relative difference of ", 1)[1].split()[0])
        assert rel < 1e-5, report
        assert (lat["13"] - lat["14"]).abs().max() < 1e-3


def test_diffusers_trailing_preset_runs_in_samplercustom_and_reports_no_exact_pair(comfy):
    result = comfy.run(sampling_graph('EulerDiscreteScheduler(timestep_spacing="trailing")'))
    report = result.outputs["10"]["text"][0]
    assert "sampler euler" in report and '"spacing": "trailing"' in report
    sig = json.loads(report.split("sigmas: ", 1)[1])
    assert abs(sig[0] - 14.6146) < 1e-3 and sig[-1] == 0 and len(sig) == 5


def test_unknown_preset_is_a_node_error_listing_accepted_names(comfy):
    message = str(comfy.run_expecting_error(sampling_graph("DPM++ 7Q Warp")))
    assert "Sampler preset (Loadout)" in message and "input 'preset'" in message
    assert "DPM++ 2M Karras" in message and "DPMSolverMultistepScheduler" in message


@pytest.mark.parametrize("ckpt_name,steps,schedule", [(TINY_SD15, 20, "karras"), (TINY_SD15, 10, "ays_sd1"),
                                                      (TINY_SDXL, 30, "karras"), (TINY_SDXL, 8, "ays_sdxl")])
def test_auto_picks_the_documented_choice(comfy, ckpt_name, steps, schedule):
    g = {"1": ckpt(ckpt_name),
         "2": {"class_type": "LoadoutAutoSampler", "inputs": {"model": ["1", 0], "steps": steps, "denoise": 1.0,
                                                              "distilled": "auto"}},
         "3": preview("2")}
    g["3"]["inputs"]["sigmas_1"] = ["2", 1]
    result = comfy.run(g)
    text = result.outputs["2"]["text"][0]
    family = "SDXL" if ckpt_name == TINY_SDXL else "SD1"
    assert f"sampler dpmpp_2m, schedule {schedule}" in text and f"family {family}" in text
    assert len(sigmas_of(result, "3")) == steps + 1


def test_scheduler_auto_with_turbo_hint_uses_sgm_uniform(comfy):
    g = {"1": ckpt(TINY_SDXL), "2": ours("auto", 2, distilled="turbo"), "3": preview("2")}
    text = comfy.run(g).outputs["2"]["text"][0]
    assert "auto → sgm_uniform" in text and "Turbo" in text


def test_core_sampler_and_scheduler_lists_are_not_extended(comfy):
    info = comfy.client.object_info()  # fresh, after the nodes above have run
    schedulers = info["KSampler"]["input"]["required"]["scheduler"][0]
    samplers = info["KSampler"]["input"]["required"]["sampler_name"][0]
    assert schedulers == CORE_SCHEDULERS
    assert not [s for s in schedulers + samplers if "loadout" in s.lower() or s.startswith(("ays", "diffusers"))]
    assert info["LoadoutSamplerPreset"]["output"][2] == samplers
    assert info["LoadoutSamplerPreset"]["output"][3] == schedulers


def test_distilled_hint_options_match_the_auto_rules(comfy):
    from loadout.core.schedules import auto

    opts = combo_options(comfy.object_info["LoadoutAutoSampler"]["input"]["required"]["distilled"])
    assert opts == ["auto", *auto.DISTILLED]


def test_unknown_names_are_refused_at_validation(comfy):
    """Schedule, distilled hint and preset names are checked when the prompt is queued (no model needed)."""
    from loadout.cli.client import PromptRejected

    bad_schedule = comfy.run_expecting_error({"1": ckpt(), "2": ours("karas", 4), "3": preview("2")})
    assert isinstance(bad_schedule, PromptRejected)
    assert "Scheduler (Loadout): input 'schedule': 'karas' is not a schedule; choose one of: auto, simple" in str(
        bad_schedule)
    bad_hint = comfy.run_expecting_error({"1": ckpt(), "2": ours("auto", 4, distilled="distilled"),
                                          "3": preview("2")})
    assert isinstance(bad_hint, PromptRejected) and "input 'distilled': 'distilled' is not an option" in str(bad_hint)
    bad_preset = comfy.run_expecting_error(sampling_graph("DPM++ 7Q Warp"))
    assert isinstance(bad_preset, PromptRejected)
    assert "Sampler preset (Loadout): input 'preset': unknown sampler preset 'DPM++ 7Q Warp'" in str(bad_preset)
