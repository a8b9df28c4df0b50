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


def test_laplacian_energy_of_a_sinusoid_is_analytic():
    # I(x, y) = A sin(w x): the 5-point Laplacian is (2 cos w - 2) I, so its mean square
    # over whole periods is (2 - 2 cos w)^2 A^2 / 2.
    w, A = 2 * np.pi / 8, 0.25
    x = np.arange(66)
    img = np.tile(A * np.sin(w * x), (10, 1))
    expected = (2 - 2 * np.cos(w)) ** 2 * A ** 2 / 2
    assert metrics.laplacian_energy(img) == pytest.approx(expected, rel=1e-9)
    assert metrics.laplacian_energy(np.full((8, 8, 3), 120, np.uint8)) == 0.0


def test_blur_lowers_laplacian_energy():
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    blurred = np.stack([gaussian_filter(img[..., c].astype(float), 1.5) for c in range(3)], -1).round().astype(np.uint8)
    assert metrics.laplacian_energy(blurred) < 0.1 * metrics.laplacian_energy(img)
    with pytest.raises(ValueError, match="at least 3x3"):
        metrics.laplacian_energy(np.zeros((2, 5)))


def test_srgb_to_lab_matches_published_values():
    # CIE L*a*b* (D65) of sRGB white, black, red and mid grey, as colour references list them.
    rgb = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [119, 119, 119]], dtype=np.uint8)
    lab = metrics.srgb_to_lab(rgb)
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.1)
    np.testing.assert_allclose(lab[3], [50.0, 0, 0], atol=0.1)
    # float input in [0, 1] means the same colours
    np.testing.assert_allclose(metrics.srgb_to_lab(rgb / 255.0), lab)


def test_skin_tone_difference_reads_each_image_by_its_own_mask():
    from ide3d_backend import semantics
    skin, hair = semantics.class_id("skin"), semantics.class_id("hair")
    photo = np.zeros((8, 8, 3), np.uint8)
    photo[:4] = (90, 60, 45)        # dark skin on the top half (32 pixels)
    photo[4:] = (250, 250, 250)     # white hair elsewhere: must not count
    photo_labels = np.full((8, 8), hair)
    photo_labels[:4] = skin
    render = np.full((8, 8, 3), (220, 180, 160), np.uint8)  # lighter skin everywhere
    render_labels = np.full((8, 8), skin)
    d = metrics.skin_tone_difference(photo, photo_labels, render, render_labels)
    want = metrics.srgb_to_lab(np.array([220, 180, 160], np.uint8)) - metrics.srgb_to_lab(np.array([90, 60, 45], np.uint8))
    assert d["delta_lightness"] == pytest.approx(want[0])
    assert d["delta_lightness"] > 30  # the render is much lighter
    assert d["delta_e"] == pytest.approx(np.linalg.norm(want))
    # the same colours: no difference, whatever else the images hold
    assert metrics.skin_tone_difference(photo, photo_labels, photo, photo_labels)["delta_e"] == pytest.approx(0)
    # too little skin in either image: no verdict
    few = np.full((8, 8), hair)
    few[0, :5] = skin
    assert metrics.skin_tone_difference(photo, few, render, render_labels) is None
