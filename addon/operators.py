"""Operators of the IDE-3D add-on (thin wrappers around client/jobs/mesh_io).

Backend work runs on a worker thread (jobs.RUNNER) while a modal operator keeps
the UI alive and reports the outcome with ``self.report``; in background mode
(``bpy.app.background``) or without a window the operators run synchronously.
Stable ids for scripting: ``ide3d.import_portrait`` and ``ide3d.export_avatar``.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import backend_process, jobs, mesh_io, palette, pngio
from . import client as client_mod
from .preferences import (backend_settings, get_client, get_prefs, port_of, set_status, status_from_error,
                          status_from_health)

PREVIEW_IMAGE = "IDE3D Preview"
MASK_IMAGE_PREFIX = "IDE3D Mask "


# --------------------------------------------------------------------------- helpers


def active_head(context):
    obj = getattr(context, "active_object", None)
    return obj if mesh_io.is_head(obj) else None


def selected_heads(context):
    return [o for o in getattr(context, "selected_objects", []) or [] if mesh_io.is_head(o)]


def mesh_query(context) -> dict:
    p = context.scene.ide3d
    return {"resolution": p.mesh_resolution, "smooth": p.mesh_smooth, "faces": p.mesh_faces or None}


def tag_redraw(context=None):
    wm = bpy.context.window_manager if context is None else context.window_manager
    for win in getattr(wm, "windows", []):
        for area in win.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR", "PREFERENCES"):
                area.tag_redraw()


def store_session_info(obj, info: dict | None):
    """Keep what the panel shows about the backend session on the object."""
    if not info or obj is None:
        return
    obj[mesh_io.PROP_SESSION] = str(info.get("id", obj.get(mesh_io.PROP_SESSION, "")))
    if info.get("version") is not None:
        obj[mesh_io.PROP_VERSION] = int(info["version"])
    obj["ide3d_can_undo"] = bool(info.get("can_undo", False))
    obj["ide3d_can_redo"] = bool(info.get("can_redo", False))
    hist = info.get("history") or []
    obj["ide3d_history"] = [f"v{h.get('version', '?')} {h.get('kind', '')}: {h.get('summary', '')}"[:120]
                            for h in hist[-12:]]


def error_hint(exc: BaseException) -> str:
    if isinstance(exc, client_mod.BackendUnavailable):
        return " - click 'Start local backend' in the IDE-3D panel"
    return ""


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


def load_png_image(name: str, png: bytes, colorspace: str = "sRGB", owner: dict | None = None, keep: bool = False):
    """Load PNG bytes as image ``name`` (replacing its pixels/users if it exists), packed in the .blend."""
    fd, path = tempfile.mkstemp(suffix=".png", prefix="ide3d_")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(png)
        new = bpy.data.images.load(path, check_existing=False)
        new.pack()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    new.filepath = ""
    try:
        new.colorspace_settings.name = colorspace
    except TypeError:
        pass
    old = bpy.data.images.get(name)
    if old is not None and old != new:
        old.user_remap(new)
        bpy.data.images.remove(old)
    new.name = name
    new.use_fake_user = keep
    for k, v in (owner or {}).items():
        new[k] = v
    return new


def show_image(context, image, paint: bool = False):
    """Show ``image`` in an Image Editor (an existing one, or a new window), optionally in paint mode."""
    if bpy.app.background or context.window is None or context.screen is None:
        return None
    area = next((a for a in context.screen.areas if a.type == "IMAGE_EDITOR"), None)
    if area is None:
        source = next((a for a in context.screen.areas if a.type == "VIEW_3D"), None) or context.area
        try:
            with context.temp_override(area=source):
                bpy.ops.screen.area_dupli("INVOKE_DEFAULT")
            win = context.window_manager.windows[-1]
            area = win.screen.areas[0]
            area.type = "IMAGE_EDITOR"
        except (RuntimeError, IndexError, TypeError):
            return None
    space = area.spaces.active
    space.image = image
    if paint:
        for attr in ("ui_mode", "mode"):
            try:
                setattr(space, attr, "PAINT")
            except (AttributeError, TypeError):
                pass
    area.tag_redraw()
    return area


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


def apply_mesh_update(obj_name: str, url: str, info: dict, payload: dict):
    obj = bpy.data.objects.get(obj_name)
    if obj is None:
        raise RuntimeError(f"the head object {obj_name!r} no longer exists")
    mesh_io.update_head_object(obj, payload, info, url)
    store_session_info(obj, info)
    tag_redraw()
    return obj


# --------------------------------------------------------------------------- base class


class _TaskOperator:
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


class _HeadOperator(_TaskOperator):
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
            payload = c.mesh(sid, q["resolution"], "compact", q["smooth"], q["faces"])
            return info, payload

        def apply(result):
            info, payload = result
            apply_mesh_update(name, c.url, info, payload)

        return self.launch(context, label, work, apply, success)


# --------------------------------------------------------------------------- backend


class IDE3D_OT_check_connection(_TaskOperator, Operator):
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


class IDE3D_OT_start_backend(_TaskOperator, Operator):
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
                u, how, health = backend_process.ensure_backend(
                    s["python"], port_of(url), s["data_dir"], timeout=s["startup_timeout"],
                    progress=lambda text: task.update(None, text))
            except client_mod.BackendError as exc:
                status_from_error(url, exc)
                raise
            status_from_health(u, health)
            return how

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


# --------------------------------------------------------------------------- import


class IDE3D_OT_import_portrait(_TaskOperator, Operator, ImportHelper):
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

        def work(task):
            task.update(0.0, "uploading")
            try:
                job = c.create_session(photo, mask, preset=preset, align=align, name=name)
            except client_mod.BackendUnavailable:
                if not auto_start:
                    raise
                task.update(0.0, "starting the local backend")
                u, _, health = backend_process.ensure_backend(
                    s["python"], port_of(c.url), s["data_dir"], timeout=s["startup_timeout"],
                    progress=lambda text: task.update(None, text))
                status_from_health(u, health)
                c.token = c.token or client_mod.read_token_file()
                task.update(0.0, "uploading")
                job = c.create_session(photo, mask, preset=preset, align=align, name=name)
            task.update_from_job(job)
            job = c.wait_job(job["id"], on_update=task.update_from_job, cancel_event=task.cancel_event)
            session = (job.get("result") or {}).get("session")
            if not session:
                raise client_mod.JobFailed("the job finished without a session", job)
            task.update(0.97, "meshing")
            task.check_cancel()
            payload = c.mesh(session["id"], q["resolution"], "compact", q["smooth"], q["faces"])
            return session, payload

        def apply(result):
            session, payload = result
            obj = mesh_io.create_head_object(name, payload, session, c.url, context=bpy.context)
            store_session_info(obj, session)
            tag_redraw()

        return self.launch(context, "Import portrait", work, apply, success=f"imported {name}")


class IDE3D_OT_sample_head(_TaskOperator, Operator):
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
            return session, c.mesh(session["id"], q["resolution"], "compact", q["smooth"], q["faces"])

        def apply(result):
            session, payload = result
            obj = mesh_io.create_head_object(f"Head seed {seed}", payload, session, c.url, context=bpy.context)
            store_session_info(obj, session)

        return self.launch(context, "Random head", work, apply, success=f"added head (seed {seed})")


# --------------------------------------------------------------------------- classes


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
        for i in range(palette.NUM_CLASSES):
            if self.mode == "ALL":
                p.selected_classes[i] = True
            elif self.mode == "NONE":
                p.selected_classes[i] = False
            elif self.mode == "PRESENT":
                p.selected_classes[i] = i in present
            else:
                p.selected_classes[i] = not p.selected_classes[i]
        return {"FINISHED"}


class IDE3D_OT_set_paint_class(Operator):
    bl_idname = "ide3d.set_paint_class"
    bl_label = "Paint With Class"
    bl_description = "Set the brush colour to this class's palette colour"

    class_id: IntProperty(min=0, max=palette.NUM_CLASSES - 1)

    def execute(self, context):
        context.scene.ide3d.paint_class = palette.CLASS_NAMES[self.class_id]  # update sets the brush colour
        set_paint_color(context, self.class_id)
        return {"FINISHED"}


# --------------------------------------------------------------------------- edits


class IDE3D_OT_new_style(_HeadOperator, Operator):
    bl_idname = "ide3d.new_style"
    bl_label = "New Style"
    bl_description = "Give the selected classes a new style (from a seed or another head)"

    def execute(self, context):
        p = context.scene.ide3d
        classes = [palette.CLASS_NAMES[i] for i in range(palette.NUM_CLASSES) if p.selected_classes[i]]
        if not classes:
            self.report({"ERROR"}, "select at least one class in the Classes list")
            return {"CANCELLED"}
        seed, source = _style_source(self, p.style_source, p.style_seed, p.style_object)
        if seed is None and source is None:
            return {"CANCELLED"}
        return self.edit(context, "New style", lambda c, sid: c.edit_region(sid, classes, seed, source),
                         f"new style for {', '.join(classes)}")


class IDE3D_OT_texture_swap(_HeadOperator, Operator):
    bl_idname = "ide3d.texture_swap"
    bl_label = "Swap Texture"
    bl_description = "Replace the whole texture code (seed or another head); the shape stays"

    def execute(self, context):
        p = context.scene.ide3d
        seed, source = _style_source(self, p.texture_source, p.texture_seed, p.texture_object)
        if seed is None and source is None:
            return {"CANCELLED"}
        return self.edit(context, "Texture swap", lambda c, sid: c.edit_texture(sid, seed, source), "texture swapped")


def _style_source(op, kind, seed, obj):
    if kind == "SEED":
        return seed, None
    if obj is None or not mesh_io.is_head(obj):
        op.report({"ERROR"}, "choose another imported head as the style source")
        return None, None
    return None, obj[mesh_io.PROP_SESSION]


class IDE3D_OT_backend_undo(_HeadOperator, Operator):
    bl_idname = "ide3d.backend_undo"
    bl_label = "Undo Edit"
    bl_description = "Undo the last edit of this head on the backend"

    def execute(self, context):
        return self.edit(context, "Undo", lambda c, sid: c.undo(sid), "undone")


class IDE3D_OT_backend_redo(_HeadOperator, Operator):
    bl_idname = "ide3d.backend_redo"
    bl_label = "Redo Edit"
    bl_description = "Redo the last undone edit of this head on the backend"

    def execute(self, context):
        return self.edit(context, "Redo", lambda c, sid: c.redo(sid), "redone")


class IDE3D_OT_revert(_HeadOperator, Operator):
    bl_idname = "ide3d.revert"
    bl_label = "Revert"
    bl_description = "Undo every edit: back to the head as imported (Redo brings edits back)"

    def execute(self, context):
        def call(c, sid):
            info = c.session(sid)
            for _ in range(1000):
                if not info.get("can_undo"):
                    break
                info = c.undo(sid)
            return info

        return self.edit(context, "Revert", call, "reverted to the imported head")


class IDE3D_OT_refresh_mesh(_HeadOperator, Operator):
    bl_idname = "ide3d.refresh_mesh"
    bl_label = "Rebuild Mesh"
    bl_description = "Fetch the mesh again with the current resolution and smoothing"

    def execute(self, context):
        return self.edit(context, "Rebuild mesh", lambda c, sid: c.session(sid), "mesh rebuilt")


class IDE3D_OT_paint_mask(_HeadOperator, Operator):
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


def mask_image_for(obj):
    img = bpy.data.images.get(MASK_IMAGE_PREFIX + obj.name)
    if img is None:
        for im in bpy.data.images:
            if im.get("ide3d_session") == obj.get(mesh_io.PROP_SESSION):
                return im
    return img


class IDE3D_OT_apply_mask(_HeadOperator, Operator):
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
            payload = c.mesh(sid, q["resolution"], "compact", q["smooth"], q["faces"])
            task.update(0.9, "refreshing the mask")
            new_mask = c.canonical(sid, "mask")
            return info, payload, new_mask

        def apply(result):
            info, payload, new_mask = result
            apply_mesh_update(obj_name, c.url, info, payload)
            load_png_image(img_name, new_mask, owner={"ide3d_object": obj_name, "ide3d_session": sid},
                           keep=True)

        return self.launch(context, "Apply mask", work, apply, success="shape edited")


class IDE3D_OT_render_preview(_HeadOperator, Operator):
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


# --------------------------------------------------------------------------- export


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
        if fmt == "GLB":
            if not filepath.lower().endswith(".glb"):
                filepath += ".glb"
            bpy.ops.export_scene.gltf(filepath=filepath, export_format="GLB", use_selection=True,
                                      export_vertex_color="ACTIVE", export_attributes=True,
                                      export_materials="EXPORT", export_yup=True)
        else:
            if not filepath.lower().endswith(".obj"):
                filepath += ".obj"
            bpy.ops.wm.obj_export(filepath=filepath, export_selected_objects=True, export_colors=True,
                                  export_materials=True, export_vertex_groups=True, export_uv=False)
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


class IDE3D_OT_export_avatar(_TaskOperator, Operator, ExportHelper):
    bl_idname = "ide3d.export_avatar"
    bl_label = "Export Avatar"
    bl_description = "Export the selected head(s) as GLB or OBJ"

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb;*.obj;*.zip", options={"HIDDEN"})
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
        jobs_ = [(h.name, get_client(context, h), h[mesh_io.PROP_SESSION]) for h in heads]
        q = mesh_query(context)

        def work(task):
            written = []
            for i, (name, c, sid) in enumerate(jobs_):
                task.update(i / len(jobs_), f"downloading {name}")
                data = c.export(sid, fmt, q["resolution"])
                target = Path(path)
                if len(jobs_) > 1:
                    target = target.with_name(f"{target.stem}_{bpy.path.clean_name(name)}{target.suffix}")
                if fmt == "obj" and data[:2] == b"PK":
                    target = target.with_suffix(".zip")
                    target.write_bytes(data)
                    with zipfile.ZipFile(target) as zf:
                        zf.extractall(target.parent)
                else:
                    target.write_bytes(data)
                written.append(str(target))
            return written

        return self.launch(context, "Export", work, success=f"exported {len(heads)} head(s) next to {path}")


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
    ensure_timer()
    if not bpy.app.background:
        bpy.app.timers.register(_startup_check, first_interval=1.0)


def unregister():
    for fn in (_tick, _startup_check):
        if bpy.app.timers.is_registered(fn):
            bpy.app.timers.unregister(fn)
    jobs.RUNNER.cancel_all()
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
