"""GLB / OBJ / PLY round trips: read back with trimesh (and for what trimesh does not
expose, with the format's own parser) and compare positions, labels and colours."""
import json
import struct

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree

from gltf_validator import assert_valid
from ide3d_backend import export as E
from ide3d_backend import mesh as M
from ide3d_backend.semantics import CLASS_NAMES, NUM_CLASSES, PALETTE


def _labels(xyz):
    """Three classes: skin (x < 0), hair (x > 0, y > 0), nose (x > 0, y <= 0)."""
    out = torch.ones(len(xyz), dtype=torch.long)
    out[(xyz[:, 0] > 0) & (xyz[:, 1] > 0)] = 13
    out[(xyz[:, 0] > 0) & (xyz[:, 1] <= 0)] = 2
    return out


@pytest.fixture(scope="module")
def head():
    hm = M.mesh_from_fields(M.sphere_density(0.3), _labels, lambda x: (x * 1.5 + 0.5).clamp(0, 1),
                            resolution=24)
    assert set(np.unique(hm.labels)) == {1, 2, 13}
    return hm


def _match(ref: np.ndarray, got: np.ndarray, tol: float = 1e-5) -> np.ndarray:
    """Index of the reference vertex at each read-back vertex (asserting they coincide)."""
    d, idx = cKDTree(ref).query(got)
    assert d.max() < tol, d.max()
    return idx


def test_glb_round_trip_with_trimesh(tmp_path, head):
    path = E.write_glb(head, tmp_path / "head.glb")
    scene = trimesh.load(path)
    assert isinstance(scene, trimesh.Scene)
    seen = np.zeros(len(head.vertices), bool)
    material_names = set()
    for g in scene.geometry.values():
        idx = _match(head.vertices, np.asarray(g.vertices))
        seen[idx] = True
        sem = np.asarray(g.vertex_attributes["_SEMANTIC"]).reshape(-1)
        np.testing.assert_array_equal(sem.astype(np.uint8), head.labels[idx])
        lin = np.asarray(g.visual.vertex_attributes["color"])[:, :3]
        srgb = np.round(E.linear_to_srgb(lin) * 255)
        assert np.abs(srgb - head.colors[idx]).max() <= 1
        material_names.add(g.visual.material.name)
    assert seen.all()
    assert material_names == {"skin", "nose", "hair"}


def test_glb_structure_parsed_by_hand(tmp_path, head):
    path = E.write_glb(head, tmp_path / "head.glb")
    assert_valid(path)
    raw = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", raw)
    assert (magic, version, length) == (0x46546C67, 2, len(raw))
    js_len, js_type = struct.unpack_from("<II", raw, 12)
    assert js_type == 0x4E4F534A and js_len % 4 == 0
    gltf = json.loads(raw[20:20 + js_len])
    assert gltf["buffers"][0]["byteLength"] == struct.unpack_from("<I", raw, 20 + js_len)[0]
    assert all(bv["byteOffset"] % 4 == 0 for bv in gltf["bufferViews"])
    gltf2, prims = E.read_glb(path)
    assert gltf2 == gltf
    face_cls = head.face_labels
    total_faces = 0
    for p, prim_json in zip(prims, gltf["meshes"][0]["primitives"]):
        mat = gltf["materials"][p["material"]]
        cls = CLASS_NAMES.index(mat["name"])
        assert mat["extras"]["palette"] == [int(x) for x in PALETTE[cls]]
        pos_acc = gltf["accessors"][prim_json["attributes"]["POSITION"]]
        np.testing.assert_allclose(pos_acc["min"], p["POSITION"].min(0))
        idx = _match(head.vertices, p["POSITION"])
        assert p["_SEMANTIC"].dtype == np.float32
        np.testing.assert_array_equal(p["_SEMANTIC"], head.labels[idx].astype(np.float32))
        np.testing.assert_allclose(E.linear_to_srgb(p["COLOR_0"]) * 255, head.colors[idx], atol=0.01)
        np.testing.assert_allclose(p["NORMAL"], head.normals[idx], atol=1e-6)
        faces = idx[p["indices"].reshape(-1, 3)]
        total_faces += len(faces)
        # each primitive holds exactly its class's faces, winding kept
        expect = head.faces[face_cls == cls]
        assert {tuple(f) for f in faces} == {tuple(f) for f in expect}
    assert total_faces == len(head.faces)


def test_obj_round_trip(tmp_path, head):
    path = E.write_obj(head, tmp_path / "head.obj")
    mtl = (tmp_path / "head.mtl").read_text()
    assert "newmtl hair" in mtl and "Kd 0.000000 0.000000 0.800000" in mtl  # hair palette (0, 0, 204)
    scene = trimesh.load(path)
    geoms = list(scene.geometry.values()) if isinstance(scene, trimesh.Scene) else [scene]
    seen = np.zeros(len(head.vertices), bool)
    for g in geoms:
        idx = _match(head.vertices, np.asarray(g.vertices), tol=1e-6)
        seen[idx] = True
        va = g.vertex_attributes
        colors = np.asarray(va["color"] if "color" in va else g.visual.vertex_colors)[:, :3].astype(float)
        if colors.max() <= 1.0:
            colors = colors * 255
        assert np.abs(np.round(colors) - head.colors[idx]).max() <= 1
    assert seen.all()
    verts, face_cls = E.read_obj_labels(path)
    np.testing.assert_allclose(verts, head.vertices, atol=1e-6)
    assert sorted(face_cls.tolist()) == sorted(head.face_labels.tolist())
    text = path.read_text()
    assert {line[2:] for line in text.splitlines() if line.startswith("g ")} == {"skin", "nose", "hair"}


def test_ply_round_trip(tmp_path, head):
    path = E.write_ply(head, tmp_path / "head.ply")
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    m = trimesh.load(path, process=False)
    np.testing.assert_array_equal(np.asarray(m.vertices, np.float32), head.vertices)
    np.testing.assert_array_equal(np.asarray(m.faces), head.faces)
    np.testing.assert_array_equal(np.asarray(m.visual.vertex_colors)[:, :3], head.colors)
    raw = m.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_array_equal(np.asarray(raw["label"]).reshape(-1), head.labels)
    v, f = E.read_ply(path)
    np.testing.assert_array_equal(f, head.faces)
    np.testing.assert_array_equal(v["label"], head.labels)


def test_export_mesh_frames_and_formats(tmp_path, head):
    s = M.METRES_PER_UNIT
    E.export_mesh(head, tmp_path / "a.glb")
    _, prims = E.read_glb(tmp_path / "a.glb")
    pos = np.concatenate([p["POSITION"] for p in prims])
    _match(head.vertices * s, pos)  # Y-up metres: Blender's importer rotates it
    E.export_mesh(head, tmp_path / "a.ply")
    v, _ = E.read_ply(tmp_path / "a.ply")
    got = np.stack([v["x"], v["y"], v["z"]], 1)
    np.testing.assert_allclose(got, head.to_blender_frame().vertices, atol=1e-7)
    E.export_mesh(head, tmp_path / "b.obj", blender_ready=False)
    verts, _ = E.read_obj_labels(tmp_path / "b.obj")
    np.testing.assert_allclose(verts, head.vertices, atol=1e-6)
    with pytest.raises(ValueError):
        E.export_mesh(head, tmp_path / "a.stl")


def test_writes_are_atomic(tmp_path, head, monkeypatch):
    path = tmp_path / "head.ply"
    E.write_ply(head, path)
    before = path.read_bytes()

    def boom(mesh):
        raise RuntimeError("disk full")
    monkeypatch.setattr(E, "ply_bytes", boom)
    with pytest.raises(RuntimeError):
        E.write_ply(head, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.ply"]  # no temporary left


def test_empty_and_single_class_meshes(tmp_path):
    one = M.mesh_from_fields(M.sphere_density(0.2), None, None, resolution=16)
    assert set(np.unique(one.labels)) == {1}
    for ext in E.FORMATS:
        E.export_mesh(one, tmp_path / f"one.{ext}")
    _, prims = E.read_glb(tmp_path / "one.glb")
    assert len(prims) == 1
    empty = M.HeadMesh(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
    E.write_glb(empty, tmp_path / "empty.glb")
    gltf, prims = E.read_glb(tmp_path / "empty.glb")
    assert prims == [] and gltf["asset"]["version"] == "2.0"
    assert NUM_CLASSES == len(CLASS_NAMES)
