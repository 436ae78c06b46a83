"""The pack's one cache: thread-safe, least recently used out, bounded by bytes (and, if asked, by entries).

One class, three kinds of entry:

- **file entries**, ``get(path, extra=..., load=...)``: keyed by the real path of a file or folder plus an optional
  extra key (a mode, a device, a dtype). The path's *stamp* (a file's size and mtime; a folder's files' names,
  sizes and mtimes, see ``file_stamp``) is read on every lookup; when it differs from the stored one, every entry
  of that path is dropped and the file is read again, so a replaced weights file never serves its old contents nor
  keeps them in memory.
- **identity entries**, ``get_for(objects, build)``: keyed by the identity of live objects (a model), held by weak
  references. The entry goes when any of the objects is garbage-collected (at once, or at the cache's next use
  when the collector ran while the cache was busy), and is never served to a new object that reuses an old id.
- **plain entries**, ``get_keyed(key, build)``, ``peek``, ``put``: a hashable key for what comes from no file
  (a MediaPipe solution by its settings, a remembered strategy).

``sizeof(value)`` counts an entry's bytes once, when it is stored (default ``object_bytes``: tensors and arrays
by their data, modules by parameters and buffers). Least recently used entries are evicted until the total fits
``max_bytes`` (and ``max_entries``); a value larger than the whole budget is returned but not kept. ``budget`` (a
callable giving the wanted ``max_bytes``, e.g. the user's ``cache_max_mb``) is asked on every lookup. Loading runs
outside the cache's lock, once at a time per key: a second caller of the same key waits for the first one's
result instead of loading it again.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import stat
import sys
import threading
import time
import types
import weakref
from typing import Callable, Hashable

from .folders import walk
from .units import GIB

DEFAULT_MAX_BYTES = 1 * GIB
MAX_VISITS = 200_000  # object_bytes stops counting after this many objects (a safety bound, never reached by models)


@dataclasses.dataclass
class CacheLookup:
    value: object
    hit: bool
    seconds: float
    nbytes: int


@dataclasses.dataclass
class _Entry:
    stamp: object
    value: object
    nbytes: int
    path: str | None = None
    refs: tuple = ()

    def alive(self) -> bool:
        return all(ref() is not None for ref in self.refs)


def file_stamp(path) -> tuple:
    """What tells a changed file: ``(size, mtime_ns)`` of a file; for a folder, ``(relative name, size, mtime_ns)``
    of each file below it (hidden ones skipped), so adding, removing or replacing any file changes it."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        return (st.st_size, st.st_mtime_ns)
    files = []
    for folder, names in walk(path):
        for name in names:
            if name.startswith("."):
                continue
            full = folder / name
            try:
                s = full.stat()
            except FileNotFoundError:  # removed while we looked: the next lookup sees the change
                continue
            files.append((os.path.relpath(full, path), s.st_size, s.st_mtime_ns))
    return tuple(files)


def _tensor_bytes(t, seen: set) -> int:
    if t.device.type == "meta":
        return 0
    try:
        storage = t.untyped_storage()
        key = (storage.data_ptr(), str(t.device))
        size = storage.nbytes()
    except (RuntimeError, NotImplementedError, AttributeError):  # sparse, quantised, ... tensors
        return t.numel() * t.element_size()
    if key[0] == 0:
        return size
    if key in seen:
        return 0
    seen.add(key)
    return size


def object_bytes(value, depth: int = 4) -> int:
    """The data bytes held by ``value``: torch tensors by storage (a storage shared by several counts once),
    modules by parameters and buffers, numpy arrays and binary buffers, searched through dicts, sequences and
    object attributes ``depth`` levels down. Strings and Python objects' own overhead are not counted: this
    measures weights, which is what fills memory (a cache of small Python values bounds itself by
    ``max_entries``)."""
    torch = sys.modules.get("torch")
    tensor_type = torch.Tensor if torch is not None else ()
    module_type = torch.nn.Module if torch is not None else ()
    storages: set = set()
    visited: set = set()
    total = 0
    todo = [(value, 0)]
    while todo and len(visited) < MAX_VISITS:
        obj, level = todo.pop()
        if id(obj) in visited or obj is None or isinstance(obj, (bool, int, float, type, types.ModuleType)):
            continue
        visited.add(id(obj))
        if isinstance(obj, tensor_type):
            total += _tensor_bytes(obj, storages)
        elif isinstance(obj, module_type):
            total += sum(_tensor_bytes(t, storages) for t in itertools.chain(obj.parameters(), obj.buffers()))
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            total += len(obj)
        elif isinstance(obj, str):
            continue
        elif type(obj).__module__ == "numpy" and hasattr(obj, "nbytes"):
            total += int(obj.nbytes)
        elif level < depth:
            if isinstance(obj, dict):
                children = itertools.chain(obj.keys(), obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
                children = iter(obj)
            elif isinstance(getattr(obj, "__dict__", None), dict):
                children = iter(vars(obj).values())
            else:
                continue
            todo.extend((child, level + 1) for child in children)
    return total


def _death_callback(cache_ref):
    def died(_ref):
        cache = cache_ref()
        if cache is not None:
            cache._object_died()
    return died


class FileCache:
    """See the module doc. ``reader(path)`` loads a file for ``get`` when no ``load`` is given there."""

    def __init__(self, reader: Callable | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 sizeof: Callable[[object], int] | None = None, *, name: str = "cache",
                 max_entries: int | None = None, budget: Callable[[], int] | None = None):
        self.name = name
        self._reader = reader
        self._sizeof = sizeof or object_bytes
        self.max_bytes = int(max_bytes)
        self.max_entries = max_entries
        self._budget = budget
        self._items: collections.OrderedDict = collections.OrderedDict()  # key -> _Entry, oldest use first
        self._nbytes = 0
        self._lock = threading.Lock()
        self._loading: dict = {}  # key -> [lock, callers using it]: one load at a time per key
        self._weak_keys: set = set()  # keys of identity entries
        self._deaths = False  # an identity entry's object died: purge at the next chance
        self.reads = 0
        self.hits = 0

    # --- size -------------------------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        with self._lock:
            self._purge()
            return self._nbytes

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._items)

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._evict()

    def refresh_budget(self) -> None:
        """Apply ``budget()`` if it asks for another size than the current one."""
        if self._budget is not None:
            wanted = int(self._budget())
            if wanted != self.max_bytes:
                self.resize(wanted)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weak_keys.clear()
            self._nbytes = 0

    # --- lookups ------------------------------------------------------------------------------------------------
    def get(self, path, extra: Hashable = None, load: Callable | None = None,
            sizeof: Callable | None = None) -> CacheLookup:
        """The value for the file or folder ``path`` (and ``extra``), read by ``load(path)`` (default: the
        cache's reader) when absent or when the path's stamp changed. Raises what ``os.stat`` or the loader
        raise; nothing is stored then."""
        loader = load or self._reader
        if loader is None:
            raise TypeError(f"{self.name}: get() needs a load function (this cache has no reader)")
        real = os.path.realpath(path)
        stamp = file_stamp(real)
        return self._lookup(("file", real, extra), stamp, lambda: loader(path), sizeof, path=real)

    def get_for(self, objects, build: Callable[[], object], extra: Hashable = None,
                sizeof: Callable | None = None) -> CacheLookup:
        """The value built by ``build()`` for these live objects (``None`` items allowed), kept while they all
        live. Objects that take no weak reference cannot be watched: the value is built and not kept."""
        objects = tuple(objects)
        key = ("id", tuple(id(o) for o in objects), extra)
        try:
            refs = tuple(weakref.ref(o, _death_callback(weakref.ref(self))) for o in objects if o is not None)
        except TypeError:
            t0 = time.perf_counter()
            value = build()
            return CacheLookup(value, False, time.perf_counter() - t0, int((sizeof or self._sizeof)(value)))
        return self._lookup(key, None, build, sizeof, refs=refs)

    def get_keyed(self, key: Hashable, build: Callable[[], object], sizeof: Callable | None = None) -> CacheLookup:
        """The value for a plain key, built by ``build()`` when absent."""
        return self._lookup(("key", key), None, build, sizeof)

    def peek(self, key: Hashable, default=None):
        """A plain entry's value (counted as a use), or ``default``."""
        with self._lock:
            entry = self._items.get(("key", key))
            if entry is None:
                return default
            self._items.move_to_end(("key", key))
            return entry.value

    def put(self, key: Hashable, value, nbytes: int | None = None) -> None:
        """Store a plain entry (``nbytes`` default: ``sizeof(value)``)."""
        size = int(self._sizeof(value) if nbytes is None else nbytes)
        with self._lock:
            self._store(("key", key), _Entry(None, value, size))

    def items(self) -> list[tuple[Hashable, object]]:
        """The plain entries as ``(key, value)``, least recently used first."""
        with self._lock:
            return [(k[1], e.value) for k, e in self._items.items() if k[0] == "key"]

    def remove(self, key: Hashable) -> None:
        """Forget a plain entry (nothing happens if it is absent)."""
        with self._lock:
            self._drop(("key", key))

    # --- internals (``_lock`` held unless said otherwise) ---------------------------------------------------------
    def _lookup(self, key, stamp, build, sizeof, path=None, refs=()) -> CacheLookup:
        t0 = time.perf_counter()
        self.refresh_budget()
        with self._lock:
            found = self._hit(key, stamp)
            if found is not None:
                return CacheLookup(found.value, True, time.perf_counter() - t0, found.nbytes)
            if path is not None:  # the file changed (or was never read): its old entries go before the new read
                for old in [k for k, e in self._items.items() if e.path == path and e.stamp != stamp]:
                    self._drop(old)
            slot = self._loading.setdefault(key, [threading.RLock(), 0])
            slot[1] += 1
        try:
            with slot[0]:
                with self._lock:
                    found = self._hit(key, stamp)  # loaded by the caller we waited for
                if found is not None:
                    return CacheLookup(found.value, True, time.perf_counter() - t0, found.nbytes)
                value = build()
                nbytes = int((sizeof or self._sizeof)(value))
                with self._lock:
                    self.reads += 1
                    if all(ref() is not None for ref in refs):
                        self._store(key, _Entry(stamp, value, nbytes, path, refs))
                return CacheLookup(value, False, time.perf_counter() - t0, nbytes)
        finally:
            with self._lock:
                slot[1] -= 1
                if slot[1] == 0 and self._loading.get(key) is slot:
                    del self._loading[key]

    def _hit(self, key, stamp):
        self._purge()
        entry = self._items.get(key)
        if entry is None or entry.stamp != stamp or not entry.alive():
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return entry

    def _store(self, key, entry: _Entry) -> None:
        self._drop(key)
        if entry.nbytes > self.max_bytes or self.max_entries == 0:
            return
        self._items[key] = entry
        self._nbytes += entry.nbytes
        if entry.refs:
            self._weak_keys.add(key)
        self._evict()

    def _drop(self, key) -> None:
        entry = self._items.pop(key, None)
        if entry is not None:
            self._nbytes -= entry.nbytes
            self._weak_keys.discard(key)

    def _evict(self) -> None:
        while self._items and (self._nbytes > self.max_bytes
                               or (self.max_entries is not None and len(self._items) > self.max_entries)):
            self._drop(next(iter(self._items)))

    def _purge(self) -> None:
        if self._deaths:
            self._deaths = False
            for key in [k for k in self._weak_keys if not self._items[k].alive()]:
                self._drop(key)

    def _object_died(self) -> None:
        """Weak-reference callback (any thread, lock not held): purge now if the lock is free, else at the next
        use (the collector may run inside this very cache's locked section)."""
        self._deaths = True
        if self._lock.acquire(blocking=False):
            try:
                self._purge()
            finally:
                self._lock.release()
