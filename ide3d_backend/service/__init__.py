"""`ide3d serve`: the local HTTP backend of the Blender add-on (contract: docs/api.md).

    settings.py      Settings + Limits (what the server is allowed to do)
    auth.py          bearer token (created on first start, mode 0600, constant-time compare)
    models.py        pydantic request/response models (the OpenAPI schema at /openapi.json, with the token)
    store.py         sessions in the data dir (list/get/delete, crash-safe publish)
    jobs.py          one worker thread per device running long jobs (inversion) one at a time
    job_table.py     the jobs in SQLite in the data dir (interrupted after a restart, kept 7 days)
    model_lock.py    the model lock; long work gives way to renders and edits between chunks
    long_work.py     the worker of meshes above 256³ (own generator copy, private session)
    backend.py       `Backend`: the loaded models, the model lock, store, jobs and caches
    lru.py           the small thread-safe LRU of the render/view/mesh caches
    upload_limit.py  ASGI middleware: 413 for request bodies over the limit
    images.py        upload checks (image header, pixel limit, masks) and PNG encoding
    errors.py        ApiError, engine errors -> statuses (`guarded`), the exception handlers
    deps.py          FastAPI dependencies: the Backend, the token check, limits, job/session of the path
    routes/          one APIRouter per resource (server, jobs, sessions, renders, meshes, edits)
    app.py           `create_app(settings)`: builds the Backend, wires middleware, handlers, routers
    cli.py           `register(subparsers)` for `ide3d serve`
"""
from .settings import Limits, Settings

__all__ = ["Limits", "Settings", "create_app"]


def create_app(*args, **kwargs):
    from .app import create_app as _create_app
    return _create_app(*args, **kwargs)
