"""Mesh cleanup on plain (vertices, faces) arrays: unreferenced vertices, connected
components, Taubin smoothing and vertex-clustering decimation. Attributes are sampled
after cleanup (pipeline.py), so nothing here carries them along."""
from __future__ import annotations

import math

import numpy as np


def compact_faces(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber the vertices `faces` uses as 0..K-1 in their order ->
    (faces int64 over the K used vertices, the K used vertex indices, ascending)."""
    used = np.zeros(num_vertices, bool)
    used[faces.reshape(-1)] = True
    keep = np.nonzero(used)[0]
    remap = np.full(num_vertices, -1, np.int64)
    remap[keep] = np.arange(len(keep))
    return remap[faces], keep


def remove_unreferenced(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop vertices no face uses -> (verts, faces, kept vertex indices)."""
    faces, keep = compact_faces(faces, len(verts))
    return verts[keep], faces.astype(np.int32), keep


def keep_largest_components(verts: np.ndarray, faces: np.ndarray, min_fraction: float | None = None
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Keep the largest connected component (by face count), or with `min_fraction`
    every component with at least that fraction of the largest one's faces."""
    if len(faces) == 0:
        return verts, faces
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    n = len(verts)
    a = np.concatenate([faces[:, 0], faces[:, 1]])
    b = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    face_comp = comp[faces[:, 0]]
    sizes = np.bincount(face_comp)
    if min_fraction is None:
        keep_comp = np.zeros(len(sizes), bool)
        keep_comp[np.argmax(sizes)] = True  # exactly one, even on ties
    else:
        keep_comp = sizes >= min_fraction * sizes.max()
    faces = faces[keep_comp[face_comp]]
    verts, faces, _ = remove_unreferenced(verts, faces)
    return verts, faces


def taubin_smooth(verts: np.ndarray, faces: np.ndarray, iterations: int,
                  lamb: float = 0.5, mu: float = -0.53) -> np.ndarray:
    """Taubin lambda|mu smoothing (no shrinkage) with trimesh's implementation."""
    if iterations <= 0 or len(faces) == 0:
        return verts
    import trimesh
    import trimesh.smoothing
    m = trimesh.Trimesh(verts.astype(np.float64), faces, process=False)
    trimesh.smoothing.filter_taubin(m, lamb=lamb, nu=-mu, iterations=int(iterations))
    return np.asarray(m.vertices, dtype=np.float32)


def _cluster(verts: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    key = np.floor((verts - verts.min(0)) / cell).astype(np.int64)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse, verts.astype(np.float64))
    new_verts = (sums / counts[:, None]).astype(np.float32)
    f = inverse[faces]
    ok = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[ok]
    # drop duplicate faces (same vertex set, any winding)
    _, first = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
    f = f[np.sort(first)]
    new_verts, f, _ = remove_unreferenced(new_verts, f)
    return new_verts, f.astype(np.int32)


def decimate(verts: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertex-clustering decimation to at most `target_faces` faces (and close to it).

    Vertices are merged per cubic cell (position = cell mean); the cell size is found
    by bisection on the face count. Attributes must be re-sampled afterwards.
    """
    if target_faces <= 0:
        raise ValueError("target_faces must be positive")
    if len(faces) <= target_faces:
        return verts, faces
    extent = float(np.max(verts.max(0) - verts.min(0)))
    # Faces scale ~ 1/cell^2: start from that estimate and bisect in log space.
    mean_edge = float(np.linalg.norm(verts[faces[:, 0]] - verts[faces[:, 1]], axis=1).mean())
    lo, hi = mean_edge * 0.5, extent
    best = None
    for _ in range(18):
        mid = math.sqrt(lo * hi)
        v, f = _cluster(verts, faces, mid)
        if len(f) <= target_faces:
            best, hi = (v, f), mid
            if len(f) >= 0.95 * target_faces:
                break
        else:
            lo = mid
    if best is None:
        best = _cluster(verts, faces, hi)
    return best
