"""Encoder and parser trainers: losses fall on a fixed batch, consistency losses carry
gradients, resumed runs continue bit-exactly, CLI and dataset paths run.

Sizes: the random-init tiny generator rendered at neural resolution 8, one latent x
two views per step; one torch thread (faster than two on the shared 2-core machine).
"""
from __future__ import annotations

import json

import pytest
import torch

from ide3d_backend.api import build_generator, save_generator
from ide3d_backend.encoding import encode, load_encoders, load_parser, parse
from training.config import get_encoder_train_config, get_parser_train_config
from training.pose_head import POSE_HEAD_RIDGE
from training.train_encoders import EncoderTrainer
from training.train_parser import ParserTrainer


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def G():
    return build_generator("tiny", seed=0, device="cpu")


def _enc_cfg(**kw):
    base = dict(batch=1, views=2, neural_resolution=8, recon_neural_resolution=8, recon_every=1,
                real_batch=0, snapshot_every=0, log_every=1)
    base.update(kw)
    return get_encoder_train_config("tiny").replace(**base)


def _pose_head(enc) -> torch.nn.Module:
    """The head that predicts (yaw, pitch): E_s's with pose_from="mask" (tiny), else E_t's."""
    return enc.semantic.pose if enc.cfg.pose_from == "mask" else enc.texture.pose


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_presets_have_nonzero_weights():
    for preset in ("tiny", "paper"):
        cfg = get_encoder_train_config(preset)
        w = cfg.weights
        for name in ("latent_t", "latent_s", "pose", "rgb", "perceptual", "mask", "latent_consistency",
                     "feature_consistency", "can_latent", "can_rgb", "can_perceptual", "can_mask",
                     "real_rgb", "real_perceptual", "real_mask"):
            assert getattr(w, name) > 0, name
        assert cfg.views >= 2 and cfg.lr > 0


def test_consistency_losses_are_nonzero_and_carry_gradients(G, tmp_path):
    tr = EncoderTrainer(G, tmp_path, _enc_cfg())
    batch = tr.make_batch(0)
    assert batch["image"].shape == (2, 3, 128, 128) and batch["mask"].shape == (2, 128, 128)
    assert not torch.equal(batch["image"][:1], batch["image"][1:])  # two views differ
    terms = tr.losses(batch)
    expected = {"latent_t", "latent_s", "pose", "latent_consistency", "rgb", "perceptual", "mask",
                "feature_consistency", "can_latent", "can_rgb", "can_perceptual", "can_mask"}
    assert expected <= set(terms)
    params = [p for p in tr.enc.texture.parameters()] + [p for p in tr.enc.semantic.parameters()]
    for name in ("latent_consistency", "feature_consistency"):
        assert float(terms[name].detach()) > 0, name
        assert terms[name].requires_grad
        grads = torch.autograd.grad(terms[name], params, retain_graph=True, allow_unused=True)
        assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0, name
    # The generator stays frozen.
    assert all(not p.requires_grad for p in tr.G.parameters())


def test_encoder_training_lowers_losses_on_a_fixed_batch(G, tmp_path):
    tr = EncoderTrainer(G, tmp_path, _enc_cfg(repeat_batch=True, lr=1e-3, canonical=True))
    first = tr.train_step()
    for _ in range(4):
        last = tr.train_step()
    assert last["loss"] < first["loss"]
    for name in ("latent_t", "latent_s", "pose", "rgb", "can_latent", "can_rgb"):
        assert last[name] < first[name], name


def test_encoder_resume_is_bit_exact(G, tmp_path):
    cfg = _enc_cfg(recon_every=2, snapshot_every=2, canonical=False)
    a = EncoderTrainer(G, tmp_path / "a", cfg)
    a.train(4, progress=False)
    b = EncoderTrainer(G, tmp_path / "b", cfg)
    b.train(2, progress=False)
    c = EncoderTrainer(G, tmp_path / "b", cfg)
    assert c.resume() and c.step == 2
    c.train(4, progress=False)
    assert _same_state(a.enc, c.enc)
    assert _same_state(a.enc, c.enc) and not _same_state(a.enc, b.enc)
    for g in c.opt.param_groups:
        assert g["lr"] == cfg.lr
    lines = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4] and all("sec_per_step" in r for r in lines)
    out = tmp_path / "encoders.safetensors"
    a.export(out)
    enc = load_encoders(out)
    assert _same_state(enc, a.enc)


def test_parser_training_lowers_loss_and_resumes_bit_exactly(G, tmp_path):
    cfg = get_parser_train_config("tiny").replace(batch=2, neural_resolution=8, snapshot_every=2, log_every=1)
    fixed = ParserTrainer(tmp_path / "fixed", cfg.replace(repeat_batch=True, jitter=0.0), generator=G)
    first = fixed.train_step()["ce"]
    for _ in range(4):
        last = fixed.train_step()["ce"]
    assert last < first
    a = ParserTrainer(tmp_path / "a", cfg, generator=G)
    a.train(4, progress=False)
    b = ParserTrainer(tmp_path / "b", cfg, generator=G)
    b.train(2, progress=False)
    c = ParserTrainer(tmp_path / "b", cfg, generator=G)
    assert c.resume() and c.step == 2
    c.train(4, progress=False)
    assert _same_state(a.parser, c.parser)
    out = tmp_path / "parser.safetensors"
    a.export(out)
    ids = parse(load_parser(out), torch.zeros(1, 3, 64, 64))
    assert ids.shape == (1, 64, 64)


def test_parser_dice_term_falls_and_is_off_by_default(G, tmp_path):
    """With `dice` weighted, the soft-Dice term is reported and falls on a fixed batch; the
    default config (dice 0) trains on the cross-entropy alone, as the shipped parser did."""
    cfg = get_parser_train_config("tiny").replace(batch=2, neural_resolution=8, repeat_batch=True, jitter=0.0)
    assert cfg.dice == 0 and set(ParserTrainer(tmp_path / "ce", cfg, generator=G).train_step()) == {"ce"}
    tr = ParserTrainer(tmp_path / "dice", cfg.replace(dice=1.0), generator=G)
    first = tr.train_step()
    for _ in range(5):
        last = tr.train_step()
    assert set(first) == {"ce", "dice"} and 0 < last["dice"] < first["dice"] <= 1


def test_parser_needs_a_source(tmp_path):
    with pytest.raises(ValueError, match="--generator"):
        ParserTrainer(tmp_path, get_parser_train_config("tiny"))


def test_cli_and_dataset_paths(G, tmp_path):
    from ide3d_backend import synthheads as synth
    data = tmp_path / "data"
    synth.write_dataset(data, 2, 32, views=1, seed=0, progress=False, workers=1)
    gpath = tmp_path / "G.safetensors"
    save_generator(G, gpath)
    from ide3d_backend.cli import main
    run = tmp_path / "run"
    rc = main(["train", "encoders", "--generator", str(gpath), "--out", str(run), "--data", str(data),
               "--steps", "1", "--quiet", "--threads", "1",
               "--set", "batch=1", "--set", "neural_resolution=8", "--set", "recon_neural_resolution=8",
               "--set", "real_batch=1", "--set", "weights.pose=2.0", "--set", "weights.real_mask_dice=1"])
    assert rc == 0
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"real_rgb", "real_perceptual", "real_mask", "feature_consistency", "real_mask_dice"} <= set(rec)
    assert "mask_dice" not in rec  # weight 0: not computed
    enc = load_encoders(run / "encoders.safetensors")
    ws, yaw, pitch = encode(enc, G, torch.zeros(1, 3, 128, 128), torch.zeros(1, 128, 128, dtype=torch.long))
    assert ws.shape == (1, 18, G.w_dim)
    # Resume through the CLI: continues from step 1 to 2.
    rc = main(["train", "encoders", "--generator", str(gpath), "--out", str(run), "--steps", "2", "--resume",
               "--quiet", "--threads", "1", "--set", "batch=1", "--set", "neural_resolution=8",
               "--set", "recon_every=0"])
    assert rc == 0
    assert json.loads((run / "latest.json").read_text())["step"] == 2
    # Parser on the dataset alone (x-flips on), then the exported weights.
    prun = tmp_path / "parser"
    rc = main(["train", "parser", "--out", str(prun), "--data", str(data), "--steps", "2", "--quiet",
               "--threads", "1", "--set", "batch=2"])
    assert rc == 0
    assert (prun / "parser.safetensors").exists()


def test_predicted_pose_reconstruction_trains_the_pose_head(G, tmp_path):
    tr = EncoderTrainer(G, tmp_path, _enc_cfg(recon_pose="predicted", canonical=False, views=1))
    terms = tr.losses(tr.make_batch(0))
    assert "latent_consistency" not in terms and "feature_consistency" not in terms  # k = 1
    grads = torch.autograd.grad(terms["rgb"], list(_pose_head(tr.enc).parameters()))
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_encoder_training_can_start_from_earlier_encoders(G, tmp_path):
    from ide3d_backend.encoding import build_encoders, save_encoders
    start = build_encoders("tiny", seed=5)
    save_encoders(start, tmp_path / "e.safetensors")
    tr = EncoderTrainer(G, tmp_path / "run", _enc_cfg(), init_checkpoint=tmp_path / "e.safetensors")
    assert _same_state(tr.enc, start)
    assert not _same_state(EncoderTrainer(G, tmp_path / "run2", _enc_cfg()).enc, start)
    save_encoders(build_encoders("paper", seed=0), tmp_path / "paper.safetensors")
    with pytest.raises(ValueError, match="--preset paper"):
        EncoderTrainer(G, tmp_path / "run3", _enc_cfg(), init_checkpoint=tmp_path / "paper.safetensors")


def test_image_pose_encoders_start_a_mask_pose_run_with_a_fitted_head(G, tmp_path):
    # Earlier encoders took the pose from the image. A run whose preset takes it from
    # the mask copies all their weights, and with --data fits E_s's new pose head as a
    # least-squares read-out of E_s's features (checked against numpy's lstsq).
    import dataclasses

    import numpy as np

    from ide3d_backend import camera, synthheads as synth
    from ide3d_backend.encoding import build_encoders, save_encoders
    data = tmp_path / "heads"
    synth.write_dataset(data, 3, 32, views=2, seed=0, progress=False, workers=1)
    image_pose = dataclasses.replace(build_encoders("tiny").cfg, pose_from="image")
    start = build_encoders(image_pose, seed=5)
    save_encoders(start, tmp_path / "e.safetensors")
    tr = EncoderTrainer(G, tmp_path / "run", _enc_cfg(pose_batch=2), data_dir=data,
                        init_checkpoint=tmp_path / "e.safetensors")
    assert tr.enc.cfg.pose_from == "mask" and "least-squares" in tr.init_note
    own, theirs = tr.enc.state_dict(), start.state_dict()
    assert set(own) - set(theirs) == {"semantic.pose.weight", "semantic.pose.bias"}
    assert all(torch.equal(own[k], theirs[k]) for k in theirs)

    flips = [False] * len(tr.data) + [True] * len(tr.data)
    b = tr.data.batch(np.r_[np.arange(len(tr.data)), np.arange(len(tr.data))], np.array(flips))
    with torch.no_grad():
        feats = tr.enc.semantic.tower(tr.enc._mask(b["mask"])).double().numpy()
        pred = tr.enc.pose(b["image"], b["mask"]).double().numpy()
    target = np.array([camera.angles_from_label(l)[:2] for l in b["label"].numpy()])
    X = np.hstack([feats, np.ones((len(feats), 1))])
    ridge = X @ np.linalg.solve(X.T @ X + POSE_HEAD_RIDGE * np.eye(X.shape[1]), X.T @ target)
    np.testing.assert_allclose(pred, ridge, atol=1e-4)  # the head computes the read-out (gains included)
    baseline = np.sqrt(((target - target.mean(0)) ** 2).mean())
    assert np.sqrt(((pred - target) ** 2).mean()) < 0.75 * baseline  # it reads the pose, even from random features
    # final_pose_fit refits the head after training moved the features; it needs --data.
    tr.train_step()
    assert "refitted" in tr.refit_pose_head()
    with torch.no_grad():
        feats = tr.enc.semantic.tower(tr.enc._mask(b["mask"])).double().numpy()
        pred = tr.enc.pose(b["image"], b["mask"]).double().numpy()
    X = np.hstack([feats, np.ones((len(feats), 1))])
    np.testing.assert_allclose(pred, X @ np.linalg.solve(X.T @ X + POSE_HEAD_RIDGE * np.eye(X.shape[1]), X.T @ target),
                               atol=1e-4)
    with pytest.raises(ValueError, match="--data"):
        EncoderTrainer(G, tmp_path / "run_nodata", _enc_cfg()).refit_pose_head()
    # Encoders of another size are still refused.
    save_encoders(build_encoders("paper", seed=0), tmp_path / "paper.safetensors")
    with pytest.raises(ValueError, match="--preset paper"):
        EncoderTrainer(G, tmp_path / "run2", _enc_cfg(), init_checkpoint=tmp_path / "paper.safetensors")


def test_learning_rate_warm_up_ramps_linearly(G, tmp_path):
    tr = EncoderTrainer(G, tmp_path, _enc_cfg(recon_every=0, lr_warmup_steps=4))
    lrs = []
    for _ in range(6):
        tr.train_step()
        lrs.append(tr.opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([tr.cfg.lr * f for f in (0.25, 0.5, 0.75, 1, 1, 1)])


def test_metrics_lines_average_every_term_over_the_steps_that_computed_it(tmp_path):
    # Terms computed every other step (the encoders' reconstruction losses with
    # recon_every=2) must reach the log even when every logged step skips them.
    from types import SimpleNamespace

    from training.loop import run_steps
    from training.run import RunTrainer

    class Counting(RunTrainer):
        saved = 0

        def train_step(self):
            logs = {"loss": float(self.step)}
            if self.step % 2 == 0:
                logs["rgb"] = 10.0 + self.step
            self.step += 1
            return logs

        def save(self):
            self.saved += 1

    tr = Counting(tmp_path, SimpleNamespace(log_every=4, snapshot_every=0))
    last = run_steps(tr, 8, progress=False)
    lines = [json.loads(l) for l in tr.metrics_path.read_text().splitlines()]
    assert [l["step"] for l in lines] == [4, 8]
    assert lines[0]["loss"] == pytest.approx((0 + 1 + 2 + 3) / 4) and lines[0]["rgb"] == pytest.approx(11.0)
    assert lines[1]["loss"] == pytest.approx((4 + 5 + 6 + 7) / 4) and lines[1]["rgb"] == pytest.approx(15.0)
    assert last == {"loss": 7.0} and tr.saved == 1


def test_a_run_can_start_the_canonical_editor_from_the_input_view_encoders(G, tmp_path):
    from ide3d_backend.encoding import build_encoders, save_encoders
    start = build_encoders("tiny", seed=5)
    save_encoders(start, tmp_path / "e.safetensors")
    tr = EncoderTrainer(G, tmp_path / "run", _enc_cfg(can_start_from_encoders=True),
                        init_checkpoint=tmp_path / "e.safetensors")
    # E_t and E_s are the --init ones, E_can reads like them (towers copied from them).
    assert _same_state(tr.enc.texture, start.texture) and _same_state(tr.enc.semantic, start.semantic)
    assert _same_state(tr.enc.canonical.image_tower, start.texture.tower)
    assert _same_state(tr.enc.canonical.mask_tower, start.semantic.tower)
    assert not _same_state(tr.enc.canonical, start.canonical)


def test_only_canonical_trains_the_canonical_editor_alone(G, tmp_path):
    import copy
    tr = EncoderTrainer(G, tmp_path, _enc_cfg(repeat_batch=True, lr=1e-3, only_canonical=True))
    texture, semantic = copy.deepcopy(tr.enc.texture), copy.deepcopy(tr.enc.semantic)
    canonical = copy.deepcopy(tr.enc.canonical)
    first = tr.train_step()
    for _ in range(4):
        last = tr.train_step()
    # Only E_can's terms are computed, and they fall; E_t and E_s are untouched.
    assert set(last) - {"loss"} and all(name.startswith("can_") for name in set(last) - {"loss"})
    assert last["can_latent"] < first["can_latent"] and last["can_rgb"] < first["can_rgb"]
    assert _same_state(tr.enc.texture, texture) and _same_state(tr.enc.semantic, semantic)
    assert not _same_state(tr.enc.canonical, canonical)
    with pytest.raises(ValueError, match="final_pose_fit"):
        EncoderTrainer(G, tmp_path / "b", _enc_cfg(only_canonical=True, final_pose_fit=True))
