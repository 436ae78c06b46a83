"""The auto choice: from what the model is (family, prediction type, distillation) and the step count to a
recommended sampler and schedule, with the reason written out and warnings for combinations known to fail.

Rules (documented in the README; each cites where the recommendation comes from):
- distilled models follow their authors: LCM → lcm + sgm_uniform (LCM paper / diffusers LCMScheduler);
  SDXL-Turbo / SD-Turbo → euler_ancestral + sgm_uniform (Stability's model card: 1–4 steps, no CFG);
  SDXL-Lightning → euler + sgm_uniform (ByteDance's card: trailing timesteps ≈ sgm_uniform);
  Hyper-SD → euler + sgm_uniform (ByteDance's card: trailing / TCD);
- flow-matching models (SD3, Flux, …) → euler + simple (core's default for them; Karras-type schedules assume a
  sigma range of ~0.03–15 that flow models do not have);
- EDM models (Playground v2.5, SVD) → dpmpp_2m + karras (EDM's own schedule);
- eps/v discrete models (SD1.x, SD2.x, SDXL): up to 12 steps → dpmpp_2m + Align Your Steps for the family
  (AYS was optimised for 10 steps); more steps → dpmpp_2m + karras (A1111's "DPM++ 2M Karras").
"""
from __future__ import annotations

from dataclasses import dataclass, field

DISTILLED = ("none", "lcm", "turbo", "lightning", "hyper")


@dataclass(frozen=True)
class ModelProfile:
    family: str  # SD1, SD2, SDXL, SDXL_REFINER, SD3, FLUX, other
    prediction: str  # eps, v, flow, edm, other
    distilled: str = "none"  # one of DISTILLED
    detected_from: str = ""


@dataclass
class Recommendation:
    sampler: str
    schedule: str
    rationale: str
    warnings: list[str] = field(default_factory=list)


def detect_distilled(hint: str, sampling_class: str, steps: int) -> tuple[str, str]:
    """(kind, how it was found): an explicit hint wins; ComfyUI's LCM model sampling reveals LCM."""
    if hint not in ("auto",) + DISTILLED:
        raise ValueError(f"distilled hint must be auto or one of {DISTILLED}, got {hint!r}")
    if hint != "auto":
        return hint, f"distilled = {hint} (from the node's hint)"
    if "lcm" in sampling_class.lower() or "distilled" in sampling_class.lower():
        return "lcm", f"distilled = lcm (model sampling {sampling_class}, set by ModelSamplingDiscrete lcm)"
    return "none", ("no distillation detected (set the hint for Turbo/Lightning/Hyper models or LCM LoRAs; "
                    "their weights look like any other checkpoint)")


def recommend(profile: ModelProfile, steps: int) -> Recommendation:
    fam, pred, dist = profile.family, profile.prediction, profile.distilled
    why = [f"model: family {fam}, prediction {pred}", profile.detected_from] if profile.detected_from else \
        [f"model: family {fam}, prediction {pred}"]
    warnings = []
    if dist == "lcm":
        rec = ("lcm", "sgm_uniform", "LCM-distilled: the LCM sampler with sgm_uniform, 4–8 steps, cfg 1–2")
        if steps > 8:
            warnings.append(f"{steps} steps with LCM: 4–8 is the intended range; more steps rarely help")
    elif dist == "turbo":
        rec = ("euler_ancestral", "sgm_uniform", "Turbo (ADD-distilled): euler_ancestral + sgm_uniform, 1–4 steps, cfg 1")
        if steps > 4:
            warnings.append(f"{steps} steps with a Turbo model: it was distilled for 1–4")
    elif dist in ("lightning", "hyper"):
        rec = ("euler", "sgm_uniform", f"{dist.capitalize()}-distilled: euler + sgm_uniform (trailing timesteps), "
                                       f"the step count the checkpoint was made for, cfg 1")
    elif pred == "flow":
        rec = ("euler", "simple", "flow matching: euler + simple (uniform in the shifted flow time)")
    elif pred == "edm":
        rec = ("dpmpp_2m", "karras", "EDM-parameterised: dpmpp_2m + karras, the schedule EDM was designed with")
    elif fam in ("SD1", "SD2", "SDXL", "SDXL_REFINER") and steps <= 12:
        ays = "ays_sdxl" if fam.startswith("SDXL") else "ays_sd1"
        rec = ("dpmpp_2m", ays, f"{steps} steps on {fam}: Align Your Steps ({ays}) is optimised for ~10 steps")
    else:
        rec = ("dpmpp_2m", "karras", f"{steps} steps: dpmpp_2m + karras (A1111's DPM++ 2M Karras)")
    if dist == "none" and steps <= 4 and pred != "flow":
        warnings.append(f"only {steps} steps on a model not known to be distilled: expect an unfinished image; "
                        f"set the distilled hint if it is a Turbo/Lightning/Hyper/LCM model")
    sampler, schedule, reason = rec
    warnings += check(profile, sampler, schedule)
    return Recommendation(sampler, schedule, "; ".join(why + [reason]), warnings)


def check(profile: ModelProfile, sampler: str, schedule: str) -> list[str]:
    """Combinations known not to work, or to work poorly (messages say why and what to use instead)."""
    out = []
    flow = profile.prediction == "flow"
    if flow and schedule in ("karras", "exponential", "polyexponential", "karras_custom", "exponential_custom",
                             "ays_sd1", "ays_sdxl", "ays_svd", "gits", "vp") :
        out.append(f"'{schedule}' with a flow-matching model: its sigma range assumptions do not hold "
                   f"(flow sigmas run 1 → 0); use simple, beta or normal")
    if flow and schedule.startswith("diffusers_") or flow and schedule in ("ddim_diffusers", "lcm", "sd_turbo",
                                                                             "ddim_uniform"):
        out.append(f"'{schedule}' needs a discrete eps/v model's timesteps; this model is flow-matching")
    if sampler == "lcm" and profile.distilled != "lcm":
        out.append("the lcm sampler on a model that is not LCM-distilled gives washed-out images; "
                   "use it only with LCM models or an LCM LoRA (then set the hint to lcm)")
    if profile.distilled in ("turbo", "lightning", "hyper", "lcm") and schedule in ("karras", "exponential"):
        out.append(f"'{schedule}' with a {profile.distilled} model: few-step models expect trailing/sgm_uniform "
                   f"timesteps; karras/exponential start too low")
    if sampler.endswith("_cfg_pp") and profile.prediction == "flow":
        out.append(f"'{sampler}' (CFG++) is defined for eps/v models; with flow models use its non-cfg_pp form")
    if schedule in ("ays_sd1", "ays_sdxl") and profile.family not in ("SD1", "SD2", "SDXL", "SDXL_REFINER"):
        out.append(f"'{schedule}' levels were fitted to SD1.x/SDXL; for {profile.family} they are a guess")
    if schedule == "ays_sd1" and profile.family.startswith("SDXL") or schedule == "ays_sdxl" and profile.family in ("SD1", "SD2"):
        out.append(f"'{schedule}' is for {'SD1.x' if schedule == 'ays_sd1' else 'SDXL'}; this model is {profile.family}")
    return out
