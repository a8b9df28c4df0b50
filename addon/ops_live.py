"""Live painting in Blender (docs/addon.md "Live painting"): while the Shape panel's Live
toggle is on, the head follows the mask as it is painted.

A tick on the main thread (a ``bpy.app.timers`` function in the UI; under the bpy module,
where timers never fire, the caller runs :func:`tick` itself) does two things:

* stroke detection: it fingerprints the mask image's pixels; a change is a finished
  stroke (or part of one) and its palette-snapped PNG goes to the head's LiveStream,
  which coalesces what arrives while a request is in flight (live_stream.py);
* answers: the preview goes into the image ``IDE3D Preview``, the coarse mesh and, after
  the user stops, the full mesh replace the head's geometry in place.

Latencies per stroke (painted -> preview / mesh in the scene) are kept on the LiveSession
for the panel and bench/live_edit.py.
"""
from __future__ import annotations

import time

import bpy

from . import live_stream, mesh_io
from .ops_paint import image_to_mask_png, mask_image_for
from .ops_preview import PREVIEW_IMAGE
from .ops_results import apply_mesh_update, load_png_image, store_session_info, tag_redraw
from .preferences import get_client

TICK_SECONDS = 0.03
COARSE_RESOLUTION = 96
PREVIEW_SIZE = 128


class LiveSession:
    """One head being painted live: its mask image, stream and stroke bookkeeping."""

    def __init__(self, obj, client, query: dict, display_mode: str):
        from .ops_tasks import fetch_mesh
        self.obj_name = obj.name
        self.session_id = obj[mesh_io.PROP_SESSION]
        self.url = client.url
        self.display_mode = display_mode
        self.fingerprint = None
        self.stroke = 0
        self.painted: dict[int, float] = {}        # stroke -> when its pixels were seen
        self.preview_seen: dict[int, float] = {}   # stroke -> when a preview including it was shown
        self.mesh_seen: dict[int, float] = {}      # stroke -> when a mesh including it was in the scene
        self.full_seen: dict[int, float] = {}
        self.errors: list[str] = []
        self.server_seconds: dict[int, dict] = {}  # stroke -> the backend's time per step of its edit
        sid = self.session_id
        self.stream = live_stream.LiveStream(client, sid, PREVIEW_SIZE, COARSE_RESOLUTION,
                                             fetch_full=lambda: fetch_mesh(client, sid, query))

    def poll(self):
        """Send the mask when its pixels changed since the last look."""
        obj = bpy.data.objects.get(self.obj_name)
        img = mask_image_for(obj) if obj is not None else None
        if img is None or not img.size[0]:
            return
        import numpy as np
        px = np.empty(img.size[0] * img.size[1] * img.channels, np.float32)
        img.pixels.foreach_get(px)
        fp = hash(px.tobytes())
        if self.fingerprint is None:  # the mask as fetched: the baseline, not a stroke
            self.fingerprint = fp
            return
        if fp == self.fingerprint:
            return
        self.fingerprint = fp
        self.stroke += 1
        self.painted[self.stroke] = time.perf_counter()
        self.stream.submit(image_to_mask_png(img), self.stroke)

    def _seen(self, record: dict, stroke: int, now: float):
        for s in range(1, stroke + 1):  # an answer includes every stroke up to its own
            record.setdefault(s, now)

    def apply(self):
        """Put the stream's answers into Blender (main thread)."""
        from .texture_io import set_display
        for a in self.stream.answers():
            kind = a["kind"]
            if kind == live_stream.ERROR:
                self.errors.append(str(a["error"]))
                print(f"IDE-3D live painting: {a['error']}")
                continue
            obj = bpy.data.objects.get(self.obj_name)
            if obj is None:
                continue
            if kind == live_stream.PREVIEW:
                load_png_image(PREVIEW_IMAGE, a["png"], owner={"ide3d_session": self.session_id})
                self.server_seconds[a["stroke"]] = a.get("seconds", {})
                store_session_info(obj, a["session"])
                self._seen(self.preview_seen, a["stroke"], time.perf_counter())
            else:
                apply_mesh_update(self.obj_name, self.url, a["session"], a["payload"])
                # coarse meshes carry vertex colours only; the full mesh brings the texture back
                set_display(obj, "VERTEX" if kind == live_stream.MESH else self.display_mode)
                self._seen(self.mesh_seen if kind == live_stream.MESH else self.full_seen, a["stroke"],
                           time.perf_counter())
            tag_redraw()

    def latencies(self) -> dict:
        """Seconds from painted to preview shown / mesh in the scene, per stroke."""
        out = {}
        for name, seen in (("preview", self.preview_seen), ("mesh", self.mesh_seen), ("full", self.full_seen)):
            out[name] = {s: seen[s] - t for s, t in self.painted.items() if s in seen}
        return out

    def stop(self):
        self.stream.stop()


LIVE: dict[str, LiveSession] = {}  # head object name -> its live session


def tick():
    """Detect strokes and apply answers for every live head; the timer's function."""
    for live in list(LIVE.values()):
        try:
            live.poll()
            live.apply()
        except Exception:  # noqa: BLE001 - a timer must never die
            import traceback
            traceback.print_exc()
    return TICK_SECONDS if LIVE else None


def start(context, obj) -> LiveSession:
    """Start live painting of head `obj` (fetching its mask into the paint image first)."""
    from .ops_tasks import mesh_query
    stop(obj.name)
    if mask_image_for(obj) is None:
        bpy.ops.ide3d.paint_mask()  # in the UI it arrives later: poll() waits for the image
    p = context.scene.ide3d
    live = LiveSession(obj, get_client(context, obj), mesh_query(context), p.display_mode)
    LIVE[obj.name] = live
    if not bpy.app.background and not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_SECONDS, persistent=True)
    return live


def stop(obj_name: str | None = None):
    """Stop live painting of one head (or of all)."""
    for name in [obj_name] if obj_name else list(LIVE):
        live = LIVE.pop(name, None)
        if live is not None:
            live.stop()
    if not LIVE and bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)


def live_toggled(props, context):
    """Update of scene.ide3d.live_paint: start/stop for the active head."""
    from .ops_tasks import active_head
    obj = active_head(context)
    if props.live_paint and obj is not None:
        start(context, obj)
    elif not props.live_paint:
        stop()
