"""The server itself: GET /health (open, for the add-on's "is it up" check), GET /info
(classes, regions, presets, limits and what the loaded models can do) and GET /openapi.json
(the schema, behind the token like every route but /health)."""
from __future__ import annotations

from fastapi import APIRouter, Request

from ... import semantics
from ..deps import BackendDep, secured
from ..errors import ERRORS
from ..models import Health, Info

PRESET_NAMES = ("fast", "quality")

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
async def health(backend: BackendDep):
    # async: answered on the event loop, never behind the model lock or a thread pool that
    # requests waiting for the lock have filled
    return backend.health()


@router.get("/info", response_model=Info, dependencies=secured, responses=ERRORS)
def info(backend: BackendDep):
    return {"classes": semantics.palette_dict(),
            "regions": {k: list(v) for k, v in semantics.REGIONS.items()},
            "groups": {k: list(v) for k, v in semantics.GROUPS.items()},
            "aliases": dict(semantics.ALIASES),
            "presets": list(PRESET_NAMES), "limits": backend.limits.as_dict(),
            "capabilities": {"shape_edits": backend.encoders is not None, "encoders": backend.encoders is not None,
                             "face_parser": backend.parser is not None}}


@router.get("/openapi.json", include_in_schema=False, dependencies=secured)
def openapi_schema(request: Request):
    return request.app.openapi()
