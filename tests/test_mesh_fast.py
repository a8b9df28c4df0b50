"""The fast mesh paths against the reference: lattice tables (mesh/lattice.py) against
per-point tri-plane sampling, on a generator's field."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from ide3d_backend import mesh as M
from ide3d_backend.mesh.extraction import grid_coordinates
from ide3d_backend.mesh.lattice import semantic_lattice


@pytest.fixture(scope="module")
def head(one_torch_thread):
    from ide3d_backend.api import build_generator
    G = build_generator("tiny", seed=0).eval()
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)),
                       torch.zeros(1, G.c_dim))
        planes = G.planes(ws)
        density, _, _ = M.generator_fields(G, ws, planes)
        level = float(np.percentile(density(torch.rand(20000, 3) - 0.5).numpy(), 90))
    return G, ws, planes, density, level


def test_lattice_sigma_equals_the_decoder_at_grid_points(head):
    G, ws, planes, density, _ = head
    axis = grid_coordinates(40, G.cfg.render.box_warp)
    fast = semantic_lattice(G.decoder, planes.semantic, axis)
    assert fast is not None
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(axis), (5000, 3))
    pts = torch.from_numpy(np.stack([axis[idx[:, 0]], axis[idx[:, 1]], axis[idx[:, 2]]], -1))
    with torch.no_grad():
        ref = density(pts).numpy()
    got = fast(idx[:, 0], idx[:, 1], idx[:, 2])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_lattice_refuses_a_decoder_it_does_not_reproduce(head):
    G, _, planes, density, _ = head
    axis = grid_coordinates(16, G.cfg.render.box_warp)
    wrong = lambda xyz: density(xyz) + 0.5  # noqa: E731 - a field the tables do not describe
    assert semantic_lattice(G.decoder, planes.semantic, axis, reference=wrong) is None
    assert semantic_lattice(G.decoder, planes.semantic, axis, reference=density) is not None


def test_fast_mesh_matches_the_reference_mesh(head):
    """Tolerance: vertices within 1e-3 voxel of the reference surface (Chamfer), the same
    face count within 0.1 %, and the same label at >= 99.9 % of nearest-vertex pairs."""
    G, ws, planes, _, level = head
    res = 64
    fast = M.extract_head_mesh(G, ws, resolution=res, level=level, planes=planes)
    ref = M.extract_head_mesh(G, ws, resolution=res, level=level, planes=planes, lattice=False)
    assert fast.stats["lattice"] and not ref.stats["lattice"]
    assert len(ref.faces) > 500
    assert abs(len(fast.faces) - len(ref.faces)) <= max(2, 0.001 * len(ref.faces))
    d_fr, i_fr = cKDTree(ref.vertices).query(fast.vertices)
    d_rf, _ = cKDTree(fast.vertices).query(ref.vertices)
    voxel = G.cfg.render.box_warp / res
    assert (d_fr.mean() + d_rf.mean()) / 2 < 1e-3 * voxel
    assert (fast.labels == ref.labels[i_fr]).mean() >= 0.999


def _edges_shared_twice(faces: np.ndarray) -> bool:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return bool((counts == 2).all())


def test_sparse_blocks_give_the_whole_grid_surface_welded():
    """Blocks of 8 cells over a 64^3 grid: the same triangles as the full-grid path, and
    a closed ball stays closed (every edge in two faces: no cracks at block seams)."""
    from ide3d_backend.mesh.sparse import extract_surface_sparse
    ball = M.sphere_density(0.3, 20.0, 60.0, (0.03, -0.02, 0.01))
    for res in (64, 96):
        v_ref, f_ref, _ = M.extract_surface(ball, res, 1.0, 10.0, sparse=False)
        v, f = extract_surface_sparse(ball, res, 1.0, 10.0, block=8)
        assert len(f) == len(f_ref) and len(v) == len(v_ref)
        d, _ = cKDTree(v_ref).query(v)
        assert d.max() < 1e-4 / res
        assert _edges_shared_twice(f)
        r = np.linalg.norm(v - np.array([0.03, -0.02, 0.01]), axis=1)
        assert np.abs(r - 0.3).max() < 1.0 / res  # on the analytic sphere


def test_sparse_closes_a_surface_cut_by_the_box():
    """A ball sticking out of the box: the padding closes it on the box faces in the
    boundary blocks too (watertight, as the full-grid path)."""
    from ide3d_backend.mesh.sparse import extract_surface_sparse
    ball = M.sphere_density(0.35, 20.0, 60.0, (0.3, 0.0, 0.0))
    v_ref, f_ref, _ = M.extract_surface(ball, 64, 1.0, 10.0, sparse=False)
    v, f = extract_surface_sparse(ball, 64, 1.0, 10.0, block=16)
    assert len(f) == len(f_ref) and _edges_shared_twice(f) and _edges_shared_twice(f_ref)
    assert np.isclose(v[:, 0].max(), 0.5)


def test_fast_default_matches_the_old_path_on_a_generator(head):
    """The default path (lattice + sparse) against per-point sampling of the whole fine grid."""
    G, ws, planes, _, level = head
    res = 96
    fast = M.extract_head_mesh(G, ws, resolution=res, level=level, planes=planes)
    old = M.extract_head_mesh(G, ws, resolution=res, level=level, planes=planes, lattice=False, sparse=False)
    assert fast.stats["sparse"] and fast.stats["lattice"]
    assert abs(len(fast.faces) - len(old.faces)) <= max(2, 0.001 * len(old.faces))
    d, i = cKDTree(old.vertices).query(fast.vertices)
    assert d.mean() < 1e-3 * G.cfg.render.box_warp / res
    assert (fast.labels == old.labels[i]).mean() >= 0.999
    assert _edges_shared_twice(fast.faces) == _edges_shared_twice(old.faces)
