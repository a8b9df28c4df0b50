"""Edits: a region style changes the selected region and leaves the rest (in the input
view and a side view), a w_t swap leaves the mask identical, shape edits keep w_t."""
import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from ide3d_backend import editing as E, session as S
from ide3d_backend.api import build_generator

OUTSIDE_MAX_MAD = 0.02  # mean |diff| in [0,1] units outside the edited region


@pytest.fixture(scope="module")
def G(torch_threads):
    return build_generator("tiny", seed=0, device="cpu").eval()


@pytest.fixture()
def sess(G, tmp_path):
    return S.sample_session(G, 5, tmp_path / "s", base_source={"built": {"preset": "tiny", "seed": 0}})


def region_change(s, classes, seed, yaw, pitch):
    """(mean change inside, mean change outside) of a region edit in one view.

    Inside/outside come from the coverage of the selected 3D labels (an indicator
    rendered with the same weights), not from the edit itself."""
    a = s.render(yaw, pitch).astype(np.float64) / 255
    cov = E.selection_coverage(s.G, s.ws, classes, yaw, pitch)
    E.edit_region(s, classes, seed=seed)
    b = s.render(yaw, pitch).astype(np.float64) / 255
    s.undo()
    diff = np.abs(a - b).mean(-1)
    inside = cov > 0.5 * cov.max()
    outside = ~binary_dilation(cov > 0.02 * max(cov.max(), 1e-6), iterations=3)
    assert inside.sum() > 50 and outside.sum() > 500
    return diff[inside].mean(), diff[outside].mean()


@pytest.mark.parametrize("yaw,pitch", [(0.0, 0.0), (0.7, 0.1)])
def test_region_edit_is_local(sess, yaw, pitch):
    # the untrained tiny model labels most space 9 or 12: select 12 (lower lip) alone
    inside, outside = region_change(sess, [12], seed=11, yaw=yaw, pitch=pitch)
    assert outside < OUTSIDE_MAX_MAD
    assert inside > 10 * outside and inside > 5e-4, (inside, outside)


def test_texture_swap_keeps_mask(sess):
    m0, rgb0 = sess.render(kind="mask"), sess.render()
    m0s = sess.render(0.6, 0.0, kind="mask")
    ws_s = sess.ws[:, :sess.G.num_shape_ws].clone()
    E.edit_texture(sess, seed=99)
    assert np.array_equal(sess.render(kind="mask"), m0)
    assert np.array_equal(sess.render(0.6, 0.0, kind="mask"), m0s)
    assert torch.equal(sess.ws[:, :sess.G.num_shape_ws], ws_s)
    assert np.abs(sess.render().astype(float) - rgb0).mean() > 1.0


def test_interpolation_endpoints(sess, G):
    ws0 = sess.ws.clone()
    other = E.latents_from_seed(G, 42)
    E.edit_interpolate(sess, "shape", 0.0, seed=42)
    assert torch.equal(sess.ws, ws0)
    E.edit_interpolate(sess, "shape", 1.0, seed=42)
    n = G.num_shape_ws
    assert torch.equal(sess.ws[:, :n], other[:, :n]) and torch.equal(sess.ws[:, n:], ws0[:, n:])
    with pytest.raises(E.EditError):
        E.edit_interpolate(sess, "texture", 1.5, seed=1)


def test_region_edit_from_session_and_errors(sess, G, tmp_path):
    other = S.sample_session(G, 77, tmp_path / "o", base_source={"built": {"preset": "tiny", "seed": 0}})
    info = E.edit_region(sess, "hair", source=other)
    assert "session" in info["history"][-1]["summary"]
    assert torch.equal(sess.layers[-1].w_t, other.ws[:, G.num_shape_ws:])
    with pytest.raises(E.EditError, match="exactly one"):
        E.edit_texture(sess)
    with pytest.raises(ValueError, match="unknown class"):
        E.edit_region(sess, "antenna", seed=1)


from ide3d_backend import encoding  # noqa: E402


def test_mask_edit_and_drawing_with_untrained_editor(sess, G, tmp_path):
    enc = encoding.build_encoders("tiny", seed=0, device="cpu").eval()
    ws0 = sess.ws.clone()
    mask = sess.canonical("mask").copy()
    mask[40:60, 40:90] = 13
    info = E.edit_mask(sess, mask, encoders=enc)
    n = G.num_shape_ws
    assert info["history"][-1]["kind"] == "mask"
    assert torch.equal(sess.ws[:, n:], ws0[:, n:]) and not torch.equal(sess.ws[:, :n], ws0[:, :n])
    d = S.draw_session(G, mask, tmp_path / "drawn", texture_seed=3, encoders=enc)
    assert torch.equal(d.ws[:, n:], E.latents_from_seed(G, 3)[:, n:])
    assert d.render(0.3, 0.0).shape == (128, 128, 3)


def test_edits_are_state_to_state_functions(G):
    # no session: a state and the generator in, a new state and a summary out; the input is untouched
    from ide3d_backend.style import State
    s0 = State(E.latents_from_seed(G, 1), [])
    ws0 = s0.ws.clone()
    other = E.latents_from_seed(G, 2)
    s1, summary = E.texture_swap(s0, G, other, "seed 2")
    n = G.num_shape_ws
    assert torch.equal(s1.ws[:, :n], ws0[:, :n]) and torch.equal(s1.ws[:, n:], other[:, n:])
    assert torch.equal(s0.ws, ws0) and summary == "texture from seed 2"
    s2, summary = E.region_style(s1, G, "hair", other, "seed 2")
    assert len(s2.layers) == 1 and s2.layers[0].classes == (13,) and not s1.layers
    s3, _ = E.interpolate(s2, G, "shape", 1.0, other, "seed 2")
    assert torch.equal(s3.ws[:, :n], other[:, :n]) and len(s3.layers) == 1
    with pytest.raises(E.EditError, match="canonical editor"):
        E.mask_edit(s3, G, None, np.zeros((64, 64), np.uint8))
