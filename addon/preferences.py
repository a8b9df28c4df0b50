"""Add-on preferences (backend URL, token, local backend settings) and connection status."""
from __future__ import annotations

import os
import shutil
import threading

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import AddonPreferences

from . import client as client_mod
from .backend_process import default_data_dir
from .mesh_io import PROP_URL

ADDON_ID = __package__

# Connection status shown in the preferences and the panel; written by worker threads.
_status_lock = threading.Lock()
STATUS = {"state": "unknown", "text": "not checked yet", "model": "", "device": "", "url": ""}


def set_status(**kw):
    with _status_lock:
        STATUS.update(kw)


def status() -> dict:
    with _status_lock:
        return dict(STATUS)


def status_from_health(url: str, health: dict) -> None:
    model = health.get("model") or {}
    set_status(state="connected", url=url, model=str(model.get("preset", "")), device=str(model.get("device", "")),
               text=f"connected to {url} (model {model.get('preset', '?')} on {model.get('device', '?')}, "
                    f"v{health.get('version', '?')})")


def status_from_error(url: str, exc: BaseException) -> None:
    set_status(state="error", url=url, model="", device="", text=f"not connected: {exc}")


def get_prefs(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def _default_python() -> str:
    return os.environ.get("IDE3D_PYTHON") or shutil.which("python3") or shutil.which("python") or "python3"


def backend_settings(context=None) -> dict:
    """URL/token/python/data dir after env overrides (IDE3D_BACKEND_URL, IDE3D_TOKEN, IDE3D_PYTHON)."""
    prefs = get_prefs(context)
    url = prefs.backend_url if prefs else ""
    token = prefs.token if prefs else ""
    url, token = client_mod.resolve_settings(url, token)
    python = os.environ.get("IDE3D_PYTHON") or (prefs.python_path if prefs and prefs.python_path else "") \
        or _default_python()
    data_dir = (prefs.data_dir if prefs and prefs.data_dir else "") or os.environ.get("IDE3D_DATA_DIR") \
        or str(default_data_dir())
    timeout = prefs.timeout if prefs else client_mod.DEFAULT_TIMEOUT
    startup = prefs.startup_timeout if prefs else 180.0
    auto_start = bool(prefs.auto_start) if prefs else False
    return {"url": url, "token": token, "auto_start": auto_start, "python": bpy.path.abspath(python) if python.startswith("//") else python,
            "data_dir": bpy.path.abspath(data_dir) if data_dir.startswith("//") else data_dir,
            "timeout": timeout, "startup_timeout": startup}


def get_client(context=None, obj=None) -> client_mod.Client:
    """A client for the configured backend, or for the backend a head object came from."""
    s = backend_settings(context)
    url = s["url"]
    if obj is not None and not os.environ.get("IDE3D_BACKEND_URL"):
        url = obj.get(PROP_URL) or url
    token = s["token"]
    if not token and client_mod.is_local_url(url):
        token = client_mod.read_token_file()
    return client_mod.Client(url, token, s["timeout"])


def port_of(url: str) -> int:
    from urllib.parse import urlsplit
    return urlsplit(url).port or 8765


class IDE3DPreferences(AddonPreferences):
    bl_idname = ADDON_ID

    backend_url: StringProperty(name="Backend URL", default=client_mod.DEFAULT_URL,
                                description="Where `ide3d serve` listens (IDE3D_BACKEND_URL overrides)")
    token: StringProperty(name="Token", subtype="PASSWORD", default="",
                          description="Bearer token; empty = read the backend's token file for a local backend "
                                      "(IDE3D_TOKEN overrides)")
    python_path: StringProperty(name="Backend Python", subtype="FILE_PATH", default="",
                                description="Python of the environment where the ide3d package is installed "
                                            "(used by Start local backend; IDE3D_PYTHON overrides)")
    data_dir: StringProperty(name="Data folder", subtype="DIR_PATH", default="",
                             description="Where the local backend keeps sessions and its log (empty = ~/.local/share/ide3d)")
    timeout: FloatProperty(name="Request timeout", default=30.0, min=1.0, max=600.0, unit="TIME_ABSOLUTE",
                           description="Seconds to wait for a short request")
    startup_timeout: FloatProperty(name="Startup timeout", default=180.0, min=5.0, max=1800.0,
                                   description="Seconds to wait for a starting backend to answer /health")
    auto_start: BoolProperty(name="Start the local backend when needed", default=True,
                             description="When an import finds no backend at a local URL, start it first")
    stop_on_exit: BoolProperty(name="Stop the backend with Blender", default=True,
                               description="Stop a backend started from Blender when Blender quits")
    mesh_resolution_default: IntProperty(name="Default mesh resolution", default=128, min=64, max=512)

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.prop(self, "backend_url")
        col.prop(self, "token")
        tp = client_mod.token_path()
        col.label(text=f"Token file (local backend): {tp}" + ("" if tp.exists() else " (not created yet)"),
                  icon="INFO")
        box = layout.box()
        box.label(text="Local backend")
        box.prop(self, "python_path")
        box.prop(self, "data_dir")
        box.prop(self, "startup_timeout")
        box.prop(self, "auto_start")
        box.prop(self, "stop_on_exit")
        row = box.row()
        row.operator("ide3d.start_backend", icon="PLAY")
        row.operator("ide3d.stop_backend", icon="PAUSE")
        layout.prop(self, "timeout")
        draw_status(layout)


def draw_status(layout):
    st = status()
    row = layout.row(align=True)
    icon = {"connected": "CHECKMARK", "error": "ERROR", "checking": "TIME"}.get(st["state"], "QUESTION")
    row.label(text=st["text"][:160], icon=icon)
    row.operator("ide3d.check_connection", text="", icon="FILE_REFRESH")


CLASSES = (IDE3DPreferences,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
