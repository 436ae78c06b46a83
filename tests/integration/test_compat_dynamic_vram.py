"""Loadout's seam on ComfyUI 0.3x's dynamic-VRAM patcher (``comfy.model_patcher.ModelPatcherDynamic``), the real
class, in-process. Only the device side is a test double: this machine has no CUDA, and ComfyUI 0.33 refuses
``--enable-dynamic-vram`` here (``comfy_aimdo.control.init_devices`` gets the CPU device's index, None, and start-up
exits with a TypeError; without ``--cpu`` torch finds no NVIDIA driver). So the patcher gets a ``cuda:N`` load
device (a torch.device object only: nothing is allocated on it) and ``comfy_aimdo.host_buffer.HostBuffer``, which
needs aimdo's native library, is a stand-in with its Python surface (``size``). Skipped on a ComfyUI without the
class (0.3.75)."""
import pytest
import torch
from harness.inprocess import import_comfyui
from harness.paths import harness


class _HostBuffer:
    """comfy_aimdo.host_buffer.HostBuffer's Python surface as the patcher's bookkeeping reads it."""

    def __init__(self, prewarm=0, max_mmap_size=0, *_args):
        self.size = 0

    def truncate(self, *_args, **_kwargs):
        pass


class _Owner(torch.nn.Module):
    """A BaseModel's shape as the seam reads it: the network at .diffusion_model."""

    def __init__(self):
        super().__init__()
        self.diffusion_model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.SiLU(),
                                                   torch.nn.Conv2d(8, 4, 3, padding=1))
        self.model_loaded_weight_memory = 0
        self.lowvram_patch_counter = 0
        self.model_lowvram = False
        self.current_weight_patches_uuid = None


@pytest.fixture()
def dynamic(monkeypatch):
    import_comfyui(harness().comfyui)
    import comfy.model_patcher as mp

    if not hasattr(mp, "ModelPatcherDynamic"):
        pytest.skip("this ComfyUI has no dynamic-VRAM patcher (ModelPatcherDynamic arrived in 0.3x)")
    import comfy_aimdo.host_buffer

    monkeypatch.setattr(comfy_aimdo.host_buffer, "HostBuffer", _HostBuffer)
    patcher = mp.ModelPatcherDynamic(_Owner(), load_device=torch.device("cuda", 0),
                                     offload_device=torch.device("cpu"))
    assert type(patcher) is mp.ModelPatcherDynamic and patcher.is_dynamic()
    return patcher


def test_clones_of_a_dynamic_patcher_are_dynamic(dynamic):
    clone = dynamic.clone()
    assert type(clone) is type(dynamic) and clone.is_dynamic() and clone.model is dynamic.model


def test_device_placement_registers_the_new_load_device(dynamic):
    """Setting load_device alone leaves the dynamic patcher without pin state for it: its RAM unloading then
    raises KeyError (core's own device selectors call register_load_device). The seam's setter registers it."""
    from loadout.nodes.comfy_compat.devices import set_load_device

    clone = dynamic.clone()
    other = torch.device("cuda", 1)
    raw = dynamic.clone()
    raw.load_device = other
    with pytest.raises(KeyError):
        raw.partially_unload_ram(1)
    set_load_device(clone, other)
    assert clone.load_device == other and other in clone.model.dynamic_pins
    assert clone.partially_unload_ram(1) == 0 and dynamic.load_device == torch.device("cuda", 0)


def test_offload_model_refuses_a_dynamic_patcher_and_names_the_setting(dynamic):
    """Decision (README, VRAM section): under dynamic VRAM core's loader already streams the weights; Loadout's
    offloader would manage the same weights a second time, so the node refuses, naming the ComfyUI flag."""
    from harness.inprocess import run_node
    from loadout.core.common.errors import LoadoutError
    from loadout.nodes.comfy_compat.offload import is_dynamic, model_binding
    from loadout.nodes.offload import LoadoutOffloadModel

    assert is_dynamic(dynamic)
    with pytest.raises(LoadoutError, match=r"Offload model \(Loadout\): input 'model': is loaded by ComfyUI's "
                                           r"dynamic VRAM .*--disable-dynamic-vram"):
        run_node(LoadoutOffloadModel, hidden={"UNIQUE_ID": "5"}, model=dynamic, strategy="auto", budget_gb=0.0,
                 prefetch=1)
    assert model_binding(dynamic) is None  # nothing was attached to the input


def test_offload_clip_refuses_a_clip_on_a_dynamic_patcher(dynamic):
    from harness.inprocess import run_node
    from loadout.core.common.errors import LoadoutError
    from loadout.nodes.offload import LoadoutOffloadCLIP

    class _Clip:  # what the node reads of a CLIP before refusing: its patcher
        patcher = dynamic

        def clone(self):
            raise AssertionError("a refused CLIP is never cloned")

    with pytest.raises(LoadoutError, match=r"Offload CLIP \(Loadout\): input 'clip': is loaded by ComfyUI's "
                                           r"dynamic VRAM .*--disable-dynamic-vram"):
        run_node(LoadoutOffloadCLIP, hidden={"UNIQUE_ID": "6"}, clip=_Clip(), strategy="auto", budget_gb=0.0,
                 prefetch=1)


def test_the_tiled_vae_runs_a_dynamic_vae_itself_on_its_device(monkeypatch):
    """A real core VAE (the tiny KL VAE) built on the dynamic patcher with a cuda load device: its parameters stay
    in host memory (dynamic loading), yet the tiled decode must run the VAE's own module on the VAE's device (comfy.ops
    casts the weights per call, as core's decode does), never a float32 copy moved to the GPU."""
    import_comfyui(harness().comfyui)
    import comfy.model_patcher as mp

    if not hasattr(mp, "ModelPatcherDynamic"):
        pytest.skip("this ComfyUI has no dynamic-VRAM patcher (ModelPatcherDynamic arrived in 0.3x)")
    import comfy.sd
    import comfy.utils
    import comfy_aimdo.host_buffer
    from loadout.nodes import vae as vae_nodes
    from loadout.nodes.comfy_compat import vae as vae_compat

    monkeypatch.setattr(comfy_aimdo.host_buffer, "HostBuffer", _HostBuffer)
    monkeypatch.setattr(mp, "CoreModelPatcher", mp.ModelPatcherDynamic)  # what main.py sets when dynamic VRAM is on
    sd = comfy.utils.load_torch_file(str(harness().models / "vae" / "loadout-tiny-kl-vae.safetensors"))
    vae = comfy.sd.VAE(sd=sd, device=torch.device("cuda", 0), dtype=torch.float32)
    assert type(vae.patcher) is mp.ModelPatcherDynamic
    p = vae_compat.parts(vae)
    assert p.dynamic and str(p.device) == "cuda:0"
    assert next(p.model.parameters()).device.type == "cpu"  # where dynamic loading keeps them
    module, dtype = vae_nodes._module_on(p.model, str(p.device), p.dtype, p)
    assert module is p.model and dtype == torch.float32
    module, _ = vae_nodes._module_on(p.model, "cpu", p.dtype, p)  # the CPU rung: the same module, on the host
    assert module is p.model
    assert not vae_compat.parts(comfy.sd.VAE(sd=sd, device=torch.device("cpu"), dtype=torch.float32)).dynamic
