"""Depth Anything v1 / v2 from their original checkpoint files (``preprocessors.depth_anything``).

The oracle is transformers' own ``DepthAnythingForDepthEstimation`` built from the official configs of the converted
Hugging Face repositories (``depth-anything/Depth-Anything-V2-Small-hf``, ``LiheYoung/depth-anything-small-hf``),
with seeded random weights. Its original-layout checkpoint is written by ``original_layout``
(scripts/tiny_annotators.py, which also writes the harness's tiny checkpoint with it), from the
original repositories' module names (DepthAnything/Depth-Anything-V2 ``depth_anything_v2/dpt.py`` + ``dinov2.py``,
LiheYoung/Depth-Anything ``depth_anything/dpt.py``): every transformers tensor goes to exactly one original key.
That file, under its published name, is loaded through our loader, and the converted state dict and the depth maps
must equal the oracle's exactly. transformers' conversion script (whose tables would be the other oracle) is not
shipped in the installed package, so it cannot be imported here.
"""
import json

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("few_threads")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from loadout.preprocessors import depth, depth_anything  # noqa: E402
from tiny_annotators import original_layout, seed_depth_anything  # noqa: E402  (scripts/)

# config.json of the converted repositories (the fields that define the network)
V2_SMALL_HF = {
    "backbone_config": {"model_type": "dinov2", "hidden_size": 384, "image_size": 518, "num_attention_heads": 6,
                        "out_indices": [3, 6, 9, 12], "reshape_hidden_states": False},
    "fusion_hidden_size": 64, "head_hidden_size": 32, "head_in_index": -1, "neck_hidden_sizes": [48, 96, 192, 384],
    "patch_size": 14, "reassemble_factors": [4, 2, 1, 0.5], "reassemble_hidden_size": 384,
    "depth_estimation_type": "relative",
}
V1_SMALL_HF = {**V2_SMALL_HF, "backbone_config": {**V2_SMALL_HF["backbone_config"], "out_indices": [9, 10, 11, 12]}}
# preprocessor_config.json of the converted repositories
PREPROCESSOR_CONFIG = {
    "do_normalize": True, "do_pad": False, "do_rescale": True, "do_resize": True, "ensure_multiple_of": 14,
    "image_mean": [0.485, 0.456, 0.406], "image_processor_type": "DPTImageProcessor",
    "image_std": [0.229, 0.224, 0.225], "keep_aspect_ratio": True, "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"height": 518, "width": 518}, "size_divisor": None,
}
# Base and Large (transformers' conversion: Dinov2 base / large, their out_indices, fusion and neck widths)
SIZES = {
    "vitb": {"hidden": 768, "layers": 12, "heads": 12, "fusion": 128, "neck": [96, 192, 384, 768],
             "taps": {1: [9, 10, 11, 12], 2: [3, 6, 9, 12]}},
    "vitl": {"hidden": 1024, "layers": 24, "heads": 16, "fusion": 256, "neck": [256, 512, 1024, 1024],
             "taps": {1: [21, 22, 23, 24], 2: [5, 12, 18, 24]}},
}
BACKBONE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "mlp_ratio", "patch_size", "image_size",
                   "out_indices", "layer_norm_eps", "qkv_bias", "apply_layernorm", "reshape_hidden_states",
                   "use_swiglu_ffn", "hidden_act")
FIELDS = ("patch_size", "reassemble_hidden_size", "reassemble_factors", "neck_hidden_sizes", "fusion_hidden_size",
          "head_hidden_size", "head_in_index", "depth_estimation_type", "max_depth")


def hf_config(values: dict):
    from transformers import DepthAnythingConfig, Dinov2Config

    values = json.loads(json.dumps(values))
    bc = values.pop("backbone_config")
    bc.pop("model_type")
    return DepthAnythingConfig(backbone_config=Dinov2Config(**bc), **values)


def same_config(ours, ref):
    def value(config, f):
        v = getattr(config, f)
        return list(v) if isinstance(v, (list, tuple)) else v

    for f in BACKBONE_FIELDS:
        assert value(ours.backbone_config, f) == value(ref.backbone_config, f), f
    for f in FIELDS:
        assert value(ours, f) == value(ref, f), f


def random_model(values: dict, seed: int):
    """The oracle: transformers' network of an official config with seeded random weights (every tensor drawn, so
    a misplaced one changes the map; the head's last bias keeps the ReLU output positive)."""
    from transformers import DepthAnythingForDepthEstimation

    depth.quiet_transformers()
    torch.manual_seed(seed)
    model = seed_depth_anything(DepthAnythingForDepthEstimation(hf_config(values)), seed)
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def reference_processor(tmp_path_factory):
    """The converted repositories' processor as AutoImageProcessor reads their preprocessor_config.json."""
    from transformers import AutoImageProcessor

    folder = tmp_path_factory.mktemp("processor")
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG))
    return AutoImageProcessor.from_pretrained(folder, local_files_only=True)


CASES = {"v2-small": ("depth_anything_v2_vits.pth", V2_SMALL_HF, 2), "v1-small": ("depth_anything_vits14.pth",
                                                                                  V1_SMALL_HF, 1)}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    """(oracle model, path of its original checkpoint under the published name, official values, version)."""
    name, values, version = CASES[request.param]
    model = random_model(values, seed=version)
    path = tmp_path_factory.mktemp(request.param) / name
    torch.save(original_layout(model.state_dict(), model.config.backbone_config.num_hidden_layers), path)
    return model, path, values, version


def test_published_names():
    for f in depth_anything.FILES:
        assert depth_anything.version_of(f.name) == (f.version, None)
        assert f.source.startswith("https://huggingface.co/")
    assert {f.licence for f in depth_anything.FILES if f.version == 2 and f.size != "vits"} == {"CC-BY-NC-4.0"}
    assert depth_anything.version_of("depth_anything_v2_metric_hypersim_vitl.pth") == (2, 20)
    assert depth_anything.version_of("depth_anything_v2_metric_vkitti_vits.pth") == (2, 80)
    with pytest.raises(ValueError, match="v1 from v2"):
        depth_anything.version_of("pytorch_model.bin")


def test_state_dict_and_config_equal_the_oracle(case):
    model, path, values, version = case
    dm = depth_anything.load_depth_anything(path)
    assert isinstance(dm, depth.DepthModel) and dm.path == path
    assert depth_anything.version_of(path) == (version, None)
    same_config(dm.model.config, hf_config(values))
    ours, ref = dm.model.state_dict(), model.state_dict()
    assert list(ours) == list(ref)
    for key, t in ref.items():
        assert ours[key].dtype == torch.float32 and torch.equal(ours[key], t), key
    assert depth_anything.load_depth_anything(path) is dm  # cached per file
    assert not any(p.requires_grad for p in dm.model.parameters()) and not dm.model.training


def test_depth_maps_equal_the_oracle(case, photo, reference_processor):
    model, path, _values, _version = case
    dm = depth_anything.load_depth_anything(path)
    ref = depth.DepthModel(path.parent, model, reference_processor)
    small = np.ascontiguousarray(photo[::5, ::5])  # 120x103: the processor scales it up
    for image in (photo, small):
        pixels = depth._inputs(image, dm)
        assert torch.equal(pixels, depth._inputs(image, ref))
        ours = depth.estimate_depth(image, dm)
        theirs = depth.estimate_depth(image, ref)
        assert ours.shape == image.shape[:2] and ours.std() > 10  # a real map, not a constant
        np.testing.assert_array_equal(ours, theirs)
    with torch.inference_mode():
        pixels = depth._inputs(small, dm)
        assert torch.equal(dm.model(pixel_values=pixels).predicted_depth, model(pixel_values=pixels).predicted_depth)


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("version", [1, 2])
def test_base_and_large_configs(size, version):
    """Base and Large from shapes alone (meta tensors): the config transformers' conversion uses, and a state dict
    that fits its network key for key and shape for shape."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
    )

    s = SIZES[size]
    ref = DepthAnythingConfig(
        backbone_config=Dinov2Config(hidden_size=s["hidden"], num_hidden_layers=s["layers"],
                                     num_attention_heads=s["heads"], image_size=518, patch_size=14,
                                     out_indices=s["taps"][version], reshape_hidden_states=False),
        reassemble_hidden_size=s["hidden"], patch_size=14, fusion_hidden_size=s["fusion"],
        neck_hidden_sizes=s["neck"])
    with torch.device("meta"):
        hf = DepthAnythingForDepthEstimation(ref).state_dict()
    config, sd = depth_anything.convert_state_dict(original_layout(hf, s["layers"]), version)
    same_config(config, ref)
    if version == 2:  # the metric files: the same layout, a sigmoid head scaled to their maximum depth
        metric, _ = depth_anything.convert_state_dict(original_layout(hf, s["layers"]), 2, max_depth=20)
        assert (metric.depth_estimation_type, metric.max_depth) == ("metric", 20)
    assert {k: tuple(t.shape) for k, t in sd.items()} == {k: tuple(t.shape) for k, t in hf.items()}


def test_files_that_do_not_fit(case, tmp_path):
    model, path, _values, version = case
    raw = torch.load(path, weights_only=True)
    for label, change in [("missing", lambda sd: sd.pop("depth_head.scratch.refinenet2.out_conv.bias")),
                          ("unexpected", lambda sd: sd.update({"depth_head.readout_projects.0.0.weight":
                                                               torch.zeros(384, 768)})),
                          ("no pretrained.cls_token", lambda sd: sd.pop("pretrained.cls_token"))]:
        bad = dict(raw)
        change(bad)
        target = tmp_path / label.replace(" ", "_") / path.name
        target.parent.mkdir()
        torch.save(bad, target)
        with pytest.raises(ValueError, match=label) as e:
            depth_anything.load_depth_anything(target)
        assert path.name in str(e.value) and str(target) in str(e.value)
    other = tmp_path / "pytorch_model.bin"
    torch.save(raw, other)
    with pytest.raises(ValueError, match="v1 from v2"):
        depth_anything.load_depth_anything(other)
    named = depth_anything.load_depth_anything(other, version=version)  # a name that says nothing: say the version
    assert list(named.model.config.backbone_config.out_indices) == list(model.config.backbone_config.out_indices)
