"""Rules every file of the pack keeps: cheap import, no print, no sys.path edits, metadata in agreement."""
import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACK_CODE = [REPO / "__init__.py"] + sorted(
    p for d in ("nodes", "vram", "preprocessors", "core", "cli") for p in (REPO / d).rglob("*.py")
)
HEAVY = {"cv2", "mediapipe", "diffusers", "transformers", "h5py", "scipy", "matplotlib", "skimage", "onnxruntime"}


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def test_pack_has_the_fixed_layout():
    for name in ("__init__.py", "nodes", "vram", "preprocessors", "core", "cli", "workflows", "tests", "pyproject.toml",
                 "README.md", "requirements.txt", "LICENSE", "Makefile", ".ci/run"):
        assert (REPO / name).exists(), name


def test_no_print_and_no_sys_path_edits_in_pack_code():
    for path in PACK_CODE:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                raise AssertionError(f"{path}:{node.lineno}: print() in pack code; use logging with [Loadout]")
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                raise AssertionError(f"{path}:{node.lineno}: sys.path touched in pack code")


def test_heavy_modules_are_imported_inside_functions_only():
    for path in PACK_CODE:
        for node in _tree(path).body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in HEAVY, f"{path}:{node.lineno}: top-level import of {name}"


def test_log_messages_carry_the_prefix():
    for path in PACK_CODE:
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"debug", "info", "warning", "error", "exception"}
                    and getattr(node.func.value, "id", "") in {"logger", "logging", "log"}
                    and node.args and isinstance(node.args[0], ast.Constant)):
                assert str(node.args[0].value).startswith("[Loadout]"), f"{path}:{node.lineno}"


def _req_names(lines):
    return {re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0].lower(): line.strip()
            for line in lines if line.strip() and not line.strip().startswith("#")}


def test_pyproject_and_requirements_agree():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["license"] in ("GPL-3.0-or-later", {"text": "GPL-3.0-or-later"})
    comfy = meta["tool"]["comfy"]
    for key in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert comfy.get(key), key
    reqs = _req_names((REPO / "requirements.txt").read_text().splitlines())
    deps = _req_names(project["dependencies"])
    assert reqs == deps, "requirements.txt and [project].dependencies must list the same specifiers"
    opencv = [n for n in deps if n.startswith("opencv")]
    assert opencv == ["opencv-python-headless"], "exactly one OpenCV wheel, chosen deliberately"
    for extra, packages in project["optional-dependencies"].items():
        assert not set(_req_names(packages)) & set(deps), f"extra {extra} repeats a required dependency"
