"""Textured heads in Blender: the UV map, the baked photo texture as a packed image, a
Principled BSDF material that can show the texture, the vertex colours or the classes,
and writing the texture beside an OBJ export.

The backend sends `uvs` (float32 (V, 2), glTF convention: origin top-left) and
`texture_png` with the compact mesh when asked for a texture (docs/api.md).
Blender puts the UV origin bottom-left: v is flipped here.
"""
from __future__ import annotations

import os
import tempfile

from . import palette

UV_NAME = "UVMap"
CLASS_ATTR = "Classes"          # BYTE_COLOR / POINT palette colour of each vertex's class
IMAGE_NODE = "IDE3D Texture"
COLOR_NODE = "IDE3D Vertex Colour"
CLASS_NODE = "IDE3D Classes"
DISPLAY_MODES = ("TEXTURE", "VERTEX", "CLASSES")
PROP_DISPLAY = "ide3d_display"


def material_name(obj_name: str) -> str:
    return f"IDE3D Textured {obj_name}"


def image_name(obj_name: str) -> str:
    return f"{obj_name} texture"


def set_uvs(mesh, faces, uvs):
    """Per-loop UVs from per-vertex ones (v flipped to Blender's bottom-left origin)."""
    import numpy as np

    layer = mesh.uv_layers.get(UV_NAME) or mesh.uv_layers.new(name=UV_NAME)
    loop_uv = np.asarray(uvs, np.float32)[np.asarray(faces, np.int64).ravel()].copy()
    loop_uv[:, 1] = 1.0 - loop_uv[:, 1]
    layer.data.foreach_set("uv", loop_uv.ravel())
    mesh.uv_layers.active = layer
    return layer


def set_class_colors(mesh, labels):
    import numpy as np

    attr = mesh.color_attributes.get(CLASS_ATTR) or mesh.color_attributes.new(CLASS_ATTR, "BYTE_COLOR", "POINT")
    rgba = np.ones((len(labels), 4), np.float32)
    rgba[:, :3] = np.array(palette.PALETTE, np.float32)[np.asarray(labels, np.int64)] / 255.0
    attr.data.foreach_set("color_srgb", rgba.ravel())
    return attr


def set_texture_image(name: str, png: bytes):
    """The packed image `name` holding `png`; an existing image keeps its datablock (every
    material using it updates in place)."""
    import bpy
    import numpy as np

    fd, path = tempfile.mkstemp(suffix=".png")
    try:
        os.write(fd, png)
        os.close(fd)
        new = bpy.data.images.load(path, check_existing=False)
        new.pixels[0]  # noqa: B018 - force the load before the file goes
        old = bpy.data.images.get(name)
        if old is None or old == new:
            new.name = name
            new.pack()
            new.filepath_raw = f"//{bpy.path.clean_name(name)}.png"
            return new
        w, h = new.size
        buf = np.empty(w * h * 4, np.float32)
        new.pixels.foreach_get(buf)
        if tuple(old.size) != (w, h):
            old.scale(w, h)
        old.pixels.foreach_set(buf)
        old.update()
        old.pack()
        bpy.data.images.remove(new)
        return old
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def ensure_textured_material(obj, image, color_attr: str):
    """The head's own material: Image Texture (UV map), vertex colours and class colours,
    one of them linked to the Principled BSDF's Base Color (set_display)."""
    import bpy

    name = material_name(obj.name)
    mat = bpy.data.materials.get(name)
    if mat is None:
        mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    if nodes.get(IMAGE_NODE) is None:
        nodes.clear()
        out = nodes.new("ShaderNodeOutputMaterial")
        out.location = (400, 0)
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.location = (100, 0)
        rough = bsdf.inputs.get("Roughness")
        if rough is not None:
            rough.default_value = 0.6
        links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
        uv = nodes.new("ShaderNodeUVMap")
        uv.uv_map = UV_NAME
        uv.location = (-500, 200)
        tex = nodes.new("ShaderNodeTexImage")
        tex.name = tex.label = IMAGE_NODE
        tex.location = (-250, 200)
        tex.extension = "EXTEND"
        links.new(uv.outputs["UV"], tex.inputs["Vector"])
        vc = nodes.new("ShaderNodeVertexColor")
        vc.name = vc.label = COLOR_NODE
        vc.location = (-250, -100)
        cl = nodes.new("ShaderNodeVertexColor")
        cl.name = cl.label = CLASS_NODE
        cl.location = (-250, -250)
    nodes[IMAGE_NODE].image = image
    nodes[COLOR_NODE].layer_name = color_attr
    nodes[CLASS_NODE].layer_name = CLASS_ATTR
    if obj.data.materials:
        obj.data.materials[0] = mat
    else:
        obj.data.materials.append(mat)
    set_display(obj, obj.get(PROP_DISPLAY, "TEXTURE"))
    return mat


def _bsdf(mat):
    return next((n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None)


def set_display(obj, mode: str) -> bool:
    """Link the photo texture, the vertex colours or the class colours to Base Color.
    False when the head has no textured material (untextured heads show vertex colours)."""
    if mode not in DISPLAY_MODES:
        raise ValueError(f"display mode must be one of {DISPLAY_MODES}")
    mat = obj.data.materials[0] if obj.data.materials else None
    if mat is None or not mat.use_nodes or mat.node_tree.nodes.get(IMAGE_NODE) is None:
        return False
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = _bsdf(mat)
    socket = bsdf.inputs["Base Color"]
    for link in list(socket.links):
        links.remove(link)
    source = {"TEXTURE": nodes[IMAGE_NODE], "VERTEX": nodes[COLOR_NODE], "CLASSES": nodes[CLASS_NODE]}[mode]
    links.new(source.outputs["Color"], socket)
    obj[PROP_DISPLAY] = mode
    return True


def head_image(obj):
    """The head's texture image, or None."""
    mat = obj.data.materials[0] if obj.data.materials else None
    node = mat.node_tree.nodes.get(IMAGE_NODE) if mat is not None and mat.use_nodes else None
    return node.image if node is not None else None


def apply_texture(obj, data: dict, color_attr: str) -> bool:
    """Set UVs, class colours and the texture of a textured payload; False when the payload
    has none (the head keeps its vertex-colour material)."""
    if data.get("uvs") is None or not data.get("texture_png"):
        return False
    set_uvs(obj.data, data["faces"], data["uvs"])
    set_class_colors(obj.data, data["labels"])
    image = set_texture_image(image_name(obj.name), data["texture_png"])
    ensure_textured_material(obj, image, color_attr)
    return True


def write_textures_for_obj(objects, folder: str) -> list:
    """Before an OBJ export: write each head's packed texture into `folder` and point the
    image at it (Blender's OBJ exporter copies only images that exist as files).
    Returns [(image, previous filepath_raw)] for restore_image_paths."""
    import bpy

    saved = []
    for obj in objects:
        img = head_image(obj)
        if img is None or img.packed_file is None:
            continue
        path = os.path.join(folder, f"{bpy.path.clean_name(obj.name)}_texture.png")
        with open(path, "wb") as f:
            f.write(img.packed_file.data)
        saved.append((img, img.filepath_raw))
        img.filepath_raw = path
    return saved


def restore_image_paths(saved) -> None:
    for img, previous in saved:
        img.filepath_raw = previous
