"""Main-thread helpers that put backend results into Blender data.

Called from the ``apply`` callbacks of operator tasks (see ops_tasks), which
jobs.RUNNER runs on the main thread: update a head object from a mesh payload,
keep the session's version/undo/history on the object, load PNG bytes as a
packed image, show an image in an Image Editor, and redraw the UI.
"""
from __future__ import annotations

import os
import tempfile

import bpy

from . import mesh_io


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


def apply_mesh_update(obj_name: str, url: str, info: dict, payload: dict):
    """Replace the mesh of head ``obj_name`` in place and record the session state on it."""
    obj = bpy.data.objects.get(obj_name)
    if obj is None:
        raise RuntimeError(f"the head object {obj_name!r} no longer exists")
    mesh_io.update_head_object(obj, payload, info, url)
    store_session_info(obj, info)
    tag_redraw()
    return obj


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
    new.filepath_raw = ""  # not `filepath`: setting it reloads from the deleted file ("Unable to pack file")
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
