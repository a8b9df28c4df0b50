"""Encoders, canonical editor and face parser: shapes, latents = w_avg + offsets,
preprocessing, checkpoints and their failure modes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ide3d_backend import camera, semantics
from ide3d_backend.api import build_generator
from ide3d_backend.checkpoint import CheckpointError, save_checkpoint
from ide3d_backend.config import EncoderConfig, get_encoder_config
from ide3d_backend.encoding import (Encoders, build_encoders, build_parser, encode, encode_canonical,
                                    load_encoders, load_parser, mask_input, parse,
                                    save_encoders, save_parser)
from ide3d_backend.model.encoders import CanonicalEditor, SemanticEncoder, TextureEncoder
from ide3d_backend.model.parser import FaceParser


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def G():
    G = build_generator("tiny", seed=0, device="cpu").eval().requires_grad_(False)
    with torch.no_grad():  # a non-zero w_avg so that "w_avg + offsets" is actually checked
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=torch.Generator().manual_seed(5)))
    return G


@pytest.fixture(scope="module")
def enc():
    return build_encoders("tiny", seed=0, device="cpu").eval()


def _inputs(b=2, res=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, res, res, generator=g) * 2 - 1
    mask = torch.randint(0, 19, (b, res, res), generator=g)
    return image, mask


def test_config_presets_round_trip():
    for preset in ("tiny", "paper"):
        cfg = get_encoder_config(preset)
        assert EncoderConfig.from_dict(cfg.to_dict()) == cfg
        assert cfg.num_ws == 18 and cfg.num_shape_ws == 8 and cfg.num_classes == 19
    assert get_encoder_config("tiny").w_dim == build_generator("tiny").w_dim
    with pytest.raises(ValueError):
        get_encoder_config("huge")
    with pytest.raises(ValueError):
        EncoderConfig(input_resolution=100)


def test_network_shapes():
    cfg = get_encoder_config("tiny")
    r, w = cfg.input_resolution, cfg.w_dim
    x = torch.randn(3, 3, r, r)
    m = torch.randn(3, 19, r, r)
    tex, pose = TextureEncoder(cfg)(x)
    assert tex.shape == (3, 10, w) and pose.shape == (3, 2)
    assert SemanticEncoder(cfg)(m).shape == (3, 8, w)
    assert CanonicalEditor(cfg)(x, m).shape == (3, 18, w)
    with pytest.raises(ValueError, match="resize"):
        TextureEncoder(cfg)(torch.randn(1, 3, r * 2, r * 2))
    logits = FaceParser(cfg)(torch.randn(2, 3, cfg.parser_resolution, cfg.parser_resolution))
    assert logits.shape == (2, 19, cfg.parser_resolution, cfg.parser_resolution)


def test_latents_are_w_avg_plus_offsets(G, enc):
    image, mask = _inputs()
    with torch.no_grad():
        ws, yaw, pitch = encode(enc, G, image, mask)
        tex, pose = enc.texture_offsets(image)
        shape = enc.semantic_offsets(mask)
        can = encode_canonical(enc, G, image, mask)
        can_off = enc.canonical_offsets(image, mask)
    assert ws.shape == (2, 18, G.w_dim) and yaw.shape == (2,) and pitch.shape == (2,)
    w_avg = G.mapping.w_avg
    torch.testing.assert_close(ws[:, :8], w_avg + shape)
    torch.testing.assert_close(ws[:, 8:], w_avg + tex)
    torch.testing.assert_close(torch.stack([yaw, pitch], 1), enc.pose(image, mask))
    torch.testing.assert_close(can, w_avg + can_off)
    # Fresh encoders start near w_avg (small heads), so early training is stable.
    assert (ws - w_avg).abs().mean() < 0.5 * w_avg.abs().mean()
    # The shape code depends on the mask only, the texture code on the image only.
    with torch.no_grad():
        ws2, _, _ = encode(enc, G, -image, mask)
    torch.testing.assert_close(ws2[:, :8], ws[:, :8])
    assert not torch.allclose(ws2[:, 8:], ws[:, 8:])


@pytest.mark.parametrize("source", ["image", "mask"])
def test_the_pose_comes_from_the_configured_encoder_only(G, source):
    cfg = dataclasses.replace(get_encoder_config("tiny"), pose_from=source)
    enc = build_encoders(cfg, seed=1).eval()
    image, mask = _inputs()
    other_image, other_mask = _inputs(seed=1)
    with torch.no_grad():
        _, yaw, pitch = encode(enc, G, image, mask)
        _, yaw_i, pitch_i = encode(enc, G, other_image, mask)   # another image, same mask
        _, yaw_m, pitch_m = encode(enc, G, image, other_mask)   # same image, another mask
    same_image_pose = torch.allclose(torch.stack([yaw, pitch]), torch.stack([yaw_m, pitch_m]))
    same_mask_pose = torch.allclose(torch.stack([yaw, pitch]), torch.stack([yaw_i, pitch_i]))
    assert (same_mask_pose, same_image_pose) == ((True, False) if source == "mask" else (False, True))
    assert (enc.semantic.pose is not None) == (source == "mask")
    if source == "image":
        with pytest.raises(ValueError, match="pose_from"):
            enc.semantic.forward_with_pose(torch.zeros(1, 19, cfg.input_resolution, cfg.input_resolution))
    with pytest.raises(ValueError, match="pose_from"):
        dataclasses.replace(cfg, pose_from="camera")


def test_checkpoints_from_before_pose_from_load_as_image_pose(tmp_path):
    # Encoders saved before the setting existed have no pose_from in their config and
    # no E_s pose head: they must load as they were trained, with E_t's pose.
    cfg = dataclasses.replace(get_encoder_config("tiny"), pose_from="image")
    old = build_encoders(cfg, seed=2)
    config = cfg.to_dict()
    del config["pose_from"]
    save_checkpoint(tmp_path / "old.safetensors", old.state_dict(), "encoders", config)
    loaded = load_encoders(tmp_path / "old.safetensors")
    assert loaded.cfg.pose_from == "image" and loaded.semantic.pose is None
    image, mask = _inputs(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded.pose(image, mask), old.eval().texture_offsets(image)[1])


def test_any_input_resolution_and_mask_forms(G, enc):
    for res in (64, 96, 200):
        image, mask = _inputs(1, res, seed=res)
        with torch.no_grad():
            ws, _, _ = encode(enc, G, image, mask)
            ws_oh, _, _ = encode(enc, G, image, torch.nn.functional.one_hot(mask, 19).movedim(-1, 1).float())
        assert ws.shape == (1, 18, G.w_dim)
        torch.testing.assert_close(ws, ws_oh)
    m = mask_input(torch.zeros(1, 32, 32, dtype=torch.long), 16)
    assert m.shape == (1, 19, 16, 16) and m[:, 0].eq(1).all() and m[:, 1:].eq(-1).all()
    with pytest.raises(ValueError):
        mask_input(torch.full((1, 8, 8), 19), 8)
    with pytest.raises(ValueError):
        mask_input(torch.zeros(1, 5, 8, 8), 8)
    # A one-hot already scaled to [-1, 1] would be scaled twice: refused with what to pass.
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mask_input(torch.nn.functional.one_hot(mask, 19).movedim(-1, 1).float() * 2 - 1, 16)


def test_generator_mismatch_is_reported(enc):
    Gp = build_generator("tiny")
    cfg = get_encoder_config("paper")
    big = Encoders(EncoderConfig(**{**cfg.to_dict(), "input_resolution": 16, "channel_max": 8}))
    with pytest.raises(ValueError, match="do not match"):
        encode(big, Gp, *_inputs(1, 16))


def test_yaw_pitch_labels_match_camera_and_are_differentiable():
    angles = torch.tensor([[0.0, 0.0], [0.4, -0.2], [-0.7, 0.3]], dtype=torch.float64, requires_grad=True)
    labels = camera.labels_from_angles(angles[:, 0], angles[:, 1])
    ref = np.stack([camera.label_from_angles(float(y), float(p)) for y, p in angles.detach()])
    np.testing.assert_allclose(labels.detach().numpy(), ref, atol=1e-6)
    labels[:, 3].sum().backward()  # camera x position depends on yaw
    assert angles.grad[:, 0].abs().sum() > 0


def test_encoders_round_trip_and_errors(tmp_path, G, enc):
    path = tmp_path / "enc.safetensors"
    save_encoders(enc, path, extra={"step": 3})
    loaded = load_encoders(path, device="cpu")
    assert loaded.cfg == enc.cfg and not loaded.training
    image, mask = _inputs(1)
    with torch.no_grad():
        a = encode(enc, G, image, mask)
        b = encode(loaded, G, image, mask)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    # Wrong kind.
    ppath = tmp_path / "parser.safetensors"
    save_parser(build_parser("tiny"), ppath)
    with pytest.raises(CheckpointError, match="parser"):
        load_encoders(ppath)
    with pytest.raises(CheckpointError, match="encoders"):
        load_parser(path)
    # Truncated file.
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_encoders(bad)
    # Not a checkpoint at all; missing file.
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(CheckpointError):
        load_encoders(junk)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_encoders(tmp_path / "missing.safetensors")
    # Tensors of another size than the config says.
    state = dict(enc.state_dict())
    state.pop(next(iter(state)))
    partial = tmp_path / "partial.safetensors"
    save_checkpoint(partial, state, "encoders", enc.cfg.to_dict())
    with pytest.raises(CheckpointError, match="missing"):
        load_encoders(partial)
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, enc.state_dict(), "encoders", get_encoder_config("paper").to_dict())
    with pytest.raises(CheckpointError, match="does not match"):
        load_encoders(other)
    broken_cfg = tmp_path / "cfg.safetensors"
    save_checkpoint(broken_cfg, enc.state_dict(), "encoders", {"w_dim": 256, "bogus": 1})
    with pytest.raises(CheckpointError, match="config"):
        load_encoders(broken_cfg)


def test_missing_default_weights_is_a_clear_error(tmp_path, monkeypatch):
    import ide3d_backend.checkpoint as checkpoint  # where every network's default path is resolved
    monkeypatch.setattr(checkpoint, "default_checkpoint", lambda name: tmp_path / f"{name}.safetensors")
    with pytest.raises(CheckpointError, match="ide3d train encoders"):
        load_encoders()
    with pytest.raises(CheckpointError, match="ide3d train parser"):
        load_parser()


def test_parser_round_trip_and_parse(tmp_path):
    parser = build_parser("tiny", seed=1).eval()
    path = tmp_path / "parser.safetensors"
    save_parser(parser, path)
    loaded = load_parser(path, device="cpu")
    for res in (128, 80):
        image, _ = _inputs(2, res)
        ids = parse(loaded, image)
        assert ids.shape == (2, res, res) and ids.dtype == torch.int64
        assert int(ids.min()) >= 0 and int(ids.max()) < 19
        assert torch.equal(ids, parse(parser, image))
    assert parse(parser, image[0]).shape == (1, 80, 80)


def test_build_is_deterministic_in_seed():
    a, b, c = build_encoders("tiny", seed=3), build_encoders("tiny", seed=3), build_encoders("tiny", seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_canonical_editor_started_from_the_encoders_equals_them(G):
    # Random towers and heads with real-sized biases, so every term of the copy is exercised.
    enc = build_encoders("tiny", seed=3).eval()
    with torch.no_grad():
        for head in (enc.texture.head, enc.semantic.head):
            head.weight.normal_()
            head.bias.normal_()
    image, mask = _inputs(b=3, seed=2)
    with torch.no_grad():
        before = encode_canonical(enc, G, image, mask)
        lowest = min(float(enc.texture.tower(enc._image(image)).min()),
                     float(enc.semantic.tower(enc._mask(semantics.mask_to_onehot(mask).float())).min()))
        enc.canonical.start_from(enc.texture, enc.semantic, shift=max(1.0, 1.0 - lowest))
        ws, _, _ = encode(enc, G, image, mask)
        can = encode_canonical(enc, G, image, mask)
    assert not torch.allclose(before, ws, atol=1e-2)
    torch.testing.assert_close(can, ws, atol=2e-4, rtol=1e-4)
    # It is a start, not a tie: E_can's weights are its own afterwards.
    with torch.no_grad():
        enc.canonical.image_tower.fc.weight.add_(0.5)
        ws2, _, _ = encode(enc, G, image, mask)
    torch.testing.assert_close(ws2, ws)
    with pytest.raises(ValueError, match="different sizes"):
        CanonicalEditor("paper").start_from(enc.texture, enc.semantic)
