"""cli/workflow_format.py (loadout.cli / loadout_cli): widget slots and UI <-> API conversion on a small object_info."""
from loadout.cli.workflow_format import api_to_ui, check_ui, ui_to_api, widget_names

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
    assert [n["type"] for n in ui["nodes"]][-1] == "Note"
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
