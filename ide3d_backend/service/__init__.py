"""`ide3d serve`: the local HTTP backend of the Blender add-on (contract: docs/api.md).

    settings.py  Settings + Limits (what the server is allowed to do)
    auth.py      bearer token (created on first start, mode 0600, constant-time compare)
    models.py    pydantic request/response models (the OpenAPI schema at /openapi.json)
    store.py     sessions in the data dir (list/get/delete, crash-safe publish)
    jobs.py      one worker thread per device running long jobs (inversion) one at a time
    app.py       the FastAPI app factory `create_app(settings)`
    cli.py       `register(subparsers)` for `ide3d serve`
"""
from .settings import Limits, Settings

__all__ = ["Limits", "Settings", "create_app"]


def create_app(*args, **kwargs):
    from .app import create_app as _create_app
    return _create_app(*args, **kwargs)
