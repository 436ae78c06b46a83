"""nodes/registry.py: every module registers, and a missing optional package disables only its module."""
import logging

from loadout.nodes.registry import NODE_MODULES, NodeModule, load_nodes


def test_modules_without_comfyui_register_prefixed_ids():
    classes, names, disabled = load_nodes("loadout", (NodeModule("monitor"),))
    assert disabled == {}
    assert "LoadoutMemoryMonitor" in classes
    for node_id, cls in classes.items():
        assert node_id.startswith("Loadout") and cls.NODE_ID == node_id
        assert names[node_id].endswith("(Loadout)")
        assert cls.CATEGORY.startswith("Loadout/")
    assert len(NODE_MODULES) == len({m.name for m in NODE_MODULES})


def test_missing_optional_package_disables_only_that_module(caplog):
    modules = (NodeModule("monitor"), NodeModule("monitor_pose", ("no_such_pkg_loadout",), "pose"))
    with caplog.at_level(logging.WARNING):
        classes, _, disabled = load_nodes("loadout", modules)
    assert "LoadoutMemoryMonitor" in classes
    assert set(disabled) == {"monitor_pose"}
    assert "no_such_pkg_loadout" in disabled["monitor_pose"]
    assert "pip install 'comfyui-loadout[pose]'" in disabled["monitor_pose"]
    assert any(r.getMessage().startswith("[Loadout] nodes in 'monitor_pose' disabled") for r in caplog.records)


def test_module_that_fails_to_import_is_disabled_with_reason():
    classes, _, disabled = load_nodes("loadout", (NodeModule("monitor"), NodeModule("does_not_exist")))
    assert "LoadoutMemoryMonitor" in classes
    assert disabled["does_not_exist"].startswith("import failed: ModuleNotFoundError")
