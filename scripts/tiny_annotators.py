"""Tiny random-initialised annotator models in their real formats, for tests and the demo (never committed).

    <annotators>/depth/loadout-tiny-depth-anything/     Depth Anything (transformers): config.json,
                                                          model.safetensors, preprocessor_config.json (~0.7 MB)
    <annotators>/segmentation/loadout-tiny-segformer-ade20k/  SegFormer with ADE20K's 150 labels (~0.3 MB)
    <annotators>/mlsd/mlsd_large_512_fp32.pth            the M-LSD large layout (fp16, ~3 MB)
    <annotators>/lineart/sk_model.pth                    the lineart "realistic" generator layout (fp16, ~9 MB)
    <annotators>/lineart/netG.pth                        the anime lineart U-Net layout (fp16, ~109 MB; only
                                                          with --anime: the tests write it to a temporary folder)
    <annotators>/hed/ControlNetHED.pth                   lllyasviel's Apache-2.0 HED layout: a plain state dict,
                                                          fp16 as published (~29 MB)
    <annotators>/pidinet/table5_pidinet.pth              PiDiNet's release layout: {'state_dict': {'module.<key>':
                                                          fp32 tensor}} (~2.8 MB)

Usage: python scripts/tiny_annotators.py ANNOTATORS_DIR [--anime]
Random weights: outputs are noise-like but have the real shapes, dtypes and loading paths. The soft-edge files
(HED, PiDiNet) are scaled so that their edge probability spreads over 0–1 rather than saturating (He-initialised
convolutions, then the last linear layer set so that the logit has mean -2 and standard deviation 3 on a
seeded probe image): their maps, safe maps and scribbles have real structure, which the reference tests need.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SEED = 20261122
DEPTH_NAME = "loadout-tiny-depth-anything"
SEG_NAME = "loadout-tiny-segformer-ade20k"


def _quiet():
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def make_tiny_depth_anything(dest: Path, seed: int = SEED) -> Path:
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    _quiet()
    torch.manual_seed(seed)
    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                            patch_size=14, image_size=518, out_features=["stage1", "stage2", "stage3", "stage4"],
                            reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
                              fusion_hidden_size=16, head_hidden_size=8, patch_size=14)
    dest.mkdir(parents=True, exist_ok=True)
    DepthAnythingForDepthEstimation(cfg).save_pretrained(dest)
    DPTImageProcessor(do_resize=True, size={"height": 252, "width": 252}, keep_aspect_ratio=True,
                      ensure_multiple_of=14, resample=3, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                      image_std=[0.229, 0.224, 0.225]).save_pretrained(dest)
    return dest


def make_tiny_segformer_ade20k(dest: Path, seed: int = SEED) -> Path:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    _quiet()
    torch.manual_seed(seed + 1)
    cfg = SegformerConfig(num_labels=150, hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                          depths=[1, 1, 1, 1], decoder_hidden_size=32, sr_ratios=[8, 4, 2, 1],
                          id2label={i: f"class_{i}" for i in range(150)},
                          label2id={f"class_{i}": i for i in range(150)})
    dest.mkdir(parents=True, exist_ok=True)
    SegformerForSemanticSegmentation(cfg).save_pretrained(dest)
    SegformerImageProcessor(size={"height": 256, "width": 256}).save_pretrained(dest)
    return dest


def _save_random(net, dest: Path, seed: int) -> Path:
    import torch

    torch.manual_seed(seed)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in net.state_dict().items()}, dest)
    return dest


def make_tiny_lineart_realistic(dest_file: Path, seed: int = SEED) -> Path:
    from loadout.preprocessors.lineart_models import build_realistic

    return _save_random(build_realistic(), dest_file, seed + 2)


def make_tiny_lineart_anime(dest_file: Path, seed: int = SEED) -> Path:
    from loadout.preprocessors.lineart_models import build_anime

    return _save_random(build_anime(), dest_file, seed + 3)


def make_tiny_mlsd(dest_file: Path, seed: int = SEED) -> Path:
    from loadout.preprocessors.mlsd_model import build_mlsd

    return _save_random(build_mlsd(), dest_file, seed + 4)


def probe_image(seed: int = SEED, size: int = 128):
    """A seeded RGB uint8 image with smooth colour regions, edges and texture (the soft-edge calibration's input)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
    for k in range(6):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(8, size - 8, 2))
        r = int(rng.integers(6, size // 4))
        if k % 2:
            cv2.circle(img, (x, y), r, colour, -1)
        else:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), colour, -1)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _he_init(net, seed: int) -> None:
    """Seeded He-normal convolutions (std sqrt(2 / fan_in)), small biases: activations keep their scale through
    the depth instead of exploding or vanishing."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.ndim == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.normal_(0.0, (2.0 / fan_in) ** 0.5)
            else:
                p.normal_(0.0, 0.01)


def _set_logit(layers, mean_std: tuple, target=(-2.0, 3.0)) -> None:
    """Scale and shift the last linear layer(s) (weight and bias) so that a logit of (mean, std) ``mean_std``
    becomes ``target``; every layer in ``layers`` contributes linearly to the logit."""
    import torch

    a = target[1] / max(mean_std[1], 1e-12)
    b = target[0] - a * mean_std[0]
    with torch.no_grad():
        for conv in layers:
            conv.weight.mul_(a)
            conv.bias.mul_(a).add_(b)


def make_tiny_controlnet_hed(dest_file: Path, seed: int = SEED) -> Path:
    """``hed/ControlNetHED.pth``: our network's state dict (the published keys), seeded, fp16 as published."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from loadout.preprocessors.hed import build_controlnet_hed

    net = build_controlnet_hed().eval()
    _he_init(net, seed + 5)
    with torch.no_grad():
        net.norm.copy_(torch.tensor([123.7, 116.3, 103.5]).view(1, 3, 1, 1))
        x = torch.from_numpy(probe_image(seed).astype(np.float32)).permute(2, 0, 1)[None]
        sides = [F.interpolate(s, x.shape[-2:], mode="bilinear", align_corners=False) for s in net(x)]
        logit = torch.cat(sides, dim=1).mean(dim=1)
    blocks = [getattr(net, f"block{k + 1}").projection for k in range(5)]
    _set_logit(blocks, (float(logit.mean()), float(logit.std())))  # the mean of the 5 moves as each one
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in net.state_dict().items()}, dest_file)
    return dest_file


def make_tiny_pidinet(dest_file: Path, seed: int = SEED) -> Path:
    """``pidinet/table5_pidinet.pth``: {'state_dict': {'module.' + key: fp32 tensor}}, the published layout."""
    import numpy as np
    import torch

    from loadout.preprocessors.pidinet import build_pidinet

    net = build_pidinet().eval()
    _he_init(net, seed + 6)
    logits = []
    hook = net.classifier.register_forward_hook(lambda _m, _i, out: logits.append(out))
    with torch.no_grad():
        bgr = np.ascontiguousarray(probe_image(seed)[:, :, ::-1]).astype(np.float32) / 255.0
        net(torch.from_numpy(bgr).permute(2, 0, 1)[None])
    hook.remove()
    _set_logit([net.classifier], (float(logits[0].mean()), float(logits[0].std())))
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"module." + k: v.clone() for k, v in net.state_dict().items()}}, dest_file)
    return dest_file


def make_all(root: Path, anime: bool = False) -> None:
    make_tiny_mlsd(root / "mlsd" / "mlsd_large_512_fp32.pth")
    make_tiny_depth_anything(root / "depth" / DEPTH_NAME)
    make_tiny_segformer_ade20k(root / "segmentation" / SEG_NAME)
    make_tiny_lineart_realistic(root / "lineart" / "sk_model.pth")
    make_tiny_controlnet_hed(root / "hed" / "ControlNetHED.pth")
    make_tiny_pidinet(root / "pidinet" / "table5_pidinet.pth")
    if anime:
        make_tiny_lineart_anime(root / "lineart" / "netG.pth")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("annotators", type=Path)
    ap.add_argument("--anime", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from harness.inprocess import import_pack

    import_pack()
    make_all(args.annotators, args.anime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
