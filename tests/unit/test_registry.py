"""nodes/registry.py: every module registers, and a missing optional package disables only its module.

The node classes are V3 ``io.ComfyNode`` subclasses, so ComfyUI's ``comfy_api`` must be importable: these tests
import the harness ComfyUI in-process (CPU), as ComfyUI has done before it loads a pack."""
import logging

import pytest
from harness.inprocess import import_comfyui
from harness.paths import harness


@pytest.fixture(scope="module", autouse=True)
def _comfyui():
    import_comfyui(harness().comfyui)


def _registry():
    from loadout.nodes.registry import NODE_MODULES, NodeModule, load_nodes

    return NODE_MODULES, NodeModule, load_nodes


def test_modules_register_prefixed_ids():
    NODE_MODULES, NodeModule, load_nodes = _registry()
    classes, names, disabled = load_nodes("loadout", (NodeModule("monitor"),))
    assert disabled == {}
    assert "LoadoutMemoryMonitor" in classes
    for node_id, cls in classes.items():
        schema = cls.GET_SCHEMA()
        assert node_id.startswith("Loadout") and schema.node_id == node_id
        assert names[node_id].endswith("(Loadout)")
        assert schema.category.startswith("Loadout/")
    assert len(NODE_MODULES) == len({m.name for m in NODE_MODULES})


def test_missing_optional_package_disables_only_that_module(caplog):
    _, NodeModule, load_nodes = _registry()
    modules = (NodeModule("monitor"), NodeModule("monitor_pose", ("no_such_pkg_loadout",), "pose"))
    with caplog.at_level(logging.WARNING):
        classes, _, disabled = load_nodes("loadout", modules)
    assert "LoadoutMemoryMonitor" in classes
    assert set(disabled) == {"monitor_pose"}
    assert "no_such_pkg_loadout" in disabled["monitor_pose"]
    assert "pip install 'comfyui-loadout[pose]'" in disabled["monitor_pose"]
    assert any(r.getMessage().startswith("[Loadout] nodes in 'monitor_pose' disabled") for r in caplog.records)


def test_module_that_fails_to_import_is_disabled_with_reason():
    _, NodeModule, load_nodes = _registry()
    classes, _, disabled = load_nodes("loadout", (NodeModule("monitor"), NodeModule("does_not_exist")))
    assert "LoadoutMemoryMonitor" in classes
    assert disabled["does_not_exist"].startswith("import failed: ModuleNotFoundError")
