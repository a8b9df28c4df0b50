"""HTTP client for the IDE-3D backend (contract: docs/api.md). Standard library only.

Every call raises a subclass of :class:`BackendError` a user can act on:

* :class:`BackendUnavailable` - nothing answers at the URL (not started, wrong port, timeout)
* :class:`AuthError`          - 401: missing or wrong token
* :class:`BadRequest`         - other 4xx; ``.status`` and the server's ``.detail``
* :class:`ServerError`        - 5xx
* :class:`JobFailed`          - a long job ended in state ``failed`` (``.job`` holds it)
* :class:`JobCancelled`       - a job was cancelled
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from urllib import error as urlerror
from urllib import parse, request

DEFAULT_URL = "http://127.0.0.1:8765"
DEFAULT_TIMEOUT = 30.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class BackendError(Exception):
    """Base class of every error this client raises."""

    def __init__(self, message: str, *, status: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = detail if detail is not None else message


class BackendUnavailable(BackendError):
    pass


class AuthError(BackendError):
    pass


class BadRequest(BackendError):
    pass


class ServerError(BackendError):
    pass


class JobFailed(BackendError):
    def __init__(self, message: str, job: dict | None = None):
        super().__init__(message)
        self.job = job or {}


class JobCancelled(JobFailed):
    pass


# --------------------------------------------------------------------------- token


def token_path(env: dict | None = None) -> Path:
    """``$XDG_CONFIG_HOME/ide3d/token`` or ``~/.config/ide3d/token``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "ide3d" / "token"


def read_token_file(path: str | os.PathLike | None = None) -> str:
    """The token from the backend's token file, '' when absent or unreadable."""
    p = Path(path) if path else token_path()
    try:
        return p.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def is_local_url(url: str) -> bool:
    host = parse.urlsplit(url).hostname or ""
    return host in LOCAL_HOSTS


def resolve_settings(url: str = "", token: str = "", env: dict | None = None) -> tuple[str, str]:
    """Effective (url, token): ``IDE3D_BACKEND_URL`` / ``IDE3D_TOKEN`` override the given
    values; a missing token for a local backend is read from the token file."""
    env = os.environ if env is None else env
    url = (env.get("IDE3D_BACKEND_URL") or url or DEFAULT_URL).rstrip("/")
    token = env.get("IDE3D_TOKEN") or token or ""
    if not token and is_local_url(url):
        token = read_token_file(token_path(env))
    return url, token


# --------------------------------------------------------------------------- multipart


def encode_multipart(fields: dict | None = None, files: dict | None = None) -> tuple[bytes, str]:
    """(body, content type) for a multipart/form-data request.

    ``files`` maps field name -> (filename, bytes, content type)."""
    boundary = "ide3d-" + uuid.uuid4().hex
    out = bytearray()
    for name, value in (fields or {}).items():
        if value is None:
            continue
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += str(value).encode("utf-8") + b"\r\n"
    for name, (filename, data, ctype) in (files or {}).items():
        safe = os.path.basename(filename).replace('"', "_")
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'.encode()
        out += f"Content-Type: {ctype}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _guess_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
            ".webp": "image/webp", ".bmp": "image/bmp", ".tif": "image/tiff",
            ".tiff": "image/tiff"}.get(ext, "application/octet-stream")


# --------------------------------------------------------------------------- client


class Client:
    """One backend. Thread-safe (no shared mutable state besides settings)."""

    def __init__(self, url: str = DEFAULT_URL, token: str = "", timeout: float = DEFAULT_TIMEOUT):
        self.url = (url or DEFAULT_URL).rstrip("/")
        self.token = token or ""
        self.timeout = timeout

    @classmethod
    def from_settings(cls, url: str = "", token: str = "", timeout: float = DEFAULT_TIMEOUT,
                      env: dict | None = None) -> "Client":
        u, t = resolve_settings(url, token, env)
        return cls(u, t, timeout)

    def __repr__(self):
        return f"Client({self.url!r})"

    # -- transport
    def request(self, method: str, path: str, *, query: dict | None = None, json_body=None,
                data: bytes | None = None, content_type: str | None = None,
                timeout: float | None = None, auth: bool = True) -> tuple[int, str, bytes]:
        """One request; returns (status, content type, body) or raises a BackendError."""
        url = self.url + path
        if query:
            q = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in query.items() if v is not None}
            url += "?" + parse.urlencode(q)
        headers = {"Accept": "application/json, */*"}
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = request.Request(url, data=data, method=method, headers=headers)
        try:
            with request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urlerror.HTTPError as exc:
            body = b""
            try:
                body = exc.read()
            except OSError:
                pass
            raise self._http_error(exc.code, body, method, path) from None
        except urlerror.URLError as exc:
            reason = exc.reason
            raise BackendUnavailable(
                f"the IDE-3D backend at {self.url} is not reachable ({reason}); start it "
                "(IDE-3D panel > Start local backend, or `ide3d serve`) or fix the backend URL") from None
        except (socket.timeout, TimeoutError):
            raise BackendUnavailable(
                f"the IDE-3D backend at {self.url} did not answer {method} {path} within "
                f"{timeout or self.timeout:.0f} s") from None
        except (ConnectionError, OSError) as exc:
            raise BackendUnavailable(f"the IDE-3D backend at {self.url} is not reachable ({exc})") from None

    def _http_error(self, status: int, body: bytes, method: str, path: str) -> BackendError:
        detail = ""
        try:
            payload = json.loads(body.decode("utf-8"))
            d = payload.get("detail") if isinstance(payload, dict) else None
            if isinstance(d, str):
                detail = d
            elif d is not None:  # e.g. FastAPI validation errors: a list of dicts
                detail = "; ".join(
                    (f"{'.'.join(str(x) for x in e.get('loc', []))}: {e.get('msg')}" if isinstance(e, dict) else str(e))
                    for e in (d if isinstance(d, list) else [d]))
        except (ValueError, UnicodeDecodeError, AttributeError):
            detail = body.decode("utf-8", "replace")[:300].strip()
        if status == 401:
            return AuthError(
                f"the backend at {self.url} rejected the token ({detail or 'unauthorised'}); "
                f"copy it from {token_path()} into the add-on preferences or set IDE3D_TOKEN",
                status=status, detail=detail)
        if 400 <= status < 500:
            return BadRequest(detail or f"{method} {path} failed with HTTP {status}", status=status, detail=detail)
        return ServerError(f"backend error (HTTP {status}) on {method} {path}: {detail or 'no detail'}",
                           status=status, detail=detail)

    def _json(self, method: str, path: str, **kw):
        status, ctype, body = self.request(method, path, **kw)
        if status == 204 or not body:
            return None
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ServerError(f"{method} {path}: the backend answered something that is not JSON "
                              f"({ctype or 'no content type'})") from None

    # -- service
    def health(self, timeout: float | None = 5.0) -> dict:
        return self._json("GET", "/health", timeout=timeout, auth=False)

    def info(self) -> dict:
        return self._json("GET", "/info")

    # -- jobs
    def create_session(self, photo: str | os.PathLike, mask: str | os.PathLike | None = None,
                       preset: str = "fast", align: bool = True, name: str | None = None) -> dict:
        """Upload a portrait (and optional mask); answers the inversion Job."""
        photo = str(photo)
        try:
            files = {"photo": (photo, Path(photo).read_bytes(), _guess_type(photo))}
            if mask:
                files["mask"] = (str(mask), Path(mask).read_bytes(), _guess_type(str(mask)))
        except OSError as exc:
            raise BadRequest(f"cannot read {exc.filename}: {exc.strerror}") from None
        fields = {"preset": preset, "align": "true" if align else "false",
                  "name": name or Path(photo).stem}
        body, ctype = encode_multipart(fields, files)
        return self._json("POST", "/sessions", data=body, content_type=ctype, timeout=max(self.timeout, 120))

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/jobs/{parse.quote(job_id)}")

    def cancel_job(self, job_id: str) -> dict:
        return self._json("POST", f"/jobs/{parse.quote(job_id)}/cancel")

    def wait_job(self, job_id: str, *, on_update=None, cancel_event=None, poll: float = 0.25,
                 timeout: float | None = None) -> dict:
        """Poll a job until it ends; returns the done Job.

        ``on_update(job)`` is called after every poll; when ``cancel_event`` is set the job is
        cancelled on the backend and :class:`JobCancelled` raised. Raises :class:`JobFailed`.
        """
        start = time.monotonic()
        cancel_sent = False
        while True:
            job = self.job(job_id)
            if on_update is not None:
                on_update(job)
            state = job.get("state")
            if state == "done":
                return job
            if state in ("failed", "interrupted"):  # interrupted: the backend restarted under it
                raise JobFailed(job.get("error") or job.get("message") or "the job failed", job)
            if state == "cancelled":
                raise JobCancelled("cancelled", job)
            if cancel_event is not None and cancel_event.is_set() and not cancel_sent:
                cancel_sent = True
                try:
                    job = self.cancel_job(job_id)
                except BadRequest:  # finished meanwhile (409)
                    pass
                if job.get("state") == "cancelled":
                    raise JobCancelled("cancelled", job)
            if timeout is not None and time.monotonic() - start > timeout:
                raise JobFailed(f"job {job_id} did not finish within {timeout:.0f} s", job)
            if cancel_event is not None:
                cancel_event.wait(poll) if not cancel_sent else time.sleep(poll)
            else:
                time.sleep(poll)

    # -- sessions
    def sessions(self) -> list:
        return self._json("GET", "/sessions")

    def session(self, session_id: str) -> dict:
        return self._json("GET", f"/sessions/{parse.quote(session_id)}")

    def delete_session(self, session_id: str) -> None:
        self._json("DELETE", f"/sessions/{parse.quote(session_id)}")

    def sample(self, seed: int, truncation: float = 0.7) -> dict:
        return self._json("POST", "/samples", json_body={"seed": int(seed), "truncation": float(truncation)},
                          timeout=max(self.timeout, 120))

    def render(self, session_id: str, yaw: float = 0.0, pitch: float = 0.0, size: int = 256,
               kind: str = "rgb") -> bytes:
        return self.request("GET", f"/sessions/{parse.quote(session_id)}/render",
                            query={"yaw": f"{yaw:.6f}", "pitch": f"{pitch:.6f}", "size": int(size), "kind": kind},
                            timeout=max(self.timeout, 120))[2]

    def canonical(self, session_id: str, kind: str = "mask") -> bytes:
        return self.request("GET", f"/sessions/{parse.quote(session_id)}/canonical", query={"kind": kind},
                            timeout=max(self.timeout, 120))[2]

    def mesh(self, session_id: str, resolution: int = 128, fmt: str = "compact", smooth: int | None = None,
             faces: int | None = None, texture: int | None = None):
        """The compact mesh dict, or the file bytes for glb/obj/ply; `texture` = edge size of
        a baked colour texture (a power of two in 256..4096), None for vertex colours only."""
        query = {"resolution": int(resolution), "format": fmt, "smooth": smooth, "faces": faces,
                 "texture": texture}
        path = f"/sessions/{parse.quote(session_id)}/mesh"
        if fmt == "compact":
            return self._json("GET", path, query=query, timeout=max(self.timeout, 300))
        return self.request("GET", path, query=query, timeout=max(self.timeout, 300))[2]

    def export(self, session_id: str, fmt: str = "glb", resolution: int | None = None,
               texture: int | None = None) -> bytes:
        return self.request("GET", f"/sessions/{parse.quote(session_id)}/export",
                            query={"format": fmt, "resolution": resolution, "texture": texture},
                            timeout=max(self.timeout, 300))[2]

    # -- edits (each answers the new SessionInfo)
    def edit_mask(self, session_id: str, png: bytes, filename: str = "mask.png") -> dict:
        body, ctype = encode_multipart(None, {"mask": (filename, png, "image/png")})
        return self._json("POST", f"/sessions/{parse.quote(session_id)}/edits/mask", data=body,
                          content_type=ctype, timeout=max(self.timeout, 120))

    def edit_mask_live(self, session_id: str, png: bytes, preview_size: int = 128,
                       mesh_resolution: int = 0) -> dict:
        """One stroke of live painting: {"session", "preview_png" (base64), "mesh" (compact or
        None, with mesh_resolution > 0), "seconds"} in one round trip."""
        body, ctype = encode_multipart(None, {"mask": ("mask.png", png, "image/png")})
        return self._json("POST", f"/sessions/{parse.quote(session_id)}/edits/mask/live", data=body,
                          content_type=ctype, query={"preview_size": int(preview_size),
                                                     "mesh_resolution": int(mesh_resolution)},
                          timeout=max(self.timeout, 120))

    def mesh_live(self, session_id: str, resolution: int = 96, restart: bool = False) -> dict:
        """The coarse live mesh (compact) of the session's current state."""
        return self._json("GET", f"/sessions/{parse.quote(session_id)}/mesh/live",
                          query={"resolution": int(resolution), "restart": bool(restart)},
                          timeout=max(self.timeout, 120))

    def edit_region(self, session_id: str, classes: list, seed: int | None = None,
                    source_session: str | None = None) -> dict:
        body = {"classes": list(classes)}
        body.update(_style_source(seed, source_session))
        return self._json("POST", f"/sessions/{parse.quote(session_id)}/edits/region", json_body=body,
                          timeout=max(self.timeout, 120))

    def edit_texture(self, session_id: str, seed: int | None = None, source_session: str | None = None) -> dict:
        return self._json("POST", f"/sessions/{parse.quote(session_id)}/edits/texture",
                          json_body=_style_source(seed, source_session), timeout=max(self.timeout, 120))

    def undo(self, session_id: str) -> dict:
        return self._json("POST", f"/sessions/{parse.quote(session_id)}/edits/undo")

    def redo(self, session_id: str) -> dict:
        return self._json("POST", f"/sessions/{parse.quote(session_id)}/edits/redo")


def _style_source(seed, source_session) -> dict:
    if (seed is None) == (source_session is None):
        raise ValueError("give exactly one of seed or source_session")
    return {"seed": int(seed)} if seed is not None else {"source_session": str(source_session)}


def describe_error(exc: BaseException, action: str = "") -> str:
    """One line a user can act on, for ``Operator.report``."""
    prefix = f"{action}: " if action else ""
    if isinstance(exc, JobCancelled):
        return f"{prefix}cancelled"
    if isinstance(exc, JobFailed):
        return f"{prefix}the backend job failed: {exc}"
    if isinstance(exc, BadRequest):
        return f"{prefix}{exc.detail or exc}"
    if isinstance(exc, BackendError):
        return f"{prefix}{exc}"
    return f"{prefix}{type(exc).__name__}: {exc}"
