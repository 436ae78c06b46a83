"""No Loadout node changes its inputs: every node runs twice on the same inputs (ComfyUI imported in this
process, the harness's tiny models) and the inputs' tensors, model weights, patches, options and conditioning
hash the same afterwards as before."""
import hashlib

import torch
from harness.graphs import TINY_CONTROLNET, TINY_KOHYA
from harness.inprocess import run_node


def _h(obj, d) -> None:
    """Feed a stable digest of ``obj`` into ``d``: tensors by bytes, containers recursively, ComfyUI objects by
    their weights, patches and options."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        d.update(str((tuple(t.shape), t.dtype)).encode())
        d.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        for k in sorted(obj, key=repr):
            d.update(repr(k).encode())
            _h(obj[k], d)
    elif isinstance(obj, (list, tuple)):
        d.update(f"{type(obj).__name__}{len(obj)}".encode())
        for x in obj:
            _h(x, d)
    elif hasattr(obj, "patches") and hasattr(obj, "model"):  # ModelPatcher
        _h(obj.model.state_dict(), d)
        _h(obj.patches, d)
        _h({k: v for k, v in obj.model_options.items() if k != "transformer_options"}, d)
        d.update(repr(sorted(obj.model_options.get("transformer_options", {}))).encode())
    elif hasattr(obj, "cond_stage_model") and hasattr(obj, "patcher"):  # CLIP
        _h(obj.patcher, d)
    elif hasattr(obj, "first_stage_model"):  # VAE
        _h(obj.first_stage_model.state_dict(), d)
    elif hasattr(obj, "cond_hint_original") or hasattr(obj, "control_model"):  # ControlNet
        _h(getattr(obj, "cond_hint_original", None), d)
        d.update(repr((getattr(obj, "strength", None), getattr(obj, "timestep_percent_range", None))).encode())
        if getattr(obj, "control_model", None) is not None:
            _h(obj.control_model.state_dict(), d)
    elif isinstance(obj, (str, int, float, bool)) or obj is None:
        d.update(repr(obj).encode())
    else:
        d.update(type(obj).__name__.encode())


def digest(*objs) -> str:
    d = hashlib.blake2b(digest_size=16)
    for o in objs:
        _h(o, d)
    return d.hexdigest()


def twice_unchanged(fn, *inputs):
    before = digest(*inputs)
    for _ in range(2):
        fn()
    assert digest(*inputs) == before, "a node changed its inputs"


def test_lora_and_controlnet_stacks_leave_inputs_unchanged(comfy_inprocess):
    from loadout.nodes import controlnet as controlnet_nodes, lora as lora_nodes

    c = comfy_inprocess
    stack = run_node(lora_nodes.LoadoutLoraStack, None, lora_name=TINY_KOHYA, model_strength=0.8,
                     clip_strength=0.6, enabled=True, category="")[0]
    twice_unchanged(lambda: run_node(lora_nodes.LoadoutApplyLoraStack, None, model=c["model"], lora_stack=stack,
                                     multiplier=1.0, on_missing="error", clip=c["clip"]),
                    c["model"], c["clip"], stack)
    cn_entry = dict(control_net_name=TINY_CONTROLNET, image=c["image"], enabled=True)
    cn_stack = run_node(controlnet_nodes.LoadoutControlNetStack, None, **cn_entry, strength=0.8, start_percent=0.0,
                        end_percent=1.0)[0]
    twice_unchanged(lambda: run_node(controlnet_nodes.LoadoutControlNetStack, None, **cn_entry, strength=0.5,
                                     start_percent=0.1, end_percent=0.9, control_net_stack=cn_stack),
                    cn_stack, c["image"])
    apply_cn = controlnet_nodes.LoadoutApplyControlNetStack
    twice_unchanged(lambda: run_node(apply_cn, None, positive=c["pos"], negative=c["neg"], control_net_stack=cn_stack),
                    c["pos"], c["neg"], cn_stack)
    # chained: the second apply receives conditioning that already carries a net
    once = run_node(apply_cn, None, positive=c["pos"], negative=c["neg"], control_net_stack=cn_stack).result
    twice_unchanged(lambda: run_node(apply_cn, None, positive=once[0], negative=once[1], control_net_stack=cn_stack),
                    once[0], once[1])


def test_scheduler_nodes_leave_the_model_unchanged(comfy_inprocess):
    from loadout.nodes import schedules as s

    c = comfy_inprocess
    twice_unchanged(lambda: run_node(s.LoadoutScheduler, None, model=c["model"], schedule="ays_sd1", steps=8,
                                     denoise=1.0), c["model"])
    twice_unchanged(lambda: run_node(s.LoadoutSamplerPreset, None, model=c["model"], preset="DPM++ 2M Karras",
                                     steps=8, denoise=0.7), c["model"])
    twice_unchanged(lambda: run_node(s.LoadoutAutoSampler, None, model=c["model"], steps=8, denoise=1.0,
                                     distilled="auto"), c["model"])
    sig = run_node(s.LoadoutScheduler, None, model=c["model"], schedule="karras", steps=8, denoise=1.0).result[0]
    twice_unchanged(lambda: run_node(s.LoadoutSigmaPreview, None, sigmas_1=sig, labels="a", width=256, height=192),
                    sig)


def test_vae_nodes_leave_vae_latent_and_pixels_unchanged(comfy_inprocess):
    from loadout.nodes import vae as vae_nodes

    c = comfy_inprocess
    twice_unchanged(lambda: run_node(vae_nodes.LoadoutVAEDecodeTiled, None, samples=c["latent"], vae=c["vae"],
                                     tile_size=64, overlap=-1, memory_budget_mb=0, batch_slice=1,
                                     memory_mode="low memory"),
                    c["latent"], c["vae"])
    twice_unchanged(lambda: run_node(vae_nodes.LoadoutVAEEncodeTiled, None, pixels=c["image"], vae=c["vae"],
                                     tile_size=64, batch_slice=1),
                    c["image"], c["vae"])
    twice_unchanged(lambda: run_node(vae_nodes.LoadoutVAESelect, None, mode="baked", vae_name="None", dtype="fp32",
                                     model=c["model"], vae=c["vae"]),
                    c["model"], c["vae"])


def test_preprocessors_and_monitor_leave_images_unchanged(comfy_inprocess):
    from loadout.nodes import monitor as memory_monitor, pose as pose_nodes, preprocessors as p

    c = comfy_inprocess
    img = c["image"]
    for name in p.ALL_IN_ONE:
        if "anime" in name or "coarse" in name:
            continue  # no weights in the harness (their error is tested elsewhere)
        twice_unchanged(lambda: run_node(p.LoadoutPreprocessor, None, preprocessor=name, image=img, resolution=128,
                                         output_size="input size"), img)
    twice_unchanged(lambda: run_node(pose_nodes.LoadoutPosePreprocessor, None, image=img, resolution=128,
                                     output_size="input size", body=True, hands=True, face=True,
                                     min_visibility=0.5), img)
    twice_unchanged(lambda: run_node(p.LoadoutNormalFromDepth, None, depth=img, bg_threshold=0.1, depth_scale=255.0),
                    img)
    twice_unchanged(lambda: run_node(memory_monitor.LoadoutMemoryMonitor, {"UNIQUE_ID": "1"}, label="x",
                                     reset_peak=False, value=img), img)


def test_offload_nodes_and_sampling_with_them_leave_model_and_clip_unchanged(comfy_inprocess):
    import nodes as core
    from loadout.nodes import offload as o

    c = comfy_inprocess
    lat = {"samples": torch.zeros(1, 4, 8, 8)}
    for strategy, budget in (("offload", 0.06), ("fp8", 0.0), ("sequential", 0.0)):
        twice_unchanged(lambda: core.common_ksampler(
            run_node(o.LoadoutOffloadModel, None, model=c["model"], strategy=strategy, budget_gb=budget,
                     prefetch=2)[0], 1, 2, 5.0, "euler",
            "normal", c["pos"], c["neg"], lat), c["model"], c["pos"], c["neg"], lat)
    twice_unchanged(lambda: core.CLIPTextEncode().encode(
        run_node(o.LoadoutOffloadCLIP, None, clip=c["clip"], strategy="sequential", budget_gb=0.0, prefetch=1)[0],
        "a lighthouse"), c["clip"])
    twice_unchanged(lambda: run_node(o.LoadoutDevicePlacement, None, clip_device="cpu", vae_device="cpu",
                                     clip=c["clip"], vae=c["vae"]),
                    c["clip"], c["vae"])


def test_the_digest_sees_in_place_changes(comfy_inprocess):
    c = comfy_inprocess
    model = c["model"].clone()
    before = digest(model, c["pos"])
    key = next(iter(model.model.state_dict()))
    w = model.model.state_dict()[key]
    original = w.clone()
    w.add_(1)  # in place, as a careless node would
    assert digest(model, c["pos"]) != before
    w.copy_(original)
    model.add_patches({key: (torch.zeros_like(w),)}, 1.0)
    assert digest(model) != digest(c["model"])
    c["pos"][0][1]["marker"] = 1
    assert digest(c["pos"]) != before
    del c["pos"][0][1]["marker"]
