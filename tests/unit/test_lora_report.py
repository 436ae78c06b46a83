"""core/lora/report.py and keys.py: the Apply LoRA stack report, trigger words, and key matching (no ComfyUI)."""
from loadout.core.lora.keys import key_prefixes, relevant_entries, unmatched_keys
from loadout.core.lora.report import AppliedLora, CacheStats, collect_trigger_words, format_report


def test_report_lists_each_entry_with_file_keys_cache_and_warnings():
    results = [
        AppliedLora(1, "a.safetensors", "applied", path="/l/a.safetensors", format="kohya", model_strength=1.2,
                    clip_strength=0.9, unet_keys=48, clip_keys=72, unmatched=["k1", "k2", "k3", "k4"], load_ms=3.25,
                    cache_hit=True, triggers=["tinystyle"], warnings=["metadata says SDXL"]),
        AppliedLora(2, "b", "skipped (strength 0)"),
        AppliedLora(3, "c", "missing (skipped)", model_strength=0.5, clip_strength=0.5, warnings=["not found in x"]),
    ]
    report = format_report(results, 1.5, CacheStats(files=2, nbytes=3 * 2**20, max_bytes=2**30))
    assert report.split("\n") == [
        "LoRA stack: 1 of 3 applied, multiplier 1.5; cache 2 files, 3.0 of 1024 MiB",
        "[1] a.safetensors: applied, model 1.2, clip 0.9",
        "    file: /l/a.safetensors (kohya)",
        "    keys applied: UNet 48, CLIP 72; unmatched 4 (k1, k2, k3 ...)",
        "    load 3.2 ms (cache hit)",
        "    trigger words: tinystyle",
        "    warning: metadata says SDXL",
        "[2] b: skipped (strength 0), model 0, clip 0",
        "[3] c: missing (skipped), model 0.5, clip 0.5",
        "    warning: not found in x",
    ]
    assert format_report([], 1.0) == "LoRA stack: empty"


def test_trigger_words_come_from_applied_entries_once_each():
    results = [AppliedLora(1, "a", "applied", triggers=["Style", "hero"]),
               AppliedLora(2, "b", "missing (skipped)", triggers=["ignored"]),
               AppliedLora(3, "c", "applied", triggers=["style", "Night"])]
    assert collect_trigger_words(results) == "Style, hero, Night"


def test_key_matching_counts_used_and_unmatched_keys():
    assert list(key_prefixes("a.b_c")) == ["a", "a.b"]
    key_map = {"lora_unet_x": "diffusion_model.x.weight", "lora_unet_y": "diffusion_model.y.weight",
               "lora_te_z": "te.z.weight"}
    tensors = {"lora_unet_x.lora_up.weight": 0, "lora_unet_x.alpha": 0, "lora_te_z.lora_down.weight": 0,
               "lora_unet_q.lora_up.weight": 0}
    relevant = relevant_entries(tensors, key_map)
    assert relevant == {"lora_unet_x": "diffusion_model.x.weight", "lora_te_z": "te.z.weight"}
    patches = {"diffusion_model.x.weight": object()}  # z matched a name but gave no patch
    assert unmatched_keys(tensors, relevant, patches) == ["lora_te_z.lora_down.weight", "lora_unet_q.lora_up.weight"]
