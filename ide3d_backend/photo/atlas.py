"""Face-part labels read from a label atlas in the face mesh's own surface frame.

MediaPipe's face mesh has a fixed triangulation, so a point of the face surface has the
same (triangle, barycentric coordinates) on every face it reads. The atlas
(assets/face_label_atlas.npz, built by tools/face_label_atlas.py from SynthHeads
training renders) stores, for a grid of barycentric cells in each triangle, how often
each class covered that cell in the ground truth. Rasterising the detected mesh of a
photo (front-facing triangles, nearest first by MediaPipe's depth) and reading the atlas
labels the face parts in SynthHeads' own conventions (their brows, lips and eyes differ
in shape from the real-face contours the landmarks follow), which is what the model was
trained on. The eye openings and the mouth, holes in MediaPipe's mesh, are closed by fans
round the mean of each hole's contour (extra vertices after the 478 landmarks).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parents[1] / "assets" / "face_label_atlas.npz"


@dataclass(frozen=True)
class LabelAtlas:
    triangles: np.ndarray   # (T, 3) vertex ids; ids >= 478 are hole centres (see vertices)
    loops: tuple            # landmark ids of each hole contour, in hole-centre order
    cells: int              # barycentric grid cells per side of a triangle
    probs: np.ndarray       # (Y, T, cells * cells, NUM_CLASSES) float32 class frequencies per yaw bin
    yaw_edges: np.ndarray   # (Y - 1,) radians between the yaw bins
    ring: tuple             # the face-oval loop the outer band is built on
    ring_scale: float       # the band reaches this fraction further from the mesh centre
    how: str


@functools.lru_cache(maxsize=2)
def load_atlas(path: str | None = None) -> LabelAtlas | None:
    """The shipped atlas (or the one at `path`); None when the file is absent."""
    p = Path(path) if path else ASSET
    if not p.is_file():
        return None
    with np.load(p) as z:
        starts = z["loop_starts"]
        loops = tuple(tuple(int(i) for i in z["loop_ids"][a:b]) for a, b in zip(starts[:-1], starts[1:]))
        probs = z["probs"].astype(np.float32) / 255.0
        return LabelAtlas(z["triangles"].astype(np.int64), loops, int(z["cells"]), probs,
                          z["yaw_edges"].astype(np.float64), tuple(int(i) for i in z["ring"]),
                          float(z["ring_scale"]), str(z["how"]))


def vertices(points: np.ndarray, loops, ring=(), ring_scale: float = 0.0) -> np.ndarray:
    """(478 + L + len(ring), 3) vertices: the landmarks (x, y, z), the mean of each hole
    loop, then the outer band's rim: each face-oval point pushed ring_scale further from
    the mesh centre (a band round the face where ears, hair and neck are)."""
    p = np.asarray(points, dtype=np.float64)[:, :3]
    centre = p[:468].mean(0)
    holes = np.array([p[list(loop)].mean(0) for loop in loops]).reshape(-1, 3)
    rim = p[list(ring)] + ring_scale * (p[list(ring)] - centre)
    return np.concatenate([p, holes, rim.reshape(-1, 3)], 0)


def rasterise(verts: np.ndarray, triangles: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(triangle id (R, R) int, -1 where no triangle; barycentrics (R, R, 3)) at pixel
    centres. Triangles are oriented so a visible one has positive image area (x right,
    y down); back-facing ones are skipped and the nearest (smallest z) wins."""
    tri_id = np.full((size, size), -1, np.int64)
    bary = np.zeros((size, size, 3), np.float64)
    zbuf = np.full((size, size), np.inf)
    v = verts[triangles]                                   # (T, 3, 3)
    e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    lo = np.clip(np.ceil(v[:, :, :2].min(1) - 0.5), 0, size).astype(int)
    hi = np.clip(np.floor(v[:, :, :2].max(1) - 0.5) + 1, 0, size).astype(int)
    for t in np.flatnonzero((area > 1e-9) & (hi > lo).all(1)):
        xs = np.arange(lo[t, 0], hi[t, 0]) + 0.5
        ys = np.arange(lo[t, 1], hi[t, 1]) + 0.5
        px, py = np.meshgrid(xs - v[t, 0, 0], ys - v[t, 0, 1])
        b1 = (px * e2[t, 1] - py * e2[t, 0]) / area[t]
        b2 = (py * e1[t, 0] - px * e1[t, 1]) / area[t]
        b0 = 1 - b1 - b2
        inside = (b0 >= 0) & (b1 >= 0) & (b2 >= 0)
        if not inside.any():
            continue
        z = b0 * v[t, 0, 2] + b1 * v[t, 1, 2] + b2 * v[t, 2, 2]
        win = (slice(lo[t, 1], hi[t, 1]), slice(lo[t, 0], hi[t, 0]))
        near = inside & (z < zbuf[win])
        zbuf[win][near] = z[near]
        tri_id[win][near] = t
        bary[win][near] = np.stack([b0, b1, b2], -1)[near]
    return tri_id, bary


def cell_index(bary: np.ndarray, cells: int) -> np.ndarray:
    """Barycentric grid cell of each (..., 3) coordinate: cells x cells bins of (b1, b2)."""
    ij = np.clip(np.floor(bary[..., 1:] * cells), 0, cells - 1).astype(np.int64)
    return ij[..., 0] * cells + ij[..., 1]


def atlas_probs(points: np.ndarray, size: int, atlas: LabelAtlas, yaw: float = 0.0) -> np.ndarray:
    """(NUM_CLASSES, R, R) atlas class frequencies (of the camera's yaw bin) of the mesh
    and its outer band at aligned `points` ((478, 3): x, y pixels, MediaPipe z); NaN
    outside both."""
    verts = vertices(points, atlas.loops, atlas.ring, atlas.ring_scale)
    tri_id, bary = rasterise(verts, atlas.triangles, size)
    probs = atlas.probs[int(np.searchsorted(atlas.yaw_edges, yaw))]
    out = np.full((probs.shape[2], size, size), np.nan, np.float32)
    on = tri_id >= 0
    out[:, on] = probs[tri_id[on], cell_index(bary[on], atlas.cells)].T
    return out
