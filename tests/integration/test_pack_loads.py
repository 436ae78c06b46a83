"""The pack as ComfyUI loads it: import line, registered nodes, metadata every node must carry."""
from harness.paths import PACK_DIR_NAME


def test_pack_listed_in_import_times_without_failure(comfy):
    times = comfy.server.import_times()
    assert PACK_DIR_NAME in times, f"pack missing from 'Import times for custom nodes': {times}"
    seconds, ok = times[PACK_DIR_NAME]
    assert ok, "ComfyUI reports IMPORT FAILED for the pack"
    assert "IMPORT FAILED" not in "\n".join(
        line for line in comfy.server.log_text().splitlines() if PACK_DIR_NAME in line)


def test_every_loadout_node_has_ids_names_categories_and_tooltips(comfy):
    ours = {k: v for k, v in comfy.object_info.items() if v["python_module"].endswith(PACK_DIR_NAME)}
    assert "LoadoutMemoryMonitor" in ours
    for node_id, info in ours.items():
        assert node_id.startswith("Loadout"), node_id
        assert info["display_name"].endswith("(Loadout)"), node_id
        assert info["category"].startswith("Loadout/"), node_id
        assert info.get("description"), node_id
        for section in ("required", "optional"):
            for name, spec in (info["input"].get(section) or {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
        assert len(info.get("output_tooltips", [])) == len(info["output"]), node_id


def test_pack_does_not_touch_core_lists(comfy):
    sampler = comfy.object_info["KSampler"]["input"]["required"]
    names = set(sampler["sampler_name"][0]) | set(sampler["scheduler"][0])
    assert not any("loadout" in n.lower() for n in names)
    assert all(not k.startswith("Loadout") or v["python_module"].endswith(PACK_DIR_NAME)
               for k, v in comfy.object_info.items())


def test_no_node_module_disabled_in_the_test_environment(comfy):
    disabled = [l for l in comfy.server.log_text().splitlines() if "[Loadout] nodes in" in l and "disabled" in l]
    assert not disabled, disabled
