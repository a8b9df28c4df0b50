"""Edits of a session, each a new version: POST /sessions/{sid}/edits/mask (shape, from a
painted semantic mask), /region and /texture (mix in another code's styles), /undo, /redo.
Each answers the session's new info; /edits/mask/live (one stroke of live painting) also
answers the canonical preview and, when asked, the coarse live mesh in the same round trip."""
from __future__ import annotations

import base64
import time

from fastapi import APIRouter, File, Query, UploadFile

from ... import semantics
from ..backend import Backend
from ..deps import BackendDep, LimitsDep, SessionDep, secured
from ..errors import ERRORS, ApiError, guarded
from ..images import decode_mask, png_bytes
from ..models import LiveStroke, RegionEdit, SessionInfo, TextureEdit
from ..store import SessionDamaged, SessionNotFound

router = APIRouter(tags=["edits"], dependencies=secured, responses=ERRORS)


def _class_error(exc: Exception) -> str:
    msg = str(exc)
    return (f"{msg}. Classes can also be ids 0..18, regions ({', '.join(semantics.REGIONS)}), groups "
            f"({', '.join(semantics.GROUPS)}) or aliases ({', '.join(sorted(semantics.ALIASES))})")


def source_of(b: Backend, req, sid: str):
    """The style source of a region/texture edit: {"seed": n} or {"source": another session}."""
    if (req.seed is None) == (req.source_session is None):
        raise ApiError(422, "give exactly one of `seed` (an integer) or `source_session` (a session id)")
    if req.source_session is None:
        return {"seed": req.seed}
    if req.source_session == sid:
        return {"source": b.store.get(sid)}
    try:
        return {"source": b.store.get(req.source_session)}
    except SessionNotFound:
        raise ApiError(422, f"source_session {req.source_session!r} does not exist; "
                            "GET /sessions lists the ids") from None
    except SessionDamaged as exc:
        raise ApiError(409, f"source_session cannot be used: {exc}") from None


def _mask_ids(session, b: Backend, limits, data: bytes):
    ids = decode_mask(data, "mask", limits)
    h, w = ids.shape
    if h != w or not 8 <= w <= 4096:
        raise ApiError(422, f"the mask is {w}x{h}; paint it on the canonical view (GET "
                            f"/sessions/{session.sid}/canonical?kind=mask gives {b.resolution}x{b.resolution}) and "
                            "upload a square PNG of that size")
    if b.encoders is None:
        raise ApiError(503, "shape edits need the trained canonical editor; serve with --encoders PATH "
                            "(train one with `ide3d train encoders`)")
    return ids


@router.post("/sessions/{sid}/edits/mask", response_model=SessionInfo)
def edit_mask(session: SessionDep, backend: BackendDep, limits: LimitsDep,
              mask: UploadFile = File(..., description="canonical-view id or palette PNG")):
    from ...editing import edit_mask as engine_edit_mask
    ids = _mask_ids(session, backend, limits, mask.file.read())
    with session.locked() as s:
        return guarded(engine_edit_mask, s, ids, encoders=backend.encoders)


@router.post("/sessions/{sid}/edits/mask/live", response_model=LiveStroke)
def edit_mask_live(session: SessionDep, backend: BackendDep, limits: LimitsDep,
                   mask: UploadFile = File(..., description="canonical-view id or palette PNG"),
                   preview_size: int = Query(128, ge=1, description="edge of the preview PNG"),
                   mesh_resolution: int = Query(0, ge=0, le=256,
                                                description="0: no mesh; else the coarse live mesh's grid "
                                                            "(as GET .../mesh/live)")):
    """One stroke of live painting: the mask edit (a new version, undoable like any edit),
    the canonical RGB preview after it and, with mesh_resolution, the coarse live mesh.
    The preview's render is kept: the next stroke's edit reads it instead of rendering again."""
    from ... import views
    from ...editing import edit_mask as engine_edit_mask
    from .meshes import compact_body, live_mesh
    if not limits.min_render_size <= preview_size <= limits.max_render_size:
        raise ApiError(422, f"preview_size must be in {limits.min_render_size}..{limits.max_render_size}")
    if mesh_resolution and not limits.min_mesh_resolution <= mesh_resolution <= limits.max_mesh_resolution:
        raise ApiError(422, f"mesh_resolution must be 0 (no mesh) or in {limits.min_mesh_resolution}.."
                            f"{min(limits.max_mesh_resolution, 256)}")
    ids = _mask_ids(session, backend, limits, mask.file.read())
    t0 = time.perf_counter()
    with session.locked() as s:
        info = guarded(engine_edit_mask, s, ids, encoders=backend.encoders,
                       arrays=backend.live_canonical.get((session.sid, s.version)))
        t1 = time.perf_counter()
        planes, field = guarded(s.field)
        arrays = views.render_arrays(s.G, s.ws, 0.0, 0.0, field, planes)
        backend.live_canonical.drop(lambda k: k[0] == session.sid)
        backend.live_canonical.put((session.sid, s.version), arrays)
    png = png_bytes(views.render_kind(arrays, "rgb", preview_size))
    t2 = time.perf_counter()
    body = {"session": info, "preview_png": base64.b64encode(png).decode("ascii"),
            "seconds": {"edit": t1 - t0, "preview": t2 - t1}}
    if mesh_resolution:
        s, m = live_mesh(backend, session, mesh_resolution)
        body["mesh"] = compact_body(s, m)
        body["seconds"]["mesh"] = time.perf_counter() - t2
    return body


@router.post("/sessions/{sid}/edits/region", response_model=SessionInfo)
def edit_region(session: SessionDep, req: RegionEdit, backend: BackendDep):
    from ...editing import edit_region as engine_edit_region
    try:
        classes = semantics.parse_classes(list(req.classes))
    except ValueError as exc:
        raise ApiError(422, _class_error(exc)) from None
    with session.locked() as s:
        src = guarded(source_of, backend, req, session.sid)
        return guarded(engine_edit_region, s, classes, truncation=req.truncation, **src)


@router.post("/sessions/{sid}/edits/texture", response_model=SessionInfo)
def edit_texture(session: SessionDep, req: TextureEdit, backend: BackendDep):
    from ...editing import edit_texture as engine_edit_texture
    with session.locked() as s:
        src = guarded(source_of, backend, req, session.sid)
        return guarded(engine_edit_texture, s, truncation=req.truncation, **src)


@router.post("/sessions/{sid}/edits/undo", response_model=SessionInfo)
def undo(session: SessionDep):
    with session.locked() as s:
        return guarded(s.undo)


@router.post("/sessions/{sid}/edits/redo", response_model=SessionInfo)
def redo(session: SessionDep):
    with session.locked() as s:
        return guarded(s.redo)
