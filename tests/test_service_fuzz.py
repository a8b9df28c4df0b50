"""Property-based fuzzing of the service from its own OpenAPI schema: every operation gets
generated requests (schemathesis when installed, else hypothesis-generated query/path/JSON
values from the schema); none may answer 5xx. Path ids are random, a real session's, or one
of the damaged sessions in the data dir (tests/session_damage.py: broken session.json,
unreadable mask, missing or empty state files, paths escaping the folder), so the session
routes are exercised beyond 404. Bounded: ~1 minute."""
from __future__ import annotations

import os
import re

import pytest

pytest.importorskip("fastapi")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from session_damage import make_sessions  # noqa: E402

TOKEN = "fuzz-token"
EXAMPLES = int(os.environ.get("IDE3D_FUZZ_EXAMPLES", "12"))
HEAVY_QUERY_CAPS = {"resolution": 80, "size": 256, "faces": 20000, "smooth": 3}


@pytest.fixture(scope="module")
def app_and_session(tmp_path_factory, torch_threads):
    from fastapi.testclient import TestClient

    from ide3d_backend.api import build_generator, save_generator
    from ide3d_backend.encoding import build_encoders
    from ide3d_backend.service import Settings, create_app

    work = tmp_path_factory.mktemp("fuzz")
    ckpt = work / "tiny.safetensors"
    G = build_generator("tiny", seed=0, device="cpu").eval()
    save_generator(G, ckpt)
    damaged = make_sessions(work / "data" / "sessions", G, ckpt)
    settings = Settings(data_dir=work / "data", checkpoint=str(ckpt), token=TOKEN,
                       preset_steps={"fast": (1, 0), "quality": (1, 0)})
    app = create_app(settings, generator=G, encoders=build_encoders("tiny", seed=0, device="cpu").eval())
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False) as tc:
        sid = tc.post("/samples", json={"seed": 1}).json()["id"]
        listed = {s["id"]: s for s in tc.get("/sessions").json()}
        assert all(listed[d]["damaged"] for d in damaged) and not listed[sid]["damaged"]
        yield app, tc, sid, damaged


def _cap_query(query: dict | None) -> dict | None:
    """Keep meshes/renders of the real session small (the fuzz is about inputs, not speed)."""
    if not query:
        return query
    out = dict(query)
    for k, cap in HEAVY_QUERY_CAPS.items():
        v = out.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > cap:
            out[k] = cap
    return out


def _operations(schema_json: dict):
    for path, methods in schema_json["paths"].items():
        for method, op in methods.items():
            yield path, method.upper(), op


# --------------------------------------------------------------------------- schemathesis
def _schemathesis():
    try:
        import schemathesis
        return schemathesis
    except ImportError:
        return None


@pytest.mark.skipif(_schemathesis() is None, reason="schemathesis is not installed (the hypothesis fallback runs)")
def test_fuzz_with_schemathesis(app_and_session):
    import schemathesis
    app, tc, sid, damaged = app_and_session
    targets = [None, sid, *damaged]  # None: the generated id
    damaged_codes = []  # answers to requests on damaged sessions
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Authorization": f"Bearer {TOKEN}"})
    failures = []
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 18
    modes = list(schemathesis.GenerationMode)  # positive (valid by the schema) and negative
    for op, mode in [(op, mode) for op in ops for mode in modes]:
        destructive = op.method.upper() == "DELETE"
        try:
            strategy = op.as_strategy(generation_mode=mode)
        except TypeError:  # an older schemathesis without generation modes
            strategy = op.as_strategy()

        @settings(max_examples=EXAMPLES if mode.name == "POSITIVE" else EXAMPLES // 2, deadline=None,
                  database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=strategy, target=st.sampled_from(targets))
        def run(case, target):
            if target and not destructive and case.path_parameters and "sid" in case.path_parameters:
                case.path_parameters = {**case.path_parameters, "sid": target}
            case.query = _cap_query(case.query)
            headers = dict(case.headers or {})
            headers["Authorization"] = f"Bearer {TOKEN}"
            case.headers = headers
            resp = tc.request(**_request_kwargs(case))
            if target in damaged and not destructive and "sid" in (case.path_parameters or {}):
                damaged_codes.append(resp.status_code)
            if resp.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} query={case.query} body={str(case.body)[:200]} "
                                f"-> {resp.status_code} {resp.text[:300]}")
            assert resp.status_code < 500, failures[-1]

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            assert mode.name == "NEGATIVE"  # nothing to make invalid (e.g. no parameters)
    assert not failures
    assert damaged_codes.count(409) >= 10, sorted(set(damaged_codes))  # the damage was really reached
    # the real session is still usable after the fuzzing, the damaged ones still answer 409
    assert tc.get(f"/sessions/{sid}/render", params={"size": 32}).status_code == 200
    for d in damaged:
        assert tc.get(f"/sessions/{d}/render", params={"size": 32}).status_code == 409, d
    # and a damaged session can be deleted
    assert tc.delete(f"/sessions/{damaged[0]}").status_code < 300
    assert tc.get(f"/sessions/{damaged[0]}").status_code == 404


def _request_kwargs(case) -> dict:
    """httpx request arguments of a schemathesis case (multipart, JSON or nothing)."""
    kw = {"method": case.method, "url": case.formatted_path, "params": case.query or None,
          "headers": case.headers}
    media = getattr(case, "media_type", None) or ""
    body = case.body
    if body is None or type(body).__name__ == "NotSet":
        return kw
    if "multipart" in media and isinstance(body, dict):
        files, data = {}, {}
        for k, v in body.items():
            if isinstance(v, (bytes, bytearray)):
                files[k] = (k + ".png", bytes(v), "application/octet-stream")
            elif isinstance(v, str) and k in ("photo", "mask"):
                files[k] = (k + ".png", v.encode("utf-8", "surrogatepass"), "application/octet-stream")
            elif isinstance(v, (list, dict)):
                data[k] = str(v)
            else:
                data[k] = v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
        kw["files"] = files or None
        kw["data"] = data or None
        if not files:  # force a multipart body even without files
            kw["files"] = {"_": ("_", b"", "application/octet-stream")}
        return kw
    if isinstance(body, (bytes, bytearray)):
        kw["content"] = bytes(body)
        kw["headers"] = {**(kw["headers"] or {}), "Content-Type": media or "application/octet-stream"}
        return kw
    try:
        import json
        json.dumps(body)
        kw["json"] = body
    except (TypeError, ValueError):
        kw["content"] = repr(body).encode()
        kw["headers"] = {**(kw["headers"] or {}), "Content-Type": media or "application/json"}
    return kw


# --------------------------------------------------------------------------- hypothesis fallback
def _value(schema: dict):
    """A hypothesis strategy for a (simple) JSON schema, including out-of-range values."""
    if "anyOf" in schema:
        return st.one_of(*[_value(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.text(max_size=8))
    t = schema.get("type")
    if t == "integer":
        return st.integers(min_value=-(2**40), max_value=2**40)
    if t == "number":
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32), st.integers(-10, 10))
    if t == "boolean":
        return st.booleans()
    if t == "array":
        return st.lists(st.one_of(st.integers(-5, 30), st.text(max_size=12)), max_size=4)
    if t == "null":
        return st.none()
    return st.text(max_size=16)


def test_fuzz_with_hypothesis(app_and_session):
    """Schema-driven requests without schemathesis: query, path and JSON bodies."""
    app, tc, sid, damaged = app_and_session
    spec = tc.get("/openapi.json").json()
    ops = list(_operations(spec))
    assert len(ops) >= 18

    @st.composite
    def request(draw):
        path, method, op = draw(st.sampled_from(ops))
        params, url = {}, path
        for p in op.get("parameters", []):
            v = draw(_value(p.get("schema", {})))
            if p["in"] == "path":
                known = draw(st.sampled_from([None, sid, *damaged])) if method != "DELETE" else None
                v = known or draw(st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True))
                url = url.replace("{" + p["name"] + "}", str(v))
            elif p["in"] == "query" and draw(st.booleans()):
                params[p["name"]] = v
        kw = {"method": method, "url": url, "params": _cap_query(params)}
        body = op.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            kw["json"] = draw(st.one_of(
                st.fixed_dictionaries({}, optional={"seed": st.integers(-5, 2**33), "truncation": st.floats(-1, 3),
                                                    "classes": st.lists(st.one_of(st.integers(-3, 25),
                                                                                  st.sampled_from(["hair", "lips",
                                                                                                   "bogus", ""])),
                                                                        max_size=3),
                                                    "source_session": st.sampled_from([sid, "nope", ""])}),
                st.none(), st.integers(), st.text(max_size=5)))
        elif "multipart/form-data" in body:
            blob = draw(st.one_of(st.binary(max_size=64), st.just(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)))
            names = list(body["multipart/form-data"].get("schema", {}).get("properties", {})) or ["photo"]
            kw["files"] = {draw(st.sampled_from(names)): ("f.png", blob, "image/png")}
            kw["data"] = {"preset": draw(st.sampled_from(["fast", "quality", "x"])),
                          "align": draw(st.sampled_from(["true", "false", "maybe"]))}
        return kw

    seen = []

    @settings(max_examples=EXAMPLES * 8, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(kw=request())
    def run(kw):
        if kw.get("files") is None:
            kw.pop("files", None)
        r = tc.request(**kw)
        seen.append((kw["method"], re.sub(r"[0-9a-f]{12}", "<sid>", kw["url"]), r.status_code))
        assert r.status_code < 500, f"{kw} -> {r.status_code} {r.text[:300]}"

    run()
    assert any(code == 200 for _, _, code in seen)
