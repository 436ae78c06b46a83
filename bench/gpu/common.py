"""Shared pieces of the GPU suite (and of the older CPU benches): where ComfyUI is, importing it for CUDA or the CPU,
ComfyUI's real UNet/VAE architectures with seeded random weights, timing, peak memory, PSNR and the result rows.

Nothing here downloads anything. On the GPU machine ComfyUI is the copy ``scripts/gpu_prepare.sh`` made in
``.gpu/comfyui`` (it travels with ``carry``); here it is the harness's ComfyUI. The architectures are ComfyUI's
own classes built from their real configs (``comfy.supported_models.SD15`` / ``SDXL`` with the UNet configs
ComfyUI's model detection gives those checkpoints, ``comfy.sd.VAE`` with the SD/SDXL KL ``ddconfig``); the dry
run builds the same classes with toy widths.

A result row (one line of the summary table), as every case returns them::

    {"case": "offload_speed", "variant": "ours 40 %", "setting": "SDXL UNet fp16, 1024², batch 1",
     "measure": "ms/step", "time_ms": 61.2, "peak_mib": 2210.0, "ratio": 1.04, "ratio_of": "time / resident",
     "quality": "bit-exact", "goal": "≤ 1.05", "ok": True}
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
SEED = 20261203
MIB = 1024 * 1024

# ComfyUI's UNet configs for the SD1.5 and SDXL base checkpoints, as its model detection reports them
# (comfy/model_detection.py, unet_config_from_diffusers_unet: SD15, SDXL), without the dtype.
SD15_UNET = dict(
    use_checkpoint=False, image_size=32, out_channels=4, use_spatial_transformer=True, legacy=False,
    adm_in_channels=None, in_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
    transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0], channel_mult=[1, 2, 4, 4], transformer_depth_middle=1,
    use_linear_in_transformer=False, context_dim=768, num_heads=8, num_head_channels=-1,
    transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], use_temporal_attention=False,
    use_temporal_resblock=False,
)
SDXL_UNET = dict(
    image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2],
    channel_mult=[1, 2, 4], transformer_depth=[0, 0, 2, 2, 10, 10],
    transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10], transformer_depth_middle=10, context_dim=2048,
    num_heads=-1, num_head_channels=64, use_linear_in_transformer=True, use_spatial_transformer=True, legacy=False,
    adm_in_channels=2816, num_classes="sequential", use_temporal_attention=False, use_temporal_resblock=False,
)
# The same classes at toy widths and depths, for the CPU dry run.
SD15_UNET_TOY = dict(SD15_UNET, model_channels=32, num_res_blocks=[1, 1], channel_mult=[1, 2],
                     transformer_depth=[1, 1], transformer_depth_output=[1, 1, 1, 1], context_dim=64, num_heads=4)
SDXL_UNET_TOY = dict(SDXL_UNET, model_channels=32, num_res_blocks=[1, 1, 1], channel_mult=[1, 2, 2],
                     transformer_depth=[0, 1, 1], transformer_depth_output=[0, 0, 1, 1, 1, 1],
                     transformer_depth_middle=1, context_dim=64, num_head_channels=16, adm_in_channels=96)
UNETS = {("sd15", False): SD15_UNET, ("sd15", True): SD15_UNET_TOY,
         ("sdxl", False): SDXL_UNET, ("sdxl", True): SDXL_UNET_TOY}
# The SD1.x/SDXL KL autoencoder (comfy/sd.py's default ddconfig for ldm-layout VAEs), and a toy-width one.
SD_VAE_DDCONFIG = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                   "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}
SD_VAE_DDCONFIG_TOY = dict(SD_VAE_DDCONFIG, ch=32, ch_mult=[1, 1, 2, 2], num_res_blocks=1)


# --- environment ------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Env:
    dry_run: bool
    device: object  # torch.device
    comfyui: Path
    tmp: Path  # scratch folder of this case (deleted by the runner)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def pick(self, gpu, toy):
        """``gpu`` on the real run, ``toy`` in the dry run."""
        return toy if self.dry_run else gpu


def find_comfyui(explicit: str | None = None) -> Path:
    """``--comfyui`` > ``$LOADOUT_GPU_COMFYUI`` (run_on_device.sh sets it to the carried ``.gpu/comfyui``) > the
    harness's ComfyUI > ``.gpu/comfyui`` (a prepared copy, where no harness is provisioned)."""
    for candidate in (explicit, os.environ.get("LOADOUT_GPU_COMFYUI")):
        if candidate:
            path = Path(candidate).resolve()
            if not (path / "comfy" / "model_management.py").is_file():
                raise SystemExit(f"{path} is not a ComfyUI folder (no comfy/model_management.py)")
            return path
    _tests_on_path()
    from harness.paths import harness

    try:
        return harness().comfyui
    except RuntimeError:
        prepared = REPO / ".gpu" / "comfyui"
        if (prepared / "comfy" / "model_management.py").is_file():
            return prepared
        raise


def _tests_on_path() -> None:
    """tests/ (the ``harness`` package) and scripts/ (``tiny_annotators``), as tests/conftest.py does."""
    for folder in ("scripts", "tests"):
        path = str(REPO / folder)
        if path not in sys.path:
            sys.path.insert(0, path)


def setup(dry_run: bool, comfyui: str | None, tmp: Path) -> Env:
    """Import ComfyUI (forced to the CPU for the dry run, on CUDA otherwise) and the pack as ``loadout``."""
    _tests_on_path()
    from harness.inprocess import import_comfyui, import_pack

    import torch

    if not dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: the GPU suite runs on the GPU machine; use --dry-run on the CPU")
    path = find_comfyui(comfyui)
    import_comfyui(path, cpu=dry_run)
    import_pack()
    torch.manual_seed(SEED)
    torch.set_grad_enabled(False)
    if dry_run:
        # toy tensors: one thread (on a small shared CPU, OpenMP's barriers cost more than the work)
        torch.set_num_threads(1)
    else:
        # same algorithm choices run to run: the exactness checks compare bits
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return Env(dry_run, torch.device("cuda" if not dry_run else "cpu"), path, tmp)


def device_info(env: Env) -> dict:
    import torch

    info = {"torch": torch.__version__, "device": "cpu (dry run)", "python": sys.version.split()[0]}
    if env.cuda:
        props = torch.cuda.get_device_properties(0)
        info.update(device=torch.cuda.get_device_name(0), total_mib=round(props.total_memory / MIB),
                    cuda=torch.version.cuda)
    return info


# --- seeded real architectures ---------------------------------------------------------------------------------
def seeded_init(module, seed: int = SEED) -> None:
    """Deterministic weights that keep activations O(1) in fp16: weights N(0, 1/fan_in), norm scales 1 + N(0, 0.1),
    biases N(0, 0.02). Generated on the parameters' own device, in float32, parameter by parameter."""
    import torch

    params = sorted(module.named_parameters(), key=lambda kv: kv[0])
    gens: dict = {}
    for name, p in params:
        g = gens.get(p.device)
        if g is None:
            g = gens[p.device] = torch.Generator(device=p.device).manual_seed(seed)
        r = torch.randn(p.shape, generator=g, device=p.device, dtype=torch.float32)
        if p.ndim >= 2:
            r *= 1.0 / math.sqrt(max(1, p[0].numel()))
        elif name.endswith("bias"):
            r *= 0.02
        else:
            r = 1.0 + 0.1 * r
        p.data.copy_(r)
        del r


def build_unet(kind: str, dtype, device, toy: bool, seed: int = SEED):
    """ComfyUI's BaseModel (``SD15`` or ``SDXL``) from its real UNet config (toy widths when ``toy``), weights
    seeded on ``device`` in ``dtype``. Returns (base model, weight bytes of the UNet)."""
    import comfy.supported_models as sm

    config_cls = {"sd15": sm.SD15, "sdxl": sm.SDXL}[kind]
    config = config_cls(dict(UNETS[(kind, toy)]))
    config.set_inference_dtype(dtype, None)
    base = config.get_model({}, device=device)
    seeded_init(base.diffusion_model, seed)
    base.diffusion_model.eval()
    weights = sum(p.numel() * p.element_size() for p in base.diffusion_model.parameters())
    return base, weights


def unet_inputs(kind: str, toy: bool, latent: int, dtype, device, batch: int = 1, seed: int = SEED) -> dict:
    """Keyword inputs of the UNet's forward: x, timesteps, context (and y for SDXL), seeded."""
    import torch

    cfg = UNETS[(kind, toy)]
    g = torch.Generator(device=device).manual_seed(seed + 1)
    inputs = {
        "x": torch.randn(batch, 4, latent, latent, generator=g, device=device).to(dtype),
        "timesteps": torch.full((batch,), 500.0, device=device),
        "context": torch.randn(batch, 77, cfg["context_dim"], generator=g, device=device).to(dtype),
    }
    if cfg.get("adm_in_channels"):
        inputs["y"] = torch.randn(batch, cfg["adm_in_channels"], generator=g, device=device).to(dtype)
    return inputs


def call_unet(unet, inputs: dict):
    x = inputs["x"]
    rest = {k: v for k, v in inputs.items() if k != "x"}
    return unet(x, **rest)


def offload_source(unet, device, copy_first: bool = True):
    """The UNet as ``wrap_model`` wants it: the layers it wraps on the CPU (their master copy is made from them),
    every other parameter and buffer (norms, embeddings) on ``device``. A deep copy unless ``copy_first`` is
    False (then ``unet`` itself is rearranged)."""
    import torch

    from loadout.vram.offload.layers import find_layers

    host = copy.deepcopy(unet) if copy_first else unet
    found = find_layers(host)
    wrapped = {id(m) for _n, m, _op, _k in found}
    for module in host.modules():
        if id(module) in wrapped:
            for key, p in module._parameters.items():
                if p is not None and p.device.type != "cpu":
                    module._parameters[key] = torch.nn.Parameter(p.data.to("cpu"), requires_grad=False)
            continue
        for key, p in module._parameters.items():
            if p is not None and p.device != device:
                module._parameters[key] = torch.nn.Parameter(p.data.to(device), requires_grad=False)
        for key, b in module._buffers.items():
            if b is not None and b.device != device:
                module._buffers[key] = b.to(device)
    return host


def offload_budget(host, device, fraction: float, weights: int, hook=None) -> tuple[int, bool]:
    """(budget bytes, raised): ``fraction`` of the weight bytes, raised to 1.25× the planner's minimum (the host's
    layers, the staging slots and the largest transient weight) where that is more; only toy models need it."""
    from loadout.vram.offload.config import OffloadConfig, Strategy
    from loadout.vram.offload.ladder import LadderMemory
    from loadout.vram.offload.offloader import wrap_model

    probe = wrap_model(host, OffloadConfig(strategy="offload", prefetch=2), device, memory=LadderMemory(),
                       weight_hook=hook).offloader
    costs = probe.costs(Strategy.OFFLOAD)
    minimum = (probe.other_resident_bytes + 3 * max(c.stream_bytes for c in costs)
               + max(c.transient_bytes for c in costs))
    wanted = int(fraction * weights)
    return (wanted, False) if wanted >= 1.25 * minimum else (int(1.25 * minimum), True)


def build_vae(toy: bool, dtype, seed: int = SEED):
    """``comfy.sd.VAE`` (ComfyUI's real class) over an SD/SDXL KL autoencoder with seeded weights; ``dtype`` None
    lets ComfyUI pick (bf16 on recent NVIDIA GPUs)."""
    import comfy.sd
    from comfy.ldm.models.autoencoder import AutoencoderKL

    ddconfig = SD_VAE_DDCONFIG_TOY if toy else SD_VAE_DDCONFIG
    source = AutoencoderKL(ddconfig=ddconfig, embed_dim=4)
    seeded_init(source, seed)
    sd = source.state_dict()
    del source
    return comfy.sd.VAE(sd=sd, config={"params": {"ddconfig": ddconfig, "embed_dim": 4}}, dtype=dtype)


def photo_path() -> Path | None:
    """matplotlib's sample photo (grace_hopper.jpg, 512×600), or None where matplotlib or its data is missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return path if path.is_file() else None


def photo_u8(size: int | None = None):
    """The sample photo as HxWx3 uint8 (resized to size² when given), or None without it."""
    path = photo_path()
    if path is None:
        return None
    import numpy as np
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if size:
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img)


def photo(size: int):
    """The sample photo resized to size² as [1, 3, H, W] float in [-1, 1], or None without it."""
    img = photo_u8(size)
    if img is None:
        return None
    import torch

    return torch.from_numpy(img.copy()).float().div(255).permute(2, 0, 1)[None] * 2 - 1


# --- measuring -------------------------------------------------------------------------------------------------
def sync(device) -> None:
    import torch

    if getattr(device, "type", device) == "cuda":
        torch.cuda.synchronize()


def mean_time_s(fn, steps: int, warmup: int, device):
    """(mean seconds per call over ``steps`` after ``warmup`` calls, the last result); one sync at each end."""
    out = None
    for _ in range(warmup):
        out = fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        out = fn()
    sync(device)
    return (time.perf_counter() - t0) / max(1, steps), out


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Peak:
    """Peak memory of a block. CUDA: ``torch.cuda.max_memory_allocated`` over the block, minus ``base`` (what was
    allocated before the variant was built). CPU (dry run): the RSS high-water mark (VmHWM, reset on entry where
    the kernel allows) minus the RSS at ``base`` time. ``peak_bytes`` is set on exit."""

    def __init__(self, device):
        self.device = device
        self.base = self._current()
        self.peak_bytes = 0

    def _current(self) -> int:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return torch.cuda.memory_allocated()
        return _status_kib("VmRSS") * 1024

    def __enter__(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        return self

    def __exit__(self, *exc):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            top = torch.cuda.max_memory_allocated()
        else:
            top = max(_status_kib("VmHWM"), _status_kib("VmRSS")) * 1024
        self.peak_bytes = max(0, top - self.base)
        return False

    @property
    def mib(self) -> float:
        return round(self.peak_bytes / MIB, 1)


def free(device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def psnr(ref, out) -> float:
    """PSNR in dB of ``out`` against ``ref`` with the reference's value range as the peak (inf when identical)."""
    import torch

    peak = float(ref.max() - ref.min())
    mse = float(torch.mean((ref.double() - out.double()) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(peak ** 2 / mse)


def max_abs(a, b) -> float:
    return float((a.float() - b.float()).abs().max())


def rel_err(out, ref) -> float:
    ref = ref.float()
    return float((out.float() - ref).norm() / ref.norm().clamp_min(1e-30))


def exactness(out, ref) -> str:
    """'bit-exact' or the largest difference."""
    import torch

    return "bit-exact" if torch.equal(out, ref) else f"max|Δ| {max_abs(out, ref):.3g}"


# --- rows -------------------------------------------------------------------------------------------------------
def row(case: str, variant: str, setting: str, measure: str, time_ms: float, peak_mib: float,
        ratio: float | None = None, ratio_of: str = "", quality: str = "", goal: str = "", ok: bool | None = None) -> dict:
    return {"case": case, "variant": variant, "setting": setting, "measure": measure,
            "time_ms": round(float(time_ms), 3), "peak_mib": round(float(peak_mib), 1),
            "ratio": None if ratio is None else round(float(ratio), 3), "ratio_of": ratio_of, "quality": quality,
            "goal": goal, "ok": ok}


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def jsonable(obj):
    """JSON-safe copy: non-finite floats become strings ("inf"), tensors and paths become text."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


@contextlib.contextmanager
def stage(name: str):
    """Log a stage's start and duration to stderr (the device log)."""
    t0 = time.perf_counter()
    print(f"[gpu-suite] {name} ...", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        print(f"[gpu-suite] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
