"""ComfyUI adapters: thin node classes over the pure cores in ``vram/``, ``preprocessors/`` and friends.

Every module here lists its node classes in ``NODES``; ``registry.py`` is the only place that collects them.
"""
