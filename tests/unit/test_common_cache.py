"""core/common/cache.py: the one cache — bytes-bounded LRU, replaced files re-read, folder stamps, one load per key
across threads, identity entries that go with their objects, plain entries, the budget callable."""
import gc
import os
import threading
import time

import numpy as np
import pytest
import torch

from loadout.core.common.cache import FileCache, file_stamp, object_bytes


def _write(path, nbytes, fill=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fill * nbytes)
    return path


def _reader(reads):
    def read(path):
        reads.append(str(path))
        return torch.zeros(os.path.getsize(path), dtype=torch.uint8)  # the file's size in tensor bytes
    return read


def test_eviction_by_bytes_is_least_recently_used_first(tmp_path):
    reads = []
    files = [_write(tmp_path / f"f{i}.bin", 100) for i in range(4)]
    cache = FileCache(_reader(reads), max_bytes=250)
    for f in files[:2]:
        cache.get(f)
    assert cache.get(files[0]).hit  # files[0] is now the most recently used
    cache.get(files[2])  # 300 > 250: the least recently used (files[1]) goes
    assert len(cache) == 2 and cache.nbytes == 200
    assert cache.get(files[0]).hit and cache.get(files[2]).hit
    assert not cache.get(files[1]).hit
    assert len(reads) == 4


def test_a_value_over_the_whole_budget_is_returned_but_not_kept(tmp_path):
    big = _write(tmp_path / "big.bin", 500)
    cache = FileCache(_reader([]), max_bytes=100)
    looked = cache.get(big)
    assert looked.value.numel() == 500 and looked.nbytes == 500 and not looked.hit
    assert len(cache) == 0 and not cache.get(big).hit


def test_replaced_file_is_read_again_and_the_old_entry_dropped(tmp_path):
    reads = []
    f = _write(tmp_path / "w.bin", 100)
    cache = FileCache(_reader(reads), max_bytes=10_000)
    cache.get(f, extra="a")
    cache.get(f, extra="b")  # the same file under another extra key (a mode, a dtype)
    assert cache.get(f, extra="a").hit and len(cache) == 2
    _write(f, 120)  # new size
    looked = cache.get(f, extra="a")
    assert not looked.hit and looked.value.numel() == 120
    assert len(cache) == 1 and cache.nbytes == 120  # the stale "b" entry went too


def test_same_size_new_mtime_is_a_change(tmp_path):
    reads = []
    f = _write(tmp_path / "w.bin", 64, b"a")
    cache = FileCache(_reader(reads), max_bytes=10_000)
    cache.get(f)
    st = f.stat()
    _write(f, 64, b"b")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert not cache.get(f).hit and len(reads) == 2 and len(cache) == 1


def test_folder_stamp_sees_any_file_change(tmp_path):
    d = tmp_path / "model"
    _write(d / "config.json", 10)
    _write(d / "model.safetensors", 100)
    _write(d / ".cache" / "lock", 1)  # hidden: ignored
    first = file_stamp(d)
    assert [name for name, _, _ in first] == ["config.json", "model.safetensors"]
    _write(d / ".cache" / "lock", 5)
    assert file_stamp(d) == first
    _write(d / "config.json", 11)
    assert file_stamp(d) != first
    built = []
    cache = FileCache(lambda p: built.append(p) or torch.zeros(1), max_bytes=1000)
    cache.get(d)
    assert cache.get(d).hit
    _write(d / "extra.bin", 3)  # a file added to the folder
    assert not cache.get(d).hit and len(built) == 2


def test_the_path_given_reaches_the_loader_and_a_failed_load_stores_nothing(tmp_path):
    f = _write(tmp_path / "w.bin", 10)
    link = tmp_path / "link.bin"
    link.symlink_to(f)
    seen = []
    cache = FileCache(lambda p: seen.append(p) or torch.zeros(1), max_bytes=1000)
    cache.get(link)
    assert seen == [link] and cache.get(f).hit  # keyed by the real path

    def broken(_path):
        raise ValueError("corrupt")

    g = _write(tmp_path / "g.bin", 10)
    with pytest.raises(ValueError, match="corrupt"):
        cache.get(g, load=broken)
    assert len(cache) == 1
    with pytest.raises(FileNotFoundError):
        cache.get(tmp_path / "missing.bin")


def _run_threads(worker, n):
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_threads_load_each_key_once_and_agree(tmp_path):
    files = [_write(tmp_path / f"f{i}.bin", 50 + i) for i in range(4)]
    calls = []
    lock = threading.Lock()

    def slow(path):
        with lock:
            calls.append(str(path))
        time.sleep(0.05)
        return torch.zeros(os.path.getsize(path), dtype=torch.uint8)

    cache = FileCache(slow, max_bytes=10_000)
    results, errors = [], []

    def worker(k):
        try:
            for i in range(20):
                results.append((files[(k + i) % 4], cache.get(files[(k + i) % 4]).value))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    _run_threads(worker, 8)
    assert not errors and len(results) == 160
    assert sorted(calls) == sorted(str(f) for f in files)  # one load per file, whatever the contention
    by_file = {}
    for f, value in results:
        assert by_file.setdefault(f, value) is value
    assert cache.reads == 4 and cache.hits == 156


def test_thread_safety_under_eviction(tmp_path):
    files = [_write(tmp_path / f"f{i}.bin", 100) for i in range(6)]
    cache = FileCache(_reader([]), max_bytes=250)
    errors = []

    def worker(k):
        try:
            for i in range(200):
                assert cache.get(files[(k * 7 + i) % 6]).value.numel() == 100
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    _run_threads(worker, 6)
    assert not errors and len(cache) <= 2 and cache.nbytes == 100 * len(cache)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)


def test_identity_entries_go_when_their_object_dies():
    cache = FileCache(max_entries=8)
    built = []
    a, b = Model(), Model()
    first = cache.get_for((a, None), lambda: built.append("a") or {"map": "a"})
    assert not first.hit and cache.get_for((a, None), lambda: {"map": "other"}).value is first.value
    cache.get_for((b, a), lambda: built.append("ba") or {"map": "ba"})
    assert len(cache) == 2
    del a
    gc.collect()
    assert len(cache) == 0  # both entries held a: both went
    c = Model()
    assert not cache.get_for((c, None), lambda: {"map": "c"}).hit  # a new object never gets a dead one's entry
    assert len(built) == 2


def test_identity_entry_whose_object_dies_while_the_cache_is_busy_is_purged_at_next_use():
    cache = FileCache(max_entries=8)
    a = Model()
    cache.get_for((a,), lambda: "value")
    with cache._lock:  # the collector runs while the cache is locked (as inside a lookup)
        del a
        gc.collect()
    assert len(cache) == 0


def test_objects_without_weak_references_are_built_every_time():
    cache = FileCache(max_entries=8)
    built = []
    assert cache.get_for((1, "x"), lambda: built.append(1) or "v").value == "v"
    assert not cache.get_for((1, "x"), lambda: built.append(1) or "v").hit and len(cache) == 0


def test_plain_entries_bound_by_entries_and_keyed_builds():
    cache = FileCache(max_entries=2, sizeof=lambda v: 0)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.peek("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.peek("b") is None and [k for k, _ in cache.items()] == ["a", "c"]
    cache.remove("a")
    assert cache.items() == [("c", 3)]
    built = []
    assert cache.get_keyed(("pose", 1), lambda: built.append(1) or "solution").value == "solution"
    assert cache.get_keyed(("pose", 1), lambda: built.append(1) or "again").hit and built == [1]


def test_budget_callable_resizes_at_the_next_lookup(tmp_path):
    files = [_write(tmp_path / f"f{i}.bin", 100) for i in range(3)]
    wanted = {"bytes": 1000}
    cache = FileCache(_reader([]), max_bytes=1000, budget=lambda: wanted["bytes"])
    for f in files:
        cache.get(f)
    assert len(cache) == 3
    wanted["bytes"] = 150
    cache.get(files[2])
    assert cache.max_bytes == 150 and len(cache) == 1
    wanted["bytes"] = 0  # 0: the cache is off
    assert not cache.get(files[2]).hit and len(cache) == 0 and not cache.get(files[2]).hit


def test_object_bytes_counts_weights_once():
    m = Model()
    params = sum(p.numel() * p.element_size() for p in m.parameters())
    assert object_bytes(m) == params == 80
    t = torch.zeros(10)
    holder = type("Holder", (), {})()
    holder.model, holder.again, holder.view, holder.array = m, m, t[:3], np.zeros(5, np.float32)
    holder.tensors = {"t": t, "name": "a string is not counted"}
    assert object_bytes(holder) == 80 + 40 + 20  # the view shares t's storage
    assert object_bytes(({"k": torch.ones(2, 2)}, {"meta": "x"})) == 16
