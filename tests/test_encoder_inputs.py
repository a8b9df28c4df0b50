"""What the encoders read in training. Photometric augmentation (training/photometric.py):
neutral settings are the identity, a pure gamma matches its formula, draws are
reproducible, and the trainer feeds the recoloured images to E_t/E_s while every other
random draw of the step and the reconstruction targets stay as they were. E_can on
dataset heads (can_real_batch): it reads each head's frontal view and is scored on it
and on another view of the same head."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from training.config import PhotometricConfig, get_encoder_train_config
from training.photometric import augment

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NEUTRAL = PhotometricConfig(prob=1.0, exposure=0.0, white_balance=0.0, contrast=(1.0, 1.0),
                            saturation=(1.0, 1.0), gamma=(1.0, 1.0), shading=0.0)


def _images(n=3, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_neutral_settings_are_the_identity():
    x = _images()
    assert torch.allclose(augment(x, NEUTRAL, torch.Generator().manual_seed(0)), x, atol=1e-6)


def test_a_pure_gamma_matches_its_formula():
    x = _images()
    cfg = dataclasses.replace(NEUTRAL, gamma=(2.0, 2.0))
    want = ((x + 1) / 2) ** 2 * 2 - 1
    assert torch.allclose(augment(x, cfg, torch.Generator().manual_seed(0)), want, atol=1e-6)


def test_white_balance_keeps_the_mean_log_gain_and_images_stay_in_range():
    x = torch.zeros(4, 3, 8, 8)  # mid grey
    cfg = dataclasses.replace(NEUTRAL, white_balance=0.3)
    y = (augment(x, cfg, torch.Generator().manual_seed(3)) + 1) / 2
    gains = y.mean((2, 3)) / 0.5
    assert torch.allclose(gains.log().sum(1), torch.zeros(4), atol=1e-5)  # mean-free log gains
    assert (gains.max(1).values > 1.01).all()  # and not all 1
    z = augment(_images(8), PhotometricConfig(prob=1.0), torch.Generator().manual_seed(4))
    assert z.min() >= -1 and z.max() <= 1


def test_draws_are_reproducible_and_independent_of_prob():
    x = _images(6)
    a = augment(x, PhotometricConfig(prob=0.5), torch.Generator().manual_seed(5))
    b = augment(x, PhotometricConfig(prob=0.5), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    changed = [not torch.equal(a[i], x[i]) for i in range(6)]
    assert any(changed) and not all(changed)  # prob 0.5 of 6 images with this seed: some of each
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    augment(x, PhotometricConfig(prob=0.0), g1)
    augment(x, PhotometricConfig(prob=1.0), g2)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


def test_the_encoders_read_the_recoloured_images_and_targets_stay(tmp_path, monkeypatch):
    from ide3d_backend.api import build_generator
    from training.train_encoders import EncoderTrainer

    G = build_generator("tiny", seed=0, device="cpu")
    base = dict(batch=1, views=2, neural_resolution=8, recon_neural_resolution=8, recon_every=1,
                real_batch=0, snapshot_every=0, log_every=1)
    cfg = get_encoder_train_config("tiny").replace(**base)
    plain = EncoderTrainer(G, tmp_path / "a", cfg).make_batch(3)
    tr = EncoderTrainer(G, tmp_path / "b", cfg.replace(photometric=PhotometricConfig(prob=1.0)))
    batch = tr.make_batch(3)
    for key in ("ws", "c", "image", "mask", "image_can"):  # every other draw as without it
        assert torch.equal(batch[key], plain[key]), key
    assert not torch.allclose(batch["image_in"], batch["image"], atol=1e-3)
    seen, targets = [], []
    real_enc, real_terms = tr.enc.offsets_and_pose, tr._recon_terms
    monkeypatch.setattr(tr.enc, "offsets_and_pose", lambda img, mask: seen.append(img) or real_enc(img, mask))
    monkeypatch.setattr(tr, "_recon_terms", lambda out, image, *a: targets.append(image) or real_terms(out, image, *a))
    terms = tr.losses(batch)
    assert torch.equal(seen[0], batch["image_in"])
    # the reconstruction targets are the original images, not the recoloured ones
    assert torch.equal(targets[0], batch["image"]) and torch.equal(targets[-1], batch["image_can"])
    assert torch.isfinite(terms["rgb"]) and terms["rgb"] > 0


def test_e_can_reads_dataset_heads_frontal_view_and_is_compared_with_another_view(tmp_path):
    """can_real_batch: E_can reads a head's frontal view; its reconstruction is scored
    against that view and against another view of the same head, at that view's camera."""
    from ide3d_backend import camera, synthheads as synth
    from ide3d_backend.api import build_generator
    from training.train_encoders import EncoderTrainer

    G = build_generator("tiny", seed=0, device="cpu")
    data = tmp_path / "heads"
    synth.write_dataset(data, 3, 32, views=3, seed=0, progress=False, canonical_first=True, workers=1)
    base = dict(batch=1, views=2, neural_resolution=8, recon_neural_resolution=8, recon_every=1,
                real_batch=0, snapshot_every=0, log_every=1, xflip=False, can_real_batch=2)
    tr = EncoderTrainer(G, tmp_path / "run", get_encoder_train_config("tiny").replace(**base), data_dir=data)
    assert tr.data.frontal_heads == [0, 1, 2]
    cr = tr.make_batch(0)["can_real"]
    frontal = camera.label_tensor()[0]
    for i in range(2):
        front = next(j for j in range(len(tr.data)) if torch.equal(tr.data.images[j], cr["image"][i]))
        assert torch.allclose(tr.data.labels[front], frontal, atol=1e-6)
        view = next(j for j in range(len(tr.data)) if torch.equal(tr.data.images[j], cr["view_image"][i]))
        assert tr.data.groups[view] == tr.data.groups[front] and view != front
        assert torch.equal(cr["view_label"][i], tr.data.labels[view])
    terms = tr.losses(tr.make_batch(0))
    for name in ("can_real_rgb", "can_real_view_rgb", "can_real_view_mask"):
        assert torch.isfinite(terms[name]) and terms[name] > 0, name
    (terms["can_real_rgb"] + terms["can_real_view_rgb"]).backward()
    grads = [p.grad for p in tr.enc.canonical.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    # a dataset without frontal views says what to do
    plain = tmp_path / "plain"
    synth.write_dataset(plain, 2, 32, views=2, seed=1, progress=False, workers=1)
    tr2 = EncoderTrainer(G, tmp_path / "run2", get_encoder_train_config("tiny").replace(**base), data_dir=plain)
    with pytest.raises(ValueError, match="--canonical-first"):
        tr2.make_batch(0)
