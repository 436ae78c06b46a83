"""No deprecation noise: the session server's log, read after every other test of the session has run, holds no
warning that Loadout causes (rules in harness/log_noise.py: the pack's own WARNING lines, Python warnings from its
files, deprecation messages about it or about ComfyUI APIs its glue calls). A warning a test provokes on purpose
and declares with ``allow_log`` is expected there and not noise."""
import pytest
from harness.log_noise import loadout_warnings


@pytest.mark.session_last
def test_the_session_log_has_no_warning_caused_by_loadout(comfy, allowed_log_ranges):
    text = comfy.server.log_text()
    assert "Import times for custom nodes" in text, "not the log of a server that loaded custom nodes"
    found = loadout_warnings(text, allowed_log_ranges)
    distinct = {}
    for rule, line in found:
        distinct.setdefault((rule, line.strip()), 0)
        distinct[(rule, line.strip())] += 1
    summary = [f"{n:5d} x {rule}: {line[:220]}" for (rule, line), n in sorted(distinct.items(), key=lambda kv: -kv[1])]
    assert not found, (f"{len(found)} warning lines caused by Loadout in {comfy.server.log_path}:\n"
                       + "\n".join(summary[:30]))
