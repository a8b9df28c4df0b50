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
