"""LoadoutMemoryMonitor through the real server: pass-through is exact, the report is real and current."""
import re

import numpy as np
from harness.graphs import txt2img


def _report(result, node_id="15"):
    return result.outputs[node_id]["text"][0]


def test_monitor_passes_image_through_unchanged_and_reports(comfy):
    plain = comfy.run(txt2img(seed=5, prefix="loadout/mm_plain"))
    watched = comfy.run(txt2img(seed=5, prefix="loadout/mm_watched", monitor=True))
    assert np.array_equal(comfy.image(plain), comfy.image(watched))
    report = _report(watched)
    assert report.startswith("Memory — decode")
    rss = re.search(r"process RSS ([\d,]+) MiB", report)
    assert rss and int(rss.group(1).replace(",", "")) > 300  # ComfyUI plus torch plus the loaded tiny model
    assert "CUDA: not available (CPU run)" in report
    assert re.search(r"loaded (BaseModel|SD1ClipModel|AutoencoderKL)", report), report


def test_monitor_runs_again_on_every_queue_and_shows_the_change(comfy):
    first = comfy.run(txt2img(seed=6, prefix="loadout/mm_again", monitor=True))
    second = comfy.run(txt2img(seed=6, prefix="loadout/mm_again", monitor=True))
    assert "15" in second.outputs, "the monitor must not be served from the cache"
    assert re.search(r"process RSS [\d,]+ MiB \([+-]", _report(second)), _report(second)
    assert first.prompt_id != second.prompt_id


def test_monitor_accepts_any_type_and_rejects_a_wrongly_typed_label(comfy):
    graph = {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "2": {"class_type": "LoadoutMemoryMonitor", "inputs": {"value": ["1", 0], "label": "latent",
                                                               "reset_peak": False}},
    }
    assert _report(comfy.run(graph), "2").startswith("Memory — latent")
    graph["2"]["inputs"]["label"] = ["1", 0]  # a LATENT wired into a STRING input
    err = comfy.run_expecting_error(graph)
    assert "label" in str(err) and "LATENT" in str(err), str(err)
