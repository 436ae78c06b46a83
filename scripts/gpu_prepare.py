"""Prepare what the GPU suite needs on the GPU machine (no network there): ``.gpu/`` (git-ignored, never committed).

    .gpu/comfyui/   the part of the harness's ComfyUI the suite imports (its Python packages comfy, comfy_api,
                    comfy_execution, comfy_config, app, utils and the top-level modules nodes.py, folder_paths.py,
                    node_helpers.py, latent_preview.py, comfyui_version.py, protocol.py; tokenizer data and other files over
                    256 KiB left out: the suite never tokenises)
    .gpu/wheels/    manylinux cp312 wheels of ComfyUI's dependencies the GPU machine lacks (WHEELS below), fetched
                    from PyPI once into $LOADOUT_CACHE/gpu-wheels and copied from there
    .gpu/MANIFEST.json  what was copied, the sizes, and the travel estimate

Usage (from the repo root; ``scripts/gpu_prepare.sh`` runs this with the venv's Python):

    python scripts/gpu_prepare.py             # make .gpu/ (idempotent), print what would travel
    python scripts/gpu_prepare.py --no-av     # leave PyAV out (-36 MB): the suite then calls the functions core's
                                              # VAEDecode/VAEDecodeTiled/LoraLoader nodes call instead of the nodes
    python scripts/gpu_prepare.py --check     # also: run the suite's dry run in a venv holding only the packages
                                              # the GPU machine has (+ the carried ones), against .gpu/comfyui, and
                                              # install the wheels under Python 3.12 and import them

How WHEELS was found (``--check`` repeats it): a Python 3.11 venv whose site-packages holds only the packages of
the GPU machine's image (GPU_PACKAGES: the image's package list as the device documentation gives it), linked
from this repo's .venv, plus the few packages the local, newer versions of those need (LOCAL_SHIMS), imports
ComfyUI and runs the dry run; each ModuleNotFoundError named a package to carry. A Python 3.12 venv could not be
used for that step: no CPU build of torch for 3.12 is reachable here (download.pytorch.org is not; PyPI's torch
for 3.12 needs ~3 GB of CUDA wheels), so the import trial runs under 3.11 and the wheels' cp312 installability
is checked separately with python3.12.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPU_DIR = REPO / ".gpu"
TRAVEL_LIMIT = 64 * 1024 * 1024
MAX_DATA_FILE = 256 * 1024
COMFY_PACKAGES = ("comfy", "comfy_api", "comfy_execution", "comfy_config", "app", "utils")
COMFY_MODULES = ("nodes.py", "folder_paths.py", "node_helpers.py", "latent_preview.py", "comfyui_version.py",
                 "protocol.py")
# ComfyUI 0.3.75's dependencies missing on the GPU machine, as the import trial found them (name: version).
#   torchsde (+ trampoline): comfy.k_diffusion.sampling imports it, and nodes.py imports that.
#   av (PyAV): comfy_api.latest imports it (video types), and nodes.py imports that.
WHEELS = {"torchsde": "0.2.6", "trampoline": "0.1.2", "av": "18.1.0"}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
# The GPU machine's image ('cuda'), as the device documentation lists it (2026-11-17).
GPU_PACKAGES = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp
""".split()
# Needed only by this machine's newer versions of GPU_PACKAGES (huggingface_hub 1.x uses httpx2/truststore;
# python-dateutil tzdata): the GPU machine's own versions bring what they need.
LOCAL_SHIMS = ("httpx2", "httpcore2", "truststore", "tzdata")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.lower())


def cache_dir() -> Path:
    return Path(os.environ.get("LOADOUT_CACHE", Path.home() / ".cache" / "loadout"))


def source_comfyui(explicit: str | None) -> Path:
    """``--comfyui``, else the harness's ComfyUI (``COMFYUI_PATH`` or the provisioned one, as the tests use)."""
    if explicit:
        return Path(explicit).resolve()
    sys.path.insert(0, str(REPO / "tests"))
    from harness.paths import harness  # noqa: PLC0415

    try:
        return harness().comfyui
    except RuntimeError as e:
        raise SystemExit(f"{e} (it fetches the harness's ComfyUI)") from None


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# --- ComfyUI copy --------------------------------------------------------------------------------------------------
def copy_comfyui(src: Path, dest: Path) -> dict:
    if not (src / "comfy" / "model_management.py").is_file():
        raise SystemExit(f"{src} is not a ComfyUI folder")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    copied, skipped = 0, []
    for package in COMFY_PACKAGES:
        root = src / package
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if path.suffix != ".py" and path.stat().st_size > MAX_DATA_FILE:
                skipped.append(str(path.relative_to(src)))
                continue
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied += 1
    for name in COMFY_MODULES:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
            copied += 1
    version = (src / "comfyui_version.py").read_text() if (src / "comfyui_version.py").is_file() else ""
    m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", version)
    return {"source": str(src), "version": m.group(1) if m else None, "files": copied, "bytes": du(dest),
            "left_out": skipped}


# --- wheels --------------------------------------------------------------------------------------------------------
def fetch_wheels(dest: Path, names: dict) -> list[dict]:
    cache = cache_dir() / "gpu-wheels"
    cache.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    out = []
    for name, version in names.items():
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        found = sorted(cache.glob(pattern))
        if not found:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                   "3.12", "--implementation", "cp", "-d", str(cache), f"{name}=={version}"]
            for platform in PLATFORMS:
                cmd += ["--platform", platform]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            found = sorted(cache.glob(pattern))
        if len(found) != 1:
            raise SystemExit(f"expected one wheel for {name}=={version} in {cache}, found {[p.name for p in found]}")
        shutil.copy2(found[0], dest / found[0].name)
        out.append({"name": name, "version": version, "file": found[0].name, "bytes": found[0].stat().st_size})
    return out


# --- what travels --------------------------------------------------------------------------------------------------
def travel_estimate() -> dict:
    """Bytes of what a device call sends: tracked and untracked-not-ignored files, plus .gpu (carried)."""
    def listed(*args) -> list[Path]:
        res = subprocess.run(["git", "ls-files", "-z", *args], cwd=REPO, capture_output=True, check=True)
        return [REPO / p for p in res.stdout.decode().split("\0") if p]

    tracked = listed()
    untracked = listed("--others", "--exclude-standard")
    size = lambda paths: sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())  # noqa: E731
    tops: dict = {}
    for p in untracked:
        if p.is_file() and not p.is_symlink():
            top = p.relative_to(REPO).parts[0]
            tops[top] = tops.get(top, 0) + p.stat().st_size
    gpu = du(GPU_DIR) if GPU_DIR.exists() else 0
    total = size(tracked) + size(untracked) + gpu
    return {"tracked_bytes": size(tracked), "untracked_bytes": size(untracked), "gpu_bytes": gpu, "total_bytes": total,
            "limit_bytes": TRAVEL_LIMIT, "fits": total <= TRAVEL_LIMIT,
            "largest_untracked": sorted(tops.items(), key=lambda kv: -kv[1])[:5]}


# --- the import trial ----------------------------------------------------------------------------------------------
def isolated_venv(where: Path, extra: tuple[str, ...]) -> Path:
    """A venv of this interpreter whose site-packages links only GPU_PACKAGES + LOCAL_SHIMS + ``extra`` from the
    current environment (a package not installed here is simply absent)."""
    if where.exists():
        shutil.rmtree(where)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next(where.glob("lib/python3*/site-packages"))
    allowed = {norm(n) for n in GPU_PACKAGES + list(LOCAL_SHIMS) + list(extra)}
    for dist in md.distributions():
        if norm(dist.metadata["Name"]) not in allowed:
            continue
        base = Path(dist.locate_file(""))
        names = {f.parts[0] for f in (dist.files or []) if f.parts and f.parts[0] not in ("..", "__pycache__")}
        info = getattr(dist, "_path", None)
        if info is not None:
            names.add(Path(info).name)
        for name in names:
            src, dst = base / name, site / name
            if src.exists() and not dst.exists() and not name.endswith(".pth"):
                dst.symlink_to(src)
    return where / "bin" / "python"


def python312() -> str | None:
    """A working python3.12 (PATH, or pyenv's versions), or None."""
    candidates = [shutil.which("python3.12")] + sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    for c in candidates:
        if c and subprocess.run([c, "-c", "pass"], capture_output=True).returncode == 0:
            return c
    return None


def check(wheels: list[dict]) -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="loadout-gpu-check-") as tmp:
        py = isolated_venv(Path(tmp) / "venv", tuple(w["name"] for w in wheels))
        print(f"[gpu-prepare] dry run in an isolated venv (GPU machine's packages + {[w['name'] for w in wheels]}), "
              f"ComfyUI from {GPU_DIR / 'comfyui'} ...", flush=True)
        env = dict(os.environ, LOADOUT_GPU_COMFYUI=str(GPU_DIR / "comfyui"), PYTHONNOUSERSITE="1")
        env.pop("PYTHONPATH", None)
        res = subprocess.run([str(py), str(REPO / "bench" / "gpu" / "suite.py"), "--dry-run", "--out",
                              str(Path(tmp) / "out")], cwd=REPO, env=env, capture_output=True, text=True)
        missing = sorted(set(re.findall(r"No module named '([^']+)'", res.stderr)))
        print(res.stdout[-4000:])
        if res.returncode:
            failures += 1
            print(f"[gpu-prepare] dry run FAILED in the isolated venv (exit {res.returncode}); modules missing: "
                  f"{missing or 'none named'}\n{res.stderr[-3000:]}", flush=True)
        elif "nodes.py not importable" in res.stdout:
            failures += 1
            why = [line for line in res.stdout.splitlines() if "nodes.py not importable" in line]
            print("[gpu-prepare] dry run passed, but without ComfyUI's nodes.py:\n" + "\n".join(why), flush=True)
        else:
            print("[gpu-prepare] dry run passed with only the GPU machine's packages and the carried wheels", flush=True)
        py312 = python312()
        if py312 is None:
            print("[gpu-prepare] python3.12 not found: the wheels' cp312 install was not checked", flush=True)
        else:
            target = Path(tmp) / "site312"
            whl = [str(GPU_DIR / "wheels" / w["file"]) for w in wheels]
            res = subprocess.run([py312, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                                  "--target", str(target), *whl], capture_output=True, text=True)
            pure = [w["name"] for w in wheels if w["name"] != "torchsde"]  # torchsde imports torch (none here)
            imp = subprocess.run([py312, "-c", "import " + ", ".join(pure)], capture_output=True, text=True,
                                 env=dict(os.environ, PYTHONPATH=str(target)))
            ok = res.returncode == 0 and imp.returncode == 0
            failures += 0 if ok else 1
            print(f"[gpu-prepare] Python 3.12: wheels {'installed' if res.returncode == 0 else 'FAILED to install'}"
                  f", import {', '.join(pure)}: {'ok' if imp.returncode == 0 else 'FAILED ' + imp.stderr[-500:]}",
                  flush=True)
    return failures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", help="ComfyUI to copy from (default: the harness's, as the tests use)")
    ap.add_argument("--no-av", action="store_true", help="do not carry PyAV (see the usage above)")
    ap.add_argument("--check", action="store_true", help="run the isolated dry run and the Python 3.12 wheel check")
    args = ap.parse_args(argv)
    GPU_DIR.mkdir(exist_ok=True)
    comfy = copy_comfyui(source_comfyui(args.comfyui), GPU_DIR / "comfyui")
    print(f"[gpu-prepare] ComfyUI {comfy['version']}: {comfy['files']} files, {comfy['bytes'] / 2**20:.1f} MiB "
          f"-> .gpu/comfyui ({len(comfy['left_out'])} data files over {MAX_DATA_FILE // 1024} KiB left out)")
    names = {k: v for k, v in WHEELS.items() if not (args.no_av and k == "av")}
    wheels = fetch_wheels(GPU_DIR / "wheels", names)
    for w in wheels:
        print(f"[gpu-prepare] wheel {w['file']} ({w['bytes'] / 2**20:.1f} MiB)")
    travel = travel_estimate()
    manifest = {"comfyui": comfy, "wheels": wheels, "travel": travel}
    (GPU_DIR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    travel = travel_estimate()  # with the manifest
    mib = lambda n: f"{n / 2**20:.1f} MiB"  # noqa: E731
    print(f"[gpu-prepare] travels: tracked {mib(travel['tracked_bytes'])} + untracked {mib(travel['untracked_bytes'])}"
          f" + .gpu {mib(travel['gpu_bytes'])} = {mib(travel['total_bytes'])} of {mib(TRAVEL_LIMIT)}")
    if not travel["fits"]:
        print("[gpu-prepare] TOO LARGE to travel. Largest untracked, not ignored: "
              + ", ".join(f"{k} {mib(v)}" for k, v in travel["largest_untracked"])
              + " (ignore or remove them; or --no-av)", file=sys.stderr)
    failures = check(wheels) if args.check else 0
    print("[gpu-prepare] device command: bash bench/gpu/run_on_device.sh   (carry: [\".gpu\"])")
    return 1 if failures or not travel["fits"] else 0


if __name__ == "__main__":
    sys.exit(main())
