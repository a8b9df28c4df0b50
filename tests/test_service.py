"""`ide3d serve` end to end: the REAL server in a subprocess (tiny untrained generator saved to
a temp checkpoint), driven over HTTP with httpx through the whole flow of docs/api.md:
auth, inversion job with progress, renders, edits, undo/redo, meshes, export, cancel, a
failing job, limits, kill -9 mid-job and a restart that renders byte-identically.
A few in-process tests (TestClient) cover disk-full / permission errors."""
from __future__ import annotations

import base64
import errno
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
from PIL import Image  # noqa: E402
from session_damage import SESSION_DAMAGE, make_sessions  # noqa: E402

TOKEN = "test-token-" + "x" * 20
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def open_png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:100]
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


class Server:
    def __init__(self, workdir: Path, data_dir: Path, checkpoint: Path, encoders: Path):
        self.workdir, self.data_dir, self.checkpoint, self.encoders = workdir, data_dir, checkpoint, encoders
        self.proc = None
        self.url = None
        self.log = None

    def start(self, timeout: float = 180.0):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = self.workdir / f"server-{port}.log"
        env = dict(os.environ, XDG_CONFIG_HOME=str(self.workdir / "config"), OMP_NUM_THREADS="2",
                   PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "ide3d_backend.cli", "serve", "--port", str(port), "--data-dir",
               str(self.data_dir), "--checkpoint", str(self.checkpoint), "--encoders", str(self.encoders),
               "--token", TOKEN, "--threads", "1", "--preset-steps", "fast=2,1"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not answer /health within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_job(c: httpx.Client, job_id: str, timeout: float = 240.0, until=("done", "failed", "cancelled")):
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = c.get(f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job)
        if job["state"] in until:
            return job, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not finished: {seen[-1]}")


def submit(c: httpx.Client, photo: bytes, **form) -> dict:
    data = {"preset": "fast", "align": "false", **form}
    r = c.post("/sessions", files={"photo": ("head.png", photo, "image/png")}, data=data)
    assert r.status_code == 202, r.text
    return r.json()


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def env(tmp_path_factory, torch_threads):
    from ide3d_backend import camera
    from ide3d_backend.api import build_generator, save_generator
    from ide3d_backend.encoding import build_encoders, save_encoders
    from ide3d_backend.synthheads import render_head, sample_head

    work = tmp_path_factory.mktemp("service")
    ckpt, enc = work / "tiny.safetensors", work / "encoders.safetensors"
    save_generator(build_generator("tiny", seed=0, device="cpu"), ckpt)
    save_encoders(build_encoders("tiny", seed=0, device="cpu"), enc)
    photo = png_bytes(render_head(sample_head(3), camera.frontal_label(), 128)["rgb"])
    server = Server(work, work / "data", ckpt, enc).start()
    state = {"work": work, "server": server, "photo": photo, "ckpt": ckpt, "enc": enc}
    yield state
    server.stop()
    if state.get("server2"):
        state["server2"].stop()


@pytest.fixture(scope="module")
def c(env):
    with env["server"].client() as client:
        yield client


@pytest.fixture(scope="module")
def session(env, c):
    """A session inverted from a SynthHeads render over HTTP (fast preset, 2+1 steps)."""
    job = submit(c, env["photo"], name="synth head")
    assert job["state"] in ("queued", "running") and job["kind"] == "invert"
    done, seen = wait_job(c, job["id"])
    assert done["state"] == "done", done
    env["progress_seen"] = seen
    info = done["result"]["session"]
    return info


# --------------------------------------------------------------------------- tests
def test_health_needs_no_token_and_everything_else_does(env, c):
    s = env["server"]
    h = httpx.get(s.url + "/health").json()
    assert h["status"] == "ok" and h["model"]["preset"] == "tiny" and h["model"]["output_resolution"] == 128
    assert h["model"]["device"] == "cpu" and h["version"]
    with s.client(token=None) as anon:
        r = anon.get("/info")
        assert r.status_code == 401 and "token" in r.json()["detail"]
        assert anon.get("/sessions").status_code == 401
        assert anon.post("/samples", json={"seed": 1}).status_code == 401
    with s.client(token="wrong") as bad:
        assert bad.get("/info").status_code == 401
        assert bad.get("/sessions").status_code == 401
    info = c.get("/info").json()
    assert len(info["classes"]) == 19 and info["classes"][13]["name"] == "hair"
    assert info["presets"] == ["fast", "quality"] and info["limits"]["max_mesh_resolution"] == 512
    assert info["capabilities"]["shape_edits"] is True
    assert httpx.get(s.url + "/openapi.json").status_code == 401
    schema = c.get("/openapi.json").json()
    assert "/sessions/{sid}/render" in schema["paths"] and "/jobs/{job_id}/cancel" in schema["paths"]


def test_inversion_job_reports_progress_and_lists_the_session(env, c, session):
    seen = env["progress_seen"]
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert seen[-1]["result"]["session"]["id"] == session["id"]
    assert session["name"] == "synth head" and session["version"] == 1 and not session["can_undo"]
    assert session["history"][0]["kind"] == "invert"
    assert any(j["state"] == "running" for j in seen) or len(seen) <= 2
    ids = [s["id"] for s in c.get("/sessions").json()]
    assert session["id"] in ids
    assert c.get(f"/sessions/{session['id']}").json()["id"] == session["id"]
    pv = c.get(f"/jobs/{seen[-1]['id']}/preview")
    assert pv.status_code == 200 and open_png(pv.content).size == (128, 128)


def test_renders_are_pngs_of_the_requested_size(c, session):
    sid = session["id"]
    modes = {}
    for kind in ("rgb", "mask", "depth"):
        r = c.get(f"/sessions/{sid}/render", params={"yaw": 0.3, "pitch": -0.1, "size": 64, "kind": kind})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
        im = open_png(r.content)
        assert im.size == (64, 64)
        modes[kind] = im.mode
    assert modes == {"rgb": "RGB", "mask": "RGB", "depth": "L"}
    # the mask comes as palette colours
    from ide3d_backend import semantics
    m = np.asarray(open_png(c.get(f"/sessions/{sid}/render", params={"size": 64, "kind": "mask"}).content))
    assert semantics.color_to_mask(m, tolerance=0).shape == (64, 64)
    can = c.get(f"/sessions/{sid}/canonical", params={"kind": "mask"})
    assert open_png(can.content).size == (128, 128)
    assert c.get(f"/sessions/{sid}/render", params={"size": 4096}).status_code == 422
    assert c.get(f"/sessions/{sid}/render", params={"kind": "normals"}).status_code == 422
    assert c.get("/sessions/nope/render").status_code == 404


def test_edits_undo_redo(c, session):
    sid = session["id"]
    v = c.get(f"/sessions/{sid}").json()["version"]
    before = c.get(f"/sessions/{sid}/render", params={"size": 64}).content
    r = c.post(f"/sessions/{sid}/edits/region", json={"classes": ["hair", "skin"], "seed": 7})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["version"] == v + 1 and info["history"][-1]["kind"] == "region" and info["can_undo"]
    r = c.post(f"/sessions/{sid}/edits/texture", json={"seed": 11})
    assert r.status_code == 200 and r.json()["version"] == v + 2
    after = c.get(f"/sessions/{sid}/render", params={"size": 64}).content
    assert after != before
    u = c.post(f"/sessions/{sid}/edits/undo").json()
    assert u["version"] == v + 3 and u["can_redo"] and u["history"][-1]["kind"] == "region"
    rd = c.post(f"/sessions/{sid}/edits/redo").json()
    assert rd["version"] == v + 4 and not rd["can_redo"] and rd["history"][-1]["kind"] == "texture"
    assert c.get(f"/sessions/{sid}/render", params={"size": 64}).content == after
    r = c.post(f"/sessions/{sid}/edits/redo")
    assert r.status_code == 409 and "nothing to redo" in r.json()["detail"]
    # a texture from another session
    r = c.post(f"/sessions/{sid}/edits/texture", json={"source_session": sid})
    assert r.status_code == 200 and r.json()["version"] == v + 5
    # common mistakes answer what to fix
    r = c.post(f"/sessions/{sid}/edits/region", json={"classes": ["hiar"], "seed": 1})
    assert r.status_code == 422 and "valid names" in r.json()["detail"] and "hair" in r.json()["detail"]
    r = c.post(f"/sessions/{sid}/edits/region", json={"classes": ["hair"]})
    assert r.status_code == 422 and "exactly one" in r.json()["detail"]
    r = c.post(f"/sessions/{sid}/edits/texture", json={"source_session": "missing"})
    assert r.status_code == 422 and "does not exist" in r.json()["detail"]
    assert c.post("/sessions/missing/edits/undo").status_code == 404


def test_mask_edit(c, session):
    sid = session["id"]
    v = c.get(f"/sessions/{sid}").json()["version"]
    can = np.array(open_png(c.get(f"/sessions/{sid}/canonical", params={"kind": "mask"}).content))
    from ide3d_backend import semantics
    ids = semantics.color_to_mask(can)
    ids[40:60, 50:80] = 13  # paint hair
    r = c.post(f"/sessions/{sid}/edits/mask", files={"mask": ("mask.png", png_bytes(ids), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == v + 1 and r.json()["history"][-1]["kind"] == "mask"
    bad = c.post(f"/sessions/{sid}/edits/mask", files={"mask": ("m.png", png_bytes(ids[:, :100]), "image/png")})
    assert bad.status_code == 422 and "canonical" in bad.json()["detail"]
    ids[0, 0] = 40
    bad = c.post(f"/sessions/{sid}/edits/mask", files={"mask": ("m.png", png_bytes(ids), "image/png")})
    assert bad.status_code == 422 and "0..18" in bad.json()["detail"]
    bad = c.post(f"/sessions/{sid}/edits/mask", files={"mask": ("m.png", b"not a png", "image/png")})
    assert bad.status_code == 422 and "not an image" in bad.json()["detail"]


def test_mesh_compact_and_exports(c, session):
    sid = session["id"]
    r = c.get(f"/sessions/{sid}/mesh", params={"resolution": 64, "format": "compact"})
    assert r.status_code == 200, r.text
    p = r.json()
    v = np.frombuffer(base64.b64decode(p["vertices"]), "<f4").reshape(-1, 3)
    f = np.frombuffer(base64.b64decode(p["faces"]), "<i4").reshape(-1, 3)
    col = np.frombuffer(base64.b64decode(p["colors"]), np.uint8).reshape(-1, 3)
    lab = np.frombuffer(base64.b64decode(p["labels"]), np.uint8)
    assert len(v) == len(col) == len(lab) == p["vertex_count"] and len(f) == p["face_count"]
    assert p["version"] == c.get(f"/sessions/{sid}").json()["version"] and p["frame"] == "blender"
    if len(f):
        assert f.min() >= 0 and f.max() < len(v) and lab.max() < 19 and np.isfinite(v).all()
    g = c.get(f"/sessions/{sid}/export", params={"format": "glb", "resolution": 64})
    assert g.status_code == 200 and g.headers["content-type"] == "model/gltf-binary"
    magic, version, length = struct.unpack("<III", g.content[:12])
    assert magic == 0x46546C67 and version == 2 and length == len(g.content)
    jlen, jtype = struct.unpack("<II", g.content[12:20])
    assert jtype == 0x4E4F534A and json.loads(g.content[20:20 + jlen])["asset"]["version"] == "2.0"
    o = c.get(f"/sessions/{sid}/export", params={"format": "obj", "resolution": 64})
    names = zipfile.ZipFile(io.BytesIO(o.content)).namelist()
    assert any(n.endswith(".obj") for n in names) and any(n.endswith(".mtl") for n in names)
    ply = c.get(f"/sessions/{sid}/mesh", params={"format": "ply", "resolution": 64})
    assert ply.content.startswith(b"ply\nformat binary_little_endian")
    assert c.get(f"/sessions/{sid}/mesh", params={"resolution": 1024}).status_code == 422
    assert c.get(f"/sessions/{sid}/mesh", params={"resolution": 32}).status_code == 422


def test_textured_mesh_and_exports(c, session, tmp_path):
    from gltf_validator import assert_valid
    sid = session["id"]
    r = c.get(f"/sessions/{sid}/mesh", params={"resolution": 64, "texture": 256})
    assert r.status_code == 200, r.text
    p = r.json()
    uvs = np.frombuffer(base64.b64decode(p["uvs"]), "<f4").reshape(-1, 2)
    assert len(uvs) == p["vertex_count"] and p["texture_size"] == 256
    assert open_png(base64.b64decode(p["texture_png"])).size == (256, 256)
    g = c.get(f"/sessions/{sid}/export", params={"format": "glb", "resolution": 64, "texture": 256})
    assert g.status_code == 200
    (tmp_path / "t.glb").write_bytes(g.content)
    assert_valid(tmp_path / "t.glb")
    o = c.get(f"/sessions/{sid}/export", params={"format": "obj", "resolution": 64, "texture": 256})
    names = zipfile.ZipFile(io.BytesIO(o.content)).namelist()
    assert any(n.endswith(".png") for n in names)
    bad = c.get(f"/sessions/{sid}/export", params={"format": "glb", "resolution": 64, "texture": 300})
    assert bad.status_code == 422 and "power of two" in bad.json()["detail"]
    sample = c.post("/samples", json={"seed": 7}).json()["id"]
    t = c.get(f"/sessions/{sample}/export", params={"format": "glb", "resolution": 64, "texture": 256})
    assert t.status_code == 200 and "no photo" in t.headers["x-ide3d-warnings"]
    assert c.delete(f"/sessions/{sample}").status_code == 204


def test_upload_validation_and_limits(c):
    r = c.post("/sessions", files={"photo": ("x.png", b"definitely not an image", "image/png")})
    assert r.status_code == 422 and "not an image" in r.json()["detail"]
    r = c.post("/sessions", files={"photo": ("x.png", b"", "image/png")})
    assert r.status_code == 422
    r = c.post("/sessions", data={"preset": "fast"})
    assert r.status_code == 422 and "photo" in r.json()["detail"]
    r = c.post("/sessions", files={"photo": ("x.png", png_bytes(np.zeros((96, 96, 3))), "image/png")},
               data={"preset": "slow"})
    assert r.status_code == 422 and "preset" in r.json()["detail"]
    # a mask of the wrong size
    r = c.post("/sessions", files={"photo": ("x.png", png_bytes(np.zeros((96, 96, 3))), "image/png"),
                                   "mask": ("m.png", png_bytes(np.zeros((50, 40))), "image/png")})
    assert r.status_code == 422 and "mask is 40x50" in r.json()["detail"]
    # too large a body: 413 before anything is parsed
    r = c.post("/sessions", files={"photo": ("big.png", b"\0" * (21 * 1024 * 1024), "image/png")})
    assert r.status_code == 413 and "MB" in r.json()["detail"]
    # decompression bomb: 48 MP of zeros compress to a few kB
    buf = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buf, "PNG")
    assert len(buf.getvalue()) < 1 << 20
    r = c.post("/sessions", files={"photo": ("bomb.png", buf.getvalue(), "image/png")})
    assert r.status_code == 413 and "megapixels" in r.json()["detail"]
    assert c.post("/samples", json={"seed": -1}).status_code == 422
    assert c.post("/samples", json={"seed": 1, "truncation": "x"}).status_code == 422
    assert c.get("/jobs/nope").status_code == 404
    assert c.post("/jobs/nope/cancel").status_code == 404
    assert c.get("/sessions/..%2F..%2Fetc").status_code in (404, 422)


def test_samples_and_delete(c):
    r = c.post("/samples", json={"seed": 5, "truncation": 0.5})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["history"][0]["kind"] == "sample" and info["name"] == "seed 5"
    assert info["id"] in [s["id"] for s in c.get("/sessions").json()]
    assert open_png(c.get(f"/sessions/{info['id']}/render", params={"size": 32}).content).size == (32, 32)
    assert c.delete(f"/sessions/{info['id']}").status_code == 204
    assert c.get(f"/sessions/{info['id']}").status_code == 404
    assert c.delete(f"/sessions/{info['id']}").status_code == 404
    assert info["id"] not in [s["id"] for s in c.get("/sessions").json()]


def test_cancel_running_job_leaves_no_session(env, c, session):
    before = {s["id"] for s in c.get("/sessions").json()}
    job = submit(c, env["photo"], preset="quality")
    running, _ = wait_job(c, job["id"], until=("running", "done", "failed", "cancelled"), timeout=120)
    assert running["state"] == "running", running
    t0 = time.monotonic()
    r = c.post(f"/jobs/{job['id']}/cancel")
    assert r.status_code == 200
    state, _ = wait_job(c, job["id"], timeout=5)
    assert state["state"] == "cancelled" and time.monotonic() - t0 < 1.5
    assert c.post(f"/jobs/{job['id']}/cancel").json()["state"] == "cancelled"  # idempotent
    # a queued job behind it runs once the worker has stopped the cancelled one
    nxt = submit(c, env["photo"])
    done, _ = wait_job(c, nxt["id"])
    assert done["state"] == "done"
    assert c.post(f"/jobs/{nxt['id']}/cancel").status_code == 409  # already done
    after = {s["id"] for s in c.get("/sessions").json()}
    assert after - before == {done["result"]["session"]["id"]}
    assert list((env["server"].data_dir / "tmp").iterdir()) == []
    assert c.get(f"/jobs/{job['id']}").json()["state"] == "cancelled"
    c.delete(f"/sessions/{done['result']['session']['id']}")


def test_cancel_queued_job(env, c):
    first = submit(c, env["photo"], preset="quality")
    second = submit(c, env["photo"])
    assert c.get(f"/jobs/{second['id']}").json()["queue_position"] in (1, 2)
    r = c.post(f"/jobs/{second['id']}/cancel").json()
    assert r["state"] == "cancelled" and r["queue_position"] is None
    assert c.post(f"/jobs/{first['id']}/cancel").json()["state"] == "cancelled"


def test_photo_without_a_face_is_refused_at_upload_naming_the_api_field(c):
    before = {s["id"] for s in c.get("/sessions").json()}
    blank = png_bytes(np.full((256, 256, 3), 255, np.uint8))
    r = c.post("/sessions", files={"photo": ("head.png", blank, "image/png")}, data={"align": "true"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "no face" in detail and "align=false" in detail and "--no-align" not in detail
    assert {s["id"] for s in c.get("/sessions").json()} == before


def test_failing_job_reports_its_error_in_the_api_s_words():
    """An error raised inside a job reaches the client with the API wording."""
    from ide3d_backend import preprocess
    from ide3d_backend.service.jobs import describe_exception
    msg = describe_exception(preprocess.NoFaceError())
    assert "no face" in msg and "align=false" in msg and "--no-align" not in msg
    assert "--no-align" in str(preprocess.NoFaceError())  # the CLI keeps its own flag


def test_kill9_mid_job_then_restart_renders_identically(env, c, session):
    server = env["server"]
    sid = session["id"]
    params = {"yaw": 0.25, "pitch": 0.05, "size": 64, "kind": "rgb"}
    want = {k: c.get(f"/sessions/{sid}/render", params={**params, "kind": k}).content for k in ("rgb", "mask")}
    want_info = c.get(f"/sessions/{sid}").json()
    job = submit(c, env["photo"], preset="quality")
    running, _ = wait_job(c, job["id"], until=("running",), timeout=120)
    time.sleep(0.5)
    server.kill9()
    # a damaged session directory next to the good one
    broken = server.data_dir / "sessions" / "broken1"
    broken.mkdir()
    (broken / "session.json").write_text("{not json")
    server2 = Server(server.workdir, server.data_dir, server.checkpoint, server.encoders).start()
    env["server2"] = server2
    assert list((server.data_dir / "tmp").iterdir()) == []
    with server2.client() as c2:
        listed = {s["id"]: s for s in c2.get("/sessions").json()}
        assert listed[sid]["version"] == want_info["version"] and not listed[sid]["damaged"]
        assert listed["broken1"]["damaged"] and "damaged" in listed["broken1"]["error"]
        for k, data in want.items():
            got = c2.get(f"/sessions/{sid}/render", params={**params, "kind": k})
            assert got.status_code == 200 and got.content == data, k
        r = c2.get("/sessions/broken1/render")
        assert r.status_code == 409 and "delete it" in r.json()["detail"]
        old = c2.get(f"/jobs/{job['id']}")  # the job table survives the kill: interrupted, not forgotten
        assert old.status_code == 200 and old.json()["state"] == "interrupted", old.text
        assert "session was removed" in old.json()["message"]
        assert c2.delete("/sessions/broken1").status_code == 204
    assert "removed 1 unfinished session" in server2.log.read_text()


# --------------------------------------------------------------------------- in process
@pytest.fixture(scope="module")
def local(env, tmp_path_factory):
    from fastapi.testclient import TestClient

    from ide3d_backend.api import load_generator
    from ide3d_backend.service import Settings, create_app
    data = tmp_path_factory.mktemp("local-data")
    settings = Settings(data_dir=data, checkpoint=str(env["ckpt"]), encoders=str(env["enc"]), token="t")
    app = create_app(settings, generator=load_generator(env["ckpt"], device="cpu"))
    with TestClient(app, headers={"Authorization": "Bearer t"}, raise_server_exceptions=False) as tc:
        yield tc, data


def test_disk_full_and_permission_errors_are_reported(local, monkeypatch):
    from ide3d_backend.session import record as session_mod
    tc, data = local
    info = tc.post("/samples", json={"seed": 2}).json()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(data / "x.safetensors"))

    monkeypatch.setattr(session_mod, "_write_safetensors", full)
    r = tc.post(f"/sessions/{info['id']}/edits/texture", json={"seed": 3})
    assert r.status_code == 507 and "disk is full" in r.json()["detail"]
    r = tc.post("/samples", json={"seed": 4})
    assert r.status_code == 507
    assert list((data / "tmp").iterdir()) == []

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(data / "sessions"))

    monkeypatch.setattr(session_mod, "_write_safetensors", denied)
    r = tc.post(f"/sessions/{info['id']}/edits/texture", json={"seed": 3})
    assert r.status_code == 500 and "permission denied" in r.json()["detail"]
    monkeypatch.undo()
    # the session is unchanged by the failed edits
    assert tc.get(f"/sessions/{info['id']}").json()["version"] == info["version"]


def test_token_file_created_with_mode_0600(tmp_path):
    from ide3d_backend.service import auth
    p = tmp_path / "cfg" / "ide3d" / "token"
    tok, path, created = auth.load_or_create_token(p)
    assert created and path == p and len(tok) >= 32 and (p.stat().st_mode & 0o777) == 0o600
    assert auth.load_or_create_token(p)[:2] == (tok, p)
    assert auth.token_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/ide3d/token")
    assert auth.token_matches(tok, tok) and not auth.token_matches(tok, tok + "a")
    assert not auth.token_matches(tok, None) and auth.bearer("Bearer abc") == "abc"


def test_remote_binding_needs_allow_remote(tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "ide3d_backend.cli", "serve", "--host", "0.0.0.0", "--data-dir",
                        str(tmp_path / "d"), "--checkpoint", "build:tiny"], env=env, capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 1 and "--allow-remote" in r.stderr


def test_second_server_on_same_data_dir_refuses(env, tmp_path):
    server = env.get("server2") or env["server"]
    envv = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "ide3d_backend.cli", "serve", "--port", str(free_port()), "--data-dir",
                        str(server.data_dir), "--checkpoint", str(server.checkpoint), "--token", "x"],
                       env=envv, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert r.returncode == 1 and "another `ide3d serve`" in r.stderr


# --- damaged sessions in the data dir (issue 17, items 1-3), in-process: never a 500 ----------------
@pytest.fixture(scope="module")
def damaged_app(tmp_path_factory, torch_threads):
    from fastapi.testclient import TestClient

    from ide3d_backend.api import build_generator, save_generator
    from ide3d_backend.service import Settings, create_app

    work = tmp_path_factory.mktemp("damaged")
    ckpt = work / "tiny.safetensors"
    G = build_generator("tiny", seed=0, device="cpu").eval()
    save_generator(G, ckpt)
    make_sessions(work / "data" / "sessions", G, ckpt)
    settings = Settings(data_dir=work / "data", checkpoint=str(ckpt), token="t")
    app = create_app(settings, generator=G)
    with TestClient(app, headers={"Authorization": "Bearer t"}, raise_server_exceptions=False) as tc:
        yield tc


def test_damaged_sessions_are_listed_damaged_with_a_reason_and_answer_409(damaged_app):
    tc = damaged_app
    r = tc.get("/sessions")
    assert r.status_code == 200, r.text
    listed = {i["id"]: i for i in r.json()}
    assert set(listed) == {"good", *SESSION_DAMAGE}
    assert listed["good"]["damaged"] is False
    for sid in SESSION_DAMAGE:
        assert listed[sid]["damaged"] is True and listed[sid]["error"], sid
        one = tc.get(f"/sessions/{sid}")
        assert one.status_code == 200 and one.json()["damaged"] is True, (sid, one.text)
        for method, url in (("GET", f"/sessions/{sid}/render?size=32"), ("GET", f"/sessions/{sid}/mesh?resolution=64"),
                            ("POST", f"/sessions/{sid}/edits/undo")):
            a = tc.request(method, url)
            assert a.status_code == 409, (sid, url, a.status_code, a.text)
    assert "missing" in listed["notuned"]["error"] and "empty" in listed["emptystate"]["error"]
    assert "outside" in listed["escaping"]["error"] and "mask.png" in listed["badmask"]["error"]
    assert tc.get("/sessions/good/render?size=32").status_code == 200


def test_a_mask_damaged_while_the_session_is_open_is_not_a_500(damaged_app):
    tc = damaged_app
    sid = tc.post("/samples", json={"seed": 2}).json()["id"]
    assert tc.post(f"/sessions/{sid}/edits/texture", json={"seed": 3}).status_code == 200
    (Path(tc.app.state.backend.store.path(sid)) / "mask.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 99)
    for method, url in (("GET", "/sessions"), ("GET", f"/sessions/{sid}"), ("GET", f"/sessions/{sid}/render?size=32"),
                        ("GET", f"/sessions/{sid}/mesh?resolution=64"), ("POST", f"/sessions/{sid}/edits/undo")):
        a = tc.request(method, url)
        assert a.status_code in (200, 409), (url, a.status_code, a.text)
