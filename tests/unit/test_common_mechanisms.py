"""core/common: the safe-name guard, the model-folder finder, the OOM recogniser, units and the user config."""
import json
import unicodedata

import pytest
import torch

from loadout.core.common import config
from loadout.core.common.folders import folder_weights, model_folders, walk
from loadout.core.common.names import MAX_NAME, UnsafeName, match_key, safe_name
from loadout.core.common.oom import is_oom
from loadout.core.common.units import GIB, KIB, MIB, format_bytes, mb_to_bytes
from loadout.vram.vae.budget import run_with_oom_ladder


@pytest.mark.parametrize("name,reason", [
    ("", "empty"), ("  ", "empty"), ("./", "empty"), ("a\x00b", "nul"), ("x" * (MAX_NAME + 1), "too long"),
    ("a/" + "y" * 256, "too long"), ("/etc/passwd", "absolute"), ("\\\\server\\share\\x", "absolute"),
    ("C:\\loras\\a", "absolute"), ("c:rel", "absolute"), ("../x", "parent"), ("a/../../x", "parent"),
    ("..\\a", "parent"), ("a/..", "parent"),
])
def test_unsafe_names_are_refused_with_their_reason(name, reason):
    with pytest.raises(UnsafeName) as err:
        safe_name(name, "the LoRA folders", "LoRA name")
    assert err.value.reason == reason
    if reason in ("absolute", "parent"):
        assert "escapes the LoRA folders" in str(err.value)


def test_safe_names_are_normalised_to_slashes():
    assert safe_name("style\\ink.safetensors") == "style/ink.safetensors"
    assert safe_name("./a//b/./c.pt") == "a/b/c.pt"
    assert safe_name("..name.pt") == "..name.pt"  # dots inside a part are fine
    assert safe_name("sub/x.pt", root="/models/loras") == "sub/x.pt"


def test_names_are_matched_in_nfc_and_keep_their_spelling():
    nfd = unicodedata.normalize("NFD", "café")
    assert nfd != "café" and match_key(nfd) == match_key("café")
    assert safe_name(nfd) == nfd


def test_both_call_sites_keep_their_messages(tmp_path):
    from loadout.core.controlnet.folders import weights_in_folder
    from loadout.core.lora.resolve import UnsafeLoraName, check_name
    from loadout.preprocessors.weights import check_name as annotator_check

    with pytest.raises(UnsafeLoraName, match=r"contains '\.\.'.*LoRA folder"):
        check_name("../x")
    with pytest.raises(UnsafeLoraName, match="absolute path"):
        check_name("/etc/passwd")
    with pytest.raises(UnsafeLoraName, match="empty LoRA name"):
        check_name("")
    with pytest.raises(ValueError, match="escapes the annotators folder"):
        annotator_check("../x")
    with pytest.raises(ValueError, match="NUL"):
        annotator_check("a\x00")
    with pytest.raises(ValueError, match="escapes the controlnet folder.*from the list"):
        weights_in_folder([tmp_path], "/abs")


def test_lora_basename_found_across_unicode_forms(tmp_path):
    from loadout.core.lora.resolve import resolve_lora

    nfd = unicodedata.normalize("NFD", "café")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"{nfd}.safetensors").write_bytes(b"x")
    assert resolve_lora("café", [tmp_path]) == tmp_path / "sub" / f"{nfd}.safetensors"


def test_model_folders_walk_once_through_link_cycles(tmp_path):
    root = tmp_path / "models"
    (root / "a" / "net").mkdir(parents=True)
    (root / "a" / "net" / "config.json").write_text("{}")
    (root / "a" / "net" / "w.safetensors").write_bytes(b"x")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # a cycle
    (root / ".hidden" / "net").mkdir(parents=True)
    (root / ".hidden" / "net" / "w.safetensors").write_bytes(b"x")
    folders = [f.relative_to(root).as_posix() for f, _ in model_folders(root, ["w.safetensors"])]
    assert folders == ["a/net"]
    assert folder_weights(root / "a" / "net", ["x.bin", "w.safetensors"], need_config=True).name == "w.safetensors"
    assert folder_weights(root / ".hidden" / "net", ["w.safetensors"], need_config=True) is None
    assert len(list(walk(root))) == 3  # models, a, a/net (the link back to models is walked once)


def test_is_oom_knows_every_allocator_report():
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_oom(torch.cuda.OutOfMemoryError("x"))
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert is_oom(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"))
    assert not is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_oom(ValueError("out of memory"))  # not an allocator's error type


def test_vae_tile_ladder_uses_the_one_recogniser_by_default():
    def run(tile, device):
        if tile > 16:
            raise RuntimeError("CUDA out of memory")
        return tile

    result, path = run_with_oom_ladder(run, 64, ["cuda:0"])
    assert result == 16 and path[-1] == "tile 16 on cuda:0: ok" and len(path) == 3


def test_units():
    assert (KIB, MIB, GIB) == (1024, 1024 ** 2, 1024 ** 3)
    assert format_bytes(512) == "512 B" and format_bytes(1536) == "1.50 KiB"
    assert format_bytes(300 * MIB) == "300 MiB" and format_bytes(3 * GIB) == "3.00 GiB"
    assert format_bytes(-2 * MIB) == "-2.00 MiB"
    assert mb_to_bytes(1.5) == 3 * 512 * KIB and mb_to_bytes(-1) == 0


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("LOADOUT_CONFIG", raising=False)
    config.set_user_directory(None)
    yield tmp_path
    config.set_user_directory(None)


def test_config_without_a_user_directory_is_empty(user_dir):
    assert config.config_path() is None and config.load_config() == {}


def test_config_follows_the_registered_directory_and_edits(user_dir):
    where = {"dir": user_dir}
    config.set_user_directory(lambda: where["dir"])
    assert config.load_config() == {}  # no file yet
    path = user_dir / "loadout.json"
    path.write_text(json.dumps({"annotators": {"cache_max_mb": 3}}))
    assert config.section("annotators") == {"cache_max_mb": 3}
    assert config.cache_budget("annotators")() == 3 * MIB
    path.write_text(json.dumps({"annotators": {"cache_max_mb": 10}}))  # another size: re-read
    assert config.cache_budget("annotators")() == 10 * MIB
    other = user_dir / "other"
    other.mkdir()
    where["dir"] = other
    assert config.load_config() == {} and config.cache_budget("controlnet")() == 4096 * MIB


def test_config_errors(user_dir, monkeypatch):
    path = user_dir / "custom.json"
    monkeypatch.setenv("LOADOUT_CONFIG", str(path))
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        config.load_config()
    assert config.cache_budget("lora")() == 1024 * MIB  # a cache falls back to its default, never fails a run
    path.write_text(json.dumps({"lora": {"cache_max_mb": "lots"}, "vae": []}))
    assert config.cache_budget("lora")() == 1024 * MIB
    with pytest.raises(ValueError, match="'vae' must be an object"):
        config.section("vae")


def test_configured_cache_follows_the_config(user_dir, tmp_path):
    config.set_user_directory(user_dir)
    (user_dir / "loadout.json").write_text(json.dumps({"controlnet": {"cache_max_mb": 0}}))
    cache = config.configured_cache("controlnet", lambda p: torch.zeros(4))
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    assert not cache.get(f).hit and not cache.get(f).hit and len(cache) == 0  # 0 MB: off
    (user_dir / "loadout.json").write_text(json.dumps({"controlnet": {"cache_max_mb": 1.0}}))  # another size
    cache.get(f)
    assert cache.get(f).hit and cache.max_bytes == MIB
