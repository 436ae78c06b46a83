"""What a LoRA file's metadata says: trigger words and the base model family it was trained for."""
from __future__ import annotations

import json


def trigger_words(metadata: dict, limit: int = 8) -> list[str]:
    """``modelspec.trigger_phrase`` first, then the most frequent ``ss_tag_frequency`` tags (kohya)."""
    words: list[str] = []
    phrase = metadata.get("modelspec.trigger_phrase") or metadata.get("ss_trigger_words") or ""
    words += [w.strip() for w in str(phrase).split(",") if w.strip()]
    raw = metadata.get("ss_tag_frequency")
    if raw:
        try:
            datasets = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            datasets = {}
        counts: dict[str, int] = {}
        for tags in (datasets or {}).values():
            if isinstance(tags, dict):
                for tag, n in tags.items():
                    if isinstance(n, (int, float)):
                        counts[tag.strip()] = counts.get(tag.strip(), 0) + int(n)
        words += [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit] if t]
    seen, out = set(), []
    for w in words:
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return out


def base_family(metadata: dict) -> str | None:
    """"SD1", "SD2", "SDXL", "SD3", "FLUX" or None when the metadata does not say."""
    version = str(metadata.get("ss_base_model_version", "")).lower()
    arch = str(metadata.get("modelspec.architecture", "")).lower()
    for text in (version, arch):
        if not text:
            continue
        if "sdxl" in text or "stable-diffusion-xl" in text:
            return "SDXL"
        if "sd_v1" in text or "stable-diffusion-v1" in text or text.startswith("sd1"):
            return "SD1"
        if "sd_v2" in text or "stable-diffusion-v2" in text:
            return "SD2"
        if "sd3" in text or "stable-diffusion-3" in text:
            return "SD3"
        if "flux" in text:
            return "FLUX"
    return None
