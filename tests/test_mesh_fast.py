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
