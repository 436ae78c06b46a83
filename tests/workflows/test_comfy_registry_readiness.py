"""Registry readiness: `[tool.comfy]` is complete, `comfy node validate` passes, and `comfy node pack` builds a
zip of the pack's own files (no tests, no weights, no ComfyUI code)."""
import os
import shutil
import subprocess
import tomllib
import zipfile

import pytest
from harness.paths import REPO, harness


def _comfy(args, cwd, tmp_path):
    h = harness()
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(h.comfy_cli_config),
               VIRTUAL_ENV=str(h.python.parent.parent))
    return subprocess.run([str(h.comfy_cli), "--skip-prompt", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def test_tool_comfy_metadata_is_complete():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    comfy, project = meta["tool"]["comfy"], meta["project"]
    for key in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert isinstance(comfy.get(key), str) and comfy[key], key
    assert isinstance(comfy.get("includes"), list)
    assert (REPO / "web" / "icon.svg").is_file() and comfy["Icon"].endswith("web/icon.svg")
    assert project["name"] == "comfyui-loadout" and project["version"] and project["description"]
    assert project["urls"]["Repository"].startswith("https://")


def test_comfy_node_validate_passes(tmp_path):
    proc = _comfy(["node", "validate"], REPO, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All validation checks passed" in proc.stdout + proc.stderr


def test_comfy_node_pack_holds_the_pack_and_nothing_else(tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("comfy node pack packs git-tracked files: needs a git checkout")
    work = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(work)], check=True, timeout=120)
    # the working tree's current files (uncommitted edits included), as the clone's tracked set
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked:
        src, dst = REPO / rel, work / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    subprocess.run(["git", "add", "-A"], cwd=work, check=True)
    proc = _comfy(["node", "pack"], work, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with zipfile.ZipFile(work / "node.zip") as z:
        names = z.namelist()
        size = sum(i.file_size for i in z.infolist())
    for required in ("__init__.py", "pyproject.toml", "LICENSE", "README.md", "requirements.txt",
                     "web/js/node_reports.js", "vram/offload/offloader.py", "nodes/registry.py",
                     "workflows/enhanced_sdxl.json", "workflows/api/enhanced_sdxl.json", "cli/run_workflow.py"):
        assert required in names, required
    assert not [n for n in names if n.startswith(("tests/", "bench/", ".ci/"))]
    assert not [n for n in names if n.endswith((".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".h5", ".tflite"))]
    assert not [n for n in names if n.startswith(("comfy/", "comfy_extras/")) or n.endswith("main.py")]
    assert size < 5 * 2**20, size
