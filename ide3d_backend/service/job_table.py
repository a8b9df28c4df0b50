"""The job table in SQLite (standard library): `<data dir>/jobs.sqlite3`.

Jobs run in memory (jobs.py), and every change of state is written here, so a restarted
server still answers `GET /jobs/{id}`:

* a job that was queued or running when the server stopped (kill -9, crash, power loss)
  reads `interrupted` after the restart; its unfinished session (the job's directory in
  tmp/) is removed (the store empties tmp/ at start too; this is the job's own record of it);
* a finished job (done, failed, cancelled, interrupted) keeps its result for
  `KEEP_FINISHED_S` (7 days) after it ended, then it is forgotten (404).

Progress is written at most every `PROGRESS_EVERY_S` so a fast job does not write per step.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

KEEP_FINISHED_S = 7 * 24 * 3600
PROGRESS_EVERY_S = 1.0
UNFINISHED = ("queued", "running")
INTERRUPTED_MESSAGE = ("interrupted: the server stopped before the job finished; its unfinished session was "
                       "removed. Submit the photo again")

_COLUMNS = ("id", "kind", "label", "state", "progress", "stage", "message", "result", "error", "created",
            "finished_at", "workdir")


class JobTable:
    def __init__(self, path: str | Path, keep_finished_s: float = KEEP_FINISHED_S):
        self.path = Path(path)
        self.keep_finished_s = float(keep_finished_s)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, kind TEXT, label TEXT, state TEXT, "
                         "progress REAL, stage TEXT, message TEXT, result TEXT, error TEXT, created REAL, "
                         "finished_at REAL, workdir TEXT)")
        self.interrupted = self._recover()
        self.prune()

    # --- start ---------------------------------------------------------------------------
    def _recover(self) -> list[str]:
        """Mark what a stopped server left unfinished `interrupted`; remove its work dirs."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(f"SELECT id, workdir FROM jobs WHERE state IN {UNFINISHED}").fetchall()
            for job_id, workdir in rows:
                if workdir:
                    shutil.rmtree(workdir, ignore_errors=True)
                self._db.execute("UPDATE jobs SET state='interrupted', stage='interrupted', message=?, "
                                 "error=?, finished_at=? WHERE id=?",
                                 (INTERRUPTED_MESSAGE, INTERRUPTED_MESSAGE, now, job_id))
        return [r[0] for r in rows]

    def prune(self, now: float | None = None) -> int:
        """Forget finished jobs older than the retention time; the number forgotten."""
        cutoff = (time.time() if now is None else now) - self.keep_finished_s
        with self._lock:
            cur = self._db.execute(f"DELETE FROM jobs WHERE state NOT IN {UNFINISHED} AND finished_at < ?",
                                   (cutoff,))
        return cur.rowcount

    # --- rows ----------------------------------------------------------------------------
    def save(self, job) -> None:
        """Write the job's current state (insert or replace)."""
        with job._lock:
            row = (job.id, job.kind, job.label, job.state, float(job.progress), job.stage, job.message,
                   json.dumps(job.result) if job.result is not None else None, job.error, job.created,
                   job.finished_at, getattr(job, "workdir", None))
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_COLUMNS))})", row)

    def load(self, job_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            return None
        rec = dict(zip(_COLUMNS, row))
        rec["result"] = json.loads(rec["result"]) if rec["result"] else None
        return rec

    def close(self) -> None:
        with self._lock:
            self._db.close()
