"""From a density callback to a triangle surface: grid sampling (dense, or coarse to
fine near the surface) and marching cubes (docs/mesh.md).

Grid convention: `resolution` R is the number of cells per axis over the cube
[-box/2, box/2]^3; samples sit on the R+1 cell corners, so one voxel is box/R
and sample i is at -box/2 + i * box/R. The grid is padded by one sample of
"far outside" on every side before marching cubes, so a surface that touches
the box is closed on the box face instead of left open.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .fields import DEFAULT_BATCH, DensityFn, evaluate_points

DEFAULT_LEVEL = 10.0  # EG3D's density threshold
PAD_VALUE = -1.0e4  # "far outside": the surface closes at the last real sample


@dataclass
class GridStats:
    resolution: int
    coarse_to_fine: bool
    queries: int = 0          # points sent to density_fn
    dense_queries: int = 0    # what a dense grid would have sent
    active_cells: int = 0     # coarse cells refined at full resolution
    margin: float = 0.0       # level band widening the coarse cell test
    seconds_sampling: float = 0.0
    lattice: bool = False     # sampled through the field's lattice tables (lattice.py)
    sparse: bool = False      # built and marched block by block near the surface (sparse.py)
    seconds_marching: float = 0.0


def grid_coordinates(resolution: int, box: float) -> np.ndarray:
    """The R+1 sample positions along one axis."""
    return (-box / 2 + np.arange(resolution + 1, dtype=np.float64) * (box / resolution)).astype(np.float32)


def _query(density_fn: DensityFn, pts: np.ndarray, batch: int, stats: GridStats | None) -> np.ndarray:
    # flattened per batch: a density of shape [N, 1] or [1, N] reads as [N]
    out = evaluate_points(lambda x: torch.as_tensor(density_fn(x)).reshape(-1), pts, batch)
    if stats is not None:
        stats.queries += len(pts)
    return out


def _points(axis: np.ndarray, ii: np.ndarray, jj: np.ndarray, kk: np.ndarray) -> np.ndarray:
    return np.stack([axis[ii], axis[jj], axis[kk]], -1)


class _Sampler:
    """density_fn at lattice indices (ii, jj, kk) of one axis: through the field's lattice
    tables when it offers them (`density_fn.lattice`, lattice.py) and `lattice` is on,
    else at the points."""

    def __init__(self, density_fn: DensityFn, axis: np.ndarray, batch: int, stats: GridStats | None,
                 lattice: bool = True):
        self.density_fn, self.axis, self.batch, self.stats = density_fn, axis, batch, stats
        make = getattr(density_fn, "lattice", None) if lattice else None
        self.fast = make(axis) if make is not None else None

    def __call__(self, ii: np.ndarray, jj: np.ndarray, kk: np.ndarray) -> np.ndarray:
        if self.fast is None:
            return _query(self.density_fn, _points(self.axis, ii, jj, kk), self.batch, self.stats)
        if self.stats is not None:
            self.stats.queries += len(ii)
            self.stats.lattice = True
        return self.fast(ii, jj, kk)


def sample_grid_dense(density_fn: DensityFn, resolution: int, box: float, batch: int = DEFAULT_BATCH,
                      stats: GridStats | None = None, pad: bool = True, lattice: bool = True) -> np.ndarray:
    """float32 grid [R+1]^3 (padded to [R+3]^3 when `pad`) of density samples, x-major."""
    n = resolution + 1
    axis = grid_coordinates(resolution, box)
    sample = _Sampler(density_fn, axis, batch, stats, lattice)
    o = 1 if pad else 0
    grid = np.full((n + 2 * o,) * 3, PAD_VALUE, dtype=np.float32)
    jj, kk = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    jj, kk = jj.reshape(-1), kk.reshape(-1)
    slab = max(1, batch // (n * n))
    for i0 in range(0, n, slab):
        i1 = min(n, i0 + slab)
        ii = np.repeat(np.arange(i0, i1), n * n)
        vals = sample(ii, np.tile(jj, i1 - i0), np.tile(kk, i1 - i0))
        grid[o + i0:o + i1, o:o + n, o:o + n] = vals.reshape(i1 - i0, n, n)
    return grid


def coarse_cells(coarse: np.ndarray, level: float, margin: float) -> np.ndarray:
    """Coarse cells that may hold the surface: some corner reaches level - margin and some
    corner stays below level + margin (margin 0: the corners straddle the level)."""
    rc = coarse.shape[0] - 1
    above = coarse >= level - margin
    below = coarse <= level + margin
    any_in = np.zeros((rc,) * 3, bool)
    any_out = np.zeros((rc,) * 3, bool)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                any_in |= above[di:di + rc, dj:dj + rc, dk:dk + rc]
                any_out |= below[di:di + rc, dj:dj + rc, dk:dk + rc]
    return any_in & any_out


def sample_grid_coarse_to_fine(density_fn: DensityFn, resolution: int, box: float, level: float,
                               factor: int = 4, dilation: int = 0, batch: int = DEFAULT_BATCH,
                               stats: GridStats | None = None, pad: bool = True,
                               margin: float | str | None = "auto", lattice: bool = True) -> np.ndarray:
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
    coarse = sample_grid_dense(density_fn, rc, box, batch, stats, pad=False, lattice=lattice)
    if margin == "auto":
        margin = estimate_margin(density_fn, coarse, box, batch, stats)
    margin = float(margin or 0.0)
    if stats is not None:
        stats.margin = margin
    cells = coarse_cells(coarse, level, margin)
    if dilation > 0 and cells.any():
        from scipy.ndimage import binary_dilation
        cells = binary_dilation(cells, np.ones((3, 3, 3), bool), iterations=dilation)
    if stats is not None:
        stats.active_cells = int(cells.sum())

    grid = np.full((n + 2 * o,) * 3, PAD_VALUE, dtype=np.float32)
    axis = grid_coordinates(resolution, box)
    sample = _Sampler(density_fn, axis, batch, stats, lattice)
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
            vals = sample(ii, jj, kk)
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
