"""The suite's cases, in the order they run (most important first: a run cut short by its time budget keeps these).

Each module has ``NAME``, ``TITLE``, ``TIMEOUT_S`` (its share of the GPU run) and ``run(env) -> dict`` returning
``{"rows": [...], "details": {...}}`` (rows as ``common.row`` builds them).
"""
ORDER = ("offload_exactness", "offload_speed", "vae_tiled", "preprocessors", "lora_apply")
