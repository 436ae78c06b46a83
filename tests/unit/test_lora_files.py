"""core/lora/resolve.py, files.py, core/common/cache.py, metadata.py on real files in a temporary LoRA tree."""
import json
import os
import time

import pytest
import torch
from safetensors.torch import save_file

from loadout.core.common.cache import FileCache
from loadout.core.lora.files import LoraFileError, detect_format, read_lora_file
from loadout.core.lora.metadata import base_family, trigger_words
from loadout.core.lora.resolve import AmbiguousLoraName, LoraNotFound, UnsafeLoraName, resolve_lora


def _lora(path, seed=0, meta=None, n=2):
    g = torch.Generator().manual_seed(seed)
    tensors = {f"lora_unet_block_{i}.lora_down.weight": torch.randn(4, 8, generator=g) for i in range(n)}
    tensors.update({f"lora_unet_block_{i}.lora_up.weight": torch.randn(8, 4, generator=g) for i in range(n)})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    return tensors


@pytest.fixture
def tree(tmp_path):
    a, b = tmp_path / "loras", tmp_path / "extra"
    _lora(a / "style" / "ink.safetensors")
    _lora(a / "unique_one.safetensors")
    _lora(a / "dup.safetensors")
    _lora(b / "sub" / "dup.safetensors")
    (a / "peft_dir").mkdir()
    _lora(a / "peft_dir" / "adapter_model.safetensors")
    return [a, b]


def test_resolution_order(tree):
    a, b = tree
    assert resolve_lora("style/ink.safetensors", tree) == a / "style" / "ink.safetensors"
    assert resolve_lora("style/ink", tree) == a / "style" / "ink.safetensors"
    assert resolve_lora("style\\ink", tree) == a / "style" / "ink.safetensors"
    assert resolve_lora("ink", tree) == a / "style" / "ink.safetensors"
    assert resolve_lora("unique_one", tree) == a / "unique_one.safetensors"
    assert resolve_lora("peft_dir", tree) == a / "peft_dir" / "adapter_model.safetensors"
    assert resolve_lora("sub/dup", tree) == b / "sub" / "dup.safetensors"
    assert resolve_lora("dup", tree) == a / "dup.safetensors"  # exact relative name in the first folder wins


def test_ambiguous_basename_lists_candidates(tree):
    a, b = tree
    _lora(a / "x" / "twin.safetensors")
    _lora(b / "y" / "twin.safetensors")
    with pytest.raises(AmbiguousLoraName) as err:
        resolve_lora("twin", tree)
    assert err.value.candidates == ["x/twin.safetensors", "y/twin.safetensors"]


@pytest.mark.parametrize("name", ["../secret", "style/../../x", "/etc/passwd", "C:\\loras\\a", "..\\a", ""])
def test_names_that_escape_are_refused(tree, name):
    with pytest.raises(UnsafeLoraName):
        resolve_lora(name, tree)


def test_missing_name_suggests_close_matches(tree):
    with pytest.raises(LoraNotFound, match="Did you mean: unique_one.safetensors"):
        resolve_lora("uniqe_one", tree)


def test_pickled_callable_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"lora_unet_x.lora_down.weight": torch.zeros(1), "payload": Evil()}, path)
    with pytest.raises(LoraFileError, match="refused"):
        read_lora_file(path)
    assert not marker.exists()


def test_weights_only_pt_and_corrupt_safetensors(tmp_path):
    tensors = {"lora_unet_x.lora_down.weight": torch.ones(2, 2)}
    torch.save(tensors, tmp_path / "ok.pt")
    loaded, meta = read_lora_file(tmp_path / "ok.pt")
    assert torch.equal(loaded["lora_unet_x.lora_down.weight"], torch.ones(2, 2)) and meta == {}
    good = tmp_path / "good.safetensors"
    _lora(good)
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:100])
    with pytest.raises(LoraFileError, match="truncated or corrupt"):
        read_lora_file(tmp_path / "cut.safetensors")


def test_format_detection():
    assert detect_format(["lora_unet_a.lora_down.weight", "lora_te_b.alpha"]) == "kohya"
    assert detect_format(["unet.a.to_q.lora_A.weight"]) == "diffusers/PEFT"
    assert detect_format(["unet.a.processor.to_q_lora.down.weight"]) == "diffusers (attention processors)"
    assert detect_format(["lora_unet_a.hada_w1_a"]) == "LyCORIS LoHa"


def test_cache_reads_once_bounds_bytes_and_sees_replacement(tmp_path):
    reads = []

    def reader(path):
        reads.append(path)
        return read_lora_file(path)

    files = [tmp_path / f"l{i}.safetensors" for i in range(3)]
    for i, f in enumerate(files):
        _lora(f, seed=i)
    one = 2 * (4 * 8 + 8 * 4) * 4  # bytes of one file's tensors
    cache = FileCache(reader, max_bytes=2 * one)
    assert not cache.get(files[0]).hit and cache.get(files[0]).hit
    assert len(reads) == 1
    cache.get(files[1]), cache.get(files[2])  # third file evicts the least recently used (files[0])
    assert len(cache) == 2 and cache.nbytes == 2 * one
    assert not cache.get(files[0]).hit and len(reads) == 4
    time.sleep(0.01)
    _lora(files[0], seed=9)  # replaced on disk: new mtime
    looked = cache.get(files[0])
    assert not looked.hit and len(reads) == 5
    assert torch.equal(looked.value[0]["lora_unet_block_0.lora_down.weight"],
                       read_lora_file(files[0])[0]["lora_unet_block_0.lora_down.weight"])
    cache.resize(0)
    assert len(cache) == 0


def test_trigger_words_and_family_from_metadata():
    meta = {"ss_tag_frequency": json.dumps({"10_a": {"ink": 10, "sketch": 3}, "5_b": {"ink": 2, "paper": 7}}),
            "modelspec.trigger_phrase": "inkstyle, Ink", "ss_base_model_version": "sdxl_base_v1-0"}
    assert trigger_words(meta) == ["inkstyle", "Ink", "paper", "sketch"]
    assert base_family(meta) == "SDXL"
    assert base_family({"modelspec.architecture": "stable-diffusion-v1/lora"}) == "SD1"
    assert base_family({}) is None and trigger_words({"ss_tag_frequency": "not json"}) == []
