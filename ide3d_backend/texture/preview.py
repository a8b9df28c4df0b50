"""Rendering a (textured or vertex-coloured) mesh through a camera label with the
rasteriser: the benchmark's and the tests' way to look at a baked texture. Unlit:
the colour is the texture (or vertex colour) itself."""
from __future__ import annotations

import numpy as np

from .raster import rasterize
from .views import project, sample_image


def render_mesh(vertices, faces, label, size: int, colors=None, uvs=None, texture=None,
                background=(0, 0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """(rgb (size, size, 3) uint8, coverage mask) of the mesh seen from `label`; colours
    from `texture` at `uvs` (v down) when given, else from per-vertex `colors` (uint8)."""
    xy, depth = project(label, vertices, (size, size))
    f = np.asarray(faces, np.int64)
    f = f[(depth[f] > 1e-6).all(1)]
    face_id, bary = rasterize(xy[f], size, size, z=depth[f])
    hit = face_id >= 0
    out = np.empty((size, size, 3), np.float64)
    out[:] = np.asarray(background, np.float64) / 255.0
    corners = f[face_id[hit]]
    w = bary[hit].astype(np.float64)
    if texture is not None:
        uv = np.einsum("nk,nkd->nd", w, np.asarray(uvs, np.float64)[corners])
        s = texture.shape[0]
        out[hit] = sample_image(texture, uv * [texture.shape[1], s])
    else:
        out[hit] = np.einsum("nk,nkd->nd", w, np.asarray(colors, np.float64)[corners] / 255.0)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8), hit
