"""Seam: which prompt the server is running now (to scope the stack outputs of ``core/common/stacks.py``).

Pinned by ``tests/reliability/test_bad_input_limits.py`` (``test_the_run_id_is_what_comfyui_sets_for_each_prompt``:
ComfyUI's prompt worker publishes the prompt's id before executing it) and, through a real server with a peer that
extends stacks in place, ``tests/reliability/test_peer_extender_requeue.py``.
"""
from __future__ import annotations

import sys

from ...core.common.stacks import RunScopedList


# Relies on: ComfyUI's main.py prompt worker setting ``PromptServer.instance.last_prompt_id = prompt_id`` before it
# executes each prompt (server.py's PromptServer). Without a server (ComfyUI imported in a test process) there is no
# ``server`` module loaded or no instance: None, and the stacks are plain lists.
def current_prompt_id():
    server = sys.modules.get("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    return getattr(instance, "last_prompt_id", None)


def stack_output(items) -> RunScopedList:
    """A stack output scoped to the running prompt (see ``core/common/stacks.py``)."""
    return RunScopedList(items, current_prompt_id)
