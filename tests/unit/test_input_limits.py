"""Issue 17's limits in the pure code: detection sizes, OpenPose canvases and coordinates, pickled-file refusal,
stack outputs that survive an in-place extending consumer, and core's denoise rules for AYS / GITS / SD-Turbo."""
import copy
import json
import math
import pickle

import numpy as np
import pytest
import torch
from loadout.core.common.errors import pickle_refusal_text, refused_pickle
from loadout.core.common.stacks import RunScopedList
from loadout.core.schedules import catalog, formulas
from loadout.preprocessors import image_ops, openpose_format


@pytest.mark.parametrize("h,w,res", [(1, 4096, 512), (4096, 1, 512), (100, 2000, 512), (64, 64, 8192 + 64)])
def test_detection_beyond_the_limits_is_refused_before_any_allocation(h, w, res):
    with pytest.raises(image_ops.SizeLimitError, match=r"beyond the limit of 8192 px on the long side and 64\.0 MP"):
        image_ops.check_detection(h, w, res)


@pytest.mark.parametrize("h,w,res,want", [(80, 96, 512, (512, 640)), (1, 16, 512, (512, 8192)),
                                          (8192, 8192, 8192, (8192, 8192)), (1, 1, 64, (64, 64))])
def test_detection_within_the_limits_is_unchanged(h, w, res, want):
    assert image_ops.check_detection(h, w, res) == want == image_ops.detection_size(h, w, res)


def test_a_batch_kept_at_detection_size_is_bounded_in_all():
    assert image_ops.check_detection(64, 64, 8192, batch=4, keep_detection_size=True) == (8192, 8192)
    with pytest.raises(image_ops.SizeLimitError, match="5 of them kept at detection size make 320.0 MP"):
        image_ops.check_detection(64, 64, 8192, batch=5, keep_detection_size=True)
    image_ops.check_detection(64, 64, 8192, batch=5000)  # resized back to the input size: the input bounds it


def test_resize_for_detection_uses_the_same_check():
    with pytest.raises(image_ops.SizeLimitError):
        image_ops.resize_for_detection(np.zeros((1, 4096, 3), np.uint8), 512)


def _doc(points, **canvas):
    return {"people": [{"pose_keypoints_2d": points}], **canvas}


@pytest.mark.parametrize("doc,needle", [
    (_doc([10, 10, 1], canvas_width=9000, canvas_height=512), "canvas_width 9000 is outside 1–8192"),
    (_doc([10, 10, 1], canvas_width=512, canvas_height=1e30), "canvas_height 1e+30 is outside 1–8192"),
    (_doc([10, 10, 1], canvas_width=float("nan"), canvas_height=512), "canvas_width is nan, not a whole number"),
    (_doc([10, 10, 1], canvas_width=-5, canvas_height=512), "outside 1–8192"),
    (_doc([10, 10, 1], canvas_width="wide", canvas_height=512), "not a whole number"),
    (_doc([1e30, 10, 1], canvas_width=512, canvas_height=512), "more than 65536 px from the origin"),
    (_doc([10 ** 400, 10, 1], canvas_width=512, canvas_height=512), "more than 65536 px from the origin"),
    (_doc([float("nan"), 10, 1], canvas_width=512, canvas_height=512), "nan, not a finite number"),
    (_doc([10, float("inf"), 1], canvas_width=512, canvas_height=512), "inf, not a finite number"),
    (_doc([10, 10, float("nan")], canvas_width=512, canvas_height=512), "not a finite number"),
    (_doc([10, "x", 1], canvas_width=512, canvas_height=512), "'x', not a number"),
    (_doc([60000, 10, 1]), "beyond the 8192x8192 canvas limit"),
    ({"people": ["nobody"]}, "person 1 is str"),
])
def test_openpose_documents_beyond_the_limits_are_value_errors_naming_the_problem(doc, needle):
    with pytest.raises(ValueError) as e:
        openpose_format.from_json(json.loads(json.dumps(doc)) if "nan" not in needle else doc)
    assert needle in str(e.value)


def test_openpose_points_off_the_canvas_still_draw():
    from loadout.preprocessors import openpose_render

    people, w, h = openpose_format.from_json(_doc([-60000, 10, 1, 65536, 65536, 1] + [0] * 48,
                                                  canvas_width=64, canvas_height=48))
    assert (w, h) == (64, 48)
    img = openpose_render.render(people, 8192, 8192 * 48 // 64, scale=128)
    assert img.shape == (6144, 8192, 3)


class Boom:
    def __reduce__(self):
        return (print, ("never",))


def test_a_refused_pickle_is_recognised_through_wrapping(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"w": Boom()}, path)
    with pytest.raises(pickle.UnpicklingError) as e:
        torch.load(path, weights_only=True)
    assert refused_pickle(e.value)
    try:
        try:
            raise e.value
        except pickle.UnpicklingError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert refused_pickle(outer)
    assert not refused_pickle(ValueError("truncated"))
    assert "holds pickled code" in pickle_refusal_text("x.pt") and "refused" in pickle_refusal_text("x.pt")


def efficiency_stacker(stack, entry):
    """What Efficiency Nodes' Control Net Stacker does: extend the received list in place and return it."""
    stack = [] if stack is None else stack
    stack.extend([entry])
    return stack


def test_a_run_scoped_stack_survives_an_in_place_extender_across_runs():
    run = {"id": "prompt-1"}
    cached = RunScopedList(["ours"], lambda: run["id"])  # the Loadout node's output, kept in ComfyUI's cache
    assert efficiency_stacker(cached, "theirs") == ["ours", "theirs"]
    assert efficiency_stacker(cached, "more") == ["ours", "theirs", "more"]  # within one run: as a list
    for k in range(2, 6):  # re-queues: their node runs again on our cached output
        run["id"] = f"prompt-{k}"
        assert efficiency_stacker(cached, f"theirs-{k}") == ["ours", f"theirs-{k}"]
    run["id"] = "prompt-9"
    assert list(cached) == ["ours", "theirs-5"]  # reading never resets
    cached += ["x"]
    assert cached == ["ours", "x"] and isinstance(cached, RunScopedList)


def test_a_run_scoped_stack_is_a_list_everywhere_else():
    s = RunScopedList([(1, 2, 3, 4, 5)])
    (_cn, _image, strength, _start, end), = s
    assert isinstance(s, list) and s == [(1, 2, 3, 4, 5)] and len(s) == 1 and (strength, end) == (3, 5)
    s.append(6)  # no run id: an ordinary list
    s.append(7)
    assert s == [(1, 2, 3, 4, 5), 6, 7]
    assert type(copy.deepcopy(s)) is list and copy.copy(s) == s and pickle.loads(pickle.dumps(s)) == s


def _info():
    table = np.geomspace(0.03, 14.6, 1000)
    return catalog.SamplingInfo(family="SD1", table=table, core_names=(),
                                gits_table={1.2: [list(np.geomspace(14.6, 0.03, k + 1)) for k in range(2, 21)]})


def core_tail(levels_full, steps, denoise):
    """core's AlignYourStepsScheduler / GITSScheduler tail, restated."""
    total = steps if denoise >= 1 else round(steps * denoise)
    sig = list(levels_full)[-(total + 1):]
    sig[-1] = 0
    return torch.FloatTensor(sig)


@pytest.mark.parametrize("schedule", ["ays_sd1", "ays_sdxl", "gits"])
@pytest.mark.parametrize("steps,denoise", [(10, 0.5), (10, 0.6), (7, 0.6), (25, 0.5), (3, 0.1), (10, 1.0)])
def test_ays_and_gits_follow_their_core_nodes_denoise_rule(schedule, steps, denoise):
    info = _info()
    full = catalog.BY_NAME[schedule].compute(info, steps, catalog.ScheduleParams())
    got = catalog.compute(schedule, info, steps, denoise)
    assert torch.equal(got, core_tail(full.tolist(), steps, denoise))
    assert len(got) == (steps if denoise >= 1 else round(steps * denoise)) + 1


@pytest.mark.parametrize("steps,denoise", [(4, 0.5), (10, 0.6), (10, 0.9), (1, 0.55), (3, 0.0)])
def test_sd_turbo_takes_later_timesteps_for_denoise_as_core_does(steps, denoise):
    info = _info()
    got = catalog.compute("sd_turbo", info, steps, denoise)
    start = 10 - int(10 * denoise)
    ts = (np.arange(1, 11) * 100 - 1)[::-1][start:start + steps]
    want = torch.cat([torch.from_numpy(np.interp(ts, np.arange(1000), info.table)).float(), torch.zeros(1)]) \
        if len(ts) else torch.zeros(1)
    assert len(got) == len(want) and torch.allclose(got, want, rtol=1e-6)


def test_basic_schedules_keep_basic_schedulers_rule():
    info = _info()
    got = catalog.compute("kl_optimal_range", info, 8, 0.6)
    full = catalog.BY_NAME["kl_optimal_range"].compute(info, int(8 / 0.6), catalog.ScheduleParams())
    assert torch.equal(got, full[-9:].float()) and math.isclose(formulas.tail_for_denoise(full, 8, 0.0).numel(), 0)
