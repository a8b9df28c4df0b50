"""Sessions: bit-exact round trip (also in a fresh process), base-model check, damaged
files, undo/redo restoring exact latents, atomic history."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from ide3d_backend import editing as E, session as S
from ide3d_backend.api import build_generator
from ide3d_backend.inversion import changed_tensors

BUILT = {"built": {"preset": "tiny", "seed": 0}}


@pytest.fixture(scope="module")
def G(torch_threads):
    return build_generator("tiny", seed=0, device="cpu").eval()


@pytest.fixture()
def tuned_session(G, tmp_path):
    Gt = build_generator("tiny", seed=0, device="cpu").eval()
    with torch.no_grad():  # a stand-in for pivotal tuning: some weights moved
        for name, p in Gt.named_parameters():
            if name.startswith("superres.rgb") or name.startswith("decoder.texture"):
                p.add_(0.01 * torch.randn_like(p))
    tuned = changed_tensors(G, Gt)
    ws = E.latents_from_seed(G, 7)
    photo = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    mask = np.zeros((128, 128), np.uint8)
    mask[30:100, 30:100] = 1
    s = S.Session.create(tmp_path / "sess", G, ws, 0.25, -0.1, tuned, photo, mask, "user",
                         base_source=BUILT)
    return s, tuned


def test_round_trip_bit_exact(G, tuned_session, tmp_path):
    s, tuned = tuned_session
    E.edit_region(s, "skin,nose", seed=3)
    views = {k: s.render(0.4, 0.1, k) for k in ("rgb", "mask", "depth")}
    views["input"] = s.render()
    s2 = S.Session.open(s.path, G=G)
    assert s2.version == s.version and s2.yaw == 0.25 and s2.pitch == -0.1
    assert torch.equal(s2.ws, s.ws) and len(s2.layers) == 1
    for k in tuned:
        assert torch.equal(s2.G.state_dict()[k], tuned[k])
    for k in ("rgb", "mask", "depth"):
        assert np.array_equal(s2.render(0.4, 0.1, k), views[k])
    assert np.array_equal(s2.render(), views["input"])
    assert s2.render(0.4, 0.1, "rgb", size=64).shape == (64, 64, 3)
    np.save(tmp_path / "expected.npy", views["rgb"])
    # a fresh process rebuilds the base from the session's record and renders the same bits
    code = textwrap.dedent(f"""
        import numpy as np, torch
        torch.set_num_threads({torch.get_num_threads()})
        from ide3d_backend.session import Session
        s = Session.open({str(s.path)!r})
        np.save({str(tmp_path / 'got.npy')!r}, s.render(0.4, 0.1, 'rgb'))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    assert np.array_equal(np.load(tmp_path / "got.npy"), views["rgb"])


def test_refuses_other_base(tuned_session):
    s, _ = tuned_session
    other = build_generator("tiny", seed=1, device="cpu")
    with pytest.raises(S.SessionError, match="another base model"):
        S.Session.open(s.path, G=other)


def test_damaged_sessions(G, tuned_session, tmp_path):
    s, _ = tuned_session
    with pytest.raises(S.SessionError, match="not a session"):
        S.Session.open(tmp_path / "nothing", G=G)
    state_file = s.path / s.meta["history"][s.pointer]["file"]
    data = state_file.read_bytes()
    state_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(S.SessionError, match="damaged"):
        S.Session.open(s.path, G=G)
    state_file.write_bytes(data)
    (s.path / S.TUNED_FILE).write_bytes(b"junk")
    with pytest.raises(S.SessionError, match="damaged"):
        S.Session.open(s.path, G=G)
    (s.path / "session.json").write_text("{not json")
    with pytest.raises(S.SessionError, match="damaged"):
        S.Session.open(s.path, G=G)
    with pytest.raises(S.SessionError, match="already holds a session"):
        S.Session.create(s.path, G, s.ws)


def test_undo_redo_exact(G, tmp_path):
    s = S.sample_session(G, 4, tmp_path / "a", base_source=BUILT)
    ws0 = s.ws.clone()
    v0 = s.version
    E.edit_texture(s, seed=9)
    ws1 = s.ws.clone()
    E.edit_interpolate(s, "shape", 0.5, seed=12)
    ws2 = s.ws.clone()
    assert s.version == v0 + 2 and not torch.equal(ws1, ws2)
    s.undo()
    assert torch.equal(s.ws, ws1) and s.version == v0 + 3 and s.can_redo
    s.undo()
    assert torch.equal(s.ws, ws0) and not s.can_undo
    with pytest.raises(S.SessionError, match="nothing to undo"):
        s.undo()
    s.redo()
    assert torch.equal(s.ws, ws1)
    # reopened: pointer and redo branch persist
    s2 = S.Session.open(s.path, G=G)
    assert torch.equal(s2.ws, ws1) and s2.can_redo
    s2.redo()
    assert torch.equal(s2.ws, ws2)
    # a new edit after undo drops the redo branch (and its file)
    s2.undo()
    dropped = s2.path / s2.meta["history"][-1]["file"]
    E.edit_texture(s2, seed=20)
    assert not s2.can_redo and not dropped.exists()
    assert [h["kind"] for h in s2.info()["history"]] == ["sample", "texture", "texture"]
    info = json.loads((s2.path / "session.json").read_text())
    assert info["version"] == s2.version
    # no temporary files left behind
    assert not list(s2.path.rglob("*.tmp"))


# --- damaged session.json / files (issue 17, items 1-3): a clear SessionError at read -------------
def _edit_json(path, change):
    meta = json.loads((path / "session.json").read_text())
    change(meta)
    (path / "session.json").write_text(json.dumps(meta))


JSON_DAMAGE = {
    "camera missing": lambda m: m.pop("camera"),
    "name 123": lambda m: m.update(name=123),
    "created null": lambda m: m.update(created=None),
    "yaw abc": lambda m: m["camera"].update(yaw="abc"),
    "yaw nan": lambda m: m["camera"].update(yaw=float("nan")),
    "history version x": lambda m: m["history"][0].update(version="x"),
    "history summary missing": lambda m: m["history"][0].pop("summary"),
    "history not a list": lambda m: m.update(history={"a": 1}),
    "base not a dict": lambda m: m.update(base="x"),
    "pointer past the end": lambda m: m.update(pointer=5),
    "json is a list": lambda m: None,
}


@pytest.mark.parametrize("damage", sorted(JSON_DAMAGE))
def test_session_json_with_missing_keys_or_wrong_types_is_a_session_error(G, tuned_session, damage):
    s, _ = tuned_session
    if damage == "json is a list":
        (s.path / "session.json").write_text("[1, 2]")
    else:
        _edit_json(s.path, JSON_DAMAGE[damage])
    with pytest.raises(S.SessionError, match="damaged"):
        S.SessionRecord.read(s.path)
    with pytest.raises(S.SessionError, match="damaged"):
        S.Session.open(s.path, G=G)


FILE_DAMAGE = {
    "tuned deleted": (lambda p, m: (p / S.TUNED_FILE).unlink(), "missing"),
    "state zero bytes": (lambda p, m: (p / m["history"][-1]["file"]).write_bytes(b""), "empty"),
    "state outside": (lambda p, m: _edit_json(p, lambda j: j["history"][-1].update(file="../../etc/passwd")),
                      "outside the session folder"),
    "tuned absolute": (lambda p, m: _edit_json(p, lambda j: j["files"].update(tuned="/etc/passwd")),
                       "outside the session folder"),
    "mask random bytes": (lambda p, m: (p / "mask.png").write_bytes(np.random.default_rng(1).bytes(500)),
                          "mask.png cannot be read"),
}


@pytest.mark.parametrize("damage", sorted(FILE_DAMAGE))
def test_missing_empty_escaping_or_unreadable_files_are_found_at_read(G, tuned_session, damage):
    s, _ = tuned_session
    change, words = FILE_DAMAGE[damage]
    change(s.path, json.loads((s.path / "session.json").read_text()))
    with pytest.raises(S.SessionError, match=words):
        S.SessionRecord.read(s.path)
    with pytest.raises(S.SessionError, match=words):
        S.Session.open(s.path, G=G)


def test_a_mask_damaged_after_open_is_a_session_error_not_an_oserror(G, tuned_session):
    s, _ = tuned_session
    (s.path / "mask.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 50)
    with pytest.raises(S.SessionError, match="mask.png"):
        s.info()
    with pytest.raises(S.SessionError, match="mask.png"):
        s.mask()
