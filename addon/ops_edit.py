"""Edits of the active head on the backend: region style, texture swap, undo/redo/revert, mesh rebuild.

Each edit is one call on the head's session followed by a mesh refresh
(:meth:`ops_tasks.HeadOperator.edit`); the class selection that New Style uses
is set here too. Shape edits by painting the mask live in ops_paint.
"""
from __future__ import annotations

from bpy.props import EnumProperty
from bpy.types import Operator

from . import client as client_mod
from . import mesh_io, palette
from .ops_tasks import HeadOperator, active_head

def class_selection(mode: str, current, present) -> list[bool]:
    """New per-class selection flags: all, none, the classes ``present`` on the head, or ``current`` inverted."""
    flags = []
    for i in range(palette.NUM_CLASSES):
        if mode == "ALL":
            flags.append(True)
        elif mode == "NONE":
            flags.append(False)
        elif mode == "PRESENT":
            flags.append(i in present)
        else:
            flags.append(not current[i])
    return flags


def undo_all(c: client_mod.Client, session_id: str, limit: int = 1000) -> dict:
    """Undo every edit of a session (back to the head as imported); returns its SessionInfo."""
    info = c.session(session_id)
    for _ in range(limit):
        if not info.get("can_undo"):
            break
        info = c.undo(session_id)
    return info


def style_source(op, kind: str, seed: int, obj):
    """(seed, None) or (None, session id of the source head); (None, None) after reporting a bad source."""
    if kind == "SEED":
        return seed, None
    if obj is None or not mesh_io.is_head(obj):
        op.report({"ERROR"}, "choose another imported head as the style source")
        return None, None
    return None, obj[mesh_io.PROP_SESSION]


class IDE3D_OT_select_classes(Operator):
    bl_idname = "ide3d.select_classes"
    bl_label = "Select Classes"
    bl_description = "Select all, none, the classes present on the head, or invert"
    bl_options = {"REGISTER", "UNDO"}

    mode: EnumProperty(items=[("ALL", "All", ""), ("NONE", "None", ""), ("PRESENT", "Present", ""),
                              ("INVERT", "Invert", "")], default="ALL")

    def execute(self, context):
        p = context.scene.ide3d
        obj = active_head(context)
        present = set(mesh_io.classes_present(obj)) if obj else set()
        for i, flag in enumerate(class_selection(self.mode, list(p.selected_classes), present)):
            p.selected_classes[i] = flag
        return {"FINISHED"}


class IDE3D_OT_new_style(HeadOperator, Operator):
    bl_idname = "ide3d.new_style"
    bl_label = "New Style"
    bl_description = "Give the selected classes a new style (from a seed or another head)"

    def execute(self, context):
        p = context.scene.ide3d
        classes = [palette.CLASS_NAMES[i] for i in range(palette.NUM_CLASSES) if p.selected_classes[i]]
        if not classes:
            self.report({"ERROR"}, "select at least one class in the Classes list")
            return {"CANCELLED"}
        seed, source = style_source(self, p.style_source, p.style_seed, p.style_object)
        if seed is None and source is None:
            return {"CANCELLED"}
        return self.edit(context, "New style", lambda c, sid: c.edit_region(sid, classes, seed, source),
                         f"new style for {', '.join(classes)}")


class IDE3D_OT_texture_swap(HeadOperator, Operator):
    bl_idname = "ide3d.texture_swap"
    bl_label = "Swap Texture"
    bl_description = "Replace the whole texture code (seed or another head); the shape stays"

    def execute(self, context):
        p = context.scene.ide3d
        seed, source = style_source(self, p.texture_source, p.texture_seed, p.texture_object)
        if seed is None and source is None:
            return {"CANCELLED"}
        return self.edit(context, "Texture swap", lambda c, sid: c.edit_texture(sid, seed, source), "texture swapped")


class IDE3D_OT_backend_undo(HeadOperator, Operator):
    bl_idname = "ide3d.backend_undo"
    bl_label = "Undo Edit"
    bl_description = "Undo the last edit of this head on the backend"

    def execute(self, context):
        return self.edit(context, "Undo", lambda c, sid: c.undo(sid), "undone")


class IDE3D_OT_backend_redo(HeadOperator, Operator):
    bl_idname = "ide3d.backend_redo"
    bl_label = "Redo Edit"
    bl_description = "Redo the last undone edit of this head on the backend"

    def execute(self, context):
        return self.edit(context, "Redo", lambda c, sid: c.redo(sid), "redone")


class IDE3D_OT_revert(HeadOperator, Operator):
    bl_idname = "ide3d.revert"
    bl_label = "Revert"
    bl_description = "Undo every edit: back to the head as imported (Redo brings edits back)"

    def execute(self, context):
        return self.edit(context, "Revert", undo_all, "reverted to the imported head")


class IDE3D_OT_refresh_mesh(HeadOperator, Operator):
    bl_idname = "ide3d.refresh_mesh"
    bl_label = "Rebuild Mesh"
    bl_description = "Fetch the mesh again with the current resolution and smoothing"

    def execute(self, context):
        return self.edit(context, "Rebuild mesh", lambda c, sid: c.session(sid), "mesh rebuilt")
