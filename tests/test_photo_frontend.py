"""The photo front end against independent answers: SynthHeads renders of held-out heads
(seeds >= 10^6) with exact cameras and ground-truth masks, and the bundled astronaut."""
import math

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from ide3d_backend import camera, preprocess as pp, semantics  # noqa: E402
from ide3d_backend.photo import align, analyse_photo, mask as photo_mask, pose  # noqa: E402
from ide3d_backend.synthheads import render_head, sample_head  # noqa: E402

R = 128
SEED = 1_000_000
# (seed offset, yaw, pitch): frontal, turned both ways, seen from above and below
VIEWS = [(0, 0.0, 0.0), (1, 0.45, 0.12), (2, -0.35, -0.1), (3, 0.2, 0.2)]


@pytest.fixture(scope="module")
def renders():
    return [(yaw, pitch, render_head(sample_head(SEED + i), camera.label_from_angles(yaw, pitch), R))
            for i, yaw, pitch in VIEWS]


@pytest.fixture(scope="module")
def parser():
    from ide3d_backend.encoding import load_parser
    return load_parser(None, device="cpu")


@pytest.fixture(scope="module")
def analyses(renders, parser):
    return [analyse_photo(gt["rgb"], R, parser=parser) for _, _, gt in renders]


def _miou(pred, gt):
    k = semantics.NUM_CLASSES
    pair = np.bincount(pred.astype(int).ravel() * k + gt.astype(int).ravel(), minlength=k * k).reshape(k, k)
    inter = np.diag(pair)
    union = pair.sum(0) + pair.sum(1) - inter
    return float(np.mean(inter[union > 0] / union[union > 0]))


def test_left_right_parts_land_on_ground_truth(renders, analyses):
    """Each named landmark part's centre lies on the same ground-truth class (l_* = person's left)."""
    yaw, pitch, gt = renders[0]
    a = analyses[0]
    gt_aligned = pp.warp(gt["mask"], a.transform, R, nearest=True)
    polys = photo_mask.part_polygons(a.aligned_landmarks)
    for name in ("l_eye", "r_eye", "l_brow", "r_brow", "nose", "u_lip", "l_lip"):
        x, y = polys[name].mean(0)
        window = gt_aligned[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2]
        assert (window == semantics.class_id(name)).any(), (name, np.unique(window))


def test_frontal_alignment_keeps_the_model_framing(renders, analyses):
    """A frontal render is already framed like the model: the crop is ~ the identity."""
    a = analyses[0]
    s = math.sqrt(abs(np.linalg.det(a.transform[:, :2])))
    assert abs(s - 1) < 0.06 and abs(a.roll) < 0.03
    assert np.abs(a.transform[:, 2]).max() < 4


def test_camera_from_landmarks_matches_ground_truth(renders, analyses):
    errs = np.array([(a.yaw - yaw, a.pitch - pitch) for (yaw, pitch, _), a in zip(renders, analyses)])
    assert np.abs(errs).max() < 0.1, errs
    assert np.abs(errs).mean() < 0.05, errs


def test_mask_against_ground_truth(renders, analyses, parser):
    ours, alone = [], []
    for (_, _, gt), a in zip(renders, analyses):
        gt_aligned = pp.warp(gt["mask"], a.transform, R, nearest=True)
        ours.append(_miou(a.mask, gt_aligned))
        alone.append(_miou(pp.predict_mask(a.image, parser), gt_aligned))
    # bench/photo_frontend.py measures 64 heads (the target 0.75 is not reached yet)
    assert np.mean(ours) > 0.58 and np.mean(ours) > np.mean(alone) + 0.04, (ours, alone)


def test_pnp_recovers_mean_head_cameras():
    """PnP inverts the projection of the asset's own points (yaw/pitch conventions)."""
    for yaw, pitch in ((0.5, -0.2), (-0.9, 0.15), (0.0, 0.0)):
        pts = align.projected_mean_head(yaw, pitch, R)
        cam = pose.solve_camera(pts, R)
        assert abs(cam.yaw - yaw) < 1e-3 and abs(cam.pitch - pitch) < 1e-3
        assert abs(cam.radius - camera.RADIUS) < 1e-2


def test_astronaut_front_end():
    from ide3d_backend.assets import ASTRONAUT
    a = analyse_photo(ASTRONAUT, R)
    assert abs(a.pitch) <= 0.1 and abs(a.yaw) < 0.35
    for name in ("l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "nose"):
        assert (a.mask == semantics.class_id(name)).sum() > 0, name
    chin = photo_mask.face_lines(a.aligned_landmarks)["chin"]
    rows = np.arange(R)[:, None] + 0.5
    assert not ((a.mask == semantics.class_id("hair")) & (rows > chin)).any()
    assert a.landmarks.shape == (478, 3) and a.mask.shape == (R, R) and not a.warnings


def test_bad_input_messages():
    with pytest.raises(pp.PreprocessError, match="no face found"):
        analyse_photo(np.full((200, 200, 3), 200, np.uint8), R, parser=None)
    side = render_head(sample_head(SEED + 50), camera.label_from_angles(1.1, 0.0), R)["rgb"]
    out = pp.preprocess(side, R)
    assert any("profile" in w for w in out.warnings), out.warnings


def test_mask_without_parser_still_has_the_face(renders):
    a = analyse_photo(renders[0][2]["rgb"], R, parser=None)
    for name in ("skin", "nose", "l_eye", "r_eye", "u_lip", "l_lip", "hair"):
        assert (a.mask == semantics.class_id(name)).any(), name
