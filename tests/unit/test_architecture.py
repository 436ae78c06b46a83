"""The tree is the architecture (ARCHITECTURE.md): two AST rules, each shown to catch a violation.

1. ``vram/``, ``preprocessors/`` and ``core/`` never import ComfyUI (nor the glue, the CLI or the test harness),
   not even inside a function.
2. Outside the one seam ``nodes/comfy_compat/``, glue uses only ComfyUI's public surface: no attribute that is
   patcher/VAE/device internals, no ``comfy.*`` function outside the allow-list, ``comfy_api`` only in
   ``nodes/api.py``, ``server`` and ``comfy_extras`` only in the seam.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PURE = ("vram", "preprocessors", "core")
COMFY_MODULES = {"comfy", "comfy_extras", "comfy_api", "comfy_execution", "folder_paths", "server", "nodes",
                 "execution", "node_helpers", "comfy_config", "latent_preview"}
NOT_FROM_PURE = ("nodes", "cli", "tests")  # pack folders a pure package must not reach by relative import
SEAM = REPO / "nodes" / "comfy_compat"

# ComfyUI attributes that are internals: read or written only inside the seam.
PRIVATE_ATTRS = {
    "backup", "patches_uuid", "current_patcher", "object_patches", "object_patches_backup", "comfy_patched_weights",
    "load_device", "offload_device", "patches", "first_stage_model", "cond_stage_model", "model_config",
    "current_loaded_models", "send_sync", "diffusion_model", "weight_inplace_update", "model_lowvram",
    "lowvram_patch_counter", "memory_used_decode", "memory_used_encode", "vae_dtype", "output_device",
    "working_dtypes", "OOM_EXCEPTION", "dtype_size", "minimum_inference_memory", "get_free_memory",
    "load_models_gpu", "model_sampling", "unet_config", "latent_format", "hook_patches", "wrappers", "callbacks",
    "last_node_id", "client_id",
}
# The public ComfyUI surface glue may use directly (documented, or what every core node uses).
ALLOWED_COMFY = {
    "comfy.utils.ProgressBar", "comfy.utils.load_torch_file",
    "comfy.model_management.get_torch_device", "comfy.model_management.intermediate_device",
    "comfy.model_management.soft_empty_cache", "comfy.model_management.throw_exception_if_processing_interrupted",
    "comfy.model_management.processing_interrupted", "comfy.model_management.unet_offload_device",
    "comfy.samplers.KSampler", "comfy.samplers.calculate_sigmas", "comfy.samplers.sampler_object",
    "comfy.samplers.SCHEDULER_NAMES", "comfy.samplers.SAMPLER_NAMES",
}


def _files(*folders):
    return sorted(p for d in folders for p in (REPO / d).rglob("*.py"))


def _rel_target(path: Path, node: ast.ImportFrom) -> Path:
    base = path.parent
    for _ in range(node.level - 1):
        base = base.parent
    return base.joinpath(*(node.module or "").split(".")) if node.module else base


def pure_violations(path: Path, source: str | None = None) -> list[str]:
    """Imports of ComfyUI (or of the glue/CLI/harness) anywhere in a pure package file."""
    tree = ast.parse(source if source is not None else path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _rel_target(path, node)
                try:
                    top = target.relative_to(REPO).parts[:1]
                except ValueError:
                    top = ()
                if top and top[0] in NOT_FROM_PURE:
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno}: imports the pack's {top[0]}/")
                continue
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top in COMFY_MODULES or top in ("harness", "loadout_cli"):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}: imports {name}")
    return bad


class _GlueVisitor(ast.NodeVisitor):
    def __init__(self, path: Path):
        self.path, self.bad, self.aliases = path, [], {}

    def _flag(self, node, what):
        self.bad.append(f"{self.path.relative_to(REPO)}:{node.lineno}: {what}")

    def _check_comfy(self, node, dotted: str):
        parts = dotted.split(".")
        top = parts[0]
        if top == "comfy_api" and self.path != REPO / "nodes" / "api.py":
            self._flag(node, f"{dotted}: import the node API from nodes/api.py")
        elif top in ("server", "comfy_extras", "execution", "comfy_execution"):
            self._flag(node, f"{dotted}: ComfyUI internals belong in nodes/comfy_compat/")
        elif top == "comfy" and len(parts) >= 3 and ".".join(parts[:3]) not in ALLOWED_COMFY:
            self._flag(node, f"{'.'.join(parts[:3])}: not in the public allow-list; reach it through nodes/comfy_compat/")
        elif top == "nodes" and len(parts) >= 2 and not (parts[1][:1].isupper() and not parts[1].isupper()):
            self._flag(node, f"{dotted}: only core node classes may be used from ComfyUI's nodes.py")

    def visit_Import(self, node):
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                self.aliases.setdefault(a.name.split(".")[0], a.name.split(".")[0])
            if a.name.split(".")[0] in ("comfy_api", "server", "comfy_extras", "execution", "comfy_execution"):
                self._check_comfy(node, a.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level == 0 and node.module and node.module.split(".")[0] in COMFY_MODULES:
            for a in node.names:
                dotted = f"{node.module}.{a.name}"
                self._check_comfy(node, dotted)
                self.aliases[a.asname or a.name] = dotted
        self.generic_visit(node)

    def _dotted(self, node):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id]] + parts[::-1])
        return None

    def visit_Attribute(self, node):
        if node.attr in PRIVATE_ATTRS:
            self._flag(node, f".{node.attr}: a ComfyUI internal; reach it through nodes/comfy_compat/")
        elif node.attr.startswith("_") and not node.attr.startswith("__") and not (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            self._flag(node, f".{node.attr}: private name of another object")
        dotted = self._dotted(node)
        if dotted and dotted.split(".")[0] in COMFY_MODULES:
            self._check_comfy(node, dotted)
            return  # the chain was checked whole
        self.generic_visit(node)


def glue_violations(path: Path, source: str | None = None) -> list[str]:
    visitor = _GlueVisitor(path)
    visitor.visit(ast.parse(source if source is not None else path.read_text(), filename=str(path)))
    return visitor.bad


def _glue_files():
    return [REPO / "__init__.py"] + [p for p in _files("nodes") if SEAM not in p.parents]


def test_pure_packages_never_import_comfyui():
    bad = [v for p in _files(*PURE) for v in pure_violations(p)]
    assert not bad, "pure packages must not import ComfyUI or the glue:\n" + "\n".join(bad)


def test_comfyui_internals_only_inside_the_seam():
    bad = [v for p in _glue_files() for v in glue_violations(p)]
    assert not bad, "outside nodes/comfy_compat/:\n" + "\n".join(bad)


@pytest.mark.parametrize("snippet", [
    "import comfy.utils\n",
    "def f():\n    import folder_paths\n",
    "from comfy_api.latest import io\n",
    "from ...nodes import lora\n",
    "from server import PromptServer\n",
])
def test_the_pure_rule_catches_a_violation(snippet):
    assert pure_violations(REPO / "core" / "lora" / "example.py", snippet)


@pytest.mark.parametrize("snippet", [
    "def f(model):\n    return model.backup\n",
    "def f(p):\n    p.object_patches['x'] = 1\n",
    "import comfy.lora\ndef f(sd, m):\n    return comfy.lora.load_lora(sd, m)\n",
    "import comfy.model_management as mm\ndef f():\n    return mm.current_loaded_models\n",
    "from comfy.model_patcher import string_to_seed\n",
    "from server import PromptServer\n",
    "from comfy_api.latest import io\n",
    "def f(v):\n    return v._private_thing\n",
])
def test_the_seam_rule_catches_a_violation(snippet):
    assert glue_violations(REPO / "nodes" / "example.py", snippet)


def test_the_seam_rule_allows_the_public_surface():
    ok = ("import comfy.utils\nimport comfy.model_management as mm\nimport folder_paths\nimport nodes as core\n"
          "def f(m):\n    pb = comfy.utils.ProgressBar(3)\n    d = mm.get_torch_device()\n"
          "    names = folder_paths.get_filename_list('loras')\n    c = m.clone()\n    c.add_patches({}, 1.0)\n"
          "    return core.ControlNetApplyAdvanced\n")
    assert glue_violations(REPO / "nodes" / "example.py", ok) == []
