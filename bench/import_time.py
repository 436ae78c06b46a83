"""The pack's import time as ComfyUI itself reports it ("Import times for custom nodes"), plus the server's
time to answer /object_info. Target: import_s <= 0.1 (ComfyUI prints one decimal, so 0.0 means < 0.05 s)."""
from __future__ import annotations

import re
import time

from harness.paths import PACK_DIR_NAME, cache_dir, comfy_suffix, harness
from harness.server import ComfyServer


def comfyui_version(comfy_dir) -> str:
    text = (comfy_dir / "comfyui_version.py").read_text() if (comfy_dir / "comfyui_version.py").is_file() else ""
    m = re.search(r"""__version__\s*=\s*["']([^"']+)""", text)
    return m.group(1) if m else "unknown"


def run() -> dict:
    t0 = time.time()
    with ComfyServer(harness(), cache_dir() / "logs" / f"bench-import-time{comfy_suffix()}.log") as server:
        ready = time.time() - t0
        times = server.import_times()
    if PACK_DIR_NAME not in times:
        raise RuntimeError(f"{PACK_DIR_NAME} not in ComfyUI's import times: {times}")
    seconds, ok = times[PACK_DIR_NAME]
    return {"import_s": seconds, "import_ok": ok, "target_import_s": 0.1, "meets_target": ok and seconds <= 0.1,
            "server_ready_s": round(ready, 2), "comfyui": comfyui_version(harness().comfyui),
            "source": "ComfyUI log: Import times for custom nodes (0.3x: after its [INFO] tag)"}
