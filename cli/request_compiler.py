"""Compile the original design's "enhanced request" JSON into an API-format graph of Loadout and core nodes.

A request (every field but ``prompt`` optional)::

    {"prompt": "a lighthouse at dusk", "negative": "blurry",
     "model": "sd_xl_base_1.0.safetensors",
     "lora": {"enabled": true, "global_weight": 1.1,
              "models": [{"name": "style_a", "weight": 0.8, "clip_weight": 0.6, "category": "style"}, "detail_b"]},
     "controlnet": [{"type": "canny", "model": "cn_canny.safetensors", "image": "pose.png",
                     "strength": 0.8, "start": 0.0, "end": 1.0, "resolution": 512}],
     "vae": "auto",                       # "baked", "auto" (by model family) or a file; or
                                          # {"name": ..., "tiled": true, "tile_size": 512, "dtype": "fp32"}
     "scheduler": "DPM++ 2M Karras",      # an A1111 / ComfyUI / diffusers preset, or {"schedule": "ays_sdxl",
                                          # "sampler": "dpmpp_2m"} (a Loadout schedule + a core sampler)
     "steps": 20, "cfg": 7.0, "seed": 42, "width": 1024, "height": 1024, "batch": 1,
     "offload": {"strategy": "auto", "budget_gb": 0, "prefetch": 2},   # optional
     "monitor": true, "filename_prefix": "loadout/request"}

``compile_request`` checks the request's own shape (unknown keys, types, ranges), builds the graph and records, for
every node input it set, the request field it came from; ``validate`` then checks the graph against a server's
``/object_info`` (node types present, choices such as file names, numeric ranges) and reports any problem by that
field, e.g. ``controlnet[0].model: 'x.safetensors' is not available on the server; choose one of: ...``.
"""
from __future__ import annotations

import dataclasses
import json
import unicodedata

DEFAULTS = {"negative": "", "steps": 20, "cfg": 7.0, "seed": 0, "width": 1024, "height": 1024, "batch": 1,
            "scheduler": "DPM++ 2M Karras", "vae": "baked", "monitor": False, "filename_prefix": "loadout/request"}
TOP_LEVEL = {"prompt", "negative", "negative_prompt", "model", "checkpoint", "lora", "controlnet", "vae",
             "scheduler", "steps", "cfg", "seed", "width", "height", "batch", "offload", "monitor",
             "filename_prefix"}
CONTROLNET_KEYS = {"type", "preprocessor", "model", "image", "strength", "start", "end", "resolution", "enabled"}
VAE_KEYS = {"name", "mode", "tiled", "tile_size", "dtype"}
OFFLOAD_KEYS = {"strategy", "budget_gb", "prefetch"}
SCHEDULER_KEYS = {"preset", "schedule", "sampler"}
# request "type" → the all-in-one preprocessor's choice ("none": the image is already a hint)
PREPROCESSOR_ALIASES = {"canny": "canny", "mlsd": "mlsd", "scribble": "scribble (xdog)", "lineart": "lineart (standard)",
                        "hed": "hed", "softedge": "hed", "depth": "depth", "normal": "normal",
                        "segmentation": "segmentation (ade20k)", "seg": "segmentation (ade20k)", "pose": "pose",
                        "openpose": "pose"}


class RequestError(ValueError):
    """A request that cannot be compiled or is not valid for the server; the message starts with the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclasses.dataclass
class Compiled:
    graph: dict  # API format
    fields: dict  # (node id, input name) -> request field path
    output_node: str  # the SaveImage node


def _expect(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise RequestError(field, message)


def _int(value, field: str, lo: int | None = None, hi: int | None = None) -> int:
    _expect(isinstance(value, int) and not isinstance(value, bool), field, f"must be an integer, got {value!r}")
    _expect(lo is None or value >= lo, field, f"must be >= {lo}, got {value}")
    _expect(hi is None or value <= hi, field, f"must be <= {hi}, got {value}")
    return value


def _num(value, field: str, lo: float | None = None, hi: float | None = None) -> float:
    _expect(isinstance(value, (int, float)) and not isinstance(value, bool), field,
            f"must be a number, got {value!r}")
    _expect(value == value and abs(value) != float("inf"), field, f"must be finite, got {value!r}")
    _expect(lo is None or value >= lo, field, f"must be >= {lo}, got {value}")
    _expect(hi is None or value <= hi, field, f"must be <= {hi}, got {value}")
    return float(value)


def _str(value, field: str, allow_empty: bool = True) -> str:
    _expect(isinstance(value, str), field, f"must be a string, got {type(value).__name__}")
    _expect(allow_empty or value.strip() != "", field, "must not be empty")
    return value


def _unknown(data: dict, known: set, field: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        where = f"{field}." if field else ""
        raise RequestError(f"{where}{extra[0]}", f"unknown field; known fields{' of ' + field if field else ''}: "
                                                 f"{', '.join(sorted(known))}")


class _Builder:
    def __init__(self):
        self.graph: dict = {}
        self.fields: dict = {}
        self.next_id = 1

    def add(self, class_type: str, title: str | None = None, **inputs) -> str:
        node_id = str(self.next_id)
        self.next_id += 1
        self.graph[node_id] = {"class_type": class_type, "inputs": {}}
        if title:
            self.graph[node_id]["_meta"] = {"title": title}
        for name, value in inputs.items():
            self.set(node_id, name, value)
        return node_id

    def set(self, node_id: str, name: str, value, field: str | None = None) -> None:
        if isinstance(value, tuple):
            value, field = value  # (value, request field); links are lists
        self.graph[node_id]["inputs"][name] = value
        if field:
            self.fields[(node_id, name)] = field


def compile_request(request: dict, default_model: str | None = None) -> Compiled:
    """The graph for one request (see the module docstring). ``default_model``: the checkpoint when the request
    names none."""
    _expect(isinstance(request, dict), "request", f"must be a JSON object, got {type(request).__name__}")
    _unknown(request, TOP_LEVEL, "")
    r = {**DEFAULTS, **request}
    prompt = _str(r.get("prompt"), "prompt", allow_empty=False) if "prompt" in r else None
    _expect(prompt is not None, "prompt", "is required")
    neg_field = "negative_prompt" if "negative_prompt" in request else "negative"
    negative = _str(r.get(neg_field, ""), neg_field)
    model_field = "checkpoint" if "checkpoint" in request else "model"
    model = r.get(model_field, default_model)
    _expect(model is not None, model_field, "is required (the checkpoint file name)")
    _str(model, model_field, allow_empty=False)
    steps = _int(r["steps"], "steps", 1, 10000)
    cfg = _num(r["cfg"], "cfg", 0.0, 100.0)
    seed = _int(r["seed"], "seed", 0, 2 ** 64 - 1)
    width = _int(r["width"], "width", 16, 16384)
    height = _int(r["height"], "height", 16, 16384)
    _expect(width % 8 == 0, "width", f"must be a multiple of 8, got {width}")
    _expect(height % 8 == 0, "height", f"must be a multiple of 8, got {height}")
    batch = _int(r["batch"], "batch", 1, 4096)
    _expect(isinstance(r["monitor"], bool), "monitor", f"must be true or false, got {r['monitor']!r}")
    prefix = _str(r["filename_prefix"], "filename_prefix", allow_empty=False)

    b = _Builder()
    ckpt = b.add("CheckpointLoaderSimple", "Checkpoint", ckpt_name=(model, model_field))
    model_ref, clip_ref, vae_ref = [ckpt, 0], [ckpt, 1], [ckpt, 2]

    lora = request.get("lora")
    if lora is not None:
        if isinstance(lora, dict):
            _unknown(lora, {"enabled", "global_weight", "models"}, "lora")
            if "enabled" in lora:
                _expect(isinstance(lora["enabled"], bool), "lora.enabled", "must be true or false")
            if "global_weight" in lora:
                _num(lora["global_weight"], "lora.global_weight", -10.0, 10.0)
            models = lora.get("models", [])
        else:
            _expect(isinstance(lora, list), "lora", "must be an object {enabled, global_weight, models} or a list")
            models = lora
        _expect(isinstance(models, list), "lora.models", "must be a list")
        for i, m in enumerate(models):
            f = f"lora.models[{i}]"
            if isinstance(m, str):
                _str(m, f, allow_empty=False)
                continue
            _expect(isinstance(m, dict), f, "must be a name or an object {name, weight, clip_weight, category, enabled}")
            _unknown(m, {"name", "weight", "clip_weight", "category", "enabled"}, f)
            _expect("name" in m, f"{f}.name", "is required")
            _str(m["name"], f"{f}.name", allow_empty=False)
            for k in ("weight", "clip_weight"):
                if k in m:
                    _num(m[k], f"{f}.{k}", -10.0, 10.0)
        if lora.get("enabled", True) if isinstance(lora, dict) else True:
            stack = b.add("LoadoutLoraStackFromText", "LoRA stack (from the request)",
                          text=(json.dumps(lora if isinstance(lora, dict) else {"models": lora}), "lora"))
            applied = b.add("LoadoutApplyLoraStack", "Apply LoRA stack", model=model_ref, clip=clip_ref,
                            lora_stack=[stack, 0], multiplier=1.0, on_missing="error")
            b.fields[(applied, "lora_stack")] = "lora"
            model_ref, clip_ref = [applied, 0], [applied, 1]

    offload = request.get("offload")
    if offload is not None:
        _expect(isinstance(offload, dict), "offload", "must be an object {strategy, budget_gb, prefetch}")
        _unknown(offload, OFFLOAD_KEYS, "offload")
        node = b.add("LoadoutOffloadModel", "Offload model", model=model_ref,
                     strategy=(_str(offload.get("strategy", "auto"), "offload.strategy"), "offload.strategy"),
                     budget_gb=(_num(offload.get("budget_gb", 0.0), "offload.budget_gb", 0.0), "offload.budget_gb"),
                     prefetch=(_int(offload.get("prefetch", 2), "offload.prefetch", 0), "offload.prefetch"))
        model_ref = [node, 0]

    pos = b.add("CLIPTextEncode", "Positive", text=(prompt, "prompt"), clip=clip_ref)
    neg = b.add("CLIPTextEncode", "Negative", text=(negative, neg_field), clip=clip_ref)
    pos_ref, neg_ref = [pos, 0], [neg, 0]

    nets = request.get("controlnet")
    if nets is not None:
        if isinstance(nets, dict):
            nets = [nets]
        _expect(isinstance(nets, list), "controlnet", "must be a list of ControlNet entries")
        stack_ref = None
        for i, cn in enumerate(nets):
            f = f"controlnet[{i}]"
            _expect(isinstance(cn, dict), f, "must be an object {type, model, image, strength, start, end}")
            _unknown(cn, CONTROLNET_KEYS, f)
            for k in ("model", "image"):
                _expect(k in cn, f"{f}.{k}", "is required")
                _str(cn[k], f"{f}.{k}", allow_empty=False)
            strength = _num(cn.get("strength", 1.0), f"{f}.strength", 0.0, 10.0)
            start = _num(cn.get("start", 0.0), f"{f}.start", 0.0, 1.0)
            end = _num(cn.get("end", 1.0), f"{f}.end", 0.0, 1.0)
            _expect(start <= end, f"{f}.start", f"must not be after end ({start} > {end})")
            enabled = cn.get("enabled", True)
            _expect(isinstance(enabled, bool), f"{f}.enabled", "must be true or false")
            kind_field = f"{f}.preprocessor" if "preprocessor" in cn else f"{f}.type"
            kind = _str(cn.get("preprocessor", cn.get("type", "none")), kind_field)
            image = b.add("LoadImage", f"ControlNet {i} image", image=(cn["image"], f"{f}.image"))
            hint = [image, 0]
            if kind.lower() not in ("none", ""):
                choice = PREPROCESSOR_ALIASES.get(kind.lower(), kind)
                pre = b.add("LoadoutPreprocessor", f"ControlNet {i} preprocessor", preprocessor=(choice, kind_field),
                            image=hint, resolution=(_int(cn.get("resolution", 512), f"{f}.resolution", 64),
                                                    f"{f}.resolution"), output_size="input size")
                hint = [pre, 0]
            entry = b.add("LoadoutControlNetStack", f"ControlNet {i}", control_net_name=(cn["model"], f"{f}.model"),
                          image=hint, strength=(strength, f"{f}.strength"), start_percent=(start, f"{f}.start"),
                          end_percent=(end, f"{f}.end"), enabled=(enabled, f"{f}.enabled"))
            if stack_ref is not None:
                b.set(entry, "control_net_stack", stack_ref)
            stack_ref = [entry, 0]
        if stack_ref is not None:
            applied = b.add("LoadoutApplyControlNetStack", "Apply ControlNet stack", positive=pos_ref,
                            negative=neg_ref, control_net_stack=stack_ref)
            pos_ref, neg_ref = [applied, 0], [applied, 1]

    latent = b.add("EmptyLatentImage", "Latent", width=(width, "width"), height=(height, "height"),
                   batch_size=(batch, "batch"))

    sched = r["scheduler"]
    if isinstance(sched, str):
        sched = {"preset": sched}
    _expect(isinstance(sched, dict), "scheduler", "must be a preset name or an object {preset | schedule, sampler}")
    _unknown(sched, SCHEDULER_KEYS, "scheduler")
    if "schedule" in sched:
        sigmas = b.add("LoadoutScheduler", "Schedule", model=model_ref,
                       schedule=(_str(sched["schedule"], "scheduler.schedule"), "scheduler.schedule"),
                       steps=(steps, "steps"), denoise=1.0)
        sampler = b.add("KSamplerSelect", "Sampler",
                        sampler_name=(_str(sched.get("sampler", "euler"), "scheduler.sampler"), "scheduler.sampler"))
        sampler_ref, sigmas_ref = [sampler, 0], [sigmas, 0]
    else:
        _expect("sampler" not in sched, "scheduler.sampler", "goes with 'schedule'; a preset names its own sampler")
        field = "scheduler" if isinstance(r["scheduler"], str) else "scheduler.preset"
        preset = b.add("LoadoutSamplerPreset", "Sampler preset", model=model_ref,
                       preset=(_str(sched.get("preset", DEFAULTS["scheduler"]), field, allow_empty=False), field),
                       steps=(steps, "steps"), denoise=1.0)
        sampler_ref, sigmas_ref = [preset, 0], [preset, 1]
    sampled = b.add("SamplerCustom", "Sample", model=model_ref, add_noise=True, noise_seed=(seed, "seed"),
                    cfg=(cfg, "cfg"), positive=pos_ref, negative=neg_ref, sampler=sampler_ref, sigmas=sigmas_ref,
                    latent_image=[latent, 0])

    vae = r["vae"]
    if isinstance(vae, str):
        vae = {"name": vae}
    _expect(isinstance(vae, dict), "vae", "must be 'baked', 'auto', a file name or an object {name, tiled, ...}")
    _unknown(vae, VAE_KEYS, "vae")
    vae_field = "vae" if isinstance(r["vae"], str) else "vae.name"
    name = _str(vae.get("name", vae.get("mode", "baked")), vae_field, allow_empty=False)
    mode = name if name in ("baked", "auto") else "by name"
    dtype = _str(vae.get("dtype", "auto"), "vae.dtype")
    if mode != "baked" or "dtype" in vae:
        chosen = b.add("LoadoutVAESelect", "VAE", mode=mode, vae_name=(name if mode == "by name" else "None", vae_field),
                       dtype=(dtype, "vae.dtype"), model=model_ref, vae=vae_ref)
        vae_ref = [chosen, 0]
    tiled = vae.get("tiled", False)
    _expect(isinstance(tiled, bool), "vae.tiled", "must be true or false")
    if tiled or "tile_size" in vae:
        decoded = b.add("LoadoutVAEDecodeTiled", "VAE decode (tiled)", samples=[sampled, 0], vae=vae_ref,
                        tile_size=(_int(vae.get("tile_size", 0), "vae.tile_size", 0), "vae.tile_size"), overlap=-1,
                        memory_budget_mb=0, batch_slice=1, memory_mode="auto")
    else:
        decoded = b.add("VAEDecode", "VAE decode", samples=[sampled, 0], vae=vae_ref)
    image_ref = [decoded, 0]
    if r["monitor"]:
        mon = b.add("LoadoutMemoryMonitor", "Memory monitor", value=image_ref, label="after decode", reset_peak=True)
        image_ref = [mon, 0]
    save = b.add("SaveImage", "Save", images=image_ref, filename_prefix=(prefix, "filename_prefix"))
    return Compiled(b.graph, b.fields, save)


# The nodes of a compiled graph that build the model: when ComfyUI runs one instead of taking it from its cache, the
# server (re)loaded the checkpoint or re-patched its LoRA set.
MODEL_NODES = ("CheckpointLoaderSimple", "LoadoutApplyLoraStack")


def affinity_key(graph: dict) -> str:
    """The checkpoint and LoRA set a compiled request runs with, as one string: the MODEL_NODES of ``graph`` and
    every node they read from, with their widget values (links left out). Requests with the same key reuse the model
    a server last loaded (the batch runner's model affinity). Read from the compiled graph, so a request's aliases
    and defaults (``checkpoint``/``model``, a list or an object for ``lora``, the server's default checkpoint) mean
    what the compiler made of them."""
    pending = [node_id for node_id, node in graph.items() if node["class_type"] in MODEL_NODES]
    seen: set = set()
    while pending:
        node_id = pending.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        pending += [v[0] for v in graph[node_id].get("inputs", {}).values() if isinstance(v, list) and len(v) == 2]
    parts = sorted([graph[n]["class_type"], {k: v for k, v in graph[n].get("inputs", {}).items()
                                             if not (isinstance(v, list) and len(v) == 2)}] for n in seen)
    return json.dumps(parts, sort_keys=True, separators=(",", ":"))


def model_loaded(graph: dict, cached: set[str] | None) -> bool | None:
    """Whether running ``graph`` (re)loaded its model: a MODEL_NODES node ran rather than came from ComfyUI's cache
    (``cached``: the node ids the server took from it; None when unknown gives None)."""
    if cached is None:
        return None
    return any(node["class_type"] in MODEL_NODES and node_id not in cached for node_id, node in graph.items())


def _choices(spec) -> list | None:
    kind = spec[0]
    if isinstance(kind, list):
        return kind
    if kind == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return spec[1].get("options")
    return None


def _lora_names(graph: dict) -> list[tuple[str, str]]:
    """(name, field) of every LoRA the request's stack node lists."""
    out = []
    for node in graph.values():
        if node["class_type"] == "LoadoutLoraStackFromText":
            data = json.loads(node["inputs"]["text"])
            for i, m in enumerate(data.get("models", [])):
                enabled = m.get("enabled", True) if isinstance(m, dict) else True
                name = m if isinstance(m, str) else m["name"]
                field = f"lora.models[{i}]" if isinstance(m, str) else f"lora.models[{i}].name"
                if enabled and name != "None":
                    out.append((name, field))
    return out


MAX_LISTED_NAMES = 20  # invalid LoRA names listed in one error (all are counted)


def _short(name: str) -> str:
    return repr(name if len(name) <= 60 else name[:57] + "...")


def _lora_known(name: str, files: list[str]) -> bool:
    """The LoRA node's resolution rules, loosely: a relative path, the same without extension, or a file name;
    compared in Unicode NFC, as the node compares them."""
    def stem(p: str) -> str:
        return p.rsplit(".", 1)[0] if "." in p.rsplit("/", 1)[-1] else p

    files = [unicodedata.normalize("NFC", f) for f in files]
    base = unicodedata.normalize("NFC", name.replace("\\", "/"))
    return any(f == base or stem(f) == base or f.rsplit("/", 1)[-1] == base or stem(f.rsplit("/", 1)[-1]) == base
               or f.startswith(base.rstrip("/") + "/") for f in files)


def validate(compiled: Compiled, object_info: dict) -> None:
    """Check the graph against the server: node types installed, choices (files) available, numbers in range,
    required inputs given. Raises ``RequestError`` naming the request field (or the node when no field maps)."""
    for node_id, node in compiled.graph.items():
        info = object_info.get(node["class_type"])
        if info is None:
            raise RequestError("server", f"node type {node['class_type']} is not installed on the server "
                                         "(Loadout missing or too old?)")
        specs = {}
        for section in ("required", "optional"):
            specs.update(info.get("input", {}).get(section) or {})
        for name in info.get("input", {}).get("required") or {}:
            if name not in node["inputs"]:
                raise RequestError(f"node {node_id} ({node['class_type']})", f"required input {name!r} not set")
        for name, value in node["inputs"].items():
            field = compiled.fields.get((node_id, name), f"node {node_id} ({node['class_type']}).{name}")
            spec = specs.get(name)
            if spec is None:
                raise RequestError(field, f"{node['class_type']} has no input {name!r}")
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int):
                continue  # a link
            choices = _choices(spec)
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if choices is not None:
                if value not in choices:
                    shown = ", ".join(map(str, choices[:12])) + (" ..." if len(choices) > 12 else "")
                    raise RequestError(field, f"{value!r} is not available on the server; choose one of: {shown}")
            elif spec[0] in ("INT", "FLOAT"):
                if "min" in options and value < options["min"]:
                    raise RequestError(field, f"{value} is below the minimum {options['min']}")
                if "max" in options and value > options["max"]:
                    raise RequestError(field, f"{value} is above the maximum {options['max']}")
    lora_files = _choices(object_info.get("LoadoutLoraStack", {}).get("input", {}).get("required", {})
                          .get("lora_name", [[]]))  # V1 [[...], {}] or V3 ["COMBO", {"options": [...]}]
    if isinstance(lora_files, list) and lora_files:
        bad = [(name, field) for name, field in _lora_names(compiled.graph) if not _lora_known(name, lora_files)]
        if bad:
            have = ", ".join(f for f in lora_files[:12] if f != "None")
            if len(bad) == 1:
                raise RequestError(bad[0][1], f"LoRA {bad[0][0]!r} is not in the server's LoRA folders; have: {have}")
            listed = ", ".join(f"{field} {_short(name)}" for name, field in bad[:MAX_LISTED_NAMES])
            more = f" and {len(bad) - MAX_LISTED_NAMES} more" if len(bad) > MAX_LISTED_NAMES else ""
            raise RequestError("lora.models", f"{len(bad)} LoRA names are not in the server's LoRA folders: "
                                              f"{listed}{more}; have: {have}")
