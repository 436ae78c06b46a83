"""Tiny random-initialised annotator models in their real formats, for tests and the demo (never committed).

    <annotators>/depth/loadout-tiny-depth-anything/     Depth Anything (transformers): config.json,
                                                          model.safetensors, preprocessor_config.json (~0.7 MB)
    <annotators>/segmentation/loadout-tiny-segformer-ade20k/  SegFormer with ADE20K's 150 labels (~0.3 MB)
    <annotators>/mlsd/mlsd_large_512_fp32.pth            the M-LSD large layout (fp16, ~3 MB)
    <annotators>/lineart/sk_model.pth                    the lineart "realistic" generator layout (fp16, ~9 MB)
    <annotators>/lineart/netG.pth                        the anime lineart U-Net layout (fp16, ~109 MB; only
                                                          with --anime: the tests write it to a temporary folder)

Usage: python scripts/tiny_annotators.py ANNOTATORS_DIR [--anime]
Random weights: outputs are noise-like but have the real shapes, dtypes and loading paths.
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


def make_all(root: Path, anime: bool = False) -> None:
    make_tiny_mlsd(root / "mlsd" / "mlsd_large_512_fp32.pth")
    make_tiny_depth_anything(root / "depth" / DEPTH_NAME)
    make_tiny_segformer_ade20k(root / "segmentation" / SEG_NAME)
    make_tiny_lineart_realistic(root / "lineart" / "sk_model.pth")
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
