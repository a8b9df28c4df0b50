"""Images of a session: GET /sessions/{sid}/render (any view) and /canonical (the frontal
view the masks are painted on), as PNG with a Server-Timing header.

Renders are cached twice: the view's arrays (all kinds of one view, one render) and the
encoded PNGs, both keyed by the session's version so an edit invalidates them."""
from __future__ import annotations

import time
from typing import Literal, Optional

from fastapi import APIRouter, Query, Response

from ... import semantics, views
from ..backend import Backend
from ..deps import BackendDep, SessionAccess, SessionDep, secured
from ..errors import ERRORS, guarded
from ..images import png_bytes
from ..settings import Limits

PNG_ANSWER = {**ERRORS, 200: {"content": {"image/png": {}}, "description": "PNG"}}


def render_png(b: Backend, session: SessionAccess, yaw: float, pitch: float, kind: str,
               size: int | None) -> tuple[bytes, str]:
    """(PNG, Server-Timing value): wait for the model lock, render (or cache), encode."""
    sid = session.sid
    t0 = time.perf_counter()
    with b.model_lock:
        t1 = time.perf_counter()  # the lock's wait, apart from opening the session
        s = session.open()
        key = (sid, s.version, float(yaw), float(pitch), kind, size)
        png = b.png_cache.get(key)
        if png is not None:
            return png, f"lock;dur={(t1 - t0) * 1000:.2f}, cache;desc=hit"
        vkey = key[:4]
        arrays = b.view_cache.get(vkey)
        if arrays is None:
            arrays = guarded(s.render_all, float(yaw), float(pitch))
            arrays = {k: v for k, v in arrays.items() if k in views.KINDS}
            b.view_cache.put(vkey, arrays)
        arr = views.render_kind(arrays, kind, size)
    t2 = time.perf_counter()
    if kind == "mask":
        arr = semantics.mask_to_color(arr)
    png = png_bytes(arr)
    b.png_cache.put(key, png, len(png))
    t3 = time.perf_counter()
    return png, f"lock;dur={(t1 - t0) * 1000:.2f}, render;dur={(t2 - t1) * 1000:.2f}, png;dur={(t3 - t2) * 1000:.2f}"


def router_for(limits: Limits) -> APIRouter:
    """The render routes, their `size` bounded by `limits` (shown in the OpenAPI schema)."""
    L = limits
    router = APIRouter(tags=["sessions"], dependencies=secured)

    @router.get("/sessions/{sid}/render", response_class=Response, responses=PNG_ANSWER)
    def render(session: SessionDep, backend: BackendDep,
               yaw: float = Query(0.0, ge=-L.max_abs_yaw, le=L.max_abs_yaw, description="radians, 0 = frontal"),
               pitch: float = Query(0.0, ge=-L.max_abs_pitch, le=L.max_abs_pitch,
                                    description="radians, + = from above"),
               size: int = Query(256, ge=L.min_render_size, le=L.max_render_size),
               kind: Literal["rgb", "mask", "depth"] = Query("rgb")):
        png, timing = render_png(backend, session, yaw, pitch, kind, size)
        return Response(png, media_type="image/png", headers={"Server-Timing": timing})

    @router.get("/sessions/{sid}/canonical", response_class=Response, responses=PNG_ANSWER)
    def canonical(session: SessionDep, backend: BackendDep, kind: Literal["rgb", "mask"] = Query("rgb"),
                  size: Optional[int] = Query(None, ge=L.min_render_size, le=L.max_render_size)):
        png, timing = render_png(backend, session, 0.0, 0.0, kind, size)
        return Response(png, media_type="image/png", headers={"Server-Timing": timing})

    return router
