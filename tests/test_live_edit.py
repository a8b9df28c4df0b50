"""Live painting routes (docs/api.md): POST /sessions/{sid}/edits/mask/live (edit + preview
(+ coarse mesh) in one round trip) and GET /sessions/{sid}/mesh/live, in process."""
import base64
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _image(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def app(tmp_path_factory, torch_threads):
    from fastapi.testclient import TestClient

    from ide3d_backend import sources
    from ide3d_backend.service import Settings, create_app
    work = tmp_path_factory.mktemp("live")
    try:  # the shipped (trained) tiny model: a random one has no surface at the rendered level
        G, _ = sources.resolve_generator(None, "cpu")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no shipped generator: {exc}")
    enc = sources.optional_encoders(None, "cpu")
    if enc is None:
        pytest.skip("no shipped encoders")
    settings = Settings(data_dir=work / "data", token="t")
    with TestClient(create_app(settings, generator=G, encoders=enc), headers={"Authorization": "Bearer t"},
                    raise_server_exceptions=False) as tc:
        yield tc


def test_live_stroke_answers_the_edit_preview_and_coarse_mesh(app):
    from ide3d_backend import semantics
    sid = app.post("/samples", json={"seed": 5}).json()["id"]
    ids = semantics.color_to_mask(_image(app.get(f"/sessions/{sid}/canonical", params={"kind": "mask"}).content))
    ids[30:60, 40:90] = 13
    r = app.post(f"/sessions/{sid}/edits/mask/live", params={"preview_size": 96, "mesh_resolution": 64},
                 files={"mask": ("mask.png", _png(ids), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["session"]["version"] == 2 and body["session"]["history"][-1]["kind"] == "mask"
    preview = _image(base64.b64decode(body["preview_png"]))
    # the preview is the new version's canonical view, as the render route gives it
    same = _image(app.get(f"/sessions/{sid}/canonical", params={"size": 96}).content)
    assert preview.shape == (96, 96, 3) and np.array_equal(preview, same)
    m = body["mesh"]
    assert m["version"] == 2 and m["face_count"] > 100
    verts = np.frombuffer(base64.b64decode(m["vertices"]), "<f4").reshape(-1, 3)
    assert len(verts) == m["vertex_count"] and np.isfinite(verts).all()
    assert set(body["seconds"]) == {"edit", "preview", "mesh"}
    # the state did not change: the live mesher keeps every block, a restart (from scratch) agrees
    again = app.get(f"/sessions/{sid}/mesh/live", params={"resolution": 64}).json()
    fresh = app.get(f"/sessions/{sid}/mesh/live", params={"resolution": 64, "restart": True}).json()
    for k in ("vertices", "faces", "labels", "colors"):
        assert again[k] == m[k] == fresh[k]
    # a second stroke: a new version, and the live mesh follows it
    ids[70:90, 20:50] = 1
    r2 = app.post(f"/sessions/{sid}/edits/mask/live", params={"mesh_resolution": 0},
                  files={"mask": ("mask.png", _png(ids), "image/png")})
    assert r2.status_code == 200 and r2.json()["session"]["version"] == 3 and r2.json()["mesh"] is None
    assert app.get(f"/sessions/{sid}/mesh/live", params={"resolution": 64}).json()["version"] == 3


def test_live_stroke_bad_arguments_say_what_to_do(app):
    sid = app.post("/samples", json={"seed": 6}).json()["id"]
    ids = np.ones((128, 128), np.uint8)
    for params, words in (({"mesh_resolution": 10}, "mesh_resolution"), ({"preview_size": 4}, "preview_size")):
        r = app.post(f"/sessions/{sid}/edits/mask/live", params=params,
                     files={"mask": ("mask.png", _png(ids), "image/png")})
        assert r.status_code == 422 and words in r.json()["detail"], r.text
    r = app.post(f"/sessions/{sid}/edits/mask/live", files={"mask": ("m.png", _png(ids[:, :50]), "image/png")})
    assert r.status_code == 422 and "canonical" in r.json()["detail"]


def test_live_strokes_give_the_same_head_as_plain_mask_edits(app):
    """Live strokes reuse the previous stroke's canonical render: the heads must not differ
    from those of the plain edit route fed the same masks."""
    from ide3d_backend import semantics
    live = app.post("/samples", json={"seed": 9}).json()["id"]
    plain = app.post("/samples", json={"seed": 9}).json()["id"]
    ids = semantics.color_to_mask(_image(app.get(f"/sessions/{live}/canonical", params={"kind": "mask"}).content))
    for box, cls in (((20, 50, 30, 100), 13), ((60, 90, 40, 70), 1), ((25, 40, 60, 110), 13)):
        ids[box[0]:box[1], box[2]:box[3]] = cls
        files = {"mask": ("mask.png", _png(ids), "image/png")}
        assert app.post(f"/sessions/{live}/edits/mask/live", files=files).status_code == 200
        assert app.post(f"/sessions/{plain}/edits/mask", files={"mask": ("mask.png", _png(ids), "image/png")}
                        ).status_code == 200
    a = _image(app.get(f"/sessions/{live}/canonical").content)
    b = _image(app.get(f"/sessions/{plain}/canonical").content)
    assert np.array_equal(a, b)


def test_live_state_is_per_app_and_goes_with_the_session(app):
    # The kept canonical render and the live mesher live on the app's backend (not in
    # module globals shared by every app of the process) and a deleted session drops both.
    from ide3d_backend import semantics
    b = app.app.state.backend
    sid = app.post("/samples", json={"seed": 6}).json()["id"]
    ids = semantics.color_to_mask(_image(app.get(f"/sessions/{sid}/canonical", params={"kind": "mask"}).content))
    ids[30:50, 40:80] = 13
    r = app.post(f"/sessions/{sid}/edits/mask/live", params={"mesh_resolution": 64},
                 files={"mask": ("mask.png", _png(ids), "image/png")})
    assert r.status_code == 200, r.text
    version = r.json()["session"]["version"]
    assert b.live_canonical.get((sid, version)) is not None and b.live_meshers.get(sid) is not None
    assert app.delete(f"/sessions/{sid}").status_code == 204
    assert b.live_canonical.get((sid, version)) is None and b.live_meshers.get(sid) is None
