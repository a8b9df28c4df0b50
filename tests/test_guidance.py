"""Landmark guidance of the inversion (ide3d_backend.guidance) against independent answers:
the ground-truth depth of SynthHeads renders, the mirror's involution, the landmarks'
camera as the inversion's start."""
import dataclasses

import numpy as np
import pytest
import torch

from ide3d_backend import camera, preprocess, semantics
from ide3d_backend.guidance import LandmarkGuide, depth_term, mirror_confidence, mirrored, pearson
from ide3d_backend.synthheads import render_head, sample_head

R = 128


@pytest.fixture(scope="module")
def turned_head():
    """A held-out SynthHeads head seen from yaw 0.35: aligned crop, its landmarks, and the
    ground-truth depth warped into the crop."""
    gt = render_head(sample_head(1_000_004), camera.label_from_angles(0.35, 0.05), R)
    aligned = preprocess.preprocess(gt["rgb"], R)
    assert aligned.landmarks is not None, "the face mesh should find a SynthHeads face"
    depth = np.where(np.isfinite(gt["depth"]), gt["depth"], 10.0).astype(np.float32)
    depth_crop = preprocess.warp(depth, aligned.transform, R)
    hit = preprocess.warp(np.isfinite(gt["depth"]).astype(np.float32), aligned.transform, R)
    guide = LandmarkGuide(aligned.landmarks, R, aligned.camera.yaw, aligned.camera.pitch)
    as_map = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]  # noqa: E731
    return guide, as_map(depth_crop), as_map(hit)


def test_depth_term_small_for_the_true_depth_and_large_for_a_wrong_one(turned_head):
    guide, depth, hit = turned_head
    grid, z = guide.grid(), guide.depths()
    true = float(depth_term(depth, grid, z, hit))
    assert true < 0.2, f"the face mesh's relative depth should follow the true relief (1 - r = {true:.3f})"
    # The same relief inverted (a face pushed in) and a flat wall: clearly worse.
    inverted = float(depth_term(2 * depth.mean() - depth, grid, z, hit))
    assert inverted > 1.6
    flat = torch.full_like(depth, 2.5) + 1e-3 * torch.randn_like(depth)
    assert float(depth_term(flat, grid, z, hit)) > 0.6
    # Scale- and shift-invariant.
    assert float(depth_term(3.0 * depth + 7.0, grid, z, hit)) == pytest.approx(true, abs=1e-4)


def test_pearson_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert float(pearson(torch.tensor(a), torch.tensor(b))) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-6)
    # 0/1 weights = the correlation of the kept points only
    keep = rng.random(50) < 0.6
    w = torch.tensor(keep.astype(np.float64))
    assert float(pearson(torch.tensor(a), torch.tensor(b), w)) == pytest.approx(
        np.corrcoef(a[keep], b[keep])[0, 1], abs=1e-6)


def test_mirror_is_an_involution_and_swaps_sides():
    rng = np.random.default_rng(1)
    img = torch.from_numpy(rng.normal(size=(1, 3, 16, 16)).astype(np.float32))
    mask = torch.zeros(1, 16, 16, dtype=torch.long)
    mask[0, 4:6, 2:5] = semantics.class_id("l_eye")  # on the image's left
    img_m, mask_m = mirrored(img, mask)
    assert torch.equal(img_m[..., 0], img[..., -1])
    assert (mask_m[0, 4:6, 11:14] == semantics.class_id("r_eye")).all()
    back_img, back_mask = mirrored(img_m, mask_m)
    assert torch.equal(back_img, img) and torch.equal(back_mask, mask)


def test_mirror_confidence_off_for_frontal_photos():
    assert mirror_confidence(0.0, 0.1) == 0.0
    assert mirror_confidence(-0.05, 0.1) == 0.0
    assert mirror_confidence(0.4, 0.1) == 1.0
    assert 0.0 < mirror_confidence(0.15, 0.1) < 1.0


def test_inversion_starts_from_the_landmark_camera_and_keeps_the_encoders_opinion(turned_head):
    from ide3d_backend import build_generator, inversion
    from ide3d_backend.encoding import build_encoders
    guide = turned_head[0]
    G = build_generator("tiny", seed=0).eval()
    enc = build_encoders("tiny", seed=0).eval()
    image = np.full((R, R, 3), 128, np.uint8)
    mask = np.zeros((R, R), np.uint8)
    preset = inversion.get_preset("fast").with_steps(0, 0)
    result, _ = inversion.invert(G, image, mask, preset, enc, guide=guide)
    assert result.cameras["landmarks"] == pytest.approx([guide.yaw, guide.pitch])
    assert "encoders" in result.cameras
    assert (result.yaw, result.pitch) == pytest.approx((guide.yaw, guide.pitch))


def test_guided_objective_reaches_shape_through_depth_and_mirror(turned_head):
    """The depth term and the mirrored view give w_s a gradient; with the guide off, the
    objective is the plain reconstruction loss."""
    from ide3d_backend import build_generator, inversion
    guide = turned_head[0]
    G = build_generator("tiny", seed=0).eval().requires_grad_(False)
    target = torch.zeros(1, 3, R, R)
    preset = inversion.get_preset("fast")
    ws = inversion.average_latent(G).requires_grad_(True)
    yaw, pitch = torch.tensor(guide.yaw), torch.tensor(guide.pitch)
    plain, _, _ = inversion.Objective(target, None, preset)(G, ws, yaw, pitch)
    guided_obj = inversion.Objective(target, None, preset, guide)
    assert guided_obj.mirror_weight > 0  # the head is turned 0.35 rad
    guided, _, view = guided_obj(G, ws, yaw, pitch)
    assert view["image"].shape[0] == 1
    assert float(guided.detach()) > float(plain.detach())
    depth_only = inversion.Objective(target, None, dataclasses.replace(preset, l2_weight=0.0, perceptual_weight=0.0,
                                                                    mirror_weight=0.0), guide)
    loss, _, _ = depth_only(G, ws, yaw, pitch)
    (grad,) = torch.autograd.grad(loss, ws)
    w_s, w_t = G.split_ws(grad)
    assert float(w_s.abs().sum()) > 0
