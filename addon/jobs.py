"""Background work for the add-on: worker threads + a main-thread result queue.

Blender's data (bpy) may only be touched on the main thread, and network calls
must not freeze the UI. So a :class:`Task` runs ``work(task)`` on a worker thread
(HTTP only; it may report progress with ``task.update`` and should check
``task.cancel_requested``) and, when it ends, its ``on_done(result)`` /
``on_error(exc)`` callback is queued. The main thread applies queued callbacks
with :meth:`TaskRunner.drain` - called by a ``bpy.app.timers`` function in the
UI, by a modal operator, or directly by tests (timers never fire under the bpy
module). In background mode :meth:`TaskRunner.run_sync` does everything inline.

Standard library only; no bpy.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
import traceback

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"
FINISHED_STATES = (DONE, FAILED, CANCELLED)


class Cancelled(Exception):
    """Raised by work functions (see :meth:`Task.check_cancel`) to stop early."""


class Task:
    """State of one unit of background work, read by the UI (progress bar, stage, cancel)."""

    _ids = itertools.count(1)

    def __init__(self, label: str, work, on_done=None, on_error=None, key: str | None = None):
        self.id = next(self._ids)
        self.label = label
        self.key = key
        self.work = work
        self.on_done = on_done
        self.on_error = on_error
        self.state = PENDING
        self.progress = 0.0
        self.stage = "waiting"
        self.message = ""
        self.result = None
        self.error: BaseException | None = None
        self.error_text = ""
        self.traceback = ""
        self.applied = threading.Event()   # set once the main-thread callback ran
        self.cancel_event = threading.Event()
        self.started = time.monotonic()
        self.ended: float | None = None
        self._lock = threading.Lock()

    # -- called from the worker
    def update(self, progress: float | None = None, stage: str | None = None, message: str | None = None):
        with self._lock:
            if progress is not None:
                self.progress = min(1.0, max(0.0, float(progress)))
            if stage is not None:
                self.stage = stage
            if message is not None:
                self.message = message

    def update_from_job(self, job: dict):
        """Copy a backend Job's progress/stage/message (see docs/api.md)."""
        stage = job.get("stage") or job.get("state") or ""
        pos = job.get("queue_position")
        if job.get("state") == "queued" and pos:
            stage = f"queued (position {pos})"
        self.update(job.get("progress"), stage, job.get("message"))

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancel(self):
        if self.cancel_event.is_set():
            raise Cancelled()

    # -- called from anywhere
    def cancel(self):
        self.cancel_event.set()
        with self._lock:
            if self.state in (PENDING, RUNNING):
                self.stage = "cancelling"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def active(self) -> bool:
        return not self.applied.is_set()

    def snapshot(self) -> dict:
        with self._lock:
            return {"id": self.id, "label": self.label, "state": self.state, "progress": self.progress,
                    "stage": self.stage, "message": self.message, "error": self.error_text}

    def __repr__(self):
        return f"<Task {self.id} {self.label!r} {self.state} {self.progress:.0%} {self.stage!r}>"


def _is_cancel(exc: BaseException) -> bool:
    return isinstance(exc, Cancelled) or type(exc).__name__ == "JobCancelled"


class TaskRunner:
    """Starts tasks on daemon worker threads and applies their results on the main thread."""

    def __init__(self, keep_finished: int = 20):
        self._results: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self.tasks: list[Task] = []
        self.keep_finished = keep_finished
        self.listeners: list = []   # called (task) on the main thread after each applied task

    # -- starting
    def submit(self, label: str, work, on_done=None, on_error=None, key: str | None = None) -> Task:
        """Run ``work(task)`` on a worker thread; callbacks later run in :meth:`drain`."""
        task = Task(label, work, on_done, on_error, key)
        self._add(task)
        thread = threading.Thread(target=self._run_worker, args=(task,), name=f"ide3d-{task.id}", daemon=True)
        task.state = RUNNING
        thread.start()
        return task

    def run_sync(self, label: str, work, on_done=None, on_error=None, key: str | None = None) -> Task:
        """Run work and its callback now, in this thread (background mode, scripts, tests)."""
        task = Task(label, work, on_done, on_error, key)
        self._add(task)
        task.state = RUNNING
        self._execute(task)
        self._apply(task)
        return task

    def _add(self, task: Task):
        with self._lock:
            self.tasks.append(task)
            done = [t for t in self.tasks if t.applied.is_set()]
            for t in done[:-self.keep_finished] if len(done) > self.keep_finished else []:
                self.tasks.remove(t)

    def _execute(self, task: Task):
        try:
            task.result = task.work(task)
            task.state = DONE
            task.update(1.0, "done")
        except BaseException as exc:  # noqa: BLE001 - reported to the user, never swallowed silently
            task.error = exc
            if _is_cancel(exc):
                task.state = CANCELLED
                task.stage = "cancelled"
            else:
                task.state = FAILED
                task.error_text = str(exc) or type(exc).__name__
                task.stage = "failed"
                task.traceback = traceback.format_exc()
        finally:
            task.ended = time.monotonic()

    def _run_worker(self, task: Task):
        self._execute(task)
        self._results.put(task)

    # -- main thread
    def _apply(self, task: Task):
        try:
            if task.state == DONE and task.on_done is not None:
                task.on_done(task.result)
            elif task.state in (FAILED, CANCELLED) and task.on_error is not None:
                task.on_error(task.error)
        except Exception as exc:  # noqa: BLE001 - applying failed: the task failed
            task.error = exc
            task.state = FAILED
            task.stage = "failed"
            task.error_text = f"{type(exc).__name__}: {exc}"
            task.traceback = traceback.format_exc()
        finally:
            task.applied.set()
            for listener in list(self.listeners):
                try:
                    listener(task)
                except Exception:  # noqa: BLE001
                    traceback.print_exc()

    def drain(self, max_items: int | None = None) -> int:
        """Apply finished tasks' callbacks (main thread only). Returns how many ran."""
        n = 0
        while max_items is None or n < max_items:
            try:
                task = self._results.get_nowait()
            except queue.Empty:
                break
            self._apply(task)
            n += 1
        return n

    def wait(self, task: Task, timeout: float | None = None, poll: float = 0.02) -> bool:
        """Block (draining) until ``task`` was applied; for scripts and tests."""
        end = None if timeout is None else time.monotonic() + timeout
        while not task.applied.is_set():
            self.drain()
            if task.applied.is_set():
                break
            if end is not None and time.monotonic() > end:
                return False
            time.sleep(poll)
        return True

    # -- queries
    def active_tasks(self) -> list[Task]:
        with self._lock:
            return [t for t in self.tasks if not t.applied.is_set()]

    def busy(self) -> bool:
        return bool(self.active_tasks())

    def find(self, key: str) -> Task | None:
        for t in self.active_tasks():
            if t.key == key:
                return t
        return None

    def latest(self) -> Task | None:
        with self._lock:
            return self.tasks[-1] if self.tasks else None

    def cancel_all(self):
        for t in self.active_tasks():
            t.cancel()


RUNNER = TaskRunner()
