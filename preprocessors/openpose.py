"""OpenPose (Cao et al. 2017, CMU) body, hands and face from the three published files, as ControlNet's openpose
annotator runs them (controlnet-aux 0.0.10's ``open_pose``, the reference; tests/unit/test_openpose_reference.py).

The files (lllyasviel/Annotators on Hugging Face: ``BODY_FILE``, ``HAND_FILE``, ``FACE_FILE``; CMU's models, under
CMU's non-commercial licence: users bring them) are plain state dicts keyed by the Caffe layer names
(``conv1_1.weight``, ``conv5_5_CPM_L2.bias``, ``Mconv7_stage6.weight``, ...). Our networks keep those keys, so each
file loads with strict key and shape checks.

**Body** (18 COCO points): a VGG-19-like trunk (conv1_1..conv4_2, three 2x2 max-pools, conv4_3_CPM / conv4_4_CPM to
128 channels, every conv 3x3 with a ReLU) and six stages of two branches, L1 the 38 part-affinity fields (PAFs, x
and y for 19 limbs) and L2 the 19 heatmaps (18 parts + background). Stage 1: three 3x3 convs of 128, a 1x1 to 512,
a 1x1 to the output; stages 2-6 read both previous outputs and the trunk (185 channels) through five 7x7 convs of
128, a 1x1 of 128 and a 1x1 to the output. Every conv but each branch's last has a ReLU, and so has the very last
heatmap conv (``Mconv7_stage6_L2``): the reference lists ``Mconv7_stage6_L1`` twice among its layers without ReLU
instead of naming L2, so its final heatmaps are rectified; ours are too, as the maps must be the reference's.
``body_maps``: the BGR image at the reference's one search scale (0.5 x 368 / height; OpenCV, area when shrinking,
Lanczos-4 otherwise, by its rule on the sum of the sides), padded right and down to a multiple of 8 with grey 128,
fed as ``x / 256 - 0.5``; both outputs resized x8 (Lanczos-4, channel by channel), cropped, resized to the image
(float64). ``find_peaks``: each part's heatmap blurred (scipy's Gaussian, sigma 3), 4-neighbour maxima above 0.1,
scored by the unblurred map. ``connect_limbs``: a candidate pair scored by the PAF at 10 points between them
(rounded to the nearest pixel), kept when more than 8 samples exceed 0.05 and the mean plus a distance prior
(``min(0.5 * height / length - 1, 0)``) is positive, paired greedily best first. ``assemble``: people built limb by
limb (two partial people sharing no part merge), those with fewer than 4 parts or a mean score under 0.4 dropped.

**Hands** (21 points): ``hand_boxes`` puts a square beyond each wrist (OpenPose's rule from shoulder, elbow and
wrist); ``hand_peaks`` blurs the crop (sigma 0.8), runs the hand network (a CPM: VGG trunk to 128 channels, six
stages, 22 maps) at 184, 368, 552 and 736 px, averages the maps at 128 px, and per point takes the maximum of the
8-connected region of its blurred map above 0.05 whose raw sum is largest. **Face** (70 points): ``face_box`` from
the nose, eyes and ears; ``face_heatmaps`` runs the face network (the same CPM with 71 maps) on the crop at 384 px
and resizes the last stage back bilinearly (corners aligned); ``face_peaks`` takes each map's first maximum above
0.05, skipping maps with none and including the background map, as the reference does (so its list can be shorter
or longer than 70, and ours is the same list).

The same arithmetic in the same order as the reference throughout (float32 networks, float64 maps, Python's
summation order where it sums with Python), so the results are identical. ``detect`` runs them all on an RGB image
and returns Loadout's person format in pixels. Networks run where they are or on ``device`` in ``dtype``
(``weights.on_device``: a copy; the cached network never moves).
"""
from __future__ import annotations

import math

import numpy as np

from .weights import MODELS, load_strict, on_device, placement_of

BODY_FILE = "body_pose_model.pth"
SOURCE = "https://huggingface.co/lllyasviel/Annotators"
KIND = "openpose"  # the annotators sub-folder (weights.find_weight_file's ``subdir``)
BOX = 368
SCALE = 0.5  # the reference's scale_search: one scale
STRIDE = 8
PAD_VALUE = 128
PEAK = 0.1
LIMB = 0.05
SAMPLES = 10
PARTS = 18
# limbs as (part A, part B), 0-based OpenPose-18 indices, in the reference's order, with their PAF channels (x, y)
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
PAF_CHANNELS = ((12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
                (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27))
TRUNK = (("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool", ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
         ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), "pool",
         ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3_CPM", 512, 256), ("conv4_4_CPM", 256, 128))
OUTPUTS = {"L1": 38, "L2": 19}


def _branch_layers(stage: int, branch: str) -> list[tuple[str, int, int, int]]:
    """(name, in, out, kernel) of one branch of one stage, in order."""
    out = OUTPUTS[branch]
    if stage == 1:
        return [(f"conv5_1_CPM_{branch}", 128, 128, 3), (f"conv5_2_CPM_{branch}", 128, 128, 3),
                (f"conv5_3_CPM_{branch}", 128, 128, 3), (f"conv5_4_CPM_{branch}", 128, 512, 1),
                (f"conv5_5_CPM_{branch}", 512, out, 1)]
    cin = 128 + sum(OUTPUTS.values())
    layers = [(f"Mconv{k}_stage{stage}_{branch}", cin if k == 1 else 128, 128, 7) for k in range(1, 6)]
    return layers + [(f"Mconv6_stage{stage}_{branch}", 128, 128, 1), (f"Mconv7_stage{stage}_{branch}", 128, out, 1)]


def _add_trunk(module, layers) -> None:
    """The 3x3 convs of a VGG trunk table (``TRUNK`` / ``HAND_TRUNK``: (name, in, out) or "pool") on ``module``,
    under the files' layer names."""
    from torch import nn

    for layer in layers:
        if layer != "pool":
            name, cin, cout = layer
            module.add_module(name, nn.Conv2d(cin, cout, 3, padding=1))


def _run_trunk(module, layers, x):
    """The trunk ``_add_trunk`` built: every conv with a ReLU, a 2x2 max-pool at each "pool"."""
    import torch.nn.functional as F

    for layer in layers:
        x = F.max_pool2d(x, 2, 2) if layer == "pool" else F.relu(getattr(module, layer[0])(x))
    return x


def _net_input(image: np.ndarray) -> np.ndarray:
    """1x3xHxW float32 for the body and hand networks: a BGR uint8 image padded right and down to a multiple of
    ``STRIDE`` with grey ``PAD_VALUE``, as ``x / 256 - 0.5`` (the reference's input)."""
    h, w = image.shape[:2]
    padded = np.full((h + (-h) % STRIDE, w + (-w) % STRIDE, 3), PAD_VALUE, dtype=image.dtype)
    padded[:h, :w] = image
    return np.ascontiguousarray(padded.astype(np.float32).transpose(2, 0, 1)[None] / 256 - 0.5)


def build_body():
    """Our OpenPose body network (random weights until loaded)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class OpenPoseBody(nn.Module):
        def __init__(self):
            super().__init__()
            _add_trunk(self, TRUNK)
            for stage in range(1, 7):
                for branch in OUTPUTS:
                    for name, cin, cout, k in _branch_layers(stage, branch):
                        self.add_module(name, nn.Conv2d(cin, cout, k, padding=k // 2))

        def _branch(self, x, stage, branch):
            layers = _branch_layers(stage, branch)
            for i, (name, *_rest) in enumerate(layers):
                x = getattr(self, name)(x)
                if i < len(layers) - 1 or (stage == 6 and branch == "L2"):  # the reference's rectified last heatmap
                    x = F.relu(x)
            return x

        def forward(self, x):
            """1x3xHxW (BGR / 256 - 0.5, sides multiples of 8) -> (PAFs 1x38, heatmaps 1x19) at 1/8."""
            trunk = feats = _run_trunk(self, TRUNK, x)
            for stage in range(1, 7):
                pafs, heat = self._branch(feats, stage, "L1"), self._branch(feats, stage, "L2")
                feats = torch.cat([pafs, heat, trunk], 1)
            return pafs, heat

    return OpenPoseBody()


def load_body(path):
    """``body_pose_model.pth`` in our network (strict keys and shapes, float32, eval); cached per file."""
    return MODELS.get(path, extra="openpose-body",
                      load=lambda p: load_strict(build_body(), p, "the OpenPose body network")).value


def _resize(x: np.ndarray, width: float, height: float) -> np.ndarray:
    """The reference's resize rule: to ``int(width) x int(height)``, area when the sum of the (unrounded) target
    sides is below the source's, Lanczos-4 otherwise; 1 or 3 channels at once, more channels one by one."""
    import cv2

    h, w = x.shape[:2]
    channels = 1 if x.ndim == 2 else x.shape[2]
    if channels not in (1, 3):
        return np.stack([_resize(x[:, :, c], width, height) for c in range(channels)], axis=2)
    shrink = float(height + width) / float(h + w) < 1
    return cv2.resize(x, (int(width), int(height)), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)


def _resize_by(x: np.ndarray, f: float) -> np.ndarray:
    h, w = x.shape[:2]
    return _resize(x, w * f, h * f)


def body_maps(image_bgr: np.ndarray, net, device=None, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """(HxWx19 heatmaps, HxWx38 PAFs), float64, of an HxWx3 uint8 BGR image (module doc)."""
    import torch

    h, w = image_bgr.shape[:2]
    scaled = _resize_by(image_bgr, SCALE * BOX / h)
    sh, sw = scaled.shape[:2]
    x = _net_input(scaled)
    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    with torch.no_grad():
        pafs, heat = net(torch.from_numpy(x).to(device=device, dtype=dtype))
    out = []
    for t in (heat, pafs):
        m = t[0].float().cpu().numpy().transpose(1, 2, 0)
        m = _resize_by(m, STRIDE)[:sh, :sw]
        out.append(_resize(m, w, h).astype(np.float64))
    return out[0], out[1]


def find_peaks(heatmaps: np.ndarray) -> list[list[tuple]]:
    """Per part: its candidates (x, y, score, id), ids counting on across parts (module doc)."""
    from scipy.ndimage import gaussian_filter

    peaks, counter = [], 0
    for part in range(PARTS):
        raw = heatmaps[:, :, part]
        blurred = gaussian_filter(raw, sigma=3)
        up = np.zeros_like(blurred)
        up[1:] = blurred[:-1]
        down = np.zeros_like(blurred)
        down[:-1] = blurred[1:]
        left = np.zeros_like(blurred)
        left[:, 1:] = blurred[:, :-1]
        right = np.zeros_like(blurred)
        right[:, :-1] = blurred[:, 1:]
        ys, xs = np.nonzero((blurred >= up) & (blurred >= down) & (blurred >= left) & (blurred >= right)
                            & (blurred > PEAK))
        found = [(x, y, raw[y, x], counter + k) for k, (x, y) in enumerate(zip(xs, ys))]
        peaks.append(found)
        counter += len(found)
    return peaks


def _limb_score(a, b, paf_x: np.ndarray, paf_y: np.ndarray, height: int) -> tuple[float, bool]:
    """(score with the distance prior, whether the pair passes both criteria) of candidates ``a`` -> ``b``."""
    dx, dy = np.subtract(b[:2], a[:2])
    length = max(0.001, math.sqrt(dx * dx + dy * dy))
    ux, uy = np.divide((dx, dy), length)
    xs = np.linspace(a[0], b[0], num=SAMPLES)
    ys = np.linspace(a[1], b[1], num=SAMPLES)
    rows = [int(round(y)) for y in ys]
    cols = [int(round(x)) for x in xs]
    along = np.array([paf_x[r, c] for r, c in zip(rows, cols)]) * ux + np.array([paf_y[r, c] for r, c in
                                                                                 zip(rows, cols)]) * uy
    total = 0
    for v in along:  # in order, as Python's sum adds them
        total = total + v
    score = total / len(along) + min(0.5 * height / length - 1, 0)
    return score, bool(np.count_nonzero(along > LIMB) > 0.8 * len(along) and score > 0)


def connect_limbs(peaks, pafs: np.ndarray, height: int) -> list:
    """Per limb: an Nx5 array (id A, id B, score, index in A's candidates, in B's), or None when a part has none."""
    out = []
    for (pa, pb), (cx, cy) in zip(LIMBS, PAF_CHANNELS):
        cand_a, cand_b = peaks[pa], peaks[pb]
        if not cand_a or not cand_b:
            out.append(None)
            continue
        pairs = []
        for i, a in enumerate(cand_a):
            for j, b in enumerate(cand_b):
                score, ok = _limb_score(a, b, pafs[:, :, cx], pafs[:, :, cy], height)
                if ok:
                    pairs.append((i, j, score))
        pairs.sort(key=lambda p: p[2], reverse=True)
        chosen = np.zeros((0, 5))
        for i, j, score in pairs:
            if i not in chosen[:, 3] and j not in chosen[:, 4]:
                chosen = np.vstack([chosen, [cand_a[i][3], cand_b[j][3], score, i, j]])
                if len(chosen) >= min(len(cand_a), len(cand_b)):
                    break
        out.append(chosen)
    return out


def assemble(peaks, limbs) -> tuple[np.ndarray, np.ndarray]:
    """(candidates Nx4: x, y, score, id; people Px20: candidate id per part or -1, total score, part count)."""
    candidates = np.array([c for part in peaks for c in part])
    people = -1 * np.ones((0, PARTS + 2))
    for k, chosen in enumerate(limbs):
        if chosen is None:
            continue
        pa, pb = LIMBS[k]
        for row in chosen:
            a_id, b_id, score = row[0], row[1], row[2]
            owners = [j for j in range(len(people)) if people[j][pa] == a_id or people[j][pb] == b_id][:2]
            if len(owners) == 1 or (len(owners) == 2 and np.any((people[owners[0]][:-2] >= 0)
                                                                & (people[owners[1]][:-2] >= 0))):
                j = owners[0]
                if len(owners) == 2 or people[j][pb] != b_id:
                    people[j][pb] = b_id
                    people[j][-1] += 1
                    people[j][-2] += candidates[int(b_id), 2] + score
            elif len(owners) == 2:  # two partial people sharing no part: one person
                j1, j2 = owners
                people[j1][:-2] += people[j2][:-2] + 1
                people[j1][-2:] += people[j2][-2:]
                people[j1][-2] += score
                people = np.delete(people, j2, 0)
            elif k < 17:
                new = -1 * np.ones(PARTS + 2)
                new[pa], new[pb] = a_id, b_id
                new[-1] = 2
                new[-2] = candidates[int(a_id), 2] + candidates[int(b_id), 2] + score
                people = np.vstack([people, new])
    keep = [i for i in range(len(people)) if not (people[i][-1] < 4 or people[i][-2] / people[i][-1] < 0.4)]
    return candidates, people[keep]


def detect_bodies(image_rgb: np.ndarray, net, device=None, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """(candidates, people) of ``assemble`` for an HxWx3 uint8 RGB image (the reference feeds BGR)."""
    image = np.ascontiguousarray(np.asarray(image_rgb, np.uint8)[:, :, ::-1])
    heat, pafs = body_maps(image, net, device, dtype)
    peaks = find_peaks(heat)
    return assemble(peaks, connect_limbs(peaks, pafs, image.shape[0]))


def people_from(candidates: np.ndarray, people: np.ndarray) -> list[dict]:
    """Loadout persons: ``{"body": 18 (x, y, score) or None, "hand_left": [], "hand_right": [], "face": []}`` in
    pixels, best first as the reference lists them (its assembly order)."""
    out = []
    for row in people:
        body = [None if int(i) < 0 else (float(candidates[int(i), 0]), float(candidates[int(i), 1]),
                                         float(candidates[int(i), 2])) for i in row[:PARTS]]
        out.append({"body": body, "hand_left": [], "hand_right": [], "face": []})
    return out


# --- hands ----------------------------------------------------------------------------------------------------------

HAND_FILE = "hand_pose_model.pth"
HAND_SCALES = (0.5, 1.0, 1.5, 2.0)  # of BOX: the crop is analysed at 184, 368, 552 and 736 px
HAND_MAP = 128  # the side the averaged heatmaps are resized to
HAND_PEAK = 0.05
HAND_BLUR = 0.8
HAND_POINTS = 21
HAND_TRUNK = (("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool", ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
              ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256), "pool",
              ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), ("conv4_4", 512, 512),
              ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3_CPM", 512, 128))
WRIST_ELBOW = 0.33  # the hand box's centre lies beyond the wrist by this share of the forearm
MIN_BOX = 20


def _build_cpm(points: int, what: str):
    """The OpenPose hand and face networks (the same CPM shape, ``points`` heatmaps including the background): a
    VGG trunk to 128 channels (every conv with a ReLU), stage 1 (``conv6_1_CPM`` 1x1 to 512 + ReLU, ``conv6_2_CPM``
    1x1 to ``points``) and five stages reading their predecessor's maps and the trunk through five 7x7 convs and a
    1x1 of 128 (ReLU each) and a 1x1 to ``points`` (no ReLU). The keys are the published files' layer names."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class OpenPoseCpm(nn.Module):
        def __init__(self):
            super().__init__()
            _add_trunk(self, HAND_TRUNK)
            self.conv6_1_CPM = nn.Conv2d(128, 512, 1)
            self.conv6_2_CPM = nn.Conv2d(512, points, 1)
            for stage in range(2, 7):
                for k in range(1, 8):
                    cin = points + 128 if k == 1 else 128
                    cout, size = (points, 1) if k == 7 else (128, 1 if k == 6 else 7)
                    self.add_module(f"Mconv{k}_stage{stage}", nn.Conv2d(cin, cout, size, padding=size // 2))

        def forward(self, x):
            """1x3xHxW (BGR / 256 - 0.5) -> the last stage's 1 x points x H/8 x W/8."""
            trunk = _run_trunk(self, HAND_TRUNK, x)
            out = self.conv6_2_CPM(F.relu(self.conv6_1_CPM(trunk)))
            for stage in range(2, 7):
                h = torch.cat([out, trunk], 1)
                for k in range(1, 7):
                    h = F.relu(getattr(self, f"Mconv{k}_stage{stage}")(h))
                out = getattr(self, f"Mconv7_stage{stage}")(h)
            return out

    OpenPoseCpm.__name__ = OpenPoseCpm.__qualname__ = what
    return OpenPoseCpm()


def build_hand():
    """Our OpenPose hand network (``_build_cpm`` with 22 maps: 21 points and the background; random weights)."""
    return _build_cpm(22, "OpenPoseHand")


def load_hand(path):
    """``hand_pose_model.pth`` in our network (strict keys and shapes, float32, eval); cached per file."""
    return MODELS.get(path, extra="openpose-hand",
                      load=lambda p: load_strict(build_hand(), p, "the OpenPose hand network")).value


def hand_boxes(body: list, width: int, height: int) -> list[tuple[int, int, int, bool]]:
    """(x, y, side, is_left) of the square crop each hand is looked for in, from an 18-point body in pixels (None
    = missing): left then right, for an arm with shoulder, elbow and wrist; the box centred beyond the wrist by
    ``WRIST_ELBOW`` of the forearm, its side 1.5 x max(forearm, 0.9 x upper arm), clipped to the image, kept from
    ``MIN_BOX`` px (OpenPose's own rule, as the reference computes it)."""
    boxes = []
    for shoulder, elbow, wrist, is_left in ((5, 6, 7, True), (2, 3, 4, False)):
        if body[shoulder] is None or body[elbow] is None or body[wrist] is None:
            continue
        (x1, y1), (x2, y2), (x3, y3) = (body[k][:2] for k in (shoulder, elbow, wrist))
        x = x3 + WRIST_ELBOW * (x3 - x2)
        y = y3 + WRIST_ELBOW * (y3 - y2)
        side = 1.5 * max(math.sqrt((x3 - x2) ** 2 + (y3 - y2) ** 2), 0.9 * math.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2))
        x -= side / 2
        y -= side / 2
        x, y = max(x, 0), max(y, 0)
        side = min(width - x if x + side > width else side, height - y if y + side > height else side)
        if side >= MIN_BOX:
            boxes.append((int(x), int(y), int(side), is_left))
    return boxes


def hand_peaks(crop_bgr: np.ndarray, net, device=None, dtype=None) -> np.ndarray:
    """21x2 int (x, y) in pixels of a square BGR crop, (0, 0) where a point's blurred map has nothing above
    ``HAND_PEAK`` (the reference's convention): the crop blurred (sigma 0.8) and analysed at four sizes, the
    heatmaps averaged at 128 px; per point the 8-connected region of its blurred map above the threshold whose raw
    sum is largest, and that region's maximum, scaled back to the crop."""
    import cv2
    import torch
    from scipy.ndimage import gaussian_filter, label

    h, w = crop_bgr.shape[:2]
    blurred = cv2.GaussianBlur(crop_bgr, (0, 0), HAND_BLUR)
    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    avg = np.zeros((HAND_MAP, HAND_MAP, 22))
    for s in HAND_SCALES:
        side = s * BOX
        image = _resize(blurred, side, side)
        ih, iw = image.shape[:2]
        x = _net_input(image)
        with torch.no_grad():
            out = net(torch.from_numpy(x).to(device=device, dtype=dtype))[0].float().cpu().numpy()
        m = _resize_by(out.transpose(1, 2, 0), STRIDE)[:ih, :iw]
        avg += _resize(m, HAND_MAP, HAND_MAP) / len(HAND_SCALES)
    points = []
    for part in range(HAND_POINTS):
        raw = avg[:, :, part].copy()
        mask = gaussian_filter(raw, sigma=3) > HAND_PEAK
        if not mask.any():
            points.append((0, 0))
            continue
        regions, n = label(mask, structure=np.ones((3, 3), int))
        best = int(np.argmax([np.sum(raw[regions == i]) for i in range(1, n + 1)])) + 1
        raw[regions != best] = 0
        row = int(raw.max(1).argmax())
        col = int(raw[row].argmax())
        px, py = int(float(col) * float(w) / float(HAND_MAP)), int(float(row) * float(h) / float(HAND_MAP))
        points.append((px, py))
    return np.array(points)


def hand_keypoints(peaks: np.ndarray, x0: int, y0: int) -> list:
    """A hand's 21 points in image pixels from ``hand_peaks`` of its crop at (x0, y0): (x, y, 1.0), or None when
    a coordinate is 0 (the reference's "not found", which it also reads into a point on the crop's edge)."""
    return [None if px < 1e-6 or py < 1e-6 else (float(px + x0), float(py + y0), 1.0) for px, py in peaks]


# --- face -----------------------------------------------------------------------------------------------------------

FACE_FILE = "facenet.pth"
FACE_INPUT = 384
FACE_MAPS = 71  # 70 points and the background
FACE_PEAK = 0.05


def build_face():
    """Our OpenPose face network (``_build_cpm`` with 71 maps; random weights until loaded)."""
    return _build_cpm(FACE_MAPS, "OpenPoseFace")


def load_face(path):
    """``facenet.pth`` in our network (strict keys and shapes, float32, eval); cached per file."""
    return MODELS.get(path, extra="openpose-face",
                      load=lambda p: load_strict(build_face(), p, "the OpenPose face network")).value


def face_box(body: list, width: int, height: int) -> tuple[int, int, int] | None:
    """(x, y, side) of the square crop the face is looked for in, from an 18-point body in pixels, or None: it
    needs the nose and an eye or ear; the half-side is the largest of 3 x the nose-eye and 1.5 x the nose-ear
    distances (each the larger of |dx|, |dy|), the box clipped to the image and kept from ``MIN_BOX`` px (the
    reference's rule)."""
    nose = body[0]
    if nose is None or all(body[k] is None for k in (14, 15, 16, 17)):
        return None
    half = 0.0
    for k, factor in ((14, 3.0), (15, 3.0), (16, 1.5), (17, 1.5)):
        if body[k] is not None:
            half = max(half, max(abs(nose[0] - body[k][0]), abs(nose[1] - body[k][1])) * factor)
    x, y = max(nose[0] - half, 0), max(nose[1] - half, 0)
    side = min(width - x if x + half > width else half * 2, height - y if y + half > height else half * 2)
    return (int(x), int(y), int(side)) if side >= MIN_BOX else None


def face_heatmaps(crop_bgr: np.ndarray, net, device=None, dtype=None) -> np.ndarray:
    """71 x H x W float32 heatmaps of a square BGR face crop: the crop resized to 384 px, ``x / 256 - 0.5``, the
    network's last stage resized back bilinearly (corners aligned)."""
    import torch
    import torch.nn.functional as F

    h, w = crop_bgr.shape[:2]
    x = torch.from_numpy(_resize(crop_bgr, FACE_INPUT, FACE_INPUT)).permute([2, 0, 1]) / 256.0 - 0.5
    net = on_device(net, device, dtype)
    device, dtype = placement_of(net)
    with torch.no_grad():
        out = net(x[None].to(device=device, dtype=dtype)).float()
        return F.interpolate(out, (h, w), mode="bilinear", align_corners=True).cpu().numpy()[0]


def face_peaks(heatmaps: np.ndarray) -> np.ndarray:
    """Nx2 int (x, y): for each map in order that has a value above ``FACE_PEAK``, its first maximum among those
    (row by row). As the reference does, maps with nothing above it are skipped (the list is shorter, later
    points move up) and the 71st, background map is included."""
    found = []
    for m in heatmaps:
        ys, xs = np.nonzero(m > FACE_PEAK)
        if len(ys):
            best = int(np.argmax(m[ys, xs]))
            found.append([xs[best], ys[best]])
    return np.array(found)


# --- the whole detector ---------------------------------------------------------------------------------------------

def detect(image_rgb: np.ndarray, body_net, hand_net=None, face_net=None, device=None, dtype=None) -> list[dict]:
    """The people in an HxWx3 uint8 RGB image in Loadout's person format (``people_from``): the body always, the
    hands with ``hand_net`` and the face with ``face_net`` (else ``[]``), in pixels, as the reference's
    ``OpenposeDetector.detect_poses`` finds them (its coordinates are these divided by the width and height). A hand
    or face point the reference marks not found is None; the face lists the reference's points in its order (the
    maps with a peak, background included)."""
    image = np.asarray(image_rgb, np.uint8)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"OpenPose needs an HxWx3 uint8 RGB image, got {image.dtype} {tuple(image.shape)}")
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    h, w = bgr.shape[:2]
    heat, pafs = body_maps(bgr, body_net, device, dtype)
    peaks = find_peaks(heat)
    people = people_from(*assemble(peaks, connect_limbs(peaks, pafs, h)))
    for person in people:
        if hand_net is not None:
            for x, y, side, is_left in hand_boxes(person["body"], w, h):
                found = hand_peaks(bgr[y:y + side, x:x + side], hand_net, device, dtype)
                person["hand_left" if is_left else "hand_right"] = hand_keypoints(found, x, y)
        if face_net is not None:
            box = face_box(person["body"], w, h)
            if box is not None:
                x, y, side = box
                found = face_peaks(face_heatmaps(bgr[y:y + side, x:x + side], face_net, device, dtype))
                if found.ndim == 2:
                    person["face"] = hand_keypoints(found, x, y)
    return people


# --- drawing, as the reference draws its own detections ----------------------------------------------------------

BODY_COLOURS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
                (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
                (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20))
DRAWN_LIMBS = 17  # the first 17 of LIMBS (the two ear-shoulder links are searched, not drawn)
EDGE = 0.01  # the reference skips hand and face points drawn at a pixel coordinate of 0


def draw(people: list[dict], width: int, height: int, body: bool = True, hands: bool = True,
         face: bool = True) -> np.ndarray:
    """HxWx3 uint8: ``detect``'s people drawn as the reference's ``draw_poses`` draws its detections (limbs as
    filled ellipses at 60% of their colour, 4 px body points, hand edges coloured around the hue circle with red
    points, white 3 px face points), from the coordinates the reference holds (pixels over the size: float64 for
    the body, float32 for hands and face), so the pixels are identical. ``openpose_render.render`` is Loadout's
    renderer for any OpenPose JSON; this one reproduces the annotator exactly."""
    import colorsys

    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)
    w, h = float(width), float(height)
    for person in people:
        if body:
            pts = [None if p is None else (p[0] / w, p[1] / h) for p in person["body"]]
            for (a, b), colour in zip(LIMBS[:DRAWN_LIMBS], BODY_COLOURS):
                if pts[a] is None or pts[b] is None:
                    continue
                ys = np.array([pts[a][0], pts[b][0]]) * w
                xs = np.array([pts[a][1], pts[b][1]]) * h
                length = ((xs[0] - xs[1]) ** 2 + (ys[0] - ys[1]) ** 2) ** 0.5
                angle = math.degrees(math.atan2(xs[0] - xs[1], ys[0] - ys[1]))
                polygon = cv2.ellipse2Poly((int(np.mean(ys)), int(np.mean(xs))), (int(length / 2), 4), int(angle), 0,
                                           360, 1)
                cv2.fillConvexPoly(canvas, polygon, [int(float(c) * 0.6) for c in colour])
            for p, colour in zip(pts, BODY_COLOURS):
                if p is not None:
                    cv2.circle(canvas, (int(p[0] * width), int(p[1] * height)), 4, colour, thickness=-1)
        for part in (("hand_left", "hand_right") if hands else ()) + (("face",) if face else ()):
            pts = [None if p is None else (int(np.float32(p[0]) / np.float32(w) * width),
                                           int(np.float32(p[1]) / np.float32(h) * height)) for p in person[part]]
            shown = [p is not None and p[0] > EDGE and p[1] > EDGE for p in pts]
            if part == "face":
                for p, ok in zip(pts, shown):
                    if ok:
                        cv2.circle(canvas, p, 3, (255, 255, 255), thickness=-1)
                continue
            if not pts:
                continue
            for k, (a, b) in enumerate(HAND_EDGES):
                if shown[a] and shown[b]:
                    colour = [c * 255 for c in colorsys.hsv_to_rgb(k / float(len(HAND_EDGES)), 1.0, 1.0)]
                    cv2.line(canvas, pts[a], pts[b], colour, thickness=2)
            for p, ok in zip(pts, shown):
                if ok:
                    cv2.circle(canvas, p, 4, (0, 0, 255), thickness=-1)
    return canvas
