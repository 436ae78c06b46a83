"""cli/workflow_format.py (loadout.cli / loadout_cli): widget slots and UI <-> API conversion on a small object_info."""
from loadout.cli.workflow_format import (FRONTEND_ONLY, api_to_ui, assign_stages, check_ui, lay_out, layout_problems,
                                         node_rect, ui_to_api, widget_names)

INFO = {
    "Src": {"input": {"required": {"seed": ["INT", {"control_after_generate": True}], "mode": [["a", "b"], {}]}},
            "output": ["LATENT"], "output_name": ["LATENT"]},
    "Mid": {"input": {"required": {"latent": ["LATENT", {}], "scale": ["FLOAT", {}]},
                      "optional": {"extra": ["*", {}], "forced": ["INT", {"forceInput": True}]}},
            "output": ["IMAGE", "STRING"], "output_name": ["image", "text"]},
}
API = {
    "1": {"class_type": "Src", "inputs": {"seed": 7, "mode": "b"}},
    "2": {"class_type": "Mid", "inputs": {"latent": ["1", 0], "scale": 0.5, "extra": ["1", 0]}},
}
LINKED_WIDGET = {
    "1": {"class_type": "Src", "inputs": {"seed": 7, "mode": "b"}},
    "2": {"class_type": "Mid", "inputs": {"latent": ["1", 0], "scale": ["3", 0]}},
    "3": {"class_type": "Num", "inputs": {}},
}


def test_widget_slots_follow_object_info():
    assert widget_names(INFO["Src"]) == ["seed", "seed:control_after_generate", "mode"]
    assert widget_names(INFO["Mid"]) == ["scale"]


def test_api_to_ui_round_trips_and_checks_clean():
    ui = api_to_ui(API, INFO, note="hello")
    assert ui_to_api(ui, INFO) == API
    assert check_ui(ui, INFO) == []
    assert [n["type"] for n in ui["nodes"]][-1] == "MarkdownNote" and "MarkdownNote" in FRONTEND_ONLY
    src = next(n for n in ui["nodes"] if n["type"] == "Src")
    assert src["widgets_values"] == [7, "fixed", "b"]


def test_widget_fed_by_a_link_round_trips():
    info = dict(INFO, Num={"input": {"required": {}}, "output": ["FLOAT"], "output_name": ["FLOAT"]})
    ui = api_to_ui(LINKED_WIDGET, info)
    mid = next(n for n in ui["nodes"] if n["type"] == "Mid")
    assert {"name": "scale", "type": "FLOAT", "widget": {"name": "scale"}, "link": 2} in mid["inputs"]
    assert mid["widgets_values"] == [0.0]
    assert ui_to_api(ui, info) == LINKED_WIDGET and check_ui(ui, info) == []


def test_check_ui_reports_missing_types_and_bad_widgets():
    ui = api_to_ui(API, INFO)
    ui["nodes"][0]["widgets_values"] = [7, "fixed", "c"]
    ui["nodes"][1]["type"] = "Gone"
    problems = check_ui(ui, INFO)
    assert any("'c' not among its options" in p for p in problems)
    assert any("Gone is not in /object_info" in p for p in problems)


def test_lay_out_groups_by_stage_without_overlaps_and_keeps_the_prompt():
    info = {
        "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["m.safetensors"], {}]}},
                                   "output": ["MODEL", "CLIP", "VAE"], "output_name": ["MODEL", "CLIP", "VAE"]},
        "CLIPTextEncode": {"input": {"required": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP", {}]}},
                           "output": ["CONDITIONING"], "output_name": ["CONDITIONING"]},
        "EmptyLatentImage": {"input": {"required": {"width": ["INT", {}], "height": ["INT", {}]}},
                             "output": ["LATENT"], "output_name": ["LATENT"]},
        "KSampler": {"input": {"required": {"model": ["MODEL", {}], "seed": ["INT", {"control_after_generate": True}],
                                            "positive": ["CONDITIONING", {}], "latent_image": ["LATENT", {}]}},
                     "output": ["LATENT"], "output_name": ["LATENT"]},
        "LoadoutMemoryMonitor": {"input": {"required": {"value": ["*", {}]}}, "output": ["*", "STRING"],
                                 "output_name": ["value", "report"]},
        "VAEDecode": {"input": {"required": {"samples": ["LATENT", {}], "vae": ["VAE", {}]}},
                      "output": ["IMAGE"], "output_name": ["IMAGE"]},
        "SaveImage": {"input": {"required": {"images": ["IMAGE", {}], "filename_prefix": ["STRING", {}]}},
                      "output": [], "output_name": []},
    }
    api = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 1, "positive": ["2", 0],
                                                   "latent_image": ["4", 0]}},
        "6": {"class_type": "LoadoutMemoryMonitor", "inputs": {"value": ["5", 0]}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "x"}},
    }
    notes = {"load": "load", "condition": "prompts", "sample": "**sample**", "decode": "decode", "save": "save"}
    ui = api_to_ui(api, info, note="overview", stage_notes=notes)
    assert ui_to_api(ui, info) == api and check_ui(ui, info) == [] and layout_problems(ui) == []
    stages = assign_stages(ui)
    assert stages[6] == "sample" and stages[4] == "sample" and stages[8] == "save"  # the monitor follows its input
    assert [g["title"] for g in ui["groups"]] == ["About this workflow", "Step 1 - Load models", "Step 2 - Prompts",
                                                   "Step 3 - Sample", "Step 4 - Decode", "Step 5 - Save"]
    lefts = [g["bounding"][0] for g in ui["groups"]]
    assert lefts == sorted(lefts)
    notes_by_title = {n["title"]: n["widgets_values"][0] for n in ui["nodes"] if n["type"] == "MarkdownNote"}
    assert notes_by_title["About"] == "overview" and notes_by_title["Note: Sample"] == "**sample**"
    again = lay_out(ui, overview="overview", stage_notes=notes)  # idempotent: the old notes are replaced
    assert again["nodes"] == ui["nodes"] and again["groups"] == ui["groups"]


def test_layout_problems_names_overlaps_and_strays():
    ui = {"nodes": [{"id": 1, "type": "A", "pos": [10, 60], "size": [100, 100]},
                    {"id": 2, "type": "B", "pos": [50, 100], "size": [100, 100]},
                    {"id": 3, "type": "C", "pos": [900, 900], "size": [10, 10]}],
          "groups": [{"title": "g", "bounding": [0, 0, 400, 400]}, {"title": "h", "bounding": [300, 300, 50, 50]}]}
    problems = layout_problems(ui)
    assert "nodes 1 (A) and 2 (B) overlap" in problems and "groups 'g' and 'h' overlap" in problems
    assert "node 3 (C) is inside 0 groups, not one" in problems
    assert node_rect(ui["nodes"][0]) == (10, 30, 110, 160)  # the title bar above pos
