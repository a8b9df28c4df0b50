import numpy as np
import pytest
import torch

from ide3d_backend import build_generator, camera as C
from ide3d_backend.config import get_config, paper_config, tiny_config


@pytest.fixture(scope="module")
def G():
    torch.set_num_threads(2)
    return build_generator("tiny", seed=0, device="cpu").eval()


def _labels(*angles):
    return torch.from_numpy(np.stack([C.label_from_angles(y, p) for y, p in angles]))


def test_presets_follow_the_paper():
    p = paper_config()
    assert p.mapping.z_dim == p.mapping.w_dim == 512 and p.mapping.num_ws == 18 and p.mapping.num_shape_ws == 8
    assert p.backbone.semantic_resolution == 64 and p.backbone.semantic_channels[64] == 64  # 64x64x64 shared map
    assert p.backbone.texture_resolution == 256 and p.backbone.texture_plane_channels == 32  # 256x256x32 planes
    assert p.render.num_coarse == p.render.num_importance == 48
    assert p.stage_neural_resolutions == (64, 128) and p.superres.output_resolution == 512
    assert p.decoder.num_classes == 19 and p.decoder.hidden == 64 and p.decoder.feature_dim == 32
    t = tiny_config()
    assert t.render.neural_resolution == 32 and t.superres.output_resolution == 128
    assert get_config("tiny") == t
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("huge")


def test_config_json_round_trip():
    for cfg in (paper_config(), tiny_config()):
        import json
        from ide3d_backend.config import GeneratorConfig
        assert GeneratorConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_output_shapes_and_ranges(G):
    z = torch.randn(2, G.z_dim)
    c = _labels((0, 0), (0.3, -0.1))
    with torch.no_grad():
        ws = G.mapping(z, c)
        out = G.synthesis(ws, c)
    assert ws.shape == (2, 18, G.w_dim)
    r, R = 32, 128
    assert out["image"].shape == (2, 3, R, R) and out["semantic"].shape == (2, 19, R, R)
    assert out["image_raw"].shape == (2, 3, r, r) and out["semantic_raw"].shape == (2, 19, r, r)
    assert out["depth"].shape == (2, 1, r, r)
    # semantic_raw is a distribution over classes per pixel (background takes the empty part)
    torch.testing.assert_close(out["semantic_raw"].sum(1), torch.ones(2, r, r), atol=1e-4, rtol=0)
    assert out["image_raw"].min() >= -1.01 and out["image_raw"].max() <= 1.01
    assert torch.isfinite(out["image"]).all() and torch.isfinite(out["semantic"]).all()
    pts = G.sample_points(ws, torch.rand(100, 3) - 0.5)
    assert pts["sigma"].shape == (2, 100, 1) and pts["semantic_logits"].shape == (2, 100, 19)
    assert pts["features"].shape == (2, 100, 32) and (pts["sigma"] >= 0).all()


def test_changing_w_t_never_moves_geometry_or_semantics(G):
    """The paper's disentanglement: density and labels depend on w_s only."""
    torch.manual_seed(1)
    c = _labels((0.2, 0.1))
    with torch.no_grad():
        ws_a = G.mapping(torch.randn(1, G.z_dim), c)
        ws_b = G.mapping(torch.randn(1, G.z_dim), c)
        mixed = torch.cat([ws_a[:, :8], ws_b[:, 8:]], 1)
        xyz = torch.rand(1, 500, 3) - 0.5
        pa, pm = G.sample_points(ws_a, xyz), G.sample_points(mixed, xyz)
        assert torch.equal(pa["sigma"], pm["sigma"])
        assert torch.equal(pa["semantic_logits"], pm["semantic_logits"])
        assert not torch.allclose(pa["features"], pm["features"])  # texture did change
        ra, rm = G.synthesis(ws_a, c), G.synthesis(mixed, c)
        assert torch.equal(ra["semantic"], rm["semantic"]) and torch.equal(ra["semantic_raw"], rm["semantic_raw"])
        assert torch.equal(ra["depth"], rm["depth"])
        assert (ra["image"] - rm["image"]).abs().mean() > 1e-3
        # and the converse: changing w_s does move the geometry
        ms = torch.cat([ws_b[:, :8], ws_a[:, 8:]], 1)
        assert not torch.equal(G.sample_points(ms, xyz)["sigma"], pa["sigma"])


def test_w_t_does_not_receive_gradients_from_geometry(G):
    c = _labels((0, 0))
    ws = G.mapping(torch.randn(1, G.z_dim), c).detach().requires_grad_(True)
    out = G.sample_points(ws, torch.rand(1, 64, 3) - 0.5)
    (out["sigma"].sum() + out["semantic_logits"].sum()).backward()
    assert ws.grad[:, 8:].abs().max() == 0 and ws.grad[:, :8].abs().max() > 0


def test_renders_are_deterministic_and_seeded():
    a, b = build_generator("tiny", seed=3, device="cpu").eval(), build_generator("tiny", seed=3, device="cpu")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), ka
    c = build_generator("tiny", seed=4, device="cpu")
    assert not torch.equal(a.mapping.layers[0].weight, c.mapping.layers[0].weight)
    z, lab = torch.randn(1, a.z_dim), _labels((0.1, 0))
    with torch.no_grad():
        assert torch.equal(a(z, lab)["image"], a(z, lab)["image"])


def test_camera_moves_the_render(G):
    z = torch.randn(1, G.z_dim)
    with torch.no_grad():
        ws = G.mapping(z, _labels((0, 0)))
        a = G.synthesis(ws, _labels((0, 0)))["image_raw"]
        b = G.synthesis(ws, _labels((0.5, 0)))["image_raw"]
    assert (a - b).abs().mean() > 1e-4


def test_bad_inputs_give_clear_errors(G):
    with pytest.raises(ValueError, match="ws must be"):
        G.synthesis(torch.zeros(1, 17, G.w_dim), _labels((0, 0)))
    with pytest.raises(ValueError, match="camera labels"):
        G.synthesis(torch.zeros(1, 18, G.w_dim), torch.zeros(1, 16))


def test_training_mode_gradients_reach_every_part(G):
    G2 = build_generator("tiny", seed=1, device="cpu").train()
    c = _labels((0.1, 0.0))
    out = G2(torch.randn(1, G2.z_dim), c, noise_mode="random")
    (out["image"].mean() + out["semantic"].mean() + out["image_raw"].mean()).backward()
    for name in ("mapping.layers.0.weight", "backbone.semantic.const", "backbone.heads.2.blocks.0.convs.0.conv.weight",
                 "decoder.semantic.out.weight", "decoder.texture.out.weight", "superres.rgb.block1.to_image.conv.weight",
                 "superres.semantic.block1.to_image.conv.weight"):
        p = dict(G2.named_parameters())[name]
        assert p.grad is not None and p.grad.abs().max() > 0, name
