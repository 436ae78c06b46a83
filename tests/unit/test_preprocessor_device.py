"""The annotator networks run where ComfyUI computes (issue #16), and the cached networks stay where they were.

The policy (``nodes/preprocessors.py``'s module doc, ``preprocessors/weights.py``'s placement notes): the nodes run
every network on ``comfy.model_management.get_torch_device()`` in float32; a cached network (``weights.MODELS``) is
the CPU float32 one and is never moved: off the CPU a node run gets a copy, released when the run ends; an
out-of-memory on the device releases the copy, logs a ``[Loadout]`` line and runs the batch again on the CPU; the
IMAGE outputs are on ``intermediate_device()``.

The device double: ``get_torch_device`` patched (ComfyUI imported in-process) to return the *meta* device, and
``torch.nn.Module.__call__`` wrapped to record every call that sees a meta tensor (the module's weights, or a tensor
given to it) and to fail there as a full GPU does (``torch.OutOfMemoryError``). So the test sees where each network
was asked to run — weights and input — before any meta computation, and the node's retry on the CPU then draws a
real map, which must equal the map of a plain CPU run byte for byte. A glue that ignored the device (a hard-coded
CPU, a network not placed) would never reach the meta device and fails ``test_the_nodes_run_their_networks_on_
comfyuis_device``. On the pure side the observable marker is the dtype: asking for float64 on the CPU must reach the
network's weights and input, while the cached float32 network stays as it was.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import tiny_annotators
from loadout.preprocessors import (
    depth,
    hed,
    lineart_models,
    mlsd_model,
    pidinet,
    segmentation,
    weights,
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("few_threads")

META = torch.device("meta")
IMG = np.random.default_rng(16).integers(0, 255, (96, 136, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def annotators(tmp_path_factory):
    root = tmp_path_factory.mktemp("annotators")
    tiny_annotators.make_all(root, anime=True)
    return root


@dataclasses.dataclass
class Seen:
    module: object
    weights: object  # the device of the module's first parameter (None: it has none)
    weights_dtype: object
    inputs: tuple  # (device, dtype) of each tensor given to the call


@pytest.fixture
def calls(monkeypatch):
    """Every ``nn.Module`` call, as ``Seen`` (filled by ``record``); ``fail_on_meta`` makes a call that sees the
    meta device raise torch's OutOfMemoryError (the device double)."""
    state = {"seen": [], "fail_on_meta": False}
    real = torch.nn.Module.__call__

    def call(module, *args, **kwargs):
        tensors = [t for t in (*args, *kwargs.values()) if isinstance(t, torch.Tensor)]
        first = next(module.parameters(), None)
        seen = Seen(module, None if first is None else first.device, None if first is None else first.dtype,
                    tuple((t.device, t.dtype) for t in tensors))
        state["seen"].append(seen)
        if state["fail_on_meta"] and (seen.weights == META or any(d == META for d, _ in seen.inputs)):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (the test's device double)")
        return real(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", call)
    return state


def state_of(net) -> dict:
    return {k: (v.device, v.dtype, v.data_ptr(), v.detach().clone()) for k, v in net.state_dict().items()}


def assert_unchanged(net, before: dict) -> None:
    after = state_of(net)
    assert after.keys() == before.keys()
    for k, (dev, dt, ptr, value) in before.items():
        a = after[k]
        assert (a[0], a[1], a[2]) == (dev, dt, ptr), k
        assert torch.equal(a[3], value), k


# --- the pure side: weights.on_device / Placement ---

def tiny_net():
    """A network as the loaders leave one: CPU, float32, eval, no gradients (with an integer buffer)."""
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 1, 1)).eval().requires_grad_(False)


def test_the_cpu_float32_network_is_used_as_it_is():
    net = tiny_net()
    assert weights.on_device(net) is net and weights.on_device(net, "cpu", torch.float32) is net
    run = weights.Placement(torch.device("cpu"), torch.float32)
    assert run.module(net) is net and run.release() == 0
    assert all(p.device.type == "cpu" for p in net.parameters())  # a network that needed no copy is never released


def test_a_placement_copies_shares_nothing_and_releases_only_its_copy():
    net = tiny_net()
    before = state_of(net)
    run = weights.Placement("cpu", torch.float64)
    copy_ = run.module(net)
    assert copy_ is not net and run.module(net) is copy_  # one copy per network per run
    assert weights.is_placed(copy_, "cpu", torch.float64) and not weights.is_placed(net, "cpu", torch.float64)
    ours = {t.data_ptr() for t in copy_.state_dict().values()}
    assert not ours & {t.data_ptr() for t in net.state_dict().values()}
    assert copy_[1].num_batches_tracked.dtype == torch.int64  # integer buffers keep their dtype
    x = torch.rand(1, 3, 9, 9)
    with torch.inference_mode():
        assert torch.allclose(copy_(x.double()).float(), net(x), atol=1e-5)
    assert run.release() == 1 and not run.copies
    assert all(t.device.type == "meta" for t in copy_.state_dict().values())  # its memory is gone
    assert_unchanged(net, before)
    with torch.inference_mode():
        net(x)  # the cached network still runs


def test_an_out_of_memory_while_copying_leaves_the_network_and_keeps_nothing(monkeypatch):
    net = tiny_net()
    before = state_of(net)
    real, count = weights._copied, []

    def fails_on_the_fourth(t, device, dtype):
        count.append(1)
        if len(count) == 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")
        return real(t, device, dtype)

    monkeypatch.setattr(weights, "_copied", fails_on_the_fourth)
    run = weights.Placement("cpu", torch.float64)
    with pytest.raises(torch.OutOfMemoryError):
        run.module(net)
    assert not run.copies and run.release() == 0
    assert_unchanged(net, before)


@pytest.fixture(scope="module")
def loaded(annotators):
    """The cached networks of every family, as the loaders give them (CPU, float32)."""
    return {
        "hed": hed.load_controlnet_hed(annotators / "hed" / hed.CONTROLNET_HED_NAME),
        "pidinet": pidinet.load_pidinet(annotators / "pidinet" / pidinet.FILE_NAME),
        "realistic": lineart_models.load_lineart(annotators / "lineart" / "sk_model.pth", "realistic"),
        "anime": lineart_models.load_lineart(annotators / "lineart" / "netG.pth", "anime"),
        "mlsd": mlsd_model.load_mlsd(annotators / "mlsd" / mlsd_model.FILE_NAMES[0]),
        "depth": depth.load_depth_model(depth.find_depth_model([annotators])),
        "segmentation": segmentation.load_segmentation_model(segmentation.find_segmentation_model([annotators])),
    }


PURE = {  # family -> (map function taking device/dtype, the torch module the family's network is)
    "hed": (lambda im, m, **kw: hed.hed_soft_edge(im, m, **kw), lambda m: m),
    "pidinet": (lambda im, m, **kw: pidinet.pidinet_soft_edge(im, m, **kw), lambda m: m),
    "realistic": (lambda im, m, **kw: lineart_models.lineart(im, m, "realistic", **kw), lambda m: m),
    "anime": (lambda im, m, **kw: lineart_models.lineart(im, m, "anime", **kw), lambda m: m),
    "mlsd": (lambda im, m, **kw: mlsd_model.mlsd_lines(im, m, 0.1, 0.1, **kw), lambda m: m),
    "depth": (lambda im, m, **kw: depth.estimate_depth(im, m, **kw), lambda m: m.model),
    "segmentation": (lambda im, m, **kw: segmentation.segment_ade20k(im, m, **kw)[1], lambda m: m.model),
}


@pytest.mark.parametrize("family", list(PURE))
def test_the_pure_functions_run_where_they_are_told(loaded, calls, family):
    fn, network = PURE[family]
    model = loaded[family]
    before = state_of(network(model))
    default = fn(IMG, model)
    assert isinstance(default, np.ndarray) and default.dtype == np.uint8
    assert np.array_equal(fn(IMG, model, device=torch.device("cpu"), dtype=torch.float32), default)  # the default
    calls["seen"].clear()
    out = fn(IMG, model, device="cpu", dtype=torch.float64)
    top = calls["seen"][0]
    assert top.module is not network(model)  # a copy ran, not the cached network
    assert (top.weights, top.weights_dtype) == (torch.device("cpu"), torch.float64)
    assert top.inputs and all(i == (torch.device("cpu"), torch.float64) for i in top.inputs)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == default.shape  # numpy on the host
    assert_unchanged(network(model), before)


# --- the glue: the nodes, ComfyUI imported in-process ---

@pytest.fixture(scope="module")
def nodes():
    from harness.inprocess import import_comfyui
    from harness.paths import harness

    import_comfyui(harness().comfyui)
    from loadout.nodes import preprocessors

    return preprocessors


def run(node_cls, **inputs):
    from harness.inprocess import run_node

    image = torch.from_numpy(IMG.astype(np.float32) / 255.0)[None].repeat(2, 1, 1, 1)  # a batch of two
    return run_node(node_cls, image=image, resolution=128, output_size="input size", **inputs)


NODE_CASES = [  # node, inputs, the cached model it uses (from the nodes module), its torch module
    pytest.param("LoadoutHEDPreprocessor", {"model": "ControlNetHED.pth", "safe": False},
                 lambda n: n.hed_net("ControlNetHED.pth"), lambda m: m, id="hed"),
    pytest.param("LoadoutPiDiNetPreprocessor", {"safe": True}, lambda n: n.pidinet_net(), lambda m: m, id="pidinet"),
    pytest.param("LoadoutScribblePreprocessor", {"method": "hed", "threshold": 127, "blur": 3.0},
                 lambda n: n.hed_net("auto"), lambda m: m, id="scribble-hed"),
    pytest.param("LoadoutLineartPreprocessor", {"mode": "realistic", "gaussian_sigma": 6.0,
                                                "intensity_threshold": 8.0},
                 lambda n: n.lineart_models_net("realistic"), lambda m: m, id="lineart-realistic"),
    pytest.param("LoadoutLineartPreprocessor", {"mode": "anime", "gaussian_sigma": 6.0, "intensity_threshold": 8.0},
                 lambda n: n.lineart_models_net("anime"), lambda m: m, id="lineart-anime"),
    pytest.param("LoadoutMLSDPreprocessor", {"score": 0.1, "min_length": 0.2, "method": "m-lsd"},
                 lambda n: n.mlsd_net(), lambda m: m, id="mlsd"),
    pytest.param("LoadoutDepthPreprocessor", {"model": "auto"}, lambda n: n.depth_model("auto"),
                 lambda m: m.model, id="depth"),
    pytest.param("LoadoutNormalPreprocessor", {"model": "auto", "bg_threshold": 0.1, "depth_scale": 255.0},
                 lambda n: n.depth_model("auto"), lambda m: m.model, id="normal"),
    pytest.param("LoadoutSegmentationPreprocessor", {"method": "ade20k", "model": "auto", "threshold": 0.5},
                 lambda n: n.seg_model("auto"), lambda m: m.model, id="segmentation-ade20k"),
    pytest.param("LoadoutPreprocessor", {"preprocessor": "softedge (pidinet)"}, lambda n: n.pidinet_net(),
                 lambda m: m, id="all-in-one-pidinet"),
]


@pytest.fixture
def glue(nodes, annotators, monkeypatch):
    """The nodes module with the tiny annotators folder, and lookups of its cached networks."""
    from loadout.preprocessors.weights import find_weight_file

    monkeypatch.setattr(nodes, "annotator_roots", lambda: [str(annotators)])
    # test-only lookups of the cached lineart / M-LSD networks, as the factories load them
    monkeypatch.setattr(nodes, "lineart_models_net", lambda mode: lineart_models.load_lineart(
        find_weight_file([annotators], "lineart", lineart_models.FILES[mode], mode), mode), raising=False)
    monkeypatch.setattr(nodes, "mlsd_net", lambda: mlsd_model.load_mlsd(nodes.mlsd_weights()), raising=False)
    return nodes


@pytest.mark.parametrize("node,inputs,cached,network", NODE_CASES)
def test_the_nodes_run_their_networks_on_comfyuis_device(glue, calls, monkeypatch, caplog, node, inputs, cached,
                                                         network):
    import comfy.model_management as mm

    nodes = glue
    node_cls = getattr(nodes, node)
    assert nodes.annotator_device() == torch.device("cpu")  # the in-process ComfyUI runs --cpu
    on_cpu = run(node_cls, **inputs)  # the maps as they were: the cached CPU float32 network itself
    net = network(cached(nodes))
    assert weights.is_placed(net, "cpu", torch.float32)
    assert any(s.module is net for s in calls["seen"])
    before = state_of(net)

    emptied = []
    monkeypatch.setattr(mm, "get_torch_device", lambda: META)
    monkeypatch.setattr(mm, "soft_empty_cache", lambda *a, **k: emptied.append(True))
    calls["seen"].clear()
    calls["fail_on_meta"] = True
    with caplog.at_level(logging.WARNING):
        out = run(node_cls, **inputs)

    on_meta = [s for s in calls["seen"] if s.weights == META or any(d == META for d, _ in s.inputs)]
    assert on_meta, f"{node}: no network was asked to run on ComfyUI's device (get_torch_device was ignored)"
    first = on_meta[0]
    assert first.module is not net  # the run's copy; the cached network was not moved
    assert first.weights == META and first.weights_dtype == torch.float32  # the nodes pass float32
    assert first.inputs and all(i == (META, torch.float32) for i in first.inputs), first.inputs
    assert emptied, "the run's device copies were not released"
    retried = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
    display = node_cls.define_schema().display_name
    assert len(retried) == 1 and retried[0].startswith(f"[Loadout] {display}: out of memory on meta ("), retried
    assert "running it on the CPU" in retried[0]
    assert len(out.args) == len(on_cpu.args)
    for a, b in zip(on_cpu.args, out.args):  # the retry on the CPU draws the same maps, byte for byte
        assert a.device == b.device == torch.device("cpu") and torch.equal(a, b)
    assert_unchanged(net, before)  # the cached network: same tensors, same place, same values
    assert network(cached(nodes)) is net


def test_the_image_outputs_are_on_the_intermediate_device(glue, monkeypatch):
    import comfy.model_management as mm

    nodes = glue
    monkeypatch.setattr(mm, "intermediate_device", lambda: META)
    out = run(nodes.LoadoutPiDiNetPreprocessor, safe=False)
    assert out[0].device == META
    img, mask = run(nodes.LoadoutSegmentationPreprocessor, method="ade20k", model="auto", threshold=0.5)[:2]
    assert img.device == META and mask.device == META
    import json

    from harness.inprocess import run_node

    doc = {"people": [], "canvas_width": 64, "canvas_height": 64}
    rendered = run_node(nodes.LoadoutOpenPoseRender, keypoints=json.dumps(doc), width=0, height=0, draw_body=True,
                        draw_hands=True, draw_face=True)[0]
    assert rendered.device == META


def test_an_error_that_is_not_out_of_memory_is_not_retried(glue, monkeypatch, caplog):
    import comfy.model_management as mm

    nodes = glue
    monkeypatch.setattr(mm, "get_torch_device", lambda: META)
    monkeypatch.setattr(mm, "soft_empty_cache", lambda *a, **k: None)
    # on the meta device the network computes nothing readable: reading the map back fails, and that is raised
    with caplog.at_level(logging.WARNING), pytest.raises(NotImplementedError, match="meta"):
        run(nodes.LoadoutPiDiNetPreprocessor, safe=False)
    assert not [r for r in caplog.records if "out of memory" in r.getMessage()]
