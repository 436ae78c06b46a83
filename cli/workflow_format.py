"""UI-format (what the frontend saves and users drag in) and API-format (what /prompt runs) workflows.

- ``widget_names``: which inputs of a node type are widgets in the UI, in widget order, from /object_info.
- ``ui_to_api``: convert a UI workflow the way the frontend does for our node set (used to keep twins in sync).
- ``api_to_ui``: lay out an API workflow as a UI workflow (used by scripts/make_ui_workflow.py).
- ``check_ui``: node types exist and widget counts match /object_info.
"""
from __future__ import annotations

import copy
from collections import defaultdict

# Node types the frontend provides without a Python class: they never reach /prompt.
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
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


def api_to_ui(api: dict, object_info: dict, note: str = "", seed_control: str = "fixed") -> dict:
    """Lay out an API workflow as a UI workflow (columns by dependency depth), with an optional Note node."""
    api = copy.deepcopy(api)
    depths = _depths(api)
    columns: dict[int, list[str]] = defaultdict(list)
    for node_id in sorted(api, key=lambda k: (depths[k], int(k))):
        columns[depths[node_id]].append(node_id)
    nodes, links = [], []
    out_links: dict[tuple[str, int], list[int]] = defaultdict(list)
    link_id = 0
    order = 0
    positions = {}
    for col, node_ids in sorted(columns.items()):
        y = 40 + (260 if col == 0 and note else 0)
        for node_id in node_ids:
            info = object_info[api[node_id]["class_type"]]
            height = 46 + 26 * (len(widget_names(info)) + max(len(socket_inputs(info)), len(info["output"])))
            positions[node_id] = ([40 + col * 380, y], [340, height])
            y += height + 40
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
        pos, size = positions[node_id]
        ui_node = {"id": int(node_id), "type": node["class_type"], "pos": pos, "size": size, "flags": {},
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
    last_id = max(int(k) for k in api)
    if note:
        last_id += 1
        nodes.append({"id": last_id, "type": "Note", "pos": [40, 40], "size": [700, 220], "flags": {},
                      "order": order, "mode": 0, "inputs": [], "outputs": [], "properties": {},
                      "widgets_values": [note], "color": "#432", "bgcolor": "#653"})
    return {"last_node_id": last_id, "last_link_id": link_id, "nodes": nodes, "links": links, "groups": [],
            "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}}, "version": 0.4}
