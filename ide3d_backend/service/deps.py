"""What the routes depend on, as FastAPI dependencies: the app's `Backend` (kept on
`app.state.backend` by `create_app`), the bearer-token check, the request limits, and
the job and session a path names.

    @router.get("/sessions/{sid}/thing", dependencies=secured)
    def thing(session: SessionDep, backend: BackendDep): ...
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated, Optional

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from . import auth
from .backend import Backend
from .errors import ApiError, guarded, short_id
from .job_table import KEEP_FINISHED_S
from .jobs import Job
from .settings import Limits


async def get_backend(request: Request) -> Backend:
    return request.app.state.backend


BackendDep = Annotated[Backend, Depends(get_backend)]


async def get_limits(backend: BackendDep) -> Limits:
    return backend.limits


LimitsDep = Annotated[Limits, Depends(get_limits)]

# --------------------------------------------------------------------------- auth
bearer = HTTPBearer(auto_error=False, description="the token in $XDG_CONFIG_HOME/ide3d/token")


def require_token(cred: Optional[HTTPAuthorizationCredentials] = Depends(bearer),
                  backend: Backend = Depends(get_backend)):
    given = cred.credentials if cred is not None else None
    if not auth.token_matches(backend.token, given):
        raise HTTPException(401, "missing or wrong token: send `Authorization: Bearer <token>` with the token "
                                 "from $XDG_CONFIG_HOME/ide3d/token (default ~/.config/ide3d/token)",
                            headers={"WWW-Authenticate": "Bearer"})


# Every route but /health: `APIRouter(dependencies=secured)` or `@router.get(..., dependencies=secured)`.
secured = [Depends(require_token)]


# --------------------------------------------------------------------------- path ids
async def lookup_job(job_id: str, backend: BackendDep) -> Job:
    """The job of the path, else 404."""
    job = backend.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"job {short_id(job_id)} does not exist (finished jobs are kept "
                            f"{KEEP_FINISHED_S // 86400} days; finished sessions stay listed at GET /sessions)")
    return job


JobDep = Annotated[Job, Depends(lookup_job)]


class SessionAccess:
    """The session of the path, opened when the handler asks: `with session.locked() as s:`.

    The dependency does not open it itself: opening takes the model lock (a session lives on
    the shared generator), the lock must stay held through the render or edit that follows,
    and a handler first checks its own input (a bad upload answers 422 even for an unknown
    session, without waiting for the lock)."""

    def __init__(self, backend: Backend, sid: str):
        self.backend, self.sid = backend, sid

    def open(self):
        """The open session (404 unknown, 409 damaged); the caller holds the model lock."""
        return guarded(self.backend.session, self.sid)

    @contextmanager
    def locked(self):
        """Hold the model lock and yield the open session."""
        with self.backend.model_lock:
            yield self.open()


async def session_access(sid: str, backend: BackendDep) -> SessionAccess:
    return SessionAccess(backend, sid)


SessionDep = Annotated[SessionAccess, Depends(session_access)]
