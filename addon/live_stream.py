"""The network side of live painting (docs/addon.md "Live painting"): one worker thread
per painted head sends the latest mask, strokes that arrive while a request is in flight
coalesce (only the newest is sent), and answers queue up for the main thread.

The worker first primes the backend's live mesher (GET .../mesh/live?restart=true).
Per stroke it asks for (1) the edit and its canonical preview
(POST /sessions/{sid}/edits/mask/live), then, unless a newer stroke is already waiting,
(2) the coarse live mesh (GET /sessions/{sid}/mesh/live). Once no stroke came for
``idle_seconds`` it fetches the full mesh (``fetch_full``, the panel's mesh settings).
Standard library only; no bpy (ops_live.py applies the answers on the main thread).
"""
from __future__ import annotations

import base64
import queue
import threading
import time

PREVIEW, MESH, FULL, ERROR = "preview", "mesh", "full", "error"


class LiveStream:
    def __init__(self, client, session_id: str, preview_size: int = 128, coarse_resolution: int = 96,
                 fetch_full=None, idle_seconds: float = 0.6):
        self.client, self.session_id = client, session_id
        self.preview_size, self.coarse_resolution = int(preview_size), int(coarse_resolution)
        self.fetch_full, self.idle_seconds = fetch_full, float(idle_seconds)
        self._cond = threading.Condition()
        self._pending = None          # (png, stroke id): the newest stroke not sent yet
        self._stopped = False
        self._answers: queue.Queue = queue.Queue()
        self._restart_mesher = True   # the first coarse mesh fixes the level at the state painting started from
        self._full_due = False
        self._last_sent = 0.0
        self.requests = 0             # strokes sent (each is one new session version)
        self.sent_strokes: list[int] = []
        self.last_sent_png: bytes | None = None
        self.primed = threading.Event()  # set once the live mesher was started (or that failed)
        self._thread = threading.Thread(target=self._run, name=f"ide3d-live-{session_id}", daemon=True)
        self._thread.start()

    # --- main thread ------------------------------------------------------------------
    def submit(self, png: bytes, stroke: int):
        """The mask after stroke `stroke`; replaces any stroke still waiting (latest wins)."""
        with self._cond:
            self._pending = (png, int(stroke))
            self._cond.notify()

    def answers(self) -> list[dict]:
        """Answers ready for the main thread, oldest first: dicts with `kind` (preview, mesh,
        full, error), `stroke` (the newest stroke they include) and the payload."""
        out = []
        while True:
            try:
                out.append(self._answers.get_nowait())
            except queue.Empty:
                return out

    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None or self._full_due

    def stop(self, timeout: float = 5.0):
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout)

    # --- worker thread ----------------------------------------------------------------
    def _take(self):
        """Wait for a stroke (-> (png, stroke)), the idle moment for the full mesh
        (-> "full"), or the stop (-> None)."""
        with self._cond:
            while True:
                if self._stopped:
                    return None
                if self._pending is not None:
                    item, self._pending = self._pending, None
                    return item
                if self._full_due and self.fetch_full is not None:
                    left = self._last_sent + self.idle_seconds - time.monotonic()
                    if left <= 0:
                        self._full_due = False
                        return "full"
                    self._cond.wait(left)
                else:
                    self._cond.wait()

    def _newer_waiting(self) -> bool:
        with self._cond:
            return self._pending is not None or self._stopped

    def _prime(self):
        """Start the backend's live mesher now (its level, margin and first grid), so the
        first stroke's coarse mesh costs what the others do; the answer is not shown."""
        try:
            if self.coarse_resolution:
                self.client.mesh_live(self.session_id, self.coarse_resolution, True)
                self._restart_mesher = False
        except Exception as exc:  # noqa: BLE001 - the first stroke restarts the mesher instead
            self._answers.put({"kind": ERROR, "stroke": 0, "error": exc})
        finally:
            self.primed.set()

    def _run(self):
        stroke, session = 0, None
        self._prime()
        while True:
            item = self._take()
            if item is None:
                return
            try:
                if item == "full":
                    payload = self.fetch_full()
                    if not self._newer_waiting():  # a stroke that came meanwhile makes it stale
                        self._answers.put({"kind": FULL, "stroke": stroke, "payload": payload, "session": session})
                    continue
                png, stroke = item
                r = self.client.edit_mask_live(self.session_id, png, self.preview_size, 0)
                self.requests += 1
                self.sent_strokes.append(stroke)
                self.last_sent_png = png
                session = r["session"]
                self._answers.put({"kind": PREVIEW, "stroke": stroke, "png": base64.b64decode(r["preview_png"]),
                                   "session": session, "seconds": r.get("seconds", {})})
                with self._cond:
                    self._last_sent, self._full_due = time.monotonic(), True
                if self.coarse_resolution and not self._newer_waiting():
                    payload = self.client.mesh_live(self.session_id, self.coarse_resolution, self._restart_mesher)
                    self._restart_mesher = False
                    self._answers.put({"kind": MESH, "stroke": stroke, "payload": payload, "session": session})
                    with self._cond:
                        self._last_sent = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - reported on the main thread, the stream goes on
                self._answers.put({"kind": ERROR, "stroke": stroke, "error": exc})
