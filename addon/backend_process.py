"""Start, reuse and stop a local ``ide3d serve`` backend as a child process.

``ensure_backend(python, port, data_dir)``:

1. a healthy backend already answers on the port -> reuse it (even one we did not start);
2. a process we started earlier (pid file in the data dir) is alive but unhealthy -> stop it (stale);
3. otherwise start ``<python> -m ide3d_backend.cli serve --port P --data-dir D`` with its output
   in ``<data_dir>/backend.log`` and wait for ``GET /health`` (timeout), failing early with the
   log's tail when the process exits.

A process started here is stopped at interpreter exit (atexit) and by :func:`stop_backend`
(called on add-on unregister). Standard library only.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .client import BackendError, Client

PID_FILE = "backend.pid"
LOG_FILE = "backend.log"
# What a Python without the backend package prints for `-m ide3d_backend.cli`.
MISSING_PACKAGE = "No module named 'ide3d_backend'"


class BackendStartError(BackendError):
    pass


_lock = threading.Lock()
_process: subprocess.Popen | None = None
_process_url: str | None = None
_process_data_dir: str | None = None
_atexit_registered = False
STOP_AT_EXIT = True   # the add-on preference "Stop the backend with Blender"


def _at_exit():
    if STOP_AT_EXIT:
        stop_backend()


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ide3d"


def backend_command(python: str, port: int, data_dir: str | os.PathLike, host: str = "127.0.0.1") -> list[str]:
    cmd = [python or sys.executable, "-m", "ide3d_backend.cli", "serve", "--port", str(int(port)),
           "--data-dir", str(data_dir)]
    if host not in ("127.0.0.1", "localhost"):
        cmd += ["--host", host]
    return cmd


def is_healthy(url: str, timeout: float = 2.0) -> dict | None:
    """The /health answer when a backend answers 'ok' at url, else None."""
    try:
        h = Client(url, timeout=timeout).health(timeout=timeout)
    except BackendError:
        return None
    return h if isinstance(h, dict) and h.get("status") == "ok" else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return "Z" not in line.split(":", 1)[1]
    except OSError:
        pass
    return True


def _looks_like_backend(pid: int) -> bool:
    """Only ever kill a pid from our pid file when it still runs the backend."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return os.name != "posix" or not Path("/proc").exists()
    return b"ide3d_backend" in cmdline and b"serve" in cmdline


def _read_pid_file(data_dir: Path) -> dict | None:
    try:
        return json.loads((data_dir / PID_FILE).read_text())
    except (OSError, ValueError):
        return None


def _terminate(pid: int, timeout: float = 10.0, proc: subprocess.Popen | None = None):
    try:
        if proc is not None:
            proc.terminate()
        else:
            os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, OSError):
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not _pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        if proc is not None:
            proc.kill()
            proc.wait(5)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, OSError, subprocess.TimeoutExpired):
        pass


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def stop_stale(data_dir: str | os.PathLike, url: str) -> bool:
    """Stop a backend we started earlier (pid file) that no longer answers; True if one was stopped."""
    data_dir = Path(data_dir)
    info = _read_pid_file(data_dir)
    if not info:
        return False
    pid = int(info.get("pid", 0))
    stopped = False
    if pid and pid != os.getpid() and _pid_alive(pid) and _looks_like_backend(pid):
        _terminate(pid)
        stopped = True
    try:
        (data_dir / PID_FILE).unlink()
    except OSError:
        pass
    return stopped


def ensure_backend(python: str, port: int = 8765, data_dir: str | os.PathLike | None = None,
                   timeout: float = 120.0, host: str = "127.0.0.1", env: dict | None = None,
                   progress=None) -> tuple[str, str, dict]:
    """Make sure a healthy backend answers on host:port.

    Returns (url, how, health) where how is "reused" or "started". Raises BackendStartError.
    ``progress(text)`` is called with status lines while waiting.
    """
    global _process, _process_url, _process_data_dir, _atexit_registered
    url = f"http://{host}:{int(port)}"
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    say = progress or (lambda text: None)
    with _lock:
        health = is_healthy(url)
        if health:
            return url, "reused", health
        if _process is not None and _process.poll() is None:
            # our child but not answering: maybe still starting; give it the timeout, then replace
            say("waiting for the backend started earlier")
            health = _wait_health(url, _process, min(timeout, 30.0))
            if health:
                return url, "reused", health
            _terminate(_process.pid, proc=_process)
            _process = None
        stop_stale(data_dir, url)
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir / LOG_FILE
        cmd = backend_command(python, port, data_dir, host)
        say("starting " + " ".join(cmd))
        child_env = dict(os.environ if env is None else env)
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        # Blender sets PYTHONHOME/PYTHONPATH for its own Python; the backend's interpreter must not see them.
        if env is None:
            for var in ("PYTHONHOME", "PYTHONPATH"):
                child_env.pop(var, None)
        try:
            log = open(log_path, "ab")
        except OSError as exc:
            raise BackendStartError(f"cannot write the backend log {log_path}: {exc}") from None
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=child_env, cwd=str(data_dir), start_new_session=True)
        except OSError as exc:
            raise BackendStartError(
                f"cannot run the backend Python {cmd[0]!r} ({exc.strerror}); set the Python path "
                "of an environment where the ide3d package is installed in the add-on preferences") from None
        finally:
            log.close()
        _process, _process_url, _process_data_dir = proc, url, str(data_dir)
        try:
            (data_dir / PID_FILE).write_text(json.dumps({"pid": proc.pid, "url": url, "cmd": cmd}))
        except OSError:
            pass
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
        say("waiting for the backend to load its model")
        health = _wait_health(url, proc, timeout)
        if health:
            return url, "started", health
        code = proc.poll()
        tail = _log_tail(log_path)
        if code is None:
            _terminate(proc.pid, proc=proc)
        _process = None
        _forget_pid_file(data_dir, proc.pid)  # no stale pid file after a failed start
        if code is None:
            raise BackendStartError(f"the backend did not answer {url}/health within {timeout:.0f} s; "
                                    f"log {log_path}:\n{tail}")
        if MISSING_PACKAGE in tail:
            raise BackendStartError(f"the backend Python {cmd[0]} has no ide3d package: set Backend Python in the "
                                    "add-on preferences to the environment where ide3d is installed (for example "
                                    f"<checkout>/.venv/bin/python); log {log_path}")
        raise BackendStartError(f"the backend exited with code {code}; log {log_path}:\n{tail}")


def _forget_pid_file(data_dir: Path, pid: int) -> None:
    """Remove the pid file when it names `pid` (a process that is gone)."""
    info = _read_pid_file(data_dir)
    if info and info.get("pid") == pid:
        try:
            (data_dir / PID_FILE).unlink()
        except OSError:
            pass


def _wait_health(url: str, proc: subprocess.Popen, timeout: float) -> dict | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        health = is_healthy(url, timeout=2.0)
        if health:
            return health
        if proc.poll() is not None:
            return is_healthy(url, timeout=2.0)  # e.g. a server that forked; else None
        time.sleep(0.25)
    return None


def running_process() -> subprocess.Popen | None:
    """The backend child process this add-on started, if it is still running."""
    if _process is not None and _process.poll() is None:
        return _process
    return None


def stop_backend(timeout: float = 10.0) -> bool:
    """Stop the backend this add-on started (not one it merely reused). True if one was stopped."""
    global _process
    with _lock:
        proc = _process
        _process = None
        if proc is None or proc.poll() is not None:
            return False
        _terminate(proc.pid, timeout=timeout, proc=proc)
        if _process_data_dir:
            _forget_pid_file(Path(_process_data_dir), proc.pid)
        return True
