"""How operators run backend work: base classes, modal polling, the UI timer, error reports.

Backend work runs on a worker thread (jobs.RUNNER) while a modal operator keeps
the UI alive and reports the outcome with ``self.report``; in background mode
(``bpy.app.background``) or without a window the operators run synchronously.
A ``bpy.app.timers`` function (:func:`ensure_timer`) applies finished work on
the main thread even when no modal operator is waiting for it.

The ``ops_*`` modules build on :class:`TaskOperator` (any backend call) and
:class:`HeadOperator` (a call on the active head's session followed by a mesh
refresh); the results land in Blender data through ops_results.
"""
from __future__ import annotations

import bpy

from . import jobs, mesh_io
from . import client as client_mod
from .ops_results import apply_mesh_update, tag_redraw
from .preferences import get_client, status_from_error


# --------------------------------------------------------------------------- what operators read from the context


def active_head(context):
    obj = getattr(context, "active_object", None)
    return obj if mesh_io.is_head(obj) else None


def selected_heads(context):
    return [o for o in getattr(context, "selected_objects", []) or [] if mesh_io.is_head(o)]


def mesh_query(context) -> dict:
    p = context.scene.ide3d
    texture = int(p.texture_size) if p.texture_size != "NONE" else None
    return {"resolution": p.mesh_resolution, "smooth": p.mesh_smooth, "faces": p.mesh_faces or None,
            "texture": texture}


def fetch_mesh(c: client_mod.Client, session_id: str, query: dict) -> dict:
    """The session's mesh as a compact payload, as the panel's Mesh settings ask (worker thread)."""
    return c.mesh(session_id, query["resolution"], "compact", query["smooth"], query["faces"],
                  query.get("texture"))


def error_hint(exc: BaseException) -> str:
    if isinstance(exc, client_mod.BackendUnavailable):
        return " - click 'Start local backend' in the IDE-3D panel"
    return ""


# --------------------------------------------------------------------------- base classes


class TaskOperator:
    """Runs ``work`` on a worker thread and ``apply`` on the main thread, then reports."""

    _task = None
    _timer = None
    action = "IDE-3D"

    def launch(self, context, label: str, work, apply=None, success: str | None = None):
        runner = jobs.RUNNER
        self._success = success
        if bpy.app.background or context.window is None:
            task = runner.run_sync(label, work, on_done=apply)
            return self.finish_task(task)
        task = runner.submit(label, work, on_done=apply)
        self._task = task
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        ensure_timer()
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "TIMER":
            jobs.RUNNER.drain()
            tag_redraw(context)
            if self._task is not None and self._task.applied.is_set():
                context.window_manager.event_timer_remove(self._timer)
                return self.finish_task(self._task)
        return {"PASS_THROUGH"}

    def finish_task(self, task):
        if task.state == jobs.DONE:
            if self._success:
                self.report({"INFO"}, self._success)
            return {"FINISHED"}
        if task.state == jobs.CANCELLED:
            self.report({"WARNING"}, f"{task.label}: cancelled")
            return {"CANCELLED"}
        exc = task.error
        if isinstance(exc, client_mod.BackendUnavailable):
            status_from_error("", exc)
        msg = client_mod.describe_error(exc, task.label) if exc is not None else f"{task.label}: failed"
        if task.traceback and not isinstance(exc, client_mod.BackendError):
            print(task.traceback)
        self.report({"ERROR"}, msg + error_hint(exc))
        return {"CANCELLED"}


class HeadOperator(TaskOperator):
    """An operator on the active imported head (its backend session)."""

    @classmethod
    def poll(cls, context):
        return active_head(context) is not None

    def head_context(self, context):
        obj = active_head(context)
        c = get_client(context, obj)
        return obj, c, obj[mesh_io.PROP_SESSION]

    def edit(self, context, label: str, call, success: str):
        """Common edit flow: ``call(client, session_id)`` -> SessionInfo; then refetch the mesh."""
        obj, c, sid = self.head_context(context)
        q = mesh_query(context)
        name = obj.name

        def work(task):
            task.update(0.1, "editing")
            info = call(c, sid)
            task.update(0.5, "meshing")
            payload = fetch_mesh(c, sid, q)
            return info, payload

        def apply(result):
            info, payload = result
            apply_mesh_update(name, c.url, info, payload)

        return self.launch(context, label, work, apply, success)


# --------------------------------------------------------------------------- timer


def _tick():
    """Apply finished background work on the main thread; refresh the UI while busy."""
    try:
        n = jobs.RUNNER.drain()
        if n or jobs.RUNNER.busy():
            tag_redraw()
    except Exception:  # noqa: BLE001 - a timer must never die
        import traceback
        traceback.print_exc()
    return 0.1 if jobs.RUNNER.busy() else 0.5


def ensure_timer():
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.1, persistent=True)


def stop_timer():
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
