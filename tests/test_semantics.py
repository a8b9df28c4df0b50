import numpy as np
import pytest

from ide3d_backend import semantics as S


def test_classes_and_palette():
    assert S.NUM_CLASSES == 19 and len(S.PALETTE) == 19
    assert S.CLASS_NAMES[13] == "hair" and tuple(S.PALETTE[13]) == (0, 0, 204)
    assert tuple(S.PALETTE[1]) == (204, 0, 0) and S.CLASS_NAMES[18] == "cloth"
    assert len({tuple(c) for c in S.PALETTE}) == 19  # colours are distinct


def test_mask_color_round_trip():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 19, size=(17, 23)).astype(np.uint8)
    assert np.array_equal(S.color_to_mask(S.mask_to_color(mask)), mask)
    # JPEG-like noise within tolerance still decodes
    noisy = np.clip(S.mask_to_color(mask).astype(int) + rng.integers(-8, 9, size=(17, 23, 3)), 0, 255)
    assert np.array_equal(S.color_to_mask(noisy.astype(np.uint8)), mask)


def test_color_mask_rejects_photos():
    photo = np.random.default_rng(1).integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
    with pytest.raises(ValueError, match="not class colours"):
        S.color_to_mask(photo)


def test_onehot_round_trip_numpy_and_torch():
    import torch
    mask = np.array([[0, 5], [18, 13]])
    oh = S.mask_to_onehot(mask)
    assert oh.shape == (19, 2, 2) and oh.sum(0).min() == 1
    assert np.array_equal(S.onehot_to_mask(oh), mask)
    t = S.mask_to_onehot(torch.tensor(mask)[None])
    assert t.shape == (1, 19, 2, 2)
    assert torch.equal(S.onehot_to_mask(t)[0], torch.tensor(mask))


def test_check_mask_errors():
    with pytest.raises(ValueError, match="unknown class ids"):
        S.check_mask(np.array([[0, 19]]))
    with pytest.raises(ValueError, match="2-D"):
        S.check_mask(np.zeros((2, 2, 2)))


def test_flip_mask_swaps_left_right():
    mask = np.array([[4, 0, 6, 8, 13]], dtype=np.uint8)
    assert S.flip_mask(mask).tolist() == [[13, 9, 7, 0, 5]]
    assert np.array_equal(S.flip_mask(S.flip_mask(mask)), mask)


def test_regions_cover_every_class_once():
    seen = sorted(c for name in S.REGION_NAMES for c in S.REGIONS[name])
    assert seen == list(range(19))
    assert S.class_to_region()[13] == S.REGION_NAMES.index("hair")


def test_parse_classes_names_aliases_groups():
    assert S.parse_classes("hair,lips") == [11, 12, 13]
    assert S.parse_classes(["glasses", 1]) == [1, 3]
    assert S.parse_classes("complexion") == [1, 2, 8, 9, 17]
    with pytest.raises(ValueError, match="valid names"):
        S.parse_classes("beard")
