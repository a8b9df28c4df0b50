"""Per-head codes: fitting z to W+ targets, encoding every head of a dataset, the saved
codes' round trip and dataset check, and their use as encoder-training targets."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ide3d_backend import camera
from ide3d_backend.api import build_generator, save_generator
from ide3d_backend.encoding import build_encoders, encode, save_encoders
from training.latent_init import encoded_head_ws, fit_z_to_ws, load_latents, save_latents
from training.config import get_encoder_train_config
from training.dataset import InMemoryDataset
from training.train_encoders import EncoderTrainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def G():
    return build_generator("tiny", seed=0, device="cpu")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from ide3d_backend.synthheads import write_dataset
    out = tmp_path_factory.mktemp("heads")
    write_dataset(out, count=2, resolution=32, views=2, seed=0, progress=False, workers=1)
    return out


@pytest.fixture(scope="module")
def data(data_dir, G):
    return InMemoryDataset(data_dir, G.cfg.superres.output_resolution)


def test_fitted_z_maps_onto_reachable_targets(G):
    z_true = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1))
    c = camera.label_tensor(batch=3)
    with torch.no_grad():
        target = G.mapping(z_true, c)
        spread = float((target - target.mean(0)).square().mean())  # how far apart the targets are
    before = [p.requires_grad for p in G.mapping.parameters()]
    z, residual = fit_z_to_ws(G, target, steps=200)
    assert residual < 0.05 * spread
    assert [p.requires_grad for p in G.mapping.parameters()] == before  # left as found


def test_encoded_head_ws_is_the_mean_over_each_heads_views(G, data):
    enc = build_encoders("tiny", seed=0)
    per_head = encoded_head_ws(G, enc, data, batch=3)
    assert per_head.shape == (data.num_groups, G.num_ws, G.w_dim)
    b = data.batch(list(range(len(data))))
    with torch.no_grad():
        ws, _, _ = encode(enc.eval(), G, b["image"], b["mask"])
    for g in range(data.num_groups):
        expected = ws[b["group"] == g].mean(0)
        assert torch.allclose(per_head[g], expected, atol=1e-5)


def test_latents_round_trip_and_reject_another_dataset(G, data, tmp_path):
    z = torch.randn(data.num_groups, G.z_dim)
    save_latents(tmp_path / "latents.safetensors", z, data)
    assert torch.equal(load_latents(tmp_path / "latents.safetensors", data), z)

    class Other:
        num_groups = data.num_groups + 1

        def __len__(self):
            return len(data) + 2
    with pytest.raises(ValueError, match="dataset"):
        load_latents(tmp_path / "latents.safetensors", Other())


def test_encoder_training_with_head_codes_regresses_them(G, data, data_dir, tmp_path):
    save_latents(tmp_path / "latents.safetensors", torch.randn(data.num_groups, G.z_dim), data)
    cfg = get_encoder_train_config("tiny").replace(
        batch=1, views=1, neural_resolution=8, recon_neural_resolution=8, recon_every=0,
        real_batch=2, xflip=False, canonical=False, snapshot_every=0, log_every=1, lr=1e-3)
    tr = EncoderTrainer(G, tmp_path / "run", cfg, data_dir=data_dir, latents_path=tmp_path / "latents.safetensors")
    batch = tr.make_batch(0)
    terms = tr.losses(batch, with_recon=False)
    assert terms["real_latent"] > 0 and terms["real_pose"] > 0
    grads = torch.autograd.grad(terms["real_latent"], list(tr.enc.semantic.parameters()), allow_unused=True)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    # The pose target is the camera the image was rendered from.
    yaw, pitch, _ = camera.angles_from_label(batch["real"]["label"][0].numpy())
    assert abs(yaw) < 1.0 and abs(pitch) < 0.6
    # A mirrored image is another head: it gets no latent target.
    batch["real"]["flipped"][:] = True
    assert "real_latent" not in tr.losses(batch, with_recon=False)
    # A few steps on repeated data lower the latent loss.
    # A few steps on a repeated batch, with only the dataset terms on, lower the latent loss.
    only_real = dataclasses.replace(cfg.weights, latent_t=0.0, latent_s=0.0, pose=0.0, latent_consistency=0.0)
    tr.cfg = cfg.replace(repeat_batch=True, weights=only_real)
    with torch.no_grad():
        first = float(tr.losses(tr.make_batch(0), with_recon=False)["real_latent"])
    for _ in range(20):
        tr.train_step()
    with torch.no_grad():
        assert float(tr.losses(tr.make_batch(0), with_recon=False)["real_latent"]) < 0.8 * first


def test_latents_without_data_are_refused(G, tmp_path):
    with pytest.raises(ValueError, match="--data"):
        EncoderTrainer(G, tmp_path, get_encoder_train_config("tiny"), latents_path=tmp_path / "x.safetensors")


def test_dataset_images_train_the_pose_head_without_head_codes(G, data_dir, tmp_path):
    # Every dataset image carries its camera, so the pose target needs no --latents;
    # `pose_batch` adds images that only the pose term reads (nothing is rendered for them).
    cfg = get_encoder_train_config("tiny").replace(
        batch=1, views=1, neural_resolution=8, recon_neural_resolution=8, recon_every=0,
        real_batch=2, pose_batch=3, canonical=False, snapshot_every=0, log_every=1)
    tr = EncoderTrainer(G, tmp_path / "run", cfg, data_dir=data_dir)
    batch = tr.make_batch(0)
    assert batch["pose_images"]["image"].shape[0] == 3
    terms = tr.losses(batch, with_recon=False)
    assert "real_latent" not in terms
    images = torch.cat([batch["real"]["image"], batch["pose_images"]["image"]])
    labels = torch.cat([batch["real"]["label"], batch["pose_images"]["label"]])
    masks = torch.cat([batch["real"]["mask"], batch["pose_images"]["mask"]])
    with torch.no_grad():
        pose = tr.enc.pose(images, masks)
    yaw_pitch = torch.tensor([camera.angles_from_label(l.numpy())[:2] for l in labels], dtype=pose.dtype)
    assert float(terms["real_pose"].detach()) == pytest.approx(
        cfg.weights.real_pose * float((pose - yaw_pitch).square().mean()), rel=1e-5)
    grads = torch.autograd.grad(terms["real_pose"], list(tr.enc.semantic.pose.parameters()))  # tiny: pose from the mask
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # A mirrored image's target is the mirrored camera: yaw negated, pitch kept.
    yaws = [abs(camera.angles_from_label(l.numpy())[0]) for l in tr.data.labels]
    i = np.array([int(np.argmax(yaws))])  # the most turned view: its mirror is clearly another pose
    yaw_p, pitch_p, _ = camera.angles_from_label(tr.data.batch(i)["label"][0].numpy())
    yaw_f, pitch_f, _ = camera.angles_from_label(tr.data.batch(i, np.array([True]))["label"][0].numpy())
    assert abs(yaw_p) > 0.05
    assert yaw_f == pytest.approx(-yaw_p, abs=1e-5) and pitch_f == pytest.approx(pitch_p, abs=1e-5)
