"""Test and demo harness for Loadout: the provisioned ComfyUI (paths), a server fixture, ComfyUI in-process, a
fake device, graph builders and browser helpers. Used by tests/, scripts/ and bench/; never by the pack.

Importing it defines the ``loadout`` alias for this repository (``inprocess.import_pack``), so harness code and
callers can import ``loadout.cli`` (the product CLI) and the pack's pure packages without the repo root on
``sys.path``.
"""
from .inprocess import import_pack

import_pack()
