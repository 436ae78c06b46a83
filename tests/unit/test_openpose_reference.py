"""OpenPose (preprocessors/openpose.py) against controlnet-aux 0.0.10's ``open_pose`` (ControlNet's openpose annotator
code), on seeded weights in the published files' formats.

- The networks: the reference's ``bodypose_model``, ``handpose_model`` and ``FaceNet`` with seeded random weights,
  saved as the files are (body and hand: plain state dicts of the Caffe layer names, i.e. the reference's module keys
  without their first component, which its ``util.transfer`` adds back; face: its state dict as it is); ours load
  those files strictly and give the reference networks' outputs exactly; the reference's own ``state_dict()`` loads
  strictly too.
- The body pipeline (resize, pad, network, map resizing, peaks, limbs, people): random weights find no limbs, so
  both run the same stand-in network instead, a deterministic module that draws two stick figures (18 Gaussian part
  blobs, 19 limbs' PAFs as unit vectors along the limb, noise) at the network's output size; the reference's
  ``Body.__call__`` and ours give identical candidates (x, y, score, id) and people (part ids, score, count) on two
  inputs. Hands likewise with a stand-in drawing 21 blobs (some with a weaker second region, one with none); the
  face with the seeded network itself (its maps cross the threshold). Hand and face boxes against the reference's
  ``handDetect`` / ``faceDetect`` on hundreds of random bodies; the whole detector against ``detect_poses``, and
  its drawing against ``draw_poses`` (pixel for pixel).
"""
import numpy as np
import pytest

pytestmark = [pytest.mark.usefixtures("few_threads"),  # and the reference's deprecated scipy import, quietly:
              pytest.mark.filterwarnings("ignore:Please import `gaussian_filter`:DeprecationWarning")]
torch = pytest.importorskip("torch")
pytest.importorskip("scipy")
pytest.importorskip("skimage")  # the reference's hand module imports it

from harness.reference import reference  # noqa: E402

from loadout.preprocessors import openpose  # noqa: E402

SEED = 20261205
# two people: 18 parts each as fractions of the image (x, y); OpenPose-18 order
PERSON = [(0.50, 0.16), (0.50, 0.30), (0.40, 0.30), (0.36, 0.46), (0.34, 0.60), (0.60, 0.30), (0.64, 0.46),
          (0.66, 0.60), (0.44, 0.60), (0.44, 0.78), (0.44, 0.94), (0.56, 0.60), (0.56, 0.78), (0.56, 0.94),
          (0.48, 0.14), (0.52, 0.14), (0.46, 0.15), (0.54, 0.15)]


def _people():
    a = [(x * 0.55, y) for x, y in PERSON]
    b = [(0.45 + x * 0.5, 0.1 + y * 0.85) for x, y in PERSON]
    return [a, b]


class StickFigures(torch.nn.Module):
    """A stand-in for the body network: from the input's size, the PAFs and heatmaps of ``_people()`` at 1/8."""

    def __init__(self, seed=SEED):
        super().__init__()
        self.seed = seed
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # a device and dtype for the pipeline to read

    def forward(self, x):
        _, _, h, w = x.shape
        gh, gw = h // 8, w // 8
        ys, xs = torch.meshgrid(torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64),
                                indexing="ij")
        heat = torch.zeros(19, gh, gw, dtype=torch.float64)
        paf = torch.zeros(38, gh, gw, dtype=torch.float64)
        for person in _people():
            pts = [(px * gw, py * gh) for px, py in person]
            for k, (px, py) in enumerate(pts):
                heat[k] = torch.maximum(heat[k], 0.9 * torch.exp(-((xs - px) ** 2 + (ys - py) ** 2) / 2.0))
            for (pa, pb), (cx, cy) in zip(openpose.LIMBS, openpose.PAF_CHANNELS):
                (ax, ay), (bx, by) = pts[pa], pts[pb]
                dx, dy = bx - ax, by - ay
                n = max(1e-6, (dx * dx + dy * dy) ** 0.5)
                ux, uy = dx / n, dy / n
                t = ((xs - ax) * ux + (ys - ay) * uy) / n
                d = ((xs - ax) * uy - (ys - ay) * ux).abs()
                on = (t >= -0.1) & (t <= 1.1) & (d <= 1.5)
                paf[cx] = torch.where(on, torch.full_like(xs, ux), paf[cx])
                paf[cy] = torch.where(on, torch.full_like(ys, uy), paf[cy])
        g = torch.Generator().manual_seed(self.seed)
        heat = heat + 0.02 * torch.rand(heat.shape, generator=g, dtype=torch.float64)
        paf = paf + 0.01 * torch.randn(paf.shape, generator=g, dtype=torch.float64)
        heat[18] = 1 - heat[:18].max(0).values
        return paf[None].float(), heat[None].float()


def seeded_weights(net, seed: int):
    """``net`` with every parameter drawn from ``seed``: weights He-normal (std sqrt(2 / fan-in)), biases N(0, 0.05)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (2.0 / max(1, p[0].numel())) ** 0.5 if p.dim() > 1
                    else torch.randn(p.shape, generator=g) * 0.05)
    return net


def _file_layout(sd):
    return {k.split(".", 1)[1]: v for k, v in sd.items()}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """(the reference network with seeded weights, the path of those weights as body_pose_model.pth)."""
    ref = seeded_weights(reference("open_pose.model").bodypose_model(), SEED)
    path = tmp_path_factory.mktemp("openpose") / openpose.BODY_FILE
    torch.save(_file_layout(ref.state_dict()), path)
    return ref.eval(), path


def test_our_network_loads_the_file_and_gives_the_reference_outputs(seeded, photo):
    ref, path = seeded
    net = openpose.load_body(path)
    x = torch.from_numpy(np.ascontiguousarray(photo[:184, :160, ::-1].astype(np.float32).transpose(2, 0, 1)[None]
                                              / 256 - 0.5))
    with torch.no_grad():
        want = ref(x)
        got = net(x)
    for a, b in zip(got, want):
        assert a.shape == b.shape and torch.equal(a, b)
    assert (want[1] >= 0).all()  # the rectified stage-6 heatmaps, as the reference has them
    assert not (want[0] >= 0).all()


def test_the_reference_state_dict_loads_strictly(seeded):
    ref, _ = seeded
    net = openpose.build_body()
    net.load_state_dict(_file_layout(ref.state_dict()), strict=True)
    assert len(net.state_dict()) == len(ref.state_dict())


@pytest.fixture(scope="module")
def reference_body(seeded):
    body = reference("open_pose.body").Body(str(seeded[1]))
    body.model = StickFigures()
    return body


def _inputs(photo):
    import cv2

    return {"photo": photo, "crop": cv2.resize(photo[40:560, 60:480], (300, 372), interpolation=cv2.INTER_AREA)}


@pytest.mark.parametrize("name", ["photo", "crop"])
def test_candidates_and_people_are_the_references(reference_body, photo, name):
    image = _inputs(photo)[name]
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    want_c, want_p = reference_body(bgr.copy())
    got_c, got_p = openpose.detect_bodies(image, StickFigures())
    assert len(want_p) == 2, want_p  # both stick figures are found
    assert got_c.shape == want_c.shape and np.array_equal(got_c, want_c)
    assert got_p.shape == want_p.shape and np.array_equal(got_p, want_p)
    people = openpose.people_from(got_c, got_p)
    for person, row in zip(people, want_p):
        assert sum(p is not None for p in person["body"]) == row[-1]


# --- hands ---

class HandBlobs(torch.nn.Module):
    """A stand-in for the hand network: 21 Gaussian blobs (fixed places in the crop, a weaker second blob for some
    points) and noise, at the network's output size."""

    def __init__(self, seed=SEED):
        super().__init__()
        self.seed = seed
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        _, _, h, w = x.shape
        gh, gw = h // 8, w // 8
        ys, xs = torch.meshgrid(torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64),
                                indexing="ij")
        g = torch.Generator().manual_seed(self.seed)
        spots = torch.rand(21, 2, generator=g, dtype=torch.float64) * 0.8 + 0.1
        out = 0.03 * torch.rand(22, gh, gw, generator=g, dtype=torch.float64)
        for k in range(21):
            if k == 20:
                continue  # one point with nothing above the threshold: (0, 0)
            px, py = spots[k, 0] * gw, spots[k, 1] * gh
            out[k] += 0.6 * torch.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * (gw / 20) ** 2))
            if k % 3 == 0:  # a second, weaker region
                qx, qy = (1 - spots[k, 0]) * gw, (1 - spots[k, 1]) * gh
                out[k] += 0.3 * torch.exp(-((xs - qx) ** 2 + (ys - qy) ** 2) / (2 * (gw / 20) ** 2))
        return out[None].float()


@pytest.fixture(scope="module")
def hand_seeded(tmp_path_factory):
    ref = seeded_weights(reference("open_pose.model").handpose_model(), SEED + 1)
    path = tmp_path_factory.mktemp("openpose-hand") / openpose.HAND_FILE
    torch.save(_file_layout(ref.state_dict()), path)
    return ref.eval(), path


def test_our_hand_network_gives_the_reference_outputs(hand_seeded, photo):
    ref, path = hand_seeded
    net = openpose.load_hand(path)
    x = torch.from_numpy(np.ascontiguousarray(photo[100:284, 200:384, ::-1].astype(np.float32)
                                              .transpose(2, 0, 1)[None] / 256 - 0.5))
    with torch.no_grad():
        assert torch.equal(net(x), ref(x))
    openpose.build_hand().load_state_dict(_file_layout(ref.state_dict()), strict=True)


@pytest.mark.parametrize("side", [150, 61])
def test_hand_peaks_are_the_references(hand_seeded, photo, side):
    hand = reference("open_pose.hand").Hand(str(hand_seeded[1]))
    hand.model = HandBlobs()
    crop = np.ascontiguousarray(photo[120:120 + side, 220:220 + side, ::-1])
    want = hand(crop.copy())
    got = openpose.hand_peaks(crop, HandBlobs())
    assert got.shape == want.shape == (21, 2) and np.array_equal(got, want)
    assert (want[20] == 0).all() and (want[:20] > 0).any(axis=1).all()


def test_hand_boxes_are_the_references():
    util = reference("open_pose.util")
    body_mod = reference("open_pose.body")
    rng = np.random.default_rng(SEED)
    for trial in range(200):
        pts = [None if rng.random() < 0.15 else (float(rng.integers(0, 300)), float(rng.integers(0, 400)), 0.9)
               for _ in range(18)]
        result = body_mod.BodyResult(keypoints=[None if p is None else body_mod.Keypoint(p[0], p[1], p[2], k)
                                                for k, p in enumerate(pts)], total_score=1.0, total_parts=18)
        want = util.handDetect(result, np.zeros((400, 300, 3), np.uint8))
        assert openpose.hand_boxes(pts, 300, 400) == [tuple(b) for b in want], (trial, pts)


# --- face ---

@pytest.fixture(scope="module")
def face_seeded(tmp_path_factory):
    """The reference FaceNet with seeded weights, saved as facenet.pth is (its state dict as it is)."""
    ref = seeded_weights(reference("open_pose.face").FaceNet(), SEED + 2)
    with torch.no_grad():
        ref.Mconv7_stage6.bias.fill_(0.02)  # most maps cross the 0.05 threshold somewhere, not all
    path = tmp_path_factory.mktemp("openpose-face") / openpose.FACE_FILE
    torch.save(ref.state_dict(), path)
    return ref.eval(), path


@pytest.mark.parametrize("side", [120, 53])
def test_face_heatmaps_and_peaks_are_the_references(face_seeded, photo, side):
    face = reference("open_pose.face").Face(str(face_seeded[1]))
    crop = np.ascontiguousarray(photo[60:60 + side, 180:180 + side, ::-1])
    want = face(crop.copy())
    got = openpose.face_heatmaps(crop, openpose.load_face(face_seeded[1]))
    assert got.shape == want.shape == (71, side, side) and np.array_equal(got, want)
    want_peaks = face.compute_peaks_from_heatmaps(want)
    got_peaks = openpose.face_peaks(got)
    assert np.array_equal(got_peaks, want_peaks)
    assert 10 < len(want_peaks) <= 71


def test_the_reference_face_state_dict_loads_strictly(face_seeded):
    openpose.build_face().load_state_dict(face_seeded[0].state_dict(), strict=True)


def test_face_boxes_are_the_references():
    util = reference("open_pose.util")
    body_mod = reference("open_pose.body")
    rng = np.random.default_rng(SEED + 3)
    seen = 0
    for trial in range(300):
        pts = [None if rng.random() < 0.3 else (float(rng.integers(0, 300)), float(rng.integers(0, 400)), 0.9)
               for _ in range(18)]
        if trial % 2:  # a face-sized head: eyes and ears near the nose
            nose = pts[0] or (150.0, 100.0, 0.9)
            pts[0] = nose
            for k in (14, 15, 16, 17):
                if pts[k] is not None:
                    pts[k] = (nose[0] + float(rng.integers(-30, 30)), nose[1] + float(rng.integers(-20, 20)), 0.9)
        result = body_mod.BodyResult(keypoints=[None if p is None else body_mod.Keypoint(p[0], p[1], p[2], k)
                                                for k, p in enumerate(pts)], total_score=1.0, total_parts=18)
        want = util.faceDetect(result, np.zeros((400, 300, 3), np.uint8))
        assert openpose.face_box(pts, 300, 400) == want, (trial, pts)
        seen += want is not None
    assert seen > 50


def test_the_whole_detector_is_the_references(seeded, hand_seeded, face_seeded, photo):
    """``detect`` against the reference's ``OpenposeDetector.detect_poses`` (body, hands and face) with the same
    networks (the stick figures for the body and the blobs for the hands, so that people and hands are found; the
    seeded face network): the same people, points at the reference's coordinates times the image size."""
    op = reference("open_pose")
    body = op.Body(str(seeded[1]))
    body.model = StickFigures()
    hand = op.Hand(str(hand_seeded[1]))
    hand.model = HandBlobs()
    face = op.Face(str(face_seeded[1]))
    detector = op.OpenposeDetector(body, hand, face)
    image = _inputs(photo)["photo"]
    want = detector.detect_poses(image.copy(), include_hand=True, include_face=True)
    got = openpose.detect(image, StickFigures(), HandBlobs(), openpose.load_face(face_seeded[1]))
    h, w = image.shape[:2]
    assert len(got) == len(want) == 2
    hands = faces = 0
    for ours, theirs in zip(got, want):
        for p, k in zip(ours["body"], theirs.body.keypoints):
            assert (p is None) == (k is None)
            if p is not None:
                assert (p[0] / float(w), p[1] / float(h)) == (k.x, k.y)
        for part, ref_part in (("hand_left", theirs.left_hand), ("hand_right", theirs.right_hand),
                               ("face", theirs.face)):
            if ref_part is None:
                assert ours[part] == []
                continue
            assert len(ours[part]) == len(ref_part)
            for p, k in zip(ours[part], ref_part):
                gone = k.x == np.float32(-1) / np.float32(w) or k.y == np.float32(-1) / np.float32(h)
                assert (p is None) == gone, (part, p, k)  # the reference's "not found": -1 divided by the size
                if p is not None:
                    assert (np.float32(p[0]) / np.float32(w), np.float32(p[1]) / np.float32(h)) == (k.x, k.y)
            hands += part != "face"
            faces += part == "face"
    assert hands >= 2 and faces >= 1
    # and drawn as the reference draws them, pixel for pixel
    drawn = op.draw_poses(want, h, w, draw_body=True, draw_hand=True, draw_face=True)
    ours = openpose.draw(got, w, h)
    assert ours.shape == drawn.shape and np.array_equal(ours, drawn), int((ours != drawn).any(-1).sum())
    assert (drawn > 0).any(-1).mean() > 0.01
    for flags in ((True, False, False), (False, True, False), (False, False, True)):
        assert np.array_equal(openpose.draw(got, w, h, *flags), op.draw_poses(want, h, w, *flags)), flags
