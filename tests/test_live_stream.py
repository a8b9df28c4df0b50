"""The add-on's live-painting stream (addon/live_stream.py, no bpy) against a fake client:
strokes that arrive while a request is in flight coalesce, the coarse mesh is skipped when
a newer stroke waits, the full mesh comes once after the idle delay."""
from __future__ import annotations

import base64
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from addon import live_stream  # noqa: E402


class SlowClient:
    """Answers a stroke after `delay` seconds; the first request waits for `gate`."""

    def __init__(self, delay=0.05):
        self.delay, self.version = delay, 1
        self.strokes, self.meshes = [], []
        self.gate = threading.Event()

    def edit_mask_live(self, sid, png, preview_size, mesh_resolution):
        self.gate.wait(5)
        time.sleep(self.delay)
        self.strokes.append(png)
        self.version += 1
        return {"session": {"id": sid, "version": self.version},
                "preview_png": base64.b64encode(b"preview " + png).decode(), "seconds": {}}

    def mesh_live(self, sid, resolution, restart):
        self.meshes.append((self.version, restart))
        return {"version": self.version}


def _wait(cond, limit=5.0):
    end = time.monotonic() + limit
    while time.monotonic() < end and not cond():
        time.sleep(0.005)
    return cond()


def test_strokes_in_flight_coalesce_latest_wins():
    c = SlowClient()
    full = []
    st = live_stream.LiveStream(c, "s", fetch_full=lambda: full.append(c.version) or {"version": c.version},
                                idle_seconds=0.2)
    try:
        st.submit(b"m1", 1)
        assert _wait(lambda: not st.busy() or st._pending is None)  # the worker took stroke 1 (held at the gate)
        for k in range(2, 7):  # five strokes while stroke 1 is in flight
            st.submit(f"m{k}".encode(), k)
        c.gate.set()
        assert _wait(lambda: len(full) == 1, 5)
        assert c.strokes == [b"m1", b"m6"]  # two requests: the first and the latest
        assert st.requests == 2 and st.sent_strokes == [1, 6] and st.last_sent_png == b"m6"
        answers = st.answers()
        kinds = [(a["kind"], a["stroke"]) for a in answers]
        # stroke 1's coarse mesh was skipped (a newer stroke waited); stroke 6 got preview, mesh, full
        assert kinds == [("preview", 1), ("preview", 6), ("mesh", 6), ("full", 6)]
        assert answers[1]["png"] == b"preview m6"
        assert c.meshes == [(1, True), (3, False)]  # the stream primed the live mesher at the start
        time.sleep(0.3)
        assert len(full) == 1  # one full mesh per pause, not one per idle period
    finally:
        st.stop()


def test_a_stroke_during_the_full_mesh_makes_it_stale():
    c = SlowClient(delay=0.0)
    c.gate.set()
    started, release = threading.Event(), threading.Event()

    def fetch_full():
        started.set()
        release.wait(5)
        return {"version": c.version}

    st = live_stream.LiveStream(c, "s", fetch_full=fetch_full, idle_seconds=0.05)
    try:
        st.submit(b"a", 1)
        assert started.wait(5)
        st.submit(b"b", 2)  # painting again while the full mesh is being made
        release.set()
        got = []
        assert _wait(lambda: got.extend(st.answers()) or any(a["kind"] == "full" for a in got))
        assert c.strokes == [b"a", b"b"]
        # the full mesh begun after stroke 1 was dropped; the one after stroke 2 arrived
        assert [a["stroke"] for a in got if a["kind"] == "full"] == [2]
    finally:
        st.stop()
