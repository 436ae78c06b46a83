"""LoRA stacking logic: plain Python/torch, no ComfyUI import (unit-testable alone).

stack.py    the LORA_STACK entry type (a Comfyroll/Efficiency-compatible 3-tuple with extra fields)
parse.py    text and JSON forms → entries, with line/column errors
resolve.py  name → file across LoRA folders, refusing names that escape them
files.py    reading LoRA files safely (safetensors, weights-only pickles, diffusers/PEFT folders)
cache.py    a byte-bounded LRU of loaded LoRA tensors, invalidated by size/mtime
metadata.py trigger words and base-model family from safetensors metadata
keys.py     matching a file's keys against a key map (which keys apply, which match nothing)
report.py   what applying a stack did per entry, the report text and the trigger words
"""
