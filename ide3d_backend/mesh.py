"""Meshes from density fields: sampling, marching cubes, per-vertex semantics and
colour, cleanup, and the transform into Blender's frame (docs/mesh.md).

Everything works on plain callbacks, so the same code meshes the generator, a
SynthHeads SDF turned into a density, or an analytic sphere:

    density_fn(xyz [N,3] float32 tensor) -> sigma [N]       (higher = inside)
    label_fn(xyz)                        -> logits [N, 19]  (or class ids [N])
    color_fn(xyz)                        -> rgb [N, 3] in [0, 1]

Grid convention: `resolution` R is the number of cells per axis over the cube
[-box/2, box/2]^3; samples sit on the R+1 cell corners, so one voxel is box/R
and sample i is at -box/2 + i * box/R. The grid is padded by one sample of
"far outside" on every side before marching cubes, so a surface that touches
the box is closed on the box face instead of left open.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .semantics import NUM_CLASSES

# --- world frame (the one place these constants live) ---------------------------
# Model frame: y up, face toward +z, crown-to-chin ~0.45 units (camera.py).
# Blender: Z up, metres, face toward -Y. A real head is ~0.23 m crown to chin.
HEAD_HEIGHT_UNITS = 0.45
HEAD_HEIGHT_METRES = 0.23
METRES_PER_UNIT = HEAD_HEIGHT_METRES / HEAD_HEIGHT_UNITS  # ~0.511
# x_b = x, y_b = -z, z_b = y (a proper rotation, det +1).
MODEL_TO_BLENDER = np.array([[1.0, 0.0, 0.0],
                             [0.0, 0.0, -1.0],
                             [0.0, 1.0, 0.0]])

DEFAULT_LEVEL = 10.0  # EG3D's density threshold
DEFAULT_BATCH = 1 << 18
PAD_VALUE = -1.0e4  # "far outside": the surface closes at the last real sample

DensityFn = Callable[[torch.Tensor], torch.Tensor]


# --- results ----------------------------------------------------------------------
@dataclass
class GridStats:
    resolution: int
    coarse_to_fine: bool
    queries: int = 0          # points sent to density_fn
    dense_queries: int = 0    # what a dense grid would have sent
    active_cells: int = 0     # coarse cells refined at full resolution
    margin: float = 0.0       # level band widening the coarse cell test
    seconds_sampling: float = 0.0
    seconds_marching: float = 0.0


@dataclass
class HeadMesh:
    vertices: np.ndarray            # (V, 3) float32
    faces: np.ndarray               # (F, 3) int32
    normals: np.ndarray             # (V, 3) float32, unit, outward
    colors: np.ndarray              # (V, 3) uint8, sRGB
    labels: np.ndarray              # (V,) uint8 class ids (semantics.py)
    frame: str = "model"            # "model" (y up, +z face, units), "blender" (Z up, -Y face, metres)
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        self.normals = np.ascontiguousarray(self.normals, dtype=np.float32)
        self.colors = np.ascontiguousarray(self.colors, dtype=np.uint8)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.uint8)
        v = len(self.vertices)
        if self.faces.ndim != 2 or self.faces.shape[1:] != (3,):
            raise ValueError(f"faces must be (F, 3), got {self.faces.shape}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= v):
            raise ValueError("face index out of range")
        for name, arr, shape in (("normals", self.normals, (v, 3)), ("colors", self.colors, (v, 3)),
                                 ("labels", self.labels, (v,))):
            if arr.shape != shape:
                raise ValueError(f"{name} must be {shape}, got {arr.shape}")

    def copy(self) -> "HeadMesh":
        return dataclasses.replace(self, vertices=self.vertices.copy(), faces=self.faces.copy(),
                                   normals=self.normals.copy(), colors=self.colors.copy(),
                                   labels=self.labels.copy(), stats=dict(self.stats))

    def transformed(self, rotation: np.ndarray, scale: float, frame: str) -> "HeadMesh":
        """A copy with vertices -> scale * R v and normals -> R n (R a rotation)."""
        r = np.asarray(rotation, dtype=np.float64)
        out = self.copy()
        out.vertices = (self.vertices.astype(np.float64) @ r.T * scale).astype(np.float32)
        out.normals = (self.normals.astype(np.float64) @ r.T).astype(np.float32)
        out.frame = frame
        return out

    def to_blender_frame(self) -> "HeadMesh":
        """Z up, metres, face toward -Y: x_b = s x, y_b = -s z, z_b = s y (s = METRES_PER_UNIT)."""
        self._require_frame("model")
        return self.transformed(MODEL_TO_BLENDER, METRES_PER_UNIT, "blender")

    def to_yup_metres(self) -> "HeadMesh":
        """glTF/OBJ convention (Y up, face +Z) in metres; Blender's glTF and OBJ importers
        rotate Y-up files by exactly MODEL_TO_BLENDER, landing on `to_blender_frame()`."""
        self._require_frame("model")
        return self.transformed(np.eye(3), METRES_PER_UNIT, "yup_metres")

    def _require_frame(self, frame: str):
        if self.frame != frame:
            raise ValueError(f"this mesh is in the {self.frame!r} frame; expected {frame!r}")

    def to_trimesh(self):
        import trimesh
        return trimesh.Trimesh(self.vertices, self.faces, vertex_normals=self.normals,
                               vertex_colors=self.colors, process=False)

    @property
    def face_labels(self) -> np.ndarray:
        return face_labels(self.faces, self.labels)


# --- grids ------------------------------------------------------------------------
def grid_coordinates(resolution: int, box: float) -> np.ndarray:
    """The R+1 sample positions along one axis."""
    return (-box / 2 + np.arange(resolution + 1, dtype=np.float64) * (box / resolution)).astype(np.float32)


def _query(density_fn: DensityFn, pts: np.ndarray, batch: int, stats: GridStats | None) -> np.ndarray:
    out = np.empty(len(pts), dtype=np.float32)
    with torch.no_grad():
        for s in range(0, len(pts), batch):
            x = torch.from_numpy(np.ascontiguousarray(pts[s:s + batch]))
            out[s:s + batch] = torch.as_tensor(density_fn(x)).reshape(-1).float().cpu().numpy()
    if stats is not None:
        stats.queries += len(pts)
    return out


def _points(axis: np.ndarray, ii: np.ndarray, jj: np.ndarray, kk: np.ndarray) -> np.ndarray:
    return np.stack([axis[ii], axis[jj], axis[kk]], -1)


def sample_grid_dense(density_fn: DensityFn, resolution: int, box: float, batch: int = DEFAULT_BATCH,
                      stats: GridStats | None = None, pad: bool = True) -> np.ndarray:
    """float32 grid [R+1]^3 (padded to [R+3]^3 when `pad`) of density samples, x-major."""
    n = resolution + 1
    axis = grid_coordinates(resolution, box)
    o = 1 if pad else 0
    grid = np.full((n + 2 * o,) * 3, PAD_VALUE, dtype=np.float32)
    jj, kk = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    jj, kk = jj.reshape(-1), kk.reshape(-1)
    slab = max(1, batch // (n * n))
    for i0 in range(0, n, slab):
        i1 = min(n, i0 + slab)
        ii = np.repeat(np.arange(i0, i1), n * n)
        pts = _points(axis, ii, np.tile(jj, i1 - i0), np.tile(kk, i1 - i0))
        grid[o + i0:o + i1, o:o + n, o:o + n] = _query(density_fn, pts, batch, stats).reshape(i1 - i0, n, n)
    return grid


def sample_grid_coarse_to_fine(density_fn: DensityFn, resolution: int, box: float, level: float,
                               factor: int = 4, dilation: int = 0, batch: int = DEFAULT_BATCH,
                               stats: GridStats | None = None, pad: bool = True,
                               margin: float | str | None = "auto") -> np.ndarray:
    """Like `sample_grid_dense`, but samples the full resolution only near the surface.

    1. sample a coarse grid with R/factor cells per axis (every factor-th fine sample);
    2. mark coarse cells whose 8 corners straddle `level` widened by `margin` (so that
       a feature smaller than a coarse cell, which the corners miss, is still refined),
       dilated by `dilation` cells. margin "auto" = the largest deviation between the
       field and the coarse grid's trilinear interpolant at 2^14 random probe points;
    3. fill the fine grid with the trilinear upsampling of the coarse grid (exact at the
       coarse samples; in an unmarked cell all corners lie on one side of the level, so
       the interpolant does too and produces no surface there);
    4. sample the fine points of marked cells exactly.
    The marked region is closed under cell sharing: every fine sample on a marked
    cell's faces is exact, so the surface inside it is the dense grid's surface.
    """
    if resolution % factor:
        raise ValueError(f"resolution {resolution} must be a multiple of the coarse factor {factor}")
    rc = resolution // factor
    n = resolution + 1
    o = 1 if pad else 0
    coarse = sample_grid_dense(density_fn, rc, box, batch, stats, pad=False)
    if margin == "auto":
        margin = estimate_margin(density_fn, coarse, box, batch, stats)
    margin = float(margin or 0.0)
    if stats is not None:
        stats.margin = margin
    # Cells that may hold the surface: some corner reaches level - margin and some
    # corner stays below level + margin (margin 0: the corners straddle the level).
    above = coarse >= level - margin
    below = coarse <= level + margin
    any_in = np.zeros((rc,) * 3, bool)
    any_out = np.zeros((rc,) * 3, bool)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                any_in |= above[di:di + rc, dj:dj + rc, dk:dk + rc]
                any_out |= below[di:di + rc, dj:dj + rc, dk:dk + rc]
    cells = any_in & any_out
    if dilation > 0 and cells.any():
        from scipy.ndimage import binary_dilation
        cells = binary_dilation(cells, np.ones((3, 3, 3), bool), iterations=dilation)
    if stats is not None:
        stats.active_cells = int(cells.sum())

    grid = np.full((n + 2 * o,) * 3, PAD_VALUE, dtype=np.float32)
    axis = grid_coordinates(resolution, box)
    # Fine sample i lies in coarse cells lo[i] and hi[i] (equal unless i is on a coarse plane).
    idx = np.arange(n)
    lo = np.clip((idx - 1) // factor, 0, rc - 1)
    hi = np.clip(idx // factor, 0, rc - 1)
    ct = torch.from_numpy(coarse)
    slab_cells = max(1, (1 << 24) // (n * n * factor))  # bounds the per-slab temporaries
    for c0 in range(0, rc, slab_cells):
        c1 = min(rc, c0 + slab_cells)
        # fine x samples owned by this slab: [c0*f, c1*f) plus the last plane at the end
        f0, f1 = c0 * factor, (c1 * factor + 1 if c1 == rc else c1 * factor)
        # align_corners with size (m-1)*factor+1 puts fine sample i at coarse i/factor exactly
        up = F.interpolate(ct[c0:c1 + 1][None, None], size=((c1 - c0) * factor + 1, n, n),
                           mode="trilinear", align_corners=True)[0, 0].numpy()
        grid[o + f0:o + f1, o:o + n, o:o + n] = up[:f1 - f0]
        xs = idx[f0:f1]
        need = np.zeros((f1 - f0, n, n), bool)
        for a in (lo, hi):
            for b in (lo, hi):
                for c in (lo, hi):
                    need |= cells[np.ix_(a[xs], b, c)]
        ii, jj, kk = np.nonzero(need)
        if len(ii):
            ii += f0
            vals = _query(density_fn, _points(axis, ii, jj, kk), batch, stats)
            grid[ii + o, jj + o, kk + o] = vals
    return grid


def estimate_margin(density_fn: DensityFn, coarse: np.ndarray, box: float, batch: int = DEFAULT_BATCH,
                    stats: GridStats | None = None, probes: int = 1 << 14, seed: int = 0,
                    quantile: float = 0.99) -> float:
    """How far the field strays from the coarse grid's trilinear interpolant: the
    `quantile` of |f - interp| at `probes` uniform points (deterministic)."""
    rng = np.random.default_rng(seed)
    pts = ((rng.random((probes, 3)) - 0.5) * box).astype(np.float32)
    true = _query(density_fn, pts, batch, stats)
    g = torch.from_numpy(coarse)[None, None]  # grid_sample: last coordinate indexes dim 2 (x-major grid)
    p = torch.from_numpy(pts[:, ::-1].copy() * (2.0 / box))[None, None, None]
    interp = F.grid_sample(g, p, mode="bilinear", align_corners=True)[0, 0, 0, 0].numpy()
    return float(np.quantile(np.abs(true - interp), quantile))


def marching_cubes(grid: np.ndarray, level: float, resolution: int, box: float,
                   padded: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes on a density grid (inside = above level) -> world vertices, faces.

    Faces are wound so normals point outward (toward lower density).
    """
    import mcubes
    verts, faces = mcubes.marching_cubes(grid, float(level))
    if len(faces) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    o = 1.0 if padded else 0.0
    verts = (-box / 2 + (verts - o) * (box / resolution)).astype(np.float32)
    if padded:  # vertices on padding edges sit ~1e-5 voxel outside: put them on the box face
        np.clip(verts, -box / 2, box / 2, out=verts)
    return verts, faces.astype(np.int32)


def extract_surface(density_fn: DensityFn, resolution: int = 256, box: float = 1.0,
                    level: float = DEFAULT_LEVEL, coarse_to_fine: bool = True, factor: int = 4,
                    dilation: int = 0, batch: int = DEFAULT_BATCH, margin: float | str | None = "auto"
                    ) -> tuple[np.ndarray, np.ndarray, GridStats]:
    """Sample `density_fn` over [-box/2, box/2]^3 and run marching cubes at `level`.

    Returns (vertices (V,3) float32 world, faces (F,3) int32, stats). Coarse-to-fine
    needs `resolution` divisible by `factor`; otherwise the dense grid is used.
    """
    if not 8 <= resolution <= 1024:
        raise ValueError(f"resolution must be in 8..1024, got {resolution}")
    stats = GridStats(resolution, coarse_to_fine, dense_queries=(resolution + 1) ** 3)
    t0 = time.perf_counter()
    if coarse_to_fine and resolution % factor == 0 and resolution // factor >= 2:
        grid = sample_grid_coarse_to_fine(density_fn, resolution, box, level, factor, dilation, batch, stats,
                                          margin=margin)
    else:
        stats.coarse_to_fine = False
        grid = sample_grid_dense(density_fn, resolution, box, batch, stats)
    t1 = time.perf_counter()
    verts, faces = marching_cubes(grid, level, resolution, box)
    del grid
    stats.seconds_sampling = t1 - t0
    stats.seconds_marching = time.perf_counter() - t1
    return verts, faces, stats


# --- attributes -------------------------------------------------------------------
def _map_points(fn: Callable, verts: np.ndarray, batch: int) -> np.ndarray:
    outs = []
    with torch.no_grad():
        for s in range(0, len(verts), batch):
            x = torch.from_numpy(np.ascontiguousarray(verts[s:s + batch], dtype=np.float32))
            outs.append(torch.as_tensor(fn(x)).float().cpu().numpy())
    return np.concatenate(outs, 0) if outs else np.zeros((0,), np.float32)


def vertex_labels(label_fn: Callable, verts: np.ndarray, batch: int = DEFAULT_BATCH) -> np.ndarray:
    """argmax of label_fn's logits [N, C] (or its ids [N]) at the vertices -> uint8."""
    if len(verts) == 0:
        return np.zeros(0, np.uint8)
    out = _map_points(label_fn, verts, batch)
    if out.ndim == 2:
        out = out.argmax(1)
    return out.reshape(-1).astype(np.uint8)


def vertex_colors(color_fn: Callable, verts: np.ndarray, batch: int = DEFAULT_BATCH) -> np.ndarray:
    """color_fn's rgb in [0, 1] at the vertices -> uint8 (V, 3)."""
    if len(verts) == 0:
        return np.zeros((0, 3), np.uint8)
    rgb = _map_points(color_fn, verts, batch).reshape(len(verts), -1)[:, :3]
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit; zero for unreferenced vertices)."""
    if len(faces) == 0:
        return np.zeros_like(verts, dtype=np.float32)
    v = verts.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for c in range(3):
        np.add.at(n, faces[:, c], fn)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return (n / np.maximum(length, 1e-20)).astype(np.float32)


def face_labels(faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A face's class: the label two or three of its vertices share, else its first vertex's."""
    if len(faces) == 0:
        return np.zeros(0, np.uint8)
    l = labels[faces]
    out = l[:, 0].copy()
    same12 = l[:, 1] == l[:, 2]
    out[same12] = l[same12, 1]
    return out


# --- cleanup ----------------------------------------------------------------------
def remove_unreferenced(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop vertices no face uses -> (verts, faces, kept vertex indices)."""
    used = np.zeros(len(verts), bool)
    used[faces.reshape(-1)] = True
    keep = np.nonzero(used)[0]
    remap = np.full(len(verts), -1, np.int64)
    remap[keep] = np.arange(len(keep))
    return verts[keep], remap[faces].astype(np.int32), keep


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


# --- the whole pipeline -------------------------------------------------------------
def mesh_from_fields(density_fn: DensityFn, label_fn: Callable | None = None, color_fn: Callable | None = None,
                     resolution: int = 256, box: float = 1.0, level: float = DEFAULT_LEVEL,
                     coarse_to_fine: bool = True, smooth: int = 0, target_faces: int | None = None,
                     keep_components: float | None = None, largest_component: bool = True,
                     batch: int = DEFAULT_BATCH, factor: int = 4, dilation: int = 0,
                     margin: float | str | None = "auto") -> HeadMesh:
    """Extract, clean up and attribute a mesh from callbacks (see the module docstring).

    keep_components: None keeps only the largest component; a fraction keeps every
    component with at least that fraction of the largest's faces (needs largest_component).
    Missing label_fn gives label 1 (skin); missing color_fn gives mid grey.
    """
    t0 = time.perf_counter()
    verts, faces, stats = extract_surface(density_fn, resolution, box, level, coarse_to_fine, factor,
                                          dilation, batch, margin)
    t1 = time.perf_counter()
    raw_faces = len(faces)
    if largest_component and len(faces):
        verts, faces = keep_largest_components(verts, faces, keep_components)
    if smooth:
        verts = taubin_smooth(verts, faces, smooth)
    if target_faces is not None and len(faces) > target_faces:
        verts, faces = decimate(verts, faces, target_faces)
    t2 = time.perf_counter()
    labels = (vertex_labels(label_fn, verts, batch) if label_fn is not None
              else np.ones(len(verts), np.uint8))
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"label_fn returned class ids beyond {NUM_CLASSES - 1}")
    colors = (vertex_colors(color_fn, verts, batch) if color_fn is not None
              else np.full((len(verts), 3), 128, np.uint8))
    t3 = time.perf_counter()
    info = dataclasses.asdict(stats)
    info.update(level=float(level), box=float(box), raw_faces=raw_faces, seconds_extract=t1 - t0,
                seconds_cleanup=t2 - t1, seconds_attributes=t3 - t2, seconds_total=t3 - t0)
    return HeadMesh(verts, faces, vertex_normals(verts, faces), colors, labels, stats=info)


def generator_fields(G, ws: torch.Tensor, planes=None) -> tuple[Callable, Callable, Callable]:
    """(density_fn, label_fn, color_fn) of one latent (ws [1, 18, w]) of a TriPlaneGenerator."""
    if ws.ndim == 2:
        ws = ws[None]
    if ws.shape[0] != 1:
        raise ValueError("extract one head at a time: ws must be [1, num_ws, w_dim]")
    if planes is None:
        with torch.no_grad():
            planes = G.planes(ws)
    dec = G.decoder
    dtype, device = planes.semantic.dtype, planes.semantic.device

    def _pts(xyz):
        return xyz.to(device=device, dtype=dtype)[None]

    def density_fn(xyz):
        sigma, _ = dec.decode_semantic(planes.semantic, _pts(xyz))
        return sigma[0, :, 0]

    def label_fn(xyz):
        _, logits = dec.decode_semantic(planes.semantic, _pts(xyz))
        return logits[0]

    def color_fn(xyz):
        return dec.decode_texture(planes.texture, _pts(xyz))[0, :, :3]

    return density_fn, label_fn, color_fn


SURFACE_YAWS = (-0.6, 0.0, 0.6)


def rendered_surface_level(G, ws: torch.Tensor, planes=None, yaws=SURFACE_YAWS, resolution: int | None = None,
                           min_opacity: float = 0.95) -> float:
    """The density at which the rendered images see the surface: the median sigma at the
    expected ray-termination points (volume-rendered depth) of opaque pixels.

    A fixed level (EG3D's 10) suits a generator whose density has become sharp; a softer
    density (a model early in training) is seen where it starts to rise, and a fixed level
    would carve a mesh smaller than the rendered head. Meshing at this level puts the mesh
    where the renders put the surface. Falls back to DEFAULT_LEVEL when nothing is opaque."""
    from .camera import label_from_angles
    from .model.ray_sampler import sample_rays
    with torch.no_grad():
        if planes is None:
            planes = G.planes(ws)
        r = resolution or G.neural_resolution
        samples = []
        for yaw in yaws:
            c = torch.as_tensor(np.asarray(label_from_angles(float(yaw), 0.0), np.float32))[None].to(ws.device)
            out = G.synthesis(ws, c, neural_resolution=r, planes=planes, superres=False)
            o, d = sample_rays(c, r)
            opaque = out["opacity"].reshape(1, -1) > min_opacity
            if opaque.any():
                xyz = o[opaque] + out["depth"].reshape(1, -1)[opaque][:, None] * d[opaque]
                sigma, _ = G.decoder.decode_semantic(planes.semantic, xyz[None].to(planes.semantic.dtype))
                samples.append(sigma.reshape(-1))
    if not samples:
        return DEFAULT_LEVEL
    return float(torch.cat(samples).median())


def extract_head_mesh(G, ws: torch.Tensor, resolution: int = 256, level: float | None = DEFAULT_LEVEL,
                      coarse_to_fine: bool = True, smooth: int = 0, target_faces: int | None = None,
                      planes=None, keep_components: float | None = None, batch: int = DEFAULT_BATCH
                      ) -> HeadMesh:
    """The labelled, coloured head mesh of one latent, in the model frame
    (use `.to_blender_frame()` for Blender). Colours come from the texture decoder.
    `level=None` meshes at `rendered_surface_level` (where the renders see the surface)."""
    if planes is None:
        planes = G.planes(ws)
    if level is None:
        level = rendered_surface_level(G, ws, planes)
    density_fn, label_fn, color_fn = generator_fields(G, ws, planes)
    return mesh_from_fields(density_fn, label_fn, color_fn, resolution, G.cfg.render.box_warp, level,
                            coarse_to_fine, smooth, target_faces, keep_components, batch=batch)


# --- analytic / SDF helpers (tests, benchmarks, SynthHeads) -------------------------
def sdf_to_density(sdf_fn: Callable, peak: float = 50.0, sharpness: float = 200.0) -> DensityFn:
    """density = peak * sigmoid(-sharpness * sdf): negative distance (inside) -> dense.

    The `level` iso-surface of it is the sdf iso-surface at
    sdf = log(peak / level - 1) / sharpness (0 when level = peak / 2)."""
    def density_fn(xyz):
        d = sdf_fn(xyz)
        if isinstance(d, tuple):
            d = d[0]
        return peak * torch.sigmoid(-sharpness * torch.as_tensor(d).float())
    return density_fn


def sphere_density(radius: float = 0.3, peak: float = 20.0, sharpness: float = 100.0,
                   center=(0.0, 0.0, 0.0)) -> DensityFn:
    """A smooth ball: sigma = peak * sigmoid(sharpness * (radius - |x - center|));
    its peak/2 level set is exactly the sphere of `radius`."""
    c = torch.tensor(center, dtype=torch.float32)
    return lambda xyz: peak * torch.sigmoid(sharpness * (radius - (xyz.float() - c).norm(dim=-1)))


# --- colour baking from rendered views ------------------------------------------------
DEFAULT_BAKE_YAWS = (-1.0, -0.5, 0.0, 0.5, 1.0)


def _sample_map(img: np.ndarray, uv: np.ndarray, mode: str) -> np.ndarray:
    """Sample an (H, W[, C]) map at uv in [0,1] image units (pixel centres at (i+0.5)/W).
    mode 'bilinear', or 'min4' / 'max4' (the smallest / largest of the 4 neighbours)."""
    h, w = img.shape[:2]
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1)
    y = np.clip(uv[:, 1] * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    if mode in ("min4", "max4"):
        f = np.minimum if mode == "min4" else np.maximum
        return f(f(img[y0, x0], img[y0, x1]), f(img[y1, x0], img[y1, x1]))
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    im = img.reshape(h, w, -1).astype(np.float64)
    out = (im[y0, x0] * (1 - fx) * (1 - fy) + im[y0, x1] * fx * (1 - fy)
           + im[y1, x0] * (1 - fx) * fy + im[y1, x1] * fx * fy)
    return out


def bake_colors_from_views(vertices: np.ndarray, normals: np.ndarray, views: list[dict],
                           depth_tolerance: float = 0.015, min_cos: float = 0.1
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex colour from rendered views: each vertex takes the colour of the view
    that sees it most frontally (largest cos between its normal and the direction to the
    camera) among the views where it is inside the image and not occluded.

    views: dicts with `label` (25,), `rgb` (H, W, 3) uint8 or float in [0, 1], and `depth`
    (h, w): distance along the unit ray from the camera centre (+inf = background); the
    two maps may have different resolutions. A vertex counts as seen by a view when the
    4 depth pixels around it all lie within `depth_tolerance` of its distance to the
    camera: nothing in front of it (occlusion) and no background or farther surface
    blended into its colour sample (silhouettes, occluding edges).
    Returns (colors (V, 3) uint8, view index (V,) int, -1 where no view sees the vertex).
    """
    from .camera import project, split_label
    v = np.asarray(vertices, np.float64)
    n = np.asarray(normals, np.float64)
    best = np.full(len(v), -np.inf)
    choice = np.full(len(v), -1, np.int64)
    colors = np.zeros((len(v), 3))
    for i, view in enumerate(views):
        cam2world, _ = split_label(view["label"])
        origin = cam2world[:3, 3]
        uv, _ = project(view["label"], v)
        to_cam = origin - v
        dist = np.linalg.norm(to_cam, axis=1)
        cos = np.sum(n * to_cam, 1) / np.maximum(dist, 1e-12)
        inside = (uv >= 0).all(1) & (uv <= 1).all(1) & np.isfinite(uv).all(1)
        depth = np.asarray(view["depth"], np.float64).reshape(np.shape(view["depth"])[-2:])
        d_min = np.full(len(v), -np.inf)
        d_max = np.full(len(v), np.inf)
        d_min[inside] = _sample_map(depth, uv[inside], "min4")
        d_max[inside] = _sample_map(depth, uv[inside], "max4")
        visible = (inside & (d_min >= dist - depth_tolerance) & (d_max <= dist + depth_tolerance)
                   & (cos > min_cos))
        better = visible & (cos > best)
        if better.any():
            rgb = np.asarray(view["rgb"])
            scale = 255.0 if rgb.dtype != np.uint8 else 1.0
            colors[better] = _sample_map(rgb, uv[better], "bilinear")[:, :3] * scale
            best[better] = cos[better]
            choice[better] = i
    return np.clip(np.round(colors), 0, 255).astype(np.uint8), choice


def generator_views(G, ws: torch.Tensor, yaws=DEFAULT_BAKE_YAWS, pitch: float = 0.0, planes=None,
                    neural_resolution: int | None = None, superres: bool = True) -> list[dict]:
    """Render views of one latent for `bake_colors_from_views`: the super-resolved image
    (or the raw neural image) as rgb and the volume-rendered depth."""
    from .camera import label_from_angles
    views = []
    with torch.no_grad():
        if planes is None:
            planes = G.planes(ws)
        for yaw in yaws:
            label = label_from_angles(float(yaw), float(pitch))
            c = torch.as_tensor(np.asarray(label, np.float32))[None].to(ws.device)
            out = G.synthesis(ws, c, neural_resolution=neural_resolution, planes=planes, superres=superres)
            img = out["image"] if superres else out["image_raw"]
            rgb = ((img[0].permute(1, 2, 0).clamp(-1, 1) + 1) / 2).cpu().numpy()
            views.append({"label": label, "rgb": rgb, "depth": out["depth"][0, 0].cpu().numpy()})
    return views


def bake_head_colors(G, ws: torch.Tensor, hm: HeadMesh, yaws=DEFAULT_BAKE_YAWS, planes=None,
                     **view_kwargs) -> HeadMesh:
    """A copy of a model-frame head mesh with colours baked from rendered views;
    vertices no view sees keep their decoder colours."""
    hm._require_frame("model")
    views = generator_views(G, ws, yaws, planes=planes, **view_kwargs)
    baked, choice = bake_colors_from_views(hm.vertices, hm.normals, views)
    out = hm.copy()
    seen = choice >= 0
    out.colors[seen] = baked[seen]
    out.stats["baked_fraction"] = float(seen.mean()) if len(seen) else 0.0
    return out


# --- quick previews (docs, sanity checks) -----------------------------------------------
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
