"""The model lock, with priority for interactive requests over long work.

Interactive requests (renders, edits, samples, meshes up to 256³, session opening) take the
lock with `with lock:` and run one at a time on the shared generator, as before.

Long work (inversion, meshes above 256³) runs in workers on their own copies of the models,
so it never holds this lock; on 2 cores it would still take the CPU from the renders. So it
calls `yield_cpu()` between its chunks (an optimisation step, a batch of mesh points): while
interactive requests wait for or hold the lock, the long work pauses there (at most
`MAX_PAUSE_S` at a time, so a steady stream of renders slows it but cannot stop it).
"""
from __future__ import annotations

import threading
import time

MAX_PAUSE_S = 2.0


class ModelLock:
    def __init__(self):
        self._lock = threading.RLock()
        self._cv = threading.Condition()
        self._interactive = 0  # interactive requests waiting for or holding the lock

    def acquire(self) -> bool:
        with self._cv:
            self._interactive += 1
        try:
            return self._lock.acquire()
        except BaseException:
            self._done()
            raise

    def release(self) -> None:
        self._lock.release()
        self._done()

    def _done(self) -> None:
        with self._cv:
            self._interactive -= 1
            if self._interactive == 0:
                self._cv.notify_all()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    @property
    def busy(self) -> bool:
        """Interactive requests are waiting for or holding the lock."""
        return self._interactive > 0

    def yield_cpu(self, max_pause: float = MAX_PAUSE_S) -> float:
        """Long work between two chunks: pause while interactive requests are busy; the seconds paused."""
        if not self._interactive:
            return 0.0
        t0 = time.monotonic()
        with self._cv:
            self._cv.wait_for(lambda: self._interactive == 0, timeout=max_pause)
        return time.monotonic() - t0
