"""Reading LoRA files without ever executing pickled code."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

from ..common.errors import PICKLE_FIX, pickle_refusal_text


class LoraFileError(ValueError):
    """A LoRA file that cannot be used; the message names the file and the fix."""


def read_lora_file(path) -> tuple[dict, dict]:
    """Return ``(tensors, metadata)``. ``.safetensors``/``.sft`` are memory-safe by design; ``.pt``, ``.pth``,
    ``.ckpt`` and ``.bin`` are read with ``torch.load(weights_only=True)``, which refuses pickled callables."""
    import torch

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".safetensors", ".sft"):
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                metadata = dict(f.metadata() or {})
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
            raise LoraFileError(f"{path.name} is not a readable safetensors file ({e}); it may be truncated or "
                                "corrupt: download it again") from None
        return tensors, metadata
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise LoraFileError(f"{pickle_refusal_text(path.name)} ({str(e).splitlines()[0][:200]}); "
                            f"{PICKLE_FIX}") from None
    except Exception as e:  # noqa: BLE001 - torch's unpickler raises IndexError, KeyError, ... on garbage
        raise LoraFileError(f"{path.name} could not be read as a PyTorch file ({type(e).__name__}: "
                            f"{str(e)[:200]}); it may be truncated, corrupt or not a LoRA at all") from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise LoraFileError(f"{path.name} does not hold a dict of tensors: not a LoRA")
    return dict(data), {}


def non_finite_keys(tensors: dict) -> list[str]:
    """The keys (sorted) of floating-point tensors holding a NaN or an infinity: such a file makes every image it
    touches NaN, so the Apply node refuses it. Checked once when the file is read (the result is cached with it)."""
    import torch

    return sorted(k for k, t in tensors.items()
                  if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()))


def detect_format(keys) -> str:
    """A short name for the key layout, for the report."""
    keys = list(keys)
    if any(".hada_w1_a" in k for k in keys):
        return "LyCORIS LoHa"
    if any(".lokr_w1" in k for k in keys):
        return "LyCORIS LoKr"
    if any(k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")) for k in keys):
        return "kohya" + (" + DoRA" if any(k.endswith(".dora_scale") for k in keys) else "")
    if any(".lora_A." in k or k.endswith(".lora_A.weight") for k in keys):
        return "diffusers/PEFT"
    if any(".lora.down." in k or "_lora.down." in k or ".lora_linear_layer." in k for k in keys):
        return "diffusers (attention processors)"
    if any(k.endswith(".lora_down.weight") for k in keys):
        return "LoRA (lora_up/lora_down)"
    if any(k.endswith(".diff") for k in keys):
        return "full weight diff"
    return "unknown"
