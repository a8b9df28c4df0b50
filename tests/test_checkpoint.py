import json
import os

import pytest
import torch

from ide3d_backend import build_generator, camera as C, load_generator, save_generator
from ide3d_backend.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, select_device


def test_round_trip_renders_identically(tmp_path):
    G = build_generator("tiny", seed=5, device="cpu").eval()
    with torch.no_grad():
        G.mapping.w_avg.normal_()  # buffers must travel too
    path = tmp_path / "g.safetensors"
    save_generator(G, path, extra={"step": 7})
    H = load_generator(path, device="cpu")
    assert H.cfg == G.cfg
    for k, v in G.state_dict().items():
        assert torch.equal(v, H.state_dict()[k]), k
    z, c = torch.randn(1, G.z_dim), C.label_tensor()
    with torch.no_grad():
        assert torch.equal(G(z, c)["image"], H(z, c)["image"])
    _, meta = load_checkpoint(path)
    assert meta["extra"] == {"step": 7} and meta["kind"] == "generator"


def test_file_is_safetensors_not_pickle(tmp_path):
    path = tmp_path / "g.safetensors"
    save_generator(build_generator("tiny", device="cpu"), path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert "__metadata__" in header and json.loads(header["__metadata__"]["config"])["preset"] == "tiny"
    assert b"\x80\x04" not in raw[:16]  # no pickle protocol marker at the start


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "g.safetensors"
    save_generator(build_generator("tiny", device="cpu"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged|truncated"):
        load_generator(path, device="cpu")


def test_garbage_file_is_reported(tmp_path):
    path = tmp_path / "g.safetensors"
    path.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match="not a safetensors"):
        load_generator(path)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "nope.safetensors")


def test_mismatched_weights_are_named(tmp_path):
    G = build_generator("tiny", device="cpu")
    state = G.state_dict()
    state["decoder.semantic.out.weight"] = torch.zeros(3, 3)
    del state["mapping.w_avg"]
    state["extra.thing"] = torch.zeros(1)
    path = tmp_path / "g.safetensors"
    save_checkpoint(path, state, "generator", G.cfg.to_dict())
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    msg = str(err.value)
    assert "mapping.w_avg" in msg and "extra.thing" in msg and "decoder.semantic.out.weight" in msg


def test_wrong_kind_is_reported(tmp_path):
    path = tmp_path / "e.safetensors"
    save_checkpoint(path, {"a": torch.zeros(1)}, "encoder", {})
    with pytest.raises(CheckpointError, match="expected 'generator'"):
        load_generator(path)


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "g.safetensors"
    save_checkpoint(path, {"a": torch.ones(2)}, "x", {})
    before = path.read_bytes()
    import ide3d_backend.checkpoint as ck

    def broken_save(tensors, filename, metadata=None):
        open(filename, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck, "save_file", broken_save)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, {"a": torch.zeros(2)}, "x", {})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]  # no temp file left behind


def test_device_selection(monkeypatch):
    assert select_device("cpu").type == "cpu"
    monkeypatch.setenv("IDE3D_DEVICE", "cpu")
    assert select_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            select_device("cuda")
    with pytest.raises(ValueError):
        select_device("tpu")


def test_half_precision_checkpoint_loads_as_float32(tmp_path):
    G = build_generator("tiny", seed=2, device="cpu").eval()
    path = tmp_path / "g16.safetensors"
    save_generator(G, path, half=True)
    full = tmp_path / "g32.safetensors"
    save_generator(G, full)
    assert path.stat().st_size < 0.6 * full.stat().st_size
    H = load_generator(path, device="cpu")
    for k, v in G.state_dict().items():
        h = H.state_dict()[k]
        assert h.dtype == v.dtype
        torch.testing.assert_close(h, v.half().to(v.dtype))  # exactly the fp16 rounding


def test_corrupted_bytes_that_decode_to_nan_are_refused_naming_file_and_tensor(tmp_path):
    """Two tensors' bytes overwritten with NaN: the file parses, so only a value check finds it."""
    import struct
    path = tmp_path / "g.safetensors"
    save_generator(build_generator("tiny", seed=0, device="cpu"), path)
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    victims = [k for k, v in sorted(header.items()) if k != "__metadata__" and v["dtype"] == "F32"][:2]
    for k in victims:
        start = 8 + n + header[k]["data_offsets"][0]
        raw[start:start + 4] = struct.pack("<f", float("nan"))
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="NaN") as err:
        load_generator(path, device="cpu")
    assert str(path) in str(err.value) and victims[0] in str(err.value)
