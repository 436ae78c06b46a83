"""The strategy ladder: fp16_full → fp8 → nf4 → offload → sequential, stepping down on out-of-memory errors.

Plain Python/torch. ``available_rungs`` says which strategies this machine can use (NF4 needs bitsandbytes and a
GPU; otherwise it is skipped, with the reason), ``rungs_from`` lists the ones to try from a starting point, and
``LadderMemory`` remembers, per model and input shape, the strategy that worked, so the next run starts there.

Example::

    rungs, skipped = available_rungs(cuda=True, has_bitsandbytes=False)
    rungs_from(Strategy.FP8, rungs)   # [fp8, offload, sequential]; skipped == {"nf4": "..."}
"""
from __future__ import annotations

import dataclasses
import importlib.util

from ...core.common.cache import FileCache
from ...core.common.oom import is_oom  # noqa: F401 - the one OOM recogniser, used here by the offloader
from .config import LADDER, Strategy


def bitsandbytes_installed() -> bool:
    try:
        return importlib.util.find_spec("bitsandbytes") is not None
    except (ImportError, ValueError):
        return False


def available_rungs(cuda: bool, has_bitsandbytes: bool | None = None) -> tuple[list[Strategy], dict[str, str]]:
    """The ladder this machine supports and, for each skipped rung, why."""
    if has_bitsandbytes is None:
        has_bitsandbytes = bitsandbytes_installed()
    skipped = {}
    if not has_bitsandbytes:
        skipped[Strategy.NF4.value] = "bitsandbytes is not installed (pip install bitsandbytes)"
    elif not cuda:
        skipped[Strategy.NF4.value] = "NF4 is only worth it on a GPU (no CUDA device here)"
    return [s for s in LADDER if s.value not in skipped], skipped


def rungs_from(start: Strategy, rungs: list[Strategy]) -> list[Strategy]:
    """``start`` and every available rung below it (``start`` itself even if the ladder would skip it: asked
    for explicitly, it is tried and fails with its own message)."""
    start = Strategy(start)
    below = [s for s in rungs if LADDER.index(s) > LADDER.index(start)]
    return [start] + below


@dataclasses.dataclass
class Attempt:
    strategy: Strategy
    outcome: str  # "ok", "out of memory (...)", "unavailable: ...", "budget too small: ..."

    def __str__(self) -> str:
        return f"{self.strategy.value}: {self.outcome}"


def describe_path(path: list[Attempt]) -> str:
    return " → ".join(str(a) for a in path) if path else "not run yet"


class LadderMemory:
    """What worked, per (model fingerprint, input shape): the last ``capacity`` of them, least recently used out,
    thread-safe (plain entries of the pack's one cache, ``core.common.cache.FileCache``)."""

    def __init__(self, capacity: int = 512):
        self.capacity = capacity
        self._cache = FileCache(name="offload ladder memory", max_entries=capacity, sizeof=lambda _strategy: 0)

    def get(self, model_key: str, shape_key: tuple) -> Strategy | None:
        return self._cache.peek((model_key, shape_key))

    def put(self, model_key: str, shape_key: tuple, strategy: Strategy) -> None:
        self._cache.put((model_key, shape_key), Strategy(strategy))

    def entries(self, model_key: str) -> list[tuple[tuple, Strategy]]:
        """(input shape, strategy) remembered for one model, least recently used first."""
        return [(shape, s) for (key, shape), s in self._cache.items() if key == model_key]

    def forget(self, model_key: str) -> None:
        for key, _ in self._cache.items():
            if key[0] == model_key:
                self._cache.remove(key)


MEMORY = LadderMemory()  # process-wide: survives re-running the node and re-queuing the graph
