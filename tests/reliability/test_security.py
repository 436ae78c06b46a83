"""Security properties of the pack's code: no pickle ever runs, no HTTP route serves files, nothing is
downloaded when the pack is imported."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACK_CODE = [REPO / "__init__.py"] + sorted(
    p for d in ("nodes", "vram", "preprocessors", "core", "cli") for p in (REPO / d).rglob("*.py"))


def calls(name_test):
    for path in PACK_CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and name_test(node):
                yield path, node


def _dotted(func) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def test_every_torch_load_refuses_pickled_code_and_pickle_is_never_loaded():
    loads = list(calls(lambda n: _dotted(n.func) == "torch.load"))
    assert loads, "expected the .pt readers"
    for path, node in loads:
        kw = {k.arg: k.value for k in node.keywords}
        assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, \
            f"{path}:{node.lineno}: torch.load without weights_only=True"
    bad = [f"{p}:{n.lineno}" for p, n in calls(lambda n: _dotted(n.func) in ("pickle.load", "pickle.loads",
                                                                              "dill.load", "joblib.load"))]
    assert not bad, bad


def test_the_pack_registers_no_http_routes_and_serves_only_its_frontend_scripts():
    text = "\n".join(p.read_text() for p in PACK_CODE)
    for needle in (".routes", "routes.get", "routes.post", "add_route", "add_static", "app.router", "web.get(",
                   "web.post("):
        assert needle not in text, f"pack code mentions {needle}: any route must validate names"
    # the uses of the server: pushing a node's text to the UI (the offloader's strategy path, as progress text) and
    # reading which prompt runs (to scope stack outputs), each in the compat seam
    users = {p.relative_to(REPO).as_posix(): p for p in PACK_CODE if "PromptServer" in p.read_text()}
    assert sorted(users) == ["nodes/comfy_compat/execution.py", "nodes/comfy_compat/offload.py"]
    uses = re.findall(r"server\.(\w+)", users["nodes/comfy_compat/offload.py"].read_text())
    assert set(uses) <= {"send_progress_text"}, uses
    reads = re.findall(r'"(\w+)", None\)', users["nodes/comfy_compat/execution.py"].read_text())
    assert set(reads) == {"PromptServer", "instance", "last_prompt_id"}, reads
    web = REPO / "web" / "js"
    assert all(p.suffix == ".js" for p in web.rglob("*") if p.is_file()), "web/js must hold scripts only"


def test_importing_the_pack_opens_no_network_connection():
    code = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[1])
attempts = []
real_connect = socket.socket.connect
def guard(self, address):
    attempts.append(repr(address))
    raise OSError("network disabled by the test")
socket.socket.connect = guard
socket.create_connection = lambda *a, **k: guard(None, a[0] if a else None)
from harness.paths import harness
from harness.inprocess import import_comfyui, import_pack
import_comfyui(harness().comfyui)
import folder_paths, nodes
before = len(attempts)
import_pack()
from loadout.nodes.registry import load_nodes
classes, names, disabled = load_nodes("loadout")
print(json.dumps({"attempts": attempts[before:], "nodes": len(classes), "disabled": disabled}))
"""
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "tests")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["attempts"] == [] and result["nodes"] >= 26 and result["disabled"] == {}, result
