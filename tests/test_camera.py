import math

import numpy as np
import pytest
import torch

from ide3d_backend import camera as C
from ide3d_backend.model.ray_sampler import sample_rays


def test_frontal_label_hand_computed():
    lab = C.frontal_label()
    m, k = C.split_label(lab)
    # Camera on +z at radius 2.7 looking at the origin: identity rotation in OpenGL.
    np.testing.assert_allclose(m, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 2.7], [0, 0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(k, [[4.2647, 0, 0.5], [0, 4.2647, 0.5], [0, 0, 1]], atol=1e-6)


def test_side_view_hand_computed():
    # yaw = +90 deg: camera on +x looking toward -x; its right axis is -z, up stays +y.
    m, _ = C.split_label(C.label_from_angles(math.pi / 2, 0.0))
    np.testing.assert_allclose(m[:3, 3], [2.7, 0, 0], atol=1e-6)
    np.testing.assert_allclose(m[:3, 0], [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(m[:3, 1], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(m[:3, 2], [1, 0, 0], atol=1e-6)


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (0.4, -0.2), (-1.0, 0.5), (2.5, 0.1)])
def test_angles_round_trip(yaw, pitch):
    y, p, r = C.angles_from_label(C.label_from_angles(yaw, pitch))
    assert y == pytest.approx(yaw, abs=1e-5) and p == pytest.approx(pitch, abs=1e-5)
    assert r == pytest.approx(2.7, abs=1e-5)


def test_pitch_positive_is_above():
    m, _ = C.split_label(C.label_from_angles(0.0, 0.3))
    assert m[1, 3] > 0


def test_pigan_angles_match_eg3d_formula():
    # EG3D: origin = r * (sin(phi) cos(pi - h), cos(phi), sin(phi) sin(pi - h)), phi = arccos(1 - 2 v / pi)
    h, v = math.pi / 2 + 0.25, math.pi / 2 - 0.1
    phi = math.acos(1 - 2 * v / math.pi)
    eg3d = 2.7 * np.array([math.sin(phi) * math.cos(math.pi - h), math.cos(phi), math.sin(phi) * math.sin(math.pi - h)])
    yaw, pitch = C.pigan_to_user(h, v)
    np.testing.assert_allclose(C.camera_origin(yaw, pitch), eg3d, atol=1e-6)
    assert C.user_to_pigan(yaw, pitch) == pytest.approx((h, v), abs=1e-9)


def test_pose_sampler_statistics():
    ang = C.sample_angles(20000, np.random.default_rng(0))
    assert abs(ang[:, 0].mean()) < 0.01 and ang[:, 0].std() == pytest.approx(0.3, rel=0.03)
    # pitch std: pi-GAN's 0.155 through the arccos map (slope 2/pi at the equator)
    assert abs(ang[:, 1].mean()) < 0.01 and ang[:, 1].std() == pytest.approx(0.155 * 2 / math.pi, rel=0.05)


def test_opencv_opengl_conversion_flips_camera_axes():
    gl = C.label_from_angles(0.3, 0.1)
    cv = C.opengl_to_opencv(gl)
    m_gl, _ = C.split_label(gl)
    m_cv, _ = C.split_label(cv)
    np.testing.assert_allclose(m_cv[:3, 0], m_gl[:3, 0], atol=1e-6)
    np.testing.assert_allclose(m_cv[:3, 1:3], -m_gl[:3, 1:3], atol=1e-6)
    np.testing.assert_allclose(m_cv[:3, 3], m_gl[:3, 3], atol=1e-6)
    np.testing.assert_allclose(C.opencv_to_opengl(cv), gl, atol=1e-7)
    # OpenCV looks along +z: the third column points from the camera to the origin.
    assert np.dot(m_cv[:3, 2], -m_cv[:3, 3]) > 0


def test_flip_label_mirrors_the_camera():
    lab = C.label_from_angles(0.35, 0.12)
    flipped = C.flip_label(lab)
    y, p, _ = C.angles_from_label(flipped)
    assert y == pytest.approx(-0.35, abs=1e-5) and p == pytest.approx(0.12, abs=1e-5)
    m, _ = C.split_label(flipped)
    assert np.linalg.det(m[:3, :3]) == pytest.approx(1.0, abs=1e-5)  # still a rotation
    # Mirrored world point projects to the mirrored pixel.
    pt = np.array([[0.1, 0.05, 0.12]])
    uv, _ = C.project(lab, pt)
    uv_f, _ = C.project(flipped, pt * [-1, 1, 1])
    assert uv_f[0, 0] == pytest.approx(1 - uv[0, 0], abs=1e-5) and uv_f[0, 1] == pytest.approx(uv[0, 1], abs=1e-5)


def test_rays_hit_projected_points():
    lab = C.label_from_angles(-0.4, 0.2)
    res = 16
    o, d = sample_rays(torch.tensor(lab)[None], res)
    # A point along the ray of pixel (i, j) projects back to that pixel's centre.
    i, j = 5, 11
    ray = i * res + j
    p = (o[0, ray] + 2.6 * d[0, ray]).double().numpy()[None]
    uv, depth = C.project(lab, p)
    np.testing.assert_allclose(uv[0], [(j + 0.5) / res, (i + 0.5) / res], atol=1e-5)
    assert torch.allclose(d.norm(dim=-1), torch.ones(1), atol=1e-5)


def test_bad_labels_rejected():
    with pytest.raises(ValueError):
        C.split_label(np.zeros(24))
    with pytest.raises(ValueError):
        sample_rays(torch.zeros(2, 16), 4)
