"""Writers for HeadMesh: GLB (binary glTF 2.0), OBJ (+ .mtl) and binary PLY.

All writes are atomic (checkpoint.atomic_write_bytes). Coordinates are written as
they are in the mesh; `export_mesh` first puts a model-frame mesh into the frame each
format's Blender importer expects (docs/mesh.md):

- GLB, OBJ: Y up, face toward +Z, metres. Blender's glTF and OBJ importers (default
  axes) rotate Y-up files into Z-up by x, -z, y, which lands on the Blender frame.
- PLY: already in Blender's frame (Z up, face -Y, metres); Blender's PLY importer
  does not rotate by default.

GLB layout: one mesh with one primitive per class present (faces go to their
class, see mesh.attributes.face_labels; vertices on a class border are duplicated). Each
primitive has POSITION, NORMAL, COLOR_0 (float VEC3, *linear* as glTF requires;
converted from the mesh's sRGB colours), `_SEMANTIC` (float SCALAR class id, the glTF
convention for application-specific attributes) and uint32 indices, and its own
material named after the class (base colour white so vertex colours show as they
are; the class palette colour is in the material's extras).

OBJ: `v x y z r g b` (sRGB in [0, 1]), `vn`, one `g <class>` + `usemtl <class>` block
per class; the .mtl gives each class its palette colour as Kd.
PLY: binary little endian, vertex x y z nx ny nz (float) red green blue label (uchar).
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write_bytes
from .mesh.attributes import face_labels
from .mesh.cleanup import compact_faces
from .mesh.head_mesh import HeadMesh
from .semantics import CLASS_NAMES, PALETTE

GLB_MAGIC = 0x46546C67  # "glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
FLOAT, UINT32 = 5126, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
LINEAR, LINEAR_MIPMAP_LINEAR, CLAMP_TO_EDGE = 9729, 9987, 33071
SEMANTIC_ATTRIBUTE = "_SEMANTIC"
# In a textured GLB the vertex colours move to this attribute: glTF multiplies the base
# colour texture by COLOR_0, which would darken the photo texture in every viewer.
TEXTURED_COLOR_ATTRIBUTE = "_COLOR"
FORMATS = ("glb", "obj", "ply")


class ExportPathError(FileNotFoundError):
    """An export target whose folder does not exist (nothing is written)."""


# --- colour spaces ------------------------------------------------------------------
def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float64), 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def _write_bytes(path: Path, data: bytes) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write_bytes(path, write)


# --- GLB ------------------------------------------------------------------------------
def _split_by_class(mesh: HeadMesh):
    """[(class_id, vertex indices into mesh, local faces)] for each class with faces."""
    fl = face_labels(mesh.faces, mesh.labels)
    out = []
    for cls in np.unique(fl):
        local, used = compact_faces(mesh.faces[fl == cls], len(mesh.vertices))
        out.append((int(cls), used, local.astype(np.uint32)))
    return out


def glb_bytes(mesh: HeadMesh, name: str = "ide3d_head") -> bytes:
    """The GLB file of a mesh as bytes (coordinates written as they are)."""
    bin_parts: list[bytes] = []
    offset = 0
    buffer_views, accessors = [], []

    def view(data: bytes, target: int | None) -> int:
        nonlocal offset
        bv = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target is not None:
            bv["target"] = target
        buffer_views.append(bv)
        pad = (-len(data)) % 4
        bin_parts.append(data + b"\0" * pad)
        offset += len(data) + pad
        return len(buffer_views) - 1

    def add(array: np.ndarray, comp: int, kind: str, target: int, minmax: bool = False) -> int:
        view(np.ascontiguousarray(array).tobytes(), target)
        acc = {"bufferView": len(buffer_views) - 1, "componentType": comp, "count": int(len(array)),
               "type": kind}
        if minmax:
            acc["min"] = [float(x) for x in array.min(0)]
            acc["max"] = [float(x) for x in array.max(0)]
        accessors.append(acc)
        return len(accessors) - 1

    primitives, materials = [], []
    linear = srgb_to_linear(mesh.colors / 255.0).astype(np.float32)
    textured = mesh.texture is not None and mesh.uvs is not None
    color_name = TEXTURED_COLOR_ATTRIBUTE if textured else "COLOR_0"
    for cls, used, faces in _split_by_class(mesh):
        attributes = {
            "POSITION": add(mesh.vertices[used].astype(np.float32), FLOAT, "VEC3", ARRAY_BUFFER, True),
            "NORMAL": add(mesh.normals[used].astype(np.float32), FLOAT, "VEC3", ARRAY_BUFFER),
            color_name: add(linear[used], FLOAT, "VEC3", ARRAY_BUFFER),
            SEMANTIC_ATTRIBUTE: add(mesh.labels[used].astype(np.float32), FLOAT, "SCALAR", ARRAY_BUFFER),
        }
        if mesh.uvs is not None:  # glTF's UV origin is the image's top-left, as HeadMesh.uvs
            attributes["TEXCOORD_0"] = add(mesh.uvs[used].astype(np.float32), FLOAT, "VEC2", ARRAY_BUFFER)
        indices = add(faces.reshape(-1), UINT32, "SCALAR", ELEMENT_ARRAY_BUFFER)
        pbr = {"baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.8}
        if textured:
            pbr["baseColorTexture"] = {"index": 0, "texCoord": 0}
        materials.append({
            "name": CLASS_NAMES[cls],
            "pbrMetallicRoughness": pbr,
            "extras": {"class_id": cls, "class_name": CLASS_NAMES[cls],
                       "palette": [int(x) for x in PALETTE[cls]]},
        })
        primitives.append({"attributes": attributes, "indices": indices, "mode": 4,
                           "material": len(materials) - 1, "extras": {"class_id": cls}})
    image_view = None
    if textured and primitives:
        from .texture.png import png_bytes
        image_view = view(png_bytes(mesh.texture), None)
    binary = b"".join(bin_parts)
    gltf = {
        "asset": {"version": "2.0", "generator": "ide3d_backend.export"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [{"name": name, "primitives": primitives,
                    "extras": {"frame": mesh.frame, "semantic_attribute": SEMANTIC_ATTRIBUTE,
                               "class_names": list(CLASS_NAMES)}}],
        "materials": materials,
        "accessors": accessors, "bufferViews": buffer_views,
        "buffers": [{"byteLength": len(binary)}],
    }
    if image_view is not None:
        gltf["meshes"][0]["extras"]["color_attribute"] = TEXTURED_COLOR_ATTRIBUTE
        gltf["images"] = [{"bufferView": image_view, "mimeType": "image/png", "name": f"{name}_texture"}]
        gltf["samplers"] = [{"magFilter": LINEAR, "minFilter": LINEAR_MIPMAP_LINEAR,
                             "wrapS": CLAMP_TO_EDGE, "wrapT": CLAMP_TO_EDGE}]
        gltf["textures"] = [{"sampler": 0, "source": 0}]
    if not primitives:  # glTF needs at least one primitive per mesh: write an empty node
        gltf["nodes"] = [{"name": name}]
        del gltf["meshes"], gltf["materials"], gltf["accessors"], gltf["bufferViews"], gltf["buffers"]
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 4)
    chunks = struct.pack("<II", len(js), CHUNK_JSON) + js
    if binary:
        chunks += struct.pack("<II", len(binary), CHUNK_BIN) + binary
    return struct.pack("<III", GLB_MAGIC, 2, 12 + len(chunks)) + chunks


def write_glb(mesh: HeadMesh, path: str | os.PathLike, name: str = "ide3d_head") -> Path:
    path = Path(path)
    _write_bytes(path, glb_bytes(mesh, name))
    return path


_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def read_glb(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """Parse a GLB written here (or any GLB without sparse accessors) ->
    (gltf json, [ {attribute name: array, 'indices': array, 'material': int} per primitive ])."""
    data = Path(path).read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC or version != 2 or length != len(data):
        raise ValueError(f"{path} is not a GLB 2.0 file")
    pos, gltf, binary = 12, None, b""
    while pos < length:
        clen, ctype = struct.unpack_from("<II", data, pos)
        chunk = data[pos + 8:pos + 8 + clen]
        if ctype == CHUNK_JSON:
            gltf = json.loads(chunk)
        elif ctype == CHUNK_BIN:
            binary = chunk
        pos += 8 + clen

    def accessor(i):
        a = gltf["accessors"][i]
        bv = gltf["bufferViews"][a["bufferView"]]
        dt = np.dtype(_COMPONENTS[a["componentType"]])
        w = _WIDTH[a["type"]]
        start = bv.get("byteOffset", 0) + a.get("byteOffset", 0)
        stride = bv.get("byteStride", dt.itemsize * w)
        if stride != dt.itemsize * w:
            raise ValueError("strided buffer views are not supported by this reader")
        arr = np.frombuffer(binary, dtype=dt, count=a["count"] * w, offset=start)
        return arr.reshape(a["count"], w) if w > 1 else arr

    prims = []
    for mesh in gltf.get("meshes", []):
        for p in mesh["primitives"]:
            d = {k: accessor(v) for k, v in p["attributes"].items()}
            if "indices" in p:
                d["indices"] = accessor(p["indices"])
            d["material"] = p.get("material")
            prims.append(d)
    return gltf, prims


# --- OBJ ------------------------------------------------------------------------------
def obj_text(mesh: HeadMesh, mtl_name: str | None = None, texture_name: str | None = None) -> tuple[str, str]:
    """(obj text, mtl text). Faces keep their winding; groups follow mesh.face_labels.
    With uvs, `vt` lines (v flipped: OBJ puts the UV origin bottom-left) and faces
    v/vt/vn; with `texture_name`, every class material maps it as map_Kd (Kd white, so
    viewers that multiply Kd by the map show the texture as it is)."""
    v = mesh.vertices.astype(np.float64)
    c = mesh.colors.astype(np.float64) / 255.0
    lines = ["# ide3d head mesh: v x y z r g b (sRGB), one group per semantic class",
             f"# frame: {mesh.frame}"]
    if mtl_name:
        lines.append(f"mtllib {mtl_name}")
    vs = np.concatenate([v, c], 1)
    lines.extend(f"v {a:.7g} {b:.7g} {d:.7g} {r:.6f} {g:.6f} {bl:.6f}" for a, b, d, r, g, bl in vs)
    lines.extend(f"vn {a:.6f} {b:.6f} {d:.6f}" for a, b, d in mesh.normals.astype(np.float64))
    uv = mesh.uvs is not None
    if uv:
        lines.extend(f"vt {a:.7f} {1.0 - b:.7f}" for a, b in mesh.uvs.astype(np.float64))
    fl = face_labels(mesh.faces, mesh.labels)
    mtl = ["# ide3d semantic classes: Kd = class palette colour"]
    for cls in np.unique(fl):
        name = CLASS_NAMES[cls]
        lines.append(f"g {name}")
        lines.append(f"usemtl {name}")
        f = mesh.faces[fl == cls].astype(np.int64) + 1
        if uv:  # position, uv and normal share the vertex index
            lines.extend(f"f {a}/{a}/{a} {b}/{b}/{b} {d}/{d}/{d}" for a, b, d in f)
        else:
            lines.extend(f"f {a}//{a} {b}//{b} {d}//{d}" for a, b, d in f)
        kd = PALETTE[cls] / 255.0
        if texture_name:
            mtl += [f"newmtl {name}", f"# palette {kd[0]:.6f} {kd[1]:.6f} {kd[2]:.6f}", "Kd 1 1 1", "Ka 0 0 0",
                    "Ks 0 0 0", "d 1", "illum 1", f"map_Kd {texture_name}", ""]
        else:
            mtl += [f"newmtl {name}", f"Kd {kd[0]:.6f} {kd[1]:.6f} {kd[2]:.6f}", "Ka 0 0 0",
                    "Ks 0 0 0", "d 1", "illum 1", ""]
    return "\n".join(lines) + "\n", "\n".join(mtl) + "\n"


def write_obj(mesh: HeadMesh, path: str | os.PathLike) -> Path:
    """Write `path` (.obj) and its material library beside it (same stem, .mtl); a
    textured mesh also gets its texture beside it (same stem, .png)."""
    path = Path(path)
    mtl_path = path.with_suffix(".mtl")
    texture_name = None
    if mesh.texture is not None and mesh.uvs is not None:
        from .texture.png import png_bytes
        texture_name = path.with_suffix(".png").name
        _write_bytes(path.with_suffix(".png"), png_bytes(mesh.texture))
    obj, mtl = obj_text(mesh, mtl_path.name, texture_name)
    _write_bytes(mtl_path, mtl.encode())
    _write_bytes(path, obj.encode())
    return path


def read_obj_labels(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V,3), per-face class ids from the `g` groups) of an OBJ written here."""
    verts, face_cls, current = [], [], 0
    for line in Path(path).read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("g "):
            current = CLASS_NAMES.index(line[2:].strip())
        elif line.startswith("f "):
            face_cls.append(current)
    return np.array(verts, np.float32), np.array(face_cls, np.uint8)


# --- PLY ------------------------------------------------------------------------------
PLY_VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4"),
                       ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("label", "u1")])
PLY_FACE = np.dtype([("n", "u1"), ("i", "<i4", (3,))])


def ply_bytes(mesh: HeadMesh) -> bytes:
    header = "\n".join([
        "ply", "format binary_little_endian 1.0",
        "comment ide3d head mesh; frame " + mesh.frame,
        "comment label = class id: " + " ".join(f"{i}={n}" for i, n in enumerate(CLASS_NAMES)),
        f"element vertex {len(mesh.vertices)}",
        *[f"property float {n}" for n in ("x", "y", "z", "nx", "ny", "nz")],
        *[f"property uchar {n}" for n in ("red", "green", "blue", "label")],
        f"element face {len(mesh.faces)}",
        "property list uchar int vertex_indices",
        "end_header"]) + "\n"
    v = np.zeros(len(mesh.vertices), PLY_VERTEX)
    for i, n in enumerate("xyz"):
        v[n] = mesh.vertices[:, i]
        v["n" + n] = mesh.normals[:, i]
    for i, n in enumerate(("red", "green", "blue")):
        v[n] = mesh.colors[:, i]
    v["label"] = mesh.labels
    f = np.zeros(len(mesh.faces), PLY_FACE)
    f["n"] = 3
    f["i"] = mesh.faces
    return header.encode("ascii") + v.tobytes() + f.tobytes()


def write_ply(mesh: HeadMesh, path: str | os.PathLike) -> Path:
    path = Path(path)
    _write_bytes(path, ply_bytes(mesh))
    return path


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(vertex records with PLY_VERTEX fields, faces (F,3)) of a PLY written here."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    nv = int(next(l for l in header if l.startswith("element vertex")).split()[-1])
    nf = int(next(l for l in header if l.startswith("element face")).split()[-1])
    v = np.frombuffer(data, PLY_VERTEX, nv, end)
    f = np.frombuffer(data, PLY_FACE, nf, end + nv * PLY_VERTEX.itemsize)
    return v, f["i"].copy()


# --- front door -----------------------------------------------------------------------
def export_mesh(mesh: HeadMesh, path: str | os.PathLike, fmt: str | None = None,
                blender_ready: bool = True) -> Path:
    """Write `mesh` as GLB, OBJ or PLY (format from `fmt` or the file suffix).

    The folder must exist: nothing is created outside it (ExportPathError otherwise).
    A textured mesh (uvs + texture) writes the texture too: embedded in a GLB, beside an
    OBJ as <stem>.png; PLY keeps only the vertex colours.
    With blender_ready (default) a model-frame mesh is first converted to metres in the
    frame the format's Blender importer expects (module docstring); otherwise the
    coordinates are written as they are.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ExportPathError(f"cannot export to {path}: the folder {path.parent} does not exist; create it "
                              "first (nothing was written)")
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown mesh format {fmt!r}; use one of {', '.join(FORMATS)}")
    if blender_ready and mesh.frame == "model":
        mesh = mesh.to_blender_frame() if fmt == "ply" else mesh.to_yup_metres()
    return {"glb": write_glb, "obj": write_obj, "ply": write_ply}[fmt](mesh, path)
