"""MiDaS depth (DPT-hybrid, ``dpt_hybrid-midas-501f0c75.pt``) equals the reference annotator (controlnet-aux 0.0.10).

The claim: the same image and the same weights give the same uint8 depth map through Loadout's path —
``image_ops.resize_for_detection(img, R)`` then ``midas.midas_depth`` — as through the reference's whole
``MidasDetector.__call__(img, detect_resolution=R, image_resolution=R, output_type="np")`` (its ``resize_image``, the
-1..1 scaling, its DPT on timm's ViT-hybrid, the min–max normalisation to uint8, its resize back, an identity here).
Exact equality (``np.array_equal``); the reference returns HxWx3, three equal channels. Exact is possible because both
sides run the same timm modules (timm 1.0.31 in the test venv) for the backbone, and our reassembly, fusion and head
do the reference's arithmetic in its order on tensors of its memory layout.

Weights: the reference's own ``DPTDepthModel(backbone="vitb_rn50_384", non_negative=True)``, seeded, with its default
initialisation (timm's for the ViT-hybrid, PyTorch's for the rest) and its last bias shifted (below), written as
the published file is: a plain
``torch.save`` of its ``state_dict()`` (fp32, 368 tensors, 123 M parameters, ~490 MB) named
``dpt_hybrid-midas-501f0c75.pt``. Ours reads it through ``midas.load_midas`` (strict); the reference reads it with its
own ``BaseModel.load`` (strict ``load_state_dict``) into the detector's network. The detector's ``MiDaSInference`` is
built as its ``__init__`` builds it but around that network, which spares a second 123 M-parameter build (its
``__init__`` would construct one more DPT and read the same file into it). The default initialisation may draw a
map the head's final ReLU mostly clips to 0 (depending on the seed), on which equality would prove little: the last
conv's bias is shifted so that 10% of the photo's depth is clipped (``calibrate_the_head``), and each test asserts
a graded map (many levels, most of it grey, some but little black).

Sizes: kept small, the network being the real one (2 shared CPU cores): the photo (matplotlib's grace_hopper.jpg,
600x512) at R=256 (320x256) and a 300x400 crop at R=192 (192x256): both non-square, the position grid resized to
20x16 and 12x16 patches from its 24x24.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from harness.reference import assert_same_map, reference
from loadout.preprocessors import image_ops, midas, weights

torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytestmark = [pytest.mark.usefixtures("few_threads"),
              pytest.mark.filterwarnings("ignore:Mapping deprecated model name:UserWarning")]  # the reference's timm name

SEED = 20261204
CROP = (slice(100, 400), slice(50, 450))  # 300x400
CASES = [pytest.param((slice(None), slice(None)), 256, id="photo600x512@256"),
         pytest.param(CROP, 192, id="crop300x400@192")]


def reference_network():
    return reference("midas.midas.dpt_depth").DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True)


def calibrate_the_head(net, image: np.ndarray) -> None:
    """Shift the last conv's bias so that 10% of ``image``'s depth (before the final ReLU) is below zero: random
    weights may draw a map the ReLU mostly clips (all black but a few pixels); now the ReLU clips a little, as a
    trained MiDaS does at most, and the rest is graded."""
    last = net.scratch.output_conv[4]
    seen = []
    hook = last.register_forward_hook(lambda module, inputs, output: seen.append(output.clone()))  # before the in-place ReLU
    try:
        with torch.no_grad():
            net(torch.from_numpy(image).float().permute(2, 0, 1)[None] / 127.5 - 1.0)
    finally:
        hook.remove()
    with torch.no_grad():
        last.bias -= torch.quantile(seen[0].flatten(), 0.1)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, photo):
    """(the file, the reference network that read it): the seeded reference DPT-hybrid, its head calibrated on the
    photo, saved in the published layout and read back by the reference's own loader."""
    torch.manual_seed(SEED)
    net = reference_network().eval()
    calibrate_the_head(net, image_ops.resize_for_detection(photo, 256))
    path = tmp_path_factory.mktemp("midas") / midas.FILE
    torch.save(net.state_dict(), path)
    net.load(str(path))  # the reference's BaseModel.load: torch.load, strict load_state_dict
    return path, net


@pytest.fixture(scope="module")
def midas_reference(seeded):
    api = reference("midas.api")
    inference = api.MiDaSInference.__new__(api.MiDaSInference)
    torch.nn.Module.__init__(inference)
    inference.model = seeded[1]
    return reference("midas").MidasDetector(inference)


@pytest.fixture(scope="module")
def ours(seeded):
    return midas.load_midas(seeded[0])


def assert_depth_non_trivial(m: np.ndarray) -> None:
    """Many levels, most of the map strictly between black and white, some (not much) clipped to 0, contrast."""
    grey, black = ((m > 16) & (m < 240)).mean(), (m == 0).mean()
    assert np.unique(m).size >= 128 and grey > 0.5 and 0 < black < 0.3 and m.std() > 16, \
        (np.unique(m).size, grey, black, m.std())


@pytest.mark.parametrize("where,resolution", CASES)
def test_midas_depth_equals_the_reference(photo, ours, midas_reference, where, resolution):
    img = photo[where]
    det = image_ops.resize_for_detection(img, resolution)
    assert det.shape[0] != det.shape[1]
    depth = midas.midas_depth(det, ours)
    ref = midas_reference(img, detect_resolution=resolution, image_resolution=resolution, output_type="np")
    assert_same_map(depth, ref)
    assert_depth_non_trivial(depth)


def test_our_network_loads_the_reference_state_dict_strictly(seeded, ours):
    theirs = seeded[1].state_dict()
    weights.check_fit(midas.build_midas(meta=True), theirs, midas.FILE, "MiDaS")  # names any misfit
    mine = ours.state_dict()
    assert sorted(mine) == sorted(theirs) and len(mine) == 368
    assert all(torch.equal(v, theirs[k]) for k, v in mine.items())
    assert all(v.dtype == torch.float32 and not v.requires_grad for v in ours.parameters()) and not ours.training


def test_a_file_that_does_not_fit_names_itself_and_the_keys(tmp_path):
    path = tmp_path / midas.FILE
    torch.save({"pretrained.model.cls_token": torch.zeros(1, 1, 768), "stray.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"dpt_hybrid-midas-501f0c75\.pt does not fit the MiDaS DPT-hybrid.*"
                                         r"missing: .*unexpected: stray\.weight"):
        midas.load_midas(path)


def test_sides_must_be_multiples_of_32(ours):
    with pytest.raises(ValueError, match="multiples of 32"):
        midas.midas_depth(np.zeros((100, 128, 3), np.uint8), ours)


def test_available_and_a_cheap_import():
    """``available()`` finds timm without importing it, and importing the module imports neither timm nor torch."""
    ok, reason = midas.available()
    assert ok and reason.startswith("timm ")
    code = ("import sys; sys.path.insert(0, 'tests'); from harness.inprocess import import_pack; import_pack(); "
            "from loadout.preprocessors import midas; midas.available(); "
            "assert 'timm' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=True, timeout=60)
