"""The front door from a density callback to a surface: `extract_surface` picks the
sampler (dense grid, coarse to fine over the whole fine grid (extraction.py), or coarse
to fine block by block near the surface (sparse.py)) and runs marching cubes."""
from __future__ import annotations

import time

import numpy as np

from .extraction import (DEFAULT_LEVEL, GridStats, marching_cubes, sample_grid_coarse_to_fine,
                         sample_grid_dense)
from .fields import DEFAULT_BATCH, DensityFn
from .sparse import DEFAULT_BLOCK, extract_surface_sparse


def extract_surface(density_fn: DensityFn, resolution: int = 256, box: float = 1.0,
                    level: float = DEFAULT_LEVEL, coarse_to_fine: bool = True, factor: int = 4,
                    dilation: int = 0, batch: int = DEFAULT_BATCH, margin: float | str | None = "auto",
                    lattice: bool = True, sparse: bool = True) -> tuple[np.ndarray, np.ndarray, GridStats]:
    """Sample `density_fn` over [-box/2, box/2]^3 and run marching cubes at `level`.

    Returns (vertices (V,3) float32 world, faces (F,3) int32, stats). Coarse-to-fine
    needs `resolution` divisible by `factor`; otherwise the dense grid is used. `lattice`
    lets a field with lattice tables (a generator's, lattice.py) skip per-point sampling;
    `sparse` builds and marches only the fine blocks near the surface (sparse.py) instead
    of the whole fine grid.
    """
    if not 8 <= resolution <= 1024:
        raise ValueError(f"resolution must be in 8..1024, got {resolution}")
    stats = GridStats(resolution, coarse_to_fine, dense_queries=(resolution + 1) ** 3)
    t0 = time.perf_counter()
    c2f = coarse_to_fine and resolution % factor == 0 and resolution // factor >= 2
    if c2f and sparse and dilation == 0:
        block = DEFAULT_BLOCK if DEFAULT_BLOCK % factor == 0 else factor * 8
        verts, faces = extract_surface_sparse(density_fn, resolution, box, level, factor, block, batch, margin,
                                              stats, lattice)
        stats.sparse = True
        stats.seconds_sampling = time.perf_counter() - t0  # sampling and marching interleave per block
        return verts, faces, stats
    if c2f:
        grid = sample_grid_coarse_to_fine(density_fn, resolution, box, level, factor, dilation, batch, stats,
                                          margin=margin, lattice=lattice)
    else:
        stats.coarse_to_fine = False
        grid = sample_grid_dense(density_fn, resolution, box, batch, stats, lattice=lattice)
    t1 = time.perf_counter()
    verts, faces = marching_cubes(grid, level, resolution, box)
    del grid
    stats.seconds_sampling = t1 - t0
    stats.seconds_marching = time.perf_counter() - t1
    return verts, faces, stats
