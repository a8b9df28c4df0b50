"""The evaluation scores (ide3d_backend/metrics.py) against analytic answers."""
import numpy as np
import pytest

from ide3d_backend import camera, metrics


def _sphere(radius: float, n: int) -> np.ndarray:
    """n near-uniform points on a sphere (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    polar = np.arccos(1 - 2 * i / n)
    azimuth = np.pi * (1 + 5 ** 0.5) * i
    return radius * np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], 1)


def test_chamfer_of_concentric_spheres_is_their_gap():
    inner, outer = _sphere(0.20, 40000), _sphere(0.23, 40000)
    assert metrics.chamfer_distance(inner, outer) == pytest.approx(0.03, abs=1e-3)
    assert metrics.chamfer_distance(inner, inner) == 0.0


def test_chamfer_rejects_an_empty_set():
    with pytest.raises(ValueError, match="non-empty"):
        metrics.chamfer_distance(np.zeros((0, 3)), _sphere(1.0, 10))


def test_portrait_frame_edge_follows_the_camera():
    # The frontal camera at distance RADIUS sees half a height of RADIUS * 0.5 / focal
    # at the look-at point: just inside that edge is in the frame, just outside is not.
    half = camera.RADIUS * 0.5 / camera.FOCAL_NORMALISED
    points = np.array([[0, 0, 0], [0, -half + 1e-3, 0], [0, -half - 1e-3, 0], [half - 1e-3, 0, 0],
                       [half + 1e-3, 0, 0], [0, -0.45, 0.1]])
    np.testing.assert_array_equal(metrics.in_portrait_frame(points), [True, True, False, True, False, False])


def test_chamfer_in_frame_ignores_what_lies_below_the_frame():
    head = _sphere(0.2, 20000)
    with_bust = np.concatenate([head, _sphere(0.1, 5000) + [0, -0.5, 0]])  # extra geometry below the frame
    assert metrics.chamfer_distance(head, with_bust) > 0.02
    assert metrics.chamfer_in_frame(head, with_bust) == 0.0


def test_miou_counts_classes_in_either_mask():
    gt = np.zeros((4, 4), np.uint8)
    gt[:2] = 1                      # class 1: top half
    pred = gt.copy()
    assert metrics.miou(pred, gt) == 1.0
    pred[0] = 2                     # row 0 predicted as class 2, absent from gt
    # class 0: 8/8, class 1: 4/8, class 2: 0/4
    assert metrics.miou(pred, gt) == pytest.approx((1 + 0.5 + 0) / 3)
    scores = metrics.MaskScores()
    scores.add(pred, gt)
    assert scores.pooled_class_iou()["skin"] == 0.5
