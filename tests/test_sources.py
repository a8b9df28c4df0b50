"""Model sources: one encoding of a generator's source, the untrained fallback, optional
encoders/parser, and the session paths that need no model (record) or no re-hash."""
import pytest
import torch

from ide3d_backend import checkpoint, sources
from ide3d_backend.api import build_generator, save_generator
from ide3d_backend.editing import EditError
from ide3d_backend.session import Session, SessionRecord, sample_session
from ide3d_backend.session import head as head_mod


@pytest.fixture()
def no_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "default_checkpoint", lambda name: tmp_path / "none" / f"{name}.safetensors")


def test_describe_is_the_one_encoding(tmp_path):
    assert sources.describe(None) == {"checkpoint": None, "default": True}
    assert sources.describe("build:tiny:3") == {"built": {"preset": "tiny", "seed": 3}}
    path = tmp_path / "g.safetensors"
    assert sources.describe(str(path)) == {"checkpoint": str(path.resolve())}


def test_resolve_generator_paths(tmp_path, no_defaults, torch_threads):
    G, src = sources.resolve_generator("build:tiny:1", "cpu")
    assert src == {"built": {"preset": "tiny", "seed": 1}} and not G.training
    ref = build_generator("tiny", seed=1, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), ref.state_dict().values()))
    path = tmp_path / "g.safetensors"
    save_generator(ref, path)
    G2, src2 = sources.resolve_generator(str(path), "cpu")
    assert src2 == {"checkpoint": str(path.resolve())}
    assert sources.session_generator(src2, device="cpu").state_dict().keys() == G2.state_dict().keys()
    with pytest.raises(checkpoint.CheckpointError, match="not installed"):
        sources.resolve_generator(None, "cpu")
    G3, src3 = sources.resolve_generator(None, "cpu", untrained_fallback=True)
    assert src3 == sources.UNTRAINED


def test_optional_networks(tmp_path, no_defaults):
    notes = []
    assert sources.optional_encoders(None, "cpu", notes.append) is None
    assert sources.optional_parser(None, "cpu", notes.append) is None
    assert len(notes) == 2 and "trained encoders" in notes[0]
    with pytest.raises(checkpoint.CheckpointError):  # an explicit path must load
        sources.optional_encoders(str(tmp_path / "missing.safetensors"), "cpu")
    with pytest.raises(EditError, match="canonical editor"):
        sources.load_editor(None, "cpu")


def test_record_needs_no_model_and_open_trusts_a_given_fingerprint(tmp_path, monkeypatch, torch_threads):
    G = build_generator("tiny", seed=0, device="cpu").eval()
    s = sample_session(G, 2, tmp_path / "s", base_source={"built": {"preset": "tiny", "seed": 0}})
    info = SessionRecord.read(s.path).info()
    assert info == s.info() and info["history"][0]["kind"] == "sample"

    def no_hash(_):
        raise AssertionError("hashed the generator again")
    monkeypatch.setattr(head_mod, "model_fingerprint", no_hash)
    s2 = Session.open(s.path, G=G, fingerprint=s.meta["base"]["fingerprint"])
    assert torch.equal(s2.ws, s.ws)
