"""Hardening of the service (issue 17), in process with a tiny untrained generator:
error bodies, id checks, upload limits and decoding, the schema's protection, file modes."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

TOKEN = "harden-token"


def png(w: int = 64, h: int = 64, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def app_env(tmp_path_factory, one_torch_thread):
    from fastapi.testclient import TestClient

    from ide3d_backend.api import build_generator
    from ide3d_backend.service import Settings, create_app
    data = tmp_path_factory.mktemp("harden")
    settings = Settings(data_dir=data, checkpoint="build:tiny", token=TOKEN,
                        preset_steps={"fast": (1, 0), "quality": (1, 0)})
    settings.limits.max_upload_bytes = 200_000
    app = create_app(settings, generator=build_generator("tiny", seed=0, device="cpu"))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False) as tc:
        sid = tc.post("/samples", json={"seed": 1}).json()["id"]
        yield {"app": app, "tc": tc, "sid": sid, "data": data}


# --------------------------------------------------------------------------- item 5
def test_500_body_names_no_source_path(app_env, monkeypatch):
    tc, backend = app_env["tc"], app_env["app"].state.backend
    here = os.path.abspath(__file__)

    def broken():
        raise TypeError(f'File "{here}", line 3: unsupported operand')

    monkeypatch.setattr(backend.store, "list", broken)
    r = tc.get("/sessions")
    assert r.status_code == 500
    assert "TypeError" in r.json()["detail"] and ".py" not in r.text and here not in r.text


def test_404_echoes_at_most_64_chars_of_an_id(app_env):
    tc = app_env["tc"]
    long_id = "a" * 70 + "Z" * 500
    for url in (f"/sessions/{long_id}", f"/sessions/{long_id}/render", f"/jobs/{long_id}"):
        r = tc.get(url)
        assert r.status_code == 404, (url, r.text)
        assert "Z" * 2 not in r.text and "a" * 65 not in r.text, r.text


def test_id_pattern_rejects_a_trailing_newline(app_env):
    from ide3d_backend.service.store import SessionStore
    tc, sid = app_env["tc"], app_env["sid"]
    assert SessionStore.valid_id(sid) and not SessionStore.valid_id(sid + "\n")
    assert tc.get(f"/sessions/{sid}").status_code == 200
    assert tc.get(f"/sessions/{sid}%0a").status_code == 404
    assert tc.get(f"/sessions/{sid}%0a/render").status_code == 404


# --------------------------------------------------------------------------- item 9
def _chunks(data: bytes, size: int = 32768):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_chunked_bodies_over_the_limit_answer_413_with_the_limit(app_env):
    tc = app_env["tc"]
    boundary = "harden-boundary"
    photo = os.urandom(400_000)
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.png\"\r\n"
                 f"Content-Type: image/png\r\n\r\n").encode() + photo + f"\r\n--{boundary}--\r\n".encode()
    r = tc.post("/sessions", content=_chunks(multipart),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "200000 bytes" in r.json()["detail"], r.text
    body = b'{"seed": 1, "name": "' + b"x" * 400_000 + b'"}'
    r = tc.post("/samples", content=_chunks(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "200000 bytes" in r.json()["detail"], r.text


# --------------------------------------------------------------------------- item 10
@pytest.mark.parametrize("what", ["truncated png", "truncated jpeg", "1x1 png", "mask truncated"])
def test_damaged_or_tiny_photos_answer_422_at_upload(app_env, what):
    tc, backend = app_env["tc"], app_env["app"].state.backend
    files = {"photo": ("p.png", png(96, 96), "image/png")}
    if what == "truncated png":
        files["photo"] = ("p.png", png(96, 96)[:-400], "image/png")
    elif what == "truncated jpeg":
        files["photo"] = ("p.jpg", png(96, 96, "JPEG")[:-600], "image/jpeg")
    elif what == "1x1 png":
        files["photo"] = ("p.png", png(1, 1), "image/png")
    else:
        mask = io.BytesIO()
        Image.fromarray(np.random.default_rng(1).integers(0, 19, (96, 96), dtype=np.uint8)).save(mask, "PNG")
        files["mask"] = ("m.png", mask.getvalue()[:-300], "image/png")
    queued = len(backend.jobs._jobs)
    r = tc.post("/sessions", files=files, data={"preset": "fast", "align": "false"})
    assert r.status_code == 422, r.text
    assert len(backend.jobs._jobs) == queued  # no job was made


# --------------------------------------------------------------------------- item 11
def test_schema_needs_the_token_and_no_docs_pages_are_served(app_env):
    from fastapi.testclient import TestClient
    anon = TestClient(app_env["app"], raise_server_exceptions=False)  # no `with`: the app keeps running
    assert anon.get("/openapi.json").status_code == 401
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert anon.get(page).status_code in (401, 404), page
    assert anon.get("/health").status_code == 200
    schema = app_env["tc"].get("/openapi.json").json()
    assert "/sessions/{sid}/render" in schema["paths"] and "/openapi.json" not in schema["paths"]


# --------------------------------------------------------------------------- item 16
def test_results_get_the_umask_mode_and_only_the_token_0600(app_env, tmp_path):
    from ide3d_backend.checkpoint import atomic_write_bytes
    from ide3d_backend.service import auth
    old = os.umask(0o027)
    try:
        info = app_env["tc"].post("/samples", json={"seed": 5}).json()
        atomic_write_bytes(tmp_path / "export.glb", lambda tmp: open(tmp, "wb").write(b"glTF"))
        tok_path = auth.load_or_create_token(tmp_path / "cfg" / "token")[1]
    finally:
        os.umask(old)
    files = [p for p in (app_env["data"] / "sessions" / info["id"]).rglob("*") if p.is_file()]
    assert files
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files + [tmp_path / "export.glb"]}
    assert set(modes.values()) == {oct(0o640)}, modes
    assert tok_path.stat().st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------- item 8
def test_job_table_survives_a_kill_unfinished_jobs_read_interrupted(tmp_path):
    import threading

    from ide3d_backend.service.job_table import JobTable
    from ide3d_backend.service.jobs import JobConflict, JobManager
    db = tmp_path / "jobs.sqlite3"
    work = tmp_path / "tmp" / "s1"
    release = threading.Event()

    def slow(job):
        work.mkdir(parents=True)
        job.workdir = str(work)
        job.persist()
        release.wait(30)
        return {"x": 1}

    first = JobManager(table=JobTable(db))
    done = first.submit("invert", lambda job: {"session": {"id": "abc"}}, "quick")
    for _ in range(200):
        if first.get(done.id).state == "done":
            break
        threading.Event().wait(0.02)
    running = first.submit("invert", slow, "slow")
    queued = first.submit("invert", slow, "waiting")
    for _ in range(200):
        if running.state == "running" and work.exists():
            break
        threading.Event().wait(0.02)
    # "kill -9": the first manager never shuts down; a new one opens the same table
    second = JobManager(table=JobTable(db))
    for job_id in (running.id, queued.id):
        again = second.get(job_id)
        assert again.state == "interrupted" and "removed" in again.message, again.snapshot(None)
    assert not work.exists()
    kept = second.get(done.id).snapshot(None)
    assert kept["state"] == "done" and kept["result"] == {"session": {"id": "abc"}}
    with pytest.raises(JobConflict):
        second.cancel(running.id)
    assert second.get("0123456789abcdef") is None
    # finished jobs are forgotten after the stated time
    assert second.table.prune(now=kept["created"] + second.table.keep_finished_s + 3600) == 3
    assert second.get(done.id) is None
    release.set()
    first.shutdown()
    second.shutdown()


def test_restarted_app_answers_interrupted_over_http(tmp_path):
    from fastapi.testclient import TestClient

    from ide3d_backend.api import build_generator
    from ide3d_backend.service import Settings, create_app
    from ide3d_backend.service.job_table import JobTable
    from ide3d_backend.service.jobs import Job
    table = JobTable(tmp_path / "data" / "jobs.sqlite3")
    job = Job("invert", None, "photo")
    job.state = "running"
    table.save(job)
    table.close()
    app = create_app(Settings(data_dir=tmp_path / "data", checkpoint="build:tiny", token=TOKEN),
                     generator=build_generator("tiny", seed=0, device="cpu"))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as tc:
        r = tc.get(f"/jobs/{job.id}")
        assert r.status_code == 200 and r.json()["state"] == "interrupted", r.text
        assert tc.post(f"/jobs/{job.id}/cancel").status_code == 409


# --------------------------------------------------------------------------- item 6
def test_health_answers_while_the_model_lock_is_held_and_the_pool_is_full(app_env):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    tc, backend, sid = app_env["tc"], app_env["app"].state.backend, app_env["sid"]
    held, release = threading.Event(), threading.Event()

    def hold():
        with backend.model_lock:
            held.set()
            release.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        with ThreadPoolExecutor(48) as pool:  # more renders than the server's thread pool (40)
            renders = [pool.submit(tc.get, f"/sessions/{sid}/render", params={"yaw": 0.01 * i, "size": 16})
                       for i in range(48)]
            time.sleep(1.0)
            t0 = time.perf_counter()
            r = tc.get("/health")
            took = time.perf_counter() - t0
            release.set()
            assert all(f.result().status_code == 200 for f in renders)
        assert r.status_code == 200 and took < 0.5, took
    finally:
        release.set()
        holder.join()


def test_renders_are_served_while_a_big_mesh_is_made(app_env, monkeypatch):
    import threading
    import time

    from ide3d_backend.session import Session
    tc, sid = app_env["tc"], app_env["sid"]
    started, release = threading.Event(), threading.Event()
    original = Session.mesh

    def slow_mesh(self, resolution=256, smooth=0, faces=None, level=None):
        started.set()  # a 300³ mesh takes long; here it waits for the renders, then meshes at 64
        release.wait(15)
        return original(self, 64, smooth, faces, level)

    monkeypatch.setattr(Session, "mesh", slow_mesh)
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=tc.get(f"/sessions/{sid}/mesh",
                                                                     params={"resolution": 300})))
    worker.start()
    try:
        assert started.wait(30)
        took = []
        for i in range(3):  # renders of the very session being meshed, and edits
            t0 = time.perf_counter()
            r = tc.get(f"/sessions/{sid}/render", params={"yaw": 0.3 + 0.01 * i, "size": 32})
            took.append(time.perf_counter() - t0)
            assert r.status_code == 200
        assert max(took) < 5.0, took
        assert not result, "the mesh finished early"
    finally:
        release.set()
        worker.join(120)
    monkeypatch.undo()
    assert result["r"].status_code == 200
    same = tc.get(f"/sessions/{sid}/mesh", params={"resolution": 64}).json()  # made under the lock
    assert {k: result["r"].json()[k] for k in ("vertices", "faces", "colors")} == \
        {k: same[k] for k in ("vertices", "faces", "colors")}
