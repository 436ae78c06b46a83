"""Write the template browser's thumbnail of every bundled workflow: workflows/NAME.jpg next to workflows/NAME.json.

    python scripts/make_thumbnails.py            # every workflow
    python scripts/make_thumbnails.py lora_stack # one

ComfyUI serves a custom node pack's workflows/ folder at /api/workflow_templates/<pack folder>/ and lists its
*.json files at /workflow_templates; the frontend shows each template with <name>.jpg from that folder (its
template store gives custom-node templates mediaType "image", mediaSubtype "jpg", and no "-1" index suffix). So the
thumbnail is workflows/NAME.jpg, 512×512 JPEG.

- preprocessor_gallery: the real outputs of Loadout's pure preprocessors (Canny, MLSD, Scribble xdog, Lineart
  standard, Pose, person segmentation; HED soft edge and HED scribble with the tiny seeded ControlNetHED.pth of
  scripts/tiny_annotators.py, written to a temporary folder, so marked "*") on the bundled photo
  (matplotlib's grace_hopper.jpg), at the gallery's settings (resolution 512). Needs the dev venv (numpy, OpenCV,
  torch, mediapipe).
- every other workflow: its graph drawn from the UI JSON (groups, nodes, links; the groups wrapped into rows so the
  picture is square), with the workflow's title.

Deterministic: the same files in give the same pixels (fixed fonts from matplotlib, no randomness, no clock).
"""
from __future__ import annotations

import io
import json
import math
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
SIZE = 512
QUALITY = 82
BACKGROUND = (24, 24, 27)
GRID = (34, 34, 38)
NODE_BODY = (53, 53, 53)
NODE_TITLE = (34, 34, 34)
NODE_TEXT = (210, 210, 210)
WIDGET = (34, 34, 34)
# LiteGraph's / ComfyUI's link colours per type
LINK_COLORS = {"MODEL": "#B39DDB", "CLIP": "#FFD500", "VAE": "#FF6E6E", "CONDITIONING": "#FFA931",
               "LATENT": "#FF9CF9", "IMAGE": "#64B5F6", "MASK": "#81C784", "CONTROL_NET": "#00D78D",
               "SIGMAS": "#CDFFCD", "SAMPLER": "#ECB4B4", "STRING": "#77CC77", "LORA_STACK": "#C6A15B",
               "CONTROL_NET_STACK": "#00A86B", "COMBO": "#AAAAAA"}
TITLE_H = 30  # LiteGraph's node title bar, above pos
SLOT_H = 20


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), max(6, int(size)))


def hex_rgb(value: str, default=(80, 80, 80)) -> tuple:
    value = (value or "").lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    try:
        return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return default


def mix(a, b, t: float) -> tuple:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))


def workflow_title(ui: dict, stem: str) -> str:
    for node in ui["nodes"]:
        if node.get("title") == "About":
            for line in node["widgets_values"][0].splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return stem.replace("_", " ")


def _fit(draw, text: str, fnt, width: float) -> str:
    if draw.textlength(text, font=fnt) <= width:
        return text
    while text and draw.textlength(text + "…", font=fnt) > width:
        text = text[:-1]
    return text + "…" if text else ""


def _rows(groups: list[dict], box_w: float, box_h: float, gap: float) -> list[list[int]]:
    """Consecutive groups in rows, the split that lets the whole drawing be largest in a box_w × box_h box."""
    widths = [g["bounding"][2] for g in groups]
    heights = [g["bounding"][3] for g in groups]
    best, best_scale = [list(range(len(groups)))], 0.0
    for rows in range(1, min(len(groups), 4) + 1):
        target = (sum(widths) + gap * (len(groups) - rows)) / rows
        split, current, width = [], [], 0.0
        for i, w in enumerate(widths):
            if current and width + w / 2 > target and len(split) < rows - 1:
                split.append(current)
                current, width = [], 0.0
            current.append(i)
            width += w + gap
        split.append(current)
        total_w = max(sum(widths[i] for i in row) + gap * (len(row) - 1) for row in split)
        total_h = sum(max(heights[i] for i in row) for row in split) + gap * (len(split) - 1)
        scale = min(box_w / total_w, box_h / total_h)
        if scale > best_scale * 1.02:
            best, best_scale = split, scale
    return best


def render_graph(ui: dict, title: str, size: int = SIZE, height: int | None = None) -> Image.Image:
    """The graph as a square picture (``size``; or ``size`` × ``height``): the groups (wrapped into rows), their
    nodes and notes, the links."""
    width, height = size, height or size
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img, "RGBA")
    for x in range(0, width, 16):
        draw.line([(x, 0), (x, height)], fill=GRID)
    for y in range(0, height, 16):
        draw.line([(0, y), (width, y)], fill=GRID)
    size = min(width, height)
    header = int(size * 0.12)
    draw.rectangle([0, 0, width, header], fill=(16, 16, 18))
    draw.text((size * 0.04, header * 0.18), "Loadout", font=font(header * 0.26, bold=True), fill=(120, 170, 210))
    draw.text((size * 0.04, header * 0.48), _fit(draw, title, font(header * 0.36, bold=True), width * 0.92),
              font=font(header * 0.36, bold=True), fill=(235, 235, 235))

    groups = ui.get("groups") or []
    nodes = ui["nodes"]
    margin, gap_px = size * 0.04, size * 0.03
    box_w, box_h = width - 2 * margin, height - header - 2 * margin
    rows = _rows(groups, box_w, box_h, gap=60)
    widths = [g["bounding"][2] for g in groups]
    heights = [g["bounding"][3] for g in groups]
    row_w = [sum(widths[i] for i in row) for row in rows]
    row_h = [max(heights[i] for i in row) for row in rows]
    scale = min((box_w - gap_px * (max(len(r) for r in rows) - 1)) / max(row_w),
                (box_h - gap_px * (len(rows) - 1)) / sum(row_h))
    # where each group goes: (graph x0, graph y0) -> (pixel x0, pixel y0)
    place = {}
    total_h = sum(row_h) * scale + gap_px * (len(rows) - 1)
    py = header + margin + (box_h - total_h) / 2
    for row, h in zip(rows, row_h):
        width = sum(widths[i] for i in row) * scale + gap_px * (len(row) - 1)
        px = margin + (box_w - width) / 2
        for i in row:
            place[i] = (groups[i]["bounding"][0], groups[i]["bounding"][1], px, py)
            px += widths[i] * scale + gap_px
        py += h * scale + gap_px

    def group_index(node) -> int | None:
        x, y = node["pos"]
        for i, g in enumerate(groups):
            gx, gy, gw, gh = g["bounding"]
            if gx <= x <= gx + gw and gy <= y <= gy + gh:
                return i
        return None

    def to_px(i: int, x: float, y: float) -> tuple[float, float]:
        gx, gy, px, py = place[i]
        return px + (x - gx) * scale, py + (y - gy) * scale

    where = {n["id"]: group_index(n) for n in nodes}
    by_id = {n["id"]: n for n in nodes}
    title_font = font(24 * scale * 1.6, bold=True)
    for i, g in enumerate(groups):
        gx, gy, gw, gh = g["bounding"]
        x0, y0 = to_px(i, gx, gy)
        x1, y1 = to_px(i, gx + gw, gy + gh)
        colour = hex_rgb(g.get("color"), (63, 120, 158))
        draw.rounded_rectangle([x0, y0, x1, y1], radius=max(2, 6 * scale), fill=colour + (60,),
                               outline=colour + (200,), width=1)
        band = max(title_font.size + 4, 34 * scale)
        draw.rectangle([x0, y0, x1, y0 + band], fill=colour + (150,))
        label = g["title"].split(" - ", 1)[-1]
        draw.text((x0 + 3, y0 + 1), _fit(draw, label, title_font, x1 - x0 - 6), font=title_font,
                  fill=(240, 240, 240))
    # links under the nodes
    for link in ui.get("links", []):
        _, src, slot, dst, dst_slot, kind = link
        a, b = by_id.get(src), by_id.get(dst)
        if a is None or b is None or where[src] is None or where[dst] is None:
            continue
        x0, y0 = to_px(where[src], a["pos"][0] + a["size"][0], a["pos"][1] + 14 + SLOT_H * slot)
        x1, y1 = to_px(where[dst], b["pos"][0], b["pos"][1] + 14 + SLOT_H * dst_slot)
        colour = hex_rgb(LINK_COLORS.get(kind, "#9A9A9A"))
        reach = max(12.0, abs(x1 - x0) * 0.45)
        points = []
        for k in range(25):
            t = k / 24
            bx = (1 - t) ** 3 * x0 + 3 * (1 - t) ** 2 * t * (x0 + reach) + 3 * (1 - t) * t ** 2 * (x1 - reach) \
                + t ** 3 * x1
            by = (1 - t) ** 3 * y0 + 3 * (1 - t) ** 2 * t * y0 + 3 * (1 - t) * t ** 2 * y1 + t ** 3 * y1
            points.append((bx, by))
        same_row = abs(y1 - y0) < size * 0.25 or any(where[src] in r and where[dst] in r for r in rows)
        draw.line(points, fill=colour + ((220,) if same_row else (110,)), width=2 if size >= 400 else 1)
    node_font = font(max(7, 14 * scale * 1.5))
    for node in nodes:
        i = where[node["id"]]
        if i is None:
            continue
        (x, y), (w, h) = node["pos"], node["size"]
        x0, y0 = to_px(i, x, y - TITLE_H)
        x1, y1 = to_px(i, x + w, y + h)
        ty = to_px(i, x, y)[1]
        is_note = node["type"] in ("Note", "MarkdownNote")
        body = hex_rgb(node.get("bgcolor"), NODE_BODY) if is_note or node.get("bgcolor") else NODE_BODY
        head = hex_rgb(node.get("color"), NODE_TITLE) if node.get("color") else NODE_TITLE
        draw.rounded_rectangle([x0, y0, x1, y1], radius=max(1, 5 * scale), fill=body + (255,),
                               outline=(15, 15, 15, 255))
        draw.rounded_rectangle([x0, y0, x1, ty], radius=max(1, 5 * scale), fill=head + (255,))
        label = node.get("title") or node["type"]
        draw.text((x0 + 3, y0 + max(0, (ty - y0 - node_font.size) / 2) - 1),
                  _fit(draw, label, node_font, x1 - x0 - 6), font=node_font, fill=NODE_TEXT)
        # widgets (or a note's lines of text) as bars
        row_px = (26 if not is_note else 22) * scale
        first = ty + (SLOT_H * max(len(node.get("inputs", [])), len(node.get("outputs", []))) + 8) * scale
        count = len(node.get("widgets_values") or []) if not is_note else int((y1 - ty - 8 * scale) / row_px)
        for k in range(count):
            top = (first if not is_note else ty + 6 * scale) + k * row_px
            if top + row_px * 0.6 > y1 - 2:
                break
            right = x1 - 4 * scale if not is_note else x0 + (x1 - x0) * (0.55 + 0.4 * ((k * 7919) % 10) / 10)
            bar = WIDGET if not is_note else mix(body, (0, 0, 0), 0.35)  # a note's "lines of text" vary in length
            draw.rounded_rectangle([x0 + 4 * scale, top, right, top + row_px * 0.62], radius=max(1, 3 * scale),
                                   fill=bar + (255,))
    return img


# ---- the preprocessor gallery: real outputs --------------------------------------------------------------------

def gallery_tiles(photo_path: Path, resolution: int = 512) -> list[tuple[str, "Image.Image"]]:
    """(label, image) of the photo and each gallery preprocessor's output on it, at the gallery's settings."""
    sys.path.insert(0, str(REPO / "tests"))  # the harness package: defines the ``loadout`` alias for this repo
    import harness  # noqa: F401
    import numpy as np
    from loadout.preprocessors import (canny, hed, image_ops, lineart_standard, mlsd, openpose_render,
                                       pose_mediapipe, scribble, selfie_segmentation)

    import tiny_annotators

    photo = np.asarray(Image.open(photo_path).convert("RGB"))
    det = image_ops.resize_for_detection(photo, resolution)
    h, w = photo.shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        hed_net = hed.load_controlnet_hed(tiny_annotators.make_tiny_controlnet_hed(Path(tmp) / "ControlNetHED.pth"))
    people = pose_mediapipe.detect(det, hands=True, face=True, min_visibility=0.5)
    maps = [
        ("Canny", canny.canny(det, 100, 200, False)),
        ("MLSD lines", mlsd.mlsd(det, 0.1, 10.0)),
        ("Scribble xdog", scribble.scribble_xdog(det, 32)),
        ("Lineart standard", lineart_standard.lineart_standard(det, 6.0, 8.0)),
        ("HED soft edge*", hed.hed_soft_edge(det, hed_net)),
        ("Scribble HED*", scribble.scribble_from_soft_edges(hed.hed_soft_edge(det, hed_net), 127, 3.0)),
        ("Pose", openpose_render.render(people, det.shape[1], det.shape[0], draw_body=True, draw_hands=True,
                                        draw_face=True)),
        ("Segmentation person", selfie_segmentation.person_mask(det, 0.5, "general")),
    ]
    tiles = [("Photo", Image.fromarray(photo))]
    for label, result in maps:
        tiles.append((label, Image.fromarray(image_ops.resize(result, h, w)).convert("RGB")))
    return tiles


def render_gallery(tiles: list, title: str, size: int = SIZE) -> Image.Image:
    img = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(img)
    header = int(size * 0.12)
    draw.rectangle([0, 0, size, header], fill=(16, 16, 18))
    draw.text((size * 0.04, header * 0.18), "Loadout", font=font(header * 0.26, bold=True), fill=(120, 170, 210))
    draw.text((size * 0.04, header * 0.48), title, font=font(header * 0.36, bold=True), fill=(235, 235, 235))
    cols = 3
    rows = math.ceil(len(tiles) / cols)
    pad = size * 0.015
    cell_w = (size - pad * (cols + 1)) / cols
    cell_h = (size - header - pad * (rows + 1)) / rows
    label_font = font(size * 0.024, bold=True)
    note_font = font(size * 0.022)
    note = "* HED with tiny seeded test weights"
    draw.text((size - pad - draw.textlength(note, font=note_font), header * 0.18), note,
              font=note_font, fill=(150, 150, 150))
    for k, (label, tile) in enumerate(tiles):
        r, c = divmod(k, cols)
        x0, y0 = pad + c * (cell_w + pad), header + pad + r * (cell_h + pad)
        fitted = tile.copy()
        fitted.thumbnail((int(cell_w), int(cell_h)), Image.LANCZOS)
        ox = int(x0 + (cell_w - fitted.width) / 2)
        oy = int(y0 + (cell_h - fitted.height) / 2)
        img.paste(fitted, (ox, oy))
        label = _fit(draw, label, label_font, fitted.width - 8)
        tw = draw.textlength(label, font=label_font)
        draw.rectangle([ox, oy + fitted.height - label_font.size - 6, ox + tw + 8, oy + fitted.height],
                       fill=(0, 0, 0))
        draw.text((ox + 4, oy + fitted.height - label_font.size - 4), label, font=label_font, fill=(240, 240, 240))
    return img


def jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=False, subsampling="4:2:0")
    return out.getvalue()


def thumbnail(path: Path) -> bytes:
    ui = json.loads(path.read_text())
    title = workflow_title(ui, path.stem)
    if path.stem == "preprocessor_gallery":
        import matplotlib

        photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        return jpeg(render_gallery(gallery_tiles(photo), title))
    return jpeg(render_graph(ui, title))


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:])
    paths = [REPO / "workflows" / f"{n}.json" for n in names] if names else sorted((REPO / "workflows").glob("*.json"))
    for path in paths:
        data = thumbnail(path)
        out = path.with_suffix(".jpg")
        out.write_bytes(data)
        print(f"{out.relative_to(REPO)} ({len(data) // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
