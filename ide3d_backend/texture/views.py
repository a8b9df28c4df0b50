"""What a camera sees of the mesh: projection through a 25-d camera label, a depth map of
the mesh (z-buffer), and per-texel visibility weights (depth test, cosine, feathering).

Labels as in camera.py: 16 values of an OpenGL cam2world (x right, y up, looking along
-z) and 9 of the intrinsics in units of the image size. Kept here as plain maths on
arrays so the texture code needs no session or generator."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .raster import rasterize


def _split(label):
    label = np.asarray(label, np.float64).reshape(25)
    return label[:16].reshape(4, 4), label[16:].reshape(3, 3)


def project(label, points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> (pixel coordinates (N, 2) x right / y down in an H x W image,
    pixel centres at +0.5; depth along the view axis (N,), > 0 in front)."""
    cam2world, k = _split(label)
    world2cam = np.linalg.inv(cam2world)
    p = np.asarray(points, np.float64) @ world2cam[:3, :3].T + world2cam[:3, 3]
    depth = -p[:, 2]
    safe = np.where(np.abs(depth) > 1e-9, depth, 1e-9)
    x, y = p[:, 0] / safe, -p[:, 1] / safe
    h, w = size
    u = (k[0, 0] * x + k[0, 1] * y + k[0, 2]) * w
    v = (k[1, 1] * y + k[1, 2]) * h
    return np.stack([u, v], -1), depth


def camera_centre(label) -> np.ndarray:
    return _split(label)[0][:3, 3]


def mesh_depth(label, vertices: np.ndarray, faces: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """View-axis depth of the nearest mesh surface at each pixel centre (+inf = none)."""
    xy, depth = project(label, vertices, size)
    f = np.asarray(faces, np.int64)
    front = (depth[f] > 1e-6).all(1)
    f = f[front]
    face_id, bary = rasterize(xy[f], size[0], size[1], z=depth[f])
    out = np.full(size, np.inf)
    hit = face_id >= 0
    inv = (bary[hit].astype(np.float64) / depth[f[face_id[hit]]]).sum(1)
    out[hit] = 1.0 / np.maximum(inv, 1e-12)
    return out


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class TexelView:
    """Where a view sees each texel: pixel position and a weight in [0, 1] (0 = unseen)."""
    xy: np.ndarray        # (N, 2) pixel coordinates
    cos: np.ndarray       # (N,) cos between the normal and the direction to the camera
    weight: np.ndarray    # (N,) feathered visibility in [0, 1]


def texel_view(label, points: np.ndarray, normals: np.ndarray, depth_map: np.ndarray,
               cos_min: float, cos_full: float, tolerance: float,
               image_size: tuple[int, int] | None = None) -> TexelView:
    """Visibility of surface points from a camera: in the image, not behind the mesh
    (depth test with `tolerance` against all 4 depth pixels around the point, which also
    drops silhouette pixels that blend in background), facing the camera. The weight
    rises smoothly from 0 at cos_min to 1 at cos_full (feathering at grazing angles) and
    towards the image border (4 px). `xy` is in pixels of `image_size` (default: the
    depth map's; a finer depth map than the image keeps the test exact on bumpy
    surfaces: measured on the astronaut head, 92% of the frontal vertices passed it with a
    128 px depth map, 99.8% with 512 px)."""
    h, w = depth_map.shape
    xy, depth = project(label, points, (h, w))
    to_cam = camera_centre(label) - points
    cos = np.sum(normals * to_cam, 1) / np.maximum(np.linalg.norm(to_cam, axis=1), 1e-12)
    x = np.clip(xy[:, 0] - 0.5, 0, w - 1)
    y = np.clip(xy[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    d_max = np.maximum.reduce([depth_map[y0, x0], depth_map[y0, x1], depth_map[y1, x0], depth_map[y1, x1]])
    d_min = np.minimum.reduce([depth_map[y0, x0], depth_map[y0, x1], depth_map[y1, x0], depth_map[y1, x1]])
    seen = (depth > 0) & (d_min >= depth - tolerance) & (d_max <= depth + tolerance)
    border = np.minimum.reduce([xy[:, 0], w - xy[:, 0], xy[:, 1], h - xy[:, 1]])
    weight = smoothstep((cos - cos_min) / max(cos_full - cos_min, 1e-6)) * smoothstep(border / 4.0)
    weight = np.where(seen, weight, 0.0)
    if image_size is not None and tuple(image_size) != (h, w):
        xy = xy * np.array([image_size[1] / w, image_size[0] / h])
    return TexelView(xy, cos, weight)


def sample_image(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear colour (N, 3) in 0..1 of an (H, W, 3) uint8/float image at pixel coordinates."""
    im = np.asarray(img)
    scale = 255.0 if im.dtype == np.uint8 else 1.0
    h, w = im.shape[:2]
    x = np.clip(xy[:, 0] - 0.5, 0, w - 1)
    y = np.clip(xy[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    f = im[..., :3].astype(np.float32)
    out = (f[y0, x0] * (1 - fx) * (1 - fy) + f[y0, x1] * fx * (1 - fy)
           + f[y1, x0] * (1 - fx) * fy + f[y1, x1] * fx * fy)
    return out / scale
