"""UI-format (what the frontend saves and users drag in) and API-format (what /prompt runs) workflows.

- ``widget_names``: which inputs of a node type are widgets in the UI, in widget order, from /object_info.
- ``ui_to_api``: convert a UI workflow the way the frontend does for our node set (used to keep twins in sync).
- ``api_to_ui``: an API workflow as a UI workflow, laid out by ``lay_out`` (used by scripts/make_ui_workflow.py).
- ``lay_out``: place a UI workflow's nodes left to right in titled groups by stage (load, LoRA, VRAM, prompts and
  ControlNet, sample, decode, save), a Markdown note at the top of each group; nodes, links and widget values stay.
- ``check_ui``: node types exist and widget counts match /object_info.
- ``layout_problems``: overlapping nodes or groups, nodes outside their group (what the layout must never produce).
"""
from __future__ import annotations

import copy
import math
import re
from collections import defaultdict

# Node types the frontend provides without a Python class: they never reach /prompt.
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
NOTE_TYPES = {"Note", "MarkdownNote"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def _inputs(node_info: dict):
    for section in ("required", "optional"):
        for name, spec in (node_info.get("input", {}).get(section) or {}).items():
            yield name, spec


def is_widget(spec) -> bool:
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if options.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def widget_names(node_info: dict) -> list[str]:
    """Widget value slots in ``widgets_values`` order. Seeds with ``control_after_generate`` get an extra slot
    (the frontend's "fixed/increment/randomize" widget), image uploads an "upload" slot."""
    names = []
    for name, spec in _inputs(node_info):
        if not is_widget(spec):
            continue
        names.append(name)
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        if options.get("control_after_generate"):
            names.append(f"{name}:control_after_generate")
        if options.get("image_upload"):
            names.append(f"{name}:upload")
    return names


def socket_inputs(node_info: dict) -> list[tuple[str, str]]:
    return [(name, spec[0]) for name, spec in _inputs(node_info) if not is_widget(spec)]


def ui_to_api(ui: dict, object_info: dict) -> dict:
    """API prompt from a UI workflow: widget values by name, links as [source id, output slot]."""
    links = {link[0]: link for link in ui.get("links", [])}
    api = {}
    for node in ui["nodes"]:
        if node["type"] in FRONTEND_ONLY or node.get("mode", 0) in (2, 4):  # muted / bypassed nodes are not sent
            continue
        info = object_info[node["type"]]
        inputs = {}
        values = list(node.get("widgets_values") or [])
        for name, value in zip(widget_names(info), values):
            if ":" not in name:
                inputs[name] = value
        for inp in node.get("inputs", []):
            if inp.get("link") is not None:
                link = links[inp["link"]]
                inputs[inp["name"]] = [str(link[1]), link[2]]
        api[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
        title = node.get("title")
        if title:
            api[str(node["id"])]["_meta"] = {"title": title}
    return api


def strip_meta(api: dict) -> dict:
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()}


def check_ui(ui: dict, object_info: dict) -> list[str]:
    """Problems a user would hit on loading: unknown node types, wrong widget counts, dangling links."""
    problems = []
    ids = {n["id"] for n in ui["nodes"]}
    for node in ui["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        info = object_info.get(node["type"])
        if info is None:
            problems.append(f"node {node['id']}: type {node['type']} is not in /object_info (missing node)")
            continue
        expected = widget_names(info)
        got = node.get("widgets_values") or []
        if len(got) != len(expected):
            problems.append(f"node {node['id']} ({node['type']}): {len(got)} widget values, "
                            f"/object_info gives {len(expected)} widgets {expected}")
        for name, value in zip(expected, got):
            spec = dict(_inputs(info)).get(name)
            if spec is not None and isinstance(spec[0], list) and value not in spec[0]:
                problems.append(f"node {node['id']} ({node['type']}): {name}={value!r} not among its options")
    for link in ui.get("links", []):
        if link[1] not in ids or link[3] not in ids:
            problems.append(f"link {link[0]} joins a missing node")
    return problems


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _widget_default(spec):
    kind = spec[0]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return options["default"]
    if isinstance(kind, list):
        return kind[0] if kind else ""
    return {"INT": 0, "FLOAT": 0.0, "BOOLEAN": False}.get(kind, "")


def _depths(api: dict) -> dict[str, int]:
    memo: dict[str, int] = {}

    def depth(node_id: str) -> int:
        if node_id not in memo:
            sources = [v[0] for v in api[node_id]["inputs"].values() if _is_link(v)]
            memo[node_id] = 1 + max((depth(s) for s in sources), default=-1)
        return memo[node_id]

    for node_id in api:
        depth(node_id)
    return memo


def ui_type(kind) -> str:
    """A socket type as the frontend saves it: an option list (a combo type, e.g. an output typed by KSampler's
    sampler list) is "COMBO". Frontend 1.58 cannot load a graph whose links carry the list itself (its workflow
    store's structuredClone fails)."""
    return kind if isinstance(kind, str) else "COMBO"


def api_to_ui(api: dict, object_info: dict, note: str = "", seed_control: str = "fixed",
              stage_notes: dict | None = None, titles: dict | None = None) -> dict:
    """An API workflow as a UI workflow, laid out by ``lay_out`` (``note``: the overview note's Markdown)."""
    api = copy.deepcopy(api)
    depths = _depths(api)
    nodes, links = [], []
    out_links: dict[tuple[str, int], list[int]] = defaultdict(list)
    link_id = 0
    order = 0
    for node_id in sorted(api, key=lambda k: (depths[k], int(k))):
        node = api[node_id]
        info = object_info[node["class_type"]]
        inputs = []
        for name, kind in socket_inputs(info):
            value = node["inputs"].get(name)
            entry = {"name": name, "type": ui_type(kind), "link": None}
            if isinstance(value, list) and len(value) == 2:
                link_id += 1
                src, slot = value
                links.append([link_id, int(src), slot, int(node_id), len(inputs),
                              ui_type(object_info[api[src]["class_type"]]["output"][slot])])
                out_links[(src, slot)].append(link_id)
                entry["link"] = link_id
            inputs.append(entry)
        values = []
        specs = dict(_inputs(info))
        for name in widget_names(info):
            if name.endswith(":control_after_generate"):
                values.append(seed_control)
            elif name.endswith(":upload"):
                values.append("image")
            elif _is_link(node["inputs"].get(name)):
                # a widget fed by a link: the frontend lists it as an input and keeps a widget value slot
                src, slot = node["inputs"][name]
                link_id += 1
                links.append([link_id, int(src), slot, int(node_id), len(inputs),
                              ui_type(object_info[api[src]["class_type"]]["output"][slot])])
                out_links[(src, slot)].append(link_id)
                kind = specs[name][0]
                inputs.append({"name": name, "type": ui_type(kind),
                               "widget": {"name": name}, "link": link_id})
                values.append(_widget_default(specs[name]))
            else:
                values.append(node["inputs"][name])
        ui_node = {"id": int(node_id), "type": node["class_type"], "pos": [0, 0], "size": [340, 100], "flags": {},
                   "order": order, "mode": 0, "inputs": inputs, "outputs": [],
                   "properties": {"Node name for S&R": node["class_type"]}, "widgets_values": values}
        if node.get("_meta", {}).get("title"):
            ui_node["title"] = node["_meta"]["title"]
        nodes.append(ui_node)
        order += 1
    for ui_node in nodes:
        info = object_info[ui_node["type"]]
        for slot, kind in enumerate(info["output"]):
            ui_node["outputs"].append({"name": info["output_name"][slot], "type": ui_type(kind),
                                       "links": out_links.get((str(ui_node["id"]), slot), []), "slot_index": slot})
    ui = {"last_node_id": max(int(k) for k in api), "last_link_id": link_id, "nodes": nodes, "links": links,
          "groups": [], "config": {}, "extra": {}, "version": 0.4}
    return lay_out(ui, overview=note, stage_notes=stage_notes, titles=titles)


# ---- layout ---------------------------------------------------------------------------------------------------
# LiteGraph geometry: a node's ``pos`` is the top left of its body; the title bar (NODE_TITLE_HEIGHT) is drawn above
# it. A group's ``bounding`` is [x, y, width, height], its title (font_size * 1.4) drawn inside at the top.
NODE_TITLE_H = 30
GROUP_FONT = 24
GROUP_TITLE_H = math.ceil(GROUP_FONT * 1.4)
PAD = 20  # inside a group, around its nodes
HEADER = GROUP_TITLE_H + 16  # group top to the first node's title bar
GAP_X, GAP_Y, GROUP_GAP = 50, 30, 70
MAX_COLUMN_H = 1400  # a taller column of independent nodes wraps into the next one
NOTE_W, ABOUT_W = 380, 560
GROUP_COLOR, ABOUT_COLOR = "#3f789e", "#88a"
NOTE_COLOR, NOTE_BG = "#432", "#653"  # as ComfyUI's own templates' notes

STAGES = ("load", "lora", "vram", "condition", "sample", "decode", "save")
STAGE_TITLES = {"load": "Load models", "lora": "LoRAs", "vram": "VRAM", "condition": "Prompts & ControlNet",
                "sample": "Sample", "decode": "Decode", "save": "Save"}
STAGE_OF = {
    "CheckpointLoaderSimple": "load", "CheckpointLoader": "load", "UNETLoader": "load", "CLIPLoader": "load",
    "DualCLIPLoader": "load", "VAELoader": "load", "ControlNetLoader": "load", "LoadImage": "load",
    "LoraLoader": "lora", "LoraLoaderModelOnly": "lora", "LoadoutLoraStack": "lora",
    "LoadoutLoraStackFromText": "lora", "LoadoutApplyLoraStack": "lora",
    "LoadoutOffloadModel": "vram", "LoadoutOffloadCLIP": "vram", "LoadoutDevicePlacement": "vram",
    "CLIPTextEncode": "condition", "ControlNetApplyAdvanced": "condition", "LoadoutControlNetStack": "condition",
    "LoadoutApplyControlNetStack": "condition", "LoadoutPreprocessor": "condition",
    "LoadoutOpenPoseRender": "condition", "LoadoutNormalFromDepth": "condition",
    "EmptyLatentImage": "sample", "KSampler": "sample", "KSamplerAdvanced": "sample", "SamplerCustom": "sample",
    "LoadoutSamplerPreset": "sample", "LoadoutScheduler": "sample", "LoadoutAutoSampler": "sample",
    "LoadoutSigmaPreview": "sample",
    "VAEDecode": "decode", "VAEEncode": "decode", "LoadoutVAEDecodeTiled": "decode", "LoadoutVAEEncodeTiled": "decode",
    "LoadoutVAESelect": "decode", "LoadoutVAEInfo": "decode", "ImageBatch": "decode",
    "SaveImage": "save", "PreviewImage": "save",
}
# Pass-through and report nodes go where their input comes from (a monitor after the sampler is part of sampling,
# a report sits next to what it reports); so does any type the table does not know.
INHERITS = {"LoadoutMemoryMonitor", "PreviewAny", "Reroute", "PrimitiveNode"}
MULTILINE = {"CLIPTextEncode", "LoadoutLoraStackFromText"}
IMAGE_NODES = {"SaveImage", "PreviewImage", "LoadImage"}


def stage_of(node_type: str) -> str | None:
    if node_type in STAGE_OF:
        return STAGE_OF[node_type]
    if node_type.startswith("Loadout") and node_type.endswith("Preprocessor"):
        return "condition"
    return None


def node_size(node: dict) -> list[int]:
    """A size that holds the node's sockets and widgets as the frontend draws them (text and image nodes get room
    for their text box or image)."""
    sockets = sum(1 for i in node.get("inputs", []) if not i.get("widget"))
    rows = max(sockets, len(node.get("outputs", [])))
    widgets = len(node.get("widgets_values") or [])
    width, height = 340, 46 + 26 * (widgets + rows)
    kind = node["type"]
    if kind in MULTILINE:
        width, height = 400, height + 100
    elif kind in IMAGE_NODES:
        width, height = 320, max(height + 250, 320)
    elif kind == "PreviewAny":
        height = max(height, 180)
    return [width, height]


def note_height(text: str, width: int) -> int:
    """Room for ``text`` as the frontend renders Markdown in a note ``width`` px wide (about 7.5 px a character,
    22 px a line, headings taller), with a margin. Link targets and emphasis marks are not shown, so not counted."""
    per_line = max(20, int((width - 24) / 7.5))
    height = 40
    shown = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("**", "").replace("`", "")
    for line in shown.splitlines() or [""]:
        rows = max(1, math.ceil(len(line) / per_line))
        height += rows * (30 if line.startswith("#") else 22)
    return int(math.ceil(height / 10.0) * 10)


def _sources(ui: dict) -> dict[int, list[int]]:
    links = {link[0]: link for link in ui.get("links", [])}
    sources: dict[int, list[int]] = defaultdict(list)
    for node in ui["nodes"]:
        for inp in node.get("inputs", []):
            if inp.get("link") is not None and inp["link"] in links:
                sources[node["id"]].append(links[inp["link"]][1])
    return sources


def assign_stages(ui: dict) -> dict[int, str]:
    """Each (non-note) node's stage: from its type, or inherited from its inputs; never before an input's."""
    nodes = {n["id"]: n for n in ui["nodes"] if n["type"] not in NOTE_TYPES}
    sources = _sources(ui)
    memo: dict[int, int] = {}

    def index(node_id: int, seen=()) -> int:
        if node_id in memo:
            return memo[node_id]
        if node_id in seen:  # a cycle cannot reach /prompt; keep it finite
            return 0
        upstream = [index(s, seen + (node_id,)) for s in sources.get(node_id, []) if s in nodes]
        floor = max(upstream, default=0)
        own = stage_of(nodes[node_id]["type"])
        memo[node_id] = max(floor, STAGES.index(own)) if own and nodes[node_id]["type"] not in INHERITS else floor
        return memo[node_id]

    return {node_id: STAGES[index(node_id)] for node_id in nodes}


def _group_title(stage: str, members: list[dict]) -> str:
    if stage == "condition":
        types = {n["type"] for n in members}
        prompts = "CLIPTextEncode" in types
        control = any("ControlNet" in t for t in types)
        hints = any(t.endswith("Preprocessor") or t == "LoadoutOpenPoseRender" for t in types)
        if prompts and (control or hints):
            return "Prompts & ControlNet"
        if prompts:
            return "Prompts"
        return "ControlNet" if control else "Preprocessors"
    if stage == "load":
        images = any(n["type"] == "LoadImage" for n in members)
        models = any(n["type"] != "LoadImage" for n in members)
        return "Load models & image" if images and models else "Load image" if images else "Load models"
    if stage == "save":
        return "Save & preview" if any(n["type"] == "PreviewImage" for n in members) else "Save"
    return STAGE_TITLES[stage]


def _columns(members: list[dict], sources: dict[int, list[int]]) -> list[list[dict]]:
    """Members in columns by dependency depth inside the group; a too tall column wraps."""
    ids = {n["id"] for n in members}
    depth: dict[int, int] = {}

    def d(node_id: int, seen=()) -> int:
        if node_id not in depth:
            inner = [s for s in sources.get(node_id, []) if s in ids and s not in seen]
            depth[node_id] = 1 + max((d(s, seen + (node_id,)) for s in inner), default=-1)
        return depth[node_id]

    by_depth: dict[int, list[dict]] = defaultdict(list)
    for node in members:
        by_depth[d(node["id"])].append(node)
    return [by_depth[k] for k in sorted(by_depth)]


def lay_out(ui: dict, overview: str = "", stage_notes: dict | None = None, titles: dict | None = None) -> dict:
    """Lay ``ui`` out again, left to right: an "About" group with the ``overview`` note (if given), then one titled
    group per stage the workflow has (load → LoRA → VRAM → prompts/ControlNet → sample → decode → save), each with a
    Markdown note from ``stage_notes[stage]`` at its top. Within a group, nodes stand in columns by dependency and
    each column is ordered by where its inputs come from. Only positions, sizes, groups, the notes and the view
    change: the other nodes, their ids, inputs, outputs, widget values and the links stay as they are (so the
    workflow converts to the same API prompt). Existing Note / MarkdownNote nodes are replaced by the new notes."""
    ui = copy.deepcopy(ui)
    stage_notes, titles = stage_notes or {}, titles or {}
    unknown = set(stage_notes) - set(STAGES)
    if unknown:
        raise ValueError(f"notes for unknown stages {sorted(unknown)}; stages are {STAGES}")
    real = [n for n in ui["nodes"] if n["type"] not in NOTE_TYPES]
    stages = assign_stages(ui)
    sources = _sources(ui)
    next_id = max([n["id"] for n in real] + [0]) + 1
    order = max([n.get("order", 0) for n in real] + [-1]) + 1
    notes: list[dict] = []

    def make_note(title: str, text: str) -> dict:
        nonlocal next_id, order
        note = {"id": next_id, "type": "MarkdownNote", "pos": [0, 0], "size": [NOTE_W, 100], "flags": {},
                "order": order, "mode": 0, "inputs": [], "outputs": [], "title": title, "properties": {},
                "widgets_values": [text], "color": NOTE_COLOR, "bgcolor": NOTE_BG}
        next_id += 1
        order += 1
        notes.append(note)
        return note

    plan: list[tuple[str, str, dict | None, list[dict]]] = []  # (key, title, note, members)
    if overview.strip():
        plan.append(("about", titles.get("about", "About this workflow"), make_note("About", overview), []))
    for stage in STAGES:
        members = [n for n in real if stages[n["id"]] == stage]
        if not members:
            continue
        title = titles.get(stage, _group_title(stage, members))
        note = make_note(f"Note: {title}", stage_notes[stage]) if stage_notes.get(stage, "").strip() else None
        plan.append((stage, title, note, members))

    rank: dict[int, int] = {}  # placement order: a column's nodes follow the order of their inputs
    groups = []
    x = 0
    for number, (key, title, note, members) in enumerate(plan):
        columns = []
        for column in _columns(members, sources):
            def barycentre(node):
                placed = [rank[s] for s in sources.get(node["id"], []) if s in rank]
                return (0, sum(placed) / len(placed)) if placed else (1, 0.0)
            column.sort(key=barycentre)  # stable: the file's order among equals
            chunk, height = [], 0
            for node in column:
                node["size"] = node_size(node)
                h = NODE_TITLE_H + node["size"][1] + GAP_Y
                if chunk and height + h > MAX_COLUMN_H:
                    columns.append(chunk)
                    chunk, height = [], 0
                chunk.append(node)
                height += h
            if chunk:
                columns.append(chunk)
        widths = [max(n["size"][0] for n in col) for col in columns]
        inner_w = max(sum(widths) + GAP_X * max(len(widths) - 1, 0), ABOUT_W if key == "about" else NOTE_W)
        top = HEADER
        if note is not None:
            note["size"] = [inner_w, note_height(note["widgets_values"][0], inner_w)]
            note["pos"] = [x + PAD, top + NODE_TITLE_H]
            top += NODE_TITLE_H + note["size"][1] + GAP_Y
        bottom = top
        cx = x + PAD
        for col, width in zip(columns, widths):
            cy = top
            for node in col:
                node["pos"] = [cx, cy + NODE_TITLE_H]
                rank[node["id"]] = len(rank)
                cy += NODE_TITLE_H + node["size"][1] + GAP_Y
            bottom = max(bottom, cy)
            cx += width + GAP_X
        height = bottom - GAP_Y + PAD
        label = title if key == "about" else f"Step {number + (0 if plan[0][0] == 'about' else 1)} - {title}"
        groups.append({"id": len(groups) + 1, "title": label, "bounding": [x, 0, inner_w + 2 * PAD, height],
                       "color": ABOUT_COLOR if key == "about" else GROUP_COLOR, "font_size": GROUP_FONT,
                       "flags": {}})
        x += inner_w + 2 * PAD + GROUP_GAP

    ui["nodes"] = real + notes
    ui["groups"] = groups
    ui["last_node_id"] = max(n["id"] for n in ui["nodes"])
    width = max((g["bounding"][0] + g["bounding"][2] for g in groups), default=1)
    height = max((g["bounding"][1] + g["bounding"][3] for g in groups), default=1)
    scale = round(max(0.3, min(1.0, 1800 / width, 950 / height)), 3)
    ui["extra"] = {**{k: v for k, v in (ui.get("extra") or {}).items() if k != "ds"},
                   "ds": {"scale": scale, "offset": [round(40 / scale, 1), round(40 / scale, 1)]}}
    return ui


def node_rect(node: dict) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a node as drawn: its body and the title bar above ``pos``."""
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - NODE_TITLE_H, x + w, y + h


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def layout_problems(ui: dict) -> list[str]:
    """What a clean layout never has: two nodes overlapping, two groups overlapping, a node outside every group (or
    reaching into a group's title bar)."""
    problems = []
    rects = [(n, node_rect(n)) for n in ui["nodes"]]
    for i, (a, ra) in enumerate(rects):
        for b, rb in rects[i + 1:]:
            if _overlap(ra, rb):
                problems.append(f"nodes {a['id']} ({a['type']}) and {b['id']} ({b['type']}) overlap")
    boxes = [(g, (g["bounding"][0], g["bounding"][1], g["bounding"][0] + g["bounding"][2],
                  g["bounding"][1] + g["bounding"][3])) for g in ui.get("groups", [])]
    for i, (a, ra) in enumerate(boxes):
        for b, rb in boxes[i + 1:]:
            if _overlap(ra, rb):
                problems.append(f"groups {a['title']!r} and {b['title']!r} overlap")
    for node, r in rects:
        inside = [g for g, box in boxes
                  if box[0] <= r[0] and r[2] <= box[2] and box[1] + GROUP_TITLE_H <= r[1] and r[3] <= box[3]]
        if len(inside) != 1:
            problems.append(f"node {node['id']} ({node['type']}) is inside {len(inside)} groups, not one")
    return problems
