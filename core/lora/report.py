"""What applying a LORA_STACK did, per entry, and the report and trigger-word list made from it (no ComfyUI).

The report stays bounded whatever the stack: an entry identical to an earlier one (same name, strengths, file and
outcome) is one line ("[3..5000] same as [2] (4998 entries)"), at most ``MAX_LISTED`` entries are listed in full
and the rest are counted, and key lists show a few keys and a count."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class AppliedLora:
    index: int
    name: str
    status: str  # applied | skipped (strength 0) | missing (skipped) | skipped (shapes do not fit)
    path: str = ""
    format: str = ""
    model_strength: float = 0.0
    clip_strength: float = 0.0
    unet_keys: int = 0
    clip_keys: int = 0
    unmatched: list = dataclasses.field(default_factory=list)
    shape_skipped: list = dataclasses.field(default_factory=list)  # keys whose shapes do not fit their weight
    no_clip_keys: int = 0  # text-encoder keys with no CLIP connected to patch
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


MAX_LISTED = 100  # distinct entries listed in full
MAX_LINES = 600  # report lines at most (repeat runs included); the rest is counted in one line


def _keys(keys, shown: int = 3) -> str:
    return ", ".join(keys[:shown]) + (" ..." if len(keys) > shown else "")


def _signature(r) -> tuple:
    """What makes two entries' report lines equal (their load time and cache hit aside)."""
    return (r.name, r.status, r.path, r.format, r.model_strength, r.clip_strength, r.unet_keys, r.clip_keys,
            tuple(r.unmatched), tuple(r.shape_skipped), r.no_clip_keys, tuple(r.triggers), tuple(r.warnings))


def _entry_lines(r) -> list[str]:
    lines = [f"[{r.index}] {r.name}: {r.status}, model {r.model_strength:g}, clip {r.clip_strength:g}"]
    if r.path:
        lines.append(f"    file: {r.path} ({r.format})")
        line = (f"    keys applied: UNet {r.unet_keys}, CLIP {r.clip_keys}; unmatched {len(r.unmatched)}"
                + (f" ({_keys(r.unmatched)})" if r.unmatched else ""))
        if r.no_clip_keys:
            line += f"; CLIP keys (no CLIP connected) {r.no_clip_keys}"
        lines.append(line)
        if r.shape_skipped:
            lines.append(f"    skipped, shapes do not fit the model: {len(r.shape_skipped)} keys "
                         f"({_keys(r.shape_skipped)})")
        lines.append(f"    load {r.load_ms:.1f} ms ({'cache hit' if r.cache_hit else 'read from disk'})")
    if r.triggers:
        lines.append(f"    trigger words: {', '.join(r.triggers)}")
    for w in r.warnings:
        lines.append(f"    warning: {w}")
    return lines


def format_report(results, multiplier: float, cache: CacheStats = CacheStats()) -> str:
    if not results:
        return "LoRA stack: empty"
    applied = sum(1 for r in results if r.status == "applied")
    lines = [f"LoRA stack: {applied} of {len(results)} applied, multiplier {multiplier:g}; "
             f"cache {cache.files} files, {cache.nbytes / 2**20:.1f} of {cache.max_bytes / 2**20:.0f} MiB"]
    first: dict = {}  # signature -> index of the entry listed in full
    run = None  # [first index, last index, same-as index] of the repeat run on the last line
    listed = 0
    for position, r in enumerate(results):
        same = first.get(_signature(r))
        if same is not None and run is not None and run[2] == same:
            run[1] = r.index
            lines[-1] = _run_line(*run)
            continue
        if (same is None and listed >= MAX_LISTED) or len(lines) >= MAX_LINES:
            rest = results[position:]
            done = sum(1 for x in rest if x.status == "applied")
            lines.append(f"[{r.index}..{results[-1].index}] not listed: {len(rest)} more entries ({done} applied); "
                         f"the report lists {MAX_LISTED} distinct entries and {MAX_LINES} lines at most")
            break
        if same is not None:
            run = [r.index, r.index, same]
            lines.append(_run_line(*run))
            continue
        run = None
        first[_signature(r)] = r.index
        listed += 1
        lines += _entry_lines(r)
    return "\n".join(lines)


def _run_line(start: int, end: int, same: int) -> str:
    if start == end:
        return f"[{start}] same as [{same}]"
    return f"[{start}..{end}] same as [{same}] ({end - start + 1} entries)"


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
