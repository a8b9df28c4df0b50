"""Live painting in real Blender against the real backend on loopback: bench/live_edit.py
(the add-on installed and driven in a bpy child, the backend started by the add-on's
launcher) with a few strokes and a burst. Checks behaviour, never timings."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy")
pytestmark = [pytest.mark.blender, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def test_live_painting_follows_strokes_and_coalesces_a_burst(tmp_path):
    out = tmp_path / "live.json"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "live_edit.py"), "--strokes", "3", "--coalesce", "5",
                           "--out", str(out)], capture_output=True, text=True, timeout=600, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0 and out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    f = json.loads(out.read_text())
    assert f["errors"] == []
    s = f["strokes"]
    # every stroke was answered with a preview and a coarse mesh, each one new session version
    assert s["preview"]["n"] == s["mesh"]["n"] == 3 and s["requests"] == 3 and s["versions_added"] == 3
    assert s["full_mesh_after_last_stroke_ms"] is not None  # the full mesh came once painting stopped
    c = f["coalescing"]
    # five strokes painted while the first was in flight: one or two requests, the last one
    # carrying the last stroke's mask; every stroke's preview shown; the head at the last version
    assert c["strokes"] == 5 and c["settled"]
    assert 1 <= c["requests"] <= 2 and c["versions_added"] == c["requests"]
    assert c["last_request_is_last_stroke"] and c["last_sent_stroke"] == c["last_stroke"]
    assert c["previews_cover_every_stroke"] and c["object_version_is_session_version"]
    assert f["vertices_in_scene"] > 100
