"""Pins what ``nodes/comfy_compat/vae.py`` relies on, on the ComfyUI under test (in-process, CPU): a KL VAE's
fields and its first-stage model's ldm layout (what the seam-free tiling computes with must be what core's decode
and encode compute), loading for a run, core's tiled fallbacks, VAELoader's names and loading a VAE with a dtype,
and a model's latent format."""
import pytest
import torch
from harness.graphs import TINY_SD15, TINY_VAE
from harness.inprocess import import_comfyui
from harness.paths import harness


@pytest.fixture(scope="module")
def loaded():
    h = harness()
    import_comfyui(h.comfyui)
    import comfy.sd
    import comfy.utils
    import folder_paths

    folder_paths.add_model_folder_path("vae", str(h.models / "vae"), is_default=True)
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(h.models / "vae" / TINY_VAE)))
    model, _, _, _ = comfy.sd.load_checkpoint_guess_config(str(h.models / "checkpoints" / TINY_SD15),
                                                           output_vae=False, output_clip=False)
    return vae, model


def test_a_kl_vae_as_plain_parts(loaded):
    import comfy.model_management as mm
    from loadout.nodes.comfy_compat.vae import parts

    vae, _ = loaded
    p = parts(vae)
    assert p.kind == "AutoencoderKL" and p.model is vae.first_stage_model
    for name in ("encoder", "decoder", "quant_conv", "post_quant_conv", "regularization"):
        assert hasattr(p.model, name), name
    assert p.dtype == next(p.model.parameters()).dtype and p.device == torch.device("cpu")
    assert p.result_device == mm.intermediate_device()
    assert (p.latent_channels, p.decode_scale, p.encode_scale) == (4, 8, 8)
    x = torch.tensor([0.0, 0.5, 1.0])
    assert torch.equal(p.process_input(x), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(p.process_output(torch.tensor([-3.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]))


def test_the_ldm_layout_computes_what_core_decode_and_encode_do(loaded):
    from loadout.nodes.comfy_compat.vae import crop_for_encode, load_for_run, parts

    vae, _ = loaded
    p = parts(vae)
    load_for_run(vae, 1 << 20)
    z = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = p.process_output(p.model.decoder(p.model.post_quant_conv(z)).float())
    assert torch.equal(ours.movedim(1, -1), vae.decode(z))
    pixels = crop_for_encode(vae, torch.rand(1, 67, 70, 3, generator=torch.Generator().manual_seed(1)))
    assert pixels.shape == (1, 64, 64, 3)
    with torch.no_grad():
        h = p.model.quant_conv(p.model.encoder(p.process_input(pixels.movedim(-1, 1))))
        mean, _ = p.model.regularization(h)
    assert torch.equal(mean.float(), vae.encode(pixels))


def test_core_tiled_fallbacks_take_tiles_in_latent_and_image_pixels(loaded):
    from loadout.nodes.comfy_compat.vae import core_decode_tiled, core_encode_tiled

    vae, _ = loaded
    with torch.inference_mode():  # as ComfyUI runs nodes (core's tiled encode adds in place)
        images = core_decode_tiled(vae, torch.zeros(1, 4, 8, 8), 8, 2)
        latent = core_encode_tiled(vae, torch.rand(1, 64, 64, 3), 64, 8)
    assert images.shape == (1, 64, 64, 3) and latent.shape == (1, 4, 8, 8)


def test_vae_names_and_loading_with_a_dtype(loaded):
    from loadout.nodes.comfy_compat.vae import load_named, parts, vae_names, with_dtype

    vae, _ = loaded
    names = vae_names()
    assert TINY_VAE in names and names[-1] == "pixel_space"
    named = load_named(TINY_VAE, torch.bfloat16)
    assert parts(named).dtype == torch.bfloat16 and parts(named).kind == "AutoencoderKL"
    with pytest.raises(Exception):
        load_named("loadout-no-such-vae.safetensors", None)
    before = parts(vae).dtype
    other = with_dtype(vae, torch.bfloat16)
    assert parts(other).dtype == torch.bfloat16 and parts(vae).dtype == before
    w = dict(vae.first_stage_model.named_parameters())["decoder.conv_out.weight"]
    assert torch.equal(dict(other.first_stage_model.named_parameters())["decoder.conv_out.weight"],
                       w.to(torch.bfloat16))


def test_a_models_latent_format(loaded):
    from loadout.nodes.comfy_compat.vae import model_latent_format

    _, model = loaded
    assert model_latent_format(model) == ("SD15", 0.18215)
