"""Live coarse meshes (mesh/live.py): the block-wise incremental surface against marching
cubes of the whole grid, before and after a local change of the field."""
import numpy as np
import torch

from ide3d_backend import mesh as M
from ide3d_backend.mesh.extraction import sample_grid_dense
from ide3d_backend.mesh.live import IncrementalSurface, LiveMesher


def _ball(center, radius=0.3):
    return M.sphere_density(radius, 20.0, 60.0, center)


def _bump(xyz):
    """The ball plus a small bump near (0.3, 0, 0): a field that changes only locally."""
    base = _ball((0.0, 0.0, 0.0))(xyz)
    bump = 20.0 * torch.sigmoid(60.0 * (0.08 - (xyz.float() - torch.tensor([0.3, 0.0, 0.0])).norm(dim=-1)))
    return torch.maximum(base, bump)


def _triangles(verts, faces):
    """A mesh as a set of triangles (sorted vertex coordinate triples, rounded to 1e-6 voxel)."""
    t = np.round(np.asarray(verts, np.float64)[faces] * 1e6).astype(np.int64)
    rows = [tuple(sorted(map(tuple, tri))) for tri in t]
    return set(rows), len(rows)


def _reference(grid, level):
    import mcubes
    v, f = mcubes.marching_cubes(grid, level)
    return v, f


def test_incremental_surface_equals_a_from_scratch_extraction():
    level, res = 10.0, 40
    g1 = sample_grid_dense(_ball((0.0, 0.0, 0.0)), res, 1.0)
    g2 = sample_grid_dense(_bump, res, 1.0)
    inc = IncrementalSurface(level, block=8)
    for g in (g1, g2, g1):
        v, f = inc.update(g)
        ref_set, ref_n = _triangles(*_reference(g, level))
        got_set, got_n = _triangles(v, f)
        assert got_n == ref_n and got_set == ref_set
        # welded: as many vertices as marching cubes shares over the whole grid
        assert len(v) == len(_reference(g, level)[0])
    # the bump changes the field near x = +0.3 only: far blocks were kept, not re-marched
    inc2 = IncrementalSurface(level, block=8)
    inc2.update(g1)
    inc2.update(g2)
    changed = int(sum(1 for o, sl in inc2._blocks(g1.shape) if not np.array_equal(g1[sl], g2[sl])))
    assert 0 < inc2.remarched == changed < len(inc2.parts)


def test_tolerant_update_keeps_blocks_whose_samples_barely_moved():
    level, res = 10.0, 32
    g1 = sample_grid_dense(_ball((0.0, 0.0, 0.0)), res, 1.0)
    inc = IncrementalSurface(level, block=8, tolerance=1e-3)
    inc.update(g1)
    v, f = inc.update(g1 + 1e-4)  # moved less than the tolerance everywhere: nothing re-marched
    assert inc.remarched == 0
    assert _triangles(v, f)[0] == _triangles(*_reference(g1, level))[0]
    inc.update(g1 + 0.5)  # beyond it: everything with a surface is re-marched
    assert inc.remarched > 0


def test_live_mesher_follows_the_field_and_matches_the_pipeline():
    res = 48
    live = LiveMesher(res, 1.0, 10.0)
    for center in ((0.0, 0.0, 0.0), (0.05, 0.0, 0.0)):
        hm = live.mesh(_ball(center))
        ref = M.mesh_from_fields(_ball(center), resolution=res, level=10.0)
        assert len(hm.faces) == len(ref.faces)
        d = np.linalg.norm(hm.vertices - np.asarray(center), axis=1)
        assert np.abs(d - 0.3).max() < 1.0 / res  # on the sphere (the analytic answer) within a voxel
    assert hm.stats["blocks_remarched"] > 0
