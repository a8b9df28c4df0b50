"""The surface point behind every texel of an atlas: position, normal, class and the
fallback colour, interpolated from the mesh with the barycentrics of the UV raster."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .atlas import Atlas
from .raster import rasterize


@dataclass
class TexelSurface:
    size: int
    index: np.ndarray        # (N,) flat texel index (row * size + col) of covered texels
    points: np.ndarray       # (N, 3) float64 surface points (mesh frame)
    normals: np.ndarray      # (N, 3) float64 unit normals
    labels: np.ndarray       # (N,) uint8 class of the texel (its nearest corner's label)
    colors: np.ndarray       # (N, 3) float64 sRGB 0..1 interpolated vertex colours (fallback)
    corners: np.ndarray      # (N, 3) input-mesh vertex ids of the texel's triangle
    bary: np.ndarray         # (N, 3) barycentrics in that triangle

    def interpolate(self, values: np.ndarray) -> np.ndarray:
        """Per-vertex values of the input mesh (V, C) at the texels (N, C)."""
        return np.einsum("nk,nkd->nd", self.bary, np.asarray(values, np.float64)[self.corners])

    def with_colors(self, vertex_colors: np.ndarray) -> "TexelSurface":
        """The same texels with fallback colours from new vertex colours (uint8 sRGB)."""
        return dataclasses.replace(self, colors=self.interpolate(vertex_colors) / 255.0)

    @property
    def mask(self) -> np.ndarray:
        m = np.zeros(self.size * self.size, bool)
        m[self.index] = True
        return m.reshape(self.size, self.size)


def texel_surface(atlas: Atlas, vertices: np.ndarray, normals: np.ndarray, labels: np.ndarray,
                  colors: np.ndarray) -> TexelSurface:
    """Rasterise the atlas (UV triangles at texel resolution) and interpolate the mesh
    attributes (indexed like the *input* mesh; atlas.vmapping maps them) at each texel."""
    s = atlas.size
    tri_uv = atlas.uvs[atlas.faces].astype(np.float64) * s       # (F, 3, 2) texel units, v down
    face_id, bary = rasterize(tri_uv, s, s)
    flat = face_id.reshape(-1)
    index = np.flatnonzero(flat >= 0)
    f = flat[index]
    w = bary.reshape(-1, 3)[index].astype(np.float64)
    corners = atlas.vmapping[atlas.faces[f]]                      # (N, 3) input vertex ids
    v = np.asarray(vertices, np.float64)
    n = np.asarray(normals, np.float64)
    points = np.einsum("nk,nkd->nd", w, v[corners])
    nrm = np.einsum("nk,nkd->nd", w, n[corners])
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    lab = np.asarray(labels)[corners[np.arange(len(f)), w.argmax(1)]].astype(np.uint8)
    col = np.einsum("nk,nkd->nd", w, np.asarray(colors, np.float64)[corners] / 255.0)
    return TexelSurface(s, index, points, nrm, lab, col, corners, w)
