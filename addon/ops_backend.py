"""Backend operators: check the connection, start/stop the local backend, cancel the running job.

Also the one-off connection check after start-up, and :func:`start_local_backend`,
which the import operator reuses when the backend is not running yet.
"""
from __future__ import annotations

import bpy
from bpy.types import Operator

from . import backend_process, jobs
from . import client as client_mod
from .ops_tasks import TaskOperator
from .preferences import (backend_settings, get_client, get_prefs, port_of, set_status, status_from_error,
                          status_from_health)


def start_local_backend(settings: dict, url: str, task) -> str:
    """Start (or reuse) ``ide3d serve`` for ``url`` and update the status line (worker thread).

    ``settings`` is :func:`preferences.backend_settings`; returns how the backend
    was obtained (see backend_process.ensure_backend).
    """
    u, how, health = backend_process.ensure_backend(
        settings["python"], port_of(url), settings["data_dir"], timeout=settings["startup_timeout"],
        progress=lambda text: task.update(None, text))
    status_from_health(u, health)
    return how


class IDE3D_OT_check_connection(TaskOperator, Operator):
    bl_idname = "ide3d.check_connection"
    bl_label = "Check Connection"
    bl_description = "Ask the backend for its health (model and device)"

    def execute(self, context):
        c = get_client(context)
        set_status(state="checking", text=f"checking {c.url} ...")

        def work(task):
            try:
                h = c.health()
                c.info()  # also checks the token
            except client_mod.BackendError as exc:
                status_from_error(c.url, exc)
                raise
            status_from_health(c.url, h)
            return h

        return self.launch(context, "Check connection", work, success=None)


class IDE3D_OT_start_backend(TaskOperator, Operator):
    bl_idname = "ide3d.start_backend"
    bl_label = "Start Local Backend"
    bl_description = "Start `ide3d serve` with the configured Python (or reuse one that is running)"

    def execute(self, context):
        s = backend_settings(context)
        url = s["url"]
        if not client_mod.is_local_url(url):
            self.report({"ERROR"}, f"the backend URL {url} is not local; start that backend on its machine")
            return {"CANCELLED"}
        set_status(state="checking", text="starting the local backend ...")
        prefs = get_prefs(context)
        backend_process.STOP_AT_EXIT = bool(prefs.stop_on_exit) if prefs else True

        def work(task):
            try:
                return start_local_backend(s, url, task)
            except client_mod.BackendError as exc:
                status_from_error(url, exc)
                raise

        return self.launch(context, "Start backend", work, success="IDE-3D backend running")


class IDE3D_OT_stop_backend(Operator):
    bl_idname = "ide3d.stop_backend"
    bl_label = "Stop Local Backend"
    bl_description = "Stop the backend started from Blender (a backend started elsewhere keeps running)"

    def execute(self, context):
        if backend_process.stop_backend():
            set_status(state="unknown", text="backend stopped")
            self.report({"INFO"}, "IDE-3D backend stopped")
        else:
            self.report({"INFO"}, "no backend started from Blender is running")
        return {"FINISHED"}


class IDE3D_OT_cancel_task(Operator):
    bl_idname = "ide3d.cancel_task"
    bl_label = "Cancel"
    bl_description = "Cancel the running IDE-3D job"

    def execute(self, context):
        tasks = jobs.RUNNER.active_tasks()
        for t in tasks:
            t.cancel()
        if not tasks:
            self.report({"INFO"}, "nothing to cancel")
        return {"FINISHED"}


# --------------------------------------------------------------------------- start-up check


def _startup_check():
    """Check the backend once after start-up without blocking (updates the status line)."""
    if bpy.app.background:
        return None
    try:
        c = get_client()
    except Exception:  # noqa: BLE001
        return None

    def work(task):
        try:
            status_from_health(c.url, c.health(timeout=3.0))
        except client_mod.BackendError as exc:
            status_from_error(c.url, exc)

    jobs.RUNNER.submit("Check connection", work)
    return None


def schedule_startup_check():
    if not bpy.app.background:
        bpy.app.timers.register(_startup_check, first_interval=1.0)


def cancel_startup_check():
    if bpy.app.timers.is_registered(_startup_check):
        bpy.app.timers.unregister(_startup_check)
