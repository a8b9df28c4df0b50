"""Texture atlas and bake (issue 16) on an analytic scene: a ball whose colour is a
procedural pattern, photographed by rendering a fine mesh of it; plus exports of the
textured mesh checked by the Khronos validator, trimesh and the formats' own parsers."""
import numpy as np
import pytest
import torch
import trimesh

from gltf_validator import assert_valid
from ide3d_backend import camera
from ide3d_backend import export as E
from ide3d_backend import mesh as M
from ide3d_backend.texture import (BakeConfig, TextureError, bake_texture, build_atlas, check_texture_size,
                                   photo_sources, rebake, texel_surface, texture_head)
from ide3d_backend.texture.preview import render_mesh
from ide3d_backend.texture.raster import rasterize

SIZE = 256


def pattern(xyz) -> np.ndarray:
    """Ground-truth colour (uint8) of a surface point: stripes and blobs with detail a
    coarse mesh's vertex colours cannot hold."""
    x, y, z = np.asarray(xyz, np.float64).T
    r = 0.5 + 0.4 * np.sin(40 * x)
    g = 0.5 + 0.4 * np.sin(33 * y + 1.0)
    b = 0.5 + 0.4 * np.cos(25 * (x + z))
    return np.clip(np.round(np.stack([r, g, b], 1) * 255), 0, 255).astype(np.uint8)


def _labels(xyz):
    """skin in front (z > 0), hair at the back-top, neck at the back-bottom."""
    out = torch.ones(len(xyz), dtype=torch.long)
    out[(xyz[:, 2] <= 0) & (xyz[:, 1] > 0)] = 13
    out[(xyz[:, 2] <= 0) & (xyz[:, 1] <= 0)] = 17
    return out


@pytest.fixture(scope="module")
def scene(one_torch_thread):
    fine = M.mesh_from_fields(M.sphere_density(0.3), resolution=96)
    coarse = M.mesh_from_fields(M.sphere_density(0.3), _labels, lambda x: torch.as_tensor(pattern(x) / 255.0),
                                resolution=28)
    label = camera.label_from_angles(0.0, 0.0)
    photo, _ = render_mesh(fine.vertices, fine.faces, label, 256, colors=pattern(fine.vertices))
    return fine, coarse, label, photo


def render_fn(fine):
    return lambda lab: render_mesh(fine.vertices, fine.faces, lab, 128, colors=pattern(fine.vertices))[0]


def psnr(a, b, mask) -> float:
    err = np.mean((a[mask].astype(np.float64) - b[mask].astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(err, 1e-12)))


@pytest.mark.parametrize("bad", [0, 128, 255, 300, 1000, 8192, "big", 1024.5, None])
def test_texture_size_must_be_power_of_two_in_range(bad):
    with pytest.raises(TextureError, match="power of two in 256..4096"):
        check_texture_size(bad)
    with pytest.raises(TextureError):
        BakeConfig(size=bad)


def test_texture_sizes_accepted():
    assert [check_texture_size(s) for s in (256, 1024, 2048, 4096)] == [256, 1024, 2048, 4096]
    assert BakeConfig().size == 1024


def test_rasterize_covers_pixel_centres_and_keeps_nearest():
    square = np.array([[[1, 1], [5, 1], [5, 5]], [[1, 1], [5, 5], [1, 5]]], np.float64)
    face, bary = rasterize(square, 8, 8)
    assert (face[1:5, 1:5] >= 0).all() and (face >= 0).sum() == 16
    np.testing.assert_allclose(bary.sum(-1)[face >= 0], 1, atol=1e-5)
    # two overlapping triangles: the nearer (smaller z) wins wherever both cover
    tris = np.array([[[0, 0], [8, 0], [0, 8]], [[0, 0], [8, 0], [0, 8]]], np.float64)
    face, _ = rasterize(tris, 8, 8, z=np.array([[2.0, 2, 2], [1.0, 1, 1]]))
    assert set(np.unique(face[face >= 0])) == {1}


def test_atlas_keeps_geometry_and_region_groups(scene):
    _, coarse, _, _ = scene
    atlas = build_atlas(coarse.vertices, coarse.faces, coarse.face_labels, SIZE)
    assert atlas.uvs.min() >= 0 and atlas.uvs.max() <= 1
    # the cut mesh has the same triangles in the same order
    np.testing.assert_array_equal(atlas.vmapping[atlas.faces], coarse.faces)
    # charts never cross region groups: both groups present, counted separately
    assert set(atlas.stats["charts_per_group"]) == {"face", "hair", "neck"}
    # no two triangles share a texel (xatlas packs without overlap)
    tri = atlas.uvs[atlas.faces].astype(np.float64) * SIZE
    covered = (rasterize(tri, SIZE, SIZE)[0] >= 0).sum()
    area = 0.5 * np.abs(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])).sum()
    assert abs(covered - area) < 0.05 * area


def test_bake_from_photo_keeps_its_detail(scene):
    fine, coarse, label, photo = scene
    th = texture_head(coarse, photo, label, render_fn(fine), BakeConfig(size=SIZE, use_mirror=False))
    assert th.texture.shape == (SIZE, SIZE, 3) and th.texture.dtype == np.uint8
    got, hit = render_mesh(th.mesh.vertices, th.mesh.faces, label, 256, uvs=th.mesh.uvs, texture=th.texture)
    vc, _ = render_mesh(coarse.vertices, coarse.faces, label, 256, colors=coarse.colors)
    yy, xx = np.mgrid[:256, :256]
    centre = hit & ((xx - 128) ** 2 + (yy - 128) ** 2 < 90 ** 2)   # frontal part of the ball
    assert psnr(got, photo, centre) >= 25.0
    assert psnr(got, photo, centre) >= psnr(vc, photo, centre) + 3
    side = camera.label_from_angles(1.0, 0.0)   # seen by the renders only
    truth, _ = render_mesh(fine.vertices, fine.faces, side, 256, colors=pattern(fine.vertices))
    got_side, hit_side = render_mesh(th.mesh.vertices, th.mesh.faces, side, 256, uvs=th.mesh.uvs,
                                     texture=th.texture)
    vc_side, _ = render_mesh(coarse.vertices, coarse.faces, side, 256, colors=coarse.colors)
    assert psnr(got_side, truth, hit_side) > psnr(vc_side, truth, hit_side)
    cov = th.result.coverage
    assert 0.2 < cov["photo"] < 0.6 and cov["render"] > cov["photo"]


def test_no_photo_bakes_from_renders_and_says_so(scene):
    fine, coarse, _, _ = scene
    th = texture_head(coarse, None, None, render_fn(fine), BakeConfig(size=SIZE))
    assert any("no photo" in w for w in th.result.warnings)
    assert "photo" not in th.result.coverage and th.result.coverage["render"] > 0.5


def test_region_rebake_changes_only_that_region(scene):
    fine, coarse, label, photo = scene
    cfg = BakeConfig(size=SIZE)
    th = texture_head(coarse, photo, label, render_fn(fine), cfg)
    red = lambda lab: np.full((128, 128, 3), (220, 30, 30), np.uint8)  # noqa: E731  a restyled render
    new = rebake(th, coarse, classes=[13], photo=photo, render=red)
    before = th.texture.reshape(-1, 3)[th.surface.index]
    after = new.texture.reshape(-1, 3)[th.surface.index]
    changed = (before != after).any(1)
    hair = th.surface.labels == 13
    assert changed[hair].mean() > 0.5
    assert not changed[~hair].any()
    assert new.seconds["rebake"] < th.seconds["total"]
    # a texture swap without "keep photo" re-bakes the front too
    swap = rebake(th, coarse, classes=None, photo=photo, render=red, keep_photo=False)
    front = th.surface.labels == 1
    assert (swap.texture.reshape(-1, 3)[th.surface.index][front] != before[front]).any(1).mean() > 0.5


def test_bake_mirror_fills_the_far_side(scene):
    _, coarse, _, _ = scene
    label = camera.label_from_angles(0.6, 0.0)        # photo from the right: the left is hidden
    img = np.zeros((256, 256, 3), np.uint8)
    img[:, :, 1] = 200
    atlas = build_atlas(coarse.vertices, coarse.faces, coarse.face_labels, SIZE)
    surf = texel_surface(atlas, coarse.vertices, coarse.normals, coarse.labels, coarse.colors)
    cfg = BakeConfig(size=SIZE, match_colours=False)   # the fallback keeps the ball's own colours
    without = bake_texture(surf, coarse.vertices, coarse.faces, photo_sources(img, label, False), cfg)
    with_m = bake_texture(surf, coarse.vertices, coarse.faces, photo_sources(img, label, True), cfg)
    assert with_m.coverage["mirror"] > 0.1
    far_left = (surf.points[:, 0] < -0.2) & (surf.normals[:, 2] > 0.2)
    g0 = without.texture.reshape(-1, 3)[surf.index][far_left, 1].astype(float).mean()
    g1 = with_m.texture.reshape(-1, 3)[surf.index][far_left, 1].astype(float).mean()
    assert g1 > g0 + 20


@pytest.fixture(scope="module")
def textured(scene):
    fine, coarse, label, photo = scene
    return texture_head(coarse, photo, label, render_fn(fine), BakeConfig(size=SIZE)).mesh


def test_textured_glb_validates_and_loads(tmp_path, textured):
    path = E.export_mesh(textured, tmp_path / "head.glb")
    report = assert_valid(path)
    assert report["info"]["resources"] and any(r["storage"] == "buffer-view" and r["mimeType"] == "image/png"
                                               for r in report["info"]["resources"])
    gltf, prims = E.read_glb(path)
    assert gltf["textures"] == [{"sampler": 0, "source": 0}]
    assert all(m["pbrMetallicRoughness"]["baseColorTexture"]["index"] == 0 for m in gltf["materials"])
    yup = textured.to_yup_metres()
    for p in prims:
        assert {"POSITION", "NORMAL", "TEXCOORD_0", "_SEMANTIC", "_COLOR"} <= set(p)
        d, idx = __import__("scipy.spatial", fromlist=["cKDTree"]).cKDTree(yup.vertices).query(p["POSITION"])
        assert d.max() < 1e-6
        # seam vertices share positions: compare the uv of a vertex with that position's uvs
        np.testing.assert_array_equal(p["_SEMANTIC"], yup.labels[idx].astype(np.float32))
    scene = trimesh.load(path)
    g = next(iter(scene.geometry.values()))
    assert g.visual.uv is not None
    img = g.visual.material.baseColorTexture
    assert img.size == (SIZE, SIZE)


def test_untextured_glb_still_has_color0_and_validates(tmp_path, scene):
    _, coarse, _, _ = scene
    path = E.export_mesh(coarse, tmp_path / "plain.glb")
    assert_valid(path)
    _, prims = E.read_glb(path)
    assert all("COLOR_0" in p and "TEXCOORD_0" not in p for p in prims)


def test_textured_obj_mtl_png(tmp_path, textured):
    path = E.export_mesh(textured, tmp_path / "head.obj")
    assert (tmp_path / "head.png").is_file()
    mtl = (tmp_path / "head.mtl").read_text()
    assert mtl.count("map_Kd head.png") == len(np.unique(textured.face_labels))
    text = path.read_text()
    assert sum(line.startswith("vt ") for line in text.splitlines()) == len(textured.vertices)
    m = trimesh.load(path, process=False)
    g = next(iter(m.geometry.values())) if isinstance(m, trimesh.Scene) else m
    assert g.visual.uv is not None and g.visual.material.image.size == (SIZE, SIZE)
    # v is flipped for OBJ: trimesh (bottom-left origin) gives 1 - v of the glTF convention
    d, idx = __import__("scipy.spatial", fromlist=["cKDTree"]).cKDTree(
        textured.to_yup_metres().vertices).query(np.asarray(g.vertices))
    assert d.max() < 1e-5


def test_ply_keeps_vertex_colours_of_a_textured_mesh(tmp_path, textured):
    path = E.export_mesh(textured, tmp_path / "head.ply")
    v, f = E.read_ply(path)
    np.testing.assert_array_equal(np.stack([v["red"], v["green"], v["blue"]], 1), textured.colors)
    assert not (tmp_path / "head.png").exists()


def test_export_into_missing_folder_creates_nothing(tmp_path, textured):
    target = tmp_path / "missing" / "deeper" / "head.glb"
    with pytest.raises(E.ExportPathError, match="does not exist"):
        E.export_mesh(textured, target)
    assert not (tmp_path / "missing").exists()


class _Layer:
    def __init__(self, classes, w_t):
        self.classes, self.w_t = tuple(classes), w_t


class _FakeSession:
    """The public session calls SessionTexturer uses, over the analytic ball."""

    def __init__(self, fine, photo, colour=(0, 0, 0)):
        self.G = type("G", (), {"num_shape_ws": 2})()
        self.ws = torch.zeros(1, 4, 3)
        self.layers = []
        self.yaw = self.pitch = 0.0
        self._photo, self._fine, self.colour = photo, fine, colour

    def photo(self):
        return self._photo

    def render(self, yaw, pitch, kind="rgb"):
        img, hit = render_mesh(self._fine.vertices, self._fine.faces, camera.label_from_angles(yaw, pitch), 128,
                               colors=pattern(self._fine.vertices))
        img[hit] = np.clip(img[hit].astype(int) + self.colour, 0, 255).astype(np.uint8)
        return img


def test_session_texturer_rebakes_what_the_edit_changed(scene):
    from ide3d_backend.texturing import SessionTexturer
    fine, coarse, _, photo = scene
    s = _FakeSession(fine, photo)
    tx = SessionTexturer()
    th0 = tx.textured_mesh("s", s, coarse, SIZE, mesh_key=1)
    surf = th0.surface
    tex = lambda th: th.texture.reshape(-1, 3)[surf.index]  # noqa: E731
    # a region style on hair: only hair texels change
    s.layers = [_Layer([13], torch.ones(1, 2, 3))]
    s.colour = (0, 80, 0)
    th1 = tx.textured_mesh("s", s, coarse, SIZE, mesh_key=1)
    assert th1.atlas is th0.atlas
    changed = (tex(th0) != tex(th1)).any(1)
    hair = surf.labels == 13
    assert changed[hair].mean() > 0.3 and not changed[~hair].any()
    # the same state again: nothing is baked
    assert tx.textured_mesh("s", s, coarse, SIZE, mesh_key=1) is th1
    # a texture swap (texture code changed): every class may change, the photo stays in front
    s.ws = s.ws.clone()
    s.ws[:, 2:] = 1.0
    s.colour = (80, 0, 0)
    th2 = tx.textured_mesh("s", s, coarse, SIZE, mesh_key=1)
    changed = (tex(th1) != tex(th2)).any(1)
    assert changed[surf.labels == 17].mean() > 0.3
    assert not th2.result.warnings
    th3 = tx.textured_mesh("s", s, coarse, SIZE, keep_photo=False, mesh_key=1)
    assert th3.result.warnings == ["keep_photo is off: the texture is baked from the renders only"]
