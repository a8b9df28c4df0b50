"""The photo front end against independent answers: SynthHeads renders of held-out heads
(seeds >= 10^6) with exact cameras and ground-truth masks, and the bundled astronaut."""
import math

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from ide3d_backend import camera, preprocess as pp, semantics  # noqa: E402
from ide3d_backend.photo import align, analyse_photo, atlas as label_atlas, mask as photo_mask, pose  # noqa: E402
from ide3d_backend.photo import parser_scores  # noqa: E402
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
    # measured 0.670 here (parser alone 0.540) with the label atlas; bench/photo_frontend.py
    # measures 64 heads (0.694; the target 0.75 is not reached yet)
    assert np.mean(ours) > 0.64 and np.mean(ours) > np.mean(alone) + 0.08, (ours, alone)


def test_pnp_recovers_mean_head_cameras():
    """PnP inverts the projection of the asset's own points (yaw/pitch conventions)."""
    for yaw, pitch in ((0.5, -0.2), (-0.9, 0.15), (0.0, 0.0)):
        pts = align.projected_mean_head(yaw, pitch, R)
        cam = pose.solve_camera(pts, R)
        assert abs(cam.yaw - yaw) < 1e-3 and abs(cam.pitch - pitch) < 1e-3
        assert abs(cam.radius - camera.RADIUS) < 1e-2


def test_astronaut_front_end(parser):
    from ide3d_backend.assets import ASTRONAUT
    a = analyse_photo(ASTRONAUT, R, parser=parser)
    assert abs(a.pitch) <= 0.1 and abs(a.yaw) < 0.35
    for name in ("l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "nose"):
        assert (a.mask == semantics.class_id(name)).sum() > 0, name
    chin = photo_mask.face_lines(a.aligned_landmarks)["chin"]
    rows = np.arange(R)[:, None] + 0.5
    assert not ((a.mask == semantics.class_id("hair")) & (rows > chin)).any()
    assert not (a.mask == semantics.class_id("hat")).any()  # her hair is not a hat
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


def test_label_atlas_matches_the_mesh_it_was_built_on():
    """The shipped atlas holds the triangulation tools/face_label_atlas.py derives from
    MediaPipe's tessellation (so a new mediapipe with another mesh is caught here)."""
    import importlib.util
    from pathlib import Path
    at = label_atlas.load_atlas()
    assert at is not None, "ide3d_backend/assets/face_label_atlas.npz is missing"
    path = Path(__file__).resolve().parents[1] / "tools" / "face_label_atlas.py"
    spec = importlib.util.spec_from_file_location("face_label_atlas", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tris, loops, ring = tool.build_mesh()
    assert np.array_equal(tris, at.triangles) and tuple(map(tuple, loops)) == at.loops and tuple(ring) == at.ring
    assert len(at.loops) == 3  # both eyes and the mouth
    assert np.allclose(at.probs.sum(-1), 1, atol=0.05)


def test_rasterise_keeps_the_nearest_front_facing_triangle():
    verts = np.array([[0, 0, 5], [8, 0, 5], [0, 8, 5], [0, 0, 1], [8, 0, 1], [0, 8, 1]], float)
    # visible = positive image area (x right, y down): (0, 1, 2) is; (3, 5, 4) faces away
    tri_id, bary = label_atlas.rasterise(verts, np.array([[0, 1, 2], [3, 5, 4]]), 10)
    assert (tri_id[:7, :7][np.add.outer(np.arange(7), np.arange(7)) < 7] == 0).all()
    tri_id, bary = label_atlas.rasterise(verts, np.array([[0, 1, 2], [3, 4, 5]]), 10)
    inside = tri_id >= 0
    assert (tri_id[inside] == 1).all() and np.allclose(bary[inside].sum(-1), 1)
    assert np.allclose(bary[0, 0], [1 - 1 / 16 - 1 / 16, 1 / 16, 1 / 16])


def test_atlas_parts_beat_the_landmark_polygons(renders, analyses, parser):
    """The atlas labels the parts in SynthHeads' shapes; without it (atlas=None) the
    landmark polygons still draw every part."""
    with_atlas, without = [], []
    for (_, _, gt), a in zip(renders, analyses):
        gt_aligned = pp.warp(gt["mask"], a.transform, R, nearest=True)
        scores = parser_scores(a.image, parser)
        fallback = photo_mask.compose_mask(a.aligned_landmarks, a.person, scores, yaw=a.yaw, atlas=None)
        for name in ("l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "nose"):
            assert (fallback == semantics.class_id(name)).any(), name
        with_atlas.append(_miou(a.mask, gt_aligned))
        without.append(_miou(fallback, gt_aligned))
    assert np.mean(with_atlas) > np.mean(without) + 0.03, (with_atlas, without)
