"""Quick pictures of a mesh without a renderer (docs images, sanity checks)."""
from __future__ import annotations

import math

import numpy as np


def splat_preview(vertices: np.ndarray, normals: np.ndarray, colors: np.ndarray, yaw: float = 0.0,
                  size: int = 256, shade: bool = True, extent: float = 0.6) -> np.ndarray:
    """A z-buffered point-splat picture (size, size, 3) uint8 of a model-frame mesh seen
    from `yaw` (orthographic, y up); dense meshes (>= 128^3 grids) look solid."""
    c, s = math.cos(yaw), math.sin(yaw)
    rot = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])  # camera at yaw looks toward -its z
    p = vertices.astype(np.float64) @ rot.T
    nn_ = normals.astype(np.float64) @ rot.T
    px = ((p[:, 0] / extent + 1) / 2 * size).astype(np.int64)
    py = ((1 - (p[:, 1] / extent + 1) / 2) * size).astype(np.int64)
    col = colors.astype(np.float64)
    if shade:
        col = col * (0.35 + 0.65 * np.clip(nn_[:, 2], 0, 1))[:, None]
    img = np.full((size, size, 3), 255, np.uint8)
    zbuf = np.full((size, size), -np.inf)
    order = np.argsort(p[:, 2])  # far to near: nearer points overwrite
    for dx in (0, 1):
        for dy in (0, 1):
            x, y = px[order] + dx, py[order] + dy
            ok = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            x, y, o = x[ok], y[ok], order[ok]
            front = p[o, 2] >= zbuf[y, x]
            img[y[front], x[front]] = np.clip(col[o[front]], 0, 255).astype(np.uint8)
            zbuf[y[front], x[front]] = p[o[front], 2]
    return img
