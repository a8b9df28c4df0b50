"""Export of imported heads as GLB or OBJ: with Blender's exporters, or the backend's own file.

Stable id for scripting: ``ide3d.export_avatar`` (also in File > Export).
"""
from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper

from . import mesh_io, texture_io
from .backend_files import write_backend_export
from .ops_tasks import TaskOperator, active_head, mesh_query, selected_heads
from .preferences import get_client


def export_with_blender(context, objects, filepath: str, fmt: str) -> str:
    """Export ``objects`` with Blender's exporters; returns the written path."""
    for obj in objects:
        mesh_io.add_export_semantic(obj)
    view_layer = context.view_layer
    previous = [o for o in context.scene.objects if o.select_get(view_layer=view_layer)]
    active = view_layer.objects.active
    try:
        for o in previous:
            o.select_set(False)
        for o in objects:
            o.select_set(True)
        view_layer.objects.active = objects[0]
        textured = any(texture_io.head_image(o) is not None for o in objects)
        if fmt == "GLB":
            if not filepath.lower().endswith(".glb"):
                filepath += ".glb"
            # a textured head: COLOR_0 only when the material shows the vertex colours (glTF
            # multiplies the base colour texture by COLOR_0)
            bpy.ops.export_scene.gltf(filepath=filepath, export_format="GLB", use_selection=True,
                                      export_vertex_color="MATERIAL" if textured else "ACTIVE",
                                      export_attributes=True, export_materials="EXPORT", export_yup=True)
        else:
            if not filepath.lower().endswith(".obj"):
                filepath += ".obj"
            saved = texture_io.write_textures_for_obj(objects, os.path.dirname(os.path.abspath(filepath)))
            try:
                bpy.ops.wm.obj_export(filepath=filepath, export_selected_objects=True, export_colors=True,
                                      export_materials=True, export_vertex_groups=True, export_uv=textured,
                                      path_mode="STRIP")
            finally:
                texture_io.restore_image_paths(saved)
    finally:
        for o in objects:
            o.select_set(False)
        for o in previous:
            try:
                o.select_set(True)
            except ReferenceError:
                pass
        view_layer.objects.active = active
    return filepath


class IDE3D_OT_export_avatar(TaskOperator, Operator, ExportHelper):
    bl_idname = "ide3d.export_avatar"
    bl_label = "Export Avatar"
    bl_description = "Export the selected head(s) as GLB or OBJ"

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb;*.obj", options={"HIDDEN"})
    filepath: StringProperty(name="File", subtype="FILE_PATH")
    format: EnumProperty(name="Format", items=[("GLB", "GLB", ""), ("OBJ", "OBJ", "")], default="GLB")
    source: EnumProperty(name="Using", items=[("BLENDER", "Blender exporters", ""),
                                              ("BACKEND", "Backend file", "")], default="BLENDER")

    @classmethod
    def poll(cls, context):
        return bool(selected_heads(context)) or active_head(context) is not None

    def invoke(self, context, event):
        p = context.scene.ide3d
        self.format, self.source = p.export_format, p.export_source
        self.filename_ext = "." + self.format.lower()
        return ExportHelper.invoke(self, context, event)

    def check(self, context):
        self.filename_ext = "." + self.format.lower()
        return ExportHelper.check(self, context)

    def execute(self, context):
        heads = selected_heads(context) or [active_head(context)]
        heads = [h for h in heads if h is not None]
        if not heads:
            self.report({"ERROR"}, "select an imported IDE-3D head to export")
            return {"CANCELLED"}
        path = bpy.path.abspath(self.filepath)
        if not path:
            self.report({"ERROR"}, "choose a file to export to")
            return {"CANCELLED"}
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
        if self.source == "BLENDER":
            try:
                out = export_with_blender(context, heads, path, self.format)
            except RuntimeError as exc:
                self.report({"ERROR"}, f"export failed: {exc}")
                return {"CANCELLED"}
            self.report({"INFO"}, f"exported {len(heads)} head(s) to {out}")
            return {"FINISHED"}
        fmt = self.format.lower()
        downloads = [(h.name, get_client(context, h), h[mesh_io.PROP_SESSION]) for h in heads]
        q = mesh_query(context)

        def work(task):
            written = []
            for i, (name, c, sid) in enumerate(downloads):
                task.update(i / len(downloads), f"downloading {name}")
                data = c.export(sid, fmt, q["resolution"], q.get("texture"))
                target = Path(path)
                if len(downloads) > 1:  # one file per head, named after it
                    target = target.with_name(f"{target.stem}_{bpy.path.clean_name(name)}{target.suffix}")
                written.append(str(write_backend_export(data, target, fmt)))
            return written

        return self.launch(context, "Export", work, success=f"exported {len(heads)} head(s) next to {path}")
