"""Ground-truth geometry: a watertight, labelled mesh of a synthetic head."""
from __future__ import annotations

import numpy as np
import torch

from .shapes import torch_threads

CUBE_HALF = 0.5


@torch.no_grad()
def sdf_grid(head, resolution: int = 128, chunk: int = 1 << 16, threads: int | None = 1) -> np.ndarray:
    """Signed distances on a resolution^3 grid spanning [-0.5, 0.5]^3, indexed [x, y, z]."""
    g = torch.linspace(-CUBE_HALF, CUBE_HALF, resolution)
    xs, ys, zs = torch.meshgrid(g, g, g, indexing="ij")
    x, y, z = xs.reshape(-1), ys.reshape(-1), zs.reshape(-1)
    out = torch.empty(x.shape[0])
    with torch_threads(threads):
        for i in range(0, x.shape[0], chunk):
            out[i:i + chunk] = head._parts(x[i:i + chunk], y[i:i + chunk], z[i:i + chunk])[0]
    return out.reshape(resolution, resolution, resolution).numpy()


@torch.no_grad()
def ground_truth_mesh(head, resolution: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices (V, 3) float32 world, faces (F, 3) int64, labels (V,) uint8).

    Marching cubes on the SDF sampled over the cube [-0.5, 0.5]^3; the grid is
    padded with 'outside' values so the surface is closed. Faces are oriented
    outwards. Labels are the class of the nearest part at each vertex."""
    import mcubes

    if resolution < 8:
        raise ValueError(f"mesh resolution must be at least 8, got {resolution}")
    grid = sdf_grid(head, resolution)
    padded = np.pad(-grid, 1, mode="constant", constant_values=-1.0)  # positive inside
    verts, faces = mcubes.marching_cubes(padded, 0.0)
    step = 2 * CUBE_HALF / (resolution - 1)
    verts = ((verts - 1.0) * step - CUBE_HALF).astype(np.float32)
    faces = np.asarray(faces, dtype=np.int64)
    if len(faces):
        # make the orientation outward (positive signed volume)
        a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
        vol = np.einsum("ij,ij->i", a.astype(np.float64), np.cross(b, c).astype(np.float64)).sum()
        if vol < 0:
            faces = faces[:, ::-1].copy()
    _, cls = head.sdf(torch.from_numpy(verts))
    return verts, faces, cls.numpy().astype(np.uint8)
