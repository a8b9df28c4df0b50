"""Compact mesh JSON from the backend (docs/api.md) -> Blender mesh objects.

A head object carries:

* mesh geometry (vertices in Blender's frame, triangles), smooth shaded;
* ``Col``      - BYTE_COLOR / POINT colour attribute (active + render colour);
* ``semantic`` - INT / POINT attribute with the class id (0..18) of each vertex;
* one vertex group per class present, named by class (``hair``, ``skin``, ...);
* a material showing the vertex colours (Color Attribute node -> Principled base colour),
  or, when the backend baked a texture, a UV map, the packed texture image and the head's
  own material that shows texture, vertex colours or classes (texture_io.py);
* custom properties ``ide3d_session``, ``ide3d_backend_url``, ``ide3d_version`` and
  ``ide3d_classes_present`` so a saved .blend stays editable.

``decode_compact`` needs no bpy; the rest runs on Blender's main thread.
numpy ships with Blender and is imported inside functions only.
"""
from __future__ import annotations

import base64

from . import palette, texture_io

COLOR_ATTR = "Col"
SEMANTIC_ATTR = "semantic"
EXPORT_SEMANTIC_ATTR = "_SEMANTIC"
MATERIAL_NAME = "IDE3D Vertex Colour"
PROP_SESSION = "ide3d_session"
PROP_URL = "ide3d_backend_url"
PROP_VERSION = "ide3d_version"
PROP_PRESENT = "ide3d_classes_present"


class MeshPayloadError(ValueError):
    pass


def _b64(payload: dict, key: str) -> bytes:
    try:
        return base64.b64decode(payload[key], validate=False)
    except KeyError:
        raise MeshPayloadError(f"the compact mesh has no {key!r} array") from None
    except (ValueError, TypeError) as exc:
        raise MeshPayloadError(f"the compact mesh's {key!r} is not base64: {exc}") from None


def decode_compact(payload: dict) -> dict:
    """Decode the base64 arrays; returns numpy arrays vertices (V,3) f32, faces (F,3) i32,
    colors (V,3) u8, labels (V,) u8. Validates sizes and index ranges."""
    import numpy as np

    if not isinstance(payload, dict):
        raise MeshPayloadError("the compact mesh must be a JSON object")
    verts = np.frombuffer(_b64(payload, "vertices"), dtype="<f4")
    faces = np.frombuffer(_b64(payload, "faces"), dtype="<i4")
    if verts.size % 3 or faces.size % 3:
        raise MeshPayloadError("vertices/faces byte lengths are not multiples of 3 values")
    verts = verts.reshape(-1, 3)
    faces = faces.reshape(-1, 3)
    n = len(verts)
    colors = np.frombuffer(_b64(payload, "colors"), dtype=np.uint8) if payload.get("colors") else None
    labels = np.frombuffer(_b64(payload, "labels"), dtype=np.uint8) if payload.get("labels") else None
    if colors is None:
        colors = np.full((n, 3), 200, dtype=np.uint8)
    if colors.size != 3 * n:
        raise MeshPayloadError(f"{colors.size} colour bytes for {n} vertices (expected {3 * n})")
    colors = colors.reshape(-1, 3)
    if labels is None:
        labels = np.zeros(n, dtype=np.uint8)
    if labels.size != n:
        raise MeshPayloadError(f"{labels.size} labels for {n} vertices")
    if faces.size and (faces.min() < 0 or faces.max() >= n):
        raise MeshPayloadError("face indices out of range")
    if labels.size and labels.max() >= palette.NUM_CLASSES:
        raise MeshPayloadError("labels out of range 0..18")
    uvs = None
    if payload.get("uvs"):
        uvs = np.frombuffer(_b64(payload, "uvs"), dtype="<f4")
        if uvs.size != 2 * n:
            raise MeshPayloadError(f"{uvs.size} uv values for {n} vertices (expected {2 * n})")
        uvs = uvs.reshape(-1, 2)
    texture_png = _b64(payload, "texture_png") if payload.get("texture_png") else None
    if texture_png is not None and not texture_png.startswith(b"\x89PNG"):
        raise MeshPayloadError("the compact mesh's texture_png is not a PNG")
    return {"vertices": verts, "faces": faces, "colors": colors, "labels": labels,
            "version": payload.get("version"), "uvs": uvs, "texture_png": texture_png,
            "warnings": list(payload.get("warnings") or [])}


def encode_compact(vertices, faces, colors=None, labels=None, version: int = 1, uvs=None,
                   texture_png: bytes | None = None) -> dict:
    """The inverse of decode_compact (tests, synthetic heads)."""
    import numpy as np

    out = {"version": version,
           "vertices": base64.b64encode(np.ascontiguousarray(vertices, dtype="<f4").tobytes()).decode(),
           "faces": base64.b64encode(np.ascontiguousarray(faces, dtype="<i4").tobytes()).decode()}
    if colors is not None:
        out["colors"] = base64.b64encode(np.ascontiguousarray(colors, dtype=np.uint8).tobytes()).decode()
    if labels is not None:
        out["labels"] = base64.b64encode(np.ascontiguousarray(labels, dtype=np.uint8).tobytes()).decode()
    if uvs is not None:
        out["uvs"] = base64.b64encode(np.ascontiguousarray(uvs, dtype="<f4").tobytes()).decode()
    if texture_png is not None:
        out["texture_png"] = base64.b64encode(texture_png).decode()
    return out


def as_mesh_data(payload: dict) -> dict:
    """A compact payload (base64 strings) decoded, or an already decoded dict as is."""
    if isinstance(payload.get("vertices"), (str, bytes)):
        return decode_compact(payload)
    return payload


# --------------------------------------------------------------------------- bpy side


def _fill_mesh(mesh, data: dict):
    import numpy as np

    verts, faces = data["vertices"], data["faces"]
    nv, nf = len(verts), len(faces)
    mesh.vertices.add(nv)
    mesh.loops.add(3 * nf)
    mesh.polygons.add(nf)
    mesh.vertices.foreach_set("co", np.ascontiguousarray(verts, dtype=np.float32).ravel())
    mesh.loops.foreach_set("vertex_index", np.ascontiguousarray(faces, dtype=np.int32).ravel())
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * nf, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(nf, 3, dtype=np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(nf, dtype=bool))
    mesh.update(calc_edges=True)
    mesh.validate(verbose=False, clean_customdata=False)

    col = mesh.color_attributes.get(COLOR_ATTR) or mesh.color_attributes.new(COLOR_ATTR, "BYTE_COLOR", "POINT")
    rgba = np.ones((nv, 4), dtype=np.float32)
    rgba[:, :3] = data["colors"].astype(np.float32) / 255.0
    # color_srgb stores the bytes as given (no linear conversion round trip)
    col.data.foreach_set("color_srgb", rgba.ravel())
    mesh.color_attributes.active_color = col
    try:
        mesh.color_attributes.render_color_index = mesh.color_attributes.active_color_index
    except AttributeError:
        pass

    sem = mesh.attributes.get(SEMANTIC_ATTR) or mesh.attributes.new(SEMANTIC_ATTR, "INT", "POINT")
    sem.data.foreach_set("value", data["labels"].astype(np.int32))


def _set_vertex_groups(obj, labels):
    import numpy as np

    for vg in list(obj.vertex_groups):
        if vg.name in palette.CLASS_NAMES:
            obj.vertex_groups.remove(vg)
    present = sorted(int(c) for c in np.unique(labels))
    for cid in present:
        idx = np.flatnonzero(labels == cid).tolist()
        vg = obj.vertex_groups.new(name=palette.CLASS_NAMES[cid])
        vg.add(idx, 1.0, "REPLACE")
    return present


def ensure_material():
    """The shared vertex-colour material (created once per .blend)."""
    import bpy

    mat = bpy.data.materials.get(MATERIAL_NAME)
    if mat is not None and mat.use_nodes:
        return mat
    if mat is None:
        mat = bpy.data.materials.new(MATERIAL_NAME)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    out = nodes.new("ShaderNodeOutputMaterial")
    out.location = (400, 0)
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.location = (100, 0)
    attr = nodes.new("ShaderNodeVertexColor")
    attr.location = (-200, 0)
    attr.layer_name = COLOR_ATTR
    links.new(attr.outputs["Color"], bsdf.inputs["Base Color"])
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    rough = bsdf.inputs.get("Roughness")
    if rough is not None:
        rough.default_value = 0.6
    return mat


def build_mesh(name: str, payload_or_data: dict):
    """A new bpy Mesh from a compact payload (or decoded dict)."""
    import bpy

    data = as_mesh_data(payload_or_data)
    mesh = bpy.data.meshes.new(name)
    _fill_mesh(mesh, data)
    return mesh, data


def _tag_object(obj, labels, session: dict | None, backend_url: str | None, present):
    if session:
        obj[PROP_SESSION] = str(session.get("id", ""))
        if session.get("version") is not None:
            obj[PROP_VERSION] = int(session["version"])
    if backend_url:
        obj[PROP_URL] = str(backend_url)
    obj[PROP_PRESENT] = [int(c) for c in present]


def create_head_object(name: str, payload: dict, session: dict | None = None, backend_url: str | None = None,
                       collection=None, context=None):
    """Create and link a head object; returns it (selected and active when a view layer is at hand)."""
    import bpy

    mesh, data = build_mesh(name, payload)
    obj = bpy.data.objects.new(name, mesh)
    if collection is None:
        ctx = context or bpy.context
        collection = getattr(ctx, "collection", None) or ctx.scene.collection
    collection.objects.link(obj)
    present = _set_vertex_groups(obj, data["labels"])
    if not texture_io.apply_texture(obj, data, COLOR_ATTR):
        mesh.materials.append(ensure_material())
    _tag_object(obj, data["labels"], session, backend_url, present)
    try:
        ctx = context or bpy.context
        for o in ctx.view_layer.objects:
            o.select_set(False)
        obj.select_set(True)
        ctx.view_layer.objects.active = obj
    except (AttributeError, RuntimeError):
        pass
    return obj


def update_head_object(obj, payload: dict, session: dict | None = None, backend_url: str | None = None):
    """Replace the geometry/attributes of ``obj``'s mesh in place (same object, same mesh
    datablock, same materials, modifiers and transforms)."""
    data = as_mesh_data(payload)
    mesh = obj.data
    materials = [m for m in mesh.materials]
    mesh.clear_geometry()
    _fill_mesh(mesh, data)
    if len(mesh.materials) == 0:
        for m in materials or [ensure_material()]:
            mesh.materials.append(m)
    texture_io.apply_texture(obj, data, COLOR_ATTR)  # textured: same image datablock, new pixels
    present = _set_vertex_groups(obj, data["labels"])
    _tag_object(obj, data["labels"], session, backend_url, present)
    mesh.update()
    return obj


def head_labels(obj):
    """numpy int32 labels of a head object's vertices (from the ``semantic`` attribute)."""
    import numpy as np

    attr = obj.data.attributes.get(SEMANTIC_ATTR)
    n = len(obj.data.vertices)
    out = np.zeros(n, dtype=np.int32)
    if attr is not None and n:
        attr.data.foreach_get("value", out)
    return out


def classes_present(obj) -> list[int]:
    """Class ids present on a head (cached custom property, else from the attribute)."""
    cached = obj.get(PROP_PRESENT) if obj is not None else None
    if cached is not None:
        return [int(c) for c in cached]
    import numpy as np

    return sorted(int(c) for c in np.unique(head_labels(obj)))


def is_head(obj) -> bool:
    return obj is not None and obj.type == "MESH" and PROP_SESSION in obj.keys()


def add_export_semantic(obj):
    """glTF exports custom attributes only with a leading underscore (as FLOAT): add a
    ``_SEMANTIC`` FLOAT copy of the labels (refreshed on each call)."""
    import numpy as np

    mesh = obj.data
    labels = head_labels(obj).astype(np.float32)
    attr = mesh.attributes.get(EXPORT_SEMANTIC_ATTR)
    if attr is not None and (attr.data_type != "FLOAT" or attr.domain != "POINT"):
        mesh.attributes.remove(attr)
        attr = None
    if attr is None:
        attr = mesh.attributes.new(EXPORT_SEMANTIC_ATTR, "FLOAT", "POINT")
    attr.data.foreach_set("value", labels)
    return attr
