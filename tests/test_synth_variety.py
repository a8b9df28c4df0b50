"""SynthHeads varieties: classic heads unchanged bit for bit, rich heads exact under the new features."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
import torch

from ide3d_backend import camera
from ide3d_backend.model.ray_sampler import sample_rays
from ide3d_backend.synthheads import render_views, sample_head, sample_params, write_dataset
from ide3d_backend.synthheads.rich_shapes import BEARD_CLASS, HAIR_STYLES
from ide3d_backend.synthheads.shapes import MATERIALS, Head
from ide3d_backend.synthheads.variety import GLASSES_SHAPES, Variety, get_variety, with_overrides

SKIN, EYE_G, L_EYE, R_EYE, MOUTH, U_LIP, L_LIP, HAIR = 1, 3, 4, 5, 10, 11, 12, 13

# Recorded with main at 4603da6 (before varieties existed): sha256 of rgb, mask, depth bytes of
# two views (frontal; yaw 0.5, pitch -0.1) at 24x24, first 16 hex digits.
CLASSIC_DIGESTS = {0: "b7c704265f03080c", 2: "a0758b340052aa3c", 3: "b844b25a3c371108", 4: "b369311a073cf6d2",
                   5: "62b60331660ff1a5", 11: "214b85a2b341ed24", 31: "3d9fea3655e2ec1b"}
# write_dataset(out, 2, 16, views=2, seed=3, workers=1) at 4603da6: sha256 over the PNGs (folder, name, bytes).
CLASSIC_DATASET_DIGEST = "18099c482b5dc163"


def _digest(outs) -> str:
    m = hashlib.sha256()
    for o in outs:
        for k in ("rgb", "mask", "depth"):
            m.update(np.ascontiguousarray(o[k]).tobytes())
    return m.hexdigest()[:16]


def _head(seed: int, **changes) -> Head:
    p = sample_params(seed, "rich")
    for k, v in changes.items():
        setattr(p, k, v)
    return Head(p)


def _hit_points(label, depth):
    o, d = sample_rays(torch.from_numpy(np.asarray(label, dtype=np.float32))[None], depth.shape[0])
    t = torch.from_numpy(depth).reshape(-1)
    hit = torch.isfinite(t)
    return (o[0] + d[0] * torch.where(hit, t, torch.zeros_like(t))[:, None]), hit


FRONT = camera.frontal_label()
SIDE = camera.label_from_angles(0.5, -0.1)


# ----------------------------------------------------------------------------- classic = today

@pytest.mark.parametrize("seed", sorted(CLASSIC_DIGESTS))
def test_classic_heads_are_bit_identical_to_before(seed):
    outs = render_views(sample_head(seed), np.stack([FRONT, SIDE]), 24)
    assert _digest(outs) == CLASSIC_DIGESTS[seed]
    assert sample_params(seed) == sample_params(seed, "classic") == sample_params(seed, Variety())
    assert not sample_params(seed).rich


def test_classic_dataset_is_bit_identical_to_before(tmp_path):
    meta = write_dataset(tmp_path, 2, 16, views=2, seed=3, progress=False, workers=1)
    m = hashlib.sha256()
    for p in sorted(tmp_path.rglob("*.png")):
        m.update(p.parent.name.encode() + p.name.encode())
        m.update(p.read_bytes())
    assert m.hexdigest()[:16] == CLASSIC_DATASET_DIGEST
    assert meta["variety"] == "classic"


# ----------------------------------------------------------------------------- rich: sampling

def test_rich_is_deterministic_and_keeps_the_classic_choices():
    a, b = sample_params(5, "rich"), sample_params(5, "rich")
    assert a == b and a.rich
    assert sample_params(6, "rich") != a
    classic = sample_params(5)
    for k in ("skull_radii", "jaw_radii", "eye_x", "nose_length", "skin_colour", "hair_colour", "noise_seed"):
        assert getattr(a, k) == getattr(classic, k), k
    labs = np.stack([FRONT, SIDE])
    x, y = render_views(sample_head(5, "rich"), labs, 32), render_views(sample_head(5, "rich"), labs, 32)
    assert _digest(x) == _digest(y)
    assert _digest(x) != _digest(render_views(sample_head(5), labs, 32))


def test_rich_frequencies():
    ps = [sample_params(s, "rich") for s in range(300)]
    mean = lambda f: np.mean([f(p) for p in ps])  # noqa: E731
    v = get_variety("rich")
    assert abs(mean(lambda p: p.mouth_open > 0) - v.p_mouth_open) < 0.09
    assert abs(mean(lambda p: p.beard != "none") - v.p_beard) < 0.08
    assert abs(mean(lambda p: p.glasses) - v.p_glasses) < 0.08
    assert abs(mean(lambda p: p.eyelid == 1.0) - v.p_eyes_closed) < 0.05
    assert abs(mean(lambda p: p.fill_intensity > 0) - v.p_fill_light) < 0.09
    assert {p.hair_style for p in ps} == set(v.hair_styles)
    assert {p.background_style for p in ps} == {"gradient", "radial", "noise", "shapes"}
    assert all(p.teeth > 0 for p in ps if p.mouth_open > 0)
    dirs = np.array([p.key_dir for p in ps])
    assert np.allclose(np.linalg.norm(dirs, axis=1), 1, atol=1e-6) and dirs[:, 0].std() > 0.3


def test_variety_errors():
    with pytest.raises(ValueError, match="classic"):
        sample_params(1, "fancy")
    with pytest.raises(ValueError, match="sum"):
        Variety(name="x", extras=True, p_beard=0.2, beard_probs=(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="hair styles"):
        Variety(hair_styles=("short", "dreads"), hair_probs=(0.5, 0.5))


# ----------------------------------------------------------------------------- rich: exact masks

def test_open_mouth_shows_mouth_between_the_lips_at_the_inner_surface():
    head = _head(1, mouth_open=0.03, teeth=2, smile=0.2, beard="none", glasses=False, eyelid=0.0)
    r = 96
    out = render_views(head, FRONT[None], r)[0]
    mask, depth = out["mask"], out["depth"]
    mouth = mask == MOUTH
    assert mouth.sum() > 20
    # between the lips: in every column with mouth pixels, upper lip above and lower lip below
    for col in np.nonzero(mouth.any(0))[0]:
        rows = np.nonzero(mouth[:, col])[0]
        above, below = mask[:rows.min(), col], mask[rows.max() + 1:, col]
        assert (above == U_LIP).any() and (below == L_LIP).any(), col
    # recessed: mouth pixels are farther than the lips' front
    lips = (mask == U_LIP) | (mask == L_LIP)
    assert np.median(depth[mouth]) > np.min(depth[lips]) + 0.004
    # the depth is the first surface along the ray: an independent fixed-step march agrees
    o, d = sample_rays(torch.from_numpy(FRONT)[None], r)
    idx = torch.from_numpy(np.nonzero(mouth.reshape(-1))[0])
    ts = torch.arange(2.3, 2.9, 0.0002)
    pts = o[0, idx][:, None] + d[0, idx][:, None] * ts[None, :, None]
    inside = (head.distance(pts.reshape(-1, 3)) < 0).reshape(len(idx), -1)
    assert inside.any(1).all()
    first = ts[inside.float().argmax(1)]
    err = (first - torch.from_numpy(depth.reshape(-1)[idx.numpy()])).abs()
    assert err.median() < 1e-3 and (err < 2e-3).float().mean() > 0.9  # grazing rays stop within the tolerance
    _, cls_first = head.sdf(o[0, idx] + d[0, idx] * first[:, None])
    assert (cls_first == MOUTH).all()  # the first surface along every such ray is a mouth part
    # and the part there is the cavity or the teeth (both `mouth`); some teeth are visible
    pts = o[0, idx] + d[0, idx] * torch.from_numpy(depth.reshape(-1)[idx.numpy()])[:, None]
    _, cls, mat = head.sdf_material(pts)
    assert (cls == MOUTH).all()
    names = {MATERIALS[i] for i in mat.tolist()}
    assert names <= {"mouth", "teeth"} and "teeth" in names


def test_closed_eyes_leave_no_eye_pixels():
    closed = with_overrides("rich", p_eyes_closed=1.0, p_lids_lowered=0.0)
    labs = np.stack([FRONT, SIDE, camera.label_from_angles(-0.6, 0.1)])
    for seed in range(4):
        p = sample_params(seed, closed)
        assert p.eyelid == 1.0
        masks = [o["mask"] for o in render_views(Head(p), labs, 48)]
        assert not any(np.isin(m, [L_EYE, R_EYE]).any() for m in masks), seed
        p.eyelid = 0.0  # the same head with open eyes shows them
        open_masks = [o["mask"] for o in render_views(Head(p), labs[:1], 48)]
        assert np.isin(open_masks[0], [L_EYE, R_EYE]).sum() > 4
    half = _head(2, eyelid=0.5, glasses=False)
    shut = _head(2, eyelid=0.0, glasses=False)
    n_half = np.isin(render_views(half, FRONT[None], 64)[0]["mask"], [L_EYE, R_EYE]).sum()
    n_open = np.isin(render_views(shut, FRONT[None], 64)[0]["mask"], [L_EYE, R_EYE]).sum()
    assert 0 < n_half < n_open


def test_lighting_and_camera_change_rgb_never_mask_or_depth():
    labs = np.stack([FRONT, SIDE])
    base = sample_params(3, "rich")
    variants = [dict(key_dir=(-0.7, 0.2, 0.68), key_colour=(1.0, 0.6, 0.4), key_intensity=1.0),
                dict(fill_intensity=0.4, fill_dir=(0.8, -0.2, 0.57), ambient=0.15),
                dict(white_balance=(1.2, 1.0, 0.8), exposure=0.6),
                dict(background_style="noise")]
    ref = render_views(Head(base), labs, 40)
    for change in variants:
        out = render_views(Head(dataclasses.replace(base, **change)), labs, 40)
        for a, b in zip(ref, out):
            np.testing.assert_array_equal(a["mask"], b["mask"])
            np.testing.assert_array_equal(a["depth"], b["depth"])
            assert np.abs(a["rgb"].astype(int) - b["rgb"].astype(int)).mean() > 2.0, change


def test_beard_pixels_are_labelled_as_facial_hair_is_in_celebamask():
    assert BEARD_CLASS == SKIN
    head = _head(4, beard="full", beard_thickness=0.008, beard_colour=(0.1, 0.07, 0.05), glasses=False)
    shaved = _head(4, beard="none", glasses=False)
    r = 64
    out = render_views(head, FRONT[None], r)[0]
    pts, hit = _hit_points(FRONT, out["depth"])
    _, cls, mat = head.sdf_material(pts[hit])
    beard = torch.zeros(r * r, dtype=torch.bool)
    beard[hit] = mat == MATERIALS.index("beard")
    beard = beard.numpy().reshape(r, r)
    assert beard.sum() > 40
    assert (out["mask"][beard] == BEARD_CLASS).all()
    # the beard stands in front of the shaved face, and is beard-coloured (dark), not skin
    bare = render_views(shaved, FRONT[None], r)[0]
    assert np.median(bare["depth"][beard] - out["depth"][beard]) > 0.003
    assert out["rgb"][beard].mean() < bare["rgb"][beard].mean() - 20


def test_lenses_are_glasses_pixels_and_tint_changes_only_colour():
    clear = _head(0, glasses=True, glasses_shape="aviator", lens_tint=0.0, eyelid=0.0)
    dark = _head(0, glasses=True, glasses_shape="aviator", lens_tint=0.9, lens_colour=(0.05, 0.05, 0.05),
                 eyelid=0.0)
    a, b = render_views(clear, FRONT[None], 64)[0], render_views(dark, FRONT[None], 64)[0]
    np.testing.assert_array_equal(a["mask"], b["mask"])
    np.testing.assert_array_equal(a["depth"], b["depth"])
    pts, hit = _hit_points(FRONT, a["depth"])
    _, _, mat = clear.sdf_material(pts[hit])
    lens = torch.zeros(64 * 64, dtype=torch.bool)
    lens[hit] = mat == MATERIALS.index("lens")
    lens = lens.numpy().reshape(64, 64)
    assert lens.sum() > 20 and (a["mask"][lens] == EYE_G).all()
    assert not np.isin(a["mask"], [L_EYE, R_EYE]).any()  # the eyes are behind the lenses
    assert b["rgb"][lens].mean() < 0.5 * a["rgb"][lens].mean()


@pytest.mark.parametrize("shape", GLASSES_SHAPES)
def test_glasses_shapes_render_exactly(shape):
    head = _head(7, glasses=True, glasses_shape=shape, frame_thickness=0.004, lens_tint=0.5)
    la = camera.label_from_angles(-0.3, 0.05)
    out = render_views(head, la[None], 48)[0]
    assert (out["mask"] == EYE_G).sum() > 15
    pts, hit = _hit_points(la, out["depth"])
    dist, cls = head.sdf(pts[hit])
    assert (dist.abs() < 2e-3).float().mean() > 0.98
    assert (cls.numpy() == out["mask"].reshape(-1)[hit.numpy()]).mean() > 0.99


@pytest.mark.parametrize("style", HAIR_STYLES)
def test_rich_hair_styles_are_hair_and_exact(style):
    vol = {"buzz": 0.005, "afro": 0.06, "curly": 0.03, "ponytail": 0.01}.get(style, 0.02)
    head = _head(8, hair_style=style, hair_volume=vol, hat=False)
    la = camera.label_from_angles(0.7, 0.0)
    out = render_views(head, la[None], 48)[0]
    assert (out["mask"] == HAIR).sum() > 40
    pts, hit = _hit_points(la, out["depth"])
    dist, cls = head.sdf(pts[hit])
    assert (dist.abs() < 2e-3).float().mean() > 0.98
    assert (cls.numpy() == out["mask"].reshape(-1)[hit.numpy()]).mean() > 0.99


def test_rich_views_agree_with_geometry_and_mesh_is_closed():
    head = _head(11, mouth_open=0.02, teeth=1, beard="goatee", beard_thickness=0.006, eyelid=0.4, hat=False)
    la, lb = camera.label_from_angles(-0.25, 0.1), camera.label_from_angles(0.35, -0.05)
    va, vb = render_views(head, np.stack([la, lb]), 48)
    pts, hit = _hit_points(la, va["depth"])
    dist, cls = head.sdf(pts[hit])
    assert (dist.abs() < 1.5e-3).float().mean() > 0.98
    assert (cls.numpy() == va["mask"].reshape(-1)[hit.numpy()]).mean() > 0.99
    from ide3d_backend.synthheads import ground_truth_mesh
    import trimesh
    v, f, _ = ground_truth_mesh(head, resolution=48)
    assert trimesh.Trimesh(v, f, process=True).is_watertight


def test_cli_writes_a_rich_dataset(tmp_path):
    from ide3d_backend.cli import main
    rc = main(["data", "synth", "--variety", "rich", "--count", "2", "--views", "2", "--resolution", "16",
               "--out", str(tmp_path / "ds"), "--quiet", "--workers", "1"])
    assert rc == 0
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["variety"] == "rich" and len(meta["labels"]) == 4
    with pytest.raises(SystemExit):
        main(["data", "synth", "--variety", "fancy", "--count", "1", "--resolution", "16",
              "--out", str(tmp_path / "x")])
