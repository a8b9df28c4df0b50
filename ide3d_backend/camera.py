"""Cameras: 25-d labels, look-at, pose sampling and EG3D conversions.

Conventions (the one place they live):
- World (model) frame: y up, the face looks along +z, head near the origin,
  inside the tri-plane cube [-box/2, box/2]^3.
- A label is 25 floats: the 4x4 cam2world matrix (row-major, OpenGL camera:
  x right, y up, looking along -z) followed by the 3x3 normalised intrinsics
  (focal and principal point in units of the image size, row-major).
- User angles: yaw and pitch in radians, 0/0 = frontal. yaw > 0 puts the
  camera on the +x side; pitch > 0 puts it above the head (looking down).
- EG3D/pi-GAN angles: horizontal h = pi/2 + yaw; vertical v, with the camera
  at polar angle arccos(1 - 2 v / pi) from +y (so v > pi/2 is below).
"""
from __future__ import annotations

import math

import numpy as np

FOCAL_NORMALISED = 4.2647  # 1 / (tan(fov/2) * 1.414) for fov 18.837 deg
INTRINSICS = np.array([[FOCAL_NORMALISED, 0.0, 0.5],
                       [0.0, FOCAL_NORMALISED, 0.5],
                       [0.0, 0.0, 1.0]], dtype=np.float64)
RADIUS = 2.7
LOOKAT = (0.0, 0.0, 0.0)

# FFHQ-like pose distribution, in pi-GAN angles (REFERENCE.md §3).
YAW_STD = 0.3
PITCH_STD = 0.155

# Indices of the label touched by the OpenCV<->OpenGL switch (camera y and z axes)
# and by a horizontal mirror (world x row and camera x column).
_OPENCV_OPENGL_INDICES = [1, 2, 5, 6, 9, 10]
_FLIP_INDICES = [1, 2, 3, 4, 8]


def fov_degrees(focal: float = FOCAL_NORMALISED) -> float:
    """Full vertical field of view of a normalised focal length."""
    return math.degrees(2 * math.atan(0.5 / focal))


def look_at(origin, target=LOOKAT, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """OpenGL cam2world (4x4) for a camera at `origin` looking at `target`."""
    origin = np.asarray(origin, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - origin
    norm = np.linalg.norm(forward)
    if norm < 1e-9:
        raise ValueError("camera origin and target coincide")
    forward /= norm
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("camera looks straight along the up vector; pick another up")
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, true_up, -forward, origin
    return m


def camera_origin(yaw: float, pitch: float, radius: float = RADIUS, target=LOOKAT) -> np.ndarray:
    """Position on the sphere around `target` for user angles (0/0 = frontal, +z)."""
    return np.asarray(target, dtype=np.float64) + radius * np.array(
        [math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])


def make_label(cam2world: np.ndarray, intrinsics: np.ndarray = INTRINSICS) -> np.ndarray:
    """Pack a 4x4 cam2world and 3x3 normalised intrinsics into a 25-d float32 label."""
    cam2world = np.asarray(cam2world, dtype=np.float64)
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    if cam2world.shape != (4, 4) or intrinsics.shape != (3, 3):
        raise ValueError(f"need a 4x4 cam2world and 3x3 intrinsics, got {cam2world.shape}, {intrinsics.shape}")
    return np.concatenate([cam2world.reshape(16), intrinsics.reshape(9)]).astype(np.float32)


def split_label(label) -> tuple[np.ndarray, np.ndarray]:
    """25-d label -> (cam2world 4x4, intrinsics 3x3) as float64 numpy arrays."""
    label = np.asarray(label, dtype=np.float64)
    if label.shape[-1] != 25:
        raise ValueError(f"a camera label has 25 values, got {label.shape[-1]}")
    return label[..., :16].reshape(label.shape[:-1] + (4, 4)), label[..., 16:].reshape(label.shape[:-1] + (3, 3))


def label_from_angles(yaw: float = 0.0, pitch: float = 0.0, radius: float = RADIUS,
                      target=LOOKAT, intrinsics: np.ndarray = INTRINSICS) -> np.ndarray:
    """25-d label of a look-at camera at user angles (radians; 0/0 = frontal)."""
    return make_label(look_at(camera_origin(yaw, pitch, radius, target), target), intrinsics)


def frontal_label() -> np.ndarray:
    """The canonical view: the mapping network is conditioned on it at inference."""
    return label_from_angles(0.0, 0.0)


def angles_from_label(label, target=LOOKAT) -> tuple[float, float, float]:
    """(yaw, pitch, radius) of the camera position relative to `target`."""
    cam2world, _ = split_label(label)
    p = cam2world[:3, 3] - np.asarray(target, dtype=np.float64)
    radius = float(np.linalg.norm(p))
    pitch = math.asin(max(-1.0, min(1.0, p[1] / radius)))
    yaw = math.atan2(p[0], p[2])
    return yaw, pitch, radius


def pigan_to_user(h: float, v: float) -> tuple[float, float]:
    """pi-GAN/EG3D (horizontal, vertical) angles -> user (yaw, pitch)."""
    v = min(max(v, 1e-5), math.pi - 1e-5)
    phi = math.acos(1 - 2 * v / math.pi)
    return h - math.pi / 2, math.pi / 2 - phi


def user_to_pigan(yaw: float, pitch: float) -> tuple[float, float]:
    phi = math.pi / 2 - pitch
    return yaw + math.pi / 2, math.pi * (1 - math.cos(phi)) / 2


def sample_angles(n: int, rng: np.random.Generator, yaw_std: float = YAW_STD,
                  pitch_std: float = PITCH_STD) -> np.ndarray:
    """FFHQ-like (yaw, pitch) pairs, shape (n, 2): pi-GAN angles ~ N(pi/2, std)."""
    h = rng.normal(math.pi / 2, yaw_std, size=n)
    v = rng.normal(math.pi / 2, pitch_std, size=n)
    return np.array([pigan_to_user(a, b) for a, b in zip(h, v)], dtype=np.float64).reshape(n, 2)


def sample_labels(n: int, rng: np.random.Generator, **kwargs) -> np.ndarray:
    """n labels from the FFHQ-like pose distribution, shape (n, 25)."""
    return np.stack([label_from_angles(y, p) for y, p in sample_angles(n, rng, **kwargs)])


def opencv_to_opengl(label) -> np.ndarray:
    """EG3D dataset.json labels (OpenCV cam2world) -> ours (OpenGL). Self-inverse."""
    out = np.array(label, dtype=np.float32, copy=True)
    out[..., _OPENCV_OPENGL_INDICES] *= -1
    return out


opengl_to_opencv = opencv_to_opengl


def flip_label(label) -> np.ndarray:
    """Label of the horizontally mirrored image (mirror of the world in x)."""
    out = np.array(label, dtype=np.float32, copy=True)
    out[..., _FLIP_INDICES] *= -1
    return out


def project(label, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> (uv in [0,1] image units with v down, depth along the view axis)."""
    cam2world, k = split_label(label)
    world2cam = np.linalg.inv(cam2world)
    p = np.asarray(points, dtype=np.float64) @ world2cam[:3, :3].T + world2cam[:3, 3]
    depth = -p[:, 2]
    x, y = p[:, 0] / depth, -p[:, 1] / depth  # OpenGL: y up; image v grows downward
    u = k[0, 0] * x + k[0, 1] * y + k[0, 2]
    v = k[1, 1] * y + k[1, 2]
    return np.stack([u, v], -1), depth


# --- torch labels (torch is imported lazily: this module stays numpy-only to import) ------
def labels_from_angles(yaw, pitch, radius: float = RADIUS):
    """Batched, differentiable torch twin of `label_from_angles`: yaw and pitch tensors
    (radians, shape [B] or scalars) -> labels [B, 25] (a scalar pair gives [1, 25]) in
    their dtype and on their device."""
    import torch
    import torch.nn.functional as F
    yaw = torch.as_tensor(yaw, dtype=torch.get_default_dtype() if not torch.is_tensor(yaw) else None)
    pitch = torch.as_tensor(pitch, dtype=yaw.dtype, device=yaw.device)
    yaw, pitch = yaw.reshape(-1), pitch.reshape(-1)
    kw = {"dtype": yaw.dtype, "device": yaw.device}
    target = torch.tensor(LOOKAT, **kw)
    origin = target + radius * torch.stack(
        [torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)], -1)
    forward = F.normalize(target - origin, dim=-1)
    up = torch.tensor([0.0, 1.0, 0.0], **kw).expand_as(forward)
    right = F.normalize(torch.linalg.cross(forward, up, dim=-1), dim=-1)
    true_up = torch.linalg.cross(right, forward, dim=-1)
    b = yaw.shape[0]
    m = torch.zeros(b, 4, 4, **kw)
    m[:, :3, 0], m[:, :3, 1], m[:, :3, 2], m[:, :3, 3] = right, true_up, -forward, origin
    m[:, 3, 3] = 1
    k = torch.as_tensor(INTRINSICS, **kw)
    return torch.cat([m.reshape(b, 16), k.reshape(1, 9).expand(b, 9)], 1)


def label_tensor(yaw: float = 0.0, pitch: float = 0.0, device=None, batch: int = 1):
    """The label of user angles as a float32 torch tensor [batch, 25] on `device`
    (computed in float64 like `label_from_angles`; the default is the frontal view)."""
    import torch
    return torch.from_numpy(label_from_angles(float(yaw), float(pitch)))[None].expand(batch, -1).to(device)
