"""Protocol tests of the Blender add-on's HTTP client, job runner and backend launcher (no bpy).

The server here is a tiny in-test fake built on ``http.server`` that implements the
docs/api.md routes the client uses with canned JSON: it checks what the client
sends (token header, multipart fields, JSON bodies, query strings) and answers
what the contract promises. It is NOT the backend: the end-to-end tests in
``tests/test_addon_blender.py`` run the real ``ide3d serve``.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from addon import backend_process, client, jobs, palette, pngio  # noqa: E402

TOKEN = "s3cret-token"
PNG = pngio.encode_png(2, 2, bytes([255, 0, 0] * 4))


def _session(sid="s1", version=1, can_undo=False, can_redo=False):
    return {"id": sid, "name": "portrait", "created": 0.0, "version": version,
            "camera": {"yaw": 0.0, "pitch": 0.0}, "classes_present": [0, 1, 13],
            "can_undo": can_undo, "can_redo": can_redo,
            "history": [{"version": version, "kind": "invert", "summary": "import"}]}


def _mesh_payload():
    verts = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    import struct
    return {"version": 1,
            "vertices": base64.b64encode(struct.pack("<9f", *verts)).decode(),
            "faces": base64.b64encode(struct.pack("<3i", 0, 1, 2)).decode(),
            "colors": base64.b64encode(bytes([204, 0, 0] * 3)).decode(),
            "labels": base64.b64encode(bytes([1, 1, 13])).decode()}


def parse_multipart(body: bytes, ctype: str) -> dict:
    boundary = ctype.split("boundary=", 1)[1].encode()
    parts = {}
    for chunk in body.split(b"--" + boundary):
        chunk = chunk.strip(b"\r\n")
        if not chunk or chunk == b"--":
            continue
        head, _, data = chunk.partition(b"\r\n\r\n")
        disp = [h for h in head.split(b"\r\n") if h.lower().startswith(b"content-disposition")][0].decode()
        name = disp.split('name="', 1)[1].split('"', 1)[0]
        filename = disp.split('filename="', 1)[1].split('"', 1)[0] if "filename=" in disp else None
        parts[name] = {"filename": filename, "data": data}
    return parts


class FakeBackend(BaseHTTPRequestHandler):
    """docs/api.md routes with canned answers; state per server in ``self.server.state``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, payload=None, ctype="application/json", raw: bytes | None = None):
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _route(self, method):
        st = self.server.state
        path, _, query = self.path.partition("?")
        q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        st["requests"].append((method, path, q))
        body = self._body()
        if path == "/health":
            return self._send(200, {"status": "ok", "version": "0.1.0",
                                    "model": {"preset": "tiny", "device": "cpu", "output_resolution": 128}})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"detail": "missing or wrong token"})
        if path == "/info":
            return self._send(200, {"classes": [{"id": i, "name": n, "color": list(palette.PALETTE[i])}
                                                for i, n in enumerate(palette.CLASS_NAMES)],
                                    "regions": {}, "presets": ["fast", "quality"], "limits": {}})
        if path == "/sessions" and method == "POST":
            parts = parse_multipart(body, self.headers["Content-Type"])
            st["upload"] = parts
            if "photo" not in parts:
                return self._send(422, {"detail": "photo is required"})
            if parts["photo"]["data"] == b"no face":
                st["jobs"]["j1"] = {"fail": True, "polls": 0}
            else:
                st["jobs"]["j1"] = {"fail": False, "polls": 0}
            return self._send(202, self._job("j1", "queued", 0.0))
        if path.startswith("/jobs/"):
            jid = path.split("/")[2]
            j = st["jobs"].get(jid)
            if j is None:
                return self._send(404, {"detail": f"unknown job {jid}"})
            if path.endswith("/cancel"):
                j["cancelled"] = True
                return self._send(200, self._job(jid, "cancelled", j.get("progress", 0.0)))
            if j.get("cancelled"):
                return self._send(200, self._job(jid, "cancelled", 0.0))
            j["polls"] += 1
            if j["fail"] and j["polls"] >= 2:
                return self._send(200, dict(self._job(jid, "failed", 0.1), error="no face found in the photo"))
            if j["polls"] >= st.get("polls_to_finish", 3):
                return self._send(200, dict(self._job(jid, "done", 1.0), result={"session": _session()}))
            j["progress"] = j["polls"] / 4
            return self._send(200, self._job(jid, "running", j["progress"], stage="tuning"))
        if path == "/samples":
            data = json.loads(body)
            return self._send(200, _session(f"seed{data['seed']}"))
        parts = path.strip("/").split("/")
        if parts[0] == "sessions" and len(parts) >= 2:
            sid = parts[1]
            if sid not in ("s1", "seed3"):
                return self._send(404, {"detail": f"unknown session {sid}; import the portrait again"})
            tail = "/".join(parts[2:])
            if tail == "" and method == "GET":
                return self._send(200, _session(sid, st["version"], st["version"] > 1))
            if tail == "" and method == "DELETE":
                return self._send(204)
            if tail == "mesh":
                st["mesh_query"] = q
                if q.get("format") == "compact":
                    return self._send(200, _mesh_payload())
                return self._send(200, raw=b"glTF....", ctype="model/gltf-binary")
            if tail in ("render", "canonical"):
                return self._send(200, raw=PNG, ctype="image/png")
            if tail == "export":
                return self._send(200, raw=b"glTF....", ctype="model/gltf-binary")
            if tail == "edits/mask":
                parts_ = parse_multipart(body, self.headers["Content-Type"])
                st["mask_upload"] = parts_["mask"]["data"]
                st["version"] += 1
                return self._send(200, _session(sid, st["version"], True))
            if tail in ("edits/region", "edits/texture"):
                data = json.loads(body)
                st["edit_body"] = data
                if "classes" in data and not data["classes"] and tail == "edits/region":
                    return self._send(422, {"detail": [{"loc": ["body", "classes"], "msg": "must not be empty"}]})
                st["version"] += 1
                return self._send(200, _session(sid, st["version"], True))
            if tail == "edits/undo":
                if st["version"] <= 1:
                    return self._send(409, {"detail": "nothing to undo"})
                st["version"] -= 1
                return self._send(200, _session(sid, st["version"], st["version"] > 1, True))
            if tail == "edits/redo":
                return self._send(409, {"detail": "nothing to redo"})
        if path == "/boom":
            return self._send(500, {"detail": "internal error"})
        return self._send(404, {"detail": "no such route"})

    @staticmethod
    def _job(jid, state, progress, stage="queued"):
        return {"id": jid, "kind": "invert", "state": state, "progress": progress, "stage": stage,
                "message": "", "queue_position": 1 if state == "queued" else None, "result": None, "error": None}

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeBackend)
    srv.state = {"requests": [], "jobs": {}, "version": 1}
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def api(server):
    return client.Client(server.url, TOKEN, timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- client


def test_palette_matches_backend_table():
    from ide3d_backend import semantics
    assert palette.CLASS_NAMES == semantics.CLASS_NAMES
    assert [tuple(c) for c in palette.PALETTE] == [tuple(int(v) for v in c) for c in semantics.PALETTE]
    assert {k: tuple(v) for k, v in palette.REGIONS.items()} == {k: tuple(v) for k, v in semantics.REGIONS.items()}
    assert len(palette.CLASS_LABELS) == palette.NUM_CLASSES == 19


def test_snap_to_palette():
    rgb = bytes([200, 3, 2, 0, 0, 0, 0, 0, 150, 250, 250, 5])
    snapped, ids = palette.snap_rgb_bytes(rgb)
    assert list(ids) == [1, 0, 12, 11]
    assert bytes(snapped) == bytes([204, 0, 0, 0, 0, 0, 0, 0, 153, 255, 255, 0])


def test_png_roundtrip():
    data = bytes(range(256)) * 3
    png = pngio.encode_png(16, 16, data, 3)
    assert pngio.png_size(png) == (16, 16)
    assert pngio.decode_png(png) == (16, 16, 3, data)


def test_png_decode_filtered_png_from_pillow(tmp_path):
    from PIL import Image
    import numpy as np
    arr = (np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(30, 40, 3)
    Image.fromarray(arr).save(tmp_path / "a.png", optimize=True)
    w, h, c, px = pngio.decode_png((tmp_path / "a.png").read_bytes())
    assert (w, h, c) == (40, 30, 3) and px == arr.tobytes()


def test_health_needs_no_token_and_info_sends_it(server):
    anon = client.Client(server.url, "", timeout=5)
    assert anon.health()["model"]["device"] == "cpu"
    with pytest.raises(client.AuthError) as err:
        anon.info()
    assert err.value.status == 401 and "token" in str(err.value)
    api = client.Client(server.url, TOKEN, timeout=5)
    assert len(api.info()["classes"]) == 19


def test_backend_unavailable_is_typed():
    c = client.Client(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2)
    with pytest.raises(client.BackendUnavailable) as err:
        c.health()
    assert "not reachable" in str(err.value) and "Start local backend" in str(err.value)
    assert "Start local backend" in client.describe_error(err.value)


def test_bad_request_carries_detail(api, server):
    with pytest.raises(client.BadRequest) as err:
        api.session("nope")
    assert err.value.status == 404 and "unknown session nope" in err.value.detail
    with pytest.raises(client.BadRequest) as err:
        api.redo("s1")
    assert err.value.status == 409 and err.value.detail == "nothing to redo"
    with pytest.raises(client.BadRequest) as err:   # FastAPI-style validation list
        api.edit_region("s1", [], seed=1)
    assert "classes" in err.value.detail and "must not be empty" in err.value.detail
    with pytest.raises(client.ServerError) as err:
        api._json("GET", "/boom")
    assert err.value.status == 500


def test_import_multipart_and_job_polling(api, server, tmp_path):
    photo = tmp_path / "me.png"
    photo.write_bytes(PNG)
    mask = tmp_path / "mask.png"
    mask.write_bytes(PNG[::-1])
    job = api.create_session(photo, mask, preset="quality", align=False, name="me")
    up = server.state["upload"]
    assert up["photo"]["data"] == PNG and up["photo"]["filename"] == "me.png"
    assert up["mask"]["data"] == PNG[::-1]
    assert up["preset"]["data"] == b"quality" and up["align"]["data"] == b"false" and up["name"]["data"] == b"me"
    seen = []
    done = api.wait_job(job["id"], on_update=lambda j: seen.append((j["state"], j["progress"])), poll=0.01)
    assert done["result"]["session"]["id"] == "s1"
    assert [s for s, _ in seen] == ["running", "running", "done"]
    assert seen[0][1] < seen[1][1] < seen[2][1]


def test_failed_job_raises_job_failed(api, server, tmp_path):
    photo = tmp_path / "cat.png"
    photo.write_bytes(b"no face")
    job = api.create_session(photo)
    with pytest.raises(client.JobFailed) as err:
        api.wait_job(job["id"], poll=0.01)
    assert "no face found" in str(err.value)
    assert "no face found" in client.describe_error(err.value, "Import portrait")


def test_cancel_job(api, server, tmp_path):
    photo = tmp_path / "me.png"
    photo.write_bytes(PNG)
    server.state["polls_to_finish"] = 10_000
    job = api.create_session(photo)
    ev = threading.Event()
    ev.set()
    with pytest.raises(client.JobCancelled):
        api.wait_job(job["id"], cancel_event=ev, poll=0.01)
    assert ("POST", "/jobs/j1/cancel", {}) in server.state["requests"]


def test_missing_photo_is_bad_request(api, tmp_path):
    with pytest.raises(client.BadRequest) as err:
        api.create_session(tmp_path / "missing.png")
    assert "missing.png" in str(err.value)


def test_session_routes(api, server):
    assert api.sample(3)["id"] == "seed3"
    mesh = api.mesh("s1", resolution=96, smooth=3)
    assert set(mesh) >= {"vertices", "faces", "colors", "labels"}
    assert server.state["mesh_query"] == {"resolution": "96", "format": "compact", "smooth": "3"}
    assert api.mesh("s1", fmt="glb").startswith(b"glTF")
    assert api.render("s1", yaw=0.3, pitch=-0.1, size=64, kind="mask") == PNG
    method, path, q = server.state["requests"][-1]
    assert path == "/sessions/s1/render" and q["kind"] == "mask" and float(q["yaw"]) == pytest.approx(0.3)
    assert api.canonical("s1") == PNG
    assert api.export("s1", "glb").startswith(b"glTF")
    assert api.delete_session("s1") is None


def test_edits_and_history(api, server):
    info = api.edit_mask("s1", PNG)
    assert server.state["mask_upload"] == PNG and info["version"] == 2
    info = api.edit_region("s1", ["hair", 11], seed=5)
    assert server.state["edit_body"] == {"classes": ["hair", 11], "seed": 5} and info["version"] == 3
    api.edit_texture("s1", source_session="seed3")
    assert server.state["edit_body"] == {"source_session": "seed3"}
    with pytest.raises(ValueError):
        api.edit_texture("s1")
    info = api.undo("s1")
    assert info["version"] == 3 and info["can_redo"]


def test_resolve_settings_env_and_token_file(tmp_path):
    (tmp_path / "ide3d").mkdir()
    (tmp_path / "ide3d" / "token").write_text("from-file\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert client.token_path(env) == tmp_path / "ide3d" / "token"
    assert client.resolve_settings("http://127.0.0.1:9000/", "", env) == ("http://127.0.0.1:9000", "from-file")
    assert client.resolve_settings("http://10.1.2.3:9000", "", env) == ("http://10.1.2.3:9000", "")  # remote: no file
    env.update(IDE3D_BACKEND_URL="http://localhost:1234", IDE3D_TOKEN="env-token")
    assert client.resolve_settings("http://127.0.0.1:9000", "pref-token", env) == ("http://localhost:1234", "env-token")


def test_compact_mesh_decoding():
    pytest.importorskip("numpy")
    from addon import mesh_io
    data = mesh_io.decode_compact(_mesh_payload())
    assert data["vertices"].shape == (3, 3) and data["faces"].tolist() == [[0, 1, 2]]
    assert data["labels"].tolist() == [1, 1, 13] and data["colors"][0].tolist() == [204, 0, 0]
    bad = dict(_mesh_payload(), labels=base64.b64encode(bytes([1])).decode())
    with pytest.raises(mesh_io.MeshPayloadError):
        mesh_io.decode_compact(bad)
    again = mesh_io.decode_compact(mesh_io.encode_compact(data["vertices"], data["faces"], data["colors"],
                                                           data["labels"]))
    assert again["labels"].tolist() == [1, 1, 13]


# --------------------------------------------------------------------------- jobs


def test_runner_applies_results_on_drain_only():
    runner = jobs.TaskRunner()
    applied = []
    gate = threading.Event()

    def work(task):
        task.update(0.5, "halfway")
        gate.wait(5)
        return 42

    task = runner.submit("work", work, on_done=applied.append)
    time.sleep(0.05)
    assert task.snapshot()["stage"] == "halfway" and task.progress == 0.5 and runner.busy()
    gate.set()
    deadline = time.time() + 5
    while task.state != jobs.DONE and time.time() < deadline:
        time.sleep(0.01)
    assert task.state == jobs.DONE and applied == []   # nothing runs before the main thread drains
    assert runner.drain() == 1 and applied == [42] and not runner.busy()


def test_runner_errors_cancel_and_sync():
    runner = jobs.TaskRunner()
    errors = []

    def boom(task):
        raise client.BadRequest("nothing to undo", status=409)

    t = runner.submit("undo", boom, on_error=errors.append)
    assert runner.wait(t, timeout=5)
    assert t.state == jobs.FAILED and t.error_text == "nothing to undo" and isinstance(errors[0], client.BadRequest)

    def slow(task):
        for _ in range(500):
            task.check_cancel()
            time.sleep(0.01)

    t = runner.submit("slow", slow)
    t.cancel()
    assert runner.wait(t, timeout=5) and t.state == jobs.CANCELLED

    def bad_apply(result):
        raise RuntimeError("object vanished")

    t = runner.run_sync("sync", lambda task: 1, on_done=bad_apply)  # apply errors fail the task
    assert t.applied.is_set() and t.state == jobs.FAILED and "object vanished" in t.error_text
    t = runner.run_sync("sync", lambda task: 7)
    assert t.state == jobs.DONE and t.result == 7


def test_runner_drives_backend_job(server, tmp_path):
    """The add-on's import flow without Blender: upload, poll into the task, cancel."""
    api = client.Client(server.url, TOKEN, timeout=5)
    photo = tmp_path / "me.png"
    photo.write_bytes(PNG)
    runner = jobs.TaskRunner()
    stages = []

    def work(task):
        job = api.create_session(photo)
        task.update_from_job(job)
        stages.append(task.stage)
        job = api.wait_job(job["id"], on_update=task.update_from_job, cancel_event=task.cancel_event, poll=0.01)
        return job["result"]["session"]

    t = runner.submit("import", work)
    assert runner.wait(t, timeout=10) and t.result["id"] == "s1" and t.progress == 1.0
    assert stages == ["queued (position 1)"]
    server.state["polls_to_finish"] = 10_000
    t = runner.submit("import", work)
    time.sleep(0.1)
    t.cancel()
    assert runner.wait(t, timeout=10) and t.state == jobs.CANCELLED


# --------------------------------------------------------------------------- backend process

FAKE_CLI = textwrap.dedent('''
    """A stand-in for `ide3d serve`: answers /health; --fail exits at once."""
    import argparse, json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    def main():
        ap = argparse.ArgumentParser()
        ap.add_argument("command")
        ap.add_argument("--port", type=int)
        ap.add_argument("--data-dir")
        a = ap.parse_args()
        if open(a.data_dir + "/mode").read().strip() == "fail":
            print("model checkpoint missing", file=sys.stderr)
            sys.exit(3)

        class H(BaseHTTPRequestHandler):
            def log_message(self, *x):
                pass

            def do_GET(self):
                body = json.dumps({"status": "ok", "version": "fake",
                                   "model": {"preset": "fake", "device": "cpu", "output_resolution": 64}}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        HTTPServer(("127.0.0.1", a.port), H).serve_forever()

    if __name__ == "__main__":
        main()
''')


@pytest.fixture()
def fake_backend_env(tmp_path):
    pkg = tmp_path / "pkgs" / "ide3d_backend"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text(FAKE_CLI)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "pkgs"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "mode").write_text("ok")
    yield env, data
    backend_process.stop_backend()


def test_backend_process_start_reuse_stop(fake_backend_env):
    env, data = fake_backend_env
    port = free_port()
    url, how, health = backend_process.ensure_backend(sys.executable, port, data, timeout=30, env=env)
    assert how == "started" and health["version"] == "fake" and url == f"http://127.0.0.1:{port}"
    proc = backend_process.running_process()
    assert proc is not None and json.loads((data / "backend.pid").read_text())["pid"] == proc.pid
    url2, how2, _ = backend_process.ensure_backend(sys.executable, port, data, timeout=30, env=env)
    assert (url2, how2) == (url, "reused") and backend_process.running_process() is proc
    assert backend_process.stop_backend() and proc.poll() is not None
    assert backend_process.is_healthy(url, timeout=1) is None
    assert not (data / "backend.pid").exists()


def test_backend_process_replaces_stale_one(fake_backend_env):
    env, data = fake_backend_env
    # a stale backend from an earlier Blender session: alive, recorded in the pid file, not answering
    stale = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ide3d_backend", "serve"])
    for _ in range(100):  # until exec() replaced the forked command line
        if backend_process._looks_like_backend(stale.pid):
            break
        time.sleep(0.05)
    (data / "backend.pid").write_text(json.dumps({"pid": stale.pid, "url": "x"}))
    try:
        port = free_port()
        _, how, _ = backend_process.ensure_backend(sys.executable, port, data, timeout=30, env=env)
        assert how == "started"
        assert stale.wait(10) is not None   # terminated
    finally:
        if stale.poll() is None:
            stale.kill()


def test_backend_process_reports_crash_with_log(fake_backend_env):
    env, data = fake_backend_env
    (data / "mode").write_text("fail")
    with pytest.raises(backend_process.BackendStartError) as err:
        backend_process.ensure_backend(sys.executable, free_port(), data, timeout=30, env=env)
    assert "exited with code 3" in str(err.value) and "model checkpoint missing" in str(err.value)


def test_backend_process_bad_python(tmp_path):
    with pytest.raises(backend_process.BackendStartError) as err:
        backend_process.ensure_backend(str(tmp_path / "no-python"), free_port(), tmp_path, timeout=5)
    assert "Python" in str(err.value)


def test_addon_modules_import_without_bpy():
    """client/jobs/backend_process/palette/pngio must stay free of bpy, numpy and torch at import."""
    code = ("import sys; sys.path.insert(0, %r); import addon, addon.client, addon.jobs, addon.backend_process, "
            "addon.palette, addon.pngio, addon.mesh_io; bad = {'bpy', 'numpy', 'torch'} & set(sys.modules); "
            "print(sorted(bad)); sys.exit(1 if bad else 0)") % str(ROOT)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_backend_python_without_the_package_says_what_to_set(tmp_path):
    """A Python lacking ide3d_backend (Blender's own): a hint to set Backend Python, no stale pid file."""
    python = tmp_path / "python_without_site"   # like Blender's Python: no site-packages, no ide3d
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    with pytest.raises(backend_process.BackendStartError) as err:
        backend_process.ensure_backend(str(python), free_port(), tmp_path / "data", timeout=30, env=env)
    assert "set Backend Python in the add-on preferences" in str(err.value), str(err.value)
    assert not (tmp_path / "data" / backend_process.PID_FILE).exists()


def test_backend_obj_export_is_written_under_the_name_the_user_gave(tmp_path):
    """The backend's OBJ zip (named after the session) becomes the user's file + .mtl + texture beside it."""
    import io
    import zipfile

    from addon import backend_files
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("astronaut.obj", "# ide3d\nmtllib astronaut.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl head\nf 1 2 3\n")
        zf.writestr("astronaut.mtl", "newmtl head\nmap_Kd astronaut_albedo.png\n")
        zf.writestr("astronaut_albedo.png", PNG)
    out = backend_files.write_backend_export(buf.getvalue(), tmp_path / "head_backend.obj", "obj")
    assert out == tmp_path / "head_backend.obj"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astronaut_albedo.png", "head_backend.mtl",
                                                          "head_backend.obj"]
    obj = out.read_text()
    assert "mtllib head_backend.mtl\n" in obj and "f 1 2 3" in obj
    assert (tmp_path / "head_backend.mtl").read_text().startswith("newmtl head")
    glb = backend_files.write_backend_export(b"glTF....", tmp_path / "h.glb", "glb")
    assert glb.read_bytes() == b"glTF...."
