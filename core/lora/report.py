"""What applying a LORA_STACK did, per entry, and the report and trigger-word list made from it (no ComfyUI)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class AppliedLora:
    index: int
    name: str
    status: str  # applied | skipped (strength 0) | missing (skipped)
    path: str = ""
    format: str = ""
    model_strength: float = 0.0
    clip_strength: float = 0.0
    unet_keys: int = 0
    clip_keys: int = 0
    unmatched: list = dataclasses.field(default_factory=list)
    load_ms: float = 0.0
    cache_hit: bool = False
    triggers: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """The LoRA file cache at report time: files held, their bytes, and the bound."""

    files: int = 0
    nbytes: int = 0
    max_bytes: int = 0


def format_report(results, multiplier: float, cache: CacheStats = CacheStats()) -> str:
    if not results:
        return "LoRA stack: empty"
    applied = sum(1 for r in results if r.status == "applied")
    lines = [f"LoRA stack: {applied} of {len(results)} applied, multiplier {multiplier:g}; "
             f"cache {cache.files} files, {cache.nbytes / 2**20:.1f} of {cache.max_bytes / 2**20:.0f} MiB"]
    for r in results:
        lines.append(f"[{r.index}] {r.name}: {r.status}, model {r.model_strength:g}, clip {r.clip_strength:g}")
        if r.path:
            lines.append(f"    file: {r.path} ({r.format})")
            shown = ", ".join(r.unmatched[:3]) + (" ..." if len(r.unmatched) > 3 else "")
            lines.append(f"    keys applied: UNet {r.unet_keys}, CLIP {r.clip_keys}; unmatched {len(r.unmatched)}"
                         + (f" ({shown})" if r.unmatched else ""))
            lines.append(f"    load {r.load_ms:.1f} ms ({'cache hit' if r.cache_hit else 'read from disk'})")
        if r.triggers:
            lines.append(f"    trigger words: {', '.join(r.triggers)}")
        for w in r.warnings:
            lines.append(f"    warning: {w}")
    return "\n".join(lines)


def collect_trigger_words(results) -> str:
    """The applied entries' trigger words, first spelling of each kept, comma-separated."""
    seen, words = set(), []
    for r in results:
        if r.status != "applied":
            continue
        for w in r.triggers:
            if w.lower() not in seen:
                seen.add(w.lower())
                words.append(w)
    return ", ".join(words)
