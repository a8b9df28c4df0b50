"""The FastAPI app of `ide3d serve` (contract: docs/api.md, layout: docs/service.md).

`create_app` only wires: it builds the `Backend` (models, lock, store, jobs, caches; see
backend.py for the threading), keeps it on `app.state.backend` for the routes'
dependencies (deps.py), and adds the upload limit, the exception handlers (errors.py)
and one router per resource (routes/).
"""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from .backend import Backend
from .errors import HANDLERS
from .routes import edits, jobs, meshes, renders, server, sessions
from .settings import Settings
from .upload_limit import UploadLimitMiddleware


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    app.state.backend.close()


def create_app(settings: Settings | None = None, *, generator=None, encoders=None, parser=None,
               token: str | None = None) -> FastAPI:
    """The service. Loads the model (settings.checkpoint, or `generator`) before returning."""
    settings = settings or Settings()
    backend = Backend(settings, generator, encoders, parser, token)
    # The schema is a secured route of server.py; no /docs or /redoc pages (see docs/service.md).
    app = FastAPI(title="IDE-3D backend", version=__version__, lifespan=_lifespan,
                  openapi_url=None, docs_url=None, redoc_url=None,
                  description="Local HTTP backend of the IDE-3D Blender add-on (docs/api.md). "
                              "Every route but /health needs `Authorization: Bearer <token>`.")
    app.state.backend = backend
    app.add_middleware(UploadLimitMiddleware, max_bytes=backend.limits.max_upload_bytes)
    for exc_class, handler in HANDLERS.items():
        app.add_exception_handler(exc_class, handler)
    # this order is the order of /openapi.json
    app.include_router(server.router)
    app.include_router(jobs.router)
    app.include_router(sessions.router)
    app.include_router(renders.router_for(backend.limits))
    app.include_router(meshes.router_for(backend.limits))
    app.include_router(edits.router)
    return app
