"""The generator trainer on tiny data: losses fall, resume is bit-exact, the regularisers
are non-zero and carry gradients, two gloo processes keep identical replicas."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ide3d_backend import build_generator, camera
from ide3d_backend.model.discriminator import DualDiscriminator
from training import losses
from training.config import tiny_train_config
from training.train_generator import GeneratorTrainer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from ide3d_backend.synthheads import write_dataset
    out = tmp_path_factory.mktemp("synth")
    write_dataset(out, count=2, resolution=64, views=2, seed=0, progress=False)
    return out


def small_config(**kw):
    # 64^2 output keeps a step well under a second; the structure is the tiny preset's.
    base = dict(batch=2, recon_steps=4, d_warmup_steps=0, d_channel_base=512, d_channel_max=64, snapshot_every=0, sample_every=0, log_every=1, r1_interval=2,
                density_reg_interval=2, style_mixing_prob=0.5, conditioning="swap")
    base.update(kw)
    return tiny_train_config().replace(**base)


def make_trainer(data, run, cfg, monkeypatch=None):
    return GeneratorTrainer(data, run, cfg)


def micro_config(cfg):
    """The tiny preset's structure (18 ws, 8+10 split, three texture heads, dual SR) with
    few channels, 64^2 output and 8+8 samples per ray: a training step in ~0.1 s."""
    import dataclasses

    from ide3d_backend.config import BackboneConfig, MappingConfig
    return dataclasses.replace(
        cfg, mapping=MappingConfig(z_dim=64, w_dim=64, num_layers=2),
        backbone=BackboneConfig(semantic_channels={4: 64, 8: 64, 16: 32, 32: 16, 64: 16},
                                texture_channels={128: 8}, semantic_plane_channels=8,
                                texture_plane_channels=8, conv_clamp=None),
        superres=dataclasses.replace(cfg.superres, output_resolution=64, rgb_channels=(16, 8),
                                     semantic_channels=(8, 8)),
        render=dataclasses.replace(cfg.render, num_coarse=8, num_importance=8, neural_resolution=16),
        stage_neural_resolutions=(16,))


@pytest.fixture(autouse=True)
def small_generator(monkeypatch):
    """Swap the tiny preset for the micro config above, for speed."""
    import dataclasses

    from ide3d_backend import config as C
    orig = C.tiny_config

    def smaller():
        return micro_config(orig())

    monkeypatch.setitem(C.PRESETS, "tiny", smaller)
    yield


def test_recon_phase_lowers_its_loss(tiny_data, tmp_path):
    cfg = small_config(recon_steps=40, batch=4, recon_lr_g=0.005, recon_lr_latent=0.05)
    cfg = cfg.replace(neural_schedule=((0.0, 16),))
    tr = make_trainer(tiny_data, tmp_path / "run", cfg)
    torch.set_num_threads(2)
    first = [tr.train_step()["g_loss"] for _ in range(3)]
    for _ in range(25):
        last = tr.train_step()
    later = [tr.train_step()["g_loss"] for _ in range(3)]
    assert np.mean(later) < 0.8 * np.mean(first), (first, later)
    assert "depth" in last and "opacity" in last and "semantic" in last


def test_soft_dice_loss_matches_hand_computed_values():
    # 4 pixels, mask [0,0,0,1], both classes predicted with p = 0.5 everywhere:
    # class 0: (2*1.5+1)/(3+2+1) = 2/3, class 1: (2*0.5+1)/(1+2+1) = 1/2 -> loss (1/3 + 1/2) / 2 = 5/12.
    mask = torch.tensor([[[0, 0], [0, 1]]])
    assert float(losses.soft_dice_loss(torch.zeros(1, 2, 2, 2), mask)) == pytest.approx(5 / 12)
    perfect = torch.nn.functional.one_hot(mask, 3).permute(0, 3, 1, 2).float() * 40
    assert float(losses.soft_dice_loss(perfect, mask)) == pytest.approx(0, abs=1e-6)
    # A missed 4-pixel class out of 400 costs cross-entropy ~its pixel fraction times the
    # logit margin, Dice ~(1 - smooth / (4 + smooth)) / C.
    mask = torch.zeros(1, 20, 20, dtype=torch.long)
    mask[0, 3:5, 3:5] = 1
    logits = torch.zeros(1, 2, 20, 20)
    logits[:, 0] = 10.0
    ce = float(torch.nn.functional.cross_entropy(logits, mask))
    dice = float(losses.soft_dice_loss(logits, mask))
    assert ce < 0.15 and dice > 0.35


def test_recon_semantic_dice_term_is_logged_and_set_from_the_cli_syntax(tiny_data, tmp_path):
    from training.config import apply_overrides
    cfg = apply_overrides(small_config(), ["recon.semantic_dice=0.5", "batch=2"])
    assert cfg.recon.semantic_dice == 0.5 and cfg.recon.semantic == 1.0
    with pytest.raises(ValueError, match="unknown setting 'dice' of 'recon'.*semantic_dice"):
        apply_overrides(cfg, ["recon.dice=1"])
    with pytest.raises(ValueError, match="unknown training setting 'recn'"):
        apply_overrides(cfg, ["recn.semantic_dice=1"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        apply_overrides(cfg, ["recon.semantic_dice"])
    tr = make_trainer(tiny_data, tmp_path / "run", cfg.replace(neural_schedule=((0.0, 16),)))
    logs = tr.train_step()
    assert logs["semantic_dice"] > 0 and np.isfinite(logs["g_loss"])


def test_adversarial_phase_runs_all_terms(tiny_data, tmp_path):
    cfg = small_config(recon_steps=0).replace(neural_schedule=((0.0, 16),))
    tr = make_trainer(tiny_data, tmp_path / "run", cfg)
    logs = tr.train_step()  # step 0: R1 and density regularisation both due
    for key in ("g_adv", "d_loss", "r1_rgb", "r1_semantic", "density_reg", "rec_rgb"):
        assert key in logs and np.isfinite(logs[key]), key
    assert logs["r1_rgb"] > 0 and logs["r1_semantic"] > 0 and logs["density_reg"] > 0


def test_adv_weight_scales_only_the_adversarial_term(tiny_data, tmp_path):
    # Every draw of a step is seeded, so two fresh trainers see the same first step: the
    # weighted adversarial term is the only difference in the generator's loss.
    logs = {}
    for w in (0.0, 0.25, 1.0):
        cfg = small_config(recon_steps=0, adv_weight=w).replace(neural_schedule=((0.0, 16),))
        logs[w] = make_trainer(tiny_data, tmp_path / f"run{w}", cfg).train_step()
    raw = logs[1.0]["g_adv_unweighted"]
    assert raw > 0 and logs[0.0]["g_adv_unweighted"] == pytest.approx(raw)
    for w in (0.25, 1.0):
        assert logs[w]["g_adv"] == pytest.approx(w * raw)
        assert logs[w]["g_loss"] - logs[0.0]["g_loss"] == pytest.approx(w * raw, rel=1e-4)
    assert logs[0.25]["rec_rgb"] == pytest.approx(logs[0.0]["rec_rgb"])


def test_d_raw_from_image_shows_d_the_fakes_own_downsampling(tiny_data, tmp_path):
    import torch.nn.functional as F
    cfg = small_config(recon_steps=0).replace(neural_schedule=((0.0, 16),))
    fake = {"image": torch.rand(2, 3, 64, 64) * 2 - 1, "image_raw": torch.zeros(2, 3, 16, 16),
            "semantic": torch.randn(2, 19, 64, 64), "semantic_raw": torch.rand(2, 19, 16, 16)}
    neural = make_trainer(tiny_data, tmp_path / "a", cfg)._fake_d_inputs(fake)[0]
    own = make_trainer(tiny_data, tmp_path / "b", cfg.replace(d_raw_from_image=True))._fake_d_inputs(fake)[0]
    assert torch.equal(neural[:, :3], fake["image"]) and torch.equal(own[:, :3], fake["image"])
    assert torch.all(neural[:, 3:] == 0)  # the neural render, upsampled
    expected = F.interpolate(F.interpolate(fake["image"], size=(16, 16), mode="area"), size=(64, 64),
                             mode="bilinear", align_corners=False)
    torch.testing.assert_close(own[:, 3:], expected)


def test_discriminator_warmup_freezes_the_generator_only(tiny_data, tmp_path):
    cfg = small_config(recon_steps=1, d_warmup_steps=2).replace(neural_schedule=((0.0, 16),))
    tr = make_trainer(tiny_data, tmp_path / "run", cfg)

    def params(m):
        return [p.detach().clone() for p in m.parameters()]

    tr.train_step()  # recon step: G moves
    g0, d0 = params(tr.G), params(tr.D)
    for _ in range(2):  # adversarial steps 1 and 2 are the warm-up
        logs = tr.train_step()
        assert logs["d_warmup"] == 1.0 and "g_adv" not in logs
    assert all(torch.equal(a, b) for a, b in zip(g0, params(tr.G)))
    assert not all(torch.equal(a, b) for a, b in zip(d0, params(tr.D)))
    logs = tr.train_step()  # warm-up over: G trains against D
    assert "g_adv" in logs and "d_warmup" not in logs
    assert not all(torch.equal(a, b) for a, b in zip(g0, params(tr.G)))


def test_r1_and_density_reg_carry_gradients():
    G = build_generator("tiny", device="cpu")
    D = DualDiscriminator(64, channel_base=512, channel_max=64)
    B = 2
    rgb = torch.randn(B, 6, 64, 64, requires_grad=True)
    sem = torch.randn(B, 38, 64, 64, requires_grad=True)
    c = torch.from_numpy(np.stack([camera.frontal_label()] * B))
    lr, ls = D(rgb, sem, c)
    r1 = losses.r1_penalty(lr, rgb).mean() + losses.r1_penalty(ls, sem).mean()
    assert r1 > 0
    r1.backward()
    assert D.rgb.from_input.weight.grad.abs().max() > 0 and D.semantic.from_input.weight.grad.abs().max() > 0
    ws = G.mapping(torch.randn(B, G.z_dim), c)
    planes = G.planes(ws)
    dr = losses.density_regularization(G, planes, 500, 0.004)
    assert dr > 0
    dr.backward()
    assert G.backbone.semantic.const.grad.abs().max() > 0
    assert G.backbone.heads[0].blocks[0].convs[0].conv.weight.grad is None  # texture heads untouched


def _weights(tr):
    return {k: v.clone() for k, v in tr.G.state_dict().items()} | {"latents": tr.latents.detach().clone()} | \
        {f"D.{k}": v.clone() for k, v in tr.D.state_dict().items()}


def test_resume_is_bit_exact(tiny_data, tmp_path):
    cfg = small_config(recon_steps=3).replace(neural_schedule=((0.0, 16),))
    a = make_trainer(tiny_data, tmp_path / "a", cfg)
    a.train(6, progress=False)
    b = make_trainer(tiny_data, tmp_path / "b", cfg)
    b.train(4, progress=False)  # crosses the recon -> adversarial boundary, then stops
    b.save()
    c = make_trainer(tiny_data, tmp_path / "b", cfg)
    assert c.resume() and c.step == 4
    # the same next batch
    rng_b = np.random.default_rng([cfg.seed, 4, 0])
    rng_c = np.random.default_rng([cfg.seed, c.step, 0])
    assert np.array_equal(rng_b.integers(0, 10, 5), rng_c.integers(0, 10, 5))
    c.train(6, progress=False)
    wa, wc = _weights(a), _weights(c)
    for k in wa:
        assert torch.equal(wa[k], wc[k]), k
    lines = [json.loads(l) for l in open(tmp_path / "b" / "metrics.jsonl")]
    assert [l["step"] for l in lines] == list(range(1, 7))


def test_snapshot_and_export(tiny_data, tmp_path):
    from ide3d_backend import load_generator
    cfg = small_config(recon_steps=2, snapshot_every=1, keep_snapshots=2, sample_every=2)
    cfg = cfg.replace(neural_schedule=((0.0, 16),))
    tr = make_trainer(tiny_data, tmp_path / "run", cfg)
    tr.train(2, progress=False)
    snaps = sorted((tmp_path / "run").glob("snapshot-*.safetensors"))
    assert [p.name for p in snaps] == ["snapshot-00000001.safetensors", "snapshot-00000002.safetensors"]
    assert (tmp_path / "run" / "samples" / "step-00000002.png").exists()
    tr.export(tmp_path / "g.safetensors")
    G = load_generator(tmp_path / "g.safetensors", device="cpu")
    for k, v in tr.G_ema.state_dict().items():
        assert torch.equal(v, G.state_dict()[k]), k


@pytest.mark.slow
def test_two_gloo_processes_keep_identical_replicas(tiny_data, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(f"""
import dataclasses, sys, torch
from ide3d_backend import config as C
orig = C.tiny_config
from test_train_generator import micro_config  # tests/ is on PYTHONPATH
C.PRESETS['tiny'] = lambda: micro_config(orig())
from training.config import tiny_train_config
from training.distributed import init_distributed, shutdown
from training.train_generator import GeneratorTrainer
torch.set_num_threads(1)
ctx = init_distributed('cpu')
cfg = tiny_train_config().replace(batch=4, recon_steps=2, snapshot_every=0, sample_every=0, log_every=1,
                                  r1_interval=2, neural_schedule=((0.0, 16),), d_channel_base=512, d_channel_max=64,
                                  d_warmup_steps=0)
tr = GeneratorTrainer({str(tiny_data)!r}, {str(tmp_path / 'run')!r} + str(ctx.rank), cfg, ctx)
tr.train(4, progress=False)
flat = torch.cat([p.detach().flatten() for p in tr.G.parameters()] + [p.detach().flatten() for p in tr.D.parameters()])
from safetensors.torch import save_file
save_file({{'flat': flat}}, {str(tmp_path)!r} + f'/rank{{ctx.rank}}.safetensors')
shutdown(ctx)
""")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "tests"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from safetensors.torch import load_file
    r0, r1 = load_file(tmp_path / "rank0.safetensors")["flat"], load_file(tmp_path / "rank1.safetensors")["flat"]
    assert torch.equal(r0, r1)
    # and they did train (not the initial weights)
    G0 = build_generator("tiny", device="cpu")
    assert not torch.equal(r0[:10], torch.cat([p.flatten() for p in G0.parameters()])[:10])


def test_untrained_discriminator_may_be_resized_on_resume(tiny_data, tmp_path):
    cfg = small_config(recon_steps=4)
    a = make_trainer(tiny_data, tmp_path / "run", cfg)
    a.train(2, progress=False)
    a.save()
    b = make_trainer(tiny_data, tmp_path / "run", cfg.replace(d_channel_base=256, d_channel_max=32))
    assert b.resume() and b.step == 2
    for k, v in a.G.state_dict().items():
        assert torch.equal(v, b.G.state_dict()[k]), k
    # once the discriminator has trained, a size change is an error
    c = make_trainer(tiny_data, tmp_path / "run2", small_config(recon_steps=0))
    c.train(1, progress=False)
    c.save()
    d = make_trainer(tiny_data, tmp_path / "run2", small_config(recon_steps=0, d_channel_base=256, d_channel_max=32))
    with pytest.raises(RuntimeError):
        d.resume()


def test_init_from_a_checkpoint_starts_the_head_codes_from_the_encoders(tiny_data, tmp_path, capsys):
    """`--init G --encoders E`: the per-head codes start where G renders what E reads from
    each head (not at random), and the run writes them for the encoder trainer."""
    import dataclasses

    from ide3d_backend.api import save_generator
    from ide3d_backend.cli import main
    from ide3d_backend.config import get_encoder_config
    from ide3d_backend.encoding import build_encoders, save_encoders
    from training.latent_init import latents_from_encoders, load_latents
    from training.dataset import InMemoryDataset
    G = build_generator("tiny", seed=3)
    enc = build_encoders(dataclasses.replace(get_encoder_config("tiny"), w_dim=G.w_dim, input_resolution=32), seed=1)
    save_generator(G, tmp_path / "g.safetensors")
    save_encoders(enc, tmp_path / "e.safetensors")
    data = InMemoryDataset(tiny_data, G.cfg.superres.output_resolution)
    expected, _ = latents_from_encoders(G, enc, data)
    run = tmp_path / "run"
    rc = main(["train", "generator", "--data", str(tiny_data), "--out", str(run), "--init", str(tmp_path / "g.safetensors"),
               "--encoders", str(tmp_path / "e.safetensors"), "--steps", "1", "--quiet", "--threads", "1",
               "--set", "batch=2", "--set", "d_channel_base=512", "--set", "d_channel_max=64",
               "--set", "neural_schedule=[[0.0, 16]]", "--set", "sample_every=0"])
    assert rc == 0
    assert "fitted to the encoders" in capsys.readouterr().err
    z = load_latents(run / "latents.safetensors", data)
    # One Adam step (lr recon_lr_latent = 0.01) away from the fitted codes.
    assert (z - expected).abs().max() <= 0.0101
