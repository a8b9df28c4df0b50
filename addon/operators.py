"""Registration of the IDE-3D operators, the File menu entries and the UI timers.

The operators live by feature (thin wrappers around client/jobs/mesh_io):

=================  ===========================================================
``ops_backend``    check connection, start/stop the local backend, cancel a job
``ops_import``     portrait photo -> head, random head from a seed
``ops_edit``       class selection, region style, texture swap, undo/redo/revert, mesh rebuild
``ops_paint``      brush colour per class, paint the mask, apply it (shape edit)
``ops_live``       live painting: stroke detection, answers applied (network side: live_stream)
``ops_preview``    backend render of a head into an image
``ops_export``     GLB/OBJ export
``ops_tasks``      base classes: background work, modal polling, timer, error reports
``ops_results``    main-thread helpers that apply results to Blender data
=================  ===========================================================

Stable ids for scripting: ``ide3d.import_portrait`` and ``ide3d.export_avatar``.
"""
from __future__ import annotations

import bpy

from . import jobs, ops_backend, ops_tasks
from .ops_backend import (IDE3D_OT_cancel_task, IDE3D_OT_check_connection, IDE3D_OT_start_backend,
                          IDE3D_OT_stop_backend)
from .ops_edit import (IDE3D_OT_backend_redo, IDE3D_OT_backend_undo, IDE3D_OT_new_style, IDE3D_OT_refresh_mesh,
                       IDE3D_OT_revert, IDE3D_OT_select_classes, IDE3D_OT_texture_swap)
from .ops_export import IDE3D_OT_export_avatar
from .ops_import import IDE3D_OT_import_portrait, IDE3D_OT_sample_head
from .ops_paint import IDE3D_OT_apply_mask, IDE3D_OT_paint_mask, IDE3D_OT_set_paint_class
from .ops_preview import IDE3D_OT_render_preview

CLASSES = (
    IDE3D_OT_check_connection, IDE3D_OT_start_backend, IDE3D_OT_stop_backend, IDE3D_OT_cancel_task,
    IDE3D_OT_import_portrait, IDE3D_OT_sample_head, IDE3D_OT_select_classes, IDE3D_OT_set_paint_class,
    IDE3D_OT_new_style, IDE3D_OT_texture_swap, IDE3D_OT_backend_undo, IDE3D_OT_backend_redo, IDE3D_OT_revert,
    IDE3D_OT_refresh_mesh, IDE3D_OT_paint_mask, IDE3D_OT_apply_mask, IDE3D_OT_render_preview,
    IDE3D_OT_export_avatar,
)


def menu_import(self, context):
    self.layout.operator(IDE3D_OT_import_portrait.bl_idname, text="IDE-3D Portrait (.png/.jpg)")


def menu_export(self, context):
    self.layout.operator(IDE3D_OT_export_avatar.bl_idname, text="IDE-3D Avatar (.glb/.obj)")


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.types.TOPBAR_MT_file_export.append(menu_export)
    ops_tasks.ensure_timer()
    ops_backend.schedule_startup_check()


def unregister():
    from . import ops_live
    ops_live.stop()
    ops_tasks.stop_timer()
    ops_backend.cancel_startup_check()
    jobs.RUNNER.cancel_all()
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
