"""Coarse meshes while the user paints (docs/mesh.md "Live meshes"): the grid is cut into
blocks, each block's marching-cubes triangles are kept, and a new field re-marches only
the blocks whose samples changed (by more than `tolerance`); the kept and new triangles
are welded into one mesh.

With tolerance 0 the result is the marching cubes of the whole new grid (the same
triangles; tests/test_mesh_live.py). A positive tolerance keeps a block's old triangles
while its samples moved less than that: the live preview's approximation, replaced by
the full mesh once the user stops.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .attributes import vertex_colors, vertex_labels, vertex_normals
from .cleanup import keep_largest_components
from .extraction import GridStats, sample_grid_coarse_to_fine
from .head_mesh import HeadMesh

DEFAULT_BLOCK = 16  # cells per block edge


def _march(sub: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    import mcubes
    if not (sub.max() >= level and sub.min() < level):  # all on one side: no surface
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    v, f = mcubes.marching_cubes(sub, float(level))
    return v, f.astype(np.int64)


def weld(verts: np.ndarray, faces: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices repeated by neighbouring blocks (identical positions; they can only lie
    on a block boundary plane, so only those are compared)."""
    if len(verts) == 0:
        return verts, faces
    on_plane = (np.mod(verts, block) == 0).any(1)
    cand = np.nonzero(on_plane)[0]
    remap = np.arange(len(verts))
    if len(cand):
        _, first, inverse = np.unique(verts[cand], axis=0, return_index=True, return_inverse=True)
        remap[cand] = cand[first][inverse.reshape(-1)]
    used, new_index = np.unique(remap, return_inverse=True)
    return verts[used], new_index[faces]


@dataclass
class IncrementalSurface:
    """Marching cubes of a padded density grid, kept per block of `block`^3 cells."""
    level: float
    block: int = DEFAULT_BLOCK
    tolerance: float = 0.0
    grid: np.ndarray | None = None
    parts: dict = field(default_factory=dict)   # block origin -> (verts in grid index units, faces)
    remarched: int = 0                          # blocks re-marched by the last update

    def _blocks(self, shape):
        b = self.block
        for x in range(0, shape[0] - 1, b):
            for y in range(0, shape[1] - 1, b):
                for z in range(0, shape[2] - 1, b):
                    yield (x, y, z), (slice(x, min(x + b, shape[0] - 1) + 1), slice(y, min(y + b, shape[1] - 1) + 1),
                                      slice(z, min(z + b, shape[2] - 1) + 1))

    def update(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The surface of `grid` -> (vertices in grid index units (float64), faces int64)."""
        old = self.grid if self.grid is not None and self.grid.shape == grid.shape else None
        if old is None:
            self.parts = {}
        self.remarched = 0
        for origin, sl in self._blocks(grid.shape):
            sub = grid[sl]
            if old is not None and origin in self.parts:
                prev = old[sl]
                same = (np.array_equal(sub, prev) if self.tolerance <= 0
                        else float(np.abs(sub - prev).max()) <= self.tolerance)
                if same:
                    continue
            v, f = _march(sub, self.level)
            self.parts[origin] = (v + np.asarray(origin, np.float64), f)
            self.remarched += 1
        # keep the grid the kept triangles describe: unchanged blocks keep their old samples
        if old is None or self.tolerance <= 0:
            self.grid = grid.copy()
        else:  # kept blocks keep their old samples, re-marched blocks take the new ones
            self.grid = self._merged(old, grid)
        verts, faces, offset = [], [], 0
        for origin in sorted(self.parts):
            v, f = self.parts[origin]
            if len(f):
                verts.append(v)
                faces.append(f + offset)
                offset += len(v)
        if not verts:
            return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
        return weld(np.concatenate(verts), np.concatenate(faces), self.block)

    def _merged(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """The reference grid after a tolerant update: a block's samples are replaced when
        they moved beyond the tolerance, so slow drift is caught once it adds up."""
        out = old.copy()
        for _, sl in self._blocks(new.shape):
            if float(np.abs(new[sl] - old[sl]).max()) > self.tolerance:
                out[sl] = new[sl]
        return out


class LiveMesher:
    """Coarse labelled, coloured meshes of successive fields of one head at a fixed level
    (the level of the head when painting started), re-marching only changed blocks. The
    coarse-to-fine margin is estimated on the first field and kept (the probes cost more
    than the rest of a coarse grid's sampling)."""

    def __init__(self, resolution: int, box: float, level: float, tolerance: float = 0.0,
                 block: int = DEFAULT_BLOCK, factor: int = 4):
        self.resolution, self.box, self.level, self.factor = int(resolution), float(box), float(level), factor
        self.surface = IncrementalSurface(float(level), block, tolerance)
        self.margin: float | None = None

    def mesh(self, density_fn, label_fn=None, color_fn=None) -> HeadMesh:
        t0 = time.perf_counter()
        r, box = self.resolution, self.box
        gs = GridStats(r, True)
        grid = sample_grid_coarse_to_fine(density_fn, r, box, self.level, self.factor, stats=gs,
                                          margin="auto" if self.margin is None else self.margin)
        self.margin = gs.margin
        t1 = time.perf_counter()
        verts, faces = self.surface.update(grid)
        t2 = time.perf_counter()
        verts = np.clip(-box / 2 + (verts - 1.0) * (box / r), -box / 2, box / 2).astype(np.float32)
        faces = faces.astype(np.int32)
        if len(faces):
            verts, faces = keep_largest_components(verts, faces)
        labels = vertex_labels(label_fn, verts) if label_fn is not None else np.ones(len(verts), np.uint8)
        colors = (vertex_colors(color_fn, verts) if color_fn is not None
                  else np.full((len(verts), 3), 128, np.uint8))
        t3 = time.perf_counter()
        stats = {"resolution": r, "level": self.level, "blocks_remarched": self.surface.remarched,
                 "blocks": len(self.surface.parts), "seconds_sampling": t1 - t0, "seconds_marching": t2 - t1,
                 "seconds_attributes": t3 - t2, "seconds_total": t3 - t0}
        return HeadMesh(verts, faces, vertex_normals(verts, faces), colors, labels, stats=stats)
