"""Long jobs (inversion): one worker thread per device runs them one at a time, in order.

A job's `fn(job)` reports progress through `job.report(...)`, checks `job.cancel` (the
inversion does every step) and publishes its result inside `with job.finishing():`, which
is atomic with respect to `cancel`: a job cancelled before that point never publishes
(the worker discards its temporary output), one cancelled after it is already done (409).
Cancelling a running job answers `cancelled` at once; the worker stops at its next step.

With a `JobTable` (job_table.py, SQLite in the data dir) every change of state is also
written there, so a job outlives the process: after a restart one that was unfinished reads
`interrupted`, a finished one keeps its result for the table's retention time.
"""
from __future__ import annotations

import errno
import logging
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from contextlib import contextmanager
from typing import Callable

from .job_table import PROGRESS_EVERY_S, JobTable

log = logging.getLogger("ide3d.service")

FINISHED = ("done", "failed", "cancelled", "interrupted")


class Cancelled(Exception):
    pass


class JobConflict(Exception):
    """Cancel of a finished job, or a full queue."""


class Job:
    def __init__(self, kind: str, fn: Callable[["Job"], dict], label: str = ""):
        self.id = uuid.uuid4().hex[:16]
        self.kind = kind
        self.fn = fn
        self.label = label
        self.state = "queued"
        self.progress = 0.0
        self.stage = "queued"
        self.message = "waiting for the worker"
        self.result: dict | None = None
        self.error: str | None = None
        self.created = time.time()
        self.finished_at: float | None = None
        self.cancel = threading.Event()
        self.preview = None  # latest preview image (H, W, 3) uint8
        self.workdir: str | None = None  # where the job writes (removed when it is interrupted)
        self._lock = threading.RLock()
        self._committed = False
        self._on_change: Callable[["Job"], None] | None = None  # the job table's writer
        self._saved_at = 0.0

    @classmethod
    def from_record(cls, rec: dict) -> "Job":
        """A job of an earlier run of the server, as the job table kept it (finished)."""
        job = cls(rec["kind"], None, rec["label"] or "")
        for key in ("id", "state", "progress", "stage", "message", "result", "error", "created", "finished_at",
                    "workdir"):
            setattr(job, key, rec[key])
        return job

    def persist(self, throttle: float = 0.0) -> None:
        """Write the job to the table (at most every `throttle` seconds)."""
        if self._on_change is None or (throttle and time.monotonic() - self._saved_at < throttle):
            return
        self._saved_at = time.monotonic()
        self._on_change(self)

    def report(self, progress: float | None = None, stage: str | None = None, message: str | None = None):
        with self._lock:
            if self.state != "running":
                return
            if progress is not None:
                self.progress = min(1.0, max(self.progress, float(progress)))
            if stage is not None:
                self.stage = stage
            if message is not None:
                self.message = message
        self.persist(throttle=PROGRESS_EVERY_S)

    def check(self):
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    @contextmanager
    def finishing(self):
        """Publish the result inside this block; raises Cancelled when already cancelled."""
        with self._lock:
            if self.cancel.is_set():
                raise Cancelled("cancelled")
            yield
            self._committed = True

    def snapshot(self, position: int | None) -> dict:
        with self._lock:
            return {"id": self.id, "kind": self.kind, "state": self.state, "progress": round(self.progress, 4),
                    "stage": self.stage, "message": self.message,
                    "queue_position": position if self.state == "queued" else None,
                    "result": self.result, "error": self.error, "created": self.created,
                    "preview_available": self.preview is not None}


def describe_exception(exc: BaseException) -> str:
    """One line a user can act on."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full while writing {exc.filename or 'the session'}; free some space and try again"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"permission denied writing {exc.filename or 'the data dir'} ({exc.strerror}); "
                "fix the data dir's permissions or serve with another --data-dir")
    if getattr(exc, "api_detail", None):  # the engine's wording for HTTP clients (names API fields)
        return exc.api_detail
    if isinstance(exc, (ValueError, LookupError)) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class JobManager:
    """A FIFO of jobs and one worker thread (the device's)."""

    def __init__(self, device: str = "cpu", max_queued: int = 16, keep_finished: int = 256,
                 table: JobTable | None = None):
        self.device = device
        self.max_queued = max_queued
        self.keep_finished = keep_finished  # in memory; the table keeps them for its retention time
        self.table = table
        self._stopping = False
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: deque[Job] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self.running: Job | None = None
        self._thread = threading.Thread(target=self._work, name=f"ide3d-worker-{device}", daemon=True)
        self._thread.start()

    # --- API -----------------------------------------------------------------------------
    def submit(self, kind: str, fn: Callable[[Job], dict], label: str = "") -> Job:
        job = Job(kind, fn, label)
        if self.table is not None:
            job._on_change = self.table.save
        with self._cv:
            if len(self._queue) >= self.max_queued:
                raise JobConflict(f"{len(self._queue)} jobs are already queued; wait for some to finish or "
                                  "cancel them")
            self._jobs[job.id] = job
            self._queue.append(job)
            self._prune()
            self._cv.notify_all()
        job.persist()
        return job

    def get(self, job_id: str) -> Job | None:
        """The job (this run's, else the table's record of an earlier run's), or None."""
        with self._cv:
            job = self._jobs.get(job_id)
        if job is None and self.table is not None:
            rec = self.table.load(job_id)
            job = Job.from_record(rec) if rec is not None else None
        return job

    def position(self, job: Job) -> int | None:
        with self._cv:
            try:
                return self._queue.index(job) + 1
            except ValueError:
                return None

    def snapshot(self, job: Job) -> dict:
        return job.snapshot(self.position(job))

    def cancel(self, job_id: str) -> Job | None:
        with self._cv:
            job = self._jobs.get(job_id)
            if job is None:
                old = self.get(job_id)  # an earlier run's: finished by now
                if old is not None:
                    raise JobConflict(f"job {job_id} already ended ({old.state}); nothing to cancel")
                return None
            with job._lock:
                if job.state == "cancelled":
                    return job
                if job.state in ("done", "failed") or job._committed:
                    raise JobConflict(f"job {job_id} already ended ({'done' if job._committed else job.state}); "
                                      "nothing to cancel")
                job.cancel.set()
                if job.state == "queued":
                    try:
                        self._queue.remove(job)
                    except ValueError:
                        pass
                    job.message = "cancelled before it started"
                else:
                    job.message = "cancelled; the worker stops at its next step and keeps nothing"
                job.state = "cancelled"
                job.stage = "cancelled"
                job.finished_at = time.time()
        job.persist()
        return job

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the worker; queued and running jobs end `interrupted` (as after a crash)."""
        with self._cv:
            self._stop = self._stopping = True
            queued = list(self._queue)
            self._queue.clear()
            for job in queued + ([self.running] if self.running else []):
                job.cancel.set()
            self._cv.notify_all()
        for job in queued:
            self._end(job, "interrupted", None, None)
        self._thread.join(timeout)
        # the table stays open: every write is committed at once, and an app whose lifespan
        # ends (tests run several) still answers GET /jobs from it

    # --- worker ------------------------------------------------------------------------------
    def _prune(self):
        finished = [j for j in self._jobs.values() if j.state in FINISHED]
        for j in finished[:max(0, len(finished) - self.keep_finished)]:
            self._jobs.pop(j.id, None)

    def _work(self):
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                job = self._queue.popleft()
                with job._lock:
                    if job.state != "queued":
                        continue
                    job.state, job.stage, job.message = "running", "starting", "started"
                self.running = job
            job.persist()
            try:
                result = job.fn(job)
            except Cancelled:
                self._end(job, "cancelled", None, None)
            except BaseException as exc:  # noqa: BLE001 - a job's failure must never stop the worker
                if job.cancel.is_set() and not job._committed:
                    self._end(job, "cancelled", None, None)
                else:
                    log.error("job %s failed:\n%s", job.id, traceback.format_exc())
                    self._end(job, "failed", None, describe_exception(exc))
            else:
                self._end(job, "done", result, None)
            finally:
                with self._cv:
                    self.running = None

    def _end(self, job: Job, state: str, result: dict | None, error: str | None):
        from .job_table import INTERRUPTED_MESSAGE
        if state == "cancelled" and self._stopping:
            state = "interrupted"  # stopped by the server's shutdown, not by a user
        with job._lock:
            job.fn = None  # drop the closure (photo bytes)
            if job.state == "cancelled" and not job._committed:
                return  # cancel() already answered; nothing was published
            job.state, job.result, job.error = state, result, error
            job.finished_at = time.time()
            if state == "done":
                job.progress, job.stage, job.message = 1.0, "done", "finished"
            elif state == "failed":
                job.stage, job.message = "failed", error or "failed"
            elif state == "interrupted":
                job.stage, job.message = "interrupted", INTERRUPTED_MESSAGE
                job.error = INTERRUPTED_MESSAGE
            else:
                job.stage, job.message = "cancelled", "cancelled"
        job.persist()
