"""Camera from landmarks: PnP of the photo's face-mesh points against the same points on
the model's mean head (assets/face_landmarks_3d.json, built by tools/face_landmarks_3d.py).

Run on landmarks in the aligned crop, whose framing is the model's (camera.py: focal
4.2647 image widths, principal point at the centre), so the intrinsics are known even
when the photo's are not. Result in the project's conventions: yaw > 0 = camera on the
person's left (+x), pitch > 0 = camera above.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import camera

ASSET = Path(__file__).resolve().parents[1] / "assets" / "face_landmarks_3d.json"
# world -> OpenCV camera for the frontal look-at camera (OpenCV: y down, z forward)
_FRONTAL_R = np.diag([1.0, -1.0, -1.0])
PNP_WEIGHT = 0.25  # of the image-only PnP pitch against the depth pitch


@functools.lru_cache(maxsize=1)
def mean_head() -> dict:
    """The asset: points (478, 3) world, regions {name: landmark ids}, pnp_indices, how."""
    data = json.loads(ASSET.read_text())
    data["points"] = np.asarray(data["points"], dtype=np.float64)
    return data


def depth_angles(points: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) of the rotation that best maps the mean head's points onto the face
    mesh's own 3D points (x, y, MediaPipe's relative depth z), before the calibration
    offset. Uses MediaPipe's learned depth of real faces, so it does not mistake a face
    whose proportions differ from the mean head's (shorter nose-to-mouth, say) for pitch
    the way image-only PnP does."""
    idx = np.asarray(mean_head()["pnp_indices"])
    p = np.asarray(points, dtype=np.float64)[idx]
    q = np.stack([p[:, 0], -p[:, 1], -p[:, 2]], 1)  # to world axes: y up, z toward the camera
    src = mean_head()["points"][idx]
    xs, xq = src - src.mean(0), q - q.mean(0)
    u, _, vt = np.linalg.svd(xq.T @ xs)
    rot = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    view = rot.T @ np.array([0.0, 0.0, 1.0])  # the camera's direction seen from the head
    return math.atan2(view[0], view[2]), math.asin(max(-1.0, min(1.0, view[1])))


@dataclass
class PnPCamera:
    yaw: float
    pitch: float
    radius: float           # camera distance from the head origin (model units; the model uses 2.7)
    rms_px: float           # reprojection error, pixels of the frame the landmarks are in
    pnp_pitch: float         # the image-only PnP pitch (pitch averages it with the depth one)
    depth_pitch: float       # pitch from the mesh's own depth (depth_angles, calibrated)
    rotation: np.ndarray    # 3x3 world -> OpenCV camera
    translation: np.ndarray  # (3,)


def intrinsics(size: int) -> np.ndarray:
    """The model's camera matrix for a size x size frame (continuous pixel coordinates)."""
    k = camera.INTRINSICS.copy()
    k[:2] *= size
    return k


def solve_camera(points_px: np.ndarray, size: int) -> PnPCamera:
    """Yaw/pitch of the model camera that sees the mean head's landmarks where `points_px`
    ((478, 2+) pixels of a size x size crop framed like the model's views) lie.

    Yaw: PnP. Pitch: the mean of the PnP pitch and the calibrated depth pitch when the
    points carry MediaPipe's z (a third column), the PnP pitch alone otherwise."""
    import cv2
    head = mean_head()
    idx = np.asarray(head["pnp_indices"])
    obj = head["points"][idx]
    img = np.asarray(points_px, dtype=np.float64)[idx, :2]
    rvec0, _ = cv2.Rodrigues(_FRONTAL_R)
    tvec0 = np.array([[0.0], [0.0], [camera.RADIUS]])
    ok, rvec, tvec = cv2.solvePnP(obj, img, intrinsics(size), None, rvec0.copy(), tvec0.copy(),
                                  useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        rvec, tvec = rvec0, tvec0
    rot, _ = cv2.Rodrigues(rvec)
    t = tvec.reshape(3)
    centre = -rot.T @ t  # camera position in the world
    radius = float(np.linalg.norm(centre))
    yaw = math.atan2(centre[0], centre[2])
    pitch = math.asin(max(-1.0, min(1.0, centre[1] / radius)))
    proj, _ = cv2.projectPoints(obj, rvec, tvec, intrinsics(size), None)
    rms = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img) ** 2, 1))))
    pnp_pitch = depth_pitch = pitch
    pts = np.asarray(points_px, dtype=np.float64)
    if pts.shape[1] >= 3:
        depth_pitch = depth_angles(pts)[1] - head.get("depth_pitch_offset", 0.0)
        pitch = PNP_WEIGHT * pnp_pitch + (1 - PNP_WEIGHT) * depth_pitch
    return PnPCamera(yaw, pitch, radius, rms, pnp_pitch, depth_pitch, rot, t)
