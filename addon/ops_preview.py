"""Backend render of the active head at a chosen yaw/pitch into the image ``IDE3D Preview``."""
from __future__ import annotations

import bpy
from bpy.types import Operator

from .ops_results import load_png_image, show_image
from .ops_tasks import HeadOperator

PREVIEW_IMAGE = "IDE3D Preview"


class IDE3D_OT_render_preview(HeadOperator, Operator):
    bl_idname = "ide3d.render_preview"
    bl_label = "Render Preview"
    bl_description = "Render the head on the backend at the chosen yaw/pitch into the image 'IDE3D Preview'"

    def execute(self, context):
        obj, c, sid = self.head_context(context)
        p = context.scene.ide3d
        yaw, pitch, size, kind = p.preview_yaw, p.preview_pitch, p.preview_size, p.preview_kind

        def work(task):
            task.update(0.2, "rendering")
            return c.render(sid, yaw, pitch, size, kind)

        def apply(png):
            img = load_png_image(PREVIEW_IMAGE, png, owner={"ide3d_session": sid})
            show_image(bpy.context, img, paint=False)

        return self.launch(context, "Preview", work, apply, success="preview in the image 'IDE3D Preview'")
