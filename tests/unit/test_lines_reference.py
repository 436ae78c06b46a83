"""Lineart (standard, realistic, coarse, anime) and M-LSD equal the reference annotators (controlnet-aux 0.0.10).

The claim: the same image and the same weights give the same uint8 map through Loadout's path — ``image_ops.
resize_for_detection(img, R)`` then our preprocessor function, what the nodes run with output_size "detection size"
— as through the reference detector's whole ``__call__(img, detect_resolution=R, image_resolution=R,
output_type="np")`` at its default parameters (its ``resize_image``, network, post-processing). Exact equality
(``np.array_equal``); the reference returns HxWx3, three equal channels.

Weights: seeded in the reference's own model classes, written in the published layout (``.pth`` state dicts named as
ControlNet's annotator files, with the reference's keys) and read by both sides: the reference through its own
``from_pretrained(folder)``, ours through ``lineart_models.load_lineart`` / ``mlsd_model.load_mlsd`` (strict). Our
networks must also strictly load the reference's own ``state_dict()``. Random weights could draw degenerate maps
(all one value, no segment), on which equality would prove nothing, so each test asserts its map is non-trivial:
- lineart realistic / coarse / anime: PyTorch's default initialisation already draws grey, image-dependent maps
  (instance norm keeps the signal); anime is written in fp16 (half the file), as both loaders read it;
- M-LSD: batch-norm statistics are first taken from one image (else the signal dies in the trunk and the map is
  the biases'), the displacement head is scaled so segments are several pixels long, and the centre map biased so
  that about half of the 200 candidate centres pass the score threshold (both filters then decide something).

Sizes: the photo (matplotlib's grace_hopper.jpg, 600x512) at R=512 (576x512, area) and a 500x384 crop at R=384
(512x384: the short side is kept and the rounding to 64 lengthens the long side; ControlNet 1.1 takes area there,
choosing by the short side's scale, where choosing by pixel count would take Lanczos); anime at R=256 on the photo
(320x256, resized to 512x256 for its U-Net) and on a 250x384 crop (256x384: Lanczos, then 256x512).

Lineart standard has no ``image_resolution``: the reference resizes its map back to its input (cubic), so it is
given the detection image (its resize and resize back are then identities) and the detection resize is compared
on its own (``test_the_detection_image_is_the_references``).
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from harness.reference import assert_same_map, reference
from loadout.preprocessors import (
    image_ops,
    lineart_models,
    lineart_standard,
    mlsd_model,
    weights,
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("few_threads")

SEED = 20261605
CROP = (slice(0, 500), slice(64, 448))  # 500x384
CASES = [pytest.param((slice(None), slice(None)), 512, id="photo600x512@512"),
         pytest.param(CROP, 384, id="crop500x384@384")]
ANIME_CASES = [pytest.param((slice(None), slice(None)), 256, id="photo600x512@256"),
               pytest.param((slice(100, 350), slice(64, 448)), 256, id="crop250x384@256")]


def assert_grey_non_trivial(m: np.ndarray) -> None:
    """Many values, much of the map neither black nor white, and contrast."""
    assert np.unique(m).size >= 64 and ((m > 16) & (m < 240)).mean() > 0.1 and m.std() > 8, \
        (np.unique(m).size, ((m > 16) & (m < 240)).mean(), m.std())


# --- the detection image ---

@pytest.mark.parametrize("where,resolution", CASES + ANIME_CASES)
def test_the_detection_image_is_the_references(photo, where, resolution):
    img = photo[where]
    ref = reference("util").resize_image(img, resolution)
    assert np.array_equal(image_ops.resize_for_detection(img, resolution), ref)


def test_the_detection_resize_decides_lanczos_by_the_short_side(photo):
    """The crop's case: the short side stays (scale 1), the long side grows 500 -> 512: area, as the reference."""
    import cv2

    img = photo[CROP]
    ours = image_ops.resize_for_detection(img, 384)
    assert ours.shape == (512, 384, 3)
    assert np.array_equal(ours, cv2.resize(img, (384, 512), interpolation=cv2.INTER_AREA))
    assert not np.array_equal(ours, cv2.resize(img, (384, 512), interpolation=cv2.INTER_LANCZOS4))
    up = image_ops.resize_for_detection(img, 448)  # the short side enlarged: Lanczos
    assert np.array_equal(up, cv2.resize(img, (448, 576), interpolation=cv2.INTER_LANCZOS4))


# --- lineart standard (no weights) ---

@pytest.mark.parametrize("where,resolution", CASES)
def test_lineart_standard_equals_the_reference(photo, where, resolution):
    det = image_ops.resize_for_detection(photo[where], resolution)
    ref = reference("lineart_standard").LineartStandardDetector()(det, detect_resolution=resolution,
                                                                   output_type="np")
    ours = lineart_standard.lineart_standard(det)
    assert_same_map(ours, ref)
    assert np.unique(ours).size >= 64 and 0.01 < (ours > 64).mean() < 0.5 and (ours == 255).mean() < 0.1


# --- lineart realistic / coarse ---

@pytest.fixture(scope="module")
def lineart_folder(tmp_path_factory):
    """sk_model.pth / sk_model2.pth: the reference's Generator(3, 1, 3), seeded, default initialisation."""
    ref = reference("lineart")
    folder = tmp_path_factory.mktemp("lineart")
    for offset, name in enumerate(("sk_model.pth", "sk_model2.pth")):
        torch.manual_seed(SEED + offset)
        torch.save(ref.Generator(3, 1, 3).state_dict(), folder / name)
    return folder


@pytest.fixture(scope="module")
def lineart_reference(lineart_folder):
    return reference("lineart").LineartDetector.from_pretrained(str(lineart_folder))


@pytest.mark.parametrize("mode", ["realistic", "coarse"])
@pytest.mark.parametrize("where,resolution", CASES)
def test_lineart_realistic_and_coarse_equal_the_reference(photo, lineart_folder, lineart_reference, mode, where,
                                                          resolution):
    img = photo[where]
    file = lineart_folder / lineart_models.FILES[mode][0]
    net = lineart_models.load_lineart(file, mode)
    ours = lineart_models.lineart(image_ops.resize_for_detection(img, resolution), net, mode)
    ref = lineart_reference(img, coarse=mode == "coarse", detect_resolution=resolution, image_resolution=resolution,
                            output_type="np")
    assert_same_map(ours, ref)
    assert_grey_non_trivial(ours)


# --- lineart anime ---

@pytest.fixture(scope="module")
def anime_folder(tmp_path_factory):
    """netG.pth: the reference's UnetGenerator as its from_pretrained builds it, seeded, in fp16 and with
    DataParallel's 'module.' prefix (both loaders strip it)."""
    from torch import nn

    ref = reference("lineart_anime")
    torch.manual_seed(SEED + 2)
    norm = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    net = ref.UnetGenerator(3, 1, 8, 64, norm_layer=norm, use_dropout=False)
    folder = tmp_path_factory.mktemp("lineart_anime")
    torch.save({f"module.{k}": v.half() for k, v in net.state_dict().items()}, folder / "netG.pth")
    return folder


@pytest.fixture(scope="module")
def anime_reference(anime_folder):
    return reference("lineart_anime").LineartAnimeDetector.from_pretrained(str(anime_folder))


@pytest.mark.parametrize("where,resolution", ANIME_CASES)
def test_lineart_anime_equals_the_reference(photo, anime_folder, anime_reference, where, resolution):
    img = photo[where]
    net = lineart_models.load_lineart(anime_folder / "netG.pth", "anime")
    det = image_ops.resize_for_detection(img, resolution)
    assert det.shape[0] % 256 or det.shape[1] % 256  # the U-Net's resize to multiples of 256 is on the path
    ours = lineart_models.lineart(det, net, "anime")
    ref = anime_reference(img, detect_resolution=resolution, image_resolution=resolution, output_type="np")
    assert_same_map(ours, ref)
    assert_grey_non_trivial(ours)


# --- M-LSD ---

def mlsd_feed(image: np.ndarray):
    """The M-LSD input: RGB and a plane of ones, all scaled by x / 127.5 - 1; 1x4xHxW."""
    x = np.concatenate([image.astype(np.float32), np.ones(image.shape[:2] + (1,), np.float32)], axis=2)
    return torch.from_numpy(x / 127.5 - 1.0).permute(2, 0, 1)[None]


def seeded_mlsd(calibration: np.ndarray):
    """The reference's MobileV2_MLSD_Large, seeded, made to draw segments (see the module docstring)."""
    import torch.nn.functional as F
    from torch import nn

    net = reference("mlsd.models.mbv2_mlsd_large").MobileV2_MLSD_Large()
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in norms:
        bn.momentum = None  # a cumulative average: after one batch, that batch's statistics
        bn.reset_running_stats()
    with torch.no_grad():
        net.train()(mlsd_feed(calibration))
        net.eval()
        head = net.block23.conv3  # its output channels 7 (centre) and 8..11 (displacements) are the ones decoded
        head.weight[8:12] *= 8
        head.bias[8:12] *= 8
        head.weight[7] *= 3
        head.bias[7] *= 3
        centre = net(mlsd_feed(calibration))[0, 0]
        peaks = torch.where(F.max_pool2d(centre[None, None], 3, stride=1, padding=1)[0, 0] == centre, centre,
                            torch.full_like(centre, -1e9))
        logit_01 = float(np.log(0.1 / 0.9))  # sigmoid(logit_01) = 0.1, the score threshold
        head.bias[7] += logit_01 - float(torch.topk(peaks.flatten(), 200).values.median())
    return net


@pytest.fixture(scope="module")
def mlsd_folder(tmp_path_factory, photo):
    torch.manual_seed(SEED + 3)
    net = seeded_mlsd(image_ops.resize_for_detection(photo, 512))
    folder = tmp_path_factory.mktemp("mlsd")
    torch.save(net.state_dict(), folder / mlsd_model.FILE_NAMES[0])
    return folder


@pytest.fixture(scope="module")
def mlsd_reference(mlsd_folder):
    return reference("mlsd").MLSDdetector.from_pretrained(str(mlsd_folder))


@pytest.mark.parametrize("where,resolution", CASES)
def test_mlsd_equals_the_reference(photo, mlsd_folder, mlsd_reference, where, resolution):
    img = photo[where]
    net = mlsd_model.load_mlsd(mlsd_folder / mlsd_model.FILE_NAMES[0])
    det = image_ops.resize_for_detection(img, resolution)
    ours = mlsd_model.mlsd_lines(det, net)  # its defaults are the reference's: thr_v 0.1, thr_d 0.1
    ref = mlsd_reference(img, detect_resolution=resolution, image_resolution=resolution, output_type="np")
    assert_same_map(ours, ref)
    kept, candidates = mlsd_model.detect_segments(det, net), mlsd_model.detect_segments(det, net, 0.0, 0.0)
    assert 30 <= len(kept) < len(candidates) == 200  # the score threshold keeps some centres and drops others
    lengths = np.hypot(kept[:, 2] - kept[:, 0], kept[:, 3] - kept[:, 1])
    assert np.median(lengths) > 5 and 0.002 < (ours > 0).mean() < 0.1 and set(np.unique(ours)) == {0, 255}


def test_our_networks_load_the_reference_state_dicts_strictly(lineart_reference, anime_reference, mlsd_reference):
    for build, ref_net, what in ((lineart_models.build_realistic, lineart_reference.model, "realistic"),
                                 (lineart_models.build_realistic, lineart_reference.model_coarse, "coarse"),
                                 (lineart_models.build_anime, anime_reference.model, "anime"),
                                 (mlsd_model.build_mlsd, mlsd_reference.model, "M-LSD")):
        ours, sd = build(), ref_net.state_dict()
        weights.check_fit(ours, sd, f"{what}.pth", what)  # names any misfit
        result = ours.load_state_dict(sd, strict=True)
        assert not result.missing_keys and not result.unexpected_keys, what
        theirs = ref_net.state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in ours.state_dict().items()), what


# --- through the nodes (ComfyUI imported in-process, no server) ---

@pytest.fixture(scope="module")
def preprocessor_nodes():
    from harness.inprocess import import_comfyui
    from harness.paths import harness

    import_comfyui(harness().comfyui)
    from loadout.nodes import preprocessors

    return preprocessors


def run_node_at_detection_size(nodes, node_cls, image: np.ndarray, resolution: int, **inputs) -> np.ndarray:
    from harness.inprocess import run_node

    tensor = torch.from_numpy(image.astype(np.float32) / 255.0)[None]
    out = run_node(node_cls, image=tensor, resolution=resolution, output_size="detection size", **inputs)[0]
    return np.rint(out[0, :, :, 0].numpy() * 255.0).astype(np.uint8)


def test_the_mlsd_node_reaches_the_reference_defaults(photo, preprocessor_nodes, mlsd_folder, mlsd_reference,
                                                      monkeypatch):
    """score 0.1, min_length 0.2 (detection pixels: twice the distance threshold in M-LSD's half-size map) is the
    reference's thr_v 0.1, thr_d 0.1."""
    nodes = preprocessor_nodes
    root = mlsd_folder.parent / "annotators"
    (root / "mlsd").mkdir(parents=True, exist_ok=True)
    (root / "mlsd" / mlsd_model.FILE_NAMES[0]).write_bytes((mlsd_folder / mlsd_model.FILE_NAMES[0]).read_bytes())
    monkeypatch.setattr(nodes, "annotator_roots", lambda: [str(root)])
    seen = []
    real = mlsd_model.mlsd_lines
    monkeypatch.setattr(mlsd_model, "mlsd_lines", lambda im, net, score, distance: seen.append((score, distance))
                        or real(im, net, score, distance))
    img = photo[CROP]
    ours = run_node_at_detection_size(nodes, nodes.LoadoutMLSDPreprocessor, img, 384, score=0.1, min_length=0.2,
                                      method="m-lsd")
    assert seen and set(seen) == {(0.1, 0.1)}
    assert_same_map(ours, mlsd_reference(img, detect_resolution=384, image_resolution=384, output_type="np"))


@pytest.mark.parametrize("mode", ["standard", "realistic"])
def test_the_lineart_node_at_its_defaults_draws_the_reference_map(photo, preprocessor_nodes, lineart_folder,
                                                                  lineart_reference, monkeypatch, mode):
    nodes = preprocessor_nodes
    root = lineart_folder.parent / "annotators"
    (root / "lineart").mkdir(parents=True, exist_ok=True)
    (root / "lineart" / "sk_model.pth").write_bytes((lineart_folder / "sk_model.pth").read_bytes())
    monkeypatch.setattr(nodes, "annotator_roots", lambda: [str(root)])
    ours = run_node_at_detection_size(nodes, nodes.LoadoutLineartPreprocessor, photo, 512, mode=mode,
                                      gaussian_sigma=6.0, intensity_threshold=8.0)
    if mode == "standard":
        det = image_ops.resize_for_detection(photo, 512)
        ref = reference("lineart_standard").LineartStandardDetector()(det, detect_resolution=512, output_type="np")
    else:
        ref = lineart_reference(photo, detect_resolution=512, image_resolution=512, output_type="np")
    assert_same_map(ours, ref)
