"""A least-recently-used cache of loaded LoRA tensors, bounded by bytes, keyed by path and checked against the
file's size and mtime on every use (a replaced file is read again)."""
from __future__ import annotations

import collections
import dataclasses
import os
import threading
import time

DEFAULT_MAX_BYTES = 1 << 30


@dataclasses.dataclass
class CacheLookup:
    value: object
    hit: bool
    seconds: float
    nbytes: int


def tensor_bytes(tensors: dict) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


class LoraCache:
    def __init__(self, reader, max_bytes: int = DEFAULT_MAX_BYTES, sizeof=None):
        """``reader(path)`` loads a file; ``sizeof(value)`` counts its bytes (default: the tensors of
        ``value[0]`` when the value is a tuple, else of ``value``)."""
        self._reader = reader
        self._sizeof = sizeof or (lambda v: tensor_bytes(v[0] if isinstance(v, tuple) else v))
        self.max_bytes = int(max_bytes)
        self._items: collections.OrderedDict = collections.OrderedDict()  # path -> (signature, value, nbytes)
        self._lock = threading.Lock()
        self.reads = 0
        self.hits = 0

    @property
    def nbytes(self) -> int:
        return sum(item[2] for item in self._items.values())

    def __len__(self):
        return len(self._items)

    def get(self, path) -> CacheLookup:
        key = os.path.realpath(path)
        st = os.stat(key)
        signature = (st.st_size, st.st_mtime_ns)
        t0 = time.perf_counter()
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[0] == signature:
                self._items.move_to_end(key)
                self.hits += 1
                return CacheLookup(item[1], True, time.perf_counter() - t0, item[2])
        value = self._reader(key)
        nbytes = self._sizeof(value)
        with self._lock:
            self.reads += 1
            self._items.pop(key, None)
            if nbytes <= self.max_bytes:
                self._items[key] = (signature, value, nbytes)
                self._evict()
        return CacheLookup(value, False, time.perf_counter() - t0, nbytes)

    def _evict(self):
        total = self.nbytes
        while total > self.max_bytes and self._items:
            _, (_, _, nbytes) = self._items.popitem(last=False)
            total -= nbytes

    def resize(self, max_bytes: int):
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._evict()

    def clear(self):
        with self._lock:
            self._items.clear()
