"""Mesh extraction against independent answers: analytic spheres, dense grids,
callbacks with known values, and SynthHeads' ground-truth labelled mesh."""
import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from ide3d_backend import mesh as M
from ide3d_backend.semantics import NUM_CLASSES

CENTER = np.array([0.1, -0.05, 0.12])


def _sign_x_logits(xyz):
    """Class 13 (hair) where x > 0, class 1 (skin) elsewhere, as 19 logits."""
    logits = torch.zeros(len(xyz), NUM_CLASSES)
    logits[:, 1] = 1.0
    logits[:, 13] = torch.where(xyz[:, 0] > 0, 2.0, 0.0)
    return logits


def _position_rgb(xyz):
    return (xyz + 0.5).clamp(0, 1)


def _blobs(xyz):
    """Three overlapping balls and a thin plate: a shape with several features."""
    d = None
    for c, r in (((0.0, 0.0, 0.0), 0.25), ((0.2, 0.15, 0.05), 0.12), ((-0.18, -0.2, 0.1), 0.1)):
        s = 20 * torch.sigmoid(80 * (r - (xyz - torch.tensor(c)).norm(dim=-1)))
        d = s if d is None else torch.maximum(d, s)
    plate = 20 * torch.sigmoid(80 * (0.03 - (xyz[:, 1] + 0.3).abs())) * (xyz[:, [0, 2]].abs().amax(1) < 0.3)
    return torch.maximum(d, plate)


def test_sphere_vertices_lie_on_the_sphere():
    res = 64
    verts, faces, stats = M.extract_surface(M.sphere_density(0.3, center=tuple(CENTER)), res, 1.0, 10.0)
    voxel = 1.0 / res
    err = np.abs(np.linalg.norm(verts - CENTER, axis=1) - 0.3)
    assert err.max() < 0.1 * voxel, err.max() / voxel  # world coordinates are exact
    m = trimesh.Trimesh(verts, faces, process=False)
    assert m.is_watertight
    assert m.volume == pytest.approx(4 / 3 * np.pi * 0.3 ** 3, rel=0.01)  # > 0: outward winding
    assert stats.queries < stats.dense_queries


def test_surface_touching_the_box_is_closed():
    res = 32
    verts, faces, _ = M.extract_surface(M.sphere_density(0.7), res, 1.0, 10.0)
    m = trimesh.Trimesh(verts, faces, process=False)
    assert m.is_watertight
    assert np.abs(verts).max() <= 0.5 + 1e-6
    # the box faces close the ball: the volume is the cube minus what the sphere cuts off
    assert 0.9 < m.volume <= 1.0


def test_coarse_to_fine_matches_dense_with_fewer_queries():
    res = 96
    vd, fd, sd = M.extract_surface(_blobs, res, 1.0, 10.0, coarse_to_fine=False)
    vc, fc, sc = M.extract_surface(_blobs, res, 1.0, 10.0, coarse_to_fine=True)
    assert sd.queries == (res + 1) ** 3
    assert sc.queries * 3 < sd.queries, (sc.queries, sd.queries)
    d1, _ = cKDTree(vd).query(vc)
    d2, _ = cKDTree(vc).query(vd)
    hausdorff = max(d1.max(), d2.max())
    assert hausdorff < 1.0 / res, hausdorff * res
    assert len(fc) == len(fd)


def test_coarse_to_fine_finds_features_smaller_than_a_coarse_cell():
    res = 64  # coarse cell = 4 voxels = 0.0625; the small ball has radius 0.02

    def field(xyz):
        big = M.sphere_density(0.25)(xyz)
        small = M.sphere_density(0.02, center=(0.36, 0.36, 0.36))(xyz)
        return torch.maximum(big, small)
    vd, _, _ = M.extract_surface(field, res, 1.0, 10.0, coarse_to_fine=False)
    vc, _, sc = M.extract_surface(field, res, 1.0, 10.0)
    naive, _, _ = M.extract_surface(field, res, 1.0, 10.0, margin=0.0)
    near_small = lambda v: (np.linalg.norm(v - 0.36, axis=1) < 0.05).sum()  # noqa: E731
    assert near_small(vd) > 0 and near_small(vc) == near_small(vd)
    assert near_small(naive) == 0  # the corners alone miss it: the margin is what finds it
    assert sc.margin > 0


def test_labels_colours_and_normals_land_on_the_right_vertices():
    hm = M.mesh_from_fields(M.sphere_density(0.3, center=tuple(CENTER)), _sign_x_logits, _position_rgb,
                            resolution=48)
    v = hm.vertices
    assert hm.vertices.dtype == np.float32 and hm.faces.dtype == np.int32
    assert hm.colors.dtype == np.uint8 and hm.labels.dtype == np.uint8
    clear = np.abs(v[:, 0]) > 1e-4
    assert np.array_equal(hm.labels[clear], np.where(v[clear, 0] > 0, 13, 1).astype(np.uint8))
    expect = np.clip(np.round((v + 0.5) * 255), 0, 255)
    assert np.abs(hm.colors.astype(int) - expect).max() <= 1
    radial = (v - CENTER) / np.linalg.norm(v - CENTER, axis=1, keepdims=True)
    assert (np.sum(hm.normals * radial, 1) > 0.95).all()


def test_largest_component_and_fraction():
    def two_balls(xyz):
        a = M.sphere_density(0.2, center=(-0.2, 0, 0))(xyz)
        b = M.sphere_density(0.1, center=(0.3, 0, 0))(xyz)
        return torch.maximum(a, b)
    one = M.mesh_from_fields(two_balls, resolution=48)
    assert one.vertices[:, 0].max() < 0.05
    both = M.mesh_from_fields(two_balls, resolution=48, keep_components=0.1)
    assert both.vertices[:, 0].max() > 0.35
    assert M.mesh_from_fields(two_balls, resolution=48, largest_component=False).vertices.shape == \
        both.vertices.shape


def test_smoothing_and_decimation_keep_attributes_consistent():
    hm = M.mesh_from_fields(M.sphere_density(0.3), _sign_x_logits, _position_rgb, resolution=64,
                            smooth=5, target_faces=1500)
    assert 750 <= len(hm.faces) <= 1500
    r = np.linalg.norm(hm.vertices, axis=1)
    assert np.abs(r - 0.3).max() < 0.02
    clear = np.abs(hm.vertices[:, 0]) > 1e-4
    assert np.array_equal(hm.labels[clear], np.where(hm.vertices[clear, 0] > 0, 13, 1).astype(np.uint8))
    expect = np.clip(np.round((hm.vertices + 0.5) * 255), 0, 255)
    assert np.abs(hm.colors.astype(int) - expect).max() <= 1
    assert hm.faces.max() < len(hm.vertices)
    assert (np.sum(hm.normals * hm.vertices, 1) > 0).mean() > 0.98


def test_blender_frame():
    v = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32)  # face direction, up, right
    hm = M.HeadMesh(v, np.array([[0, 1, 2]]), v.copy(), np.zeros((3, 3)), np.zeros(3))
    b = hm.to_blender_frame()
    s = M.METRES_PER_UNIT
    np.testing.assert_allclose(b.vertices, [[0, -s, 0], [0, 0, s], [s, 0, 0]], atol=1e-7)
    np.testing.assert_allclose(b.normals, [[0, -1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-7)
    assert b.frame == "blender" and hm.frame == "model"
    assert np.linalg.det(M.MODEL_TO_BLENDER) == pytest.approx(1.0)  # a rotation: windings stay outward
    assert 0.2 < M.HEAD_HEIGHT_UNITS * M.METRES_PER_UNIT < 0.26  # life size
    with pytest.raises(ValueError):
        b.to_blender_frame()
    sphere = M.mesh_from_fields(M.sphere_density(0.3), resolution=24).to_blender_frame()
    assert trimesh.Trimesh(sphere.vertices, sphere.faces, process=False).volume > 0


def test_generator_mesh(torch_threads):
    from ide3d_backend.api import build_generator
    G = build_generator("tiny", seed=0).eval()
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)),
                       torch.zeros(1, G.c_dim))
        planes = G.planes(ws)
        density, _, _ = M.generator_fields(G, ws, planes)
        sigma = density(torch.rand(20000, 3) - 0.5)
    level = float(np.percentile(sigma.numpy(), 90))  # random weights: pick a level that has a surface
    hm = M.extract_head_mesh(G, ws, resolution=32, level=level, planes=planes, target_faces=800)
    assert len(hm.faces) > 0 and len(hm.faces) <= 800
    assert np.abs(hm.vertices).max() <= G.cfg.render.box_warp / 2 + 1e-6
    assert hm.labels.max() < NUM_CLASSES
    assert hm.colors.shape == (len(hm.vertices), 3)
    # the callbacks agree with the generator's own field
    with torch.no_grad():
        out = G.sample_points(ws, torch.from_numpy(hm.vertices), planes=planes)
    np.testing.assert_array_equal(hm.labels, out["semantic_logits"][0].argmax(-1).numpy())
    expect = np.clip(np.round(out["features"][0, :, :3].numpy() * 255), 0, 255)
    assert np.abs(hm.colors.astype(int) - expect).max() <= 1


def test_synthheads_labels_match_ground_truth():
    from ide3d_backend.synthheads import ground_truth_mesh, sample_head
    head = sample_head(3)

    def label_fn(xyz):
        return head.sdf(xyz)[1]

    # density = 50 sigmoid(-200 sdf); level 25 is the sdf's zero set
    hm = M.mesh_from_fields(M.sdf_to_density(head.sdf, 50.0, 200.0), label_fn, resolution=96, level=25.0,
                            keep_components=0.01)
    gv, _, gl = ground_truth_mesh(head, 96)
    dist, idx = cKDTree(np.asarray(gv)).query(hm.vertices)
    assert np.median(dist) < 1.0 / 96
    agree = (np.asarray(gl)[idx] == hm.labels).mean()
    assert agree >= 0.95, agree


def _ray_balls(label, res, balls):
    """Exact renders of a union of balls: rgb = position colour, depth along the unit ray."""
    from ide3d_backend.model.ray_sampler import sample_rays
    o, d = sample_rays(torch.as_tensor(np.asarray(label, np.float32))[None], res)
    o, d = o[0].double().numpy(), d[0].double().numpy()
    t = np.full(len(o), np.inf)
    for c, r in balls:
        oc = o - np.asarray(c)
        b = np.sum(oc * d, 1)
        disc = b * b - (np.sum(oc * oc, 1) - r * r)
        hit = disc > 0
        th = np.where(hit, -b - np.sqrt(np.maximum(disc, 0)), np.inf)
        t = np.minimum(t, th)
    p = o + d * np.where(np.isfinite(t), t, 0)[:, None]
    rgb = np.where(np.isfinite(t)[:, None], np.clip(p + 0.5, 0, 1), 1.0)
    return {"label": label, "rgb": rgb.reshape(res, res, 3), "depth": t.reshape(res, res)}


def test_bake_colors_from_views_picks_visible_frontal_views():
    from ide3d_backend.camera import label_from_angles
    balls = [((0.0, 0.0, 0.0), 0.3), ((0.0, 0.0, 0.42), 0.06)]  # a small ball in front of the big one

    def field(xyz):
        return torch.maximum(*[M.sphere_density(r, center=c)(xyz) for c, r in balls])
    hm = M.mesh_from_fields(field, resolution=96, keep_components=0.001)
    views = [_ray_balls(label_from_angles(y, 0.0), 160, balls) for y in (-0.5, 0.0, 0.5)]
    colors, choice = M.bake_colors_from_views(hm.vertices, hm.normals, views)
    v = hm.vertices
    seen = choice >= 0
    expect = np.clip(np.round((v + 0.5) * 255), 0, 255)
    err = np.abs(colors[seen].astype(int) - expect[seen]).max(1)
    assert np.percentile(err, 95) <= 6 and err.max() <= 40, (np.percentile(err, 95), err.max())
    assert not seen[v[:, 2] < -0.1].any()  # the back of the head: no camera sees it
    front = (v[:, 2] > 0.25) & (np.linalg.norm(v[:, :2], axis=1) < 0.15) & (np.linalg.norm(v, axis=1) > 0.29)
    assert (choice[front & seen] >= 0).all() and seen[front].mean() > 0.5
    # big-sphere points straight behind the small ball are hidden from the frontal view
    hidden = (np.abs(v[:, 0]) < 0.02) & (np.abs(v[:, 1]) < 0.02) & (np.linalg.norm(v, axis=1) < 0.31) & (v[:, 2] > 0)
    assert hidden.any() and (choice[hidden] != 1).all()
    # the side views see the sides most frontally
    assert (choice[seen & (v[:, 0] > 0.25)] == 2).all() and (choice[seen & (v[:, 0] < -0.25)] == 0).all()


def test_rendered_surface_level_puts_the_mesh_where_the_renders_see_it(monkeypatch):
    """A soft sphere (density rising over ~3 cm, peak 60): a fixed level would carve a
    smaller sphere than the rendered one; the rendered-surface level matches the depth."""
    import torch

    from ide3d_backend import build_generator, camera
    from ide3d_backend.mesh import extract_head_mesh, rendered_surface_level

    G = build_generator("tiny", device="cpu").eval()
    R, width = 0.3, 0.01

    def soft_sphere(planes, xyz):
        r = xyz.norm(dim=-1, keepdim=True)
        sigma = 60 * torch.sigmoid((R - r) / width)
        return sigma, torch.zeros(*xyz.shape[:2], 19)

    monkeypatch.setattr(G.decoder, "decode_semantic", soft_sphere)
    ws = G.mapping(torch.randn(1, G.z_dim), camera.label_tensor())
    level = rendered_surface_level(G, ws)
    # the radius the renders see: camera distance minus the rendered depth at the image centre
    with torch.no_grad():
        out = G.synthesis(ws, camera.label_tensor(), superres=False)
    r = out["depth"].shape[-1]
    seen = 2.7 - float(out["depth"][0, 0, r // 2 - 1:r // 2 + 1, r // 2 - 1:r // 2 + 1].mean())
    mesh = extract_head_mesh(G, ws, resolution=96, level=level)
    radius = float(np.linalg.norm(mesh.vertices, axis=1).mean())
    assert abs(radius - seen) < 0.012, (radius, seen, level)
    fixed = extract_head_mesh(G, ws, resolution=96, level=59.0)  # a level deep in the soft shell
    assert float(np.linalg.norm(fixed.vertices, axis=1).mean()) < seen - 0.015
