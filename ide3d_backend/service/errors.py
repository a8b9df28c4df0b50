"""How the service answers failures: `ApiError` (status + detail), the documented error
responses, the mapping of engine errors to statuses (`guarded`) and the app's exception
handlers (every answer is `{"detail": "..."}` saying what to fix)."""
from __future__ import annotations

import errno
import logging
import traceback

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..editing import EditError
from ..session import SessionError
from .jobs import describe_exception
from .models import Problem
from .store import SessionDamaged, SessionNotFound

log = logging.getLogger("ide3d.service")

# The error answers every secured route documents in the OpenAPI schema.
ERRORS = {401: {"model": Problem, "description": "missing or wrong token"},
          404: {"model": Problem, "description": "unknown id"},
          409: {"model": Problem, "description": "conflict (nothing to undo, damaged session, job ended)"},
          413: {"model": Problem, "description": "upload or image too large"},
          422: {"model": Problem, "description": "invalid input; the detail says what to fix"},
          500: {"model": Problem, "description": "server fault"},
          507: {"model": Problem, "description": "the data dir's disk is full"}}


def short_id(value: str, limit: int = 64) -> str:
    """An id from a request, for an error message: at most `limit` characters, quoted."""
    value = str(value)
    return repr(value if len(value) <= limit else value[:limit] + "...")


class ApiError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def os_error(exc: OSError) -> tuple[int, str]:
    """(status, detail) of a failed disk operation: 507 when the disk is full."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return 507, describe_exception(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 500, describe_exception(exc)
    return 500, f"I/O error: {exc}"


def guarded(fn, *args, **kw):
    """Run an engine call, mapping its errors to answers."""
    try:
        return fn(*args, **kw)
    except SessionNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except SessionDamaged as exc:
        raise ApiError(409, f"the session cannot be used: {exc}") from None
    except OSError as exc:
        raise ApiError(*os_error(exc)) from None
    except EditError as exc:
        raise ApiError(422, str(exc)) from None
    except SessionError as exc:
        msg = str(exc)
        raise ApiError(409, msg + ("" if "nothing" not in msg else " (check can_undo / can_redo)")) from None


# --------------------------------------------------------------------------- exception handlers
async def api_error(request: Request, exc: ApiError):
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


async def validation_error(request: Request, exc: RequestValidationError):
    """422 with one line per bad field (`loc: what is wrong (got ...)`)."""
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body",)) or "request"
        msg = e.get("msg", "invalid")
        if e.get("type") == "missing":
            msg = "required but missing"
        elif "input" in e and not isinstance(e["input"], (dict, list, bytes)):
            msg += f" (got {str(e['input'])[:60]!r})"
        parts.append(f"{loc}: {msg}")
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


async def disk_error(request: Request, exc: OSError):
    status, detail = os_error(exc)
    log.error("%s %s: %s", request.method, request.url.path, detail)
    return JSONResponse({"detail": detail}, status_code=status)


async def internal_error(request: Request, exc: Exception):
    """500 naming only the exception's type: its text and traceback (source paths, the
    server's files) go to the server log, never to the client."""
    log.error("%s %s failed:\n%s", request.method, request.url.path, traceback.format_exc())
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"},
                        status_code=500)


HANDLERS = {ApiError: api_error, RequestValidationError: validation_error, OSError: disk_error,
            Exception: internal_error}
