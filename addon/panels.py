"""View3D > Sidebar > IDE-3D: backend status, import with progress/cancel, classes, edits, export."""
from __future__ import annotations

import bpy
from bpy.types import Panel

from . import backend_process, jobs, mesh_io, palette
from .ops_paint import mask_image_for
from .ops_tasks import active_head, selected_heads
from .preferences import draw_status, status


class _IDE3DPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "IDE-3D"


def draw_task(layout):
    """Progress bar, stage text and Cancel of the running job (or the last outcome)."""
    active = jobs.RUNNER.active_tasks()
    if active:
        t = active[-1]
        snap = t.snapshot()
        box = layout.box()
        box.label(text=snap["label"], icon="TIME")
        box.progress(factor=snap["progress"], type="BAR", text=f"{snap['stage']}  {snap['progress']:.0%}")
        if snap["message"]:
            box.label(text=snap["message"][:120])
        box.operator("ide3d.cancel_task", icon="CANCEL")
        return
    t = jobs.RUNNER.latest()
    if t is not None and t.state == jobs.FAILED:
        layout.label(text=f"{t.label} failed: {t.error_text}"[:140], icon="ERROR")


class IDE3D_PT_main(_IDE3DPanel, Panel):
    bl_label = "IDE-3D"
    bl_idname = "IDE3D_PT_main"

    def draw(self, context):
        layout = self.layout
        draw_status(layout)
        st = status()
        if st["state"] != "connected":
            row = layout.row()
            row.operator("ide3d.start_backend", icon="PLAY")
            if backend_process.running_process() is not None:
                row.operator("ide3d.stop_backend", text="", icon="PAUSE")
        draw_task(layout)


class IDE3D_PT_import(_IDE3DPanel, Panel):
    bl_label = "Import"
    bl_idname = "IDE3D_PT_import"
    bl_parent_id = "IDE3D_PT_main"

    def draw(self, context):
        p = context.scene.ide3d
        layout = self.layout
        col = layout.column()
        col.prop(p, "mask_path")
        col.prop(p, "preset", expand=True)
        col.prop(p, "align")
        busy = jobs.RUNNER.busy()
        row = col.row()
        row.enabled = not busy
        row.scale_y = 1.4
        op = row.operator("ide3d.import_portrait", icon="IMPORT")
        op.mask_path = p.mask_path
        op.preset = p.preset
        op.align = p.align
        row = col.row(align=True)
        row.prop(p, "sample_seed")
        row.operator("ide3d.sample_head", icon="SHADERFX").seed = -1


class IDE3D_PT_classes(_IDE3DPanel, Panel):
    bl_label = "Classes"
    bl_idname = "IDE3D_PT_classes"
    bl_parent_id = "IDE3D_PT_main"

    def draw(self, context):
        layout = self.layout
        p = context.scene.ide3d
        obj = active_head(context)
        if obj is None:
            layout.label(text="Select an imported head", icon="INFO")
        else:
            layout.label(text=f"{obj.name}: session {obj.get(mesh_io.PROP_SESSION, '?')[:12]} "
                              f"v{obj.get(mesh_io.PROP_VERSION, '?')}", icon="USER")
        present = set(mesh_io.classes_present(obj)) if obj is not None else set()
        row = layout.row(align=True)
        for mode, text in (("ALL", "All"), ("NONE", "None"), ("PRESENT", "Present"), ("INVERT", "Invert")):
            row.operator("ide3d.select_classes", text=text).mode = mode
        col = layout.column(align=True)
        for i, label in enumerate(palette.CLASS_LABELS):
            r = col.row(align=True)
            r.template_node_socket(color=(*palette.color_float(i), 1.0))
            sub = r.row(align=True)
            sub.active = i in present or obj is None
            sub.prop(p, "selected_classes", index=i, text=label, toggle=False)
            r.label(text="", icon="CHECKMARK" if i in present else "BLANK1")
            op = r.operator("ide3d.set_paint_class", text="", icon="BRUSH_DATA",
                            depress=p.paint_class == palette.CLASS_NAMES[i])
            op.class_id = i


class IDE3D_PT_style(_IDE3DPanel, Panel):
    bl_label = "Style"
    bl_idname = "IDE3D_PT_style"
    bl_parent_id = "IDE3D_PT_main"

    def draw(self, context):
        layout = self.layout
        p = context.scene.ide3d
        layout.enabled = active_head(context) is not None and not jobs.RUNNER.busy()
        layout.label(text="Selected classes")
        row = layout.row(align=True)
        row.prop(p, "style_source", expand=True)
        layout.prop(p, "style_seed" if p.style_source == "SEED" else "style_object")
        row = layout.row(align=True)
        row.operator("ide3d.new_style", icon="MATERIAL")
        row.operator("ide3d.revert", icon="LOOP_BACK")
        layout.separator()
        layout.label(text="Whole texture")
        row = layout.row(align=True)
        row.prop(p, "texture_source", expand=True)
        layout.prop(p, "texture_seed" if p.texture_source == "SEED" else "texture_object")
        layout.operator("ide3d.texture_swap", icon="TEXTURE")


class IDE3D_PT_shape(_IDE3DPanel, Panel):
    bl_label = "Shape (paint the mask)"
    bl_idname = "IDE3D_PT_shape"
    bl_parent_id = "IDE3D_PT_main"

    def draw(self, context):
        layout = self.layout
        p = context.scene.ide3d
        obj = active_head(context)
        layout.enabled = obj is not None and not jobs.RUNNER.busy()
        row = layout.row(align=True)
        cid = palette.CLASS_NAMES.index(p.paint_class)
        row.template_node_socket(color=(*palette.color_float(cid), 1.0))
        row.prop(p, "paint_class", text="")
        layout.operator("ide3d.paint_mask", icon="TPAINT_HLT")
        img = mask_image_for(obj) if obj is not None else None
        sub = layout.row()
        sub.enabled = img is not None
        sub.operator("ide3d.apply_mask", icon="CHECKMARK")
        layout.prop(p, "live_paint", toggle=True, icon="REC")
        if img is not None:
            layout.label(text=f"Painting: {img.name}", icon="IMAGE_DATA")
        from .ops_live import LIVE
        live = LIVE.get(obj.name) if obj is not None else None
        if live is not None:
            lat = live.latencies()
            if lat["preview"]:
                last = max(lat["preview"])
                mesh = lat["mesh"].get(last)
                layout.label(text=f"Stroke {last}: preview {lat['preview'][last] * 1000:.0f} ms" +
                             (f", mesh {mesh * 1000:.0f} ms" if mesh is not None else ""), icon="TIME")


class IDE3D_PT_preview(_IDE3DPanel, Panel):
    bl_label = "Preview"
    bl_idname = "IDE3D_PT_preview"
    bl_parent_id = "IDE3D_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        p = context.scene.ide3d
        layout.enabled = active_head(context) is not None
        col = layout.column(align=True)
        col.prop(p, "preview_yaw")
        col.prop(p, "preview_pitch")
        col.prop(p, "preview_size")
        layout.prop(p, "preview_kind", expand=True)
        layout.operator("ide3d.render_preview", icon="RENDER_STILL")


class IDE3D_PT_history(_IDE3DPanel, Panel):
    bl_label = "History"
    bl_idname = "IDE3D_PT_history"
    bl_parent_id = "IDE3D_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        obj = active_head(context)
        row = layout.row(align=True)
        u = row.row(align=True)
        u.enabled = bool(obj and obj.get("ide3d_can_undo", True))
        u.operator("ide3d.backend_undo", icon="LOOP_BACK")
        r = row.row(align=True)
        r.enabled = bool(obj and obj.get("ide3d_can_redo", True))
        r.operator("ide3d.backend_redo", icon="LOOP_FORWARDS")
        if obj is not None:
            for line in list(obj.get("ide3d_history", []))[-8:]:
                layout.label(text=str(line))


class IDE3D_PT_mesh(_IDE3DPanel, Panel):
    bl_label = "Mesh"
    bl_idname = "IDE3D_PT_mesh"
    bl_parent_id = "IDE3D_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        p = context.scene.ide3d
        col = layout.column(align=True)
        col.prop(p, "mesh_resolution")
        col.prop(p, "mesh_smooth")
        col.prop(p, "mesh_faces")
        col.prop(p, "texture_size")
        layout.prop(p, "display_mode", expand=True)
        layout.operator("ide3d.refresh_mesh", icon="FILE_REFRESH")


class IDE3D_PT_export(_IDE3DPanel, Panel):
    bl_label = "Export"
    bl_idname = "IDE3D_PT_export"
    bl_parent_id = "IDE3D_PT_main"

    def draw(self, context):
        layout = self.layout
        p = context.scene.ide3d
        layout.prop(p, "export_format", expand=True)
        layout.prop(p, "export_source", expand=True)
        n = len(selected_heads(context))
        layout.operator("ide3d.export_avatar", text=f"Export {n} Selected Head(s)" if n else "Export Head",
                        icon="EXPORT")


CLASSES = (IDE3D_PT_main, IDE3D_PT_import, IDE3D_PT_classes, IDE3D_PT_style, IDE3D_PT_shape, IDE3D_PT_preview,
           IDE3D_PT_history, IDE3D_PT_mesh, IDE3D_PT_export)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
