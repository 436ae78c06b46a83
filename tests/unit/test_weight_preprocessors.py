"""Depth, ADE20K segmentation and lineart realistic/anime: the documented error without weights, and tiny
random-initialised models in the real formats (transformers folders, .pth state dicts) load and run."""
import re

import numpy as np
import pytest
import tiny_annotators

from loadout.preprocessors import ade20k, depth, lineart_models, segmentation, weights

IMG = np.random.default_rng(0).integers(0, 255, (333, 517, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def annotators(tmp_path_factory):
    root = tmp_path_factory.mktemp("annotators")
    tiny_annotators.make_all(root, anime=True)
    return root


def test_missing_weights_name_the_folder_to_create(tmp_path):
    with pytest.raises(weights.MissingWeightsError, match=r"create .*annotators/depth/<model name>/.*Depth-Anything"):
        depth.find_depth_model([tmp_path / "annotators"])
    with pytest.raises(weights.MissingWeightsError, match=r"segmentation.*segformer-b0-finetuned-ade"):
        segmentation.find_segmentation_model([tmp_path / "annotators"])
    with pytest.raises(weights.MissingWeightsError, match=r"sk_model.pth.*lineart"):
        weights.find_weight_file([tmp_path / "annotators"], "lineart", lineart_models.FILES["realistic"],
                                 "lineart realistic")
    with pytest.raises(ValueError, match="escapes"):
        depth.find_depth_model([tmp_path], "../x")


def test_tiny_depth_anything_loads_and_gives_normalised_inverse_depth(annotators):
    path = depth.find_depth_model([annotators])
    assert path.name == tiny_annotators.DEPTH_NAME
    dm = depth.load_depth_model(path)
    out = depth.estimate_depth(IMG, dm)
    assert out.shape == IMG.shape[:2] and out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert np.array_equal(out, depth.estimate_depth(IMG, dm)) and depth.load_depth_model(path) is dm


def test_ade20k_palette_is_the_standard_table():
    assert len(ade20k.PALETTE) == 150
    assert ade20k.PALETTE[:4] == [(120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50)]
    assert ade20k.PALETTE[-1] == (92, 0, 255) and ade20k.PALETTE[12] == (150, 5, 61)  # 12 = person
    assert len(set(ade20k.PALETTE)) == 149  # the standard table repeats (140, 140, 140) at 6 and 48
    cm = np.array([[0, 12], [149, 2]])
    assert ade20k.colourise(cm)[0, 1].tolist() == [150, 5, 61]
    with pytest.raises(ValueError):
        ade20k.colourise(np.array([[150]]))


def test_tiny_segformer_segments_in_the_palette(annotators):
    sm = segmentation.load_segmentation_model(segmentation.find_segmentation_model([annotators]))
    classes, colour = segmentation.segment_ade20k(IMG, sm)
    assert classes.shape == IMG.shape[:2] and colour.shape == IMG.shape
    assert np.array_equal(colour, np.asarray(ade20k.PALETTE, np.uint8)[classes])


def test_segmentation_refuses_a_model_without_150_classes(tmp_path):
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    cfg = SegformerConfig(num_labels=19, hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                          depths=[1, 1, 1, 1], decoder_hidden_size=16)
    SegformerForSemanticSegmentation(cfg).save_pretrained(tmp_path / "city")
    with pytest.raises(ValueError, match="19 classes, not ADE20K's 150"):
        segmentation.load_segmentation_model(tmp_path / "city")


@pytest.mark.parametrize("mode,file", [("realistic", "sk_model.pth"), ("anime", "netG.pth")])
def test_lineart_models_load_strictly_and_draw_white_on_black(annotators, mode, file):
    path = weights.find_weight_file([annotators], "lineart", [file], mode)
    net = lineart_models.load_lineart(path, mode)
    out = lineart_models.lineart(IMG, net, mode)
    assert out.shape == IMG.shape[:2] and out.dtype == np.uint8
    assert lineart_models.load_lineart(path, mode) is net


def test_lineart_file_of_the_wrong_layout_is_reported(annotators):
    with pytest.raises(ValueError, match=r"sk_model.pth does not fit the anime lineart network \(.*missing: "):
        lineart_models.load_lineart(annotators / "lineart" / "sk_model.pth", "anime")


def test_a_file_with_the_right_keys_and_wrong_shapes_names_file_network_and_keys(tmp_path):
    """Not the bare RuntimeError of load_state_dict: the file, the network and the first misfits."""
    import torch

    net = lineart_models.build_realistic()
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    first = next(iter(sd))
    sd[first] = torch.zeros(sd[first].shape[0] + 1, *sd[first].shape[1:])
    path = tmp_path / "sk_model.pth"
    torch.save(sd, path)
    with pytest.raises(ValueError, match=rf"sk_model.pth does not fit the realistic lineart network \(shapes differ "
                                         rf"\(file vs network\): {re.escape(first)} "):
        lineart_models.load_lineart(path, "realistic")


def test_pickled_code_in_a_pth_is_refused(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "sk_model.pth"
    bad.write_bytes(pickle.dumps({"model0.1.weight": Boom()}))
    with pytest.raises(ValueError, match="could not be read safely"):
        lineart_models.load_lineart(bad, "realistic")


def test_mlsd_network_loads_strictly_and_decodes_segments(annotators):
    from loadout.preprocessors import mlsd_model

    path = weights.find_weight_file([annotators], "mlsd", mlsd_model.FILE_NAMES, "M-LSD")
    net = mlsd_model.load_mlsd(path)
    segs = mlsd_model.detect_segments(IMG, net, score=0.0, distance=0.0)
    assert segs.shape[1] == 4 and len(segs) <= 200
    if len(segs):  # coordinates come back in the image's pixels
        assert segs[:, [0, 2]].max() < 2 * IMG.shape[1] and segs[:, [1, 3]].max() < 2 * IMG.shape[0]
    lines = mlsd_model.mlsd_lines(IMG, net, score=0.0, distance=0.0)
    assert lines.shape == IMG.shape[:2] and set(np.unique(lines)) <= {0, 255}
    with pytest.raises(ValueError, match="does not fit the M-LSD"):
        mlsd_model.load_mlsd(annotators / "lineart" / "sk_model.pth")


def test_mlsd_decoding_reads_centres_and_displacements():
    """A hand-made output map: one peak at (x=10, y=20) with displacements to (-5.3, 0.7) and (+5.6, 0.9) → one
    segment ~11 output px long, doubled to input pixels. The network sees the image at its own size (sides that are
    multiples of 16; others go to the nearest ones and the ends are scaled back), and the drawn ends are truncated
    toward zero, as the reference annotator's int()."""
    import torch

    from loadout.preprocessors import mlsd_model

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inputs = []

        def forward(self, x):
            self.inputs.append(tuple(x.shape))
            out = torch.full((1, 9, x.shape[2] // 2, x.shape[3] // 2), -10.0)
            out[0, 0, 20, 10] = 10.0
            out[0, 1:5, 20, 10] = torch.tensor([-5.3, 0.7, 5.6, 0.9])
            return out

    net = Fixed()
    img = np.zeros((1024, 512, 3), np.uint8)
    segs = mlsd_model.detect_segments(img, net, score=0.5, distance=5)
    assert net.inputs == [(1, 4, 1024, 512)] and segs.shape == (1, 4)
    # centre + displacement (a float32 map) in float64, doubled: the reference's arithmetic
    assert np.array_equal(segs[0], (np.float64([10, 20, 10, 20]) + np.float32([-5.3, 0.7, 5.6, 0.9])) * 2)
    assert len(mlsd_model.detect_segments(img, net, score=0.5, distance=11)) == 0  # 10.9 output px long
    assert len(mlsd_model.detect_segments(img, net, score=0.99999, distance=5)) == 0  # above sigmoid(10)
    drawn = mlsd_model.mlsd_lines(img, net, score=0.5, distance=5)
    ys, xs = np.nonzero(drawn)  # from (9.4, 41.4) to (31.2, 41.8): truncated to (9, 41), (31, 41); rounded: y 42
    assert (xs.min(), xs.max(), set(ys)) == (9, 31, {41})
    odd = mlsd_model.detect_segments(np.zeros((1000, 500, 3), np.uint8), net, score=0.5, distance=5)
    assert net.inputs[-1] == (1, 4, 1008, 496)  # the nearest multiples of 16
    assert np.allclose(odd[0], segs[0] * [500 / 496, 1000 / 1008, 500 / 496, 1000 / 1008])


@pytest.mark.parametrize("shape", [(3, 3, 3), (5, 7, 3)])
def test_thin_images_are_read_channels_last(annotators, shape):
    img = np.random.default_rng(2).integers(0, 255, shape, dtype=np.uint8)
    dm = depth.load_depth_model(depth.find_depth_model([annotators]))
    assert depth.estimate_depth(img, dm).shape == shape[:2]
    sm = segmentation.load_segmentation_model(segmentation.find_segmentation_model([annotators]))
    assert segmentation.segment_ade20k(img, sm)[0].shape == shape[:2]
