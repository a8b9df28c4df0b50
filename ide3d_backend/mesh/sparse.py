"""Coarse to fine without the full fine grid (docs/mesh.md "Sparse blocks"): the fine
grid is cut into blocks of `block`^3 cells and only blocks near marked coarse cells are
built (trilinear fill + exact samples, as `sample_grid_coarse_to_fine` fills them) and
marched; the blocks' triangles are welded. Every other block holds no surface: its cells
are unmarked coarse cells filled with a one-sided interpolant, away from any exact sample.

The grid values and so the triangles are those of `sample_grid_coarse_to_fine` +
`marching_cubes` (up to float rounding of the interpolation weights); at 512^3 it skips
most of the ~135 M-sample grid, its interpolation and its marching.
"""
from __future__ import annotations

import numpy as np

from .extraction import PAD_VALUE, GridStats, _Sampler, coarse_cells, estimate_margin, grid_coordinates, \
    sample_grid_dense
from .fields import DEFAULT_BATCH, DensityFn

DEFAULT_BLOCK = 32  # fine cells per block edge (a multiple of the coarse factor)


def _block_origins(resolution: int, block: int, cells: np.ndarray, coarse: np.ndarray, level: float,
                   factor: int) -> list[tuple[int, int, int]]:
    """Fine-sample origins of the blocks that may hold surface: near a marked coarse cell
    (dilated by one: exact samples on a marked cell's faces reach the neighbours' cells),
    or on the box boundary where the coarse samples there reach the level (the padding
    closes the surface on the box face)."""
    from scipy.ndimage import binary_dilation
    near = binary_dilation(cells, np.ones((3, 3, 3), bool)) if cells.any() else cells
    cb = block // factor  # coarse cells per block edge
    nb = -(-resolution // block)
    rc = cells.shape[0]
    out = []
    for bx in range(nb):
        for by in range(nb):
            for bz in range(nb):
                sl = tuple(slice(b * cb, min((b + 1) * cb, rc)) for b in (bx, by, bz))
                hit = near[sl].any()
                if not hit and (0 in (bx, by, bz) or nb - 1 in (bx, by, bz)):
                    csl = tuple(slice(s.start, s.stop + 1) for s in sl)
                    hit = coarse[csl].max() >= level
                if hit:
                    out.append((bx * block, by * block, bz * block))
    return out


def _lerp_axis(a: np.ndarray, axis: int, n: int, factor: int) -> np.ndarray:
    """Linear upsampling of `a` along `axis` to n = (m - 1) * factor + 1 samples (exact at
    the coarse samples); numpy, so small blocks pay no thread start-up."""
    i = np.arange(n)
    c0 = np.minimum(i // factor, a.shape[axis] - 2) if a.shape[axis] > 1 else np.zeros(n, np.int64)
    w = ((i - c0 * factor) / factor).astype(np.float32)
    shape = [1, 1, 1]
    shape[axis] = n
    w = w.reshape(shape)
    lo = np.take(a, c0, axis)
    hi = np.take(a, np.minimum(c0 + 1, a.shape[axis] - 1), axis)
    return lo + (hi - lo) * w


class _Block:
    """One fine block: its sample ranges, the exact samples it needs, then its values."""

    def __init__(self, origin, resolution: int, block: int, factor: int, cells: np.ndarray):
        rc = cells.shape[0]
        self.ranges = [(o, min(o + block, resolution)) for o in origin]
        size = tuple(b - a + 1 for a, b in self.ranges)
        idx = [np.arange(a, b + 1) for a, b in self.ranges]
        lo = [np.clip((i - 1) // factor, 0, rc - 1) for i in idx]
        hi = [np.clip(i // factor, 0, rc - 1) for i in idx]
        # a sample is exact when a marked cell holds it: OR over its (lo|hi)^3 cells, axis by axis
        c0 = [int(min(a.min(), b.min())) for a, b in zip(lo, hi)]
        c1 = [int(max(a.max(), b.max())) + 1 for a, b in zip(lo, hi)]
        need = cells[c0[0]:c1[0], c0[1]:c1[1], c0[2]:c1[2]]
        for axis in range(3):
            need = np.take(need, lo[axis] - c0[axis], axis) | np.take(need, hi[axis] - c0[axis], axis)
        self.local = np.nonzero(need)  # exact samples, block-local indices
        self.size = size

    def global_indices(self):
        return tuple(ix + a for ix, (a, _) in zip(self.local, self.ranges))

    def values(self, coarse: np.ndarray, exact: np.ndarray, resolution: int, factor: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """(padded sub-grid, its origin in padded grid indices)."""
        (x0, x1), (y0, y1), (z0, z1) = self.ranges
        vals = coarse[x0 // factor:x1 // factor + 1, y0 // factor:y1 // factor + 1, z0 // factor:z1 // factor + 1]
        for axis, n in enumerate(self.size):
            vals = _lerp_axis(vals, axis, n, factor)
        vals = np.ascontiguousarray(vals, np.float32)
        if len(exact):
            vals[self.local] = exact
        # the padding ring of the full grid, where the block touches the box
        pads = [(1 if a == 0 else 0, 1 if b == resolution else 0) for a, b in self.ranges]
        if any(p for pair in pads for p in pair):
            vals = np.pad(vals, pads, constant_values=PAD_VALUE)
        origin = np.array([a + 1 - p[0] for (a, _), p in zip(self.ranges, pads)], np.float64)
        return vals, origin


def extract_surface_sparse(density_fn: DensityFn, resolution: int, box: float, level: float, factor: int = 4,
                           block: int = DEFAULT_BLOCK, batch: int = DEFAULT_BATCH,
                           margin: float | str | None = "auto", stats: GridStats | None = None,
                           lattice: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Coarse-to-fine marching cubes block by block -> (world vertices float32, faces int32)."""
    import mcubes
    if resolution % factor or block % factor:
        raise ValueError(f"resolution {resolution} and block {block} must be multiples of the factor {factor}")
    rc = resolution // factor
    coarse = sample_grid_dense(density_fn, rc, box, batch, stats, pad=False, lattice=lattice)
    if margin == "auto":
        margin = estimate_margin(density_fn, coarse, box, batch, stats)
    margin = float(margin or 0.0)
    cells = coarse_cells(coarse, level, margin)
    if stats is not None:
        stats.margin, stats.active_cells = margin, int(cells.sum())
    sample = _Sampler(density_fn, grid_coordinates(resolution, box), batch, stats, lattice)
    blocks = [_Block(o, resolution, block, factor, cells)
              for o in _block_origins(resolution, block, cells, coarse, level, factor)]
    # every block's exact samples in one call: big batches (samples on shared block faces twice)
    parts = [b.global_indices() for b in blocks]
    counts = [len(p[0]) for p in parts]
    exact = (sample(*(np.concatenate([p[a] for p in parts]) for a in range(3))) if sum(counts)
             else np.zeros(0, np.float32))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    verts, faces, offset = [], [], 0
    for i, blk in enumerate(blocks):
        vals, org = blk.values(coarse, exact[bounds[i]:bounds[i + 1]], resolution, factor)
        if not (vals.max() >= level and vals.min() < level):
            continue
        v, f = mcubes.marching_cubes(vals, float(level))
        if len(f):
            verts.append(v + org)
            faces.append(f.astype(np.int64) + offset)
            offset += len(v)
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    v, f = weld_padded(np.concatenate(verts), np.concatenate(faces), block)
    v = np.clip(-box / 2 + (v - 1.0) * (box / resolution), -box / 2, box / 2).astype(np.float32)
    return v, f.astype(np.int32)


SNAP = 1e-6  # voxels: a coordinate this close to an integer is on a grid sample


def weld_padded(verts: np.ndarray, faces: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge the vertices two blocks both made (blocks' boundaries at padded index
    1 + k * block). Neighbouring blocks may compute a shared sample with different float
    rounding, so vertices are matched by the grid edge they lie on (the integer parts of
    their coordinates and which one is fractional), not by exact position."""
    if len(verts) == 0:
        return verts, faces
    on_plane = (np.abs(np.mod(verts - 1.0 + SNAP, block) - SNAP) <= SNAP).any(1)
    cand = np.nonzero(on_plane)[0]
    remap = np.arange(len(verts))
    if len(cand):
        v = verts[cand]
        r = np.round(v)
        snapped = np.where(np.abs(v - r) <= SNAP, r, v)
        base = np.floor(snapped).astype(np.int64)
        frac_axis = np.where(snapped != base, np.arange(3)[None], 3).min(1)  # 3: on a grid sample
        span = int(base.max()) + 2  # one int64 per (edge base, axis): a 1D unique is far quicker than rows
        key = ((base[:, 0] * span + base[:, 1]) * span + base[:, 2]) * 4 + frac_axis
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        remap[cand] = cand[first][inverse.reshape(-1)]
    used, new_index = np.unique(remap, return_inverse=True)
    return verts[used], new_index.reshape(-1)[faces]
