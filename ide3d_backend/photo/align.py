"""Alignment from face-mesh landmarks: a similarity (rotation, scale, shift) that puts the
photo's face where the model's camera puts its mean head.

Two steps. `eye_mouth_similarity` frames the face from its eye centres and mouth the
way the frontal SynthHeads view does (eyes at EYE_Y, EYE_DISTANCE apart; mouth
MOUTH_BELOW_EYES below them), taking the larger of the two scale cues so a turned head
(shorter eye line) or a tilted one (shorter eye-mouth line) is not zoomed in; roll is
the eye line's angle. `mean_head_similarity` then refines it once the camera is known
(pose.solve_camera): the least-squares similarity from the photo's landmarks to the mean
head's landmarks projected by the model camera at that yaw/pitch, so a turned face sits
off-centre exactly as the model renders it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import camera
from .pose import mean_head

# Framing of the model's frontal view in fractions of the image (SynthHeads renders;
# tests/test_preprocess.py and tests/test_photo_frontend.py re-measure them).
EYE_Y = 0.45
EYE_DISTANCE = 0.173
MOUTH_BELOW_EYES = 0.198


def _index_space(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Continuous-coordinate map x -> a x + t as a cv2 matrix on pixel indices."""
    return np.concatenate([a, (a @ np.array([0.5, 0.5]) + t - 0.5)[:, None]], 1)


def apply(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Continuous photo coordinates (N, 2) -> continuous aligned coordinates under a cv2
    photo->aligned matrix (as preprocess builds them)."""
    p = np.asarray(points, dtype=np.float64)[:, :2] - 0.5
    return p @ transform[:, :2].T + transform[:, 2] + 0.5


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person's left eye, person's right eye) centres: the means of the eye contours."""
    regions = mean_head()["regions"]
    return points[regions["l_eye"], :2].mean(0), points[regions["r_eye"], :2].mean(0)


def mouth_centre(points: np.ndarray) -> np.ndarray:
    regions = mean_head()["regions"]
    return points[regions["mouth"], :2].mean(0)


def eye_mouth_similarity(points: np.ndarray, size: int) -> np.ndarray:
    """2x3 photo->aligned matrix from eyes and mouth (frontal framing, roll removed)."""
    left, right = eye_centres(points)  # the person's left eye is on the image right
    mid = (left + right) / 2
    eye_vec = left - right
    roll = math.atan2(eye_vec[1], eye_vec[0])
    down = np.array([-math.sin(roll), math.cos(roll)])  # image "down" of the face
    mouth_drop = float(np.dot(mouth_centre(points) - mid, down))
    scale_px = max(np.linalg.norm(eye_vec) / EYE_DISTANCE, mouth_drop / MOUTH_BELOW_EYES)
    s = size / scale_px
    c, si = math.cos(roll) * s, math.sin(roll) * s
    a = np.array([[c, si], [-si, c]])
    t = np.array([0.5 * size, EYE_Y * size]) - a @ mid
    return _index_space(a, t)


def projected_mean_head(yaw: float, pitch: float, size: int) -> np.ndarray:
    """The mean head's landmarks (478, 2) in a size x size model view at yaw/pitch."""
    uv, _ = camera.project(camera.label_from_angles(yaw, pitch), mean_head()["points"])
    return uv * size


def mean_head_similarity(points: np.ndarray, yaw: float, pitch: float, size: int) -> np.ndarray:
    """2x3 photo->aligned matrix: least-squares similarity (Umeyama, no reflection) from
    the photo's stable landmarks to the mean head projected at (yaw, pitch)."""
    idx = np.asarray(mean_head()["pnp_indices"])
    src = np.asarray(points, dtype=np.float64)[idx, :2]
    dst = projected_mean_head(yaw, pitch, size)[idx]
    ms, md = src.mean(0), dst.mean(0)
    xs, xd = src - ms, dst - md
    cov = xd.T @ xs / len(src)
    u, sv, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    s = float(np.trace(np.diag(sv) @ d) / xs.var(0).sum())
    a = s * rot
    return _index_space(a, md - a @ ms)


def align_to_model(points: np.ndarray, size: int):
    """(2x3 photo->aligned matrix, PnPCamera in that crop) for photo landmarks (478, 2+):
    eye/mouth framing, PnP, then the mean-head similarity at the PnP camera and a final
    PnP in the refined crop."""
    from .pose import solve_camera
    m = eye_mouth_similarity(points, size)
    cam = solve_camera(in_crop(m, points), size)
    m = mean_head_similarity(points, cam.yaw, cam.pitch, size)
    return m, solve_camera(in_crop(m, points), size)


def in_crop(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(478, 3) landmarks in the crop: x, y mapped, z scaled like them."""
    scale = math.sqrt(abs(np.linalg.det(transform[:, :2])))
    return np.concatenate([apply(transform, points), np.asarray(points)[:, 2:3] * scale], 1)
