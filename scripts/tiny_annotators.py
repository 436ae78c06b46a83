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
    <annotators>/depth/depth_anything_v2_vits.pth        an original Depth Anything v2 checkpoint (the published
                                                          keys, a narrow network; ~3 MB)
    <annotators>/dwpose/yolox_l.onnx, dw-ll_ucoco_384.onnx  DWPose's two ONNX files: their input/output names and
                                                          shapes, small seeded graphs (~3 MB; needs onnx)
    <annotators>/midas/dpt_hybrid-midas-501f0c75.pt      MiDaS DPT-hybrid, the file's keys and (fixed) shapes, fp32
                                                          (~490 MB; only with --midas: make_tiny_models.py asks for
                                                          it, the unit tests write theirs to a temporary folder)

Usage: python scripts/tiny_annotators.py ANNOTATORS_DIR [--anime] [--midas]
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


def _attention_names(keys):
    if "backbone.encoder.layer.0.attention.q_proj.weight" in keys:
        return "attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.o_proj"
    return ("attention.attention.query", "attention.attention.key", "attention.attention.value",
            "attention.output.dense")


def original_layout(hf: dict, layers: int) -> dict:
    """The original Depth Anything checkpoint (DepthAnything/Depth-Anything-V2 ``depth_anything_v2/dpt.py`` +
    ``dinov2.py``, LiheYoung/Depth-Anything ``depth_anything/dpt.py`` module names) of a transformers
    ``DepthAnythingForDepthEstimation`` state dict: DINOv2 as ``pretrained``, the DPT head as ``depth_head``
    (refinenet1 is the finest fusion block, transformers' last; qkv fused q, k, v); every tensor goes to exactly
    one key. The oracle of tests/unit/test_depth_anything_ckpt.py, and the writer of the harness's tiny file."""
    import torch

    q, k, v, o = _attention_names(hf)
    used, raw = set(), {}

    def take(name):
        used.add(name)
        return hf[name]

    for ours, theirs in [("cls_token", "embeddings.cls_token"), ("mask_token", "embeddings.mask_token"),
                         ("pos_embed", "embeddings.position_embeddings"),
                         ("patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight"),
                         ("patch_embed.proj.bias", "embeddings.patch_embeddings.projection.bias"),
                         ("norm.weight", "layernorm.weight"), ("norm.bias", "layernorm.bias")]:
        raw["pretrained." + ours] = take("backbone." + theirs)
    for i in range(layers):
        src, dst = f"backbone.encoder.layer.{i}.", f"pretrained.blocks.{i}."
        for leaf in ("weight", "bias"):
            raw[f"{dst}attn.qkv.{leaf}"] = torch.cat([take(f"{src}{n}.{leaf}") for n in (q, k, v)])
            raw[f"{dst}attn.proj.{leaf}"] = take(f"{src}{o}.{leaf}")
            for n in ("norm1", "norm2", "mlp.fc1", "mlp.fc2"):
                raw[f"{dst}{n}.{leaf}"] = take(f"{src}{n}.{leaf}")
        raw[f"{dst}ls1.gamma"] = take(f"{src}layer_scale1.lambda1")
        raw[f"{dst}ls2.gamma"] = take(f"{src}layer_scale2.lambda1")
    for i in range(4):
        for leaf in ("weight", "bias"):
            raw[f"depth_head.projects.{i}.{leaf}"] = take(f"neck.reassemble_stage.layers.{i}.projection.{leaf}")
            if i != 2:  # resize_layers[2] is nn.Identity()
                raw[f"depth_head.resize_layers.{i}.{leaf}"] = take(f"neck.reassemble_stage.layers.{i}.resize.{leaf}")
    for n in range(1, 5):
        raw[f"depth_head.scratch.layer{n}_rn.weight"] = take(f"neck.convs.{n - 1}.weight")
        fusion = f"neck.fusion_stage.layers.{4 - n}."
        for leaf in ("weight", "bias"):
            raw[f"depth_head.scratch.refinenet{n}.out_conv.{leaf}"] = take(f"{fusion}projection.{leaf}")
            for u in (1, 2):
                for c in (1, 2):
                    raw[f"depth_head.scratch.refinenet{n}.resConfUnit{u}.conv{c}.{leaf}"] = take(
                        f"{fusion}residual_layer{u}.convolution{c}.{leaf}")
    for ours, theirs in [("output_conv1", "conv1"), ("output_conv2.0", "conv2"), ("output_conv2.2", "conv3")]:
        for leaf in ("weight", "bias"):
            raw[f"depth_head.scratch.{ours}.{leaf}"] = take(f"head.{theirs}.{leaf}")
    assert used == set(hf), sorted(set(hf) - used)[:5]  # every tensor placed, once
    return {key: t.clone() for key, t in raw.items()}


DEPTH_ANYTHING_CKPT = "depth_anything_v2_vits.pth"


def seed_depth_anything(model, seed: int):
    """A transformers Depth Anything with every tensor drawn from ``seed`` at its fan-in's scale (transformers'
    0.02 init gives a flat map): norms 1 + N(0, 0.1), layer scales 0.5 + N(0, 0.1), the rest N(0, 1 / fan-in)
    (biases 1/25); the head's last bias 2, so the final ReLU's input stays positive: a graded map, not zeros. Also
    the oracle's seeding in tests/unit/test_depth_anything_ckpt.py."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * noise)
            elif "layer_scale" in name:
                p.copy_(0.5 + 0.1 * noise)
            else:
                p.copy_(noise / (max(1, p[0].numel()) if p.dim() > 1 else 25) ** 0.5)
        model.head.conv3.bias.fill_(2.0)
    return model


def make_tiny_depth_anything_ckpt(dest_file: Path, seed: int = SEED) -> Path:
    """``depth/depth_anything_v2_vits.pth``: an original-layout v2 checkpoint (a plain state dict, fp32, the
    published keys) of a narrow network (width 64, one head, 12 blocks read at 3/6/9/12 as v2's ViT-S is), seeded;
    Loadout's loader reads the architecture from the tensors (~3 MB)."""
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    _quiet()
    torch.manual_seed(seed)
    backbone = Dinov2Config(hidden_size=64, num_hidden_layers=12, num_attention_heads=1, mlp_ratio=2, patch_size=14,
                            image_size=518, out_indices=[3, 6, 9, 12], reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=64, neck_hidden_sizes=[8, 16, 32, 64],
                              fusion_hidden_size=16, head_hidden_size=8, patch_size=14)
    model = seed_depth_anything(DepthAnythingForDepthEstimation(cfg), seed)
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(original_layout(model.state_dict(), 12), dest_file)
    return dest_file


def make_tiny_midas(dest_file: Path, seed: int = SEED) -> Path:
    """``midas/dpt_hybrid-midas-501f0c75.pt``: Loadout's DPT-hybrid (preprocessors/midas.py, the file's keys and
    shapes: ViT-hybrid base, whose sizes are fixed) with seeded random weights, fp32 as published (~490 MB; made
    once per harness). Needs timm."""
    import torch
    from loadout.preprocessors import midas

    torch.manual_seed(seed)
    net = midas.build_midas().eval()  # timm's and torch's own seeded initialisation
    last, seen = net.scratch.output_conv[4], []
    hook = last.register_forward_hook(lambda module, inputs, output: seen.append(output.clone()))
    try:  # shift the last conv's bias so that 10% of a probe's depth is clipped by the final ReLU: a graded map
        with torch.no_grad():
            net(torch.from_numpy(probe_image(seed, 128)).float().permute(2, 0, 1)[None] / 127.5 - 1.0)
    finally:
        hook.remove()
    with torch.no_grad():
        last.bias -= torch.quantile(seen[0].flatten(), 0.1)
    dest_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), dest_file)
    return dest_file


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


DWPOSE_SEED = 20231122
# (level stride, cell x, cell y, box w and h in strides, objectness logit, class logits {class: logit})
DWPOSE_BOXES = [
    (32, 8, 9, 9.0, 14.0, 4.0, {0: 4.0}),     # the main person
    (32, 9, 9, 9.0, 14.0, 2.0, {0: 2.0}),     # the same person again, lower: suppressed by NMS
    (16, 30, 10, 6.0, 10.0, 3.0, {0: 1.0}),   # a second, smaller person
    (8, 20, 60, 4.0, 4.0, 4.0, {0: -4.0, 1: 4.0}),  # a bicycle: not a person
    (16, 5, 30, 5.0, 5.0, 0.0, {0: 0.0}),     # a person scoring 0.25: under the threshold
]


def _cell(stride, gx, gy):
    offset = {8: 0, 16: 80 * 80, 32: 80 * 80 + 40 * 40}[stride]
    return offset + gy * (640 // stride) + gx


def make_tiny_dwpose(dest_dir: Path) -> tuple[Path, Path]:
    """``dwpose/yolox_l.onnx`` and ``dwpose/dw-ll_ucoco_384.onnx``: small seeded ONNX models with the real files'
    input/output names and shapes (tests/unit/test_dwpose_reference.py compares Loadout's DWPose with rtmlib's on
    them). The detector maps ``images`` 1x3x640x640 to 1x8400x85 as YOLOX-L does (raw boxes, sigmoid objectness and
    classes) from a fixed prediction grid plus a small input-dependent 1x1 projection of each stride's pooled image,
    placed so that two person boxes pass (one more is suppressed by NMS, one scores under 0.3, one is another
    class); the pose model maps 1x3x384x288 to ``simcc_x`` 1x133x576 and ``simcc_y`` 1x133x768, a Gaussian peak per
    point whose place and height depend on the crop, with different heights on the two axes (~3 MB). Needs onnx."""
    import numpy as np
    import torch

    class FakeYolox(torch.nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(DWPOSE_SEED)
            base = torch.zeros(8400, 85)
            base[:, :2] = torch.rand(8400, 2, generator=g) * 0.6 + 0.2
            base[:, 2:4] = torch.randn(8400, 2, generator=g) * 0.3 + 0.7
            base[:, 4] = -8.0
            base[:, 5:] = -4.0 + torch.randn(8400, 80, generator=g) * 0.5
            for stride, gx, gy, w, h, obj, cls in DWPOSE_BOXES:
                i = _cell(stride, gx, gy)
                base[i, :4] = torch.tensor([0.5, 0.5, np.log(w), np.log(h)])
                base[i, 4] = obj
                for c, logit in cls.items():
                    base[i, 5 + c] = logit
            self.register_buffer("base", base[None])
            self.proj = torch.nn.Conv2d(3, 85, 1)
            with torch.no_grad():
                self.proj.weight.copy_(torch.randn(85, 3, 1, 1, generator=g) * 0.08)
                self.proj.bias.zero_()

        def forward(self, images):
            levels = [self.proj(torch.nn.functional.avg_pool2d(images / 255.0, s, s)).flatten(2).transpose(1, 2)
                      for s in (8, 16, 32)]
            t = torch.cat(levels, 1) + self.base
            return torch.cat([t[..., :4], torch.sigmoid(t[..., 4:])], -1)


    class FakePose(torch.nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(DWPOSE_SEED + 1)
            self.heads = torch.nn.ModuleList(torch.nn.Linear(48, 133) for _ in range(4))
            with torch.no_grad():
                for k, head in enumerate(self.heads):
                    head.weight.copy_(torch.randn(133, 48, generator=g) * (1.0 if k < 2 else 0.6))
                    head.bias.copy_(torch.randn(133, generator=g) * (0.5 if k < 2 else 1.5))
            self.register_buffer("bins_x", torch.arange(576, dtype=torch.float32))
            self.register_buffer("bins_y", torch.arange(768, dtype=torch.float32))

        def forward(self, x):
            f = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
            px, py = (torch.sigmoid(h(f))[..., None] for h in self.heads[:2])
            ax, ay = (torch.sigmoid(h(f))[..., None] for h in self.heads[2:])
            simcc_x = ax * torch.exp(-(self.bins_x - px * 575) ** 2 / 8.0)
            simcc_y = ay * torch.exp(-(self.bins_y - py * 767) ** 2 / 8.0)
            return simcc_x, simcc_y

    det, pose = dest_dir / "yolox_l.onnx", dest_dir / "dw-ll_ucoco_384.onnx"
    dest_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        export_onnx(FakeYolox(), (1, 3, 640, 640), det, ["images"], ["output"])
        export_onnx(FakePose(), (1, 3, 384, 288), pose, ["input"], ["simcc_x", "simcc_y"])
    return det, pose


def export_onnx(net, shape, path, inputs, outputs):
    """``net`` as an ONNX file (opset 17, torch's TorchScript exporter, quietly)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net.eval(), (torch.zeros(shape),), str(path), input_names=inputs, output_names=outputs,
                          opset_version=17, dynamo=False)


def make_all(root: Path, anime: bool = False, midas: bool = False) -> None:
    make_tiny_mlsd(root / "mlsd" / "mlsd_large_512_fp32.pth")
    make_tiny_depth_anything(root / "depth" / DEPTH_NAME)
    make_tiny_depth_anything_ckpt(root / "depth" / DEPTH_ANYTHING_CKPT)
    make_tiny_dwpose(root / "dwpose")
    if midas:
        make_tiny_midas(root / "midas" / "dpt_hybrid-midas-501f0c75.pt")
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
    ap.add_argument("--midas", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from harness.inprocess import import_pack

    import_pack()
    make_all(args.annotators, args.anime, args.midas)
    return 0


if __name__ == "__main__":
    sys.exit(main())
