"""Sessions as records: GET /sessions, GET and DELETE /sessions/{sid}, and POST /samples
(a new session from a random latent code)."""
from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import BackendDep, secured
from ..errors import ERRORS, guarded
from ..models import SampleRequest, SessionInfo

router = APIRouter(tags=["sessions"], dependencies=secured, responses=ERRORS)


@router.get("/sessions", response_model=list[SessionInfo])
def list_sessions(backend: BackendDep):
    return guarded(backend.store.list)


@router.get("/sessions/{sid}", response_model=SessionInfo)
def get_session(sid: str, backend: BackendDep):
    return guarded(backend.store.info, sid)


@router.delete("/sessions/{sid}", status_code=204, response_class=Response)
def delete_session(sid: str, backend: BackendDep):
    b = backend
    with b.model_lock:  # never under a running edit or render of it
        guarded(b.store.delete, sid)
    b.png_cache.drop(lambda k: k[0] == sid)
    b.view_cache.drop(lambda k: k[0] == sid)
    b.mesh_cache.drop(lambda k: k[0] == sid)
    b.live_canonical.drop(lambda k: k[0] == sid)
    b.live_meshers.drop(lambda k: k == sid)
    b.texturer.forget(sid)
    return Response(status_code=204)


@router.post("/samples", response_model=SessionInfo)
def sample(req: SampleRequest, backend: BackendDep):
    from ...session import sample_session
    b = backend
    sid = b.store.new_id()
    tmp = b.store.tmp_path(sid)
    try:
        with b.model_lock:
            guarded(sample_session, b.G, req.seed, tmp, truncation=req.truncation, base_source=b.base_source,
                    name=req.name or f"seed {req.seed}")
        guarded(b.store.publish, tmp, sid)
    finally:
        b.store.discard(tmp)
    return guarded(b.store.info, sid)
