"""New heads: a portrait photo inverted on the backend, or a random head from a seed.

Stable id for scripting: ``ide3d.import_portrait`` (also in File > Import).
"""
from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ImportHelper

from . import client as client_mod
from . import mesh_io
from .ops_backend import start_local_backend
from .ops_results import store_session_info, tag_redraw
from .ops_tasks import TaskOperator, fetch_mesh, mesh_query
from .preferences import backend_settings, get_client


def invert_portrait(c: client_mod.Client, task, photo: str, mask: str | None, preset: str, align: bool,
                    name: str, start_backend=None) -> dict:
    """Upload the portrait, follow the inversion job and return its session (worker thread).

    ``start_backend(task)`` is called once when the backend is not reachable
    (auto start); without it ``BackendUnavailable`` propagates.
    """
    task.update(0.0, "uploading")
    try:
        job = c.create_session(photo, mask, preset=preset, align=align, name=name)
    except client_mod.BackendUnavailable:
        if start_backend is None:
            raise
        task.update(0.0, "starting the local backend")
        start_backend(task)
        c.token = c.token or client_mod.read_token_file()
        task.update(0.0, "uploading")
        job = c.create_session(photo, mask, preset=preset, align=align, name=name)
    task.update_from_job(job)
    job = c.wait_job(job["id"], on_update=task.update_from_job, cancel_event=task.cancel_event)
    session = (job.get("result") or {}).get("session")
    if not session:
        raise client_mod.JobFailed("the job finished without a session", job)
    return session


class IDE3D_OT_import_portrait(TaskOperator, Operator, ImportHelper):
    bl_idname = "ide3d.import_portrait"
    bl_label = "Import Portrait"
    bl_description = "Invert a portrait photo into an editable 3D head (runs on the backend)"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.png;*.jpg;*.jpeg;*.webp;*.bmp;*.tif;*.tiff", options={"HIDDEN"})
    filepath: StringProperty(name="Portrait", subtype="FILE_PATH")
    mask_path: StringProperty(name="Mask", subtype="FILE_PATH", default="",
                              description="Optional semantic mask (8-bit ids or palette colours)")
    preset: EnumProperty(name="Preset", items=[("fast", "Fast", ""), ("quality", "Quality", "")], default="fast")
    align: BoolProperty(name="Align face", default=True)
    name: StringProperty(name="Name", default="", description="Object name (default: the file name)")

    def invoke(self, context, event):
        p = context.scene.ide3d
        self.preset = p.preset
        self.align = p.align
        if p.mask_path and not self.mask_path:
            self.mask_path = p.mask_path
        if p.photo_path and not self.filepath:
            self.filepath = bpy.path.abspath(p.photo_path)
            return self.execute(context)
        return ImportHelper.invoke(self, context, event)

    def execute(self, context):
        photo = bpy.path.abspath(self.filepath)
        mask = bpy.path.abspath(self.mask_path) if self.mask_path else None
        if not photo or not os.path.isfile(photo):
            self.report({"ERROR"}, f"portrait not found: {photo or '(no file chosen)'}")
            return {"CANCELLED"}
        if mask and not os.path.isfile(mask):
            self.report({"ERROR"}, f"mask not found: {mask}")
            return {"CANCELLED"}
        c = get_client(context)
        q = mesh_query(context)
        name = self.name or Path(photo).stem
        preset, align = self.preset, self.align

        s = backend_settings(context)
        auto_start = s["auto_start"] and client_mod.is_local_url(c.url)
        start_backend = (lambda task: start_local_backend(s, c.url, task)) if auto_start else None

        def work(task):
            session = invert_portrait(c, task, photo, mask, preset, align, name, start_backend)
            task.update(0.97, "meshing")
            task.check_cancel()
            return session, fetch_mesh(c, session["id"], q)

        def apply(result):
            session, payload = result
            obj = mesh_io.create_head_object(name, payload, session, c.url, context=bpy.context)
            store_session_info(obj, session)
            tag_redraw()

        return self.launch(context, "Import portrait", work, apply, success=f"imported {name}")


class IDE3D_OT_sample_head(TaskOperator, Operator):
    bl_idname = "ide3d.sample_head"
    bl_label = "Random Head"
    bl_description = "Add a random head from a seed (a style source for other heads)"
    bl_options = {"REGISTER", "UNDO"}

    seed: IntProperty(name="Seed", default=-1, min=-1, description="-1 = the panel's seed")

    def execute(self, context):
        seed = self.seed if self.seed >= 0 else context.scene.ide3d.sample_seed
        c = get_client(context)
        q = mesh_query(context)

        def work(task):
            task.update(0.1, "sampling")
            session = c.sample(seed)
            task.update(0.5, "meshing")
            return session, fetch_mesh(c, session["id"], q)

        def apply(result):
            session, payload = result
            obj = mesh_io.create_head_object(f"Head seed {seed}", payload, session, c.url, context=bpy.context)
            store_session_info(obj, session)

        return self.launch(context, "Random head", work, apply, success=f"added head (seed {seed})")
