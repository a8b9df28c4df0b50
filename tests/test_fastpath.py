"""The generator's fast CPU paths against the reference formulations (model/fastpath.py).

Both run in one process: `fastpath.reference_mode()` switches back to the plain
formulas (activation modulation, NCHW convs, sort-and-gather compositing), so the
reference is independent of every fast-path change.
"""
import copy

import pytest
import torch

from ide3d_backend import build_generator, camera as C, load_generator
from ide3d_backend.checkpoint import default_checkpoint
from ide3d_backend.model import fastpath
from ide3d_backend.model.renderer import composite, composite_unsorted


@pytest.fixture(scope="module")
def shipped():
    if not default_checkpoint("generator").exists():
        pytest.skip("no shipped generator weights")
    return load_generator(device="cpu")


def _render(G, z, c, **kw):
    with torch.no_grad():
        return G(z, c, noise_mode="const", **kw)


@pytest.mark.parametrize("seed,yaw,pitch", [(0, 0.0, 0.0), (7, 0.5, -0.2)])
def test_shipped_model_renders_the_same_on_both_paths(shipped, seed, yaw, pitch):
    G = shipped
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
    c = C.label_tensor(yaw, pitch)
    assert fastpath.enabled()
    fast = _render(G, z, c)
    with fastpath.reference_mode():
        assert not fastpath.enabled()
        ref = _render(G, z, c)
    assert fastpath.enabled()
    # The formulations differ (sums in another order), so bitwise equality would mean one did not run.
    assert not torch.equal(fast["image"], ref["image"])
    for k in ("image", "image_raw", "features_raw", "depth", "opacity", "semantic_raw"):
        diff = (fast[k] - ref[k]).abs().max().item()
        assert diff < 1e-4, (k, diff)
    # Logits of rare classes sit on log(1e-4) clamps; compare the mask and the logits loosely.
    assert (fast["semantic"] - ref["semantic"]).abs().max().item() < 1e-2
    agree = (fast["semantic"].argmax(1) == ref["semantic"].argmax(1)).float().mean().item()
    assert agree > 0.999, agree


def test_batch_one_gradients_match_reference():
    """Inversion optimises ws at batch 1 with gradients: the weight-modulated path must agree."""
    G = build_generator("tiny", seed=3, device="cpu").eval()
    with torch.no_grad():  # non-zero noise strengths and biases so every term is exercised
        for name, p in G.named_parameters():
            if name.endswith("noise_strength") or name.endswith(".bias"):
                p.uniform_(-0.2, 0.2)
    c = C.label_tensor(0.2, 0.1)
    ws0 = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)), c).detach()

    def loss_and_grad():
        ws = ws0.clone().requires_grad_(True)
        out = G.synthesis(ws, c, noise_mode="const")
        loss = out["image"].square().mean() + out["semantic"].softmax(1)[:, 1].mean()
        loss.backward()
        return loss.detach(), ws.grad

    fast = loss_and_grad()
    with fastpath.reference_mode():
        ref = loss_and_grad()
    torch.testing.assert_close(fast[0], ref[0], rtol=1e-5, atol=1e-6)
    scale = ref[1].abs().max()
    assert scale > 0
    assert (fast[1] - ref[1]).abs().max() < 1e-3 * scale


def test_training_batch_matches_reference():
    """Batches above one keep activation modulation but still run channels-last."""
    G = build_generator("tiny", seed=4, device="cpu").train()
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(2))
    c = C.label_tensor(batch=3)
    g = torch.Generator().manual_seed(5)
    fast = G(z, c, noise_mode="const", perturb=True, generator=g)
    g.manual_seed(5)
    with fastpath.reference_mode():
        ref = G(z, c, noise_mode="const", perturb=True, generator=g)
    assert (fast["image"] - ref["image"]).abs().max().item() < 1e-4
    assert (fast["depth"] - ref["depth"]).abs().max().item() < 1e-4


def test_unsorted_compositing_equals_sorting_everything():
    g = torch.Generator().manual_seed(0)
    b, r, n, f, k = 2, 5, 7, 4, 3

    def samples(lo, hi):
        t = torch.sort(torch.rand(b, r, n, 1, generator=g) * (hi - lo) + lo, 2).values
        return (torch.rand(b, r, n, 1, generator=g) * 20, torch.rand(b, r, n, f, generator=g),
                torch.rand(b, r, n, k, generator=g).softmax(-1), t)

    coarse, fine = samples(2.0, 3.0), samples(2.3, 2.8)  # interleaved depths
    t, order = torch.sort(torch.cat([coarse[3], fine[3]], 2), 2)
    merged = [torch.gather(torch.cat([a, b_], 2), 2, order.expand(-1, -1, -1, a.shape[-1]))
              for a, b_ in zip(coarse[:3], fine[:3])]
    want = composite(*merged, t)[:4]
    got = composite_unsorted(coarse, fine)
    for w_, g_ in zip(want, got):
        torch.testing.assert_close(g_, w_, rtol=1e-5, atol=1e-6)


def test_plane_layout_cache_follows_the_planes():
    G = build_generator("tiny", seed=0, device="cpu").eval()
    dec = G.decoder
    planes = torch.randn(1, 3, 16, 8, 8)
    xyz = torch.rand(1, 50, 3) - 0.5
    with torch.no_grad():
        before = dec.decode_texture(planes, xyz)
        planes.mul_(2)  # in place: the cached channels-last copy must not be reused
        after = dec.decode_texture(planes, xyz)
        with fastpath.reference_mode():
            ref = dec.decode_texture(planes, xyz)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, ref)
    # Planes that record gradients are never cached, and gradients reach them.
    p = torch.randn(1, 3, 16, 8, 8, requires_grad=True)
    dec.decode_texture(p, xyz).sum().backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    # EMA copies and pickles start with an empty cache (weak references do not copy).
    twin = copy.deepcopy(dec)
    with torch.no_grad():
        torch.testing.assert_close(twin.decode_texture(planes, xyz), after)


def test_blocked_decoder_mlp_equals_the_layers():
    # The no-gradient CPU MLP runs in row blocks; a row count that is no multiple of the
    # block and a leading batch dim check the block edges and the reshape.
    from ide3d_backend.config import get_config
    from ide3d_backend.model import decoder as D
    torch.manual_seed(0)
    dec = D.SemanticDecoder(16, get_config("tiny").decoder)
    f = torch.randn(2, D.MLP_BLOCK_ROWS + 123, 16)
    with torch.no_grad():
        want = dec.out(dec.hidden(f))
        got = D.mlp(f, dec.hidden, dec.out)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)
