"""Generate Loadout's tiny test models, with fixed seeds, in real architectures and key layouts.

They are built with ComfyUI's own model classes, saved as ComfyUI/A1111 checkpoints would be, then loaded back
through ComfyUI's loaders to prove they are accepted and that every LoRA key matches. Nothing is downloaded.

    models/checkpoints/loadout-tiny-sd15.safetensors   SD1.5 layout: UNet (model_channels 320, one level),
                                                       CLIP-L (12 layers), full KL VAE; fp16; ~465 MB
    models/checkpoints/loadout-tiny-sdxl.safetensors   SDXL family (detected as ComfyUI's Segmind-Vega config:
                                                       transformer depth [0,0,1,1,2,2], context 2048, ADM 2816),
                                                       KL VAE, no text encoders (a MODEL for family detection)
    models/vae/loadout-tiny-kl-vae.safetensors          a standalone SD KL VAE (ldm layout)
    models/loras/loadout-tiny-kohya.safetensors         kohya layout, rank 4, every UNet attention + CLIP module
    models/loras/loadout-tiny-peft.safetensors          diffusers/PEFT layout (`unet.`/`text_encoder.` +
                                                       lora_A/lora_B), same modules. ComfyUI 0.3.75's core
                                                       loader misses its 32 UNet attention projections
                                                       (checked below): the gap Loadout's LoRA loader closes
    models/loras/loadout-tiny-kohya-b.safetensors       kohya, other seed, trigger "brightstyle"
    models/loras/loadout-tiny-kohya-c.safetensors       kohya, other seed, metadata claims SDXL (mismatch)
    models/loras/loadout-tiny-diffusers/pytorch_lora_weights.safetensors   the PEFT file as a diffusers folder
    models/controlnet/loadout-tiny-controlnet.safetensors  ldm ControlNet (`control_model.*`) for the tiny UNet
    models/controlnet/loadout-tiny-controlnet-b.safetensors  the same architecture, other seed (stack tests)
    models/checkpoints/loadout-tiny-sdxl-full.safetensors  the SDXL-family UNet above with SDXL's real text
                                                       encoders (CLIP-L + OpenCLIP bigG, fixed sizes) and a KL
                                                       VAE: runs a whole SDXL graph; ~1.9 GB
    models/loras/loadout-tiny-sdxl-kohya.safetensors    kohya LoRA for it: UNet attention, te1 and te2 modules
    models/controlnet/loadout-tiny-sdxl-controlnet.safetensors  ldm ControlNet for the tiny SDXL UNet
    models/annotators/...                               tiny depth / segmentation / lineart models
                                                       (scripts/tiny_annotators.py)
    input/loadout_grace_hopper.jpg                      matplotlib's real photo, for the workflows
    models/<folder>/<public name>                       each tiny model again under the public file name the bundled
                                                       workflows use (v1-5-pruned-emaonly-fp16.safetensors, ...):
                                                       hard links (copies across file systems), from the one table
                                                       in scripts/public_models.py; made on every run, so an alias
                                                       that is missing or stale is made again without regenerating

Usage: python scripts/make_tiny_models.py [--comfyui DIR] [--models DIR] [--force]  (defaults: the harness's)
Random weights: the images are noise. They prove loading, patching, sampling and plumbing, not image quality.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import public_models  # scripts/, next to this file (stdlib only)

GENERATOR_VERSION = "2"
SEED = 20261122
LORA_RANK = 4

SD15_UNET = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[1], channel_mult=[1],
    transformer_depth=[1], transformer_depth_output=[1, 1], transformer_depth_middle=1, context_dim=768,
    num_heads=8, num_head_channels=-1, use_linear_in_transformer=False, use_spatial_transformer=True,
    legacy=False, adm_in_channels=None, use_temporal_attention=False, use_temporal_resblock=False,
)
SDXL_UNET = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2],
    channel_mult=[1, 1, 1], transformer_depth=[0, 0, 1, 1, 2, 2], transformer_depth_output=[0, 0, 0, 1, 1, 1, 2, 2, 2],
    transformer_depth_middle=1, context_dim=2048, num_heads=-1, num_head_channels=64,
    use_linear_in_transformer=True, use_spatial_transformer=True, legacy=False, adm_in_channels=2816,
    num_classes="sequential", use_temporal_attention=False, use_temporal_resblock=False,
)
KL_VAE = dict(double_z=True, z_channels=4, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 2, 4, 4],
              num_res_blocks=2, attn_resolutions=[], dropout=0.0)

FILES = {
    "sd15": "checkpoints/loadout-tiny-sd15.safetensors",
    "sdxl": "checkpoints/loadout-tiny-sdxl.safetensors",
    "sdxl_full": "checkpoints/loadout-tiny-sdxl-full.safetensors",
    "sdxl_lora": "loras/loadout-tiny-sdxl-kohya.safetensors",
    "sdxl_controlnet": "controlnet/loadout-tiny-sdxl-controlnet.safetensors",
    "vae": "vae/loadout-tiny-kl-vae.safetensors",
    "kohya": "loras/loadout-tiny-kohya.safetensors",
    "peft": "loras/loadout-tiny-peft.safetensors",
    "kohya_b": "loras/loadout-tiny-kohya-b.safetensors",
    "kohya_c": "loras/loadout-tiny-kohya-c.safetensors",
    "peft_folder": "loras/loadout-tiny-diffusers/pytorch_lora_weights.safetensors",
    "controlnet": "controlnet/loadout-tiny-controlnet.safetensors",
    "controlnet_b": "controlnet/loadout-tiny-controlnet-b.safetensors",
}
ATTENTION_TARGETS = (".to_q.", ".to_k.", ".to_v.", ".to_out.0.", ".ff.net.0.proj.", ".ff.net.2.", ".proj_in.",
                     ".proj_out.")

log = logging.getLogger("loadout.tiny_models")


def _torch_reset(module) -> bool:
    """Run torch's own initialiser for a module whose ComfyUI subclass disabled it; True if one ran."""
    import torch

    for cls in type(module).__mro__:
        if cls.__module__.startswith("torch.nn.modules") and "reset_parameters" in cls.__dict__:
            cls.reset_parameters(module)
            return True
    return False


def initialise(module, seed: int):
    """Deterministic finite init: torch defaults for Linear/Conv/Norm/Embedding, N(0, 0.02) for the rest."""
    import torch

    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    done = set()
    with torch.no_grad():
        for m in module.modules():
            if _torch_reset(m):
                done.update(id(p) for p in m.parameters(recurse=False))
        for name, p in module.named_parameters():
            if id(p) in done:
                continue
            if name.endswith("logit_scale"):
                p.fill_(math.log(1 / 0.07))
            else:
                p.normal_(0.0, 0.02)
        for name, b in module.named_buffers():
            if b.is_floating_point() and not torch.isfinite(b).all():
                b.zero_()
    torch.random.set_rng_state(gen_state)
    for name, t in module.state_dict().items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise RuntimeError(f"non-finite value in {name} after init")
    return module


def to_fp16(sd):
    import torch

    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in sd.items()}


def save(sd, path: Path, metadata=None):
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(sd, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)


def build_unet(config: dict, seed: int):
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    return initialise(UNetModel(**config, operations=comfy.ops.disable_weight_init), seed)


def build_vae(seed: int):
    import comfy.ldm.models.autoencoder as ae

    return initialise(ae.AutoencoderKL(ddconfig=dict(KL_VAE), embed_dim=4), seed)


def build_clip_l(seed: int):
    import torch
    import comfy.sd1_clip

    return initialise(comfy.sd1_clip.SD1ClipModel(device="cpu", dtype=torch.float32), seed)


def make_sd15(models: Path) -> None:
    import comfy.supported_models as sm

    config = sm.SD15(dict(SD15_UNET))
    unet = build_unet(SD15_UNET, SEED)
    sd = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    sd.update(config.process_clip_state_dict_for_saving(build_clip_l(SEED + 1).state_dict()))
    sd.update(config.process_vae_state_dict_for_saving(build_vae(SEED + 2).state_dict()))
    save(to_fp16(sd), models / FILES["sd15"], {"loadout": "tiny random SD1.5-layout test model"})


def make_sdxl(models: Path) -> None:
    import comfy.supported_models as sm

    config = sm.Segmind_Vega(dict(SDXL_UNET))
    unet = build_unet(SDXL_UNET, SEED + 10)
    sd = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    sd.update(config.process_vae_state_dict_for_saving(build_vae(SEED + 12).state_dict()))
    save(to_fp16(sd), models / FILES["sdxl"], {"loadout": "tiny random SDXL-family test model"})


def build_sdxl_clip(seed: int):
    import torch
    import comfy.sdxl_clip

    return initialise(comfy.sdxl_clip.SDXLClipModel(device="cpu", dtype=torch.float32), seed)


def make_sdxl_full(models: Path) -> None:
    """The SDXL-family UNet of make_sdxl with SDXL's real text encoders (CLIP-L and OpenCLIP bigG: their
    layer counts are fixed by ComfyUI's configs, so this file is ~1.9 GB) and a KL VAE: a checkpoint that runs
    a whole SDXL graph (the enhanced SDXL workflow)."""
    import comfy.supported_models as sm

    config = sm.Segmind_Vega(dict(SDXL_UNET))
    unet = build_unet(SDXL_UNET, SEED + 10)
    sd = {"model.diffusion_model." + k: v for k, v in unet.state_dict().items()}
    sd.update(config.process_clip_state_dict_for_saving(build_sdxl_clip(SEED + 11).state_dict()))
    sd.update(config.process_vae_state_dict_for_saving(build_vae(SEED + 12).state_dict()))
    save(to_fp16(sd), models / FILES["sdxl_full"], {"loadout": "tiny random SDXL-family model with SDXL text encoders"})


def make_sdxl_controlnet(models: Path) -> None:
    import comfy.ops
    from comfy.cldm.cldm import ControlNet

    cfg = {k: v for k, v in SDXL_UNET.items() if k not in ("out_channels", "transformer_depth_output",
                                                           "use_temporal_attention", "use_temporal_resblock")}
    net = initialise(ControlNet(hint_channels=3, operations=comfy.ops.disable_weight_init, **cfg), SEED + 32)
    save(to_fp16({"control_model." + k: v for k, v in net.state_dict().items()}), models / FILES["sdxl_controlnet"])


def make_sdxl_lora(models: Path, model_patcher, clip) -> int:
    """kohya LoRA for the full tiny SDXL: UNet attention (lora_unet_), CLIP-L (lora_te1_), CLIP-G (lora_te2_),
    named through ComfyUI's own key map so every key matches."""
    import torch
    import comfy.lora

    key_map = comfy.lora.model_lora_keys_unet(model_patcher.model, {})
    key_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, key_map)
    sd = {**{k: v for k, v in model_patcher.model.state_dict().items()},
          **{k: v for k, v in clip.cond_stage_model.state_dict().items()}}
    lora, n, done = {}, 0, set()
    for name, model_key in sorted(key_map.items()):
        if not isinstance(model_key, str) or not name.startswith(("lora_unet_", "lora_te1_", "lora_te2_")):
            continue
        if model_key in done:  # the key map lists ldm and diffusers spellings of one module: one entry each
            continue
        if name.startswith("lora_unet_") and not any(t.strip(".").replace(".", "_") in name for t in ATTENTION_TARGETS):
            continue
        shape = sd[model_key].shape
        if len(shape) < 2:
            continue
        done.add(model_key)
        down, up = lora_tensors(shape, SEED + 5000 + n)
        lora[f"{name}.lora_down.weight"], lora[f"{name}.lora_up.weight"] = down, up
        lora[f"{name}.alpha"] = torch.tensor(float(LORA_RANK))
        n += 1
    save(to_fp16(lora), models / FILES["sdxl_lora"],
         kohya_meta(Path(FILES["sdxl_lora"]).stem, "xlstyle", "sdxl_base_v1-0"))
    return n


def make_vae(models: Path) -> None:
    save(to_fp16(build_vae(SEED + 20).state_dict()), models / FILES["vae"])


def make_controlnet(models: Path) -> None:
    import comfy.ops
    from comfy.cldm.cldm import ControlNet

    cfg = {k: v for k, v in SD15_UNET.items() if k not in ("out_channels", "transformer_depth_output",
                                                           "use_temporal_attention", "use_temporal_resblock")}
    for key, seed in (("controlnet", SEED + 30), ("controlnet_b", SEED + 31)):
        net = initialise(ControlNet(hint_channels=3, operations=comfy.ops.disable_weight_init, **cfg), seed)
        save(to_fp16({"control_model." + k: v for k, v in net.state_dict().items()}), models / FILES[key])


def lora_targets(model_patcher, clip):
    """(kohya name, PEFT name, model key, weight shape) for every UNet attention module and CLIP projection."""
    import comfy.utils

    unet_sd = model_patcher.model.state_dict()
    clip_sd = clip.cond_stage_model.state_dict()
    targets = []
    diffusers = comfy.utils.unet_to_diffusers(model_patcher.model.model_config.unet_config)
    for dkey, ldm_key in sorted(diffusers.items()):
        if ".attentions." not in dkey or not dkey.endswith(".weight") or not any(t in dkey for t in ATTENTION_TARGETS):
            continue
        model_key = "diffusion_model." + ldm_key
        module = dkey[: -len(".weight")]
        targets.append(("lora_unet_" + module.replace(".", "_"), "unet." + module, model_key, unet_sd[model_key].shape))
    kohya_clip = {"self_attn.q_proj": "self_attn_q_proj", "self_attn.k_proj": "self_attn_k_proj",
                  "self_attn.v_proj": "self_attn_v_proj", "self_attn.out_proj": "self_attn_out_proj",
                  "mlp.fc1": "mlp_fc1", "mlp.fc2": "mlp_fc2"}
    for layer in range(12):
        for module, kohya in kohya_clip.items():
            model_key = f"clip_l.transformer.text_model.encoder.layers.{layer}.{module}.weight"
            targets.append((f"lora_te_text_model_encoder_layers_{layer}_{kohya}",
                            f"text_encoder.text_model.encoder.layers.{layer}.{module}", model_key,
                            clip_sd[model_key].shape))
    return targets


def lora_tensors(shape, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    out_f, in_f = shape[0], shape[1]
    extra = tuple(shape[2:])
    down = torch.randn((LORA_RANK, in_f) + extra, generator=g) / math.sqrt(in_f)
    up = torch.randn((out_f, LORA_RANK) + tuple(1 for _ in extra), generator=g) * (0.5 / math.sqrt(LORA_RANK))
    return down, up


def kohya_meta(name: str, trigger: str, base: str) -> dict:
    return {
        "ss_network_module": "networks.lora", "ss_network_dim": str(LORA_RANK), "ss_network_alpha": str(LORA_RANK),
        "ss_base_model_version": base, "ss_output_name": name,
        "ss_tag_frequency": json.dumps({f"10_{trigger}": {trigger: 10, "loadout test": 4, "1girl": 2}}),
        "modelspec.trigger_phrase": trigger,
    }


def make_loras(models: Path, model_patcher, clip) -> dict:
    import torch

    targets = lora_targets(model_patcher, clip)
    variants = {"kohya": (0, "tinystyle", "sd_v1"), "kohya_b": (1000, "brightstyle", "sd_v1"),
                "kohya_c": (2000, "xlstyle", "sdxl_base_v1-0")}
    for variant, (offset, trigger, base) in variants.items():
        kohya, peft = {}, {}
        for i, (kohya_name, peft_name, _model_key, shape) in enumerate(targets):
            down, up = lora_tensors(shape, SEED + 100 + offset + i)
            kohya[f"{kohya_name}.lora_down.weight"] = down
            kohya[f"{kohya_name}.lora_up.weight"] = up
            kohya[f"{kohya_name}.alpha"] = torch.tensor(float(LORA_RANK))
            # PEFT: lora_A = down, lora_B = up; no alpha tensor means alpha = rank (scale 1), as kohya's alpha=rank.
            peft[f"{peft_name}.lora_A.weight"] = down
            peft[f"{peft_name}.lora_B.weight"] = up
        save(to_fp16(kohya), models / FILES[variant], kohya_meta(Path(FILES[variant]).stem, trigger, base))
        if variant == "kohya":  # same tensors as the kohya file: applying either must give identical results
            save(to_fp16(peft), models / FILES["peft"], {"format": "pt"})
            save(to_fp16(peft), models / FILES["peft_folder"], {"format": "pt"})
    return {"modules": len(targets), "unet": sum(1 for t in targets if t[0].startswith("lora_unet_"))}


def core_unmatched_peft_keys(lora: dict) -> set:
    """The keys of a diffusers/PEFT SD1.5 LoRA that ComfyUI 0.3.75's key map misses: its diffusers names for the
    attention projections carry ``.processor.`` (the old attention-processor API), so modern ``attnN.to_q``
    keys go unmatched ("lora key not loaded"). Loadout's LoRA loader must map these itself."""
    return {k for k in lora if k.startswith("unet.") and any(f".{p}." in k for p in ("to_q", "to_k", "to_v", "to_out"))}


def verify(models: Path) -> dict:
    """Load everything back through ComfyUI's own loaders; fail on anything unmatched or missing."""
    import comfy.controlnet
    import comfy.lora
    import comfy.model_base
    import comfy.sd
    import comfy.supported_models
    import comfy.utils

    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(models / FILES["sd15"]), output_vae=True,
                                                                 output_clip=True)
    if type(model.model.model_config) is not comfy.supported_models.SD15 or clip is None or vae is None:
        raise RuntimeError(f"SD1.5 tiny checkpoint detected as {type(model.model.model_config).__name__}")
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    key_map = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, key_map)
    report = {}
    for name in ("kohya", "kohya_b", "kohya_c", "peft"):
        lora = comfy.utils.load_torch_file(str(models / FILES[name]), safe_load=True)
        patches = comfy.lora.load_lora(lora, key_map, log_missing=False)
        used = set()
        for adapter in patches.values():
            used.update(getattr(adapter, "loaded_keys", ()))
        unmatched = sorted(set(lora) - used)
        expected = core_unmatched_peft_keys(lora) if name == "peft" else set()
        if set(unmatched) != expected:
            raise RuntimeError(f"{name} LoRA: {len(unmatched)} keys not matched by core, expected "
                               f"{len(expected)}; e.g. {sorted(set(unmatched) ^ expected)[:3]}")
        report[name] = {"modules_matched_by_core": len(patches), "keys_unmatched_by_core": len(unmatched)}
    xl, _, xl_vae, _ = comfy.sd.load_checkpoint_guess_config(str(models / FILES["sdxl"]), output_vae=True,
                                                              output_clip=False)
    if not isinstance(xl.model, comfy.model_base.SDXL) or xl_vae is None:
        raise RuntimeError(f"SDXL tiny checkpoint detected as {type(xl.model).__name__}")
    report["sdxl_config"] = type(xl.model.model_config).__name__
    full, full_clip, full_vae, _ = comfy.sd.load_checkpoint_guess_config(str(models / FILES["sdxl_full"]),
                                                                         output_vae=True, output_clip=True)
    if not isinstance(full.model, comfy.model_base.SDXL) or full_clip is None or full_vae is None:
        raise RuntimeError("the full tiny SDXL checkpoint did not load with its text encoders and VAE")
    xl_keys = comfy.lora.model_lora_keys_clip(full_clip.cond_stage_model, comfy.lora.model_lora_keys_unet(full.model, {}))
    xl_lora = comfy.utils.load_torch_file(str(models / FILES["sdxl_lora"]), safe_load=True)
    xl_patches = comfy.lora.load_lora(xl_lora, xl_keys, log_missing=False)
    xl_used = set()
    for adapter in xl_patches.values():
        xl_used.update(getattr(adapter, "loaded_keys", ()))
    if set(xl_lora) - xl_used:
        raise RuntimeError(f"SDXL LoRA: {len(set(xl_lora) - xl_used)} keys not matched by core")
    report["sdxl_lora_modules"] = len(xl_patches)
    if comfy.controlnet.load_controlnet(str(models / FILES["sdxl_controlnet"])) is None:
        raise RuntimeError("tiny SDXL ControlNet was not recognised")
    comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(models / FILES["vae"])))
    if comfy.controlnet.load_controlnet(str(models / FILES["controlnet"])) is None:
        raise RuntimeError("tiny ControlNet was not recognised")
    return report, model, clip


PHOTO = "loadout_grace_hopper.jpg"


def copy_photo(input_dir: Path) -> None:
    """The real photo the workflows use (matplotlib ships it), into ComfyUI's input folder."""
    import shutil

    import matplotlib

    input_dir.mkdir(parents=True, exist_ok=True)
    dest = input_dir / PHOTO
    if not dest.is_file():
        shutil.copyfile(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", dest)


def link_public_names(models: Path) -> None:
    """Each tiny model under the public name the bundled workflows use (scripts/public_models.py), inside the
    harness's models folder only."""
    written = public_models.link_aliases(models)
    log.info("public names: %d of %d linked to their tiny models%s", len(written), len(public_models.MODELS),
             "" if written else " (all current)")


def stamp_value() -> str:
    here = Path(__file__).parent
    source = b"".join((here / name).read_bytes() for name in ("make_tiny_models.py", "tiny_annotators.py",
                                                                "public_models.py"))
    return hashlib.sha256(source + GENERATOR_VERSION.encode()).hexdigest()[:16]


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test harness package
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", type=Path, help="ComfyUI folder whose code is imported (default: the harness's)")
    ap.add_argument("--models", type=Path, help="models folder to write into (default: the harness's models/)")
    ap.add_argument("--force", action="store_true", help="regenerate even if the stamp says they are current")
    args = ap.parse_args(argv)
    if args.comfyui is None or args.models is None:
        from harness.paths import harness

        h = harness()
        args.comfyui = args.comfyui or h.comfyui
        args.models = args.models or h.models
    logging.basicConfig(level=logging.INFO, format="[tiny-models] %(message)s")

    copy_photo(args.models.parent / "input")
    stamp = args.models / ".loadout-tiny-models"
    if not args.force and stamp.is_file() and stamp.read_text().strip() == stamp_value() and all(
        (args.models / f).is_file() for f in FILES.values()
    ):
        log.info("tiny models are current (%s)", stamp)
        link_public_names(args.models)
        return 0

    from harness.inprocess import import_comfyui

    import_comfyui(args.comfyui)
    import torch

    torch.manual_seed(SEED)
    t0 = time.time()
    make_sd15(args.models)
    make_sdxl(args.models)
    make_vae(args.models)
    make_controlnet(args.models)
    import comfy.sd

    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(args.models / FILES["sd15"]), output_vae=False)
    loras = make_loras(args.models, model, clip)
    make_sdxl_full(args.models)
    make_sdxl_controlnet(args.models)
    xl_model, xl_clip, _, _ = comfy.sd.load_checkpoint_guess_config(str(args.models / FILES["sdxl_full"]),
                                                                    output_vae=False)
    loras["sdxl"] = make_sdxl_lora(args.models, xl_model, xl_clip)
    del xl_model, xl_clip
    report, _, _ = verify(args.models)
    import tiny_annotators
    from harness.inprocess import import_pack

    import_pack()
    tiny_annotators.make_all(args.models / "annotators", midas=True)
    link_public_names(args.models)
    stamp.write_text(stamp_value() + "\n")
    log.info("done in %.1f s: %s, LoRA modules %s", time.time() - t0, report, loras)
    return 0


if __name__ == "__main__":
    sys.exit(main())
