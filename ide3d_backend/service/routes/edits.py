"""Edits of a session, each a new version: POST /sessions/{sid}/edits/mask (shape, from a
painted semantic mask), /region and /texture (mix in another code's styles), /undo, /redo.
Each answers the session's new info."""
from __future__ import annotations

from fastapi import APIRouter, File, UploadFile

from ... import semantics
from ..backend import Backend
from ..deps import BackendDep, LimitsDep, SessionDep, secured
from ..errors import ERRORS, ApiError, guarded
from ..images import decode_mask
from ..models import RegionEdit, SessionInfo, TextureEdit
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


@router.post("/sessions/{sid}/edits/mask", response_model=SessionInfo)
def edit_mask(session: SessionDep, backend: BackendDep, limits: LimitsDep,
              mask: UploadFile = File(..., description="canonical-view id or palette PNG")):
    from ...editing import edit_mask as engine_edit_mask
    b = backend
    ids = decode_mask(mask.file.read(), "mask", limits)
    h, w = ids.shape
    if h != w or not 8 <= w <= 4096:
        raise ApiError(422, f"the mask is {w}x{h}; paint it on the canonical view (GET "
                            f"/sessions/{session.sid}/canonical?kind=mask gives {b.resolution}x{b.resolution}) and "
                            "upload a square PNG of that size")
    if b.encoders is None:
        raise ApiError(503, "shape edits need the trained canonical editor; serve with --encoders PATH "
                            "(train one with `ide3d train encoders`)")
    with session.locked() as s:
        return guarded(engine_edit_mask, s, ids, encoders=b.encoders)


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
