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


def test_the_offload_binding_installs_on_a_dynamic_patcher(dynamic, monkeypatch):
    """The binding's wiring (object patches, attachment, APPLY_MODEL wrapper, callbacks, size) is the base
    ModelPatcher's, which the dynamic class inherits; the patcher's devices are read as on the old class. The
    offloader's transport to the (absent) GPU is the harness's fake device."""
    import loadout.vram.offload.offloader as offloader_module
    from harness.fake_device import CapacityTransport
    from loadout.nodes.comfy_compat.offload import model_binding, offload_model

    monkeypatch.setattr(offloader_module, "transport_for", lambda *_a, **_k: CapacityTransport(1 << 30))
    from loadout.vram.offload.config import OffloadConfig

    clone, binding = offload_model(dynamic, OffloadConfig(strategy="sequential"), auto=False, ladder=True,
                                   node_id=None)
    assert clone.is_dynamic() and model_binding(clone) is binding and model_binding(dynamic) is None
    assert binding.offloader.device == torch.device("cuda", 0)
    assert set(clone.object_patches) == {"diffusion_model." + n for n in binding.wrappers}
    assert model_binding(clone.clone()) is binding
