"""Shape edits by painting the semantic mask: brush colour per class, paint, upload.

Paint Mask fetches the head's canonical mask into the image
``IDE3D Mask <object>`` and opens it in paint mode; Apply Mask snaps the painted
pixels to the class palette, uploads them and refreshes mesh and mask.
"""
from __future__ import annotations

import bpy
from bpy.props import IntProperty
from bpy.types import Operator

from . import mesh_io, palette, pngio
from .ops_results import apply_mesh_update, load_png_image, show_image
from .ops_tasks import HeadOperator, active_head, fetch_mesh, mesh_query
from .preferences import get_client

MASK_IMAGE_PREFIX = "IDE3D Mask "


def set_paint_color(context, class_id: int):
    """Brush colour = the class's palette colour; hard, non-blended, non-antialiased strokes."""
    lin = palette.color_linear(class_id)
    ts = context.scene.tool_settings if context.scene else None
    if ts is None:
        return
    ip = ts.image_paint
    ups = getattr(ip, "unified_paint_settings", None) or getattr(ts, "unified_paint_settings", None)
    if ups is not None:
        try:
            ups.use_unified_color = True
            ups.color = lin
        except (AttributeError, TypeError):
            pass
    for attr, value in (("interpolation", "CLOSEST"), ("dither", 0.0)):
        try:
            setattr(ip, attr, value)
        except (AttributeError, TypeError):
            pass
    brush = getattr(ip, "brush", None)
    if brush is None:
        return
    for attr, value in (("color", lin), ("blend", "MIX"), ("strength", 1.0), ("hardness", 1.0),
                        ("curve_distance_falloff_preset", "CONSTANT"), ("curve_preset", "CONSTANT"),
                        ("use_paint_antialiasing", False), ("use_pressure_strength", False)):
        try:
            setattr(brush, attr, value)
        except (AttributeError, TypeError, ValueError):
            pass


def image_to_mask_png(image) -> bytes:
    """Painted mask image -> palette-snapped RGB PNG (top row first)."""
    w, h = image.size
    if not w or not h:
        raise ValueError(f"image {image.name!r} is empty")
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with Blender
        np = None
    if np is not None:
        px = np.empty(w * h * image.channels, dtype=np.float32)
        image.pixels.foreach_get(px)
        px = px.reshape(h, w, image.channels)[::-1, :, :3]
        rgb = np.clip(np.rint(px * 255.0), 0, 255).astype(np.int32)
        pal = np.array(palette.PALETTE, dtype=np.int32)
        ids = np.empty((h, w), dtype=np.int64)
        for y0 in range(0, h, 64):  # chunked to bound memory
            d = ((rgb[y0:y0 + 64, :, None, :] - pal[None, None]) ** 2).sum(-1)
            ids[y0:y0 + 64] = d.argmin(-1)
        snapped = pal[ids].astype(np.uint8)
        return pngio.encode_png(w, h, snapped.tobytes(), 3)
    vals = list(image.pixels)
    c = image.channels
    rows = []
    for y in range(h - 1, -1, -1):
        row = bytearray()
        for x in range(w):
            i = (y * w + x) * c
            row += bytes(max(0, min(255, round(vals[i + k] * 255))) for k in range(3))
        rows.append(row)
    snapped, _ = palette.snap_rgb_bytes(b"".join(rows))
    return pngio.encode_png(w, h, snapped, 3)


def mask_image_for(obj):
    """The mask image being painted for head ``obj`` (by name, else by session), or None."""
    img = bpy.data.images.get(MASK_IMAGE_PREFIX + obj.name)
    if img is None:
        for im in bpy.data.images:
            if im.get("ide3d_session") == obj.get(mesh_io.PROP_SESSION):
                return im
    return img


class IDE3D_OT_set_paint_class(Operator):
    bl_idname = "ide3d.set_paint_class"
    bl_label = "Paint With Class"
    bl_description = "Set the brush colour to this class's palette colour"

    class_id: IntProperty(min=0, max=palette.NUM_CLASSES - 1)

    def execute(self, context):
        context.scene.ide3d.paint_class = palette.CLASS_NAMES[self.class_id]  # update sets the brush colour
        set_paint_color(context, self.class_id)
        return {"FINISHED"}


class IDE3D_OT_paint_mask(HeadOperator, Operator):
    bl_idname = "ide3d.paint_mask"
    bl_label = "Paint Mask"
    bl_description = ("Fetch the canonical semantic mask and open it in an Image Editor in paint mode; "
                      "paint with the class colours, then Apply Mask")

    def execute(self, context):
        obj, c, sid = self.head_context(context)
        name = obj.name
        class_id = palette.CLASS_NAMES.index(context.scene.ide3d.paint_class)

        def work(task):
            task.update(0.2, "fetching the canonical mask")
            return c.canonical(sid, "mask")

        def apply(png):
            img = load_png_image(MASK_IMAGE_PREFIX + name, png, owner={"ide3d_object": name, "ide3d_session": sid},
                                 keep=True)
            ctx = bpy.context
            set_paint_color(ctx, class_id)
            show_image(ctx, img, paint=True)

        return self.launch(context, "Paint mask", work, apply,
                           success="paint the mask with the class colours, then click Apply Mask")


class IDE3D_OT_apply_mask(HeadOperator, Operator):
    bl_idname = "ide3d.apply_mask"
    bl_label = "Apply Mask"
    bl_description = "Upload the painted mask (snapped to the class palette) and reshape the head"

    def execute(self, context):
        obj = active_head(context)
        img = mask_image_for(obj)
        if img is None:
            self.report({"ERROR"}, "no painted mask for this head: click Paint Mask first")
            return {"CANCELLED"}
        try:
            png = image_to_mask_png(img)
        except (ValueError, RuntimeError) as exc:
            self.report({"ERROR"}, f"cannot read the painted mask: {exc}")
            return {"CANCELLED"}
        img_name = img.name
        obj_name, c, sid = obj.name, get_client(context, obj), obj[mesh_io.PROP_SESSION]
        q = mesh_query(context)

        def work(task):
            task.update(0.1, "uploading the mask")
            info = c.edit_mask(sid, png)
            task.update(0.5, "meshing")
            payload = fetch_mesh(c, sid, q)
            task.update(0.9, "refreshing the mask")
            new_mask = c.canonical(sid, "mask")
            return info, payload, new_mask

        def apply(result):
            info, payload, new_mask = result
            apply_mesh_update(obj_name, c.url, info, payload)
            load_png_image(img_name, new_mask, owner={"ide3d_object": obj_name, "ide3d_session": sid},
                           keep=True)

        return self.launch(context, "Apply mask", work, apply, success="shape edited")
