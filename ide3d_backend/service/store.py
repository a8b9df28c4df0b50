"""Sessions in the data dir.

    DATA_DIR/
      sessions/<id>/     finished sessions (ide3d_backend.session layout); <id> is the directory name
      tmp/<id>/          sessions being written by a job or a sample; renamed into sessions/ only
                         when complete, so a crash (kill -9) never leaves a half-written session
                         under sessions/. Emptied at start.
      sessions/.trash-*  sessions being deleted (renamed first, then removed); emptied at start
      .lock              held (flock) by the running server: two servers never share a data dir

A session that fails to load is listed with `damaged: true` and the reason, never crashing
the list; using it answers 409 saying to delete it.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

from ..session import Session, SessionError, SessionRecord, model_fingerprint

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")  # \Z: `$` would accept a trailing newline


class SessionNotFound(LookupError):
    pass


class SessionDamaged(Exception):
    """A session directory that cannot be used; str() says why and what to do."""


class DataDirBusy(RuntimeError):
    pass


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class SessionStore:
    def __init__(self, data_dir, G, cache_size: int = 8, lock_dir: bool = True):
        self.root = Path(data_dir)
        self.sessions_dir = self.root / "sessions"
        self.tmp_dir = self.root / "tmp"
        self.G = G
        self.fingerprint = model_fingerprint(G)
        self.cache_size = max(1, int(cache_size))
        self._open: OrderedDict[str, Session] = OrderedDict()
        self._damaged: dict[str, str] = {}
        self._lock = threading.RLock()
        self._lock_fd = None
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        if lock_dir:
            self._acquire_dir_lock()
        self.cleaned = self._clean()

    # --- housekeeping --------------------------------------------------------------
    def _acquire_dir_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not posix
            return
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DataDirBusy(f"another `ide3d serve` is using the data dir {self.root}; stop it or pass "
                              "another --data-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _clean(self) -> list[str]:
        """Remove what an interrupted run left: tmp/* (half-written sessions) and trash."""
        removed = []
        for p in list(self.tmp_dir.iterdir()) + [p for p in self.sessions_dir.iterdir()
                                                 if p.name.startswith(".")]:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    p.unlink()
                except OSError:
                    pass
            removed.append(p.name)
        return removed

    # --- ids and paths ---------------------------------------------------------------
    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    @staticmethod
    def valid_id(sid: str) -> bool:
        return bool(ID_RE.match(sid or ""))

    def path(self, sid: str) -> Path:
        if not self.valid_id(sid):
            raise SessionNotFound(f"session {str(sid)[:64]!r} does not exist (ids are letters, digits, '-' and '_')")
        return self.sessions_dir / sid

    def tmp_path(self, sid: str) -> Path:
        return self.tmp_dir / sid

    def publish(self, tmp: Path, sid: str) -> Path:
        """Move a completely written session from tmp/ into sessions/ (atomic rename)."""
        final = self.path(sid)
        if not (Path(tmp) / "session.json").is_file():
            raise SessionDamaged(f"{tmp} holds no complete session; nothing published")
        os.rename(tmp, final)
        _fsync_dir(self.sessions_dir)
        return final

    # --- reading -------------------------------------------------------------------------
    def ids(self) -> list[str]:
        out = []
        for p in self.sessions_dir.iterdir():
            if p.name.startswith(".") or not self.valid_id(p.name):
                continue
            if p.is_dir():
                out.append(p.name)
        return out

    def _record(self, sid: str) -> SessionRecord:
        """The session's record (session.json validated), checked to be usable by this
        server: its base model and its current state file. Loads no tensors."""
        path = self.path(sid)
        try:
            record = SessionRecord.read(path)
        except SessionError as exc:
            raise SessionDamaged(str(exc)) from None
        # SessionRecord.read validated session.json's types and checked the files it names
        # (inside the folder, present, not empty; mask.png readable).
        fp = record.fingerprint
        if record.pointer < 0:
            raise SessionDamaged(f"{path / 'session.json'} is damaged (no current state)")
        state = path / record.meta["history"][record.pointer]["file"]
        if fp != self.fingerprint:
            raise SessionDamaged(f"made with another base model (fingerprint {str(fp)[:12]}…, this server runs "
                                 f"{self.fingerprint[:12]}…); serve with the checkpoint it was made with")
        if not state.is_file():
            raise SessionDamaged(f"its current state {state.name} is missing")
        return record

    def _light_info(self, sid: str) -> dict:
        """SessionInfo from session.json and mask.png without loading any tensors."""
        return self._record(sid).info()

    def damaged_info(self, sid: str, reason: str) -> dict:
        path = self.sessions_dir / sid
        try:
            created = path.stat().st_mtime
        except OSError:
            created = 0.0
        return {"id": sid, "name": sid, "created": created, "version": 0, "camera": {"yaw": 0.0, "pitch": 0.0},
                "classes_present": [], "can_undo": False, "can_redo": False, "history": [], "warnings": [],
                "mask_source": None, "damaged": True,
                "error": f"{reason}; delete it (DELETE /sessions/{sid}) or restore the directory"}

    def info(self, sid: str) -> dict:
        """SessionInfo, or the damaged record (never raises for a damaged session)."""
        path = self.path(sid)
        with self._lock:
            s = self._open.get(sid)
            if s is not None:
                with s.lock:
                    return s.info()
            if not path.is_dir():
                raise SessionNotFound(f"session {sid} does not exist")
            if sid in self._damaged:
                return self.damaged_info(sid, self._damaged[sid])
        try:
            return self._light_info(sid)
        except SessionDamaged as exc:
            return self.damaged_info(sid, str(exc))
        except (SessionError, OSError, ValueError) as exc:
            return self.damaged_info(sid, f"cannot be read ({exc})")

    def list(self) -> list[dict]:
        infos = []
        for sid in self.ids():
            try:
                infos.append(self.info(sid))
            except SessionNotFound:  # deleted meanwhile
                continue
        infos.sort(key=lambda i: (i["created"], i["id"]))
        return infos

    def get(self, sid: str) -> Session:
        """The open session (LRU cache); SessionNotFound / SessionDamaged."""
        path = self.path(sid)
        with self._lock:
            s = self._open.get(sid)
            if s is not None:
                self._open.move_to_end(sid)
                return s
            if not path.is_dir():
                raise SessionNotFound(f"session {sid} does not exist")
            try:
                self._record(sid)
                s = Session.open(path, G=self.G, fingerprint=self.fingerprint)
            except SessionDamaged as exc:
                self._damaged[sid] = str(exc)
                raise SessionDamaged(self.damaged_info(sid, str(exc))["error"]) from None
            except (SessionError, ValueError, KeyError, RuntimeError) as exc:
                self._damaged[sid] = f"cannot be opened ({exc})"
                raise SessionDamaged(self.damaged_info(sid, self._damaged[sid])["error"]) from None
            self._damaged.pop(sid, None)
            self._open[sid] = s
            while len(self._open) > self.cache_size:
                self._open.popitem(last=False)
            return s

    def delete(self, sid: str) -> None:
        path = self.path(sid)
        with self._lock:
            if not path.is_dir():
                raise SessionNotFound(f"session {sid} does not exist")
            self._open.pop(sid, None)
            self._damaged.pop(sid, None)
            trash = self.sessions_dir / f".trash-{sid}-{uuid.uuid4().hex[:6]}"
            os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def discard(self, tmp: Path) -> None:
        """Remove a temporary session directory (failed or cancelled job)."""
        if Path(tmp).exists():
            shutil.rmtree(tmp, ignore_errors=True)
