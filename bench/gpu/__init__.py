"""The GPU suite: one prepared script that proves Loadout's CUDA paths and measures them against ComfyUI core.

``python bench/gpu/suite.py`` (on a CUDA machine) or ``python bench/gpu/suite.py --dry-run`` (toy sizes on the
CPU, part of ``make test``). ``common.py`` holds the shared pieces (ComfyUI import, seeded real architectures,
timing, peak memory, the row/table format); ``cases/`` one module per case, each with ``run(env) -> dict``.
"""
