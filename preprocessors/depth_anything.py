"""Depth Anything v1 and v2 from their original checkpoint files, run as transformers'
``DepthAnythingForDepthEstimation`` (a ``depth.DepthModel``, so ``depth.estimate_depth`` runs it as it runs a
model folder). Nothing downloads.

The files (``FILES``; the licences are those their publishers state, checked where noted):

  * v2: ``depth_anything_v2_vit{s,b,l}.pth`` from depth-anything/Depth-Anything-V2-{Small,Base,Large} on Hugging
    Face. Small is Apache-2.0; Base and Large are CC-BY-NC-4.0 (non-commercial), as the Depth-Anything-V2
    README and the model cards say.
  * v1: ``depth_anything_vit{s,b,l}14.pth`` from the LiheYoung/Depth-Anything space on Hugging Face
    (``checkpoints/``); Apache-2.0, as the LiheYoung/Depth-Anything repository states for its code and models
    (its LICENSE file was not at hand to check).
  * also read: v2's metric checkpoints ``depth_anything_v2_metric_{hypersim,vkitti}_vit{s,b,l}.pth``
    (depth-anything/Depth-Anything-V2-Metric-{Hypersim,VKITTI}-*): the same layout, with a sigmoid head scaled
    by the maximum depth they were trained for (20 m indoors, 80 m outdoors). ``estimate_depth`` inverts their
    distances to near = bright.

The layout (both versions): a plain state dict of the original ``DepthAnything(V2)`` module, ``pretrained.*`` its
DINOv2 ViT-14 (``cls_token``, ``mask_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.<i>.{norm1, attn.qkv,
attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}``, ``norm``) and ``depth_head.*`` its DPT head
(``projects.<i>``, ``resize_layers.<0|1|3>`` — entry 2 is an identity —, ``scratch.layer<k>_rn``,
``scratch.refinenet<k>.{resConfUnit1, resConfUnit2}.conv<1|2>`` and ``.out_conv``, ``scratch.output_conv1``,
``scratch.output_conv2.<0|2>``). ``convert_state_dict`` renames it to transformers' layout: the fused ``qkv`` is
split into query, key and value (rows in that order); refinenet ``k`` (1 = the finest) is fusion layer ``4 - k``
(transformers fuses from the coarsest); the head's ``output_conv1``, ``output_conv2.0`` and ``.2`` are ``conv1``,
``conv2``, ``conv3``. The attention names follow the installed transformers (``attention.{q,k,v,o}_proj`` in 5.x,
``attention.attention.{query,key,value}`` and ``attention.output.dense`` in 4.x).

The architecture is read from the tensors: the width from ``pretrained.cls_token`` (384 / 768 / 1024: ViT-S / B /
L; heads of 64), the depth from the number of blocks, the MLP width from ``mlp.fc1``, the patch from
``patch_embed.proj``, the image size from the position grid, the neck widths from ``depth_head.projects``, the
fusion width from ``scratch.layer1_rn`` and the head's from ``output_conv2.0``. What the tensors cannot say is the
version, and the versions differ in one thing only, the ViT blocks the head reads:

  * v1: the last four blocks (``get_intermediate_layers(x, 4)``): transformers' ``out_indices`` 9–12 for ViT-S/B,
    21–24 for ViT-L;
  * v2: blocks spread over the depth (``intermediate_layer_idx`` 2, 5, 8, 11 for ViT-S/B and 4, 11, 17, 23 for
    ViT-L, 0-based): ``out_indices`` 3, 6, 9, 12 and 5, 12, 18, 24.

Both read the blocks through DINOv2's final norm, drop the class token, and end in a ReLU (v1's extra resize to the
input size is an identity: the head already is at patch x 14, the input's size). So the version comes from the
file name (``version_of``: ``depth_anything_v2_*`` is v2, ``depth_anything_vit?14*`` is v1) or is given.

The image processor is the one of the transformers conversions (``depth-anything/Depth-Anything-V2-*-hf``,
``LiheYoung/depth-anything-*-hf``), built from its settings (``PROCESSOR``): RGB / 255, resized bicubic keeping the
aspect ratio to a multiple of 14 near 518 ("as little scaling as possible", transformers' DPT rule, not the
original repositories' "lower bound": the two differ by a few pixels in the rounding and for images under 518
pixels), ImageNet mean and std. Folder models and file models so compute alike.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from .depth import DepthModel, quiet_transformers
from .weights import MODELS, check_fit, read_state_dict

KIND = "depth"  # the annotators sub-folder (weights.find_weight_file's ``subdir``; A1111's depth_anything too)
HEAD_DIM = 64  # DINOv2's attention heads are 64 wide at every size
V1_TAPS = 4  # v1 reads the last four blocks
V2_TAPS = {12: (3, 6, 9, 12), 24: (5, 12, 18, 24)}  # v2's blocks (1-based out_indices) by the ViT's depth
METRIC_MAX_DEPTH = {"hypersim": 20, "vkitti": 80}
# transformers' DPTImageProcessor settings of the converted Depth Anything repositories (preprocessor_config.json)
PROCESSOR = {"do_resize": True, "size": {"height": 518, "width": 518}, "keep_aspect_ratio": True,
             "ensure_multiple_of": 14, "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255,
             "do_normalize": True, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
             "do_pad": False}


class Published(NamedTuple):
    name: str
    version: int
    size: str  # vits / vitb / vitl
    source: str
    licence: str


_V2 = "https://huggingface.co/depth-anything/Depth-Anything-V2-{}"
_V1 = "https://huggingface.co/spaces/LiheYoung/Depth-Anything (checkpoints/)"
FILES = [
    Published("depth_anything_v2_vits.pth", 2, "vits", _V2.format("Small"), "Apache-2.0"),
    Published("depth_anything_v2_vitb.pth", 2, "vitb", _V2.format("Base"), "CC-BY-NC-4.0"),
    Published("depth_anything_v2_vitl.pth", 2, "vitl", _V2.format("Large"), "CC-BY-NC-4.0"),
    Published("depth_anything_vits14.pth", 1, "vits", _V1, "Apache-2.0"),
    Published("depth_anything_vitb14.pth", 1, "vitb", _V1, "Apache-2.0"),
    Published("depth_anything_vitl14.pth", 1, "vitl", _V1, "Apache-2.0"),
]
NAMES = [f.name for f in FILES]

_V2_NAME = re.compile(r"depth_anything_v2_(?:metric_(hypersim|vkitti)_)?vit[sblg]", re.IGNORECASE)
_V1_NAME = re.compile(r"depth_anything_vit[sbl]14", re.IGNORECASE)


def aux_repo(f: Published) -> str:
    """Where comfyui_controlnet_aux keeps a published file under its ``ckpts`` folder (``<repo>/<file>``, the
    repository it downloads from): ``depth-anything/Depth-Anything-V2-Large`` for v2, the v1 Space's
    ``LiheYoung/Depth-Anything/checkpoints`` for v1."""
    if f.version == 2:
        return "depth-anything/Depth-Anything-V2-" + {"vits": "Small", "vitb": "Base", "vitl": "Large"}[f.size]
    return "LiheYoung/Depth-Anything/checkpoints"


def version_of(name) -> tuple[int, int | None]:
    """(version, max_depth) a file's name says: (2, None) for ``depth_anything_v2_vits.pth``, (2, 20) for
    ``depth_anything_v2_metric_hypersim_vits.pth`` (metric), (1, None) for ``depth_anything_vits14.pth``. A name
    that says neither is a ValueError (the layouts are the same: the version cannot be read from the tensors)."""
    stem = Path(name).name
    m = _V2_NAME.search(stem)
    if m:
        return 2, METRIC_MAX_DEPTH[m.group(1).lower()] if m.group(1) else None
    if _V1_NAME.search(stem):
        return 1, None
    raise ValueError(f"{stem}: cannot tell Depth Anything v1 from v2 by this name; keep the published name "
                     f"({', '.join(NAMES)}) or say the version")


# --- the architecture, from the tensors ---------------------------------------------------------------------------

def _shape(sd: dict, key: str, what: str) -> tuple:
    if key not in sd:
        raise ValueError(f"not a Depth Anything checkpoint: no {key} ({what})")
    return tuple(sd[key].shape)


def make_config(sd: dict, version: int = 2, max_depth: int | None = None):
    """transformers' ``DepthAnythingConfig`` for an original checkpoint's state dict (see the module doc)."""
    from transformers import DepthAnythingConfig, Dinov2Config

    if version not in (1, 2):
        raise ValueError(f"Depth Anything version {version!r}: 1 or 2")
    hidden = _shape(sd, "pretrained.cls_token", "the ViT's class token")[-1]
    blocks = re.compile(r"pretrained\.blocks\.(\d+)\.")
    depth = 1 + max((int(m.group(1)) for k in sd if (m := blocks.match(k))), default=-1)
    if depth < V1_TAPS:
        raise ValueError(f"not a Depth Anything checkpoint: {depth} ViT blocks")
    mlp = _shape(sd, "pretrained.blocks.0.mlp.fc1.weight", "the ViT's MLP")[0]
    patch = _shape(sd, "pretrained.patch_embed.proj.weight", "the patch embedding")[-1]
    grid = _shape(sd, "pretrained.pos_embed", "the position embedding")[1] - 1
    side = round(grid ** 0.5)
    if side * side != grid or hidden % HEAD_DIM or mlp % hidden:
        raise ValueError(f"not a Depth Anything checkpoint: width {hidden}, MLP {mlp}, {grid} positions")
    if version == 1:
        taps = list(range(depth - V1_TAPS + 1, depth + 1))
    elif depth in V2_TAPS:
        taps = list(V2_TAPS[depth])
    else:
        raise ValueError(f"a Depth Anything v2 checkpoint of {depth} ViT blocks: only ViT-S/B (12) and ViT-L (24) "
                         f"are known")
    neck = [_shape(sd, f"depth_head.projects.{i}.weight", "the neck")[0] for i in range(4)]
    fusion = _shape(sd, "depth_head.scratch.layer1_rn.weight", "the fusion path")[0]
    head = _shape(sd, "depth_head.scratch.output_conv2.0.weight", "the head")[0]
    backbone = Dinov2Config(hidden_size=hidden, num_hidden_layers=depth, num_attention_heads=hidden // HEAD_DIM,
                            mlp_ratio=mlp // hidden, patch_size=patch, image_size=side * patch,
                            qkv_bias="pretrained.blocks.0.attn.qkv.bias" in sd, layer_norm_eps=1e-6,
                            out_indices=taps, apply_layernorm=True, reshape_hidden_states=False)
    metric = {} if max_depth is None else {"depth_estimation_type": "metric", "max_depth": max_depth}
    return DepthAnythingConfig(backbone_config=backbone, patch_size=patch, reassemble_hidden_size=hidden,
                               reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=neck,
                               fusion_hidden_size=fusion, head_hidden_size=head, head_in_index=-1, **metric)


# --- the key conversion -------------------------------------------------------------------------------------------

# (original, transformers) by regular expression; {a} stands for the attention's names (``_attention_names``)
_BLOCK = {"norm1": "norm1", "norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
_FUSION = {"out_conv": "projection", "resConfUnit1.conv1": "residual_layer1.convolution1",
           "resConfUnit1.conv2": "residual_layer1.convolution2", "resConfUnit2.conv1": "residual_layer2.convolution1",
           "resConfUnit2.conv2": "residual_layer2.convolution2"}
_FIXED = {
    "pretrained.cls_token": "backbone.embeddings.cls_token",
    "pretrained.mask_token": "backbone.embeddings.mask_token",
    "pretrained.pos_embed": "backbone.embeddings.position_embeddings",
    "pretrained.patch_embed.proj.weight": "backbone.embeddings.patch_embeddings.projection.weight",
    "pretrained.patch_embed.proj.bias": "backbone.embeddings.patch_embeddings.projection.bias",
    "pretrained.norm.weight": "backbone.layernorm.weight",
    "pretrained.norm.bias": "backbone.layernorm.bias",
    "depth_head.scratch.output_conv1.weight": "head.conv1.weight",
    "depth_head.scratch.output_conv1.bias": "head.conv1.bias",
    "depth_head.scratch.output_conv2.0.weight": "head.conv2.weight",
    "depth_head.scratch.output_conv2.0.bias": "head.conv2.bias",
    "depth_head.scratch.output_conv2.2.weight": "head.conv3.weight",
    "depth_head.scratch.output_conv2.2.bias": "head.conv3.bias",
}
_RE_BLOCK = re.compile(r"pretrained\.blocks\.(\d+)\.(.+)\.(weight|bias|gamma)$")
_RE_HEAD = re.compile(r"depth_head\.(projects|resize_layers)\.(\d)\.(weight|bias)$")
_RE_RN = re.compile(r"depth_head\.scratch\.layer([1-4])_rn\.weight$")
_RE_FUSION = re.compile(r"depth_head\.scratch\.refinenet([1-4])\.(.+)\.(weight|bias)$")

NEW_ATTENTION = ("attention.q_proj", "attention.k_proj", "attention.v_proj", "attention.o_proj")  # transformers 5
OLD_ATTENTION = ("attention.attention.query", "attention.attention.key", "attention.attention.value",
                 "attention.output.dense")  # transformers 4


def _attention_names(model_keys) -> tuple[str, str, str, str]:
    """The names of layer 0's query, key, value and output projections in this transformers."""
    for names in (NEW_ATTENTION, OLD_ATTENTION):
        if f"backbone.encoder.layer.0.{names[0]}.weight" in model_keys:
            return names
    raise RuntimeError("this transformers names Dinov2's attention in an unknown way")


def _renamed(key: str, attention) -> str | None:
    """The transformers name of an original key (None: not one of the layout's keys, or the fused qkv)."""
    if key in _FIXED:
        return _FIXED[key]
    if m := _RE_BLOCK.match(key):
        i, part, leaf = m.groups()
        base = f"backbone.encoder.layer.{i}."
        if leaf == "gamma":
            return f"{base}layer_scale{part[2]}.lambda1" if part in ("ls1", "ls2") else None
        if part == "attn.proj":
            return f"{base}{attention[3]}.{leaf}"
        return f"{base}{_BLOCK[part]}.{leaf}" if part in _BLOCK else None
    if m := _RE_HEAD.match(key):
        kind, i, leaf = m.groups()
        return f"neck.reassemble_stage.layers.{i}.{'projection' if kind == 'projects' else 'resize'}.{leaf}"
    if m := _RE_RN.match(key):
        return f"neck.convs.{int(m.group(1)) - 1}.weight"
    if m := _RE_FUSION.match(key):
        k, part, leaf = m.groups()
        return f"neck.fusion_stage.layers.{4 - int(k)}.{_FUSION[part]}.{leaf}" if part in _FUSION else None
    return None


def _hf_names(sd: dict, attention) -> dict:
    """The original checkpoint renamed (``attention``: the installed transformers' names); keys that are not the
    layout's keep their names (the strict check reports them)."""
    out = {}
    qkv = re.compile(r"pretrained\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)$")
    for key, value in sd.items():
        if m := qkv.match(key):
            i, leaf = m.groups()
            if value.shape[0] % 3:
                out[key] = value  # not a fused projection: reported as unexpected
                continue
            for name, part in zip(attention[:3], value.chunk(3, dim=0)):
                out[f"backbone.encoder.layer.{i}.{name}.{leaf}"] = part.clone()
            continue
        new = _renamed(key, attention)
        out[key if new is None else new] = value
    return out


def _network(config, meta: bool):
    import torch
    from transformers import DepthAnythingForDepthEstimation

    quiet_transformers()
    if meta:
        with torch.device("meta"):
            return DepthAnythingForDepthEstimation(config)
    return DepthAnythingForDepthEstimation(config)


def convert_state_dict(sd: dict, version: int = 2, max_depth: int | None = None) -> tuple:
    """(transformers ``DepthAnythingConfig``, its state dict) for an original Depth Anything state dict (``version``
    1 or 2, ``max_depth`` for a metric v2 file; see ``version_of``). The state dict's keys are the original's
    renamed; a key that is not part of the layout stays as it is (``load_depth_anything`` refuses it)."""
    config = make_config(sd, version, max_depth)
    keys = _network(config, meta=True).state_dict().keys()
    return config, _hf_names(sd, _attention_names(keys))


# --- loading ------------------------------------------------------------------------------------------------------

def make_processor():
    """The converted repositories' image processor (``PROCESSOR``), built here (nothing is read nor downloaded)."""
    from transformers import DPTImageProcessor

    return DPTImageProcessor(**PROCESSOR)


def load_depth_anything(path, version: int | None = None) -> DepthModel:
    """An original Depth Anything checkpoint (.pth or .safetensors) as a ``depth.DepthModel`` for
    ``depth.estimate_depth``: transformers' network with the file's weights (strict keys and shapes: a file that
    does not fit is a ValueError naming it; CPU, float32, eval) and the converted repositories' processor.
    ``version`` None: from the file's name (``version_of``). Cached per file and version (``weights.MODELS``)."""
    try:
        named, max_depth = version_of(path)
    except ValueError:
        if version is None:
            raise
        named, max_depth = version, None
    version = named if version is None else version
    max_depth = max_depth if version == 2 else None
    return MODELS.get(path, extra=("depth-anything", version, max_depth),
                      load=lambda p: _read(p, version, max_depth)).value


def _read(path, version: int, max_depth: int | None) -> DepthModel:
    path = Path(path)
    raw = read_state_dict(path)
    try:
        config, sd = convert_state_dict(raw, version, max_depth)
    except ValueError as e:
        raise ValueError(f"{path.name}: {e} ({path})") from None
    net = _network(config, meta=True)
    check_fit(net, sd, path, f"Depth Anything v{version} ({_size(config)})")
    net.load_state_dict(sd, strict=True, assign=True)
    net = net.eval().requires_grad_(False).float()
    return DepthModel(path, net, make_processor())


def _size(config) -> str:
    bc = config.backbone_config
    return {384: "ViT-S", 768: "ViT-B", 1024: "ViT-L"}.get(bc.hidden_size, f"ViT of width {bc.hidden_size}") + \
        f"/{bc.patch_size}"
