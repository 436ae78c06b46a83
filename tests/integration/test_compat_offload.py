"""Pins what ``nodes/comfy_compat/offload.py`` relies on, on the ComfyUI under test (in-process, CPU, the tiny SD1.5
checkpoint): object patches in place only while the clone is loaded, attachments and callbacks carried by clones,
the APPLY_MODEL wrapper and ON_PRE_RUN binding the sampling patcher, ON_DETACH at unload, LoRA patches and the
patchers' backup as the weight hook reads them, and the progress-text frame the server sends (from server.py's own
code, run on a stand-in server) as ``cli.client.binary_message`` decodes it."""
import ast
import struct
import typing

import pytest
import torch
from harness.graphs import TINY_SD15
from harness.inprocess import import_comfyui
from harness.paths import harness


@pytest.fixture(scope="module")
def c():
    h = harness()
    import_comfyui(h.comfyui)
    import comfy.sd
    import nodes as core

    model, clip, _, _ = comfy.sd.load_checkpoint_guess_config(
        str(h.models / "checkpoints" / TINY_SD15), output_vae=False, output_clip=True)
    pos = core.CLIPTextEncode().encode(clip, "a lighthouse")[0]
    neg = core.CLIPTextEncode().encode(clip, "blurry")[0]
    return {"model": model, "clip": clip, "pos": pos, "neg": neg}


def _offloaded(c, strategy="sequential"):
    from loadout.nodes.comfy_compat.offload import offload_model
    from loadout.vram.offload.config import OffloadConfig

    return offload_model(c["model"], OffloadConfig(strategy=strategy), auto=False, ladder=True, node_id=None)


def _sample(model, c):
    import nodes as core

    lat = {"samples": torch.zeros(1, 4, 8, 8)}
    return core.common_ksampler(model, 3, 2, 5.0, "euler", "normal", c["pos"], c["neg"], lat)[0]["samples"]


def test_object_patches_stand_in_only_while_the_clone_is_loaded(c):
    import comfy.model_management as mm
    from loadout.nodes.comfy_compat.devices import load_models
    from loadout.vram.offload.layers import AutoWrappedModule

    clone, binding = _offloaded(c)
    name = binding.offloader.layers[0].name
    root = c["model"].model.diffusion_model
    original = root.get_submodule(name)
    assert clone.get_attachment("loadout_offload") is binding and clone.clone().get_attachment("loadout_offload") \
        is binding, "attachments travel with clones"
    assert c["model"].get_attachment("loadout_offload") is None, "the input is not changed"
    load_models([clone])
    assert isinstance(root.get_submodule(name), AutoWrappedModule) and root.get_submodule(name).inner is original
    mm.unload_all_models()
    assert root.get_submodule(name) is original, "unpatching restores the original layer"


def test_apply_model_wrapper_pre_run_and_detach_reach_the_binding(c):
    import comfy.model_management as mm

    clone, binding = _offloaded(c)
    resident = _sample(c["model"], c)
    latent = _sample(clone, c)
    assert torch.equal(latent, resident), "sequential is exact"
    assert binding.patcher is clone, "ON_PRE_RUN / current_patcher bound the sampling patcher"
    assert [a.strategy.value for a in binding.offloader.path] == ["sequential"], "each call ran under the ladder"
    mm.unload_all_models()
    assert binding.offloader.device_bytes() == 0, "ON_DETACH dropped the device copies"


def test_lora_patches_and_backup_are_what_the_weight_hook_reads(c):
    import comfy.model_management as mm
    from loadout.nodes.comfy_compat.devices import load_models

    clone, binding = _offloaded(c)
    layer = binding.offloader.layers[0]
    key = f"diffusion_model.{layer.name}.weight"
    weight = layer.inner.weight.detach().clone()
    diff = torch.full_like(weight, 0.25)
    patched = clone.clone()
    token = (id(patched), patched.patches_uuid)
    assert patched.add_patches({key: (diff,)}, 0.5) == [key]
    assert patched.patches_uuid != token[1], "patches_uuid changes with the patches"
    binding.bind(patched)
    assert binding._is_patched(layer.name) and not binding._is_patched(binding.offloader.layers[1].name)
    assert torch.equal(binding._hook(layer.name, "weight", weight), weight + 0.5 * diff)
    assert not getattr(patched, "hook_patches", {}), "no hook LoRAs by default"
    # another clone bakes its LoRA into the shared weights: the originals are in the patchers' backup
    baked = c["model"].clone()
    baked.add_patches({key: (diff,)}, 1.0)
    load_models([baked])
    try:
        assert torch.equal(layer.inner.weight, weight + diff)
        assert torch.equal(baked.backup[key].weight, weight)
        assert getattr(layer.inner, "comfy_patched_weights", False) is True
        binding.bind(baked)
        assert torch.equal(binding._unpatched(layer.name, layer.inner)["weight"], weight)
    finally:
        mm.unload_all_models()
    assert torch.equal(layer.inner.weight, weight), "unloading restored the original weight"


def test_a_clip_encode_runs_under_the_ladder_and_each_clone_binds_itself(c):
    import nodes as core
    from loadout.nodes.comfy_compat.offload import EncodeWrapper, clip_binding, offload_clip
    from loadout.vram.offload.config import OffloadConfig

    clone, binding = offload_clip(c["clip"], OffloadConfig(strategy="sequential"), auto=False, ladder=True,
                                  node_id=None)
    assert clip_binding(clone) is binding and clip_binding(c["clip"]) is None
    ref = core.CLIPTextEncode().encode(c["clip"], "a lighthouse")[0][0][0]
    assert torch.equal(core.CLIPTextEncode().encode(clone, "a lighthouse")[0][0][0], ref)
    assert [a.strategy.value for a in binding.offloader.path] == ["sequential"]
    again = clone.clone()  # e.g. a LoRA loader's clone: ON_CLONE gives it an encode patch bound to itself
    wrapper = again.patcher.object_patches["encode_token_weights"]
    assert isinstance(wrapper, EncodeWrapper) and wrapper.patcher is again.patcher


def test_the_string_seed_is_cores(caplog):
    """The seed is core's, taken from where core keeps it now (comfy.utils on 0.3x, whose model_patcher alias logs a
    "moved" warning on every call; only comfy.model_patcher on 0.3.75), so the binding logs nothing."""
    import comfy.model_patcher
    import comfy.utils
    from loadout.nodes.comfy_compat.offload import _string_to_seed

    core = getattr(comfy.utils, "string_to_seed", None) or comfy.model_patcher.string_to_seed
    key = "diffusion_model.out.2.weight"
    with caplog.at_level("DEBUG"):
        seed = _string_to_seed(key)
    assert seed == core(key)
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("compute", ["default", "fp16"])
def test_the_weight_hook_computes_a_lora_as_cores_patch_weight_to_device(c, dtype, compute, monkeypatch):
    """Offloaded + LoRA equals core's resident patching bit for bit: the hook computes in core's LoRA compute dtype
    for the weight's device (0.3x: ``model_management.lora_compute_dtype``, fp16 on fp16 devices, fp32 on the CPU;
    0.3.75: fp32). ``fp16`` makes core choose fp16 on this CPU (its per-device cache), as it does on a GPU."""
    import comfy.model_management as mm
    from loadout.nodes.comfy_compat.offload import lora_compute_dtype

    cpu = torch.device("cpu")
    if compute == "fp16":
        if not hasattr(mm, "lora_compute_dtype"):
            pytest.skip("this ComfyUI computes LoRA patches in fp32 on every device (no lora_compute_dtype)")
        monkeypatch.setitem(mm.LORA_COMPUTE_DTYPES, cpu, torch.float16)
    expected = getattr(mm, "lora_compute_dtype", lambda _d: torch.float32)(cpu)
    assert lora_compute_dtype(cpu) == expected
    import comfy.utils
    import comfy.weight_adapter as wa

    clone, binding = _offloaded(c)
    layer = binding.offloader.layers[0]
    key = f"diffusion_model.{layer.name}.weight"
    original = layer.inner.weight
    g = torch.Generator().manual_seed(7)
    weight = (torch.randn(original.shape, generator=g) * 0.3).to(dtype)
    rank = 4
    up = torch.randn(original.shape[0], rank, generator=g) * 0.05
    down = torch.randn(rank, original[0].numel(), generator=g) * 0.05
    patched = clone.clone()
    assert patched.add_patches({key: wa.LoRAAdapter(set(), (up, down, 8.0, None, None, None))}, 0.7) == [key]
    binding.bind(patched)
    ours = binding._hook(layer.name, "weight", weight)
    # core's resident path: patch_weight_to_device on the same weight (set in place, read back, restored)
    comfy.utils.set_attr_param(patched.model, key, weight)
    try:
        patched.patch_weight_to_device(key, device_to=cpu)
        core = comfy.utils.get_attr(patched.model, key).detach().clone()
    finally:
        patched.backup.pop(key, None)
        comfy.utils.set_attr(patched.model, key, original)
    assert ours.dtype == core.dtype == dtype and torch.equal(ours, core)


def _server_method(comfyui, name):
    """PromptServer.<name> compiled from the server.py under test (importing the server needs its whole app)."""
    import protocol

    tree = ast.parse((comfyui / "server.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PromptServer")
    fn = next(n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name)
    namespace = {"struct": struct, "BinaryEventTypes": protocol.BinaryEventTypes, "Union": typing.Union}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "server.py", "exec"), namespace)  # noqa: S102
    return fn, namespace[name]


def test_progress_text_is_a_binary_frame_that_the_client_decodes(c):
    from loadout.cli.client import binary_message

    comfyui = harness().comfyui
    fn, send_progress_text = _server_method(comfyui, "send_progress_text")
    assert [a.arg for a in fn.args.args][:3] == ["self", "text", "node_id"]
    _, encode_bytes = _server_method(comfyui, "encode_bytes")

    class StandIn:
        sent = []

        def send_sync(self, event, data, sid=None):
            self.sent.append((event, data, sid))

    server = StandIn()
    send_progress_text(server, "path: offload: ok → é", "24")
    (event, data, sid), = server.sent
    assert sid is None, "sent to every client"
    frame = bytes(encode_bytes(server, event, data))
    assert binary_message(frame) == {"type": "progress_text", "data": {"node": "24", "text": "path: offload: ok → é"}}


def test_hook_loras_on_an_offloaded_model_or_clip_are_refused_naming_the_node_and_input(c):
    """Relies on ModelPatcher.hook_patches (non-empty when Create Hook LoRA's weight hooks are attached): the
    offloaded layers cannot take them, so sampling or encoding with them is refused, pointing at the offload node."""
    import types

    from loadout.core.common.errors import LoadoutError
    from loadout.nodes.comfy_compat.offload import _refuse_hooks, offload_clip
    from loadout.vram.offload.config import OffloadConfig

    assert not getattr(c["model"].clone(), "hook_patches", None), "no hook LoRAs by default"
    _, model_binding = _offloaded(c)
    _, clip_binding = offload_clip(c["clip"], OffloadConfig(strategy="sequential"), auto=False, ladder=True,
                                   node_id=None)
    hooked = types.SimpleNamespace(hook_patches={"hook": ["patch"]})
    for binding, where in ((model_binding, "Offload model (Loadout): input 'model'"),
                           (clip_binding, "Offload CLIP (Loadout): input 'clip'")):
        _refuse_hooks(binding, c["model"].clone())  # no hooks: nothing to refuse
        with pytest.raises(LoadoutError) as e:
            _refuse_hooks(binding, hooked)
        assert str(e.value).startswith(f"[Loadout] {where}: {binding.label} carries hook LoRAs")
        assert "apply the LoRA with LoRA stack or LoraLoader" in str(e.value)
