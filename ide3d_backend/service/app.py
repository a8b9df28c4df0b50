"""The FastAPI app of `ide3d serve` (contract: docs/api.md).

Threads: request handlers run in the server's thread pool; every operation on the shared
generator (renders, meshes, edits, samples, session opening) holds one model lock. The
inversion job worker runs on its own copy of the generator and encoders, so a long
inversion never blocks renders and edits of other sessions.
"""
from __future__ import annotations

import base64
import copy
import errno
import io
import json
import logging
import math
import os
import re
import threading
import time
import traceback
import zipfile
from collections import OrderedDict
from typing import Literal, Optional

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from PIL import Image, UnidentifiedImageError

from .. import __version__, semantics, views
from ..editing import EditError
from ..session import SessionError
from . import auth
from .jobs import Cancelled, JobConflict, JobManager, describe_exception
from .models import (CompactMesh, Health, Info, Job, Problem, RegionEdit, SampleRequest, SessionInfo,
                     TextureEdit)
from .settings import Limits, Settings
from .store import SessionDamaged, SessionNotFound, SessionStore

log = logging.getLogger("ide3d.service")

PRESET_NAMES = ("fast", "quality")
ERRORS = {401: {"model": Problem, "description": "missing or wrong token"},
          404: {"model": Problem, "description": "unknown id"},
          409: {"model": Problem, "description": "conflict (nothing to undo, damaged session, job ended)"},
          413: {"model": Problem, "description": "upload or image too large"},
          422: {"model": Problem, "description": "invalid input; the detail says what to fix"},
          500: {"model": Problem, "description": "server fault"},
          507: {"model": Problem, "description": "the data dir's disk is full"}}


class ApiError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


# --------------------------------------------------------------------------- upload limit
class BodyTooLarge(Exception):
    pass


class UploadLimitMiddleware:
    """413 for request bodies over the limit: at once from Content-Length, else while reading."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    def _message(self) -> str:
        return (f"the upload is larger than {self.max_bytes / 1048576:.0f} MB; send a smaller photo "
                "(a portrait needs no more than a few megapixels)")

    async def _reject(self, send):
        body = JSONResponse({"detail": self._message()}, status_code=413).body
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        return await self._reject(send)
                except ValueError:
                    pass
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)


# --------------------------------------------------------------------------- the backend
class LRU:
    """A small thread-safe LRU (entries and, optionally, total bytes bounded)."""

    def __init__(self, size: int, max_bytes: int | None = None):
        self.size, self.max_bytes = max(0, size), max_bytes
        self._d: OrderedDict = OrderedDict()  # key -> (value, nbytes)
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._d.get(key)
            if item is None:
                return None
            self._d.move_to_end(key)
            return item[0]

    def put(self, key, value, nbytes: int = 0):
        if self.size == 0:
            return
        with self._lock:
            if key in self._d:
                return
            self._d[key] = (value, nbytes)
            self._bytes += nbytes
            while len(self._d) > self.size or (self.max_bytes and self._bytes > self.max_bytes and len(self._d) > 1):
                _, (_, n) = self._d.popitem(last=False)
                self._bytes -= n

    def drop(self, pred):
        with self._lock:
            for k in [k for k in self._d if pred(k)]:
                self._bytes -= self._d.pop(k)[1]


def _load_models(settings: Settings, generator=None, encoders=None, parser=None):
    """(G, base_source, encoders or None, parser or None) as the settings say (sources)."""
    from .. import sources
    from ..checkpoint import select_device
    device = select_device(settings.device)
    spec = settings.generator_spec()
    if generator is not None:
        G, source = generator.eval().requires_grad_(False), sources.describe(spec)
    else:
        G, source = sources.resolve_generator(spec, device)
    warn = lambda note: log.warning("%s", note)  # noqa: E731
    enc = encoders if encoders is not None else sources.optional_encoders(settings.encoders, device, warn)
    par = parser if parser is not None else sources.optional_parser(settings.parser, device, warn)
    return G, source, enc, par


class Backend:
    def __init__(self, settings: Settings, generator=None, encoders=None, parser=None, token: str | None = None):
        self.settings = settings
        self.limits: Limits = settings.limits
        self.token = token if token is not None else settings.token
        if not self.token:
            self.token, self.token_path, _ = auth.load_or_create_token(settings.token_file)
        else:
            self.token_path = None
        Image.MAX_IMAGE_PIXELS = int(self.limits.max_pixels)
        self.G, self.base_source, self.encoders, self.parser = _load_models(settings, generator, encoders, parser)
        self.resolution = int(self.G.cfg.superres.output_resolution)
        self.model_lock = threading.RLock()
        self.store = SessionStore(settings.data_dir, self.G, settings.session_cache)
        # The worker's own copies: inversion never shares modules with request threads.
        self.G_job = copy.deepcopy(self.G)
        self.enc_job = copy.deepcopy(self.encoders) if self.encoders is not None else None
        self.parser_job = copy.deepcopy(self.parser) if self.parser is not None else None
        self.jobs = JobManager(str(self.G.device), self.limits.max_queued_jobs)
        self.png_cache = LRU(settings.render_cache, 128 << 20)
        self.view_cache = LRU(8)
        self.mesh_cache = LRU(4)

    def close(self):
        self.jobs.shutdown()
        self.store.close()

    # --- helpers -------------------------------------------------------------------------
    def preset(self, name: str):
        from .. import inversion
        p = inversion.get_preset(name)
        if name in self.settings.preset_steps:
            lat, tune = self.settings.preset_steps[name]
            p = p.with_steps(int(lat), int(tune))
        return p

    def session(self, sid: str):
        return self.store.get(sid)

    def health(self) -> dict:
        return {"status": "ok", "version": __version__,
                "model": {"preset": self.G.cfg.preset, "device": str(self.G.device),
                          "output_resolution": self.resolution}}


# --------------------------------------------------------------------------- image checks
def _image_header(data: bytes, what: str, limits: Limits) -> Image.Image:
    """Open (header only) an uploaded image; 422 when it is not one, 413 when too many pixels."""
    if not data:
        raise ApiError(422, f"the {what} is empty; upload a JPEG, PNG or WebP file")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"the {what} has too many pixels ({exc}); the limit is "
                            f"{limits.max_pixels / 1e6:.0f} megapixels, downscale it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ApiError(422, f"the {what} is not an image ({type(exc).__name__}); upload a JPEG, PNG or WebP "
                            "file") from None
    w, h = im.size
    if w * h > limits.max_pixels:
        raise ApiError(413, f"the {what} is {w}x{h} = {w * h / 1e6:.1f} megapixels; the limit is "
                            f"{limits.max_pixels / 1e6:.0f} megapixels, downscale it")
    if w < 1 or h < 1:
        raise ApiError(422, f"the {what} has no pixels")
    return im


def _decode_mask(data: bytes, what: str, limits: Limits) -> np.ndarray:
    from ..preprocess import PreprocessError, load_mask
    _image_header(data, what, limits)
    try:
        return load_mask(data)
    except Image.DecompressionBombError as exc:
        raise ApiError(413, f"the {what} has too many pixels ({exc})") from None
    except (PreprocessError, ValueError) as exc:
        raise ApiError(422, f"the {what} is not usable: {exc}. Give an 8-bit id PNG (values 0..18) or a "
                            "PNG painted with the 19 class colours (GET /info lists them)") from None


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _b64(arr: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=dtype).tobytes()).decode("ascii")


def _filename(name: str, ext: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "ide3d_head"
    return f"{stem[:80]}.{ext}"


def _class_error(exc: Exception) -> str:
    msg = str(exc)
    return (f"{msg}. Classes can also be ids 0..18, regions ({', '.join(semantics.REGIONS)}), groups "
            f"({', '.join(semantics.GROUPS)}) or aliases ({', '.join(sorted(semantics.ALIASES))})")


def _os_error(exc: OSError) -> tuple[int, str]:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return 507, describe_exception(exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return 500, describe_exception(exc)
    return 500, f"I/O error: {exc}"


# --------------------------------------------------------------------------- the app
def create_app(settings: Settings | None = None, *, generator=None, encoders=None, parser=None,
               token: str | None = None) -> FastAPI:
    """The service. Loads the model (settings.checkpoint, or `generator`) before returning."""
    settings = settings or Settings()
    b = Backend(settings, generator, encoders, parser, token)
    L = b.limits

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield
        b.close()

    app = FastAPI(title="IDE-3D backend", version=__version__, lifespan=lifespan,
                  description="Local HTTP backend of the IDE-3D Blender add-on (docs/api.md). "
                              "Every route but /health needs `Authorization: Bearer <token>`.")
    app.state.backend = b
    app.add_middleware(UploadLimitMiddleware, max_bytes=L.max_upload_bytes)

    bearer = HTTPBearer(auto_error=False, description="the token in $XDG_CONFIG_HOME/ide3d/token")

    def require_token(cred: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
        given = cred.credentials if cred is not None else None
        if not auth.token_matches(b.token, given):
            raise HTTPException(401, "missing or wrong token: send `Authorization: Bearer <token>` with the token "
                                     "from $XDG_CONFIG_HOME/ide3d/token (default ~/.config/ide3d/token)",
                                headers={"WWW-Authenticate": "Bearer"})

    secured = [Depends(require_token)]

    # --- error handlers ------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
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

    @app.exception_handler(OSError)
    async def _os(request: Request, exc: OSError):
        status, detail = _os_error(exc)
        log.error("%s %s: %s", request.method, request.url.path, detail)
        return JSONResponse({"detail": detail}, status_code=status)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.error("%s %s failed:\n%s", request.method, request.url.path, traceback.format_exc())
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}: {exc}); see the server log"},
                            status_code=500)

    def guarded(fn, *args, **kw):
        """Run an engine call, mapping its errors to answers."""
        try:
            return fn(*args, **kw)
        except SessionNotFound as exc:
            raise ApiError(404, str(exc)) from None
        except SessionDamaged as exc:
            raise ApiError(409, f"the session cannot be used: {exc}") from None
        except OSError as exc:
            raise ApiError(*_os_error(exc)) from None
        except EditError as exc:
            raise ApiError(422, str(exc)) from None
        except SessionError as exc:
            msg = str(exc)
            raise ApiError(409, msg + ("" if "nothing" not in msg else " (check can_undo / can_redo)")) from None

    # --- service ----------------------------------------------------------------------
    @app.get("/health", response_model=Health, tags=["service"])
    def health():
        return b.health()

    @app.get("/info", response_model=Info, dependencies=secured, responses=ERRORS, tags=["service"])
    def info():
        return {"classes": semantics.palette_dict(),
                "regions": {k: list(v) for k, v in semantics.REGIONS.items()},
                "groups": {k: list(v) for k, v in semantics.GROUPS.items()},
                "aliases": dict(semantics.ALIASES),
                "presets": list(PRESET_NAMES), "limits": L.as_dict(),
                "capabilities": {"shape_edits": b.encoders is not None, "encoders": b.encoders is not None,
                                 "face_parser": b.parser is not None}}

    # --- jobs ------------------------------------------------------------------------------
    @app.post("/sessions", status_code=202, response_model=Job, dependencies=secured, responses=ERRORS,
              tags=["jobs"])
    def create_session(photo: UploadFile = File(..., description="portrait (JPEG, PNG, WebP, ...)"),
                       mask: Optional[UploadFile] = File(None, description="8-bit id PNG or palette-colour PNG"),
                       preset: Literal["fast", "quality"] = Form("fast"),
                       align: bool = Form(True),
                       name: Optional[str] = Form(None, max_length=200)):
        data = photo.file.read()
        im = _image_header(data, "photo", L)
        w, h = im.size
        ids = None
        if mask is not None:
            mdata = mask.file.read()
            if mdata:  # an empty part is "no mask" (some clients send one)
                ids = _decode_mask(mdata, "mask", L)
                if ids.shape not in ((h, w), (b.resolution, b.resolution)):
                    raise ApiError(422, f"the mask is {ids.shape[1]}x{ids.shape[0]} but must be the photo's size "
                                        f"({w}x{h}) or the aligned size ({b.resolution}x{b.resolution})")
        preset_obj = b.preset(preset)
        label = (name or os.path.splitext(os.path.basename(photo.filename or ""))[0] or "portrait").strip()[:200]

        def run(job):
            from ..session import invert_photo
            sid = b.store.new_id()
            tmp = b.store.tmp_path(sid)
            spans = {"latent": (0.05, 0.6, "optimising the latent code"),
                     "tune": (0.6, 0.95, "tuning the generator")}

            def callback(stage, step, total, loss, preview):
                if preview is not None:
                    job.preview = preview
                if stage == "encode":
                    job.report(0.05, "encoding", "initial latent code ready")
                    return
                lo, hi, text = spans.get(stage, (0.05, 0.95, stage))
                loss_txt = f", loss {loss:.4f}" if loss == loss else ""
                job.report(lo + (hi - lo) * step / max(total, 1), stage, f"{text}: step {step}/{total}{loss_txt}")

            job.report(0.01, "preprocessing", "aligning the photo" if align else "framing the photo")
            try:
                # the job's directory exists from the start (a marker of unfinished work that the
                # next start removes after a crash); it moves to sessions/ only when complete
                tmp.mkdir(parents=True)
                (tmp / "job.json").write_text(json.dumps({"job": job.id, "name": label, "preset": preset,
                                                          "started": job.created}))
                invert_photo(b.G_job, data, tmp, mask=ids, preset=preset_obj, align=align, encoders=b.enc_job,
                             parser=b.parser_job, callback=callback, cancel=job.cancel, name=label,
                             base_source=b.base_source)
                job.report(0.97, "saving", "publishing the session")
                (tmp / "job.json").unlink()
                with job.finishing():
                    b.store.publish(tmp, sid)
            except Exception as exc:
                from ..inversion import Cancelled as InversionCancelled
                if isinstance(exc, InversionCancelled):
                    raise Cancelled(str(exc)) from None
                if isinstance(exc, Image.DecompressionBombError):
                    raise ValueError(f"the photo has too many pixels ({exc})") from None
                raise
            finally:
                b.store.discard(tmp)
            return {"session": b.store.info(sid)}

        try:
            job = b.jobs.submit("invert", run, label)
        except JobConflict as exc:
            raise ApiError(409, str(exc)) from None
        return b.jobs.snapshot(job)

    def _job(job_id: str):
        job = b.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"job {job_id} does not exist (jobs are kept in memory: a restarted server "
                                "forgets them; finished sessions stay listed at GET /sessions)")
        return job

    @app.get("/jobs/{job_id}", response_model=Job, dependencies=secured, responses=ERRORS, tags=["jobs"])
    def get_job(job_id: str):
        return b.jobs.snapshot(_job(job_id))

    @app.post("/jobs/{job_id}/cancel", response_model=Job, dependencies=secured, responses=ERRORS, tags=["jobs"])
    def cancel_job(job_id: str):
        _job(job_id)
        try:
            job = b.jobs.cancel(job_id)
        except JobConflict as exc:
            raise ApiError(409, str(exc)) from None
        return b.jobs.snapshot(job)

    @app.get("/jobs/{job_id}/preview", dependencies=secured, responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             response_class=Response, tags=["jobs"])
    def job_preview(job_id: str):
        job = _job(job_id)
        if job.preview is None:
            raise ApiError(404, "no preview yet; the inversion sends one every few steps")
        return Response(_png(job.preview), media_type="image/png")

    # --- sessions ------------------------------------------------------------------------------
    @app.get("/sessions", response_model=list[SessionInfo], dependencies=secured, responses=ERRORS,
             tags=["sessions"])
    def list_sessions():
        return guarded(b.store.list)

    @app.get("/sessions/{sid}", response_model=SessionInfo, dependencies=secured, responses=ERRORS,
             tags=["sessions"])
    def get_session(sid: str):
        return guarded(b.store.info, sid)

    @app.delete("/sessions/{sid}", status_code=204, response_class=Response, dependencies=secured,
                responses=ERRORS, tags=["sessions"])
    def delete_session(sid: str):
        with b.model_lock:  # never under a running edit or render of it
            guarded(b.store.delete, sid)
        b.png_cache.drop(lambda k: k[0] == sid)
        b.view_cache.drop(lambda k: k[0] == sid)
        b.mesh_cache.drop(lambda k: k[0] == sid)
        return Response(status_code=204)

    @app.post("/samples", response_model=SessionInfo, dependencies=secured, responses=ERRORS, tags=["sessions"])
    def sample(req: SampleRequest):
        from ..session import sample_session
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

    def render_png(sid: str, yaw: float, pitch: float, kind: str, size: int | None) -> tuple[bytes, str]:
        """(PNG, Server-Timing value): wait for the model lock, render (or cache), encode."""
        t0 = time.perf_counter()
        with b.model_lock:
            t1 = time.perf_counter()
            s = guarded(b.session, sid)
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
        png = _png(arr)
        b.png_cache.put(key, png, len(png))
        t3 = time.perf_counter()
        return png, f"lock;dur={(t1 - t0) * 1000:.2f}, render;dur={(t2 - t1) * 1000:.2f}, png;dur={(t3 - t2) * 1000:.2f}"

    png_answer = {**ERRORS, 200: {"content": {"image/png": {}}, "description": "PNG"}}

    @app.get("/sessions/{sid}/render", response_class=Response, dependencies=secured, responses=png_answer,
             tags=["sessions"])
    def render(sid: str,
               yaw: float = Query(0.0, ge=-2 * math.pi, le=2 * math.pi, description="radians, 0 = frontal"),
               pitch: float = Query(0.0, ge=-math.pi / 2, le=math.pi / 2, description="radians, + = from above"),
               size: int = Query(256, ge=L.min_render_size, le=L.max_render_size),
               kind: Literal["rgb", "mask", "depth"] = Query("rgb")):
        png, timing = render_png(sid, yaw, pitch, kind, size)
        return Response(png, media_type="image/png", headers={"Server-Timing": timing})

    @app.get("/sessions/{sid}/canonical", response_class=Response, dependencies=secured, responses=png_answer,
             tags=["sessions"])
    def canonical(sid: str, kind: Literal["rgb", "mask"] = Query("rgb"),
                  size: Optional[int] = Query(None, ge=L.min_render_size, le=L.max_render_size)):
        png, timing = render_png(sid, 0.0, 0.0, kind, size)
        return Response(png, media_type="image/png", headers={"Server-Timing": timing})

    def head_mesh(sid: str, resolution: int, smooth: int, faces: int | None):
        with b.model_lock:
            s = guarded(b.session, sid)
            key = (sid, s.version, resolution, smooth, faces)
            m = b.mesh_cache.get(key)
            if m is None:
                m = guarded(s.mesh, resolution, smooth, faces)
                b.mesh_cache.put(key, m)
            return s, m

    def mesh_file(s, m, fmt: str):
        from .. import export
        if fmt == "glb":
            return export.glb_bytes(m.to_yup_metres(), name=s.name), "model/gltf-binary", "glb"
        if fmt == "ply":
            return export.ply_bytes(m.to_blender_frame()), "application/octet-stream", "ply"
        mtl = _filename(s.name, "mtl")
        obj, mtl_text = export.obj_text(m.to_yup_metres(), mtl)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(_filename(s.name, "obj"), obj)
            z.writestr(mtl, mtl_text)
        return buf.getvalue(), "application/zip", "zip"

    file_answer = {**ERRORS, 200: {"content": {"application/json": {"schema": CompactMesh.model_json_schema()},
                                               "model/gltf-binary": {}, "application/zip": {},
                                               "application/octet-stream": {}}}}

    @app.get("/sessions/{sid}/mesh", dependencies=secured, responses=file_answer, tags=["sessions"])
    def mesh(sid: str,
             resolution: int = Query(128, ge=L.min_mesh_resolution, le=L.max_mesh_resolution),
             format: Literal["compact", "glb", "obj", "ply"] = Query("compact"),
             smooth: int = Query(0, ge=0, le=L.max_smooth, description="Taubin iterations"),
             faces: Optional[int] = Query(None, ge=4, le=L.max_faces, description="target face count")):
        s, m = head_mesh(sid, resolution, smooth, faces)
        if format == "compact":
            mb = m.to_blender_frame()
            return JSONResponse({"version": s.version, "frame": "blender",
                                 "vertices": _b64(mb.vertices, "<f4"), "faces": _b64(mb.faces, "<i4"),
                                 "colors": _b64(mb.colors, np.uint8), "labels": _b64(mb.labels, np.uint8),
                                 "vertex_count": int(len(mb.vertices)), "face_count": int(len(mb.faces))})
        data, ctype, ext = mesh_file(s, m, format)
        return Response(data, media_type=ctype,
                        headers={"Content-Disposition": f'attachment; filename="{_filename(s.name, ext)}"'})

    @app.get("/sessions/{sid}/export", response_class=Response, dependencies=secured, responses=file_answer,
             tags=["sessions"])
    def export_route(sid: str, format: Literal["glb", "obj", "ply"] = Query("glb"),
                     resolution: int = Query(256, ge=L.min_mesh_resolution, le=L.max_mesh_resolution),
                     smooth: int = Query(0, ge=0, le=L.max_smooth),
                     faces: Optional[int] = Query(None, ge=4, le=L.max_faces)):
        s, m = head_mesh(sid, resolution, smooth, faces)
        data, ctype, ext = mesh_file(s, m, format)
        return Response(data, media_type=ctype,
                        headers={"Content-Disposition": f'attachment; filename="{_filename(s.name, ext)}"'})

    # --- edits --------------------------------------------------------------------------------
    def source_of(req, sid: str):
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

    @app.post("/sessions/{sid}/edits/mask", response_model=SessionInfo, dependencies=secured, responses=ERRORS,
              tags=["edits"])
    def edit_mask(sid: str, mask: UploadFile = File(..., description="canonical-view id or palette PNG")):
        from ..editing import edit_mask as engine_edit_mask
        ids = _decode_mask(mask.file.read(), "mask", L)
        h, w = ids.shape
        if h != w or not 8 <= w <= 4096:
            raise ApiError(422, f"the mask is {w}x{h}; paint it on the canonical view (GET "
                                f"/sessions/{sid}/canonical?kind=mask gives {b.resolution}x{b.resolution}) and "
                                "upload a square PNG of that size")
        if b.encoders is None:
            raise ApiError(503, "shape edits need the trained canonical editor; serve with --encoders PATH "
                                "(train one with `ide3d train encoders`)")
        with b.model_lock:
            s = guarded(b.session, sid)
            return guarded(engine_edit_mask, s, ids, encoders=b.encoders)

    @app.post("/sessions/{sid}/edits/region", response_model=SessionInfo, dependencies=secured, responses=ERRORS,
              tags=["edits"])
    def edit_region(sid: str, req: RegionEdit):
        from ..editing import edit_region as engine_edit_region
        try:
            classes = semantics.parse_classes(list(req.classes))
        except ValueError as exc:
            raise ApiError(422, _class_error(exc)) from None
        with b.model_lock:
            s = guarded(b.session, sid)
            src = guarded(source_of, req, sid)
            return guarded(engine_edit_region, s, classes, truncation=req.truncation, **src)

    @app.post("/sessions/{sid}/edits/texture", response_model=SessionInfo, dependencies=secured,
              responses=ERRORS, tags=["edits"])
    def edit_texture(sid: str, req: TextureEdit):
        from ..editing import edit_texture as engine_edit_texture
        with b.model_lock:
            s = guarded(b.session, sid)
            src = guarded(source_of, req, sid)
            return guarded(engine_edit_texture, s, truncation=req.truncation, **src)

    @app.post("/sessions/{sid}/edits/undo", response_model=SessionInfo, dependencies=secured, responses=ERRORS,
              tags=["edits"])
    def undo(sid: str):
        with b.model_lock:
            return guarded(guarded(b.session, sid).undo)

    @app.post("/sessions/{sid}/edits/redo", response_model=SessionInfo, dependencies=secured, responses=ERRORS,
              tags=["edits"])
    def redo(sid: str):
        with b.model_lock:
            return guarded(guarded(b.session, sid).redo)

    return app
