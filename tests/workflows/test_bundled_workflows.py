"""Every bundled workflow: API twins run and produce outputs (our client and comfy-cli); UI files load cleanly and
are served as templates with their thumbnails."""
import json
import os
import subprocess
from pathlib import Path

import pytest
from harness.paths import PACK_DIR_NAME, REPO, harness
from loadout.cli.workflow_format import check_ui, strip_meta, ui_to_api

UI = sorted((REPO / "workflows").glob("*.json"))
API = sorted((REPO / "workflows" / "api").glob("*.json"))


def test_every_ui_workflow_has_an_api_twin_and_back():
    assert UI, "no bundled workflows"
    assert [p.name for p in UI] == [p.name for p in API]


@pytest.mark.parametrize("path", API, ids=[p.stem for p in API])
def test_api_workflow_runs_and_produces_outputs(comfy, path):
    result = comfy.run(json.loads(path.read_text()))
    files = result.files()
    assert files or any(out.get("text") for out in result.outputs.values()), f"{path.name} produced nothing"
    for f in files:
        assert comfy.client.fetch(f), f


@pytest.mark.parametrize("path", UI, ids=[p.stem for p in UI])
def test_ui_workflow_loads_and_matches_its_api_twin(comfy, path):
    ui = json.loads(path.read_text())
    assert check_ui(ui, comfy.object_info) == []
    twin = json.loads((REPO / "workflows" / "api" / path.name).read_text())
    assert strip_meta(ui_to_api(ui, comfy.object_info)) == strip_meta(twin), "UI and API twins differ"
    assert any(n["type"] in ("Note", "MarkdownNote") and n["widgets_values"][0].strip() for n in ui["nodes"]), \
        "needs a note"


def test_ui_workflows_are_served_as_templates(comfy):
    templates = comfy.client.get_json("/workflow_templates")
    assert sorted(templates.get(PACK_DIR_NAME, [])) == sorted(p.stem for p in UI)
    for p in UI:
        served = comfy.client.get_json(f"/api/workflow_templates/{PACK_DIR_NAME}/{p.name}")
        assert served == json.loads(p.read_text())
        # the thumbnail the template browser shows for a custom node pack's template: NAME.jpg next to it
        thumb = comfy.client.get_bytes(f"/api/workflow_templates/{PACK_DIR_NAME}/{p.stem}.jpg")
        assert thumb == p.with_suffix(".jpg").read_bytes()


@pytest.mark.parametrize("path", API, ids=[p.stem for p in API])
def test_api_workflow_runs_with_comfy_cli(comfy, path, tmp_path):
    h = harness()
    host, port = comfy.url.removeprefix("http://").split(":")
    env = dict(os.environ, XDG_CONFIG_HOME=str(h.comfy_cli_config), VIRTUAL_ENV=str(h.python.parent.parent))
    proc = subprocess.run(
        [str(h.comfy_cli), "--skip-prompt", "--workspace", str(h.comfyui), "run", "--workflow", str(path),
         "--host", host, "--port", port, "--wait", "--timeout", "600"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, f"comfy run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
