"""Warnings Loadout causes in a ComfyUI server log: the "no deprecation noise" check.

``loadout_warnings(text, allowed)`` returns the offending lines with the rule each broke:

- ``warning``: a WARNING-level line that mentions ``[Loadout]`` or the pack's folder. ComfyUI >= 0.3x tags every
  logged line with its level (``[WARNING]``, coloured); 0.3.75 prints the bare message, so there only lines that
  mention the pack and say "warning" themselves count (the level of the others cannot be read from the log).
- ``python-warning``: Python's ``warnings`` output (``path:line: SomeWarning: message``) from a file in the pack.
- ``deprecation``: a deprecation message that names the pack or whose traceback runs through it.
- ``deprecated-api``: ComfyUI's own logged deprecation of an API that the pack's ComfyUI glue (``nodes/``) uses,
  e.g. ``comfy.model_patcher.string_to_seed`` ("has moved ... to comfy.utils"), which ComfyUI 0.33 logs on every
  call without saying who called it.

``allowed`` lists ``(start, end, patterns)``: character ranges of the log written during a test marked
``allow_log(pattern)``; a ``warning`` line in such a range that matches one of its patterns is expected by that test
(a warning the pack gives a user about their input). The other rules are never excused.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.paths import PACK_DIR_NAME, REPO
from harness.server import ANSI_RE

# The level tag opens a line, or follows a tqdm progress bar that was left without its newline (" 50%|██| 2/4 [..]").
_PROGRESS_BAR = r"(?:.*?\d+%\|[^|]*\|[^\[]*\[[^\]]*\])"
LEVEL_TAG_RE = re.compile(rf"^{_PROGRESS_BAR}?\[(DEBUG|DETAIL|INFO|WARNING|ERROR|CRITICAL)\] ?")
PY_WARNING_RE = re.compile(r"^(?P<path>\S.*?):(?P<line>\d+): (?P<category>[A-Za-z_][\w.]*Warning): (?P<message>.*)$")
DEPRECATION_RE = re.compile(r"deprecat|has moved|will be removed", re.I)
TRACEBACK_FILE_RE = re.compile(r'^\s+File "(?P<path>[^"]+)", line \d+')
# ComfyUI's logged deprecations of Python APIs (as of 0.33): message -> what a caller's source would contain.
DEPRECATED_APIS = (
    (re.compile(r"string_to_seed has moved from comfy\.model_patcher to comfy\.utils"),
     re.compile(r"from comfy\.model_patcher import[^\n]*\bstring_to_seed\b|model_patcher\.string_to_seed\b")),
    (re.compile(r"ModelPatcher\.calculate_weight function is deprecated"), re.compile(r"\.calculate_weight\(")),
    (re.compile(r"load checkpoint with config function is deprecated"), re.compile(r"\bload_checkpoint\(")),
    (re.compile(r"load_unet function has been deprecated"), re.compile(r"\bload_unet\(")),
    (re.compile(r"load_unet_state_dict function has been deprecated"), re.compile(r"\bload_unet_state_dict\(")),
    (re.compile(r"calc_cond_uncond_batch function is deprecated"), re.compile(r"\bcalc_cond_uncond_batch\b")),
    (re.compile(r"resolve_areas_and_cond_masks function is deprecated"),
     re.compile(r"\bresolve_areas_and_cond_masks\(")),
    (re.compile(r"chainner_models is deprecated"), re.compile(r"chainner_models")),
)
# The frontend-path deprecation (0.3x server.py): a legacy path that one of the pack's web files imports.
LEGACY_WEB_RE = re.compile(r"deprecated legacy API: (?P<path>\S+?)\.? ")


_THIRD_PARTY_RE = re.compile(r"^/(?:\.venv[^/]*|.*?/(?:site|dist)-packages)/")
_PACK_RE = re.compile(rf"(?:{re.escape(str(REPO))}|{re.escape(PACK_DIR_NAME)})(?P<rest>/\S*)?")


def _in_pack(text: str) -> bool:
    """Whether ``text`` names the pack or one of its files. The venvs live inside the checkout (``.venv``,
    ``.venv-0.33``), so a path through one of them, or through a ``site-packages`` below the pack, is a library's
    file, not the pack's."""
    return any(not _THIRD_PARTY_RE.match(m.group("rest") or "") for m in _PACK_RE.finditer(text))


def _glue_source(repo: Path = REPO) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted((repo / "nodes").rglob("*.py")))


def _web_imports(repo: Path = REPO) -> set[str]:
    """Server paths the pack's web extension imports: its ``WEB_DIRECTORY`` is served at ``/extensions/<pack>/``,
    so ``../scripts/app.js`` there is ``/scripts/app.js``."""
    init = repo / "__init__.py"
    m = re.search(r"""^WEB_DIRECTORY\s*=\s*["']([^"']+)["']""", init.read_text() if init.is_file() else "", re.M)
    web_dir = (repo / (m.group(1) if m else "web")).resolve()
    out = set()
    for js in web_dir.rglob("*.js"):
        rel = js.parent.relative_to(web_dir).as_posix()
        base = f"/extensions/{PACK_DIR_NAME}" + ("" if rel == "." else f"/{rel}")
        for m in re.finditer(r"""(?:import|from)\s*\(?\s*["']([^"']+)["']""", js.read_text(errors="replace")):
            parts = [] if m.group(1).startswith("/") else base.strip("/").split("/")
            for part in m.group(1).split("/"):
                if part == "..":
                    parts = parts[:-1]
                elif part not in ("", "."):
                    parts.append(part)
            out.add("/" + "/".join(parts))
    return out


def loadout_warnings(text: str, allowed=(), repo: Path = REPO) -> list[tuple[str, str]]:
    """(rule, line) for each warning the pack causes in ``text`` (a server log); see the module docstring."""
    lines = text.splitlines(keepends=True)
    plain = [ANSI_RE.sub("", line).rstrip("\r\n") for line in lines]
    tagged = any(LEVEL_TAG_RE.match(line) for line in plain)
    glue = _glue_source(repo)
    used_apis = [msg for msg, use in DEPRECATED_APIS if use.search(glue)]
    web = _web_imports(repo)
    found, offset = [], 0
    for i, line in enumerate(plain):
        start, offset = offset, offset + len(lines[i])
        tag = LEVEL_TAG_RE.match(line)
        level, message = (tag.group(1), line[tag.end():]) if tag else (None, line)
        py = PY_WARNING_RE.match(message)
        if py and _in_pack(py.group("path")):
            found.append(("python-warning", line))
            continue
        if DEPRECATION_RE.search(message):
            trace = []
            for nxt in plain[i + 1:i + 40]:
                if not nxt.startswith((" ", "\t", "Traceback")):
                    break
                m = TRACEBACK_FILE_RE.match(nxt)
                if m:
                    trace.append(m.group("path"))
            if _in_pack(message) or any(_in_pack(p) for p in trace):
                found.append(("deprecation", line))
                continue
            if any(msg.search(message) for msg in used_apis):
                found.append(("deprecated-api", line))
                continue
            legacy = LEGACY_WEB_RE.search(message)
            if legacy and legacy.group("path") in web:
                found.append(("deprecation", line))
                continue
        mentions = "[Loadout]" in message or PACK_DIR_NAME in message
        is_warning = level == "WARNING" if tagged else bool(re.search(r"\bwarn", message, re.I))
        if mentions and is_warning:
            if any(a <= start < b and any(re.search(p, line) for p in patterns) for a, b, patterns in allowed):
                continue
            found.append(("warning", line))
    return found
