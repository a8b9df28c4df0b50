"""SynthHeads: semantics where expected, flips, multi-view/3D consistency, determinism, mesh."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ide3d_backend import camera, semantics
from ide3d_backend.model.ray_sampler import sample_rays
from ide3d_backend.synthheads import (ground_truth_mesh, make_grid, render_head, render_views,
                                      sample_head, sample_params, write_dataset)

RES = 64
HAIRY_SEED = 1  # short hair, no hat, no glasses


@pytest.fixture(scope="module")
def head():
    h = sample_head(HAIRY_SEED)
    assert h.params.hair_style != "bald" and not h.params.hat
    return h


@pytest.fixture(scope="module")
def frontal(head):
    return render_head(head, camera.frontal_label(), RES)


def test_output_types(frontal):
    assert frontal["rgb"].shape == (RES, RES, 3) and frontal["rgb"].dtype == np.uint8
    assert frontal["mask"].shape == (RES, RES) and frontal["mask"].dtype == np.uint8
    assert frontal["depth"].shape == (RES, RES) and frontal["depth"].dtype == np.float32
    semantics.check_mask(frontal["mask"])
    bg = frontal["mask"] == 0
    assert np.isinf(frontal["depth"][bg]).all()
    assert np.isfinite(frontal["depth"][~bg]).all()
    d = frontal["depth"][~bg]
    assert 2.2 < d.min() and d.max() < 3.3


def test_frontal_classes(frontal):
    m = frontal["mask"]
    c = RES // 2
    centre = m[c - 4:c + 2, c - 1:c + 1]
    assert (centre == 2).mean() > 0.5, "nose expected at the image centre"
    for corner in (m[:4, :4], m[:4, -4:]):
        assert (corner == 0).all(), "background expected in the top corners"
    assert (m == 1).mean() > 0.08, "skin expected"
    col = m[:, c]
    top = np.nonzero(col)[0][0]
    assert col[top] == 13, "hair expected above the face"
    ys_skin = np.nonzero(col == 1)[0]
    assert np.nonzero(col == 13)[0].min() < ys_skin.min()
    # l_* = person's left = world +x = image right in a frontal view
    for left, right in ((4, 5), (6, 7), (8, 9)):
        xl, xr = np.nonzero(m == left)[1], np.nonzero(m == right)[1]
        assert len(xl) and len(xr)
        assert xl.mean() > c > xr.mean()
    for cls in (10, 11, 12, 17, 18):
        assert cls in m or cls == 10, f"class {cls} missing"
    # bottom rows: neck and clothes, no background in the middle
    assert set(np.unique(m[-2:, c - 4:c + 4])) <= {17, 18, 16}
    assert (m[-1] == 18).any()


def test_flip_swaps_left_right(head):
    a = render_head(head, camera.label_from_angles(0.3, 0.05), RES)["mask"]
    b = render_head(head, camera.label_from_angles(-0.3, 0.05), RES)["mask"]
    fb = semantics.flip_mask(b)
    assert (a == fb).mean() > 0.97
    # classes really are swapped: the unflipped masks disagree on eyes
    eyes = (a == 4) | (a == 5)
    assert (a[eyes] != b[:, ::-1][eyes]).mean() > 0.9
    lab = camera.flip_label(camera.label_from_angles(-0.3, 0.05))
    c = render_head(head, lab, RES)["mask"]
    assert (c == fb).mean() > 0.99


def test_views_agree_with_geometry(head):
    la, lb = camera.label_from_angles(-0.25, 0.1), camera.label_from_angles(0.35, -0.05)
    va, vb = render_views(head, np.stack([la, lb]), RES)
    o, d = sample_rays(torch.from_numpy(la)[None], RES)
    t = torch.from_numpy(va["depth"]).reshape(-1)
    hit = torch.isfinite(t)
    pts = (o[0] + d[0] * t[:, None])[hit]
    dist, cls = head.sdf(pts)
    assert dist.abs().max() < 1e-2
    assert (dist.abs() < 1.5e-3).float().mean() > 0.98
    # the class at the 3D point is the mask class
    assert (cls.numpy() == va["mask"].reshape(-1)[hit.numpy()]).mean() > 0.99
    # project into view B and compare with B's depth where visible
    uv, _ = camera.project(lb, pts.numpy())
    cam_b = camera.split_label(lb)[0][:3, 3]
    dist_b = np.linalg.norm(pts.numpy() - cam_b, axis=1)
    px = np.clip((uv * RES).astype(int), 0, RES - 1)
    db = vb["depth"][px[:, 1], px[:, 0]]
    visible = np.isfinite(db) & (dist_b < db + 0.02)
    assert visible.mean() > 0.5
    err = np.abs(db[visible] - dist_b[visible])
    assert np.median(err) < 0.005
    assert (err < 0.02).mean() > 0.9


def test_determinism():
    lab = camera.label_from_angles(0.2, -0.1)
    a = render_head(sample_head(7), lab, 32)
    b = render_head(sample_head(7), lab, 32)
    for k in ("rgb", "mask", "depth"):
        np.testing.assert_array_equal(a[k], b[k])
    c = render_head(sample_head(8), lab, 32)
    assert not np.array_equal(a["rgb"], c["rgb"])
    assert sample_params(7) == sample_params(7)
    assert sample_params(7) != sample_params(8)


def test_accessory_frequencies():
    ps = [sample_params(s) for s in range(400)]
    freq = lambda k: np.mean([getattr(p, k) for p in ps])  # noqa: E731
    assert 0.13 < freq("glasses") < 0.28
    assert 0.05 < freq("hat") < 0.16
    assert 0.13 < freq("earrings") < 0.28
    assert 0.05 < freq("necklace") < 0.16
    styles = {p.hair_style for p in ps}
    assert styles == {"short", "long", "bald", "fringe", "bun"}


def test_accessory_classes_render():
    # find heads with glasses, hat and earrings and check their classes appear
    want = {"glasses": 3, "hat": 14}
    for attr, cls in want.items():
        seed = next(s for s in range(200) if getattr(sample_params(s), attr))
        m = render_head(sample_head(seed), camera.frontal_label(), RES)["mask"]
        assert (m == cls).sum() > 10, f"{attr} class {cls} missing for seed {seed}"


def test_ground_truth_mesh(head):
    v, f, lab = ground_truth_mesh(head, resolution=64)
    assert v.dtype == np.float32 and v.shape[1] == 3 and f.shape[1] == 3 and lab.shape == (len(v),)
    assert np.abs(v).max() <= 0.5 + 1e-6
    for cls in (1, 2, 13):
        assert (lab == cls).any()
    import trimesh
    mesh = trimesh.Trimesh(v, f, process=True)
    assert mesh.is_watertight
    assert mesh.volume > 0
    # vertices lie on the surface
    d = head.distance(torch.from_numpy(v))
    assert d.abs().max() < 0.02


def test_grid_and_cli(tmp_path):
    g = make_grid(seeds=[0, 1], views=((0.0, 0.0),), resolution=32, out=tmp_path / "g.png")
    assert g.shape == (64, 64, 3) and (tmp_path / "g.png").is_file()
    from ide3d_backend.cli import main
    rc = main(["data", "synth", "--count", "1", "--resolution", "16", "--out", str(tmp_path / "ds"),
               "--views", "2", "--canonical-first", "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "ds" / "images").iterdir()) == [
        "h000000_v00.png", "h000000_v01.png"]
    rc = main(["data", "synth", "--count", "0", "--resolution", "16", "--out", str(tmp_path / "x")])
    assert rc == 1


def test_write_dataset_seeds_prefix_stable(tmp_path):
    a = write_dataset(tmp_path / "a", 1, 16, views=1, seed=5, progress=False, workers=1)
    b = write_dataset(tmp_path / "b", 2, 16, views=1, seed=5, progress=False, workers=1)
    assert a["seeds"] == b["seeds"][:1]
    assert a["labels"][0] == b["labels"][0]
