"""Stack outputs (LORA_STACK, CONTROL_NET_STACK) that survive a consumer which extends its input in place.

ComfyUI keeps a node's output object in its cache and hands the same object to every later run that reuses it.
Efficiency Nodes' stackers ``extend`` the list they receive and return it, so a cached Loadout stack would grow by
one entry each time such a stacker runs again (a re-queue after one of its own widgets changed). A ``RunScopedList``
is a plain list (it unpacks, iterates, indexes and ``isinstance(x, list)`` like one) that remembers the entries it was
made with and the run it was last changed in: the first change in a new run (``run_id()`` differs) starts again from
those entries, so what a consumer appended in an earlier run is gone and each run's consumer sees the stack the
node produced, as with a fresh list per execution. Changes within one run accumulate as in a list. ``run_id``
returning None (no server, e.g. in unit tests) makes it an ordinary list.

Two consumers of the same output that both extend it in place within one run still see each other's entries; that
is the consumer's own bug and a plain list behaves the same.
"""
from __future__ import annotations

from collections.abc import Callable


def _no_run() -> None:
    return None


class RunScopedList(list):
    def __init__(self, items=(), run_id: Callable[[], object] = _no_run):
        super().__init__(items)
        self._made_with = tuple(self)
        self._run_id = run_id
        self._changed_in = run_id()

    def _begin_change(self) -> None:
        run = self._run_id()
        if run != self._changed_in:
            super().__setitem__(slice(None), self._made_with)  # undo an earlier run's in-place changes
            self._changed_in = run

    def __reduce_ex__(self, protocol):  # copies and pickles are plain lists of the current entries
        return (list, (list(self),))


def _changing(name: str):
    original = getattr(list, name)

    def method(self, *args, **kwargs):
        self._begin_change()
        result = original(self, *args, **kwargs)
        return self if result is self else result  # += and *= return the list itself

    method.__name__ = name
    method.__doc__ = original.__doc__
    return method


for _name in ("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "__iadd__", "__imul__",
              "__setitem__", "__delitem__"):
    setattr(RunScopedList, _name, _changing(_name))
