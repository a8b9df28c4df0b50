"""Inversion on the tiny generator: loss goes down, a generator sample is recovered in W+,
cancellation acts within one step, the camera label is differentiable and exact."""
import dataclasses
import threading

import numpy as np
import pytest
import torch

from ide3d_backend import camera, imaging, inversion as inv
from ide3d_backend.api import build_generator
from ide3d_backend.config import get_encoder_config
from ide3d_backend.encoding import build_encoders
from ide3d_backend.perceptual import perceptual_distance


@pytest.fixture(scope="module")
def G(torch_threads):
    return build_generator("tiny", seed=0, device="cpu").eval()


@pytest.fixture(scope="module")
def target(G):
    c = camera.label_tensor(0.2, 0.05)
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)),
                       camera.label_tensor())
        out = G.synthesis(ws, c)
    return ws, c, out


def test_camera_label_matches_numpy():
    for yaw, pitch in [(0.0, 0.0), (0.4, -0.2), (-0.7, 0.3)]:
        a = camera.labels_from_angles(torch.tensor(yaw), torch.tensor(pitch))[0].numpy()
        assert np.allclose(a, camera.label_from_angles(yaw, pitch), atol=1e-6)
    y = torch.tensor(0.3, requires_grad=True)
    camera.labels_from_angles(y, torch.tensor(0.1)).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad)


def test_presets():
    assert inv.PRESETS["quality"].latent_steps == 450 and inv.PRESETS["quality"].tune_steps == 350
    assert inv.PRESETS["quality"].latent_lr == 5e-3 and inv.PRESETS["quality"].tune_lr == 3e-4
    assert inv.PRESETS["quality"].early_stop == 0.06
    with pytest.raises(ValueError, match="unknown inversion preset"):
        inv.get_preset("slow")


def test_wplus_recovers_sample_and_tuning_lowers_loss(G, target):
    ws_true, c, out = target
    img, mask = imaging.to_uint8(out["image"]), imaging.mask_from_logits(out["semantic"])
    p = dataclasses.replace(inv.PRESETS["fast"], latent_steps=8, tune_steps=2, early_stop=0.0, neural_resolution=16,
                            refine_camera=False)
    events = []
    base = {k: v.clone() for k, v in G.state_dict().items()}
    # Untrained encoders (offsets near zero) start the optimisation next to the average
    # latent: the shipped encoders belong to the shipped generator, not to this random one.
    untrained = build_encoders(get_encoder_config("tiny"), seed=0, device="cpu").eval()
    res, Gt = inv.invert(G, img, mask, p, encoders=untrained, callback=lambda *a: events.append(a))
    # the start (average latent) is far from the sample; the W+ result is close to it
    tgt = out["image"]
    with torch.no_grad():
        start = G.synthesis(inv.average_latent(G), c)["image"]
        rec = G.synthesis(res.ws, camera.labels_from_angles(torch.tensor(res.yaw), torch.tensor(res.pitch)))["image"]
    d0, d1 = float(perceptual_distance(start, tgt)), float(perceptual_distance(rec, tgt))
    assert d1 < 0.5 * d0, (d0, d1)
    assert res.losses["latent"][-1] < res.losses["latent"][0]
    assert res.losses["tune"][-1] <= res.losses["tune"][0]
    assert res.tuned and all(not k.startswith("mapping.") for k in res.tuned)
    # the base generator is untouched
    assert all(torch.equal(v, base[k]) for k, v in G.state_dict().items())
    stages = [e[0] for e in events]
    assert "latent" in stages and "tune" in stages
    assert any(e[4] is not None and e[4].shape == (128, 128, 3) for e in events)


def test_early_stop(G, target):
    _, _, out = target
    img = imaging.to_uint8(out["image"])
    p = dataclasses.replace(inv.PRESETS["fast"], latent_steps=5, tune_steps=3, early_stop=10.0, neural_resolution=16)
    res, _ = inv.invert(G, img, None, p)
    assert res.steps == {"latent": 1, "tune": 1}


def test_cancel_within_one_step(G, target):
    _, _, out = target
    img = imaging.to_uint8(out["image"])
    cancel = threading.Event()
    seen = []

    def cb(stage, step, total, loss, preview):
        seen.append((stage, step))
        if stage == "latent" and step == 2:
            cancel.set()
    p = dataclasses.replace(inv.PRESETS["fast"], latent_steps=20, tune_steps=5, early_stop=0.0, neural_resolution=16)
    with pytest.raises(inv.Cancelled):
        inv.invert(G, img, None, p, callback=cb, cancel=cancel)
    assert seen[-1] == ("latent", 2)


def test_encoder_initialisation_reads_the_mask_as_encode_does(G, target):
    # The inversion's start must be exactly E_t + E_s on the photo and its mask; a mask
    # scaled to [-1, 1] before `encoding` (which scales it itself) fed E_s values of -3.
    from ide3d_backend.encoding import encode
    _, _, out = target
    res = G.cfg.superres.output_resolution
    img = inv.image_to_tensor(imaging.to_uint8(out["image"]), res)
    mask = inv.mask_to_tensor(imaging.mask_from_logits(out["semantic"]), res)
    enc = build_encoders(get_encoder_config("tiny"), seed=4, device="cpu").eval()
    ws, yaw, pitch, source, _ = inv.encoder_initialisation(G, img, mask, encoders=enc)
    with torch.no_grad():
        ws_ref, yaw_ref, pitch_ref = encode(enc, G, img, mask)
    assert source == "encoders"
    torch.testing.assert_close(ws, ws_ref)
    assert (yaw, pitch) == pytest.approx((float(yaw_ref[0]), float(pitch_ref[0])))
